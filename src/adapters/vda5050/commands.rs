//! The engine's side of the adapter: `send`, `stop` and `operate` turn what the robot's
//! state machine says ([`Sent`], [`Operated`]) into the trait's three outcomes: `Ok`,
//! `TransportError::not_sent` (nothing could be queued to the broker: the robot never had
//! it) and `TransportError::unconfirmed` (it may have reached the robot, or an earlier
//! process may have sent it, and no answer says which).

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::robot::{Operated, Sent};
use super::{Shared, Vda5050Adapter, KINDS};
use crate::engine::adapter::{
    BoxFuture, DeviceAdapter, DeviceCommand, DeviceOperation, OperateError, TransportError,
};
use crate::engine::model::DeviceKind;

/// How long `send` and `stop` wait for the state of a robot not heard from since the gateway
/// started, before saying the outcome is unconfirmed.
pub const SETTLE_WAIT: Duration = Duration::from_secs(2);
/// How long an operator command waits for the robot's answer.
pub const OPERATE_TIMEOUT: Duration = Duration::from_secs(10);

impl Shared {
    /// Waits (at most [`SETTLE_WAIT`]) while a robot not heard from yet decides where the
    /// `send` or `stop` of `command_id` stands, and turns that into the adapter's answer. A
    /// `send` nothing of which left floorgate is withdrawn.
    async fn settle(
        &self,
        device_id: &str,
        command_id: &str,
        mut sent: Sent,
        is_send: bool,
    ) -> Result<(), TransportError> {
        let deadline = tokio::time::Instant::now() + SETTLE_WAIT;
        loop {
            match sent {
                Sent::Accepted => return Ok(()),
                Sent::Unreachable(why) => {
                    if is_send {
                        self.with_robot(device_id, |r, _, _| r.withdraw(command_id))?;
                    }
                    return Err(TransportError::not_sent(device_id, why));
                }
                Sent::Waiting if tokio::time::Instant::now() >= deadline => {
                    return Err(TransportError::unconfirmed(
                        device_id,
                        "no state from the robot since the gateway started: it may hold the command",
                    ));
                }
                Sent::Waiting => {
                    tokio::time::sleep(Duration::from_millis(25)).await;
                    sent = self
                        .with_robot(device_id, |r, _, _| r.delivery(command_id))?
                        .0;
                }
            }
        }
    }
}

impl DeviceAdapter for Vda5050Adapter {
    fn kinds(&self) -> &[DeviceKind] {
        &KINDS
    }

    fn send(&self, c: DeviceCommand) -> BoxFuture<'_, Result<(), TransportError>> {
        Box::pin(async move {
            let (device_id, cid) = (c.device_id.clone(), c.command_id.clone());
            let (sent, queued) = self
                .shared
                .with_robot(&device_id, |r, now, out| r.send(c, now, out))?;
            if !queued {
                self.shared
                    .with_robot(&device_id, |r, _, _| r.withdraw(&cid))?;
                return Err(TransportError::not_sent(
                    device_id,
                    "the order could not be queued to the MQTT client",
                ));
            }
            self.shared.settle(&device_id, &cid, sent, true).await
        })
    }

    fn stop(&self, c: DeviceCommand) -> BoxFuture<'_, Result<(), TransportError>> {
        Box::pin(async move {
            let (sent, queued) = self
                .shared
                .with_robot(&c.device_id, |r, now, out| r.stop(&c, now, out))?;
            if !queued {
                // The cancel stays pending in the robot and is re-sent when due.
                return Err(TransportError::not_sent(
                    c.device_id,
                    "cancelOrder could not be queued to the MQTT client",
                ));
            }
            self.shared
                .settle(&c.device_id, &c.command_id, sent, false)
                .await
        })
    }

    /// `Pause` → `startPause`, `Resume` → `stopPause`, `Stop` → `cancelOrder` (a robot with
    /// nothing to cancel is done), `Reset` → the vendor instant action `clearErrors`, only
    /// where the profile lists it (VDA 5050 2.x has no reset). See `robot/operate.rs`.
    fn operate(
        &self,
        device_id: &str,
        operation: DeviceOperation,
        sequence: u32,
    ) -> BoxFuture<'_, Result<(), OperateError>> {
        let device_id = device_id.to_string();
        Box::pin(async move {
            let shared = &self.shared;
            let request = shared.next_request.fetch_add(1, Ordering::Relaxed);
            let (tx, rx) = tokio::sync::oneshot::channel();
            let waiters = || shared.waiters.lock().unwrap_or_else(|p| p.into_inner());
            waiters().insert(request, tx);
            let taken = shared.with_robot(&device_id, |r, now, out| {
                r.operate(request, operation, sequence, now, out)
            });
            if let Err(e) = taken {
                waiters().remove(&request);
                return Err(OperateError::Transport(e));
            }
            // The robot answers within OPERATE_TIMEOUT by its own clock; this is a backstop.
            let answer = tokio::time::timeout(OPERATE_TIMEOUT + Duration::from_secs(5), rx).await;
            waiters().remove(&request);
            match answer {
                Ok(Ok(Operated::Done)) => Ok(()),
                Ok(Ok(Operated::Unsupported(why))) => Err(OperateError::Unsupported(why)),
                Ok(Ok(Operated::Refused(why))) => Err(OperateError::Refused(why)),
                Ok(Ok(Operated::NotSent(why))) => {
                    Err(TransportError::not_sent(device_id, why).into())
                }
                Ok(Ok(Operated::Unconfirmed(why))) => {
                    Err(TransportError::unconfirmed(device_id, why).into())
                }
                Ok(Err(_)) | Err(_) => Err(TransportError::unconfirmed(
                    device_id,
                    format!("no answer to the {} command", operation.as_str()),
                )
                .into()),
            }
        })
    }
}
