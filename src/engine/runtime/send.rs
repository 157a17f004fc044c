//! Putting commands on the wire, and what a send that fails says.
//!
//! A send has three outcomes (DESIGN.md invariant 8):
//!
//! * **delivered** — the adapter's `Ok`; the device's answer comes as a
//!   report;
//! * **refused** — the device said no: a [`DeviceReport::Failed`] from the
//!   adapter; the step may fall back to another device;
//! * **not confirmed** — a [`TransportError`]. Retried with backoff under
//!   the same idempotency key. When every attempt failed before anything
//!   left floorgate ([`Delivery::NotSent`]) the device certainly lacks the
//!   command and the step fails (and may fall back). When any attempt may
//!   have reached the device ([`Delivery::Unconfirmed`]) the step becomes
//!   `OutcomeUnknown`, keeps its device, and the command is re-sent at a
//!   slow pace while it is in the outbox: the protocols make a repeat
//!   harmless, so the device's answer to a re-send resolves the step.
//!
//! A stop that may have reached the device and was never confirmed makes
//! the step `OutcomeUnknown` too; one that never left (no stop command, no
//! connection) leaves the step on its device until the device reports its
//! end. Either way nothing moves the step elsewhere.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::Engine;
use crate::engine::adapter::{Delivery, DeviceCommand, DeviceReport, TransportError};
use crate::store::Ticket;

/// The longest wait between two re-sends of an unconfirmed command.
const SLOW_RESEND: Duration = Duration::from_secs(10);

/// Command ids in the outbox, shared with the send tasks so one stops
/// re-sending once its command's step has ended.
#[derive(Debug, Clone, Default)]
pub(super) struct LiveCommands(Arc<Mutex<HashSet<String>>>);

impl LiveCommands {
    pub(super) fn insert(&self, command_id: &str) {
        self.0
            .lock()
            .expect("poisoned")
            .insert(command_id.to_string());
    }

    pub(super) fn remove(&self, command_id: &str) {
        self.0.lock().expect("poisoned").remove(command_id);
    }

    fn contains(&self, command_id: &str) -> bool {
        self.0.lock().expect("poisoned").contains(command_id)
    }
}

impl Engine {
    /// Sends a command once its outbox entry is durable, retrying transport
    /// errors with backoff; see the module note for what a failed send
    /// becomes.
    pub(super) fn send(&self, command: DeviceCommand, ticket: Ticket) {
        let Some(adapter) = self.adapters.get(&command.device_kind).cloned() else {
            return;
        };
        let store = self.store.clone();
        let attempts = self.config.send_attempts.max(1);
        let first_backoff = self.config.send_backoff;
        let sink = self.internal.clone();
        let live = self.live.clone();
        tokio::spawn(async move {
            if store.wait_durable(ticket).await.is_err() {
                return;
            }
            let mut backoff = first_backoff;
            let mut last: Option<TransportError> = None;
            let mut maybe_delivered = false;
            for attempt in 1..=attempts {
                if !live.contains(&command.command_id) {
                    return;
                }
                match adapter.send(command.clone()).await {
                    Ok(()) => return,
                    Err(e) => {
                        tracing::warn!(command_id = %command.command_id, attempt, error = %e, "sending a command failed");
                        maybe_delivered |= e.delivery == Delivery::Unconfirmed;
                        last = Some(e);
                        if attempt < attempts {
                            tokio::time::sleep(backoff).await;
                            backoff = (backoff * 2).min(Duration::from_secs(5));
                        }
                    }
                }
            }
            let last = last.map(|e| e.message).unwrap_or_default();
            if !maybe_delivered {
                sink.report(DeviceReport::Failed {
                    command_id: command.command_id.clone(),
                    reason: format!("could not reach the device after {attempts} attempts: {last}"),
                });
                return;
            }
            sink.report(DeviceReport::OutcomeUnknown {
                command_id: command.command_id.clone(),
                reason: format!(
                    "no confirmation from the device after {attempts} attempts (it may have taken the command): {last}"
                ),
            });
            // Ask again, under the same key, until the device answers or
            // the step ends (an operator resolved it, the device reported).
            let mut backoff = backoff.max(first_backoff);
            loop {
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(SLOW_RESEND);
                if !live.contains(&command.command_id) {
                    return;
                }
                match adapter.send(command.clone()).await {
                    Ok(()) => return,
                    Err(e) => {
                        tracing::debug!(command_id = %command.command_id, error = %e, "re-sending an unconfirmed command failed");
                    }
                }
            }
        });
    }

    /// Stops a command in the device's own way, retrying transport errors;
    /// a stop never confirmed leaves the step `OutcomeUnknown` on its device.
    pub(super) fn stop(&self, command: DeviceCommand) {
        let Some(adapter) = self.adapters.get(&command.device_kind).cloned() else {
            return;
        };
        let attempts = self.config.send_attempts.max(1);
        let mut backoff = self.config.send_backoff;
        let sink = self.internal.clone();
        let live = self.live.clone();
        tokio::spawn(async move {
            let mut last = String::new();
            let mut maybe_delivered = false;
            for attempt in 1..=attempts {
                if !live.contains(&command.command_id) {
                    return;
                }
                match adapter.stop(command.clone()).await {
                    Ok(()) => return,
                    Err(e) => {
                        tracing::warn!(command_id = %command.command_id, attempt, error = %e, "stopping a command failed");
                        maybe_delivered |= e.delivery == Delivery::Unconfirmed;
                        last = e.message;
                        if attempt < attempts {
                            tokio::time::sleep(backoff).await;
                            backoff = (backoff * 2).min(Duration::from_secs(5));
                        }
                    }
                }
            }
            if !maybe_delivered {
                // The device never got the stop (it has no stop command, or
                // could not be reached): it goes on with the command, and
                // the step ends when the device reports how.
                tracing::warn!(command_id = %command.command_id, error = %last, "the device could not be told to stop; the step ends when the device reports it");
                return;
            }
            // The device may or may not have stopped: it keeps the step
            // until it reports the command's end or an operator resolves it.
            sink.report(DeviceReport::OutcomeUnknown {
                command_id: command.command_id.clone(),
                reason: format!(
                    "the device did not confirm the stop after {attempts} attempts: {last}"
                ),
            });
        });
    }
}
