//! The simulated AS/RS's address space: the status and command variables,
//! the methods and their callbacks (see the node list in `server.rs`).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use opcua::nodes::{AccessLevel, MethodBuilder, ObjectBuilder, VariableBuilder};
use opcua::server::node_manager::memory::SimpleNodeManager;
use opcua::types::{DataTypeId, DataValue, NumericRange, ObjectId, StatusCode, Variant};

use super::machine::TaskKind;
use super::server::{id, Inbox, Inner};

pub(super) fn build_address_space(inner: &Arc<Inner>, nm: &Arc<SimpleNodeManager>, ns: u16) {
    let asrs = id(ns, "ASRS");
    {
        let mut sp = nm.address_space().write();
        ObjectBuilder::new(&asrs, "ASRS", "ASRS")
            .organized_by(ObjectId::ObjectsFolder)
            .insert(&mut *sp);
        let var = |sp: &mut opcua::server::address_space::AddressSpace,
                   name: &str,
                   v: Variant,
                   dt: DataTypeId,
                   writable: bool| {
            let mut b = VariableBuilder::new(&id(ns, name), name, name)
                .data_type(dt)
                .value(v)
                .component_of(asrs.clone());
            if writable {
                b = b
                    .access_level(AccessLevel::CURRENT_READ | AccessLevel::CURRENT_WRITE)
                    .user_access_level(AccessLevel::CURRENT_READ | AccessLevel::CURRENT_WRITE);
            }
            b.insert(sp);
        };
        let s = |t: &str| Variant::String(t.into());
        for n in ["LastCompletedTaskId", "CurrentTaskId", "State", "FaultText"] {
            var(
                &mut sp,
                &format!("ASRS.Status.{n}"),
                s(""),
                DataTypeId::String,
                false,
            );
        }
        // The completion log: two arrays, written together.
        for (n, v, dt) in [
            (
                "CompletedTaskIds",
                Variant::from(Vec::<opcua::types::UAString>::new()),
                DataTypeId::String,
            ),
            (
                "CompletedResults",
                Variant::from(Vec::<u32>::new()),
                DataTypeId::UInt32,
            ),
        ] {
            let name = format!("ASRS.Status.{n}");
            VariableBuilder::new(&id(ns, &name), &name, &name)
                .data_type(dt)
                .value_rank(1)
                .value(v)
                .component_of(asrs.clone())
                .insert(&mut *sp);
        }
        for n in ["FaultCode", "LastResult"] {
            var(
                &mut sp,
                &format!("ASRS.Status.{n}"),
                Variant::UInt32(0),
                DataTypeId::UInt32,
                false,
            );
        }
        for n in ["TaskId", "Location", "Port", "CancelTaskId"] {
            var(
                &mut sp,
                &format!("ASRS.Cmd.{n}"),
                s(""),
                DataTypeId::String,
                true,
            );
        }
        var(
            &mut sp,
            "ASRS.Cmd.Command",
            Variant::Int32(0),
            DataTypeId::Int32,
            true,
        );
        var(
            &mut sp,
            "ASRS.Cmd.Trigger",
            Variant::Boolean(false),
            DataTypeId::Boolean,
            true,
        );
        var(
            &mut sp,
            "ASRS.Cmd.AckTaskId",
            s(""),
            DataTypeId::String,
            false,
        );
        var(
            &mut sp,
            "ASRS.Cmd.AckReason",
            s(""),
            DataTypeId::String,
            false,
        );
        var(
            &mut sp,
            "ASRS.Cmd.AckResult",
            Variant::Int32(0),
            DataTypeId::Int32,
            false,
        );
        let args = |names: &[&str]| -> Vec<opcua::types::Argument> {
            names
                .iter()
                .map(|n| (*n, DataTypeId::String).into())
                .collect()
        };
        let answer: Vec<opcua::types::Argument> = vec![
            ("Accepted", DataTypeId::Boolean).into(),
            ("Reason", DataTypeId::String).into(),
            ("Code", DataTypeId::UInt32).into(),
        ];
        let status: Vec<opcua::types::Argument> = vec![
            ("State", DataTypeId::String).into(),
            ("Result", DataTypeId::UInt32).into(),
        ];
        for (name, ins, outputs) in [
            ("Retrieve", &["TaskId", "Location", "Port"][..], &answer),
            ("Store", &["TaskId", "Port", "Location"][..], &answer),
            ("Cancel", &["TaskId"][..], &answer),
            ("Reset", &[][..], &answer),
            ("GetTaskStatus", &["TaskId"][..], &status),
        ] {
            let m = id(ns, &format!("ASRS.{name}"));
            MethodBuilder::new(&m, name, name)
                .component_of(asrs.clone())
                .executable(true)
                .user_executable(true)
                .input_args(
                    &mut *sp,
                    &id(ns, &format!("ASRS.{name}.InputArguments")),
                    &args(ins),
                )
                .output_args(
                    &mut *sp,
                    &id(ns, &format!("ASRS.{name}.OutputArguments")),
                    outputs,
                )
                .insert(&mut *sp);
        }
    }
    // The command nodes: the scan loop reads what the client wrote.
    let w = Arc::downgrade(inner);
    let on_write = |field: fn(&mut Inbox, &Variant) -> bool| {
        let w = w.clone();
        move |dv: DataValue, _: &NumericRange| -> StatusCode {
            let Some(inner) = w.upgrade() else {
                return StatusCode::BadShutdown;
            };
            let v = dv.value.unwrap_or_default();
            if field(&mut inner.inbox.lock().expect("poisoned"), &v) {
                StatusCode::Good
            } else {
                StatusCode::BadTypeMismatch
            }
        }
    };
    let i = nm.inner();
    i.add_write_callback(
        id(ns, "ASRS.Cmd.TaskId"),
        on_write(|b, v| set_string(&mut b.task_id, v)),
    );
    i.add_write_callback(
        id(ns, "ASRS.Cmd.Location"),
        on_write(|b, v| set_string(&mut b.location, v)),
    );
    i.add_write_callback(
        id(ns, "ASRS.Cmd.Port"),
        on_write(|b, v| set_string(&mut b.port, v)),
    );
    i.add_write_callback(
        id(ns, "ASRS.Cmd.CancelTaskId"),
        on_write(|b, v| set_string(&mut b.cancel_task_id, v)),
    );
    i.add_write_callback(
        id(ns, "ASRS.Cmd.Command"),
        on_write(|b, v| match v {
            Variant::Int32(n) => {
                b.command = *n;
                true
            }
            _ => false,
        }),
    );
    i.add_write_callback(
        id(ns, "ASRS.Cmd.Trigger"),
        on_write(|b, v| match v {
            Variant::Boolean(t) => {
                b.trigger |= *t;
                true
            }
            _ => false,
        }),
    );
    for (name, kind) in [("Retrieve", TaskKind::Retrieve), ("Store", TaskKind::Store)] {
        let w = w.clone();
        i.add_method_callback(
            id(ns, &format!("ASRS.{name}")),
            move |args: &[Variant]| {
                let inner = w.upgrade().ok_or(StatusCode::BadShutdown)?;
                inner.calls.fetch_add(1, Ordering::Relaxed);
                if let Some(code) = inner.bad_next_call.lock().expect("poisoned").take() {
                    return Err(code);
                }
                let strings: Vec<String> = args
                    .iter()
                    .map(|a| match a {
                        Variant::String(s) => Ok(s.to_string()),
                        _ => Err(StatusCode::BadTypeMismatch),
                    })
                    .collect::<Result<_, _>>()?;
                let [task_id, a, b] = strings.as_slice() else {
                    return Err(if strings.len() < 3 {
                        StatusCode::BadArgumentsMissing
                    } else {
                        StatusCode::BadTooManyArguments
                    });
                };
                let (location, port) = match kind {
                    TaskKind::Retrieve => (a, b),
                    TaskKind::Store => (b, a),
                };
                let answer = inner
                    .machine
                    .lock()
                    .expect("poisoned")
                    .submit_coded(task_id, kind, location, port);
                // The task is taken; the answer comes late (a lost answer
                // for a client with a shorter timeout).
                let stall = inner.stall_next_call.lock().expect("poisoned").take();
                if let Some(d) = stall {
                    std::thread::sleep(d);
                }
                Ok(answer_of(answer))
            },
        );
    }
    let w1 = w.clone();
    i.add_method_callback(id(ns, "ASRS.Cancel"), move |args: &[Variant]| {
        let inner = w1.upgrade().ok_or(StatusCode::BadShutdown)?;
        inner.calls.fetch_add(1, Ordering::Relaxed);
        if let Some(code) = inner.bad_next_call.lock().expect("poisoned").take() {
            return Err(code);
        }
        let task_id = match args {
            [Variant::String(s)] => s.to_string(),
            [] => return Err(StatusCode::BadArgumentsMissing),
            [_] => return Err(StatusCode::BadTypeMismatch),
            _ => return Err(StatusCode::BadTooManyArguments),
        };
        let answer = inner.machine.lock().expect("poisoned").cancel(&task_id);
        Ok(answer_of(answer.map_err(|r| (0, r))))
    });
    let w2 = w.clone();
    i.add_method_callback(id(ns, "ASRS.Reset"), move |args: &[Variant]| {
        let inner = w2.upgrade().ok_or(StatusCode::BadShutdown)?;
        inner.calls.fetch_add(1, Ordering::Relaxed);
        if !args.is_empty() {
            return Err(StatusCode::BadTooManyArguments);
        }
        let answer = inner.machine.lock().expect("poisoned").reset();
        Ok(answer_of(answer.map_err(|r| (0, r))))
    });
    i.add_method_callback(id(ns, "ASRS.GetTaskStatus"), move |args: &[Variant]| {
        let inner = w.upgrade().ok_or(StatusCode::BadShutdown)?;
        inner.calls.fetch_add(1, Ordering::Relaxed);
        let task_id = match args {
            [Variant::String(s)] => s.to_string(),
            [] => return Err(StatusCode::BadArgumentsMissing),
            [_] => return Err(StatusCode::BadTypeMismatch),
            _ => return Err(StatusCode::BadTooManyArguments),
        };
        let (state, result) = inner
            .machine
            .lock()
            .expect("poisoned")
            .task_status(&task_id);
        Ok(vec![Variant::String(state.into()), Variant::UInt32(result)])
    });
}

/// A method's `[accepted, reason, code]`.
fn answer_of(answer: Result<(), (u32, String)>) -> Vec<Variant> {
    let (accepted, code, reason) = match answer {
        Ok(()) => (true, 0, String::new()),
        Err((code, reason)) => (false, code, reason),
    };
    vec![
        Variant::Boolean(accepted),
        Variant::String(reason.into()),
        Variant::UInt32(code),
    ]
}

fn set_string(slot: &mut String, v: &Variant) -> bool {
    match v {
        Variant::String(s) => {
            *slot = s.to_string();
            true
        }
        _ => false,
    }
}
