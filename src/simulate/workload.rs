//! The demo task stream: a seeded mix of the demo site's routes, so the same
//! seed gives the same tasks.

use std::collections::BTreeSet;
use std::time::Duration;

use floorgate_sim::asrs::{Asrs, Tote};

use super::SimulateOptions;
use crate::api::pb;

/// One task to submit, and the tote a conveyor route needs at its infeed.
#[derive(Debug, Clone)]
pub(super) struct Planned {
    pub task: pb::Task,
    /// (tote, conveyor location): the tote arriving at the inbound infeed,
    /// or the one an AMR brings to the return infeed.
    pub conveyor_tote: Option<(u32, u16)>,
}

/// The conveyor locations of the demo site (`plc_address`).
const INBOUND_INFEED: u16 = 1;
const RETURN_INFEED: u16 = 13;

/// The AS/RS bin the `k`-th AS/RS pick takes its tote from (filled before
/// the run).
pub(super) fn pick_bin(k: usize) -> String {
    format!("ASRS1-01-{:02}", k + 1)
}

/// The AS/RS bin the `k`-th AS/RS put stores into (empty before the run).
pub(super) fn put_bin(k: usize) -> String {
    format!("ASRS1-02-{:02}", k + 1)
}

/// xorshift64*: small, seedable, good enough to pick routes.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// `opts.tasks` tasks: picks from the floor buffer to the pick stations,
/// picks from the inbound conveyor (to the conveyor-fed station, or on to a
/// pick station by AMR), picks out of the AS/RS to a pick station and puts
/// back into it (AS/RS, conveyor and AMR in one task), and puts back to the
/// buffer. Every AS/RS pick has a bin of its own ([`pick_bin`]), every
/// AS/RS put an empty one ([`put_bin`]).
pub(super) fn plan(opts: &SimulateOptions) -> Vec<Planned> {
    let mut rng = Rng(opts.seed.max(1).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let (mut asrs_picks, mut asrs_puts) = (0, 0);
    (0..opts.tasks)
        .map(|i| {
            let tote = 1000 + i as u32;
            let station = ["PICK-1", "PICK-2"][rng.below(2) as usize];
            let buffer = format!("BUF-{:02}", rng.below(20) + 1);
            let (kind, source, destination, conveyor) = match rng.below(10) {
                0..=3 => (pb::TaskKind::Pick, buffer, station.to_string(), None),
                4 => (
                    pb::TaskKind::Pick,
                    "INBOUND-1".into(),
                    station.to_string(),
                    Some(INBOUND_INFEED),
                ),
                5 => (
                    pb::TaskKind::Pick,
                    "INBOUND-1".into(),
                    "PICK-3".into(),
                    Some(INBOUND_INFEED),
                ),
                6..=7 => {
                    asrs_picks += 1;
                    let bin = pick_bin(asrs_picks - 1);
                    (pb::TaskKind::Pick, bin, station.to_string(), None)
                }
                8 => {
                    asrs_puts += 1;
                    let bin = put_bin(asrs_puts - 1);
                    (
                        pb::TaskKind::Put,
                        station.to_string(),
                        bin,
                        Some(RETURN_INFEED),
                    )
                }
                _ => (pb::TaskKind::Put, station.to_string(), buffer, None),
            };
            Planned {
                task: pb::Task {
                    task_id: format!("SIM-{:04}", i + 1),
                    kind: kind as i32,
                    sku: format!("SKU-{}", rng.below(500) + 1),
                    quantity: rng.below(5) as u32 + 1,
                    load_id: format!("TOTE-{tote}"),
                    source,
                    destination,
                    priority: 0,
                    ..Default::default()
                },
                conveyor_tote: conveyor.map(|at| (tote, at)),
            }
        })
        .collect()
}

/// `opts.tasks` picks for the generated warehouse: each from a seeded rack
/// location to a seeded station, a tote of its own.
pub(super) fn grid_plan(
    opts: &SimulateOptions,
    spec: &floorgate_sim::site::grid::GridSpec,
) -> Vec<Planned> {
    let mut rng = Rng(opts.seed.max(1).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let racks = spec.rack_locations();
    let stations = spec.station_locations();
    (0..opts.tasks)
        .map(|i| {
            let source = racks[rng.below(racks.len() as u64) as usize].clone();
            let destination = stations[rng.below(stations.len() as u64) as usize].clone();
            Planned {
                task: pb::Task {
                    task_id: format!("SIM-{:04}", i + 1),
                    kind: pb::TaskKind::Pick as i32,
                    sku: format!("SKU-{}", rng.below(500) + 1),
                    quantity: rng.below(5) as u32 + 1,
                    load_id: format!("TOTE-{}", 1000 + i),
                    source,
                    destination,
                    priority: 0,
                    ..Default::default()
                },
                conveyor_tote: None,
            }
        })
        .collect()
}

/// The simulated AS/RS for `plan`: the demo grid plus every bin the plan
/// names, a tote (the task's load) in each bin an AS/RS pick takes from,
/// input port `IN-1`, output port `OUT-1`, `crane` per retrieval or store.
pub(super) fn asrs_stock(plan: &[Planned], crane: Duration) -> Asrs {
    let mut bins: BTreeSet<String> = (1..=4)
        .flat_map(|a| (1..=5).map(move |l| format!("ASRS1-{a:02}-{l:02}")))
        .collect();
    let is_bin = |l: &str| l.starts_with("ASRS1-");
    for p in plan {
        bins.extend(
            [&p.task.source, &p.task.destination]
                .into_iter()
                .filter(|l| is_bin(l))
                .cloned(),
        );
    }
    let mut asrs = Asrs::new(bins, &["IN-1"], &["OUT-1"], crane, crane);
    for p in plan.iter().filter(|p| is_bin(&p.task.source)) {
        asrs.put_in_bin(
            &p.task.source,
            Tote {
                id: p.task.load_id.clone(),
                sku: p.task.sku.clone(),
                quantity: p.task.quantity,
            },
        );
    }
    asrs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_tasks_and_another_seed_others() {
        let opts = |seed| SimulateOptions {
            seed,
            ..SimulateOptions::default()
        };
        let a: Vec<_> = plan(&opts(7)).into_iter().map(|p| p.task).collect();
        let b: Vec<_> = plan(&opts(7)).into_iter().map(|p| p.task).collect();
        let c: Vec<_> = plan(&opts(8)).into_iter().map(|p| p.task).collect();
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a.len(), 40);
        // Every route of the mix shows up in a default run.
        assert!(a.iter().any(|t| t.destination == "PICK-3"));
        assert!(a.iter().any(|t| t.kind == pb::TaskKind::Put as i32));
        assert!(a.iter().any(|t| t.source.starts_with("BUF-")));
        assert!(a.iter().any(|t| t.source.starts_with("ASRS1-")));
        assert!(a.iter().any(|t| t.destination.starts_with("ASRS1-")));
    }

    #[test]
    fn grid_tasks_go_from_racks_to_stations() {
        let spec = floorgate_sim::site::grid::GridSpec::new(3, 4, 2, 2).unwrap();
        let plan = grid_plan(&SimulateOptions::default(), &spec);
        assert_eq!(plan.len(), 40);
        for p in &plan {
            assert!(spec.rack_locations().contains(&p.task.source));
            assert!(spec.station_locations().contains(&p.task.destination));
        }
        let stations: BTreeSet<_> = plan.iter().map(|p| &p.task.destination).collect();
        assert_eq!(stations.len(), 2);
    }
}
