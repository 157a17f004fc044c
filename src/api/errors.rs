//! Every refusal the API answers carries `google.rpc` error details a
//! client can act on without parsing text: an `ErrorInfo` with a stable
//! `reason` (below) in the domain `floorgate.io`, and for bad input a
//! `BadRequest` naming the field. The status message stays readable and
//! never repeats more than 128 bytes of what the client sent.
//!
//! Reasons (stable; new ones may be added):
//! `INVALID_FIELD`, `MALFORMED_REQUEST`, `TASK_EXISTS`, `TASK_NOT_FOUND`,
//! `DEVICE_NOT_FOUND`, `FAILED_PRECONDITION`, `JOURNAL_FULL`,
//! `JOURNAL_MISMATCH`, `CURSOR_COMPACTED`, `CURSOR_BEYOND_END`,
//! `DEVICE_UNAVAILABLE`, `SHUTTING_DOWN`, `STORE_ERROR`.

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// The `ErrorInfo.domain` of floorgate's errors.
pub const DOMAIN: &str = "floorgate.io";

/// `INVALID_ARGUMENT` naming `field` (message `field: description`), with a
/// `BadRequest` field violation and `ErrorInfo` `INVALID_FIELD`.
pub fn invalid(field: &str, description: impl Into<String>) -> Status {
    let description = description.into();
    let mut details = ErrorDetails::with_bad_request_violation(field, description.clone());
    details.set_error_info("INVALID_FIELD", DOMAIN, []);
    Status::with_error_details(
        Code::InvalidArgument,
        format!("{field}: {description}"),
        details,
    )
}

/// An `INVALID_ARGUMENT` message of the form `field: description` (as the
/// engine's planner words them), with its field violation.
pub fn invalid_message(message: String) -> Status {
    match message.split_once(": ") {
        Some((field, rest)) if !field.contains(' ') => invalid(field, rest.to_string()),
        _ => refuse(Code::InvalidArgument, "INVALID_FIELD", message),
    }
}

/// `code` with `message` and `ErrorInfo` `reason`.
pub fn refuse(code: Code, reason: &'static str, message: impl Into<String>) -> Status {
    let mut details = ErrorDetails::new();
    details.set_error_info(reason, DOMAIN, []);
    Status::with_error_details(code, message.into(), details)
}
