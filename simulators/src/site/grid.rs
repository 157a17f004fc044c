//! A warehouse generator: a complete site file (the shape of `devices/site-demo.toml`) for
//! a rack warehouse of any size, served by AMRs — `floorgate-sim site grid`, benchmarks and
//! `floorgate simulate --layout grid` use it.
//!
//! The floor (x across the aisles, y along them, metres):
//!
//! ```text
//!   P-01 P-02 P-03 …                 parking spurs (parking = true), one per robot
//!    |    |    |
//!   XTL-00 → XTL-01 → XTL-02 → … ┐   top cross aisle: two one-way rows 2.5 m apart,
//!    ↑          ↓          ↑     ↓   joined by the aisles and a turn past the
//!   XT-00  ← XT-01  ← XT-02  ← … ┘   far end
//!    ↑          ↓          ↑
//!   A01-02─R    A02-02─R   A03-02─R  rack aisles: one-way, alternating; each rack node
//!    ↑          ↓          ↑         has its bay R.. beside the aisle (the storage
//!   A01-01─R    A02-01─R   A03-01─R  location), so a robot loading there leaves the
//!    ↑          ↓          ↑         aisle free
//!   XBL-00 → XBL-01 → XBL-02 → … ┐   bottom cross aisle, the same
//!    ↑          ↓          ↑     ↓
//!   XB-00  ← XB-01  ← XB-02  ← … ┘
//!       ↖                ↙
//!       E-1              Q-1-1       pick stations, each behind a queue of
//!       ↑                ↓           waiting nodes off the row, left by a
//!       ↑                Q-1-2       lane of their own back onto it
//!       ↑                ↓
//!       ST-1     ←       W-1
//! ```
//!
//! * **Rack aisles** `A{aisle}-{rack}` at x = 4 m · (aisle − 1), racks 2.5 m apart; one-way
//!   (`bidirectional = false`), odd aisles driven up, even aisles down, so every node
//!   reaches every other (a single aisle is two-way). Each rack node has a bay
//!   `R{aisle}-{rack}` 1.5 m aside (a two-way spur), the storage location
//!   `RACK-{aisle}-{rack}` (zone `racks`).
//! * **Cross aisles** at both ends (`XB`, `XT`) and, with more than 12 racks, one in the
//!   middle (`XM`): each two one-way rows of nodes every 2 m, a lower row `{X}-k` driven
//!   towards the first aisle and an upper row `{X}L-k` driven away from it, 2.5 m apart
//!   (a lane per direction, as wide cross aisles are marked). Each aisle crosses both rows
//!   in its own direction; one node past the far end of each row turns from the upper row
//!   to the lower. So the whole grid is one-way but the bay, station and parking spurs,
//!   and no two robots meet head-on in an aisle.
//! * **Stations** below the bottom cross aisle, one way round: from the lower row down a
//!   lane of [`STATION_QUEUE`] waiting nodes (`Q-{s}-1`, …, `W-{s}`, `waiting = true`), across
//!   to `ST-{s}` (the location `STATION-{s}`, zone `stations`), and up `E-{s}` back onto the
//!   row one node further along. Robots queue for a station off the row, so the row keeps
//!   moving past a busy station, and a robot leaving waits for the row on the exit lane.
//!   The stations are spread evenly along the front, so each down-aisle has one near it.
//! * **Parking** above the top cross aisle, one spur `P-{i}` (`parking = true`) per robot off
//!   its upper row, off every route: the robots start there.
//! * **Devices**: `amr-1` … `amr-N`, profile `amr-vda5050`, addresses `acme/AMR-000` …
//!   (the serials `floorgate simulate`'s fleet uses); **routes** `rack-to-station` (pick)
//!   and `station-to-rack` (put), one AMR transport each.
//!
//! The file names `profiles_dir` (default `.`: put it next to the profiles, as in
//! `devices/`), a plaintext gRPC listener and broker on loopback, like the demo.

use std::collections::BTreeMap;
use std::fmt::Write as _;

/// Metres between two rack aisles.
pub const AISLE_PITCH_M: f64 = 4.0;
/// Metres between two racks along an aisle.
pub const RACK_PITCH_M: f64 = 2.5;
/// Metres between two cross-aisle nodes.
pub const CROSS_STEP_M: f64 = 2.0;
/// Metres from a rack node to its bay.
pub const BAY_OFFSET_M: f64 = 1.5;
/// Metres between the two one-way rows of a cross aisle: more than a robot's safety field
/// reaches, so a robot turning from one row into an aisle is not stopped by a robot
/// waiting on the other row.
pub const LANE_GAP_M: f64 = RACK_PITCH_M;
/// Metres from a cross aisle to the stations or the parking nodes.
pub const SPUR_M: f64 = 3.0;
/// Waiting nodes in each station's queue, the last (`W-{s}`) beside the station.
pub const STATION_QUEUE: usize = 3;
/// Metres between two nodes of a station's queue.
pub const QUEUE_PITCH_M: f64 = 2.0;
/// With more racks than this per aisle, a cross aisle runs through the middle.
pub const MIDDLE_CROSS_AISLE_ABOVE: usize = 12;
/// The AMRs' manufacturer in their addresses.
pub const MANUFACTURER: &str = "acme";

/// A size the generator does not build.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field} must be between {min} and {max}, not {value}")]
pub struct GridError {
    /// The parameter.
    pub field: &'static str,
    /// Its value.
    pub value: usize,
    /// The smallest allowed.
    pub min: usize,
    /// The largest allowed.
    pub max: usize,
}

/// The warehouse to generate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GridSpec {
    /// Rack aisles.
    pub aisles: usize,
    /// Racks per aisle.
    pub racks: usize,
    /// Pick stations.
    pub stations: usize,
    /// AMRs (and parking nodes).
    pub amrs: usize,
    /// `profiles_dir` of the site file, relative to it.
    pub profiles_dir: String,
}

/// A node of the generated layout.
#[derive(Debug, Clone, PartialEq)]
pub struct GridNode {
    /// Its id.
    pub id: String,
    /// X in metres.
    pub x: f64,
    /// Y in metres.
    pub y: f64,
    /// A parking node.
    pub parking: bool,
    /// A waiting node.
    pub waiting: bool,
}

/// An edge of the generated layout.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GridEdge {
    /// Start node.
    pub from: String,
    /// End node.
    pub to: String,
    /// Both ways.
    pub bidirectional: bool,
    /// Both ways at once (two lanes).
    pub two_way_wide: bool,
}

/// The generated layout graph.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GridLayout {
    /// Nodes, in file order.
    pub nodes: Vec<GridNode>,
    /// Edges, in file order.
    pub edges: Vec<GridEdge>,
}

impl GridLayout {
    fn node(&mut self, id: String, x: f64, y: f64) {
        self.nodes.push(GridNode {
            id,
            x,
            y,
            parking: false,
            waiting: false,
        });
    }

    fn edge(&mut self, from: &str, to: &str, bidirectional: bool, two_way_wide: bool) {
        self.edges.push(GridEdge {
            from: from.to_string(),
            to: to.to_string(),
            bidirectional,
            two_way_wide,
        });
    }

    /// The directed successors of every node.
    pub fn successors(&self) -> BTreeMap<&str, Vec<&str>> {
        let mut out: BTreeMap<&str, Vec<&str>> =
            self.nodes.iter().map(|n| (n.id.as_str(), vec![])).collect();
        for e in &self.edges {
            out.entry(&e.from).or_default().push(&e.to);
            if e.bidirectional {
                out.entry(&e.to).or_default().push(&e.from);
            }
        }
        out
    }
}

fn check(field: &'static str, value: usize, min: usize, max: usize) -> Result<(), GridError> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(GridError {
            field,
            value,
            min,
            max,
        })
    }
}

fn cross(prefix: &str, k: usize) -> String {
    format!("{prefix}-{k:02}")
}

impl GridSpec {
    /// A warehouse of `aisles` aisles of `racks` racks, `stations` stations and `amrs` AMRs.
    pub fn new(
        aisles: usize,
        racks: usize,
        stations: usize,
        amrs: usize,
    ) -> Result<GridSpec, GridError> {
        check("aisles", aisles, 1, 100)?;
        check("racks", racks, 1, 200)?;
        check("stations", stations, 1, 100)?;
        check("amrs", amrs, 1, 1000)?;
        Ok(GridSpec {
            aisles,
            racks,
            stations,
            amrs,
            profiles_dir: ".".into(),
        })
    }

    fn aisle_x(a: usize) -> f64 {
        AISLE_PITCH_M * a as f64
    }

    /// The rows of an aisle from the bottom: `Err(prefix)` a cross aisle, `Ok(r)` rack
    /// `r` (0-based).
    fn rows(&self) -> Vec<Result<usize, &'static str>> {
        let mut rows = vec![Err("XB")];
        let middle = (self.racks > MIDDLE_CROSS_AISLE_ABOVE).then_some(self.racks.div_ceil(2));
        for r in 0..self.racks {
            if Some(r) == middle {
                rows.push(Err("XM"));
            }
            rows.push(Ok(r));
        }
        rows.push(Err("XT"));
        rows
    }

    /// The y of each row of [`rows`](Self::rows): racks one pitch apart, a cross aisle's
    /// lower row one pitch after the rack below it and its upper row [`LANE_GAP_M`] above.
    fn row_ys(&self) -> Vec<f64> {
        let mut y = 0.0;
        self.rows()
            .iter()
            .map(|row| {
                let here = y;
                y += RACK_PITCH_M + if row.is_err() { LANE_GAP_M } else { 0.0 };
                here
            })
            .collect()
    }

    /// The y of the top cross aisle's lower row.
    fn top_y(&self) -> f64 {
        *self
            .row_ys()
            .last()
            .expect("rows end with the top cross aisle")
    }

    /// Cross-aisle nodes of the aisles' span.
    fn span(&self) -> usize {
        2 * (self.aisles - 1) + 1
    }

    /// The layout graph (see the module note).
    pub fn layout(&self) -> GridLayout {
        let mut g = GridLayout::default();
        let rows = self.rows();
        let ys = self.row_ys();
        let bottom = self.bottom_span();
        let top = self.span().max(self.amrs);
        let top_y = self.top_y();
        // Two one-way rows, `count` nodes of the aisles' span and one more past the end
        // where the upper row turns into the lower.
        let cross_aisle = |g: &mut GridLayout, prefix: &str, count: usize, y: f64| {
            let upper = format!("{prefix}L");
            for k in 0..=count {
                let x = CROSS_STEP_M * k as f64;
                g.node(cross(prefix, k), x, y);
                g.node(cross(&upper, k), x, y + LANE_GAP_M);
            }
            for k in 1..=count {
                g.edge(&cross(prefix, k), &cross(prefix, k - 1), false, false);
                g.edge(&cross(&upper, k - 1), &cross(&upper, k), false, false);
            }
            g.edge(&cross(&upper, count), &cross(prefix, count), false, false);
        };
        cross_aisle(&mut g, "XB", bottom, 0.0);
        for (i, row) in rows.iter().enumerate() {
            if *row == Err("XM") {
                cross_aisle(&mut g, "XM", self.span(), ys[i]);
            }
        }
        cross_aisle(&mut g, "XT", top, top_y);
        for a in 0..self.aisles {
            let x = Self::aisle_x(a);
            // Bottom to top: a rack node, or a cross aisle's lower then upper row.
            let column: Vec<String> = rows
                .iter()
                .flat_map(|row| match row {
                    Ok(r) => vec![format!("A{:02}-{:02}", a + 1, r + 1)],
                    Err(prefix) => vec![cross(prefix, 2 * a), cross(&format!("{prefix}L"), 2 * a)],
                })
                .collect();
            for (i, row) in rows.iter().enumerate() {
                if let Ok(r) = row {
                    let y = ys[i];
                    let id = format!("A{:02}-{:02}", a + 1, r + 1);
                    g.node(id.clone(), x, y);
                    let bay = format!("R{:02}-{:02}", a + 1, r + 1);
                    g.node(bay.clone(), x + BAY_OFFSET_M, y);
                    g.edge(&id, &bay, true, false);
                }
            }
            let two_way = self.aisles == 1;
            for pair in column.windows(2) {
                let (from, to) = if a % 2 == 0 {
                    (&pair[0], &pair[1])
                } else {
                    (&pair[1], &pair[0])
                };
                g.edge(from, to, two_way, false);
            }
        }
        for (s, entry) in self.station_entries().into_iter().enumerate() {
            // A lane down from the lower row (driven towards the first aisle) with the
            // station's queue on it, across to the station, and a lane back up that joins
            // the row one node further along: a robot queueing for a station stands off
            // the row, and one leaving waits for the row off the station.
            let entry_x = CROSS_STEP_M * entry as f64;
            let exit_x = CROSS_STEP_M * (entry - 1) as f64;
            let queue: Vec<String> = (1..STATION_QUEUE)
                .map(|k| format!("Q-{}-{k}", s + 1))
                .chain([format!("W-{}", s + 1)])
                .collect();
            let queue_y = |k: usize| -SPUR_M - QUEUE_PITCH_M * k as f64;
            let (st, exit) = (format!("ST-{}", s + 1), format!("E-{}", s + 1));
            let mut from = cross("XB", entry);
            for (k, q) in queue.iter().enumerate() {
                g.node(q.clone(), entry_x, queue_y(k));
                g.nodes.last_mut().expect("just added").waiting = true;
                g.edge(&from, q, false, false);
                from = q.clone();
            }
            g.node(st.clone(), exit_x, queue_y(STATION_QUEUE - 1));
            g.node(exit.clone(), exit_x, -SPUR_M);
            g.edge(&from, &st, false, false);
            g.edge(&st, &exit, false, false);
            g.edge(&exit, &cross("XB", entry - 1), false, false);
        }
        for (i, (id, x, y)) in self.start_nodes().into_iter().enumerate() {
            g.node(id.clone(), x, y);
            g.nodes.last_mut().expect("just added").parking = true;
            g.edge(&cross("XTL", i), &id, true, false);
        }
        g
    }

    /// Cross-aisle nodes of the bottom cross aisle: the aisles' span, or two per station
    /// if there are more stations than that holds.
    fn bottom_span(&self) -> usize {
        self.span().max(2 * self.stations)
    }

    /// The bottom cross aisle's lower-row node each station is entered from (its exit
    /// joins the row at the node before): every other node, spread evenly along the row
    /// so each down-aisle has a station near it, as a warehouse lines its pick stations
    /// up along the front.
    fn station_entries(&self) -> Vec<usize> {
        let slots = self.bottom_span() / 2;
        (0..self.stations)
            .map(|s| 2 * (1 + (2 * s + 1) * slots / (2 * self.stations)))
            .collect()
    }

    /// The storage locations, one per rack: `RACK-{aisle}-{rack}`.
    pub fn rack_locations(&self) -> Vec<String> {
        (1..=self.aisles)
            .flat_map(|a| (1..=self.racks).map(move |r| format!("RACK-{a:02}-{r:02}")))
            .collect()
    }

    /// The station locations: `STATION-{s}`.
    pub fn station_locations(&self) -> Vec<String> {
        (1..=self.stations)
            .map(|s| format!("STATION-{s}"))
            .collect()
    }

    /// The robots' start nodes, one parking node each: (id, x, y).
    pub fn start_nodes(&self) -> Vec<(String, f64, f64)> {
        let y = self.top_y() + LANE_GAP_M + SPUR_M;
        (0..self.amrs)
            .map(|i| (format!("P-{:02}", i + 1), CROSS_STEP_M * i as f64, y))
            .collect()
    }

    /// The serial number of AMR `i` (0-based): `AMR-000`, … (manufacturer [`MANUFACTURER`]).
    pub fn serial(i: usize) -> String {
        format!("AMR-{i:03}")
    }

    /// The complete site file, the AMRs on the MQTT broker `broker` (`HOST:PORT`).
    pub fn site_toml(&self, broker: &str) -> String {
        let mut t = String::new();
        let (a, r, s, n) = (self.aisles, self.racks, self.stations, self.amrs);
        let _ = writeln!(
            t,
            "# A generated rack warehouse: {a} aisles of {r} racks, {s} pick stations, {n} AMRs\n\
             # (floorgate-sim site grid --aisles {a} --racks {r} --stations {s} --amrs {n}).\n\
             # Validate with `floorgate check-config FILE`; the profiles are in profiles_dir.\n\n\
             [site]\nname = \"grid-{a}x{r}\"\n\n\
             [gateway]\ngrpc_listen = \"127.0.0.1:50051\"\ngrpc_plaintext = true\n\
             admin_listen = \"127.0.0.1:9464\"\ndata_dir = \"floorgate-data\"\n\
             profiles_dir = {:?}\n\n\
             [gateway.mqtt]\nbroker = {broker:?}\nmqtt_plaintext = true\n",
            self.profiles_dir
        );
        t.push_str("# --- devices ---\n\n");
        for i in 0..n {
            let _ = writeln!(
                t,
                "[[devices]]\nid = \"amr-{}\"\nkind = \"amr\"\nprofile = \"amr-vda5050\"\naddress = \"{MANUFACTURER}/{}\"\n",
                i + 1,
                Self::serial(i)
            );
        }
        t.push_str("# --- locations: a storage location per rack bay, the stations ---\n\n");
        for aisle in 1..=a {
            for rack in 1..=r {
                let _ = writeln!(
                    t,
                    "[[locations]]\nid = \"RACK-{aisle:02}-{rack:02}\"\nkind = \"storage\"\nzone = \"racks\"\nnode = \"R{aisle:02}-{rack:02}\"\n"
                );
            }
        }
        for st in 1..=s {
            let _ = writeln!(
                t,
                "[[locations]]\nid = \"STATION-{st}\"\nkind = \"station\"\nzone = \"stations\"\nnode = \"ST-{st}\"\nstation_type = \"pick-station\"\n"
            );
        }
        t.push_str(
            "# --- routes: an AMR carries a tote from a rack to a station, and back ---\n\n\
             [[routes]]\nid = \"rack-to-station\"\nkind = \"pick\"\nfrom_zone = \"racks\"\nto_zone = \"stations\"\n\
             steps = [\n  { device_kind = \"amr\", command = \"transport\", from = \"$source\", to = \"$destination\" },\n]\n\n\
             [[routes]]\nid = \"station-to-rack\"\nkind = \"put\"\nfrom_zone = \"stations\"\nto_zone = \"racks\"\n\
             steps = [\n  { device_kind = \"amr\", command = \"transport\", from = \"$source\", to = \"$destination\" },\n]\n\n",
        );
        let g = self.layout();
        let _ = writeln!(
            t,
            "# --- AMR layout: {} nodes, {} edges (metres) ---\n\n[layout]\nnodes = [",
            g.nodes.len(),
            g.edges.len()
        );
        for node in &g.nodes {
            let mut flags = String::new();
            if node.parking {
                flags.push_str(", parking = true");
            }
            if node.waiting {
                flags.push_str(", waiting = true");
            }
            let _ = writeln!(
                t,
                "  {{ id = \"{}\", x = {:.1}, y = {:.1}{flags} }},",
                node.id, node.x, node.y
            );
        }
        t.push_str("]\nedges = [\n");
        for e in &g.edges {
            let mut flags = String::new();
            if !e.bidirectional {
                flags.push_str(", bidirectional = false");
            }
            if e.two_way_wide {
                flags.push_str(", two_way_wide = true");
            }
            let _ = writeln!(
                t,
                "  {{ from = \"{}\", to = \"{}\"{flags} }},",
                e.from, e.to
            );
        }
        t.push_str("]\n");
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;
    use std::path::Path;

    fn reachable<'a>(succ: &BTreeMap<&'a str, Vec<&'a str>>, from: &'a str) -> BTreeSet<&'a str> {
        let mut seen = BTreeSet::from([from]);
        let mut todo = vec![from];
        while let Some(n) = todo.pop() {
            for m in &succ[n] {
                if seen.insert(m) {
                    todo.push(m);
                }
            }
        }
        seen
    }

    /// Every node reaches every other: all reach one node, and it reaches all.
    fn strongly_connected(g: &GridLayout) -> bool {
        let succ = g.successors();
        let mut pred: BTreeMap<&str, Vec<&str>> = succ.keys().map(|k| (*k, vec![])).collect();
        for (from, tos) in &succ {
            for to in tos {
                pred.get_mut(to).expect("a node").push(from);
            }
        }
        let root = g.nodes[0].id.as_str();
        reachable(&succ, root).len() == g.nodes.len()
            && reachable(&pred, root).len() == g.nodes.len()
    }

    #[test]
    fn every_size_is_strongly_connected_with_one_way_aisles_and_parking_for_every_robot() {
        for (a, r, s, n) in [
            (1, 3, 1, 1),
            (2, 5, 2, 3),
            (4, 13, 3, 12),
            (10, 20, 6, 8),
            (3, 30, 8, 40),
        ] {
            let spec = GridSpec::new(a, r, s, n).unwrap();
            let g = spec.layout();
            assert!(strongly_connected(&g), "{spec:?}");
            let ids: BTreeSet<&str> = g.nodes.iter().map(|n| n.id.as_str()).collect();
            assert_eq!(ids.len(), g.nodes.len(), "unique ids");
            assert!(g.nodes.iter().filter(|n| n.parking).count() >= n);
            assert_eq!(
                g.nodes.iter().filter(|n| n.waiting).count(),
                s * STATION_QUEUE
            );
            assert_eq!(r > MIDDLE_CROSS_AISLE_ABOVE, ids.contains("XM-00"));
            if a > 1 {
                assert!(g
                    .edges
                    .iter()
                    .any(|e| !e.bidirectional && e.from.starts_with('A')));
            }
            for e in &g.edges {
                assert!(ids.contains(e.from.as_str()) && ids.contains(e.to.as_str()));
            }
        }
    }

    #[test]
    fn neighbouring_aisles_run_opposite_ways() {
        let g = GridSpec::new(2, 2, 1, 1).unwrap().layout();
        let has = |from: &str, to: &str| {
            g.edges
                .iter()
                .any(|e| e.from == from && e.to == to && !e.bidirectional)
        };
        assert!(has("XB-00", "XBL-00") && has("XBL-00", "A01-01") && has("A01-01", "A01-02"));
        assert!(has("A01-02", "XT-00") && has("XT-00", "XTL-00"));
        assert!(has("XTL-02", "XT-02") && has("XT-02", "A02-02") && has("A02-02", "A02-01"));
        assert!(has("A02-01", "XBL-02") && has("XBL-02", "XB-02"));
    }

    #[test]
    fn stations_are_spread_along_the_whole_front_without_sharing_a_row_node() {
        for (a, s) in [(1, 1), (10, 6), (10, 1), (3, 8), (4, 3)] {
            let spec = GridSpec::new(a, 3, s, 1).unwrap();
            let entries = spec.station_entries();
            let row = spec.bottom_span();
            assert!(entries.iter().all(|&e| e >= 1 && e <= row), "{entries:?}");
            // Each station takes its entry and the node before: no two share one.
            assert!(entries.windows(2).all(|w| w[1] >= w[0] + 2), "{entries:?}");
            if s > 1 {
                let spread = entries[s - 1] - entries[0];
                assert!(2 * spread >= row, "{a} aisles, {s} stations: {entries:?}");
            }
        }
    }

    #[test]
    fn cross_aisles_are_two_one_way_rows_and_only_spurs_are_two_way() {
        let g = GridSpec::new(4, 14, 3, 6).unwrap().layout();
        let has = |from: &str, to: &str| g.edges.iter().any(|e| e.from == from && e.to == to);
        for x in ["XB", "XM", "XT"] {
            let upper = format!("{x}L");
            // The lower row runs towards the first aisle, the upper away from it, and
            // the upper turns into the lower past the far end.
            assert!(has(&cross(x, 1), &cross(x, 0)) && !has(&cross(x, 0), &cross(x, 1)));
            assert!(has(&cross(&upper, 0), &cross(&upper, 1)));
            assert!(!has(&cross(&upper, 1), &cross(&upper, 0)));
        }
        assert!(has("XBL-07", "XB-07") && has("XTL-07", "XT-07"));
        for e in g.edges.iter().filter(|e| e.bidirectional || e.two_way_wide) {
            let spur = |id: &str| id.starts_with('R') || id.starts_with("P-");
            assert!(spur(&e.from) || spur(&e.to), "two-way edge {e:?}");
        }
        // Stations hang off the lower row of the bottom cross aisle, one way round, their
        // queues of waiting nodes off the row.
        let path = ["XB-02", "Q-1-1", "Q-1-2", "W-1", "ST-1", "E-1", "XB-01"];
        assert!(path.windows(2).all(|p| has(p[0], p[1]) && !has(p[1], p[0])));
        let waiting = |id: &str| g.nodes.iter().any(|n| n.id == id && n.waiting);
        assert!(path[1..4].iter().all(|id| waiting(id)) && !waiting("ST-1") && !waiting("E-1"));
    }

    #[test]
    fn the_site_file_is_read_by_the_simulators_with_the_robots_on_parking_nodes() {
        let spec = GridSpec::new(4, 6, 2, 3).unwrap();
        let site =
            super::super::Site::parse(Path::new("/x/grid.toml"), &spec.site_toml("127.0.0.1:1883"))
                .unwrap();
        assert_eq!(site.devices("amr").count(), 3);
        assert_eq!(site.file.locations.len(), 4 * 6 + 2);
        let places = super::super::place::amrs(&site).unwrap();
        let starts: Vec<_> = places.iter().map(|p| p.start.clone().unwrap()).collect();
        assert_eq!(starts, spec.start_nodes());
        assert_eq!(places[0].serial, "AMR-000");
        assert_eq!(spec.rack_locations()[0], "RACK-01-01");
        assert_eq!(spec.station_locations(), vec!["STATION-1", "STATION-2"]);
    }

    #[test]
    fn sizes_out_of_range_are_refused() {
        assert_eq!(GridSpec::new(0, 5, 1, 1).unwrap_err().field, "aisles");
        assert!(GridSpec::new(4, 5, 1, 0).is_err());
    }
}
