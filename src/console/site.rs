//! `/console/site`: what the map is drawn from, made once when the console opens.
//!
//! ```json
//! {"name":"demo","actions":false,
//!  "layout":{"map_id":"map","nodes":[{"id":"N1","x":0.0,"y":0.0,"parking":false,"waiting":false}],
//!            "edges":[{"from":"N1","to":"N2","bidirectional":true,"two_way_wide":false}],
//!            "blocks":[{"id":"X","capacity":1,"nodes":["N5"],"edges":[]}]},
//!  "locations":[{"id":"BUF-","prefix":true,"kind":"buffer","zone":"floor","node":"N2"}],
//!  "zones":["floor","stations"],
//!  "devices":[{"id":"amr-1","kind":"amr","profile":"amr-vda5050"}]}
//! ```
//!
//! Devices are listed without their addresses: a URL may carry credentials, and the console
//! shows no secret.

use std::collections::BTreeSet;

use serde::Serialize;

use crate::config::LoadedConfig;
use crate::engine::site::LocationKind;

#[derive(Debug, Serialize)]
struct SiteView<'a> {
    name: &'a str,
    /// Operator actions are on (an admin token is set).
    actions: bool,
    layout: Option<Layout<'a>>,
    locations: Vec<Location<'a>>,
    zones: BTreeSet<&'a str>,
    devices: Vec<Device<'a>>,
}

#[derive(Debug, Serialize)]
struct Layout<'a> {
    map_id: &'a str,
    nodes: Vec<Node<'a>>,
    edges: Vec<Edge<'a>>,
    blocks: Vec<Block<'a>>,
}

#[derive(Debug, Serialize)]
struct Node<'a> {
    id: &'a str,
    x: f64,
    y: f64,
    parking: bool,
    waiting: bool,
}

#[derive(Debug, Serialize)]
struct Edge<'a> {
    from: &'a str,
    to: &'a str,
    bidirectional: bool,
    two_way_wide: bool,
}

#[derive(Debug, Serialize)]
struct Block<'a> {
    id: &'a str,
    capacity: u32,
    nodes: Vec<&'a str>,
    edges: Vec<[&'a str; 2]>,
}

#[derive(Debug, Serialize)]
struct Location<'a> {
    id: &'a str,
    /// `id` is a prefix (a storage area of many bins).
    prefix: bool,
    kind: &'static str,
    zone: &'a str,
    node: Option<&'a str>,
}

#[derive(Debug, Serialize)]
struct Device<'a> {
    id: &'a str,
    kind: &'static str,
    profile: &'a str,
}

/// The JSON of `/console/site`.
pub(super) fn site_json(cfg: &LoadedConfig, actions: bool) -> String {
    let site = &cfg.site;
    let layout = cfg.file.layout.as_ref().map(|l| {
        let l = l.get_ref();
        Layout {
            map_id: &l.map_id,
            nodes: l
                .nodes
                .iter()
                .map(|n| Node {
                    id: n.id.as_str(),
                    x: n.x,
                    y: n.y,
                    parking: n.parking,
                    waiting: n.waiting,
                })
                .collect(),
            edges: l
                .edges
                .iter()
                .map(|e| Edge {
                    from: e.from.as_str(),
                    to: e.to.as_str(),
                    bidirectional: e.bidirectional,
                    two_way_wide: e.two_way_wide,
                })
                .collect(),
            blocks: l
                .blocks
                .iter()
                .map(|b| Block {
                    id: &b.id,
                    capacity: b.capacity,
                    nodes: b.nodes.iter().map(|n| n.as_str()).collect(),
                    edges: b
                        .edges
                        .iter()
                        .map(|[a, b]| [a.as_str(), b.as_str()])
                        .collect(),
                })
                .collect(),
        }
    });
    let view = SiteView {
        name: &site.name,
        actions,
        layout,
        locations: site
            .locations
            .iter()
            .map(|l| Location {
                id: &l.id,
                prefix: l.is_prefix,
                kind: match l.kind {
                    LocationKind::Storage => "storage",
                    LocationKind::Station => "station",
                    LocationKind::Port => "port",
                    LocationKind::Buffer => "buffer",
                },
                zone: &l.zone,
                node: l.node.as_deref(),
            })
            .collect(),
        zones: site.locations.iter().map(|l| l.zone.as_str()).collect(),
        devices: site
            .devices
            .values()
            .map(|d| Device {
                id: &d.id,
                kind: d.kind.as_str(),
                profile: &d.profile,
            })
            .collect(),
    };
    serde_json::to_string(&view).unwrap_or_else(|_| "{}".into())
}
