//! The daemon under a service manager: `floorgate run` as a child process
//! with `NOTIFY_SOCKET` pointing at a datagram socket we hold, the way
//! systemd runs a `Type=notify` unit with `WatchdogSec=`.

mod common;

use std::os::unix::net::UnixDatagram;
use std::time::{Duration, Instant};

use common::*;

/// Receives datagrams until `done` says so or 20 s pass.
fn receive_until(sock: &UnixDatagram, mut done: impl FnMut(&[String]) -> bool) -> Vec<String> {
    sock.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !done(&got) {
        assert!(Instant::now() < deadline, "only received {got:?}");
        if let Ok(n) = sock.recv(&mut buf) {
            got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
        }
    }
    got
}

#[test]
fn the_daemon_notifies_ready_pings_the_watchdog_and_says_stopping_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let sock_path = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    let mut d = spawn_with_env(
        &dir.path().join("data"),
        &[],
        std::process::Stdio::inherit(),
        &[
            ("NOTIFY_SOCKET", sock_path.to_str().unwrap()),
            ("WATCHDOG_USEC", "200000"),
        ],
    );

    let got = receive_until(&sock, |g| {
        g.iter().filter(|m| *m == "WATCHDOG=1").count() >= 2
    });
    assert_eq!(got[0], "READY=1", "READY=1 comes first: {got:?}");

    let pid = d.child.id().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    receive_until(&sock, |g| g.iter().any(|m| m == "STOPPING=1"));
    assert!(d.child.wait().unwrap().success());
}

#[test]
fn a_watchdog_pid_naming_another_process_turns_the_watchdog_off() {
    let dir = tempfile::tempdir().unwrap();
    let sock_path = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    let mut d = spawn_with_env(
        &dir.path().join("data"),
        &[],
        std::process::Stdio::inherit(),
        &[
            ("NOTIFY_SOCKET", sock_path.to_str().unwrap()),
            ("WATCHDOG_USEC", "200000"),
            ("WATCHDOG_PID", "1"),
        ],
    );
    receive_until(&sock, |g| g.iter().any(|m| m == "READY=1"));
    // Five watchdog periods of silence.
    sock.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
    let mut buf = [0u8; 64];
    let quiet = sock.recv(&mut buf);
    assert!(
        quiet.is_err(),
        "unexpected {:?}",
        quiet.map(|n| String::from_utf8_lossy(&buf[..n]).into_owned())
    );
    d.child.kill().unwrap();
    d.child.wait().unwrap();
}
