//! A feed for finding a subscriber's ceiling: the server side of MQTT 3.1.1, just far enough
//! for its clients (CONNACK, SUBACK, UNSUBACK, PUBACK / PUBREC / PUBCOMP, PINGRESP), that
//! pushes prepared PUBLISH packets at every client as fast as its socket takes them.
//!
//! A broker on this 2-core machine runs out of CPU long before a lean subscriber does (it
//! parses, routes and re-encodes every message); writing a prepared buffer costs the feed
//! little, so with the subscriber pinned to one core and the feed to the other, the
//! subscriber is the limit and its processed rate is its ceiling on one core. TCP flow
//! control paces the feed: a subscriber that falls behind stops the writes, nothing is lost.
//!
//! Replies are written between whole prepared chunks, never inside a packet.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::OwnedReadHalf;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;

/// Prepared packets per chunk (about 64 KiB of `state`s).
const PER_CHUNK: usize = 100;

/// A running feed on 127.0.0.1.
pub struct Feed {
    pub port: u16,
    shared: Arc<Shared>,
}

struct Shared {
    /// Whole PUBLISH packets, `PER_CHUNK` (or fewer, last) per chunk.
    chunks: Vec<Vec<u8>>,
    topics: Vec<String>,
    filters: Mutex<Vec<String>>,
    flowing: AtomicBool,
}

impl Feed {
    /// Listens on 127.0.0.1 (a port the kernel picks) and serves every client that connects
    /// on the current tokio runtime; `messages` are (topic, payload), sent round and round.
    pub async fn start(messages: &[(String, Vec<u8>)]) -> Feed {
        let chunks = messages
            .chunks(PER_CHUNK)
            .map(|c| {
                let mut buf = Vec::new();
                for (topic, payload) in c {
                    encode_publish(&mut buf, topic, payload);
                }
                buf
            })
            .collect();
        let mut topics: Vec<String> = messages.iter().map(|(t, _)| t.clone()).collect();
        topics.sort();
        topics.dedup();
        let shared = Arc::new(Shared {
            chunks,
            topics,
            filters: Mutex::new(Vec::new()),
            flowing: AtomicBool::new(false),
        });
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the feed");
        let port = listener.local_addr().expect("the feed's address").port();
        let s = shared.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, s.clone()));
            }
        });
        Feed { port, shared }
    }

    /// Whether every topic of the feed is matched by a filter some client subscribed.
    pub fn covered(&self) -> bool {
        let filters = self.shared.filters.lock().unwrap();
        self.shared
            .topics
            .iter()
            .all(|t| filters.iter().any(|f| matches(f, t)))
    }

    /// Starts (or pauses) pushing messages.
    pub fn set_flowing(&self, on: bool) {
        self.shared.flowing.store(on, Ordering::Relaxed);
    }

    /// Forgets the filters of earlier clients (before the next one subscribes).
    pub fn forget_filters(&self) {
        self.shared.filters.lock().unwrap().clear();
    }
}

async fn serve(stream: TcpStream, shared: Arc<Shared>) {
    let _ = stream.set_nodelay(true);
    let (rd, mut wr) = stream.into_split();
    let (tx, mut replies) = mpsc::unbounded_channel::<Vec<u8>>();
    tokio::spawn(read_packets(rd, tx, shared.clone()));
    let mut next = 0;
    loop {
        while let Ok(reply) = replies.try_recv() {
            if wr.write_all(&reply).await.is_err() {
                return;
            }
        }
        if shared.flowing.load(Ordering::Relaxed) {
            let chunk = &shared.chunks[next];
            next = (next + 1) % shared.chunks.len();
            if wr.write_all(chunk).await.is_err() {
                return;
            }
        } else {
            match tokio::time::timeout(Duration::from_millis(10), replies.recv()).await {
                Ok(Some(reply)) => {
                    if wr.write_all(&reply).await.is_err() {
                        return;
                    }
                }
                // The client hung up.
                Ok(None) => return,
                Err(_) => {}
            }
        }
    }
}

/// Reads the client's packets and queues the replies; ends when the client hangs up.
async fn read_packets(
    rd: OwnedReadHalf,
    replies: mpsc::UnboundedSender<Vec<u8>>,
    shared: Arc<Shared>,
) -> std::io::Result<()> {
    let mut rd = BufReader::new(rd);
    loop {
        let first = rd.read_u8().await?;
        let mut len = 0usize;
        for shift in (0..28).step_by(7) {
            let b = rd.read_u8().await?;
            len |= usize::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                break;
            }
        }
        let mut body = vec![0; len];
        rd.read_exact(&mut body).await?;
        let id = |at: usize| body.get(at..at + 2).map(|b| [b[0], b[1]]).unwrap_or([0, 0]);
        let reply = match first >> 4 {
            // CONNECT: accepted, no session.
            1 => vec![0x20, 2, 0, 0],
            // PUBLISH: acknowledge QoS 1 and 2 (the packet id follows the topic).
            3 => {
                let topic_len = usize::from(u16::from_be_bytes(id(0)));
                let [a, b] = id(2 + topic_len);
                match (first >> 1) & 3 {
                    1 => vec![0x40, 2, a, b],
                    2 => vec![0x50, 2, a, b],
                    _ => continue,
                }
            }
            // PUBREL → PUBCOMP.
            6 => {
                let [a, b] = id(0);
                vec![0x70, 2, a, b]
            }
            // SUBSCRIBE: every filter granted at the QoS asked (at most 1).
            8 => {
                let mut granted = Vec::new();
                let mut at = 2;
                let mut filters = shared.filters.lock().unwrap();
                while at + 2 <= body.len() {
                    let n = usize::from(u16::from_be_bytes(id(at)));
                    let Some(f) = body.get(at + 2..at + 2 + n) else {
                        break;
                    };
                    filters.push(String::from_utf8_lossy(f).into_owned());
                    granted.push(body.get(at + 2 + n).copied().unwrap_or(0).min(1));
                    at += 3 + n;
                }
                let mut reply = vec![0x90];
                encode_len(&mut reply, 2 + granted.len());
                reply.extend_from_slice(&id(0));
                reply.extend_from_slice(&granted);
                reply
            }
            // UNSUBSCRIBE → UNSUBACK.
            10 => {
                let [a, b] = id(0);
                vec![0xb0, 2, a, b]
            }
            // PINGREQ → PINGRESP.
            12 => vec![0xd0, 0],
            // DISCONNECT.
            14 => return Ok(()),
            _ => continue,
        };
        if replies.send(reply).is_err() {
            return Ok(());
        }
    }
}

/// A QoS 0 PUBLISH packet.
pub fn encode_publish(buf: &mut Vec<u8>, topic: &str, payload: &[u8]) {
    buf.push(0x30);
    encode_len(buf, 2 + topic.len() + payload.len());
    buf.extend_from_slice(&(topic.len() as u16).to_be_bytes());
    buf.extend_from_slice(topic.as_bytes());
    buf.extend_from_slice(payload);
}

/// MQTT's variable-length remaining length.
fn encode_len(buf: &mut Vec<u8>, mut len: usize) {
    loop {
        let mut b = (len % 128) as u8;
        len /= 128;
        if len > 0 {
            b |= 0x80;
        }
        buf.push(b);
        if len == 0 {
            return;
        }
    }
}

/// Whether MQTT filter `filter` (with `+` and `#`) matches `topic`.
pub fn matches(filter: &str, topic: &str) -> bool {
    let (mut f, mut t) = (filter.split('/'), topic.split('/'));
    loop {
        match (f.next(), t.next()) {
            (Some("#"), _) => return true,
            (Some("+"), Some(_)) => {}
            (Some(a), Some(b)) if a == b => {}
            (None, None) => return true,
            _ => return false,
        }
    }
}

/// Pins every thread of process `pid` (and the threads it starts later) to CPU `cpu`.
pub fn pin(pid: u32, cpu: usize) {
    let status = std::process::Command::new("taskset")
        .args(["-a", "-p", "-c", &cpu.to_string(), &pid.to_string()])
        .stdout(std::process::Stdio::null())
        .status()
        .expect("run taskset (util-linux)");
    assert!(status.success(), "taskset could not pin {pid} to CPU {cpu}");
}
