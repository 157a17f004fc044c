//! The operator's client commands. Output is one line per task, device or
//! event, readable and greppable.

use anyhow::{bail, Context};

use super::{Command, DeviceCommand, ResolvedOutcome, TaskCommand};
use crate::api::pb;
use crate::api::pb::device_service_client::DeviceServiceClient;
use crate::api::pb::task_service_client::TaskServiceClient;

/// Runs a client subcommand against the daemon named by its `--server`.
pub async fn run_client(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Task { server, command } => {
            let mut c = TaskServiceClient::new(server.connect().await?);
            task(&mut c, command).await
        }
        Command::Devices {
            server,
            command: Some(command),
            ..
        } => {
            let mut c = DeviceServiceClient::new(server.connect().await?);
            device_command(&mut c, command).await
        }
        Command::Devices { server, id, .. } => {
            let mut c = DeviceServiceClient::new(server.connect().await?);
            let devices = match id {
                Some(device_id) => vec![c
                    .get_device(pb::GetDeviceRequest { device_id })
                    .await?
                    .into_inner()],
                None => {
                    c.list_devices(pb::ListDevicesRequest {})
                        .await?
                        .into_inner()
                        .devices
                }
            };
            for d in devices {
                println!("{}", device_line(&d));
            }
            Ok(())
        }
        _ => bail!("not a client command"),
    }
}

async fn device_command(
    c: &mut DeviceServiceClient<tonic::transport::Channel>,
    command: DeviceCommand,
) -> anyhow::Result<()> {
    let request = |a: super::DeviceCommandArgs| pb::DeviceCommandRequest {
        device_id: a.device,
        reason: a.reason,
    };
    let device = match command {
        DeviceCommand::Reset(a) => c.reset_device(request(a)).await?,
        DeviceCommand::Stop(a) => c.stop_device(request(a)).await?,
        DeviceCommand::Pause(a) => c.pause_device(request(a)).await?,
        DeviceCommand::Resume(a) => c.resume_device(request(a)).await?,
        DeviceCommand::Wake(a) => c.wake_device(request(a)).await?,
        DeviceCommand::Hibernate(a) => c.hibernate_device(request(a)).await?,
        DeviceCommand::Resolve { args, outcome } => {
            let task = c
                .resolve_step(pb::ResolveStepRequest {
                    device_id: args.device,
                    completed: outcome == ResolvedOutcome::Completed,
                    reason: args.reason,
                })
                .await?
                .into_inner()
                .task
                .context("the gateway answered without the task")?;
            println!("{}", task_line(&task));
            return Ok(());
        }
    }
    .into_inner()
    .device
    .context("the gateway answered without the device")?;
    println!("{}", device_line(&device));
    Ok(())
}

async fn task(
    c: &mut TaskServiceClient<tonic::transport::Channel>,
    cmd: TaskCommand,
) -> anyhow::Result<()> {
    match cmd {
        TaskCommand::Submit {
            id,
            kind,
            sku,
            quantity,
            load,
            from,
            to,
            priority,
            attributes,
        } => {
            let kind = if kind == "pick" {
                pb::TaskKind::Pick
            } else {
                pb::TaskKind::Put
            };
            let r = c
                .submit_task(pb::SubmitTaskRequest {
                    task: Some(pb::Task {
                        task_id: id,
                        kind: kind as i32,
                        sku,
                        quantity,
                        load_id: load,
                        source: from,
                        destination: to,
                        priority,
                        attributes: attributes.into_iter().collect(),
                        ..Default::default()
                    }),
                })
                .await?
                .into_inner();
            let verb = if r.created {
                "accepted"
            } else {
                "already known"
            };
            println!("{verb}: {}", task_line(&r.task.unwrap_or_default()));
        }
        TaskCommand::Get { id } => {
            let t = c
                .get_task(pb::GetTaskRequest { task_id: id })
                .await?
                .into_inner();
            println!("{}", task_line(&t));
            for s in &t.steps {
                println!("  {}", step_line(s));
            }
        }
        TaskCommand::List {
            state,
            page_size,
            page_token,
        } => {
            let states = state
                .iter()
                .map(|s| {
                    pb::TaskState::from_str_name(&format!("TASK_STATE_{}", s.to_uppercase()))
                        .map(|v| v as i32)
                        .with_context(|| format!("unknown state {s:?}"))
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            let r = c
                .list_tasks(pb::ListTasksRequest {
                    states,
                    page_size,
                    page_token,
                })
                .await?
                .into_inner();
            for t in &r.tasks {
                println!("{}", task_line(t));
            }
            if !r.next_page_token.is_empty() {
                println!("next page: --page-token {}", r.next_page_token);
            }
        }
        TaskCommand::Cancel { id, reason } => {
            let r = c
                .cancel_task(pb::CancelTaskRequest {
                    task_id: id,
                    reason,
                })
                .await?
                .into_inner();
            println!("{}", task_line(&r.task.unwrap_or_default()));
        }
        TaskCommand::Watch { after } => {
            let after_seq = match after {
                Some(a) => a,
                // AckEvents(0) acknowledges nothing and tells where the log starts.
                None => {
                    c.ack_events(pb::AckEventsRequest {
                        up_to_seq: 0,
                        ..Default::default()
                    })
                    .await?
                    .into_inner()
                    .acked_seq
                }
            };
            let mut s = c
                .watch_events(pb::WatchEventsRequest {
                    after_seq,
                    ..Default::default()
                })
                .await?
                .into_inner();
            while let Some(e) = s.message().await? {
                println!("{}", event_line(&e));
            }
        }
    }
    Ok(())
}

fn state_name(v: i32) -> String {
    pb::TaskState::try_from(v)
        .map(|s| {
            s.as_str_name()
                .trim_start_matches("TASK_STATE_")
                .to_lowercase()
        })
        .unwrap_or_else(|_| v.to_string())
}

fn task_line(t: &pb::Task) -> String {
    let kind = pb::TaskKind::try_from(t.kind)
        .map(|k| {
            k.as_str_name()
                .trim_start_matches("TASK_KIND_")
                .to_lowercase()
        })
        .unwrap_or_default();
    let mut s = format!(
        "{} {} {} {}→{} load={} steps={}",
        t.task_id,
        kind,
        state_name(t.state),
        t.source,
        t.destination,
        t.load_id,
        t.steps.len()
    );
    if !t.reason.is_empty() {
        s.push_str(&format!(" reason={:?}", t.reason));
    }
    s
}

fn step_line(s: &pb::Step) -> String {
    let state = pb::StepState::try_from(s.state)
        .map(|k| {
            k.as_str_name()
                .trim_start_matches("STEP_STATE_")
                .to_lowercase()
        })
        .unwrap_or_default();
    format!(
        "step {} {} {} {}→{} device={} {}",
        s.index, s.device_kind, s.command, s.from, s.to, s.device_id, state
    )
}

fn device_line(d: &pb::Device) -> String {
    let a = pb::DeviceAvailability::try_from(d.availability)
        .map(|k| {
            k.as_str_name()
                .trim_start_matches("DEVICE_AVAILABILITY_")
                .to_lowercase()
        })
        .unwrap_or_default();
    let cur = d
        .current
        .as_ref()
        .map(|c| {
            format!(
                " running {} of {} step {}",
                c.command, c.task_id, c.step_index
            )
        })
        .unwrap_or_default();
    format!(
        "{} {} {} {} {}{}",
        d.device_id, d.kind, d.address, a, d.reason, cur
    )
}

fn event_line(e: &pb::Event) -> String {
    use pb::event::Kind;
    let what = match &e.kind {
        Some(Kind::TaskAccepted(_)) => "task accepted".to_string(),
        Some(Kind::TaskPlanned(p)) => format!("task planned ({} steps)", p.steps.len()),
        Some(Kind::TaskStarted(_)) => "task started".to_string(),
        Some(Kind::StepDispatched(s)) => {
            format!("step {} dispatched to {}", s.step_index, s.device_id)
        }
        Some(Kind::StepAcknowledged(s)) => {
            format!("step {} acknowledged by {}", s.step_index, s.device_id)
        }
        Some(Kind::StepCompleted(s)) => {
            format!("step {} completed by {}", s.step_index, s.device_id)
        }
        Some(Kind::StepFailed(s)) => format!(
            "step {} failed on {}: {}",
            s.step_index, s.device_id, s.reason
        ),
        Some(Kind::StepCancelled(s)) => {
            format!("step {} cancelled on {}", s.step_index, s.device_id)
        }
        Some(Kind::StepStopRequested(s)) => format!(
            "step {} stop requested on {}: {}",
            s.step_index, s.device_id, s.reason
        ),
        Some(Kind::StepOutcomeUnknown(s)) => format!(
            "step {} outcome unknown on {}: {}",
            s.step_index, s.device_id, s.reason
        ),
        Some(Kind::DeviceCommanded(d)) => format!(
            "device {} {} by an operator: {}",
            d.device_id, d.operation, d.reason
        ),
        Some(Kind::TaskCompleted(_)) => "task completed".to_string(),
        Some(Kind::TaskFailed(t)) => format!("task failed: {}", t.reason),
        Some(Kind::TaskCancelled(t)) => format!("task cancelled: {}", t.reason),
        Some(Kind::TaskExpired(t)) => format!("task expired: {}", t.reason),
        Some(Kind::DeviceOnline(d)) => format!("device {} online", d.device_id),
        Some(Kind::DeviceOffline(d)) => format!("device {} offline: {}", d.device_id, d.reason),
        Some(Kind::DeviceFault(d)) => format!("device {} fault: {}", d.device_id, d.reason),
        Some(Kind::DeviceAsleep(d)) => format!("device {} asleep: {}", d.device_id, d.reason),
        Some(Kind::TrafficResolved(d)) => {
            format!(
                "device {} sent aside by traffic control: {}",
                d.device_id, d.reason
            )
        }
        None => "unknown event".to_string(),
    };
    format!("{} {} {}", e.seq, e.task_id, what)
}
