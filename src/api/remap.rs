//! Status codes where tonic's defaults mislead a client: a request larger
//! than the gateway's decoding limit is `RESOURCE_EXHAUSTED` (the gRPC
//! convention for a message over the limit), not tonic's `OUT_OF_RANGE`,
//! which a client would read as "the cursor is wrong" ([`remap`], over the
//! router: it rewrites the `grpc-status` of a trailers-only error answer);
//! a client deadline that passes is `DEADLINE_EXCEEDED`, not `CANCELLED`
//! ([`DeadlineLayer`]).

use http::header::HeaderValue;

const GRPC_STATUS: &str = "grpc-status";
const GRPC_MESSAGE: &str = "grpc-message";
/// `Code::OutOfRange` and `Code::ResourceExhausted` on the wire.
const OUT_OF_RANGE: &str = "11";
const RESOURCE_EXHAUSTED: &str = "8";

/// Rewrites a too-large-message `OUT_OF_RANGE` into `RESOURCE_EXHAUSTED`.
pub fn remap<B>(mut response: http::Response<B>) -> http::Response<B> {
    let headers = response.headers_mut();
    let too_large = headers
        .get(GRPC_STATUS)
        .is_some_and(|v| v.as_bytes() == OUT_OF_RANGE.as_bytes())
        && headers.get(GRPC_MESSAGE).is_some_and(|m| {
            let m = String::from_utf8_lossy(m.as_bytes());
            m.contains("length too large") || m.contains("length%20too%20large")
        });
    if too_large {
        headers.insert(GRPC_STATUS, HeaderValue::from_static(RESOURCE_EXHAUSTED));
    }
    response
}

/// Answers `DEADLINE_EXCEEDED` when the client's `grpc-timeout` runs out.
/// tonic's own enforcement (outside every layer) answers `CANCELLED`, which
/// a client reads as "someone gave up", not "you ran out of time"; this
/// layer, inside it, ends the call a little before tonic would.
#[derive(Debug, Clone, Copy, Default)]
pub struct DeadlineLayer;

impl<S> tower::Layer<S> for DeadlineLayer {
    type Service = Deadline<S>;

    fn layer(&self, inner: S) -> Deadline<S> {
        Deadline { inner }
    }
}

#[derive(Debug, Clone)]
pub struct Deadline<S> {
    inner: S,
}

type BoxFuture<T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send>>;

impl<S, ReqBody, ResBody> tower::Service<http::Request<ReqBody>> for Deadline<S>
where
    S: tower::Service<http::Request<ReqBody>, Response = http::Response<ResBody>>,
    S::Future: Send + 'static,
    ResBody: Default + Send + 'static,
{
    type Response = http::Response<ResBody>;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: http::Request<ReqBody>) -> Self::Future {
        let timeout = req
            .headers()
            .get("grpc-timeout")
            .and_then(|v| parse_grpc_timeout(v.to_str().ok()?));
        let call = self.inner.call(req);
        Box::pin(async move {
            let Some(t) = timeout else {
                return call.await;
            };
            // A little earlier than tonic's own timer, which started first.
            let margin = (t / 8).min(std::time::Duration::from_millis(5));
            match tokio::time::timeout(t.saturating_sub(margin), call).await {
                Ok(r) => r,
                Err(_) => Ok(super::errors::refuse(
                    tonic::Code::DeadlineExceeded,
                    "DEADLINE_EXCEEDED",
                    "the client's deadline passed before the call finished",
                )
                .into_http()),
            }
        })
    }
}

/// A `grpc-timeout` header value (`100m`, `5S`, …) as a duration.
fn parse_grpc_timeout(v: &str) -> Option<std::time::Duration> {
    use std::time::Duration;
    if v.is_empty() || v.len() > 9 {
        return None;
    }
    let (n, unit) = v.split_at(v.len() - 1);
    let n: u64 = n.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n * 3600),
        "M" => Duration::from_secs(n * 60),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::{parse_grpc_timeout, DeadlineLayer};
    use std::time::Duration;
    use tower::{Layer, Service, ServiceExt};

    #[tokio::test]
    async fn a_call_past_the_clients_deadline_is_deadline_exceeded_and_one_within_it_passes() {
        let slow = tower::service_fn(|req: http::Request<()>| async move {
            let wait: u64 = req.uri().path().trim_start_matches('/').parse().unwrap();
            tokio::time::sleep(Duration::from_millis(wait)).await;
            Ok::<_, std::convert::Infallible>(http::Response::new(()))
        });
        let mut svc = DeadlineLayer.layer(slow);
        let call = |wait: u64, timeout: &str| {
            http::Request::builder()
                .uri(format!("/{wait}"))
                .header("grpc-timeout", timeout)
                .body(())
                .unwrap()
        };
        let late = svc
            .ready()
            .await
            .unwrap()
            .call(call(500, "50m"))
            .await
            .unwrap();
        assert_eq!(late.headers()["grpc-status"], "4", "DEADLINE_EXCEEDED");
        let fine = svc
            .ready()
            .await
            .unwrap()
            .call(call(10, "5S"))
            .await
            .unwrap();
        assert!(fine.headers().get("grpc-status").is_none());
    }

    #[test]
    fn grpc_timeouts_parse_in_every_unit_and_garbage_is_none() {
        assert_eq!(parse_grpc_timeout("100m"), Some(Duration::from_millis(100)));
        assert_eq!(parse_grpc_timeout("5S"), Some(Duration::from_secs(5)));
        assert_eq!(parse_grpc_timeout("2M"), Some(Duration::from_secs(120)));
        assert_eq!(parse_grpc_timeout("7u"), Some(Duration::from_micros(7)));
        for bad in ["", "m", "10x", "-5m", "123456789S"] {
            assert_eq!(parse_grpc_timeout(bad), None, "{bad:?}");
        }
    }
}
