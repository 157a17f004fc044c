//! The MQTT client of the fleet: options from `[gateway.mqtt]`, the subscriptions renewed on
//! every connection (clean session), and the task that drives rumqttc's event loop and
//! hands each incoming message to the fleet.
//!
//! # Size limits
//!
//! rumqttc drops the whole connection on an incoming packet larger than its limit, so one
//! client publishing a huge `state` would take the fleet's link down. The client's limit is
//! therefore [`MAX_INCOMING_PACKET`] (16 MiB), well above what any robot's profile accepts
//! (`max_message_bytes`, 1 MiB by default): a message between the two arrives and is
//! dropped by the adapter, counted as `oversized`. What is larger than the client's limit
//! must be refused by the broker (`max_packet_size` in mosquitto, `message_size_limit` in
//! older ones); the README says what a site sets.
//!
//! # Transport
//!
//! TLS when `[gateway.mqtt.tls]` is set (rustls, the broker's certificate checked against
//! its `ca_file` and host name, a client certificate for mutual TLS:
//! [`crate::adapters::mqtt_tls`]); plain TCP only when the site file says
//! `mqtt_plaintext = true` (`check-config` refuses an AMR site with neither). A username and
//! password over plain TCP travel in the clear: said once, at start, as a warning.
//!
//! # Diagnostics
//!
//! A broker that cannot be reached is logged once per distinct error, then summarised with
//! the count of failed attempts every minute ([`WarnLimiter`]); reaching it again says how
//! many attempts failed. A link lost the same way again and again is summarised alike.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use rumqttc::{
    AsyncClient, Event, EventLoop, MqttOptions, Outgoing, Packet, QoS, SubscribeFilter,
    TlsConfiguration, Transport,
};

use floorgate_protocols::ratelimit::WarnLimiter;

use super::Shared;
use crate::config::MqttSection;
use crate::vda5050::Qos;

/// Largest MQTT packet received (bytes): far above any profile's `max_message_bytes`, so an
/// oversized message is dropped by the adapter instead of breaking the connection.
pub const MAX_INCOMING_PACKET: usize = 16 << 20;
/// Largest MQTT packet sent (bytes): long orders fit.
const MAX_OUTGOING_PACKET: usize = 1 << 20;
/// Subscription filters per SUBSCRIBE packet.
const FILTERS_PER_PACKET: usize = 30;

/// The rumqttc QoS of a VDA 5050 topic QoS.
pub fn qos(q: Qos) -> QoS {
    match q {
        Qos::AtMostOnce => QoS::AtMostOnce,
        Qos::AtLeastOnce => QoS::AtLeastOnce,
        Qos::ExactlyOnce => QoS::ExactlyOnce,
    }
}

/// `host:port` (IPv6 hosts in brackets).
pub fn parse_broker(broker: &str) -> Result<(String, u16), String> {
    let (host, port) = broker
        .rsplit_once(':')
        .ok_or_else(|| format!("{broker:?} is not host:port"))?;
    let port = port
        .parse::<u16>()
        .map_err(|_| format!("{broker:?}: {port:?} is not a port"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        return Err(format!("{broker:?} has no host"));
    }
    Ok((host.to_string(), port))
}

/// The client and its event loop (not connected until the loop is polled).
pub fn connect(mqtt: &MqttSection, robots: usize) -> Result<(AsyncClient, EventLoop), String> {
    let (host, port) = parse_broker(&mqtt.broker)?;
    let mut opts = MqttOptions::new(mqtt.client_id.clone(), host, port);
    match &mqtt.tls {
        Some(tls) => {
            let config = crate::adapters::mqtt_tls::client_config(tls)
                .map_err(|e| format!("[gateway.mqtt.tls] {}: {e}", e.field()))?;
            opts.set_transport(Transport::tls_with_config(TlsConfiguration::Rustls(
                Arc::new(config),
            )));
        }
        None if mqtt.username.is_some() || mqtt.password.is_some() => tracing::warn!(
            broker = %mqtt.broker,
            "the MQTT username and password go to the broker in the clear \
             (mqtt_plaintext = true); set [gateway.mqtt.tls] to encrypt them"
        ),
        None => {}
    }
    opts.set_keep_alive(Duration::from_secs(mqtt.keep_alive_secs.max(1)))
        .set_clean_session(true)
        .set_max_packet_size(MAX_INCOMING_PACKET, MAX_OUTGOING_PACKET);
    if let Some(user) = &mqtt.username {
        opts.set_credentials(user.clone(), mqtt.password.clone().unwrap_or_default());
    }
    // Room for a burst of orders and instant actions to every robot.
    let capacity = 1024 + 16 * robots;
    Ok(AsyncClient::new(opts, capacity))
}

/// Drives the event loop until the adapter closes: subscribes on every connection, feeds
/// incoming messages to the fleet, reports the broker up or down, reconnects with backoff.
pub(super) async fn run(
    shared: Arc<Shared>,
    mut events: EventLoop,
    subscriptions: Vec<(String, Qos)>,
    broker: String,
) {
    let filters: Vec<SubscribeFilter> = subscriptions
        .into_iter()
        .map(|(t, q)| SubscribeFilter::new(t, qos(q)))
        .collect();
    let mut up = false;
    let mut attempts = WarnLimiter::default();
    // Not cleared on reconnect: a link that keeps flapping the same way is summarised.
    let mut losses = WarnLimiter::default();
    let mut failed: u64 = 0;
    let mut backoff = Duration::from_millis(200);
    loop {
        match events.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                attempts.clear(|_, _| {});
                tracing::info!(%broker, failed_attempts = failed, "connected to the MQTT broker");
                failed = 0;
                up = true;
                backoff = Duration::from_millis(200);
                for chunk in filters.chunks(FILTERS_PER_PACKET) {
                    if let Err(e) = shared.client.try_subscribe_many(chunk.to_vec()) {
                        tracing::error!(error = %e, "could not queue the AMR subscriptions");
                    }
                }
                shared.on_broker(true, "");
            }
            Ok(Event::Incoming(Packet::Publish(p))) => shared.on_publish(&p.topic, &p.payload),
            Ok(Event::Outgoing(Outgoing::Disconnect)) => {
                if shared.closing.load(Ordering::SeqCst) {
                    return;
                }
            }
            Ok(_) => {}
            Err(e) => {
                if shared.closing.load(Ordering::SeqCst) {
                    return;
                }
                if up {
                    let error = describe(&e);
                    losses.warn(error.clone(), std::time::Instant::now(), |n| match n {
                        0 => tracing::warn!(%broker, %error, "lost the MQTT broker; reconnecting"),
                        n => tracing::warn!(%broker, %error, repeats = n,
                            "lost the MQTT broker again, {n} times since the last line; reconnecting"),
                    });
                    shared.on_broker(false, &format!("lost the MQTT broker: {e}"));
                } else {
                    failed += 1;
                    let error = describe(&e);
                    shared.reached.failed(&error);
                    attempts.warn(error.clone(), std::time::Instant::now(), |n| match n {
                        0 => tracing::warn!(%broker, %error, "cannot reach the MQTT broker; retrying"),
                        n => tracing::warn!(%broker, %error, attempts = n,
                            "still cannot reach the MQTT broker after {n} more attempts"),
                    });
                }
                up = false;
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// A connection error as logged and shown by `/readyz?verbose`; a certificate the gateway
/// refused says which setting decides.
fn describe(e: &rumqttc::ConnectionError) -> String {
    let text = e.to_string();
    let tls = matches!(e, rumqttc::ConnectionError::Tls(_));
    if tls && text.contains("invalid peer certificate") {
        format!("{text} (the broker's certificate, checked against [gateway.mqtt.tls] ca_file and server_name or the broker's host)")
    } else {
        text
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn broker_addresses_are_host_and_port() {
        assert_eq!(
            parse_broker("127.0.0.1:1883"),
            Ok(("127.0.0.1".into(), 1883))
        );
        assert_eq!(parse_broker("[::1]:8883"), Ok(("::1".into(), 8883)));
        assert!(parse_broker("mqtt.local").is_err());
        assert!(parse_broker(":1883").is_err());
        assert!(parse_broker("h:99999").is_err());
    }
}
