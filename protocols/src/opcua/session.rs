//! The session supervisor behind [`AsrsClient`](super::AsrsClient): connect
//! with backoff, namespace lookup, data-type check of every profiled node,
//! and the status subscription re-created on every connect (see the
//! `client` module notes).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures_util::StreamExt;
use opcua::client::{
    ClientBuilder, DataChangeCallback, IdentityToken, MonitoredItem, Session, SessionPollResult,
};
use opcua::types::{
    AttributeId, DataValue, MonitoredItemCreateRequest, NodeId, ReadValueId, StatusCode,
    TimestampsToReturn, UserTokenPolicy, Variant,
};
use tokio::sync::watch;

use super::client::{resolve, AsrsStatus, LinkState};
use super::node::variant_int;
use super::profile::{AsrsProfile, NodeRef, Style};
use super::security::SecuritySettings;
use super::OpcUaError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(super) enum Field {
    LastCompleted,
    LastResult,
    Current,
    State,
    FaultCode,
    FaultText,
    AckTaskId,
    AckResult,
    AckReason,
}

/// A connected session and the profile's node ids resolved on it.
pub(super) struct Live {
    pub(super) session: Arc<Session>,
    pub(super) ns: u16,
    /// Closes the session when the connection is given up.
    _close: opcua::client::SessionDropGuard,
}

pub(super) struct Shared {
    pub(super) url: String,
    pub(super) profile: Arc<AsrsProfile>,
    pub(super) security: SecuritySettings,
    pub(super) link: watch::Sender<LinkState>,
    pub(super) status: watch::Sender<AsrsStatus>,
    pub(super) live: Mutex<Option<Arc<Live>>>,
    /// One handshake at a time: the command nodes are shared.
    pub(super) handshake: tokio::sync::Mutex<()>,
}

pub(super) async fn supervise(shared: Arc<Shared>) {
    let t = &shared.profile.timing;
    let min = Duration::from_millis(t.reconnect_min_ms.max(1));
    let max = Duration::from_millis(t.reconnect_max_ms.max(t.reconnect_min_ms).max(1));
    let mut delay = min;
    loop {
        shared.link.send_replace(LinkState::Connecting);
        match connect(&shared).await {
            Ok((live, ended)) => {
                *shared.live.lock().expect("poisoned") = Some(live.clone());
                shared.link.send_replace(LinkState::Connected);
                tracing::info!(url = %shared.url, "OPC-UA session active, status subscribed");
                delay = min;
                let code = ended.await.unwrap_or(StatusCode::BadUnexpectedError);
                *shared.live.lock().expect("poisoned") = None;
                let error = format!("connection lost: {code}");
                tracing::warn!(url = %shared.url, %error, "OPC-UA session ended");
                shared.link.send_replace(LinkState::Disconnected { error });
            }
            Err(e) => {
                tracing::warn!(url = %shared.url, error = %e, "OPC-UA connect failed");
                // What needs an operator (a profile that does not match, a
                // certificate not trusted) is a fault, not a lost link.
                shared.link.send_replace(match e {
                    OpcUaError::Profile(error) => LinkState::Misconfigured { error },
                    e @ (OpcUaError::Untrusted { .. } | OpcUaError::Security(_)) => {
                        LinkState::Misconfigured {
                            error: e.to_string(),
                        }
                    }
                    e => LinkState::Disconnected {
                        error: e.to_string(),
                    },
                });
            }
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(max);
    }
}

type Ended = tokio::sync::oneshot::Receiver<StatusCode>;

/// One connect: session, namespace, type check, subscription.
async fn connect(shared: &Arc<Shared>) -> Result<(Arc<Live>, Ended), OpcUaError> {
    let sec = &shared.security;
    let timing = &shared.profile.timing;
    let mut builder = ClientBuilder::new()
        .application_name("floorgate")
        .application_uri(sec.application_uri.clone())
        .product_uri("urn:floorgate")
        .pki_dir(sec.pki_dir.clone())
        .create_sample_keypair(false)
        .trust_server_certs(sec.accept_untrusted_server_certs)
        .verify_server_certs(true)
        .session_retry_limit(0)
        .request_timeout(Duration::from_millis(timing.request_timeout_ms))
        .keep_alive_interval(Duration::from_millis(1000))
        .max_failed_keep_alive_count(3)
        .recreate_subscriptions(false);
    if sec.policy() != opcua::crypto::SecurityPolicy::None {
        // The identity was made or checked at start (pki::ensure_identity);
        // its paths are absolute, so the client does not join them again.
        let (c, k) = super::pki::identity_paths(sec);
        builder = builder.certificate_path(c).private_key_path(k);
    }
    let mut client = builder.client().map_err(|errors| {
        OpcUaError::Security(format!("client settings: {}", errors.join("; ")))
    })?;
    let endpoint: opcua::types::EndpointDescription = (
        shared.url.as_str(),
        sec.policy().to_uri(),
        sec.mode(),
        UserTokenPolicy::anonymous(),
    )
        .into();
    let request_timeout = Duration::from_millis(timing.request_timeout_ms);
    tokio::time::timeout(request_timeout, check_server_certificate(&client, shared))
        .await
        .map_err(|_| {
            OpcUaError::Timeout(format!(
                "no endpoint list from {} within {request_timeout:?}",
                shared.url
            ))
        })??;
    let (session, event_loop) = tokio::time::timeout(
        request_timeout,
        client.connect_to_matching_endpoint(endpoint, IdentityToken::Anonymous),
    )
    .await
    .map_err(|_| {
        OpcUaError::Timeout(format!(
            "no endpoint list from {} within {request_timeout:?}",
            shared.url
        ))
    })?
    .map_err(|e| OpcUaError::Connect(endpoint_error(shared, e)))?;
    session.disable_reconnects();
    let (ended_tx, ended) = tokio::sync::oneshot::channel();
    let (first_tx, mut first) = tokio::sync::mpsc::unbounded_channel::<Result<(), StatusCode>>();
    tokio::spawn(async move {
        let stream = event_loop.enter();
        futures_util::pin_mut!(stream);
        let mut last = StatusCode::Good;
        let mut connected = false;
        while let Some(r) = stream.next().await {
            match r {
                Ok(SessionPollResult::Reconnected(_)) => {
                    connected = true;
                    let _ = first_tx.send(Ok(()));
                }
                Ok(SessionPollResult::ConnectionLost(c))
                | Ok(SessionPollResult::ReconnectFailed(c)) => last = c,
                Ok(_) => {}
                Err(c) => {
                    last = c;
                    break;
                }
            }
        }
        if !connected {
            let _ = first_tx.send(Err(last));
        }
        let _ = ended_tx.send(if last == StatusCode::Good {
            StatusCode::BadConnectionClosed
        } else {
            last
        });
    });
    let guard = session.close_on_drop();
    match tokio::time::timeout(request_timeout * 2, first.recv()).await {
        Err(_) => {
            return Err(OpcUaError::Timeout(format!(
                "no session with {} within {:?}",
                shared.url,
                request_timeout * 2
            )))
        }
        Ok(None) => {
            return Err(OpcUaError::Connect(
                "the session ended before it was active".into(),
            ))
        }
        Ok(Some(Err(code))) => return Err(session_error(shared, code)),
        Ok(Some(Ok(()))) => {}
    }
    let ns = match session
        .get_namespace_index(&shared.profile.namespace_uri)
        .await
    {
        Ok(ns) => ns,
        Err(e) if e.status() == StatusCode::BadNoMatch || e.status() == StatusCode::BadNotFound => {
            return Err(OpcUaError::Profile(format!(
                "the server has no namespace {:?} (profile namespace_uri)",
                shared.profile.namespace_uri
            )))
        }
        Err(e) => return Err(OpcUaError::Service(e.status())),
    };
    check_types(&session, &shared.profile, ns).await?;
    subscribe(&session, shared, ns).await?;
    Ok((
        Arc::new(Live {
            session,
            ns,
            _close: guard,
        }),
        ended,
    ))
}

fn endpoint_error(shared: &Shared, e: opcua::types::Error) -> String {
    let sec = &shared.security;
    format!(
        "{} (security {:?}/{:?}): no matching endpoint or no answer: {e}",
        shared.url, sec.policy, sec.mode
    )
}

/// With a secure policy: the server's certificate (from its endpoint list)
/// is checked against the trust list before any session, so a refusal
/// names the server's certificate, not the gateway's.
async fn check_server_certificate(
    client: &opcua::client::Client,
    shared: &Shared,
) -> Result<(), OpcUaError> {
    let sec = &shared.security;
    if sec.policy() == opcua::crypto::SecurityPolicy::None {
        return Ok(());
    }
    let endpoints = client
        .get_server_endpoints_from_url(shared.url.as_str())
        .await
        .map_err(|e| OpcUaError::Connect(endpoint_error(shared, e)))?;
    let endpoint = endpoints
        .iter()
        .find(|e| {
            e.security_policy_uri.as_ref() == sec.policy().to_uri() && e.security_mode == sec.mode()
        })
        .ok_or_else(|| {
            OpcUaError::Connect(format!(
                "{}: the server offers no endpoint with security {:?}/{:?}",
                shared.url, sec.policy, sec.mode
            ))
        })?;
    let cert =
        opcua::crypto::X509::from_byte_string(&endpoint.server_certificate).map_err(|e| {
            OpcUaError::Security(format!(
                "{}: the server's certificate does not parse: {e}",
                shared.url
            ))
        })?;
    let host = shared
        .url
        .trim_start_matches("opc.tcp://")
        .split(['/', ':'])
        .next()
        .unwrap_or_default()
        .to_string();
    // A certificate in trusted/ under another name is found by thumbprint.
    super::pki::trust_by_thumbprint(&sec.pki_dir, &cert);
    let store = client.certificate_store().read();
    store
        .validate_or_reject_application_instance_cert(
            &cert,
            sec.policy(),
            Some(&host),
            Some(endpoint.server.application_uri.as_ref()),
        )
        .map_err(|e| OpcUaError::Untrusted {
            url: shared.url.clone(),
            code: e.status(),
            trusted_dir: sec.pki_dir.join("trusted"),
        })
}

fn session_error(shared: &Shared, code: StatusCode) -> OpcUaError {
    let refused = [
        StatusCode::BadCertificateUntrusted,
        StatusCode::BadSecurityChecksFailed,
        StatusCode::BadCertificateInvalid,
        StatusCode::BadCertificateUriInvalid,
    ];
    if refused.contains(&code) && shared.security.policy() != opcua::crypto::SecurityPolicy::None {
        OpcUaError::Security(format!(
            "{}: the server refused the gateway's certificate ({code}); add {} to the server's trust list",
            shared.url,
            shared
                .security
                .certificate
                .as_deref()
                .map(|p| p.display().to_string())
                .unwrap_or_default()
        ))
    } else {
        OpcUaError::Connect(format!("{}: session not activated: {code}", shared.url))
    }
}

/// Every profiled variable exists and has the profile's data type.
async fn check_types(session: &Session, p: &AsrsProfile, ns: u16) -> Result<(), OpcUaError> {
    let nodes = p.nodes();
    let reads: Vec<ReadValueId> = nodes
        .iter()
        .map(|(_, n)| ReadValueId {
            node_id: resolve(&n.node, ns),
            attribute_id: AttributeId::DataType as u32,
            ..Default::default()
        })
        .collect();
    let values = session
        .read(&reads, TimestampsToReturn::Neither, 0.0)
        .await
        .map_err(|e| OpcUaError::Service(e.status()))?;
    let mut errors = Vec::new();
    for ((field, n), v) in nodes.iter().zip(values) {
        let id = resolve(&n.node, ns);
        match (v.status(), v.value) {
            (s, _) if s.is_bad() => errors.push(format!("{field}: node {id}: {s}")),
            (_, Some(Variant::NodeId(t))) if *t != n.ty.data_type_id() => errors.push(format!(
                "{field}: node {id} has data type {t}, the profile says {:?}",
                n.ty
            )),
            (_, Some(Variant::NodeId(_))) => {}
            (_, other) => errors.push(format!("{field}: node {id}: no data type ({other:?})")),
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(OpcUaError::Profile(format!(
            "profile {} does not match the server: {}",
            p.model,
            errors.join("; ")
        )))
    }
}

/// Creates the status subscription (and the acknowledgement nodes of the
/// handshake style); the initial values replace the whole status.
async fn subscribe(session: &Session, shared: &Arc<Shared>, ns: u16) -> Result<(), OpcUaError> {
    let p = &shared.profile;
    let mut fields: Vec<(Field, &NodeRef)> = vec![
        (Field::LastCompleted, &p.status.last_completed_task_id),
        (Field::State, &p.status.state),
        (Field::FaultCode, &p.status.fault_code),
    ];
    if let Some(n) = &p.status.current_task_id {
        fields.push((Field::Current, n));
    }
    if let Some(n) = &p.status.last_result {
        fields.push((Field::LastResult, n));
    }
    if let Some(n) = &p.status.fault_text {
        fields.push((Field::FaultText, n));
    }
    if let (Style::Handshake, Some(h)) = (p.style, &p.handshake) {
        fields.push((Field::AckTaskId, &h.ack_task_id));
        fields.push((Field::AckResult, &h.ack_result));
        if let Some(n) = &h.ack_reason {
            fields.push((Field::AckReason, n));
        }
    }
    let by_node: HashMap<NodeId, Field> = fields
        .iter()
        .map(|(f, n)| (resolve(&n.node, ns), *f))
        .collect();
    let status = shared.status.clone();
    status.send_modify(|s| {
        *s = AsrsStatus {
            subscription: s.subscription,
            ..AsrsStatus::default()
        }
    });
    let callback = DataChangeCallback::new(move |dv: DataValue, item: &MonitoredItem| {
        let Some(field) = by_node.get(&item.item_to_monitor().node_id) else {
            return;
        };
        let v = dv.value.unwrap_or_default();
        status.send_modify(|s| apply(s, *field, &v));
    });
    let interval = Duration::from_millis(p.timing.publishing_interval_ms.max(10));
    let sub = session
        .create_subscription(interval, 60, 10, 0, 0, true, callback)
        .await
        .map_err(|e| OpcUaError::Service(e.status()))?;
    let items: Vec<MonitoredItemCreateRequest> = fields
        .iter()
        .map(|(_, n)| {
            let mut r: MonitoredItemCreateRequest = resolve(&n.node, ns).into();
            r.requested_parameters.sampling_interval = interval.as_millis() as f64;
            r
        })
        .collect();
    let results = session
        .create_monitored_items(sub, TimestampsToReturn::Neither, items)
        .await
        .map_err(|e| OpcUaError::Service(e.status()))?;
    for ((_, n), r) in fields.iter().zip(results) {
        if r.result.status_code.is_bad() {
            return Err(OpcUaError::Profile(format!(
                "monitored item on {}: {}",
                resolve(&n.node, ns),
                r.result.status_code
            )));
        }
    }
    shared.status.send_modify(|s| s.subscription += 1);
    Ok(())
}

fn apply(s: &mut AsrsStatus, field: Field, v: &Variant) {
    let text = || match v {
        Variant::String(t) if !t.is_null() => Some(t.to_string()),
        Variant::String(_) | Variant::Empty => None,
        other => Some(other.to_string()),
    };
    let int = || variant_int(v).unwrap_or(0);
    match field {
        Field::LastCompleted => s.last_completed_task_id = text(),
        Field::LastResult => s.last_result = int(),
        Field::Current => s.current_task_id = text(),
        Field::State => s.state = text(),
        Field::FaultCode => s.fault_code = int(),
        Field::FaultText => s.fault_text = text(),
        Field::AckTaskId => s.ack_task_id = text(),
        Field::AckResult => s.ack_result = int(),
        Field::AckReason => s.ack_reason = text(),
    }
}
