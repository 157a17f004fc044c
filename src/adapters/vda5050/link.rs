//! The MQTT client of the fleet: options from `[gateway.mqtt]`, the subscriptions renewed on
//! every connection (clean session), and the task that drives rumqttc's event loop and
//! hands each incoming message to the fleet.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Outgoing, Packet, QoS, SubscribeFilter};

use super::Shared;
use crate::config::MqttSection;
use crate::vda5050::Qos;

/// Largest MQTT packet accepted or sent (bytes): long orders and factsheets fit.
const MAX_PACKET: usize = 1 << 20;
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
    opts.set_keep_alive(Duration::from_secs(mqtt.keep_alive_secs.max(1)))
        .set_clean_session(true)
        .set_max_packet_size(MAX_PACKET, MAX_PACKET);
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
    let mut complained = false;
    let mut backoff = Duration::from_millis(200);
    loop {
        match events.poll().await {
            Ok(Event::Incoming(Packet::ConnAck(_))) => {
                tracing::info!(%broker, "connected to the MQTT broker");
                up = true;
                complained = false;
                backoff = Duration::from_millis(200);
                for chunk in filters.chunks(FILTERS_PER_PACKET) {
                    if let Err(e) = shared.client.try_subscribe_many(chunk.to_vec()) {
                        tracing::error!(error = %e, "could not queue the AMR subscriptions");
                    }
                }
                shared.on_broker(true);
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
                    tracing::warn!(%broker, error = %e, "lost the MQTT broker; reconnecting");
                    shared.on_broker(false);
                } else if !complained {
                    tracing::warn!(%broker, error = %e, "cannot reach the MQTT broker; retrying");
                    complained = true;
                } else {
                    tracing::debug!(%broker, error = %e, "cannot reach the MQTT broker");
                }
                up = false;
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(5));
            }
        }
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
