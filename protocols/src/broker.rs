//! An embedded MQTT broker (rumqttd, MQTT 3.1.1, plain TCP) for tests and `floorgate simulate`.
//!
//! It listens on `127.0.0.1` only, on a free port the OS picks. rumqttd binds its own listener
//! and cannot report the bound address, so [`EmbeddedBroker::start`] reserves a free port by
//! binding `127.0.0.1:0` and releasing it, starts the broker on that port, and waits until it
//! accepts connections; if another process took the port meanwhile, it tries again with a new
//! one.
//!
//! [`EmbeddedBroker::start_on`] listens on a given address instead (`floorgate-sim site`, on the
//! broker address of a site file).
//!
//! rumqttd has no shutdown: the broker's threads live until the process ends. Start one per
//! process (or per test binary) and share it.
//!
//! rumqttd logs every connection and disconnection through `tracing`; a daemon that installs
//! a subscriber should add [`QUIET_LOG_DIRECTIVE`] to its filter.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use rumqttd::{Broker, Config, ConnectionSettings, RouterConfig, ServerSettings};

/// A `tracing` filter directive that silences the broker's own logs.
pub const QUIET_LOG_DIRECTIVE: &str = "rumqttd=off";

/// How many ports to try before giving up.
const ATTEMPTS: usize = 5;
/// How long one attempt may take to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(5);
/// Largest accepted MQTT payload (bytes): above what the gateway takes from a robot
/// (`max_message_bytes`, 1 MiB), below the gateway client's packet limit (16 MiB), so a message
/// too large for a robot's profile reaches the gateway, which drops and counts it.
pub const MAX_PAYLOAD: usize = 4 * 1024 * 1024;

/// The broker could not be started.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// No free port could be reserved, or a thread could not be spawned.
    #[error("embedded broker: {0}")]
    Io(#[from] std::io::Error),
    /// Every attempt failed.
    #[error("embedded broker did not start after {ATTEMPTS} attempts: {last}")]
    NotStarted {
        /// Why the last attempt failed.
        last: String,
    },
}

/// A running embedded broker.
#[derive(Debug, Clone)]
pub struct EmbeddedBroker {
    addr: SocketAddr,
}

impl EmbeddedBroker {
    /// Starts a broker on `127.0.0.1` and a free port; returns once it accepts connections.
    pub fn start() -> Result<EmbeddedBroker, BrokerError> {
        let mut last = String::new();
        for _ in 0..ATTEMPTS {
            let port = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
                .local_addr()?
                .port();
            let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
            match start_on(addr) {
                Ok(()) => return Ok(EmbeddedBroker { addr }),
                Err(e) => last = e,
            }
        }
        Err(BrokerError::NotStarted { last })
    }

    /// Starts a broker on `addr` (a site file's broker address); returns once it accepts
    /// connections. Fails when the address is taken.
    pub fn start_on(addr: SocketAddr) -> Result<EmbeddedBroker, BrokerError> {
        start_on(addr).map_err(|last| BrokerError::NotStarted { last })?;
        Ok(EmbeddedBroker { addr })
    }

    /// The address clients connect to.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The host part, `"127.0.0.1"`.
    pub fn host(&self) -> String {
        self.addr.ip().to_string()
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }
}

fn start_on(addr: SocketAddr) -> Result<(), String> {
    let mut broker = Broker::new(config(addr));
    let (done_tx, done_rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("mqtt-broker".into())
        .spawn(move || {
            // Returns only when every listener has stopped (e.g. the port was taken).
            let outcome = broker.start().map_err(|e| e.to_string());
            let _ = done_tx.send(outcome);
        })
        .map_err(|e| e.to_string())?;
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if TcpStream::connect_timeout(&addr, Duration::from_millis(100)).is_ok() {
            return Ok(());
        }
        match done_rx.try_recv() {
            Ok(Err(e)) => return Err(e),
            Ok(Ok(())) | Err(mpsc::TryRecvError::Disconnected) => {
                return Err(format!("listener on {addr} stopped"));
            }
            Err(mpsc::TryRecvError::Empty) => {}
        }
        if Instant::now() > deadline {
            return Err(format!("no listener on {addr} after {START_TIMEOUT:?}"));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn config(addr: SocketAddr) -> Config {
    let server = ServerSettings {
        name: "floorgate-embedded".into(),
        listen: addr,
        tls: None,
        next_connection_delay_ms: 0,
        connections: ConnectionSettings {
            connection_timeout_ms: 10_000,
            max_payload_size: MAX_PAYLOAD,
            max_inflight_count: 500,
            auth: None,
            external_auth: None,
            dynamic_filters: true,
        },
    };
    Config {
        id: 0,
        router: RouterConfig {
            max_connections: 10_000,
            max_outgoing_packet_count: 500,
            max_segment_size: 16 * 1024 * 1024,
            max_segment_count: 4,
            ..RouterConfig::default()
        },
        v4: Some(HashMap::from([("1".to_string(), server)])),
        ..Config::default()
    }
}
