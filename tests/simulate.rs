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
    // Every AMR appears with its utilisation and its profile: by default a mixed fleet,
    // one robot of each VDA 5050 version.
    for (d, profile) in [
        ("amr-1", "amr-vda5050-v20"),
        ("amr-2", "amr-vda5050"),
        ("amr-3", "amr-vda5050-v30"),
    ] {
        assert!(
            stdout
                .lines()
                .any(|l| l.trim_start().starts_with(d) && l.trim_end().ends_with(profile)),
            "{d} ({profile}) in {stdout}"
        );
    }
}

#[test]
fn simulate_with_vda_3_0_runs_every_robot_on_3_0() {
    let out = Command::new(env!("CARGO_BIN_EXE_floorgate"))
        .args([
            "simulate",
            "--tasks",
            "4",
            "--amrs",
            "2",
            "--duration",
            "8",
            "--vda",
            "3.0",
            "--console-listen",
            "off",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("4 submitted of 4: 4 completed"), "{stdout}");
    for d in ["amr-1", "amr-2"] {
        assert!(
            stdout
                .lines()
                .any(|l| l.trim_start().starts_with(d) && l.trim_end().ends_with("amr-vda5050-v30")),
            "{d} on 3.0 in {stdout}"
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

#[test]
fn hold_keeps_the_site_and_its_console_up_after_the_tasks_until_ctrl_c() {
    use std::io::{BufRead, BufReader, Read, Write};
    use std::time::{Duration, Instant};
    let token = "simulate-hold-token-0042";
    let mut child = Command::new(env!("CARGO_BIN_EXE_floorgate"))
        .args([
            "simulate",
            "--tasks",
            "2",
            "--amrs",
            "2",
            "--duration",
            "5",
            "--quiet",
            "--hold",
            "--admin-token",
            token,
        ])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap());
    let mut read_line = || {
        let mut l = String::new();
        lines.read_line(&mut l).unwrap();
        l
    };
    let first = read_line();
    let url = first
        .strip_prefix("console: ")
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("the console's URL first: {first:?}"))
        .to_string();
    assert!(
        first.contains("operator actions with the admin token"),
        "{first}"
    );
    let held = read_line();
    assert!(held.contains("holding the site"), "{held}");
    // Still serving after the tasks ended.
    let addr = url
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let mut s = std::net::TcpStream::connect(&addr).unwrap();
    write!(
        s,
        "GET /console/site HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut reply = String::new();
    s.read_to_string(&mut reply).unwrap();
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(reply.contains("\"actions\":true"), "{reply}");
    assert!(!reply.contains(token));
    std::thread::sleep(Duration::from_secs(1));
    assert!(child.try_wait().unwrap().is_none(), "still holding");

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
    let mut rest = String::new();
    lines.read_to_string(&mut rest).unwrap();
    assert!(rest.contains("floorgate simulate: summary"), "{rest}");
    assert!(
        !rest.contains("(interrupted)"),
        "the tasks had ended: {rest}"
    );
    assert!(exit.success(), "every task completed: {rest}");
}
