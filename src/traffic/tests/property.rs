//! Many seeded random scenarios on a small grid: robots get random
//! destinations, ask for grants, drive (clearing the node behind them before
//! they reach the next, or not), are halted, fail and come back, are
//! re-planned and have their stalemates resolved, in random order. After
//! every event no resource has two holders, what each robot is shown to hold
//! is what the holder tables say, no block is over capacity, and the wait-for
//! graph has no cycle.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::*;

/// splitmix64: small, seeded, good enough to shuffle scenarios.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

const W: usize = 4;
const H: usize = 4;

fn id(x: usize, y: usize) -> String {
    format!("G{x}{y}")
}

/// A W × H grid, a few waiting nodes, the middle 2 × 2 a block of
/// capacity 2, and some lanes two-way wide.
fn grid(rng: &mut Rng) -> LayoutSpec {
    let mut spec = LayoutSpec::default();
    for y in 0..H {
        for x in 0..W {
            let mut n = NodeSpec::new(id(x, y));
            if rng.below(5) == 0 {
                n = n.waiting();
            }
            if rng.below(6) == 0 {
                n = n.parking();
            }
            spec.nodes.push(n);
            if x + 1 < W {
                let mut e = EdgeSpec::new(id(x, y), id(x + 1, y), 1.0);
                if rng.below(4) == 0 {
                    e = e.two_way_wide();
                }
                spec.edges.push(e);
            }
            if y + 1 < H {
                spec.edges.push(EdgeSpec::new(id(x, y), id(x, y + 1), 1.0));
            }
        }
    }
    spec.blocks
        .push(
            BlockSpec::new("middle")
                .capacity(2)
                .nodes([id(1, 1), id(2, 1), id(1, 2), id(2, 2)]),
        );
    spec
}

fn all_nodes() -> Vec<String> {
    (0..H).flat_map(|y| (0..W).map(move |x| id(x, y))).collect()
}

/// What one scenario did, to show the runs are not vacuous.
#[derive(Default)]
struct Tally {
    grants: u64,
    arrivals: u64,
    resolved: u64,
    parked: u64,
}

/// Runs 400 random events and returns the allocator, its robots and the
/// time.
fn scenario(seed: u64, tally: &mut Tally) -> (Allocator, Vec<String>, Instant) {
    let mut rng = Rng(seed);
    let spec = grid(&mut rng);
    let caps: BTreeMap<String, usize> = [("middle".to_string(), 2)].into();
    let cfg = Config {
        lookahead_nodes: 1 + rng.below(4),
        // Node by node, short segments, and whole segments to stop nodes.
        max_segment_nodes: rng.below(4),
        replan_after: Duration::from_secs(5),
        ..Config::default()
    };
    let mut a = Allocator::new(ResourceMap::new(spec).expect("grid"), cfg);
    let mut now = Instant::now();
    let nodes = all_nodes();
    let count = 2 + rng.below(5);
    let robots: Vec<String> = (0..count).map(|i| format!("r{i}")).collect();
    let middle = [id(1, 1), id(2, 1), id(1, 2), id(2, 2)];
    let mut in_middle = 0;
    for r in &robots {
        loop {
            // Where robots stand is reality, not a grant: start with the
            // block within its capacity.
            let n = &nodes[rng.below(nodes.len())];
            let inside = middle.contains(n);
            if inside && in_middle == 2 {
                continue;
            }
            if a.place(r, n).is_ok() {
                in_middle += usize::from(inside);
                break;
            }
        }
    }
    check_invariants(&a, &caps);
    for _ in 0..400 {
        let r = robots[rng.below(robots.len())].as_str();
        let h = a.holdings(r).expect("holdings");
        let idle = a.request_would_complete(r) && h.at == h.base_end;
        let ev = rng.below(20);
        match ev {
            0 => {
                let s = [
                    RobotStatus::Offline,
                    RobotStatus::Fault,
                    RobotStatus::Manual,
                ];
                a.set_status(r, s[rng.below(3)], now).expect("status");
            }
            1..=3 => a.set_status(r, RobotStatus::Online, now).expect("status"),
            4 => {
                if let Some(d) = a.deadlocks().first() {
                    if a.resolve(d, now).is_ok() {
                        tally.resolved += 1;
                    }
                }
            }
            5 => {
                for due in a.due_for_replan(now) {
                    let _ = a.replan(&due, now);
                }
            }
            _ if idle => {
                let here = h.nodes[0].clone();
                let to = &nodes[rng.below(nodes.len())];
                if let Ok(route) = a.plan_route(Some(r), &here, to) {
                    // Refused when it would close a cycle: stays idle.
                    let _ = a.set_route(r, &route, now);
                }
            }
            // Halted where it is (its order ended early), perhaps clear of its last node.
            6 => a.halt(r, now).expect("halt"),
            // Its state shows it clear of the node it passed last, not yet at the next.
            _ if h.at < h.base_end && rng.below(3) == 0 => {
                a.cleared(r, h.at).expect("cleared");
            }
            _ if h.at < h.base_end => {
                let to = h.at + 1 + rng.below(h.base_end - h.at);
                a.passed(r, to, now).expect("passed");
                if a.request_would_complete(r) && to == h.base_end {
                    tally.arrivals += 1;
                }
            }
            _ => {
                let g = a.request(r, now).expect("request");
                tally.grants += u64::from(g.added > 0);
            }
        }
        check_invariants(&a, &caps);
        now += Duration::from_millis(500);
    }
    (a, robots, now)
}

/// Brings every robot online and drives them all, resolving stalemates and
/// parking idle robots that stand in someone's way, until no robot has
/// route left. Returns whether that happened within the round limit.
fn drain(a: &mut Allocator, robots: &[String], mut now: Instant, tally: &mut Tally) -> bool {
    let caps: BTreeMap<String, usize> = [("middle".to_string(), 2)].into();
    for r in robots {
        a.set_status(r, RobotStatus::Online, now).expect("status");
    }
    for _ in 0..300 {
        let mut idle = Vec::new();
        for r in robots {
            let h = a.holdings(r).expect("holdings");
            if h.at < h.base_end {
                a.passed(r, h.base_end, now).expect("passed");
            } else if a.request_would_complete(r) {
                idle.push(r.as_str());
            } else {
                a.request(r, now).expect("request");
            }
            check_invariants(a, &caps);
        }
        if idle.len() == robots.len() {
            return true;
        }
        for d in a.deadlocks() {
            if a.resolve(&d, now).is_ok() {
                tally.resolved += 1;
            }
            check_invariants(a, &caps);
        }
        for m in a.park_idle(&idle).expect("park") {
            if a.set_route(&m.robot, &m.route, now).is_ok() {
                tally.parked += 1;
            }
            check_invariants(a, &caps);
        }
        for due in a.due_for_replan(now) {
            let _ = a.replan(&due, now);
        }
        now += Duration::from_secs(1);
    }
    false
}

#[test]
fn a_wait_for_cycle_is_never_created_by_grants_in_many_random_scenarios() {
    let mut tally = Tally::default();
    for seed in 0..300 {
        scenario(seed, &mut tally);
    }
    assert!(tally.grants > 1_000, "grants: {}", tally.grants);
    assert!(tally.arrivals > 300, "arrivals: {}", tally.arrivals);
    eprintln!(
        "grants {}, arrivals {}, deadlocks resolved {}",
        tally.grants, tally.arrivals, tally.resolved
    );
}

#[test]
fn every_random_scenario_drains_once_robots_are_back_no_deadlock_is_left_unresolved() {
    let mut tally = Tally::default();
    let mut stuck = Vec::new();
    for seed in 0..500 {
        let (mut a, robots, now) = scenario(seed, &mut tally);
        if !drain(&mut a, &robots, now, &mut tally) {
            stuck.push(seed);
        }
    }
    eprintln!(
        "deadlocks resolved {}, idle robots moved aside {}",
        tally.resolved, tally.parked
    );
    assert!(stuck.is_empty(), "seeds that did not drain: {stuck:?}");
}
