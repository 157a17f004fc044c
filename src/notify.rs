//! The systemd notify protocol, spoken directly: one datagram per state
//! change (`READY=1`, `WATCHDOG=1`, `STOPPING=1`) to the Unix socket named
//! by `$NOTIFY_SOCKET` — a path, or an abstract socket when it starts with
//! `@`. No C library and no `unsafe`: std's `UnixDatagram` sends to a
//! `SocketAddr` built with `from_pathname` or `from_abstract_name`.
//!
//! The watchdog pings at half of `$WATCHDOG_USEC`, and only when
//! `$WATCHDOG_PID` is unset or names this process (systemd sets it so a
//! forked helper does not ping for its parent). Each ping first asks a probe
//! (the daemon's: the engine loop answers), so a wedged engine stops the
//! pings and systemd restarts the unit.
//!
//! With `$NOTIFY_SOCKET` absent (not under systemd, or `Type=simple`) every
//! call is a no-op. Notifications are best effort: a failed send is logged,
//! never fatal, and the socket is non-blocking so a stuck manager cannot
//! stall the runtime.

use std::future::Future;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::time::Duration;

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("NOTIFY_SOCKET={0:?} is not a socket address this build supports")]
    Address(String),
    #[error("WATCHDOG_USEC={0:?} is not a positive number of microseconds")]
    WatchdogUsec(String),
    #[error("notify socket: {0}")]
    Io(#[from] std::io::Error),
}

/// A connection to the service manager, or nothing when not under one.
#[derive(Debug)]
pub struct Notifier {
    target: Option<(UnixDatagram, SocketAddr)>,
    watchdog: Option<Duration>,
}

impl Notifier {
    /// A notifier that does nothing.
    pub fn disabled() -> Notifier {
        Notifier {
            target: None,
            watchdog: None,
        }
    }

    /// Reads `$NOTIFY_SOCKET`, `$WATCHDOG_USEC` and `$WATCHDOG_PID`.
    pub fn from_env() -> Result<Notifier, NotifyError> {
        Notifier::from_vars(&|k| std::env::var(k).ok(), std::process::id())
    }

    /// As [`Notifier::from_env`], with the variables from `get` and `pid` as
    /// this process's id.
    pub fn from_vars(
        get: &dyn Fn(&str) -> Option<String>,
        pid: u32,
    ) -> Result<Notifier, NotifyError> {
        let Some(path) = get("NOTIFY_SOCKET").filter(|p| !p.is_empty()) else {
            return Ok(Notifier::disabled());
        };
        let addr = socket_addr(&path)?;
        let socket = UnixDatagram::unbound()?;
        socket.set_nonblocking(true)?;
        let for_us = match get("WATCHDOG_PID") {
            None => true,
            Some(p) => p.trim().parse::<u32>().ok() == Some(pid),
        };
        let watchdog = match get("WATCHDOG_USEC") {
            Some(v) if for_us => {
                let usec: u64 = v
                    .trim()
                    .parse()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| NotifyError::WatchdogUsec(v.clone()))?;
                Some(Duration::from_micros(usec) / 2)
            }
            _ => None,
        };
        Ok(Notifier {
            target: Some((socket, addr)),
            watchdog,
        })
    }

    /// Whether a service manager listens.
    pub fn is_enabled(&self) -> bool {
        self.target.is_some()
    }

    /// How often the watchdog pings (half of `$WATCHDOG_USEC`), if it runs.
    pub fn watchdog_interval(&self) -> Option<Duration> {
        self.watchdog
    }

    /// `READY=1`: start-up is over.
    pub fn ready(&self) {
        self.send_logged("READY=1");
    }

    /// `STOPPING=1`: shutdown has begun.
    pub fn stopping(&self) {
        self.send_logged("STOPPING=1");
    }

    /// `WATCHDOG=1`: still alive.
    pub fn watchdog(&self) {
        self.send_logged("WATCHDOG=1");
    }

    /// Sends one notification (`KEY=value` lines). A no-op when disabled.
    pub fn send(&self, state: &str) -> Result<(), NotifyError> {
        if let Some((socket, addr)) = &self.target {
            socket.send_to_addr(state.as_bytes(), addr)?;
        }
        Ok(())
    }

    fn send_logged(&self, state: &str) {
        if let Err(e) = self.send(state) {
            tracing::warn!(error = %e, state, "systemd notification not sent");
        }
    }

    /// Starts the watchdog task, if `$WATCHDOG_USEC` asks for one: every
    /// interval it runs `probe` (bounded by the interval) and pings when the
    /// probe answers `true`. Abort the task to stop it.
    pub fn spawn_watchdog<F, Fut>(
        self: &std::sync::Arc<Self>,
        probe: F,
    ) -> Option<tokio::task::JoinHandle<()>>
    where
        F: Fn() -> Fut + Send + 'static,
        Fut: Future<Output = bool> + Send,
    {
        let period = self.watchdog.filter(|_| self.is_enabled())?;
        let me = self.clone();
        Some(tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                match tokio::time::timeout(period, probe()).await {
                    Ok(true) => me.watchdog(),
                    Ok(false) => tracing::warn!("watchdog probe failed; not pinging"),
                    Err(_) => tracing::warn!(?period, "watchdog probe timed out; not pinging"),
                }
            }
        }))
    }
}

/// `@name` is an abstract socket, anything else a path.
fn socket_addr(s: &str) -> Result<SocketAddr, NotifyError> {
    let bad = |_| NotifyError::Address(s.to_string());
    if let Some(name) = s.strip_prefix('@') {
        use std::os::linux::net::SocketAddrExt;
        SocketAddr::from_abstract_name(name.as_bytes()).map_err(bad)
    } else if s.starts_with('/') {
        SocketAddr::from_pathname(s).map_err(bad)
    } else {
        // systemd also knows `vsock:` addresses, which std cannot reach.
        Err(NotifyError::Address(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(v: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| v.iter().find(|(n, _)| *n == k).map(|(_, x)| x.to_string())
    }

    #[test]
    fn without_notify_socket_everything_is_a_no_op() {
        let n = Notifier::from_vars(&vars(&[("WATCHDOG_USEC", "1000")]), 1).unwrap();
        assert!(!n.is_enabled());
        assert_eq!(n.watchdog_interval(), None);
        n.send("READY=1").unwrap();
    }

    #[test]
    fn the_watchdog_runs_at_half_the_period_only_for_our_pid() {
        const ENV: &[(&str, &str)] = &[
            ("NOTIFY_SOCKET", "@floorgate-test"),
            ("WATCHDOG_USEC", "30000000"),
            ("WATCHDOG_PID", "42"),
        ];
        let n = Notifier::from_vars(&vars(ENV), 42).unwrap();
        assert_eq!(n.watchdog_interval(), Some(Duration::from_secs(15)));
        let other = Notifier::from_vars(&vars(ENV), 7).unwrap();
        assert!(other.is_enabled());
        assert_eq!(other.watchdog_interval(), None);
    }

    #[test]
    fn an_abstract_socket_receives_notifications() {
        use std::os::linux::net::SocketAddrExt;
        let name = format!("floorgate-notify-test-{}", std::process::id());
        let rx = UnixDatagram::bind_addr(&SocketAddr::from_abstract_name(name.as_bytes()).unwrap())
            .unwrap();
        let at = format!("@{name}");
        let n = Notifier::from_vars(&|k| (k == "NOTIFY_SOCKET").then(|| at.clone()), 1).unwrap();
        n.ready();
        let mut buf = [0u8; 64];
        let len = rx.recv(&mut buf).unwrap();
        assert_eq!(&buf[..len], b"READY=1");
    }

    #[test]
    fn a_bad_watchdog_usec_is_an_error_naming_the_value() {
        let e = Notifier::from_vars(
            &vars(&[("NOTIFY_SOCKET", "/run/x"), ("WATCHDOG_USEC", "soon")]),
            1,
        )
        .unwrap_err();
        assert!(e.to_string().contains("\"soon\""), "{e}");
    }
}
