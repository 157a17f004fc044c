//! A tiny Chrome DevTools Protocol client over `--remote-debugging-pipe` (JSON messages
//! separated by NUL bytes on the browser's fds 3 and 4, here the child's stdin and stdout):
//! enough to open a page, evaluate JavaScript in it and take a screenshot.
//!
//! The browser is Debian's `chromium` (or `chromium-browser`) on PATH. Without one the
//! browser test fails, unless `FLOORGATE_TEST_NO_BROWSER=1` says to skip it.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::process::{Child, ChildStdin, ChildStdout, Command};

/// The browser on PATH: `chromium`, else `chromium-browser`.
pub fn find_chromium() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    for name in ["chromium", "chromium-browser"] {
        for dir in std::env::split_paths(&path) {
            let p = dir.join(name);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    None
}

pub struct Browser {
    child: Child,
    stdin: ChildStdin,
    stdout: ChildStdout,
    buf: Vec<u8>,
    next_id: u64,
    session: String,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts headless Chromium with one blank page of 1280 × 800.
    pub async fn start(chromium: &std::path::Path) -> Browser {
        let profile = tempfile::tempdir().unwrap();
        // fd 3 is the browser's input, fd 4 its output: the child's stdin and stdout.
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(r#"exec "$0" "$@" 3<&0 4>&1 0</dev/null 1>/dev/null"#)
            .arg(chromium)
            .args([
                "--headless",
                "--disable-gpu",
                "--no-sandbox",
                "--remote-debugging-pipe",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-extensions",
                "--hide-scrollbars",
                "--mute-audio",
                "--window-size=1280,800",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("starting chromium");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut b = Browser {
            child,
            stdin,
            stdout,
            buf: Vec::new(),
            next_id: 0,
            session: String::new(),
            _profile: profile,
        };
        let target = b
            .call("Target.createTarget", json!({"url": "about:blank"}))
            .await["targetId"]
            .as_str()
            .expect("a target id")
            .to_string();
        let session = b
            .call(
                "Target.attachToTarget",
                json!({"targetId": target, "flatten": true}),
            )
            .await["sessionId"]
            .as_str()
            .expect("a session id")
            .to_string();
        b.session = session;
        b.page_call(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": 1280, "height": 800, "deviceScaleFactor": 1, "mobile": false}),
        )
        .await;
        b
    }

    async fn send(&mut self, method: &str, params: Value, session: Option<&str>) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut msg = json!({"id": id, "method": method, "params": params});
        if let Some(s) = session {
            msg["sessionId"] = json!(s);
        }
        let mut bytes = serde_json::to_vec(&msg).unwrap();
        bytes.push(0);
        self.stdin.write_all(&bytes).await.unwrap();
        self.stdin.flush().await.unwrap();
        let wait = async {
            loop {
                while let Some(end) = self.buf.iter().position(|&b| b == 0) {
                    let raw: Vec<u8> = self.buf.drain(..=end).collect();
                    let v: Value = serde_json::from_slice(&raw[..raw.len() - 1]).unwrap();
                    if v["id"] == json!(id) {
                        return v;
                    }
                }
                let mut chunk = vec![0u8; 1 << 16];
                let n = self.stdout.read(&mut chunk).await.unwrap();
                assert!(n > 0, "chromium closed its pipe");
                self.buf.extend_from_slice(&chunk[..n]);
            }
        };
        let reply = tokio::time::timeout(Duration::from_secs(30), wait)
            .await
            .unwrap_or_else(|_| panic!("chromium did not answer {method} in 30 s"));
        if let Some(e) = reply.get("error") {
            panic!("{method}: {e}");
        }
        reply["result"].clone()
    }

    async fn call(&mut self, method: &str, params: Value) -> Value {
        self.send(method, params, None).await
    }

    async fn page_call(&mut self, method: &str, params: Value) -> Value {
        let s = self.session.clone();
        self.send(method, params, Some(&s)).await
    }

    pub async fn navigate(&mut self, url: &str) {
        self.page_call("Page.navigate", json!({"url": url})).await;
    }

    /// The value of `expression` in the page (promises awaited).
    pub async fn eval(&mut self, expression: &str) -> Value {
        let r = self
            .page_call(
                "Runtime.evaluate",
                json!({"expression": expression, "returnByValue": true, "awaitPromise": true}),
            )
            .await;
        if let Some(e) = r.get("exceptionDetails") {
            panic!("{expression}: {e}");
        }
        r["result"]["value"].clone()
    }

    /// Polls `expression` until it is `true`, at most `within`.
    pub async fn wait_for(&mut self, what: &str, expression: &str, within: Duration) {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            // Until the page has loaded, the expression may throw: not yet.
            let guarded = format!(
                "(() => {{ try {{ return ({expression}); }} catch (_) {{ return false; }} }})()"
            );
            if self.eval(&guarded).await == json!(true) {
                return;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "never in the page: {what}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A PNG of the page as it is.
    pub async fn screenshot(&mut self) -> Vec<u8> {
        let r = self
            .page_call("Page.captureScreenshot", json!({"format": "png"}))
            .await;
        base64_decode(r["data"].as_str().expect("screenshot data"))
    }

    pub async fn close(mut self) {
        let _ = tokio::time::timeout(Duration::from_secs(5), async {
            let mut bytes =
                serde_json::to_vec(&json!({"id": 0, "method": "Browser.close"})).unwrap();
            bytes.push(0);
            let _ = self.stdin.write_all(&bytes).await;
            let _ = self.child.wait().await;
        })
        .await;
        let _ = self.child.kill().await;
    }
}

fn base64_decode(s: &str) -> Vec<u8> {
    let value = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => (c - b'A') as u32,
            b'a'..=b'z' => (c - b'a' + 26) as u32,
            b'0'..=b'9' => (c - b'0' + 52) as u32,
            b'+' => 62,
            b'/' => 63,
            _ => panic!("not base64: {c}"),
        }
    };
    let bytes: Vec<u8> = s.bytes().filter(|&c| c != b'=' && c != b'\n').collect();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for group in bytes.chunks(4) {
        let mut n = 0u32;
        for (i, &c) in group.iter().enumerate() {
            n |= value(c) << (18 - 6 * i);
        }
        let take = group.len() - 1;
        for i in 0..take {
            out.push((n >> (16 - 8 * i)) as u8);
        }
    }
    out
}
