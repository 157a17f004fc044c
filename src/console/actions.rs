//! Operator actions from the console: cancel a task; reset, pause, resume or stop a device.
//!
//! Each needs the site's admin token as `Authorization: Bearer <token>` (no header: `401`;
//! a wrong token, or a site without one: `403`), takes an optional JSON body
//! `{"reason": "…"}`, and goes through the engine exactly as the gRPC call does
//! (`EngineHandle::cancel` / `EngineHandle::operate`, answered once durable), journaled with
//! the reason `console: <reason>`. The answer is JSON: `{"ok":true,…}` or
//! `{"error":"…"}` with a status that says which kind of failure it was.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use serde::Deserialize;

use super::{json_response, not_yet, Console, Live};
use crate::api::convert::{MAX_ID_LEN, MAX_REASON_LEN};
use crate::engine::adapter::DeviceOperation;
use crate::engine::EngineError;

/// The reason prefix every console action is journaled with.
pub const REASON_PREFIX: &str = "console: ";

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Body {
    #[serde(default)]
    reason: String,
}

fn error(status: StatusCode, message: impl Into<String>) -> Response {
    let body = serde_json::json!({ "error": message.into() }).to_string();
    json_response(status, body)
}

/// The live console, if the request carries its token.
fn authorised(c: &Console, headers: &HeaderMap) -> Result<std::sync::Arc<Live>, Response> {
    let live = c.live().ok_or_else(not_yet)?;
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        let mut r = error(
            StatusCode::UNAUTHORIZED,
            "operator actions need Authorization: Bearer <admin token>",
        );
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            header::HeaderValue::from_static("Bearer realm=\"floorgate console\""),
        );
        return Err(r);
    };
    let Some(token) = live.sources.token.as_deref() else {
        return Err(error(
            StatusCode::FORBIDDEN,
            "operator actions are off: the site file sets no [gateway.console] admin_token",
        ));
    };
    let given = value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .unwrap_or_default();
    if !same(given.as_bytes(), token.as_bytes()) {
        return Err(error(StatusCode::FORBIDDEN, "wrong admin token"));
    }
    Ok(live)
}

/// Compares in time that depends on the lengths only.
fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

fn reason(body: &Bytes, default: &str) -> Result<String, Response> {
    let b: Body = if body.iter().all(u8::is_ascii_whitespace) {
        Body::default()
    } else {
        serde_json::from_slice(body).map_err(|e| {
            error(
                StatusCode::BAD_REQUEST,
                format!("the body is not {{\"reason\": \"…\"}}: {e}"),
            )
        })?
    };
    let r = b.reason.trim();
    let r = if r.is_empty() { default } else { r };
    let out = format!("{REASON_PREFIX}{r}");
    if out.len() > MAX_REASON_LEN {
        return Err(error(
            StatusCode::BAD_REQUEST,
            format!("reason: longer than {MAX_REASON_LEN} bytes"),
        ));
    }
    Ok(out)
}

fn check_id(field: &str, v: &str) -> Result<(), Response> {
    if v.is_empty() || v.len() > MAX_ID_LEN {
        return Err(error(
            StatusCode::BAD_REQUEST,
            format!("{field}: 1 to {MAX_ID_LEN} bytes"),
        ));
    }
    Ok(())
}

fn engine_error(e: EngineError) -> Response {
    let status = match &e {
        EngineError::InvalidArgument(_) => StatusCode::BAD_REQUEST,
        EngineError::NotFound(_) => StatusCode::NOT_FOUND,
        EngineError::AlreadyExists(_) | EngineError::FailedPrecondition(_) => StatusCode::CONFLICT,
        EngineError::ResourceExhausted(_) => StatusCode::TOO_MANY_REQUESTS,
        EngineError::Unavailable(_) => StatusCode::GATEWAY_TIMEOUT,
        EngineError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
        EngineError::Stopped => StatusCode::SERVICE_UNAVAILABLE,
    };
    let message = match e {
        EngineError::NotFound(what) if !what.starts_with("task ") => format!("{what} not found"),
        e => e.to_string(),
    };
    error(status, message)
}

async fn durable(live: &Live, ticket: crate::store::Ticket) -> Result<(), Response> {
    live.sources
        .store
        .wait_durable(ticket)
        .await
        .map_err(|e| error(StatusCode::INTERNAL_SERVER_ERROR, format!("store: {e}")))
}

pub(super) async fn cancel_task(
    State(c): State<Console>,
    Path(task_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let run = async {
        let live = authorised(&c, &headers)?;
        check_id("task_id", &task_id)?;
        let reason = reason(&body, "cancelled by an operator")?;
        let (task, ticket) = live
            .sources
            .engine
            .cancel(task_id, reason.clone())
            .await
            .map_err(engine_error)?;
        durable(&live, ticket).await?;
        tracing::info!(task_id = %task.spec.task_id, %reason, "console: task cancel");
        let body = serde_json::json!({
            "ok": true,
            "task_id": task.spec.task_id,
            "state": task.state.as_str(),
            "reason": reason,
        });
        Ok::<_, Response>(json_response(StatusCode::OK, body.to_string()))
    };
    run.await.unwrap_or_else(|r| r)
}

pub(super) async fn operate_device(
    State(c): State<Console>,
    Path((device_id, operation)): Path<(String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let run = async {
        let live = authorised(&c, &headers)?;
        check_id("device_id", &device_id)?;
        let op = match operation.as_str() {
            "reset" => DeviceOperation::Reset,
            "pause" => DeviceOperation::Pause,
            "resume" => DeviceOperation::Resume,
            "stop" => DeviceOperation::Stop,
            "wake" => DeviceOperation::Wake,
            "hibernate" => DeviceOperation::Hibernate,
            _ => {
                return Err(error(
                    StatusCode::NOT_FOUND,
                    "no such action: reset, pause, resume, stop, wake or hibernate",
                ))
            }
        };
        let reason = reason(&body, op.as_str())?;
        let ticket = live
            .sources
            .engine
            .operate(device_id.clone(), op, reason.clone())
            .await
            .map_err(engine_error)?;
        durable(&live, ticket).await?;
        tracing::info!(%device_id, operation = op.as_str(), %reason, "console: device command");
        let body = serde_json::json!({
            "ok": true,
            "device_id": device_id,
            "operation": op.as_str(),
            "reason": reason,
        });
        Ok(json_response(StatusCode::OK, body.to_string()))
    };
    run.await.unwrap_or_else(|r: Response| r)
}
