//! `FLOORGATE_*` environment overrides of the `[gateway]` section. An
//! unparsable value is an error naming the variable, never silently ignored.

use super::types::GatewaySection;

/// The variables read, each overriding the `[gateway]` field of the same
/// name in lower case.
pub const VARS: [&str; 25] = [
    "FLOORGATE_OPCUA_SECURITY_POLICY",
    "FLOORGATE_OPCUA_SECURITY_MODE",
    "FLOORGATE_OPCUA_CLIENT_CERT",
    "FLOORGATE_OPCUA_CLIENT_KEY",
    "FLOORGATE_OPCUA_PKI_DIR",
    "FLOORGATE_OPCUA_ACCEPT_UNTRUSTED",
    "FLOORGATE_GRPC_PLAINTEXT",
    "FLOORGATE_GRPC_TLS_CERT",
    "FLOORGATE_GRPC_TLS_KEY",
    "FLOORGATE_GRPC_TLS_CLIENT_CA",
    "FLOORGATE_MQTT_BROKER",
    "FLOORGATE_MQTT_USERNAME",
    "FLOORGATE_MQTT_PASSWORD",
    "FLOORGATE_MQTT_PLAINTEXT",
    "FLOORGATE_MQTT_TLS_CA",
    "FLOORGATE_MQTT_TLS_CERT",
    "FLOORGATE_MQTT_TLS_KEY",
    "FLOORGATE_MQTT_TLS_SERVER_NAME",
    "FLOORGATE_GRPC_LISTEN",
    "FLOORGATE_DATA_DIR",
    "FLOORGATE_PROFILES_DIR",
    "FLOORGATE_SHUTDOWN_GRACE_SECS",
    "FLOORGATE_MAX_UNACKED_EVENTS",
    "FLOORGATE_STORE_CACHE_MB",
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
            "FLOORGATE_MQTT_PLAINTEXT" => v
                .parse()
                .map(|b| g.mqtt.mqtt_plaintext = b)
                .map_err(|_| format!("{v:?} is not true or false")),
            "FLOORGATE_MQTT_TLS_CA" => {
                mqtt_tls(g).ca_file = v.into();
                Ok(())
            }
            "FLOORGATE_MQTT_TLS_CERT" => {
                mqtt_tls(g).client_cert_file = Some(v.into());
                Ok(())
            }
            "FLOORGATE_MQTT_TLS_KEY" => {
                mqtt_tls(g).client_key_file = Some(v.into());
                Ok(())
            }
            "FLOORGATE_MQTT_TLS_SERVER_NAME" => {
                mqtt_tls(g).server_name = Some(v);
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
            "FLOORGATE_STORE_CACHE_MB" => v
                .parse()
                .map(|n| g.store_cache_mb = n)
                .map_err(|e| format!("{v:?} is not a number of MiB: {e}")),
            "FLOORGATE_MAX_UNACKED_EVENTS" => v
                .parse()
                .map(|n| g.max_unacked_events = n)
                .map_err(|e| format!("{v:?} is not a count: {e}")),
            "FLOORGATE_OPCUA_SECURITY_POLICY" => match v.as_str() {
                "None" => Ok(crate::opcua::Policy::None),
                "Basic256Sha256" => Ok(crate::opcua::Policy::Basic256Sha256),
                _ => Err(format!("{v:?} is not None or Basic256Sha256")),
            }
            .map(|p| g.opcua.security_policy = p),
            "FLOORGATE_OPCUA_SECURITY_MODE" => match v.as_str() {
                "None" => Ok(crate::opcua::Mode::None),
                "Sign" => Ok(crate::opcua::Mode::Sign),
                "SignAndEncrypt" => Ok(crate::opcua::Mode::SignAndEncrypt),
                _ => Err(format!("{v:?} is not None, Sign or SignAndEncrypt")),
            }
            .map(|m| g.opcua.security_mode = m),
            "FLOORGATE_OPCUA_CLIENT_CERT" => {
                g.opcua.client_certificate = Some(v.into());
                Ok(())
            }
            "FLOORGATE_OPCUA_CLIENT_KEY" => {
                g.opcua.client_private_key = Some(v.into());
                Ok(())
            }
            "FLOORGATE_OPCUA_PKI_DIR" => {
                g.opcua.pki_dir = Some(v.into());
                Ok(())
            }
            "FLOORGATE_OPCUA_ACCEPT_UNTRUSTED" => v
                .parse()
                .map(|b| g.opcua.accept_untrusted_server_certs = b)
                .map_err(|_| format!("{v:?} is not true or false")),
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

fn mqtt_tls(g: &mut GatewaySection) -> &mut super::types::MqttTls {
    g.mqtt.tls.get_or_insert_with(|| super::types::MqttTls {
        ca_file: Default::default(),
        client_cert_file: None,
        client_key_file: None,
        server_name: None,
    })
}
