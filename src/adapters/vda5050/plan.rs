//! From a `transport` command to an order: the route on the layout from where the robot
//! stands through the pickup node to the drop node, a pick and a drop with their parameters,
//! and the ids that make a re-send after a restart the same order.
//!
//! The order id is `{command_id}@{start node}`. The command id is stable across restarts;
//! the start node makes the plan rebuildable: after a restart the robot's `state` names the
//! order it holds, and [`start_of`] gives back the node the route was planned from, so the
//! same route, sequence ids and action ids come out again (shortest paths on the same layout
//! are deterministic). Action ids are `{command_id}/pick` and `{command_id}/drop`, and the
//! `cancelOrder` that stops the command is `{command_id}/cancel` ([`cancel_id`]), so after a
//! restart the robot's `state` still says what became of each of them.

use crate::engine::adapter::DeviceCommand;
use crate::vda5050::factsheet::ActionScope;
use crate::vda5050::order::action_types::{DROP, PICK};
use crate::vda5050::{
    Action, AmrProfile, Factsheet, LayoutGraph, LoadHandling, Order, OrderPlan, Route,
};

/// The command the AMR adapter carries out.
pub const TRANSPORT: &str = "transport";

/// A planned transport.
#[derive(Debug, Clone)]
pub struct Transport {
    /// The order and its release state.
    pub plan: OrderPlan,
    /// The pick's `actionId`.
    pub pick_id: String,
    /// The drop's `actionId`.
    pub drop_id: String,
    /// The most nodes one order message may carry (profile and factsheet).
    pub max_order_nodes: Option<usize>,
    /// The pickup and the drop: their layout nodes and actions, in order (a re-routed
    /// order still passes through them).
    pub stops: Vec<(String, Action)>,
}

/// The order id of `command_id` planned from `start`.
pub fn order_id(command_id: &str, start: &str) -> String {
    format!("{command_id}@{start}")
}

/// The start node of an order id built by [`order_id`] for `command_id`, if it is one.
pub fn start_of<'a>(order_id: &'a str, command_id: &str) -> Option<&'a str> {
    order_id.strip_prefix(command_id)?.strip_prefix('@')
}

/// The `actionId` of the pick (`what` = `"pick"`) or the drop (`"drop"`) of `command_id`.
pub fn action_id(command_id: &str, what: &str) -> String {
    format!("{command_id}/{what}")
}

/// The `actionId` of the `cancelOrder` that stops `command_id`: the same in every process.
pub fn cancel_id(command_id: &str) -> String {
    action_id(command_id, "cancel")
}

/// Whether the profile and, when the robot sent one, its factsheet allow a pick and a drop
/// on nodes. The error says what is missing.
pub fn check_capabilities(
    profile: &AmrProfile,
    factsheet: Option<&Factsheet>,
) -> Result<(), String> {
    for action in [PICK, DROP] {
        if !profile.supports(action) {
            return Err(format!(
                "profile {} does not list the `{action}` action",
                profile.model
            ));
        }
        if let Some(f) = factsheet {
            if !f.supports_action(action, ActionScope::Node) {
                return Err(format!(
                    "the robot's factsheet does not declare the `{action}` action on nodes"
                ));
            }
        }
    }
    Ok(())
}

/// Plans `c` for a robot standing on `start`.
pub fn plan_transport(
    c: &DeviceCommand,
    start: &str,
    layout: &LayoutGraph,
    profile: &AmrProfile,
    factsheet: Option<&Factsheet>,
) -> Result<Transport, String> {
    if c.command != TRANSPORT {
        return Err(format!(
            "AMRs carry out `{TRANSPORT}` commands, not `{}`",
            c.command
        ));
    }
    check_capabilities(profile, factsheet)?;
    let node = |e: &crate::engine::adapter::Endpoint, which: &str| {
        e.node.clone().ok_or_else(|| {
            format!(
                "location {:?} ({which}) has no layout node in the site file",
                e.location
            )
        })
    };
    let (pickup, drop) = (node(&c.from, "from")?, node(&c.to, "to")?);
    let path = |a: &str, b: &str| {
        layout
            .shortest_path(a, b)
            .map(|(ids, _)| ids)
            .ok_or_else(|| format!("no path on the layout from node {a:?} to node {b:?}"))
    };
    let mut ids = path(start, &pickup)?;
    let pick_at = ids.len() - 1;
    ids.extend(path(&pickup, &drop)?.into_iter().skip(1));
    let drop_at = ids.len() - 1;
    let route = layout
        .route_through(&ids)
        .ok_or_else(|| format!("the layout has no route along {ids:?}"))?;
    let load_id = (!c.load_id.is_empty()).then(|| c.load_id.clone());
    let height = c.params.get("height").and_then(|h| h.parse::<f64>().ok());
    let handling = |suffix: &str, e: &crate::engine::adapter::Endpoint| LoadHandling {
        action_id: action_id(&c.command_id, suffix),
        load_id: load_id.clone(),
        load_type: c
            .params
            .get("load_type")
            .cloned()
            .or_else(|| e.load_type.clone())
            .or_else(|| profile.load_type.clone()),
        station_name: Some(e.location.clone()),
        station_type: e
            .station_type
            .clone()
            .or_else(|| profile.station_type.clone()),
        lhd: profile.lhd.clone(),
        height,
    };
    let pick = handling("pick", &c.from).pick();
    let drop_load = handling("drop", &c.to).drop_load();
    let (pick_id, drop_id) = (pick.action_id.clone(), drop_load.action_id.clone());
    let stops = vec![(pickup, pick.clone()), (drop, drop_load.clone())];
    let max_order_nodes = match (
        profile.max_order_nodes,
        factsheet.and_then(Factsheet::max_order_nodes),
    ) {
        (Some(a), Some(b)) => Some(a.min(b as usize)),
        (a, b) => a.or(b.map(|b| b as usize)),
    };
    let max_base = profile
        .max_base_nodes
        .min(max_order_nodes.unwrap_or(usize::MAX))
        .max(2);
    let plan = OrderPlan::new(
        &order_id(&c.command_id, start),
        route,
        vec![(pick_at, pick), (drop_at, drop_load)],
        max_base,
    )
    .map_err(|e| e.to_string())?;
    Ok(Transport {
        plan,
        pick_id,
        drop_id,
        max_order_nodes,
        stops,
    })
}

/// The route from `from` through the `stops` (each reached by `leg`, which gives the node
/// ids of a path between two nodes), with the stops' actions at their route indices.
pub fn route_via(
    layout: &LayoutGraph,
    from: &str,
    stops: &[(String, Action)],
    mut leg: impl FnMut(&str, &str) -> Option<Vec<String>>,
) -> Option<(Route, Vec<(usize, Action)>)> {
    let mut ids = vec![from.to_string()];
    let mut actions = Vec::new();
    for (node, action) in stops {
        let here = ids.last().expect("never empty").clone();
        if &here != node {
            ids.extend(leg(&here, node)?.into_iter().skip(1));
        }
        actions.push((ids.len() - 1, action.clone()));
    }
    Some((layout.route_through(&ids)?, actions))
}

/// Cuts the horizon of `order` to `max` nodes (the base is never longer than that).
pub fn limit_nodes(order: &mut Order, max: Option<usize>) {
    if let Some(max) = max.filter(|m| *m >= 1) {
        order.nodes.truncate(max);
        order.edges.truncate(max - 1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::adapter::Endpoint;
    use crate::engine::model::DeviceKind;
    use crate::vda5050::layout::{LayoutConfig, LayoutEdge, LayoutNode};
    use crate::vda5050::{validate_order, HeaderFactory, ProtocolVersion, TopicKind};

    fn line(n: usize) -> LayoutGraph {
        LayoutGraph::new(LayoutConfig {
            map_id: "map".into(),
            nodes: (0..n)
                .map(|i| LayoutNode {
                    id: format!("N{i}"),
                    x: i as f64,
                    y: 0.0,
                    theta: None,
                    map_id: None,
                    parking: false,
                    waiting: false,
                })
                .collect(),
            edges: (1..n)
                .map(|i| LayoutEdge {
                    id: None,
                    from: format!("N{}", i - 1),
                    to: format!("N{i}"),
                    length: None,
                    bidirectional: true,
                    max_speed: None,
                    two_way_wide: false,
                })
                .collect(),
            blocks: Vec::new(),
            zones: Vec::new(),
        })
        .unwrap()
    }

    fn profile() -> AmrProfile {
        AmrProfile::from_toml(
            "model='m'\nmanufacturer='acme'\nprotocol_version='2.1'\nsupported_actions=['pick','drop']\nspeed=1.0\nmax_base_nodes=3\nstation_type='rack'\nlhd='LHD1'\n",
            "test",
        )
        .unwrap()
    }

    fn command(from: &str, to: &str) -> DeviceCommand {
        let ep = |loc: &str, node: &str| Endpoint {
            location: loc.into(),
            node: Some(node.into()),
            station_type: None,
            load_type: None,
            plc_address: None,
        };
        DeviceCommand {
            command_id: "T1#0".into(),
            sequence: 7,
            stop_sequence: 0,
            device_id: "amr-1".into(),
            device_kind: DeviceKind::Amr,
            command: TRANSPORT.into(),
            from: ep("BUF-07", from),
            to: ep("PICK-1", to),
            load_id: "TOTE-1".into(),
            params: Default::default(),
        }
    }

    #[test]
    fn the_route_runs_from_the_robot_through_the_pickup_to_the_drop() {
        let t = plan_transport(&command("N2", "N5"), "N0", &line(6), &profile(), None).unwrap();
        let route: Vec<_> = t
            .plan
            .route()
            .nodes
            .iter()
            .map(|n| n.node_id.as_str())
            .collect();
        assert_eq!(route, ["N0", "N1", "N2", "N3", "N4", "N5"]);
        assert_eq!(t.plan.order_id(), "T1#0@N0");
        assert_eq!(start_of(t.plan.order_id(), "T1#0"), Some("N0"));
        assert_eq!(start_of(t.plan.order_id(), "T1#1"), None);
        let o = t
            .plan
            .message(HeaderFactory::new(ProtocolVersion::V2_1, "acme", "r").next(TopicKind::Order));
        validate_order(&o).unwrap();
        let pick = &o.nodes[2].actions[0];
        assert_eq!(
            (pick.action_type.as_str(), pick.action_id.as_str()),
            ("pick", "T1#0/pick")
        );
        assert_eq!(pick.param_str("loadId"), Some("TOTE-1"));
        assert_eq!(pick.param_str("stationName"), Some("BUF-07"));
        assert_eq!(pick.param_str("stationType"), Some("rack"));
        assert_eq!(pick.param_str("lhd"), Some("LHD1"));
        assert_eq!(o.nodes[5].actions[0].action_type, "drop");
        assert_eq!(o.nodes.iter().filter(|n| n.released).count(), 3);
    }

    #[test]
    fn the_load_type_comes_from_the_task_else_the_location_else_the_profile() {
        let load_type_at = |profile: &AmrProfile, task: Option<&str>, drop_at: Option<&str>| {
            let mut c = command("N2", "N5");
            if let Some(t) = task {
                c.params.insert("load_type".into(), t.into());
            }
            c.to.load_type = drop_at.map(String::from);
            let t = plan_transport(&c, "N0", &line(6), profile, None).unwrap();
            let acts = [t.plan.actions_at(2), t.plan.actions_at(5)];
            let types: Vec<Option<String>> = acts
                .iter()
                .map(|a| a[0].param_str("loadType").map(String::from))
                .collect();
            types
        };
        let load_type = |p: &AmrProfile, task: Option<&str>| load_type_at(p, task, None);
        let mut p = profile();
        assert_eq!(load_type(&p, None), [None, None]);
        p.load_type = Some("tote".into());
        let tote = Some("tote".to_string());
        assert_eq!(load_type(&p, None), [tote.clone(), tote.clone()]);
        let pallet = Some("pallet".to_string());
        assert_eq!(
            load_type(&p, Some("pallet")),
            [pallet.clone(), pallet.clone()]
        );
        // The drop location's own loadType beats the profile's, not the task's.
        let bin = Some("bin".to_string());
        assert_eq!(load_type_at(&p, None, Some("bin")), [tote.clone(), bin]);
        assert_eq!(
            load_type_at(&p, Some("pallet"), Some("bin")),
            [pallet.clone(), pallet]
        );
    }

    #[test]
    fn picking_where_the_robot_stands_puts_the_pick_on_the_first_node() {
        let t = plan_transport(&command("N0", "N0"), "N0", &line(2), &profile(), None).unwrap();
        let o = t
            .plan
            .message(HeaderFactory::new(ProtocolVersion::V2_1, "acme", "r").next(TopicKind::Order));
        let types: Vec<_> = o.nodes[0]
            .actions
            .iter()
            .map(|a| a.action_type.as_str())
            .collect();
        assert_eq!(types, ["pick", "drop"]);
    }

    #[test]
    fn a_command_that_cannot_be_planned_says_why() {
        let mut c = command("N2", "N9");
        assert!(plan_transport(&c, "N0", &line(3), &profile(), None)
            .unwrap_err()
            .contains("N9"));
        c.to.node = None;
        assert!(plan_transport(&c, "N0", &line(3), &profile(), None)
            .unwrap_err()
            .contains("PICK-1"));
        c.command = "lift".into();
        assert!(plan_transport(&c, "N0", &line(3), &profile(), None).is_err());
    }

    #[test]
    fn a_long_horizon_is_cut_to_the_order_node_limit() {
        let mut p = profile();
        p.max_order_nodes = Some(4);
        let t = plan_transport(&command("N1", "N7"), "N0", &line(8), &p, None).unwrap();
        let mut o = t
            .plan
            .message(HeaderFactory::new(ProtocolVersion::V2_1, "acme", "r").next(TopicKind::Order));
        limit_nodes(&mut o, t.max_order_nodes);
        assert_eq!((o.nodes.len(), o.edges.len()), (4, 3));
        validate_order(&o).unwrap();
    }
}
