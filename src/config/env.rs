//! `FLOORGATE_*` environment overrides of the `[gateway]` section. An
//! unparsable value is an error naming the variable, never silently ignored.

use super::types::GatewaySection;

/// The variables read, each overriding the `[gateway]` field of the same
/// name in lower case.
pub const VARS: [&str; 13] = [
    "FLOORGATE_GRPC_PLAINTEXT",
    "FLOORGATE_GRPC_TLS_CERT",
    "FLOORGATE_GRPC_TLS_KEY",
    "FLOORGATE_GRPC_TLS_CLIENT_CA",
    "FLOORGATE_MQTT_BROKER",
    "FLOORGATE_MQTT_USERNAME",
    "FLOORGATE_MQTT_PASSWORD",
    "FLOORGATE_GRPC_LISTEN",
    "FLOORGATE_DATA_DIR",
    "FLOORGATE_PROFILES_DIR",
    "FLOORGATE_SHUTDOWN_GRACE_SECS",
    "FLOORGATE_MAX_UNACKED_EVENTS",
    "FLOORGATE_ADMIN_LISTEN",
];

/// Applies overrides from `get` (the process environment in production).
/// Returns (variable, message) for each value that does not parse.
pub fn apply(
    g: &mut GatewaySection,
    get: &dyn Fn(&str) -> Option<String>,
) -> Vec<(&'static str, String)> {
    let mut errors = Vec::new();
    for var in VARS {
        let Some(v) = get(var) else { continue };
        let res: Result<(), String> = match var {
            "FLOORGATE_GRPC_LISTEN" => v
                .parse()
                .map(|a| g.grpc_listen = a)
                .map_err(|e| format!("{v:?} is not a socket address: {e}")),
            "FLOORGATE_MQTT_BROKER" => {
                g.mqtt.broker = v;
                Ok(())
            }
            "FLOORGATE_MQTT_USERNAME" => {
                g.mqtt.username = Some(v);
                Ok(())
            }
            "FLOORGATE_MQTT_PASSWORD" => {
                g.mqtt.password = Some(v);
                Ok(())
            }
            "FLOORGATE_GRPC_PLAINTEXT" => v
                .parse()
                .map(|b| g.grpc_plaintext = b)
                .map_err(|_| format!("{v:?} is not true or false")),
            "FLOORGATE_GRPC_TLS_CERT" => {
                tls(g).cert_file = v.into();
                Ok(())
            }
            "FLOORGATE_GRPC_TLS_KEY" => {
                tls(g).key_file = v.into();
                Ok(())
            }
            "FLOORGATE_GRPC_TLS_CLIENT_CA" => {
                tls(g).client_ca_file = Some(v.into());
                Ok(())
            }
            "FLOORGATE_DATA_DIR" => {
                g.data_dir = v.into();
                Ok(())
            }
            "FLOORGATE_PROFILES_DIR" => {
                g.profiles_dir = v.into();
                Ok(())
            }
            "FLOORGATE_SHUTDOWN_GRACE_SECS" => v
                .parse()
                .map(|n| g.shutdown_grace_secs = n)
                .map_err(|e| format!("{v:?} is not a number of seconds: {e}")),
            "FLOORGATE_MAX_UNACKED_EVENTS" => v
                .parse()
                .map(|n| g.max_unacked_events = n)
                .map_err(|e| format!("{v:?} is not a count: {e}")),
            "FLOORGATE_ADMIN_LISTEN" => {
                super::types::parse_admin_listen(&v).map(|a| g.admin_listen = a)
            }
            _ => Ok(()),
        };
        if let Err(m) = res {
            errors.push((var, m));
        }
    }
    errors
}

fn tls(g: &mut GatewaySection) -> &mut super::types::GrpcTls {
    g.grpc_tls.get_or_insert_with(|| super::types::GrpcTls {
        cert_file: Default::default(),
        key_file: Default::default(),
        client_ca_file: None,
    })
}
