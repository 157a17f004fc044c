//! The site file: one TOML document naming the gateway's settings, the
//! devices (each with a profile from `devices/`), the locations and stations,
//! and the routes. [`load`] parses and validates it; every error names the
//! file, the line and the field. `FLOORGATE_*` environment variables override
//! the `[gateway]` settings (see [`env`]).
//!
//! ```toml
//! [site]
//! name = "demo"
//!
//! [gateway]
//! grpc_listen = "127.0.0.1:50051"
//! data_dir = "/var/lib/floorgate"
//!
//! [[devices]]
//! id = "amr-1"
//! kind = "amr"
//! profile = "amr-vda5050"          # devices/amr-vda5050.toml
//! address = "acme/AMR-0001"
//!
//! [[locations]]
//! id = "ASRS1-*"                   # every bin id starting with ASRS1-
//! kind = "storage"
//! zone = "asrs1"
//!
//! [[routes]]
//! id = "pick-asrs1"
//! kind = "pick"
//! from_zone = "asrs1"
//! to_zone = "stations"
//! steps = [{ device_kind = "amr", command = "transport", from = "$source", to = "$destination" }]
//! ```

mod console;
mod env;
mod load;
mod types;

pub use console::ConsoleSection;
pub use load::{load, load_str, ConfigError, ConfigErrors, LoadedConfig};
pub use types::*;
