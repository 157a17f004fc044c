//! `floorgate simulate` as the README runs it: a whole virtual site in one
//! process, ending with a summary.

use std::process::Command;

#[test]
fn simulate_runs_a_small_virtual_site_to_completion_and_prints_the_summary() {
    let out = Command::new(env!("CARGO_BIN_EXE_floorgate"))
        .args([
            "simulate",
            "--tasks",
            "8",
            "--amrs",
            "3",
            "--duration",
            "10",
            "--seed",
            "3",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "stdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("floorgate simulate: summary"), "{stdout}");
    assert!(
        stdout.contains("8 submitted of 8: 8 completed, 0 failed"),
        "{stdout}"
    );
    assert!(stdout.contains("p50"), "{stdout}");
    // Every AMR and the conveyor appear with their utilisation.
    for d in ["amr-1", "amr-2", "amr-3"] {
        assert!(
            stdout.lines().any(|l| l.trim_start().starts_with(d)),
            "{d} in {stdout}"
        );
    }
}

#[test]
fn simulate_refuses_a_fleet_of_no_robots() {
    let out = Command::new(env!("CARGO_BIN_EXE_floorgate"))
        .args(["simulate", "--amrs", "0"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--amrs must be at least 1"));
}

#[test]
fn ctrl_c_ends_a_run_cleanly_with_the_summary() {
    use std::io::Read;
    use std::time::{Duration, Instant};
    let mut child = Command::new(env!("CARGO_BIN_EXE_floorgate"))
        .args([
            "simulate",
            "--tasks",
            "40",
            "--amrs",
            "2",
            "--duration",
            "120",
            "--quiet",
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_secs(6));
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(30);
    let exit = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "simulate did not end after Ctrl-C"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    assert!(
        stdout.contains("floorgate simulate: summary (interrupted)"),
        "{stdout}"
    );
    assert!(stdout.contains("submitted of 40"), "{stdout}");
    // Not every task completed, so the run reports failure.
    assert!(!exit.success());
}
