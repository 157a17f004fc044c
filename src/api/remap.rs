//! Status codes where tonic's defaults mislead a client: a request larger
//! than the gateway's decoding limit is `RESOURCE_EXHAUSTED` (the gRPC
//! convention for a message over the limit), not tonic's `OUT_OF_RANGE`,
//! which a client would read as "the cursor is wrong". A layer over the
//! router: it rewrites the `grpc-status` of a trailers-only error answer.

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
