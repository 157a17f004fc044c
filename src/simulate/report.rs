//! Live progress (tasks by state, devices by state, a progress bar) and the
//! closing summary (tasks completed, p50/p99 task duration, device
//! utilisation), both read over gRPC like any client would, and the simulated
//! fleet's conflicts and blocked seconds (from its world).

use std::collections::BTreeMap;
use std::fmt;
use std::io::{IsTerminal, Write};
use std::time::Duration;

use tonic::transport::Channel;

use crate::api::pb;

type Tasks = pb::task_service_client::TaskServiceClient<Channel>;
type Devices = pb::device_service_client::DeviceServiceClient<Channel>;

/// Counts at one moment.
#[derive(Debug, Default, Clone)]
pub(super) struct Snapshot {
    pub by_state: BTreeMap<i32, usize>,
    pub devices_online: usize,
    pub devices_busy: usize,
    pub devices: usize,
}

impl Snapshot {
    fn count(&self, s: pb::TaskState) -> usize {
        self.by_state.get(&(s as i32)).copied().unwrap_or(0)
    }

    /// Tasks not yet ended.
    pub fn open(&self) -> usize {
        self.count(pb::TaskState::Accepted)
            + self.count(pb::TaskState::Planned)
            + self.count(pb::TaskState::Running)
    }

    fn ended(&self) -> usize {
        self.count(pb::TaskState::Completed)
            + self.count(pb::TaskState::Failed)
            + self.count(pb::TaskState::Cancelled)
    }
}

async fn all_tasks(tasks: &mut Tasks) -> anyhow::Result<Vec<pb::Task>> {
    let mut out = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = tasks
            .list_tasks(pb::ListTasksRequest {
                states: vec![],
                page_size: 1000,
                page_token,
            })
            .await?
            .into_inner();
        out.extend(page.tasks);
        if page.next_page_token.is_empty() {
            return Ok(out);
        }
        page_token = page.next_page_token;
    }
}

pub(super) async fn snapshot(tasks: &mut Tasks, devices: &mut Devices) -> anyhow::Result<Snapshot> {
    let mut s = Snapshot::default();
    for t in all_tasks(tasks).await? {
        *s.by_state.entry(t.state).or_default() += 1;
    }
    let ds = devices
        .list_devices(pb::ListDevicesRequest {})
        .await?
        .into_inner()
        .devices;
    s.devices = ds.len();
    s.devices_online = ds
        .iter()
        .filter(|d| d.availability == pb::DeviceAvailability::Online as i32)
        .count();
    s.devices_busy = ds.iter().filter(|d| d.current.is_some()).count();
    Ok(s)
}

/// Progress lines: redrawn in place on a terminal, one every 5 s otherwise.
pub(super) struct Progress {
    on: bool,
    tty: bool,
    total: usize,
    last_line: Option<Duration>,
}

impl Progress {
    pub fn new(on: bool, total: usize) -> Progress {
        Progress {
            on,
            tty: std::io::stdout().is_terminal(),
            total,
            last_line: None,
        }
    }

    pub fn show(&mut self, elapsed: Duration, s: &Snapshot) {
        if !self.on {
            return;
        }
        if !self.tty
            && self
                .last_line
                .is_some_and(|l| elapsed < l + Duration::from_secs(5))
        {
            return;
        }
        self.last_line = Some(elapsed);
        let width = 24;
        let done = s.ended() * width / self.total.max(1);
        let bar: String = "#".repeat(done) + &".".repeat(width - done);
        let line = format!(
            "[{:>4.0}s] [{bar}] {}/{} ended | planned {} running {} completed {} failed {} | devices {}/{} online, {} busy",
            elapsed.as_secs_f64(),
            s.ended(),
            self.total,
            s.count(pb::TaskState::Planned) + s.count(pb::TaskState::Accepted),
            s.count(pb::TaskState::Running),
            s.count(pb::TaskState::Completed),
            s.count(pb::TaskState::Failed),
            s.devices_online,
            s.devices,
            s.devices_busy,
        );
        let mut out = std::io::stdout().lock();
        if self.tty {
            let _ = write!(out, "\r\x1b[2K{line}");
        } else {
            let _ = writeln!(out, "{line}");
        }
        let _ = out.flush();
    }

    pub fn finish(&self) {
        if self.on && self.tty {
            println!();
        }
    }
}

/// What a run did.
#[derive(Debug, Clone)]
pub struct Summary {
    pub submitted: usize,
    pub planned: usize,
    pub completed: usize,
    pub failed: usize,
    pub cancelled: usize,
    pub unfinished: usize,
    pub elapsed: Duration,
    pub interrupted: bool,
    /// Accepted → completed, of the completed tasks.
    pub p50: Option<Duration>,
    pub p99: Option<Duration>,
    /// Share of the run each device spent on a command, by device id.
    pub utilisation: BTreeMap<String, f64>,
    /// Reasons of failed tasks, with their count.
    pub failures: BTreeMap<String, usize>,
    /// Pairs of AMRs that came closer than their footprint (once per
    /// encounter), from the simulated fleet's world.
    pub conflicts: u64,
    /// Seconds AMRs were held by their safety fields, summed over the robots.
    pub blocked_secs: f64,
    /// The AMRs stopped for each other (else they passed through each other).
    pub physical: bool,
    /// Each device's profile (for an AMR: the VDA 5050 version it speaks).
    pub profiles: BTreeMap<String, String>,
}

impl Summary {
    /// Every planned task was submitted and completed.
    pub fn all_completed(&self) -> bool {
        self.completed == self.planned && !self.interrupted
    }
}

pub(super) async fn summarise(
    tasks: &mut Tasks,
    elapsed: Duration,
    interrupted: bool,
    planned: usize,
) -> anyhow::Result<Summary> {
    let all = all_tasks(tasks).await?;
    let state = |s: pb::TaskState| all.iter().filter(|t| t.state == s as i32).count();
    let mut durations: Vec<i64> = all
        .iter()
        .filter(|t| t.state == pb::TaskState::Completed as i32)
        .map(|t| t.updated_unix_ms - t.created_unix_ms)
        .collect();
    durations.sort_unstable();
    let pct = |p: f64| {
        (!durations.is_empty()).then(|| {
            let i = ((durations.len() as f64 * p).ceil() as usize).clamp(1, durations.len()) - 1;
            Duration::from_millis(durations[i].max(0) as u64)
        })
    };
    let mut failures = BTreeMap::new();
    for t in all
        .iter()
        .filter(|t| t.state == pb::TaskState::Failed as i32)
    {
        *failures.entry(t.reason.clone()).or_default() += 1;
    }
    Ok(Summary {
        submitted: all.len(),
        planned,
        completed: state(pb::TaskState::Completed),
        failed: state(pb::TaskState::Failed),
        cancelled: state(pb::TaskState::Cancelled),
        unfinished: state(pb::TaskState::Accepted)
            + state(pb::TaskState::Planned)
            + state(pb::TaskState::Running),
        elapsed,
        interrupted,
        p50: pct(0.50),
        p99: pct(0.99),
        utilisation: utilisation(tasks, elapsed).await?,
        failures,
        conflicts: 0,
        blocked_secs: 0.0,
        physical: false,
        profiles: BTreeMap::new(),
    })
}

/// Busy time per device from the journal: each step from its dispatch to
/// its end, over the run's wall time.
async fn utilisation(
    tasks: &mut Tasks,
    elapsed: Duration,
) -> anyhow::Result<BTreeMap<String, f64>> {
    use pb::event::Kind;
    let mut stream = tasks
        .watch_events(pb::WatchEventsRequest {
            after_seq: 0,
            ..Default::default()
        })
        .await?
        .into_inner();
    let mut started: BTreeMap<(String, u32), i64> = BTreeMap::new();
    let mut busy: BTreeMap<String, i64> = BTreeMap::new();
    while let Ok(Some(e)) = tokio::time::timeout(Duration::from_millis(300), stream.message())
        .await
        .map(|r| r.ok().flatten())
    {
        match &e.kind {
            Some(Kind::StepDispatched(s)) => {
                started.insert((e.task_id.clone(), s.step_index), e.time_unix_ms);
            }
            Some(Kind::StepCompleted(s) | Kind::StepFailed(s) | Kind::StepCancelled(s)) => {
                if let Some(t0) = started.remove(&(e.task_id.clone(), s.step_index)) {
                    *busy.entry(s.device_id.clone()).or_default() += e.time_unix_ms - t0;
                }
            }
            _ => {}
        }
    }
    let wall = elapsed.as_millis().max(1) as f64;
    Ok(busy
        .into_iter()
        .map(|(d, ms)| (d, ms as f64 / wall))
        .collect())
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = |d: Option<Duration>| {
            d.map(|d| format!("{:.1} s", d.as_secs_f64()))
                .unwrap_or_else(|| "-".into())
        };
        writeln!(
            f,
            "floorgate simulate: summary{}",
            if self.interrupted {
                " (interrupted)"
            } else {
                ""
            }
        )?;
        writeln!(
            f,
            "  tasks      {} submitted of {}: {} completed, {} failed, {} cancelled, {} unfinished",
            self.submitted,
            self.planned,
            self.completed,
            self.failed,
            self.cancelled,
            self.unfinished
        )?;
        writeln!(
            f,
            "  duration   p50 {}, p99 {} (accepted → completed)",
            ms(self.p50),
            ms(self.p99)
        )?;
        writeln!(
            f,
            "  run        {:.1} s, {:.2} tasks/s completed",
            self.elapsed.as_secs_f64(),
            self.completed as f64 / self.elapsed.as_secs_f64().max(0.001)
        )?;
        writeln!(
            f,
            "  devices    utilisation (share of the run busy with a command)"
        )?;
        for (d, u) in &self.utilisation {
            let profile = self.profiles.get(d).map(String::as_str).unwrap_or_default();
            writeln!(f, "    {d:<10} {:>5.1} %  {profile}", u * 100.0)?;
        }
        writeln!(
            f,
            "  fleet      {} conflicts, {:.1} s blocked by safety fields ({})",
            self.conflicts,
            self.blocked_secs,
            if self.physical {
                "robots stop for each other"
            } else {
                "robots pass through each other"
            }
        )?;
        for (reason, n) in &self.failures {
            writeln!(f, "  failed ×{n}: {reason}")?;
        }
        Ok(())
    }
}
