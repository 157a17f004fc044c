//! The demo task stream: a seeded mix of the demo site's routes, so the same
//! seed gives the same tasks.

use super::SimulateOptions;
use crate::api::pb;

/// One task to submit, and the tote a conveyor route needs at its infeed.
#[derive(Debug, Clone)]
pub(super) struct Planned {
    pub task: pb::Task,
    pub conveyor_tote: Option<u32>,
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
/// pick station by AMR), and puts back to the buffer.
pub(super) fn plan(opts: &SimulateOptions) -> Vec<Planned> {
    let mut rng = Rng(opts.seed.max(1).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    (0..opts.tasks)
        .map(|i| {
            let tote = 1000 + i as u32;
            let station = ["PICK-1", "PICK-2"][rng.below(2) as usize];
            let buffer = format!("BUF-{:02}", rng.below(20) + 1);
            let (kind, source, destination, conveyor) = match rng.below(10) {
                0..=4 => (pb::TaskKind::Pick, buffer, station.to_string(), false),
                5..=6 => (
                    pb::TaskKind::Pick,
                    "INBOUND-1".into(),
                    station.to_string(),
                    true,
                ),
                7 => (
                    pb::TaskKind::Pick,
                    "INBOUND-1".into(),
                    "PICK-3".into(),
                    true,
                ),
                _ => (pb::TaskKind::Put, station.to_string(), buffer, false),
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
                conveyor_tote: conveyor.then_some(tote),
            }
        })
        .collect()
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
    }
}
