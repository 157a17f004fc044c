//! Where the simulated devices of a site stand and how they meet, decided from the site
//! file alone (no IO):
//!
//! * **AMR start nodes.** The layout's parking nodes first (`parking = true` or
//!   `kind = "parking"`), in file order; then nodes no location names (so an idle robot
//!   does not stand on a station or a conveyor end), then the rest, each group spread
//!   evenly over its nodes. Every robot gets a node of its own; a site with more robots
//!   than nodes is refused.
//! * **AS/RS ports and bins.** A port location whose `station_type` a route's `retrieve`
//!   delivers to is an output port, one a `store` takes from an input port (without such
//!   routes: names starting with `OUT` / `IN`). A port with a `plc_address` is where the
//!   conveyor meets it. Bins: every exact `storage` location, and for a storage area
//!   `PREFIX*` the grid `PREFIX{aisle:02}-{level:02}` (aisles 1–4, levels 1–5). Levels 1–3
//!   hold a tote at start, `TOTE-1{aisle:02}{level:02}` (bin `ASRS1-03-02` holds
//!   `TOTE-10302`), levels 4–5 are free for puts.
//! * **AMR ↔ conveyor.** A location with both a `node` and a `plc_address` is a conveyor
//!   place an AMR serves: a load dropped there appears on the conveyor, a load picked
//!   there leaves it.

use std::collections::BTreeSet;

use super::file::{Node, Site, SiteError};

/// The AMR of a site file.
#[derive(Debug, Clone, PartialEq)]
pub struct AmrPlace {
    /// The device id.
    pub device_id: String,
    /// `manufacturer`; the profile's when the address names none.
    pub manufacturer: Option<String>,
    /// `serialNumber`.
    pub serial: String,
    /// The profile name.
    pub profile: String,
    /// Start node id and position.
    pub start: Option<(String, f64, f64)>,
}

/// The AS/RS side of a site: ports, bins, stock, and where the conveyor meets it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AsrsPlan {
    /// Input port names.
    pub inputs: Vec<String>,
    /// Output port names.
    pub outputs: Vec<String>,
    /// Every bin.
    pub bins: BTreeSet<String>,
    /// Bins holding a tote at start, with its id.
    pub stock: Vec<(String, String)>,
    /// Output port → conveyor location below it.
    pub output_links: Vec<(String, u16)>,
    /// Conveyor location → input port it feeds.
    pub input_links: Vec<(u16, String)>,
}

/// Start nodes for `n` robots (see the module note).
pub fn start_nodes(nodes: &[Node], taken: &BTreeSet<String>, n: usize) -> Option<Vec<Node>> {
    if n > nodes.len() {
        return None;
    }
    let parking: Vec<&Node> = nodes.iter().filter(|x| x.is_parking()).collect();
    let free: Vec<&Node> = nodes
        .iter()
        .filter(|x| !x.is_parking() && !taken.contains(&x.id))
        .collect();
    let rest: Vec<&Node> = nodes
        .iter()
        .filter(|x| !x.is_parking() && taken.contains(&x.id))
        .collect();
    let mut out: Vec<Node> = Vec::with_capacity(n);
    for group in [parking, free, rest] {
        let want = n - out.len();
        if want == 0 {
            break;
        }
        let k = want.min(group.len());
        out.extend((0..k).map(|i| group[i * group.len() / k].clone()));
    }
    Some(out)
}

/// The AMRs of `site`, each on its start node.
pub fn amrs(site: &Site) -> Result<Vec<AmrPlace>, SiteError> {
    let devices: Vec<_> = site.devices("amr").collect();
    let nodes = site
        .file
        .layout
        .as_ref()
        .map(|l| l.nodes.clone())
        .unwrap_or_default();
    let taken: BTreeSet<String> = site
        .file
        .locations
        .iter()
        .filter_map(|l| l.node.clone())
        .collect();
    let starts = if nodes.is_empty() {
        Vec::new()
    } else {
        start_nodes(&nodes, &taken, devices.len()).ok_or_else(|| {
            site.invalid(format!(
                "{} AMRs and only {} layout nodes: each robot needs a node of its own",
                devices.len(),
                nodes.len()
            ))
        })?
    };
    devices
        .iter()
        .enumerate()
        .map(|(i, d)| {
            let (manufacturer, serial) = match d.address.split_once('/') {
                Some((m, s)) => (Some(m.to_string()), s.to_string()),
                None => (None, d.address.clone()),
            };
            if serial.is_empty() {
                return Err(
                    site.invalid(format!("device {}: no serial number in its address", d.id))
                );
            }
            Ok(AmrPlace {
                device_id: d.id.clone(),
                manufacturer,
                serial,
                profile: d.profile.clone(),
                start: starts.get(i).map(|n| (n.id.clone(), n.x, n.y)),
            })
        })
        .collect()
}

/// Conveyor places an AMR serves: (layout node, conveyor location).
pub fn amr_conveyor_places(site: &Site) -> Vec<(String, u16)> {
    site.file
        .locations
        .iter()
        .filter_map(|l| Some((l.node.clone()?, l.plc_address?)))
        .collect()
}

/// The AS/RS side of `site` (see the module note).
pub fn asrs(site: &Site) -> AsrsPlan {
    let locations = &site.file.locations;
    let port_of = |id: &str| {
        locations
            .iter()
            .find(|l| l.id == id)
            .and_then(|l| l.station_type.clone())
    };
    let mut outputs = BTreeSet::new();
    let mut inputs = BTreeSet::new();
    for s in site.file.routes.iter().flat_map(|r| &r.steps) {
        match s.command.as_str() {
            "retrieve" => outputs.extend(port_of(&s.to)),
            "store" => inputs.extend(port_of(&s.from)),
            _ => {}
        }
    }
    if outputs.is_empty() && inputs.is_empty() {
        for l in locations.iter().filter(|l| l.kind == "port") {
            match l.station_type.as_deref() {
                Some(p) if p.starts_with("OUT") => {
                    outputs.insert(p.to_string());
                }
                Some(p) if p.starts_with("IN") && !p.starts_with("INFEED") => {
                    inputs.insert(p.to_string());
                }
                _ => {}
            }
        }
    }
    let mut plan = AsrsPlan {
        inputs: inputs.iter().cloned().collect(),
        outputs: outputs.iter().cloned().collect(),
        ..AsrsPlan::default()
    };
    for l in locations {
        let (Some(port), Some(at)) = (&l.station_type, l.plc_address) else {
            continue;
        };
        if outputs.contains(port) {
            plan.output_links.push((port.clone(), at));
        }
        if inputs.contains(port) {
            plan.input_links.push((at, port.clone()));
        }
    }
    for l in locations.iter().filter(|l| l.kind == "storage") {
        match l.id.strip_suffix('*') {
            Some(prefix) => {
                for aisle in 1..=4u32 {
                    for level in 1..=5u32 {
                        let bin = format!("{prefix}{aisle:02}-{level:02}");
                        if level <= 3 {
                            plan.stock
                                .push((bin.clone(), format!("TOTE-1{aisle:02}{level:02}")));
                        }
                        plan.bins.insert(bin);
                    }
                }
            }
            None => {
                plan.bins.insert(l.id.clone());
            }
        }
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn demo() -> Site {
        Site::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../devices/site-demo.toml"))
            .unwrap()
    }

    fn node(id: &str, parking: bool) -> Node {
        Node {
            id: id.into(),
            parking,
            ..Node::default()
        }
    }

    #[test]
    fn the_demo_robots_stand_on_distinct_nodes_no_location_names() {
        let places = amrs(&demo()).unwrap();
        let starts: Vec<_> = places
            .iter()
            .map(|p| p.start.as_ref().unwrap().0.clone())
            .collect();
        assert_eq!(starts, vec!["N4", "N5", "N7"]);
        assert_eq!(places[0].serial, "AMR-0001");
        assert_eq!(places[0].manufacturer.as_deref(), Some("acme"));
    }

    #[test]
    fn parking_nodes_come_first_and_every_robot_gets_its_own_node() {
        let nodes: Vec<Node> = ["A", "B", "C", "D", "E", "F"]
            .iter()
            .map(|id| node(id, *id == "E"))
            .collect();
        let taken = BTreeSet::from(["A".to_string()]);
        let ids = |n| -> Vec<String> {
            start_nodes(&nodes, &taken, n)
                .unwrap()
                .into_iter()
                .map(|n| n.id)
                .collect()
        };
        assert_eq!(ids(1), vec!["E"]);
        assert_eq!(ids(3), vec!["E", "B", "D"]);
        let all = ids(6);
        assert_eq!(all.iter().collect::<BTreeSet<_>>().len(), 6);
        assert!(start_nodes(&nodes, &taken, 7).is_none());
    }

    #[test]
    fn the_demo_asrs_has_its_ports_on_the_conveyor_and_stocked_bins() {
        let plan = asrs(&demo());
        assert_eq!(plan.outputs, vec!["OUT-1"]);
        assert_eq!(plan.inputs, vec!["IN-1"]);
        assert_eq!(plan.output_links, vec![("OUT-1".to_string(), 2)]);
        assert_eq!(plan.input_links, vec![(3, "IN-1".to_string())]);
        assert_eq!(plan.bins.len(), 20);
        assert!(plan
            .stock
            .contains(&("ASRS1-03-02".to_string(), "TOTE-10302".to_string())));
        assert_eq!(plan.stock.len(), 12);
        assert_eq!(
            amr_conveyor_places(&demo()),
            vec![("N3".to_string(), 14), ("N2".to_string(), 13)]
        );
    }
}
