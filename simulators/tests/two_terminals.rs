//! The README's second scenario, as a newcomer runs it: `floorgate-sim site` in one
//! terminal, `floorgate run` in the other, both on the demo site file, a handful of tasks
//! over the CLI; then the simulator is stopped with SIGTERM and its summary must match the
//! gateway's journal (AMR picks = AMR steps completed, conveyor transfers = conveyor
//! steps, AS/RS commands = AS/RS steps).
//!
//! The test lives in the simulators crate because only here does cargo hand it the
//! `floorgate-sim` binary (`CARGO_BIN_EXE_floorgate-sim`); `floorgate` is the binary of the
//! same target directory (`target/<profile>/floorgate`), built by `cargo build -p floorgate`
//! or any `cargo test --workspace` before this runs — the test never builds it, and says so
//! when it is missing. Both run on a copy of `devices/site-demo.toml` whose addresses are
//! free loopback ports, never the file's fixed ones.

use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A child process killed when dropped (a failed assertion leaves nothing behind).
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the workspace root")
        .to_path_buf()
}

/// `floorgate`, next to `floorgate-sim` in the shared target directory.
fn floorgate_bin() -> PathBuf {
    let sim = Path::new(env!("CARGO_BIN_EXE_floorgate-sim"));
    let bin = sim
        .with_file_name("floorgate")
        .with_extension(std::env::consts::EXE_EXTENSION);
    assert!(
        bin.exists(),
        "{} is missing: build it first (`cargo build -p floorgate`)",
        bin.display()
    );
    bin
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn replace(text: &mut String, from: &str, to: &str) {
    assert!(text.contains(from), "the demo site has no {from:?}");
    *text = text.replace(from, to);
}

/// The demo site in `dir` with free ports; returns (site file, gRPC address).
fn site_copy(dir: &Path) -> (PathBuf, String) {
    let mut text = std::fs::read_to_string(repo().join("devices/site-demo.toml")).unwrap();
    let grpc = format!("127.0.0.1:{}", free_port());
    replace(
        &mut text,
        "grpc_listen = \"127.0.0.1:50051\"",
        &format!("grpc_listen = \"{grpc}\""),
    );
    replace(
        &mut text,
        "admin_listen = \"127.0.0.1:9464\"",
        "admin_listen = \"off\"",
    );
    replace(
        &mut text,
        "data_dir = \"../floorgate-data\"",
        &format!("data_dir = {:?}", dir.join("data").display().to_string()),
    );
    replace(
        &mut text,
        "profiles_dir = \".\"",
        &format!(
            "profiles_dir = {:?}",
            repo().join("devices").display().to_string()
        ),
    );
    replace(
        &mut text,
        "address = \"127.0.0.1:5020\"",
        &format!("address = \"127.0.0.1:{}\"", free_port()),
    );
    replace(
        &mut text,
        "address = \"opc.tcp://127.0.0.1:4840/\"",
        &format!("address = \"opc.tcp://127.0.0.1:{}/\"", free_port()),
    );
    replace(
        &mut text,
        "[gateway.mqtt]\nbroker = \"127.0.0.1:1883\"\n",
        &format!("[gateway.mqtt]\nbroker = \"127.0.0.1:{}\"\n", free_port()),
    );
    let path = dir.join("site.toml");
    std::fs::write(&path, text).unwrap();
    (path, grpc)
}

/// `floorgate --server … ARGS`, its stdout.
fn cli(server: &str, args: &[&str]) -> String {
    let out = Command::new(floorgate_bin())
        .args(args)
        .env("FLOORGATE_SERVER", format!("http://{server}"))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "floorgate {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The README's tasks: a buffer pick, a pick out of the AS/RS (AS/RS → conveyor → AMR), a
/// put into the AS/RS (AMR → conveyor → AS/RS), a second buffer pick, a put to the buffer.
const TASKS: [&[&str]; 5] = [
    &[
        "--id",
        "T1",
        "--kind",
        "pick",
        "--sku",
        "SKU-42",
        "--quantity",
        "3",
        "--load",
        "TOTE-7",
        "--from",
        "BUF-07",
        "--to",
        "PICK-1",
    ],
    &[
        "--id",
        "T2",
        "--kind",
        "pick",
        "--sku",
        "SKU-10302",
        "--load",
        "TOTE-10302",
        "--from",
        "ASRS1-03-02",
        "--to",
        "PICK-2",
    ],
    &[
        "--id",
        "T3",
        "--kind",
        "put",
        "--sku",
        "SKU-9",
        "--load",
        "TOTE-20001",
        "--from",
        "PICK-2",
        "--to",
        "ASRS1-02-04",
    ],
    &[
        "--id", "T4", "--kind", "pick", "--sku", "SKU-5", "--load", "TOTE-8", "--from", "BUF-03",
        "--to", "PICK-2",
    ],
    &[
        "--id", "T5", "--kind", "put", "--sku", "SKU-6", "--load", "TOTE-9", "--from", "PICK-1",
        "--to", "BUF-09",
    ],
];

#[test]
fn the_readme_two_terminal_scenario_completes_every_task_and_the_simulator_summary_matches_the_journal(
) {
    let dir = tempfile::tempdir().unwrap();
    let (site, grpc) = site_copy(dir.path());
    let floorgate = floorgate_bin();

    // Terminal 1: the simulated site.
    let sim_log = std::fs::File::create(dir.path().join("sim.log")).unwrap();
    let mut sim = Proc(
        Command::new(env!("CARGO_BIN_EXE_floorgate-sim"))
            .args(["site", "--config"])
            .arg(&site)
            .args([
                "--speed",
                "6",
                "--handling",
                "0.2",
                "--travel-ms",
                "300",
                "--crane-ms",
                "300",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(sim_log)
            .spawn()
            .unwrap(),
    );
    let started = Instant::now();
    while !std::fs::read_to_string(dir.path().join("sim.log"))
        .unwrap_or_default()
        .contains("simulating")
    {
        assert!(
            sim.0.try_wait().unwrap().is_none(),
            "floorgate-sim exited: {}",
            std::fs::read_to_string(dir.path().join("sim.log")).unwrap_or_default()
        );
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the simulator never started"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    // Terminal 2: the daemon.
    let addr_file = dir.path().join("grpc.addr");
    let daemon_log = std::fs::File::create(dir.path().join("daemon.log")).unwrap();
    let mut daemon = Proc(
        Command::new(&floorgate)
            .args(["run", "--config"])
            .arg(&site)
            .arg("--listen-addr-file")
            .arg(&addr_file)
            .env("FLOORGATE_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(daemon_log)
            .spawn()
            .unwrap(),
    );
    while !addr_file.exists() {
        assert!(
            daemon.0.try_wait().unwrap().is_none(),
            "floorgate exited: {}",
            std::fs::read_to_string(dir.path().join("daemon.log")).unwrap_or_default()
        );
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the daemon never listened"
        );
        std::thread::sleep(Duration::from_millis(50));
    }

    for t in TASKS {
        let mut args = vec!["task", "submit"];
        args.extend_from_slice(t);
        cli(&grpc, &args);
    }
    let ids: Vec<&str> = TASKS.iter().map(|t| t[1]).collect();
    let deadline = Instant::now() + Duration::from_secs(150);
    loop {
        let states: Vec<String> = ids
            .iter()
            .map(|id| {
                let out = cli(&grpc, &["task", "get", id]);
                out.lines().next().unwrap_or_default().to_string()
            })
            .collect();
        if states.iter().all(|s| s.contains(" completed ")) {
            break;
        }
        for s in &states {
            assert!(
                !s.contains(" failed ") && !s.contains(" cancelled "),
                "{s}\n{}",
                std::fs::read_to_string(dir.path().join("daemon.log")).unwrap_or_default()
            );
        }
        assert!(
            Instant::now() < deadline,
            "not all completed: {states:#?}\n{}",
            std::fs::read_to_string(dir.path().join("daemon.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(250));
    }

    // The journal, as `floorgate task watch` prints it (it follows: stopped once quiet).
    let mut watch = Proc(
        Command::new(&floorgate)
            .args(["task", "watch", "--after", "0"])
            .env("FLOORGATE_SERVER", format!("http://{grpc}"))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let out = watch.0.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        BufReader::new(out)
            .lines()
            .map_while(Result::ok)
            .collect::<Vec<_>>()
    });
    std::thread::sleep(Duration::from_secs(2));
    drop(watch);
    let journal = reader.join().unwrap();
    let completed_by = |prefix: &str| {
        journal
            .iter()
            .filter(|l| l.contains(&format!("completed by {prefix}")))
            .count() as u64
    };
    let (amr_steps, conveyor_steps, asrs_steps) = (
        completed_by("amr-"),
        completed_by("conv-"),
        completed_by("asrs-"),
    );
    assert_eq!(
        (amr_steps, conveyor_steps, asrs_steps),
        (5, 2, 2),
        "{journal:#?}"
    );

    // Stop the simulator as an operator would, and read its summary's JSON line.
    let pid = sim.0.id().to_string();
    let status = Command::new("kill").args(["-TERM", &pid]).status().unwrap();
    assert!(status.success());
    let mut stdout = String::new();
    sim.0
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    let exit = sim.0.wait().unwrap();
    assert!(exit.success(), "floorgate-sim exited {exit:?}: {stdout}");
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| panic!("no JSON line in {stdout:?}"));
    let summary: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(summary["picks"], amr_steps, "{stdout}");
    assert_eq!(summary["drops"], amr_steps, "{stdout}");
    assert_eq!(summary["transfers"], conveyor_steps, "{stdout}");
    assert_eq!(summary["asrs_commands"], asrs_steps, "{stdout}");
    assert_eq!(summary["asrs_retrieves"], 1);
    assert_eq!(summary["asrs_stores"], 1);
    assert_eq!(summary["faults"], 0);
    assert!(summary["orders"].as_u64().unwrap() >= amr_steps);

    let pid = daemon.0.id().to_string();
    let _ = Command::new("kill").args(["-TERM", &pid]).status();
    let deadline = Instant::now() + Duration::from_secs(20);
    while daemon.0.try_wait().unwrap().is_none() {
        assert!(
            Instant::now() < deadline,
            "the daemon did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Runs `floorgate-sim ARGS` until it says it is simulating, stops it with SIGTERM, and
/// returns (what it said on stderr, its JSON summary line).
fn run_until_sigterm(dir: &Path, args: &[&str]) -> (String, serde_json::Value) {
    let log = dir.join(format!("{}.log", args[0]));
    let mut sim = Proc(
        Command::new(env!("CARGO_BIN_EXE_floorgate-sim"))
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap(),
    );
    let started = Instant::now();
    while !std::fs::read_to_string(&log)
        .unwrap_or_default()
        .contains("simulating")
    {
        assert!(
            sim.0.try_wait().unwrap().is_none(),
            "floorgate-sim {args:?} exited: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{args:?} never started"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let pid = sim.0.id().to_string();
    assert!(Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    let mut stdout = String::new();
    sim.0
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    assert!(sim.0.wait().unwrap().success(), "{args:?}: {stdout}");
    let line = stdout
        .lines()
        .rev()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| panic!("no JSON line in {stdout:?}"));
    (
        std::fs::read_to_string(&log).unwrap_or_default(),
        serde_json::from_str(line).unwrap(),
    )
}

#[test]
fn each_simulator_alone_takes_the_site_file_and_prints_its_summary_on_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let (site, _) = site_copy(dir.path());
    let site = site.to_string_lossy().to_string();

    let (said, summary) = run_until_sigterm(dir.path(), &["plc", "--config", &site]);
    assert!(said.contains("conv-1: PLC (Modbus TCP)"), "{said}");
    assert_eq!(summary["plc_commands"], 0);

    let (said, summary) = run_until_sigterm(dir.path(), &["asrs", "--config", &site]);
    assert!(said.contains("asrs-1: AS/RS (OPC-UA)"), "{said}");
    assert_eq!(summary["asrs_commands"], 0);

    // No broker runs here: the robots keep trying, and still stand on their nodes.
    let (said, summary) = run_until_sigterm(dir.path(), &["amr", "--config", &site]);
    for (id, node) in [("amr-1", "N4"), ("amr-2", "N5"), ("amr-3", "N7")] {
        assert!(said.contains(&format!("{id}: AMR acme/")), "{said}");
        assert!(said.contains(&format!("on node {node}")), "{said}");
    }
    assert_eq!(summary["orders"], 0);
}
