//! A small HTTP/1.1 client for the admin listener: whole requests, and a server-sent
//! events reader that decodes the chunked stream itself (so the test sees the wire format).

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    /// The header block, lower-cased.
    pub head: String,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim() == name).then(|| v.trim())
        })
    }

    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

/// One request with `Connection: close`, answered within 30 s.
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Reply {
    let run = async {
        let mut s = TcpStream::connect(addr).await.unwrap();
        let mut req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
            body.len()
        );
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        req.push_str(body);
        s.write_all(req.as_bytes()).await.unwrap();
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).await.unwrap();
        let text = String::from_utf8_lossy(&raw).into_owned();
        let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
        let status = head
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let head = head.to_ascii_lowercase();
        let body = if head.contains("transfer-encoding: chunked") {
            dechunk(body)
        } else {
            body.to_string()
        };
        Reply { status, head, body }
    };
    tokio::time::timeout(Duration::from_secs(30), run)
        .await
        .unwrap_or_else(|_| panic!("{method} {path}: no answer in 30 s"))
}

pub async fn get(addr: SocketAddr, path: &str) -> Reply {
    request(addr, "GET", path, &[], "").await
}

fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        body = rest[n..].trim_start_matches("\r\n");
    }
    out
}

/// An open `/console/events` stream.
pub struct Events {
    reader: BufReader<TcpStream>,
    /// Undecoded bytes of the chunked body.
    pending: Vec<u8>,
    /// Decoded text not yet split into events.
    text: String,
    /// Every line of the stream so far (for format checks).
    pub lines: Vec<String>,
    pub head: String,
}

impl Events {
    pub async fn connect(addr: SocketAddr) -> Events {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(
            format!(
                "GET /console/events HTTP/1.1\r\nHost: {addr}\r\nAccept: text/event-stream\r\n\r\n"
            )
            .as_bytes(),
        )
        .await
        .unwrap();
        let mut reader = BufReader::new(s);
        let mut head = String::new();
        loop {
            let mut line = String::new();
            let n = tokio::time::timeout(Duration::from_secs(10), reader.read_line(&mut line))
                .await
                .expect("response headers within 10 s")
                .unwrap();
            assert!(n > 0, "the stream closed before its headers: {head}");
            if line == "\r\n" {
                break;
            }
            head.push_str(&line.to_ascii_lowercase());
        }
        Events {
            reader,
            pending: Vec::new(),
            text: String::new(),
            lines: Vec::new(),
            head,
        }
    }

    /// The next event's `data:` JSON (keep-alive comments skipped), within `within`.
    pub async fn next_within(&mut self, within: Duration) -> Value {
        tokio::time::timeout(within, self.next())
            .await
            .unwrap_or_else(|_| panic!("no event within {within:?}"))
    }

    pub async fn next(&mut self) -> Value {
        loop {
            if let Some(end) = self.text.find("\n\n") {
                let block: String = self.text.drain(..end + 2).collect();
                let mut data = String::new();
                for line in block.lines() {
                    self.lines.push(line.to_string());
                    if let Some(d) = line.strip_prefix("data:") {
                        data.push_str(d.strip_prefix(' ').unwrap_or(d));
                    }
                }
                if !data.is_empty() {
                    return serde_json::from_str(&data)
                        .unwrap_or_else(|e| panic!("data is not JSON ({e}): {data}"));
                }
                continue;
            }
            self.fill().await;
        }
    }

    /// Reads one chunk of the chunked body into `text`.
    async fn fill(&mut self) {
        loop {
            if let Some(pos) = find(&self.pending, b"\r\n") {
                let size = std::str::from_utf8(&self.pending[..pos]).unwrap().trim();
                let n = usize::from_str_radix(size, 16).expect("a chunk size");
                assert!(n > 0, "the stream ended");
                if self.pending.len() >= pos + 2 + n + 2 {
                    let chunk = self.pending[pos + 2..pos + 2 + n].to_vec();
                    self.pending.drain(..pos + 2 + n + 2);
                    self.text.push_str(&String::from_utf8(chunk).unwrap());
                    return;
                }
            }
            let mut buf = [0u8; 16384];
            let n = self.reader.read(&mut buf).await.unwrap();
            assert!(n > 0, "the stream closed");
            self.pending.extend_from_slice(&buf[..n]);
        }
    }
}

fn find(h: &[u8], needle: &[u8]) -> Option<usize> {
    h.windows(needle.len()).position(|w| w == needle)
}
