//! `floorgate-sim site grid` writes the same site file as the library's generator.

use std::process::Command;

use floorgate_sim::site::grid::GridSpec;

#[test]
fn the_grid_subcommand_writes_what_the_library_generates() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("grid.toml");
    let status = Command::new(env!("CARGO_BIN_EXE_floorgate-sim"))
        .args([
            "site",
            "grid",
            "--aisles",
            "6",
            "--racks",
            "14",
            "--stations",
            "3",
            "--amrs",
            "5",
            "--broker",
            "127.0.0.1:2883",
            "--out",
        ])
        .arg(&out)
        .status()
        .unwrap();
    assert!(status.success());
    let written = std::fs::read_to_string(&out).unwrap();
    let spec = GridSpec::new(6, 14, 3, 5).unwrap();
    assert_eq!(written, spec.site_toml("127.0.0.1:2883"));

    // On stdout without --out; a size out of range is refused.
    let stdout = Command::new(env!("CARGO_BIN_EXE_floorgate-sim"))
        .args(["site", "grid", "--aisles", "2", "--racks", "3"])
        .output()
        .unwrap();
    assert!(stdout.status.success());
    let default = GridSpec::new(2, 3, 2, 4).unwrap();
    assert_eq!(
        String::from_utf8(stdout.stdout).unwrap(),
        default.site_toml("127.0.0.1:1883")
    );
    let refused = Command::new(env!("CARGO_BIN_EXE_floorgate-sim"))
        .args(["site", "grid", "--aisles", "0"])
        .output()
        .unwrap();
    assert!(!refused.status.success());
}
