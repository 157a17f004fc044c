//! The generated rack warehouse (`floorgate-sim site grid`) is a site file the gateway
//! accepts as it is: every size loads in the site-file loader, every layout node reaches
//! every other along the directed edges, every location's node is on the layout, and there
//! is a parking node for every AMR.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use floorgate_sim::site::grid::{GridSpec, STATION_QUEUE};

/// Loads `text` as if it were a file in `devices/`, next to the AMR profile.
fn load(text: &str) -> floorgate::config::LoadedConfig {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("devices/grid-generated.toml");
    floorgate::config::load_str(&path, text, &|_| None)
        .unwrap_or_else(|e| panic!("the generated site does not load:\n{e}"))
}

fn reachable(succ: &BTreeMap<String, Vec<String>>, from: &str) -> usize {
    let mut seen = BTreeSet::from([from.to_string()]);
    let mut todo = vec![from.to_string()];
    while let Some(n) = todo.pop() {
        for m in succ.get(&n).into_iter().flatten() {
            if seen.insert(m.clone()) {
                todo.push(m.clone());
            }
        }
    }
    seen.len()
}

#[test]
fn generated_sites_of_several_sizes_load_and_are_strongly_connected_with_parking_for_every_robot() {
    for (aisles, racks, stations, amrs) in
        [(4, 5, 1, 2), (5, 12, 2, 6), (7, 13, 4, 10), (10, 20, 6, 12)]
    {
        let spec = GridSpec::new(aisles, racks, stations, amrs).unwrap();
        let cfg = load(&spec.site_toml("127.0.0.1:1883"));
        let layout = cfg.file.layout.as_ref().expect("a layout").get_ref();
        let nodes: BTreeSet<&str> = layout.nodes.iter().map(|n| n.id.as_str()).collect();

        // Directed reachability, both ways from one node: strongly connected.
        let mut succ: BTreeMap<String, Vec<String>> = BTreeMap::new();
        let mut pred: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for e in &layout.edges {
            let mut add = |a: &str, b: &str| {
                succ.entry(a.into()).or_default().push(b.into());
                pred.entry(b.into()).or_default().push(a.into());
            };
            add(&e.from, &e.to);
            if e.bidirectional {
                add(&e.to, &e.from);
            }
        }
        let root = layout.nodes[0].id.as_str();
        assert_eq!(reachable(&succ, root), nodes.len(), "{spec:?}: from {root}");
        assert_eq!(reachable(&pred, root), nodes.len(), "{spec:?}: to {root}");
        assert!(
            layout.edges.iter().any(|e| !e.bidirectional),
            "one-way aisles"
        );
        // Cross aisles are two one-way rows: only the bay and parking spurs are two-way.
        for e in layout.edges.iter().filter(|e| e.bidirectional) {
            let spur = |id: &str| id.starts_with('R') || id.starts_with("P-");
            assert!(spur(&e.from) || spur(&e.to), "{spec:?}: two-way {e:?}");
        }
        assert!(
            nodes.contains("XBL-00") && nodes.contains("XTL-00"),
            "upper rows"
        );
        // Each station's queue is waiting nodes, and nothing else is.
        assert_eq!(
            layout.nodes.iter().filter(|n| n.waiting).count(),
            stations * STATION_QUEUE
        );

        // Every location's node is on the layout; the helpers name the locations.
        for l in &cfg.site.locations {
            let node = l.node.as_deref().expect("every location has a node");
            assert!(nodes.contains(node), "{}: node {node}", l.id);
        }
        let ids: BTreeSet<&str> = cfg.site.locations.iter().map(|l| l.id.as_str()).collect();
        assert_eq!(ids.len(), aisles * racks + stations);
        for l in spec
            .rack_locations()
            .iter()
            .chain(&spec.station_locations())
        {
            assert!(ids.contains(l.as_str()), "{l}");
        }

        // A parking node for every robot, the robots' start nodes among them.
        let parking: BTreeSet<&str> = layout
            .nodes
            .iter()
            .filter(|n| n.parking)
            .map(|n| n.id.as_str())
            .collect();
        assert!(parking.len() >= amrs);
        for (id, _, _) in spec.start_nodes() {
            assert!(parking.contains(id.as_str()), "{id}");
        }
        assert_eq!(cfg.site.devices.len(), amrs);
    }
}

#[test]
fn the_largest_demo_size_has_over_four_hundred_nodes() {
    let spec = GridSpec::new(10, 20, 6, 8).unwrap();
    let cfg = load(&spec.site_toml("127.0.0.1:1883"));
    let n = cfg.file.layout.as_ref().unwrap().get_ref().nodes.len();
    assert!(n >= 400, "{n} nodes");
}
