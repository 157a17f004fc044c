//! Compiles `proto/floorgate/v1/*.proto` with the pure-Rust `protox` compiler
//! (no system `protoc` needed) and generates the tonic services from the
//! descriptor set. The same descriptor set is embedded for server reflection.

use std::path::PathBuf;

use prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = [
        "proto/floorgate/v1/task.proto",
        "proto/floorgate/v1/event.proto",
        "proto/floorgate/v1/task_service.proto",
        "proto/floorgate/v1/device_service.proto",
        "proto/floorgate/v1/site_service.proto",
    ];
    for f in files {
        println!("cargo:rerun-if-changed={f}");
    }
    let fds = protox::compile(files, ["proto"])?;
    let out = PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out.join("floorgate_descriptor.bin"), fds.encode_to_vec())?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        // Requests that do not decode are the client's fault:
        // INVALID_ARGUMENT, not tonic's INTERNAL (src/api/codec.rs).
        .codec_path("crate::api::codec::FloorgateCodec")
        .compile_fds(fds)?;
    Ok(())
}
