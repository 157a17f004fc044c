//! The simulated PLC's scan: take a handshake trigger, advance the
//! machine, publish the status (every status node in one update, so the
//! completed task id and its result change together).

use std::sync::Weak;
use std::time::{Duration, Instant};

use opcua::server::node_manager::memory::SimpleNodeManager;
use opcua::server::ServerHandle;
use opcua::types::{DataValue, NodeId, UAString, Variant};

use super::machine::{Status, TaskKind, REFUSED_UNKNOWN_COMMAND};
use super::server::{id, Inner};

pub(super) fn publish(handle: &ServerHandle, nm: &SimpleNodeManager, ns: u16, s: &Status) {
    let values = [
        (
            "ASRS.Status.LastCompletedTaskId",
            Variant::String(s.last_completed_task_id.clone().into()),
        ),
        (
            "ASRS.Status.CurrentTaskId",
            Variant::String(s.current_task_id.clone().into()),
        ),
        ("ASRS.Status.State", Variant::String(s.state.into())),
        ("ASRS.Status.FaultCode", Variant::UInt32(s.fault_code)),
        ("ASRS.Status.LastResult", Variant::UInt32(s.last_result)),
        (
            "ASRS.Status.CompletedTaskIds",
            Variant::from(
                s.completed
                    .iter()
                    .map(|(id, _)| UAString::from(id.as_str()))
                    .collect::<Vec<_>>(),
            ),
        ),
        (
            "ASRS.Status.CompletedResults",
            Variant::from(s.completed.iter().map(|(_, r)| *r).collect::<Vec<u32>>()),
        ),
        (
            "ASRS.Status.FaultText",
            Variant::String(s.fault_text.clone().into()),
        ),
    ];
    let ids: Vec<NodeId> = values.iter().map(|(n, _)| id(ns, n)).collect();
    let _ = nm.set_values(
        handle.subscriptions(),
        ids.iter()
            .zip(values)
            .map(|(i, (_, v))| (i, None, DataValue::new_now(v))),
    );
}

/// The PLC scan: handshake trigger, machine tick, status publication.
pub(super) async fn scan(inner: Weak<Inner>) {
    let mut last: Option<Status> = None;
    let mut tick = tokio::time::interval(Duration::from_millis(20));
    loop {
        tick.tick().await;
        let Some(inner) = inner.upgrade() else { return };
        let mut m = inner.machine.lock().expect("poisoned");
        let command = {
            let mut b = inner.inbox.lock().expect("poisoned");
            std::mem::take(&mut b.trigger).then(|| {
                (
                    b.task_id.clone(),
                    b.command,
                    b.location.clone(),
                    b.port.clone(),
                    b.cancel_task_id.clone(),
                )
            })
        };
        let ack = command.map(|(task_id, code, location, port, cancel)| {
            let answer = match code {
                1 => m.submit_coded(&task_id, TaskKind::Retrieve, &location, &port),
                2 => m.submit_coded(&task_id, TaskKind::Store, &location, &port),
                3 => m.cancel(&cancel).map_err(|r| (REFUSED_UNKNOWN_COMMAND, r)),
                4 => m.reset().map_err(|r| (REFUSED_UNKNOWN_COMMAND, r)),
                other => Err((
                    REFUSED_UNKNOWN_COMMAND,
                    format!("unknown command code {other}"),
                )),
            };
            (task_id, answer)
        });
        m.tick(Instant::now());
        let deliveries = m.take_deliveries();
        drop(m);
        // The hand-off runs without the machine's lock: the hook may lock
        // another simulator, whose own hook may lock this machine.
        let hook = inner.on_delivered.lock().expect("poisoned").clone();
        if let Some(hook) = hook {
            for (port, tote) in deliveries {
                if hook(&port, &tote) {
                    inner.machine.lock().expect("poisoned").take_at_port(&port);
                }
            }
        }
        let status = inner.machine.lock().expect("poisoned").status();
        let running = inner.running.lock().expect("poisoned");
        let Some(r) = running.as_ref() else { continue };
        if let Some((task_id, answer)) = ack {
            let values = [
                (
                    "ASRS.Cmd.AckResult",
                    Variant::Int32(answer.as_ref().err().map_or(0, |e| e.0 as i32)),
                ),
                (
                    "ASRS.Cmd.AckReason",
                    Variant::String(answer.err().map(|e| e.1).unwrap_or_default().into()),
                ),
                // Last: the client waits for the task id.
                ("ASRS.Cmd.AckTaskId", Variant::String(task_id.into())),
            ];
            let ids: Vec<NodeId> = values.iter().map(|(n, _)| id(r.ns, n)).collect();
            let _ = r.nm.set_values(
                r.handle.subscriptions(),
                ids.iter()
                    .zip(values)
                    .map(|(i, (_, v))| (i, None, DataValue::new_now(v))),
            );
        }
        // (A restarted server publishes the current status at launch.)
        if last.as_ref() != Some(&status) {
            publish(&r.handle, &r.nm, r.ns, &status);
            last = Some(status);
        }
    }
}
