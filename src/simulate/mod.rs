//! `floorgate simulate`: a whole virtual site in one process, for demos, CI
//! and benchmarks. Nothing is faked on the task path: the embedded MQTT
//! broker, the simulated AMR fleet (VDA 5050), conveyor PLC (Modbus TCP)
//! and AS/RS (OPC-UA) speak the real protocols on 127.0.0.1, the gateway is
//! the same
//! [`Gateway`] as `floorgate run` with its store in a temporary directory,
//! and the demo tasks arrive over gRPC like the cloud's.
//!
//! * [`site`] — the embedded demo site and profiles, with the fleet size and
//!   the simulators' addresses filled in.
//! * [`workload`] — the seeded stream of demo tasks, with the AS/RS
//!   inventory it needs.
//!
//! The AS/RS output port is a conveyor location and the conveyor feeds its
//! input port; `floorgate_sim::handoff` moves a tote from one simulator to
//! the other when it is delivered there, as the steel would.
//! * [`report`] — live progress and the closing summary, with the fleet's
//!   conflicts and blocked seconds.
//! * [`grid`] — `--layout grid`: the generated rack warehouse
//!   (`floorgate_sim::site::grid`), AMRs only, rack → station tasks.
//!
//! The gateway's admin listener serves the operator console (`crate::console`) on
//! 127.0.0.1 (a free port unless `--console-listen` names one), and its URL is printed;
//! with [`SimulateOptions::hold`] the site keeps running after the tasks ended, until
//! Ctrl-C, for someone to watch.
//!
//! The demo fleet passes through itself (its idle robots stand on lanes, and
//! nothing sends them to park); the grid fleet stops for itself unless
//! [`SimulateOptions::pass_through`].

pub mod grid;
mod report;
mod site;
mod workload;

use std::future::Future;
use std::time::{Duration, Instant};

use anyhow::Context;

use crate::api::pb;
use crate::daemon::{Gateway, RunOptions};
use crate::vda5050::ProtocolVersion;
pub use report::Summary;

/// What `floorgate simulate` runs.
#[derive(Debug, Clone)]
pub struct SimulateOptions {
    /// Demo tasks to submit.
    pub tasks: usize,
    /// Simulated AMRs.
    pub amrs: usize,
    /// Submissions are spread over the first 60 % of this; the run ends
    /// when every task has ended, or this plus a grace period has passed.
    pub duration: Duration,
    /// Seeds the task mix, so a run can be repeated.
    pub seed: u64,
    /// Print progress lines.
    pub progress: bool,
    /// Which site to simulate.
    pub layout: Layout,
    /// On the grid: the AMRs pass through each other instead of stopping
    /// (the contention-free upper bound). The demo's always do.
    pub pass_through: bool,
    /// Where the admin listener with the operator console listens (`None`: none).
    pub console_listen: Option<std::net::SocketAddr>,
    /// The console's admin token, for operator actions (`None`: read-only).
    pub admin_token: Option<String>,
    /// Keep the site running after the tasks ended, until `interrupt` (Ctrl-C).
    pub hold: bool,
    /// The VDA 5050 versions the AMRs speak.
    pub vda: Vda,
}

/// Which VDA 5050 versions the simulated AMRs speak.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Vda {
    /// All 2.0 (profile `amr-vda5050-v20`).
    #[value(name = "2.0")]
    V2_0,
    /// All 2.1 (profile `amr-vda5050`).
    #[value(name = "2.1")]
    V2_1,
    /// All 3.0 (profile `amr-vda5050-v30`).
    #[value(name = "3.0")]
    V3_0,
    /// A mixed fleet, as a site runs for years: robot 1 speaks 2.0, robot 2
    /// 2.1, robot 3 3.0, and so on round.
    #[default]
    Mixed,
}

impl Vda {
    /// The versions robot `i` cycles through: robot `i` speaks `versions()[i % len]`.
    pub fn versions(self) -> Vec<ProtocolVersion> {
        match self {
            Vda::V2_0 => vec![ProtocolVersion::V2_0],
            Vda::V2_1 => vec![ProtocolVersion::V2_1],
            Vda::V3_0 => vec![ProtocolVersion::V3_0],
            Vda::Mixed => vec![
                ProtocolVersion::V2_0,
                ProtocolVersion::V2_1,
                ProtocolVersion::V3_0,
            ],
        }
    }
}

/// The site `floorgate simulate` runs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Layout {
    /// The demo site (`devices/site-demo.toml`): AMRs, conveyor, AS/RS.
    #[default]
    Demo,
    /// A generated rack warehouse ([`grid`]): AMRs from racks to stations.
    Grid,
}

impl Default for SimulateOptions {
    fn default() -> Self {
        SimulateOptions {
            tasks: 40,
            amrs: 6,
            duration: Duration::from_secs(60),
            seed: 1,
            progress: true,
            layout: Layout::Demo,
            pass_through: false,
            console_listen: Some(std::net::SocketAddr::from(([127, 0, 0, 1], 0))),
            admin_token: None,
            hold: false,
            vda: Vda::Mixed,
        }
    }
}

/// Runs the virtual site until every task ended, the time is up, or
/// `interrupt` resolves (Ctrl-C), and returns the summary.
pub async fn run(
    opts: SimulateOptions,
    interrupt: impl Future<Output = ()> + Send,
) -> anyhow::Result<Summary> {
    let dir = tempfile::tempdir().context("creating a temporary directory")?;
    let broker =
        crate::broker::EmbeddedBroker::start().context("starting the embedded MQTT broker")?;
    // The demo's conveyor PLC and AS/RS live as long as the run.
    let mut demo_devices = None;
    let (cfg, fleet_cfg, plan) = match opts.layout {
        Layout::Demo => {
            let plc = floorgate_sim::plc::SimPlc::start(
                std::sync::Arc::new(crate::modbus::ModbusProfile::from_toml_str(
                    site::CONVEYOR_PROFILE,
                )?),
                floorgate_sim::plc::Machine::conveyor(Duration::from_millis(1500)),
            )
            .await
            .context("starting the simulated conveyor PLC")?;
            let plan = workload::plan(&opts);
            let asrs = floorgate_sim::asrs::SimAsrs::start(
                workload::asrs_stock(&plan, Duration::from_secs(2)),
                floorgate_sim::asrs::SimOptions::default(),
            )
            .await
            .context("starting the simulated AS/RS")?;
            floorgate_sim::handoff::couple_asrs_and_conveyor(
                &asrs,
                &plc,
                &floorgate_sim::handoff::AsrsConveyorLink {
                    output_ports: vec![("OUT-1".into(), 2)],
                    input_ports: vec![(3, "IN-1".into())],
                },
            );
            let cfg = site::write(
                dir.path(),
                opts.amrs,
                opts.vda,
                broker.addr(),
                plc.addr(),
                &asrs.url(),
            )?;
            let fleet_cfg = site::fleet(&cfg, &opts, broker.addr()).pass_through();
            demo_devices = Some((plc, asrs));
            (cfg, fleet_cfg, plan)
        }
        Layout::Grid => {
            let spec = grid::spec(&opts)?;
            let cfg = grid::write(dir.path(), &spec, opts.vda, broker.addr())?;
            let plan = workload::grid_plan(&opts, &spec);
            (cfg, grid::fleet(&spec, &opts, broker.addr()), plan)
        }
    };
    let mut cfg = cfg;
    cfg.gateway.admin_listen = opts.console_listen;
    cfg.gateway.console.admin_token = opts.admin_token.clone();
    let plc = demo_devices.as_ref().map(|(plc, _)| plc);
    let fleet = floorgate_sim::amr::Fleet::spawn(&fleet_cfg);
    let gw = Gateway::start(cfg, RunOptions::default()).await?;
    if let Some(admin) = gw.admin_addr() {
        let actions = if opts.admin_token.is_some() {
            "operator actions with the admin token"
        } else {
            "read-only; --admin-token allows operator actions"
        };
        println!("console: http://{admin}/ ({actions})");
    }
    let channel = tonic::transport::Endpoint::from_shared(format!("http://{}", gw.addr()))?
        .connect()
        .await?;
    let mut tasks = pb::task_service_client::TaskServiceClient::new(channel.clone());
    let mut devices = pb::device_service_client::DeviceServiceClient::new(channel);

    let started = Instant::now();
    let spread = opts.duration.mul_f64(0.6);
    let deadline = opts.duration + Duration::from_secs(30);
    let mut next = 0;
    let mut progress = report::Progress::new(opts.progress, opts.tasks);
    tokio::pin!(interrupt);
    let interrupted = loop {
        let elapsed = started.elapsed();
        // Submit what is due by now.
        while next < plan.len() && spread.mul_f64(next as f64 / plan.len() as f64) <= elapsed {
            let t = &plan[next];
            if let (Some((tote, at)), Some(plc)) = (t.conveyor_tote, plc) {
                plc.place_tote(tote, at);
            }
            tasks
                .submit_task(pb::SubmitTaskRequest {
                    task: Some(t.task.clone()),
                })
                .await
                .with_context(|| format!("submitting {}", t.task.task_id))?;
            next += 1;
        }
        let snapshot = report::snapshot(&mut tasks, &mut devices).await?;
        progress.show(elapsed, &snapshot);
        if next == plan.len() && snapshot.open() == 0 {
            break false;
        }
        if elapsed > deadline {
            break false;
        }
        tokio::select! {
            _ = &mut interrupt => break true,
            _ = tokio::time::sleep(Duration::from_millis(250)) => {}
        }
    };
    progress.finish();
    let mut summary =
        report::summarise(&mut tasks, started.elapsed(), interrupted, plan.len()).await?;
    if opts.hold && !interrupted {
        match gw.admin_addr() {
            Some(admin) => println!(
                "the tasks ended; holding the site with the console at http://{admin}/ until Ctrl-C"
            ),
            None => println!("the tasks ended; holding the site until Ctrl-C"),
        }
        (&mut interrupt).await;
    }
    let listed = devices
        .list_devices(pb::ListDevicesRequest::default())
        .await?
        .into_inner()
        .devices;
    summary.profiles = listed
        .into_iter()
        .map(|d| (d.device_id, d.profile))
        .collect();
    let world = fleet.world();
    summary.conflicts = world.conflicts;
    summary.blocked_secs = world.blocked_secs;
    summary.physical = fleet_cfg.physical;
    gw.shutdown().await?;
    fleet.shutdown(Duration::from_secs(1)).await;
    Ok(summary)
}
