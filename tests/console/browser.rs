//! The console page in headless Chromium against a running gateway and its simulated
//! floor: the robots move in the DOM between two snapshots, a faulted robot shows its
//! reason, an action without the token is refused and with it carried out, and a
//! screenshot is written (`target/tmp/console.png`, or `FLOORGATE_CONSOLE_SCREENSHOT`).

use std::time::Duration;

use super::amr::*;
use super::cdp::{find_chromium, Browser};
use super::*;

const POSITIONS: &str = "JSON.stringify([...document.querySelectorAll('#robots g.robot')].map(g => [g.dataset.robot, g.dataset.x, g.dataset.y]))";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_headless_chromium_the_robots_move_a_fault_shows_its_reason_and_actions_need_the_token()
{
    let Some(chromium) = find_chromium() else {
        if std::env::var("FLOORGATE_TEST_NO_BROWSER").as_deref() == Ok("1") {
            eprintln!("no chromium on PATH; skipped (FLOORGATE_TEST_NO_BROWSER=1)");
            return;
        }
        panic!(
            "no chromium or chromium-browser on PATH: install Debian's chromium (apt-get install -y chromium), or set FLOORGATE_TEST_NO_BROWSER=1 to skip"
        );
    };
    bounded(150, async {
        let (gw, fleet, mut tasks, mut devices, _dir) =
            floor("t-con-browser", 3, 2.0, &token_section()).await;
        let addr = admin(&gw);
        // Robots on their way: amr-1 and amr-2 get picks across the floor.
        for (id, from, to) in [("B1", "BUF-01", "PICK-2"), ("B2", "BUF-02", "PICK-1")] {
            common::submit(&mut tasks, task(id, TaskKind::Pick, from, to))
                .await
                .unwrap();
        }

        let mut b = Browser::start(&chromium).await;
        b.navigate(&format!("http://{addr}/")).await;
        b.wait_for(
            "the first snapshot drawn",
            "Number(document.body.dataset.snapshots) >= 1 && document.querySelectorAll('#robots g.robot').length === 3",
            Duration::from_secs(15),
        )
        .await;
        assert_eq!(b.eval("document.body.dataset.connected").await, "true");
        assert_eq!(
            b.eval("document.querySelectorAll('#nodes circle[data-node]').length >= 8")
                .await,
            true,
            "the layout is drawn"
        );

        // Two snapshots of the DOM, a second apart: the driving robots moved.
        b.wait_for(
            "a robot drives",
            "[...document.querySelectorAll('#device-table tr[data-device^=\"amr\"] td.command')].some(td => td.textContent !== '')",
            Duration::from_secs(10),
        )
        .await;
        let first = dom_positions(&serde_json::from_str(b.eval(POSITIONS).await.as_str().unwrap()).unwrap());
        tokio::time::sleep(Duration::from_millis(1200)).await;
        let second = dom_positions(&serde_json::from_str(b.eval(POSITIONS).await.as_str().unwrap()).unwrap());
        assert_eq!(first.len(), 3, "{first:?}");
        let moved: Vec<_> = first
            .iter()
            .zip(&second)
            .filter(|(a, b)| a.0 == b.0 && ((a.1 - b.1).abs() > 0.2 || (a.2 - b.2).abs() > 0.2))
            .map(|(a, _)| a.0.clone())
            .collect();
        assert!(!moved.is_empty(), "no robot moved in the DOM: {first:?} → {second:?}");

        // A fault on the idle amr-3 shows with its reason.
        fleet.robot(2).inject_fatal("laserScannerFailure");
        b.wait_for(
            "amr-3 faulted, with its reason",
            "(() => { const r = document.querySelector('#device-table tr[data-device=\"amr-3\"]'); return !!r && r.dataset.availability === 'fault' && r.querySelector('td.reason').textContent.includes('laserScannerFailure'); })()",
            Duration::from_secs(10),
        )
        .await;
        b.wait_for(
            "the fault in the last failures",
            "document.querySelector('#failures').textContent.includes('laserScannerFailure')",
            Duration::from_secs(5),
        )
        .await;

        // An action without the token is refused; with it, carried out.
        let click = "document.querySelector('#device-table tr[data-device=\"amr-1\"] button[data-action=\"pause\"]').click(); true";
        b.eval("document.getElementById('token').value = ''; document.getElementById('reason').value = 'checking the console'; true")
            .await;
        b.eval(click).await;
        b.wait_for(
            "refused without the token",
            "document.getElementById('action-status').dataset.status === '401'",
            Duration::from_secs(10),
        )
        .await;
        b.eval(&format!(
            "document.getElementById('token').value = '{TOKEN}'; true"
        ))
        .await;
        b.eval(click).await;
        b.wait_for(
            "carried out with the token",
            "document.getElementById('action-status').dataset.status === '200'",
            Duration::from_secs(15),
        )
        .await;
        assert_eq!(fleet.robot(0).snapshot().paused, Some(true));
        let journaled = common::journal(&mut tasks, 0).await.into_iter().any(|e| {
            matches!(e.kind, Some(pb::event::Kind::DeviceCommanded(ref c))
                if c.device_id == "amr-1" && c.operation == "pause" && c.reason == "console: checking the console")
        });
        assert!(journaled, "the pause is journaled with its reason");
        let status = b.eval("document.getElementById('action-status').textContent").await;
        assert!(!status.as_str().unwrap().contains(TOKEN), "{status}");

        // The screenshot: the floor with moving robots, a fault and a paused robot.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let png = b.screenshot().await;
        assert!(png.starts_with(b"\x89PNG"), "a PNG");
        let out = std::env::var_os("FLOORGATE_CONSOLE_SCREENSHOT")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("console.png"));
        std::fs::write(&out, &png).unwrap();
        eprintln!("screenshot: {}", out.display());
        b.close().await;

        let r = request(
            addr,
            "POST",
            "/console/actions/devices/amr-1/resume",
            &[("Authorization", &format!("Bearer {TOKEN}"))],
            "",
        )
        .await;
        assert_eq!(r.status, 200, "{}", r.body);
        wait_device(&mut devices, "amr-1", DeviceAvailability::Online).await;
        gw.shutdown().await.unwrap();
        stop_fleet(fleet).await;
    })
    .await;
}

/// The page of a running `floorgate simulate` (the binary, as a newcomer starts it): its
/// robots are drawn and move between two snapshots while the demo tasks run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_of_a_running_simulate_shows_its_robots_moving() {
    use std::io::BufRead;
    let Some(chromium) = find_chromium() else {
        if std::env::var("FLOORGATE_TEST_NO_BROWSER").as_deref() == Ok("1") {
            eprintln!("no chromium on PATH; skipped (FLOORGATE_TEST_NO_BROWSER=1)");
            return;
        }
        panic!("no chromium or chromium-browser on PATH: install Debian's chromium");
    };
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_floorgate"))
        .args([
            "simulate",
            "--tasks",
            "30",
            "--amrs",
            "3",
            "--duration",
            "40",
            "--quiet",
            "--hold",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("floorgate simulate");
    let mut out = std::io::BufReader::new(child.stdout.take().expect("stdout"));
    let mut first = String::new();
    out.read_line(&mut first).expect("the console line");
    let url = first
        .strip_prefix("console: ")
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("the console's URL first: {first:?}"))
        .to_string();
    let result = tokio::time::timeout(Duration::from_secs(90), async {
        let mut b = Browser::start(&chromium).await;
        b.navigate(&url).await;
        b.wait_for(
            "the simulated robots drawn",
            "Number(document.body.dataset.snapshots) >= 1 && document.querySelectorAll('#robots g.robot').length === 3",
            Duration::from_secs(30),
        )
        .await;
        // Snapshots a second apart until a robot has moved (the demo tasks start within
        // seconds and keep the robots driving).
        let mut moved = false;
        for _ in 0..30 {
            let a = dom_positions(
                &serde_json::from_str(b.eval(POSITIONS).await.as_str().unwrap()).unwrap(),
            );
            tokio::time::sleep(Duration::from_millis(1000)).await;
            let z = dom_positions(
                &serde_json::from_str(b.eval(POSITIONS).await.as_str().unwrap()).unwrap(),
            );
            if a.iter()
                .zip(&z)
                .any(|(a, z)| a.0 == z.0 && ((a.1 - z.1).abs() > 0.2 || (a.2 - z.2).abs() > 0.2))
            {
                moved = true;
                break;
            }
        }
        b.close().await;
        moved
    })
    .await;
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(
        result,
        Ok(true),
        "no robot moved on the console of floorgate simulate"
    );
}
