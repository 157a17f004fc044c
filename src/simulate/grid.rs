//! `floorgate simulate --layout grid`: the generated rack warehouse of
//! `floorgate_sim::site::grid` instead of the demo site — AMRs only (no
//! conveyor, no AS/RS), starting on their parking nodes, carrying totes from
//! racks to pick stations, at [`TIME_LAPSE`] times the wall clock. Its fleet
//! is physical (robots stop for each other)
//! unless `--pass-through`; the summary reports the fleet's conflicts and
//! blocked seconds.

use std::net::SocketAddr;
use std::path::Path;

use anyhow::bail;
use floorgate_sim::amr::FleetConfig;
use floorgate_sim::site::grid::{GridSpec, MANUFACTURER};

use super::SimulateOptions;
use crate::config::LoadedConfig;

/// Rack aisles of the simulated warehouse.
pub const AISLES: usize = 6;
/// Racks per aisle.
pub const RACKS: usize = 10;
/// Pick stations.
pub const STATIONS: usize = 3;
/// The fleet's simulated time runs this many times faster than the wall
/// clock: the warehouse is large, its trips a minute long at AMR speed.
pub const TIME_LAPSE: f64 = 8.0;

/// The warehouse for `opts`: [`AISLES`] × [`RACKS`], [`STATIONS`] stations,
/// a parking node per AMR.
pub(super) fn spec(opts: &SimulateOptions) -> anyhow::Result<GridSpec> {
    if opts.amrs == 0 {
        bail!("--amrs must be at least 1");
    }
    GridSpec::new(AISLES, RACKS, STATIONS, opts.amrs).map_err(|e| anyhow::anyhow!("--{e}"))
}

/// Writes the grid site file and the AMR profile into `dir` and loads them,
/// the AMRs on `broker`, gRPC on a free loopback port, no admin listener.
pub(super) fn write(
    dir: &Path,
    spec: &GridSpec,
    vda: super::Vda,
    broker: SocketAddr,
) -> anyhow::Result<LoadedConfig> {
    let mut text = spec.site_toml(&broker.to_string());
    let plaintext = "mqtt_plaintext = true\n";
    if !text.contains(plaintext) {
        bail!("the generated grid site no longer names its plaintext broker as expected");
    }
    text = text.replacen(
        plaintext,
        "mqtt_plaintext = true\nclient_id = \"floorgate-simulate\"\nkeep_alive_secs = 5\nresend_interval_ms = 500\n",
        1,
    );
    if !text.contains("[traffic]") {
        // The warehouse has room to keep its robots apart: traffic control on.
        text.push_str("\n[traffic]\nenabled = true\nreplan_after_secs = 10\n");
    }
    let text = super::site::assign_profiles(&text, spec.amrs, vda)?;
    super::site::load(
        dir,
        &text,
        &super::site::AMR_PROFILES,
        "the generated grid site",
    )
}

/// The fleet: one robot per parking node, physical unless `--pass-through`.
pub(super) fn fleet(spec: &GridSpec, opts: &SimulateOptions, broker: SocketAddr) -> FleetConfig {
    let mut f = super::site::base_fleet(MANUFACTURER, opts, broker, 2.0);
    f.start_nodes = spec.start_nodes();
    f.physical = !opts.pass_through;
    f.time_lapse = TIME_LAPSE;
    f
}
