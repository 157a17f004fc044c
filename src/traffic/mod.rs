//! Traffic control: which layout resources each AMR may drive through now.
//!
//! VDA 5050 leaves the master control to decide how much of a robot's route
//! goes into its *base* (what it may drive now). This module decides it. It
//! does no IO, knows no topics and no tasks, and reads no clock: like
//! rumqttc's `MqttState` it is fed events ([`Allocator::place`],
//! [`Allocator::set_route`], [`Allocator::passed`], [`Allocator::cleared`],
//! [`Allocator::set_status`], [`Allocator::free`]) and asked questions
//! ([`Allocator::request`], [`Allocator::deadlocks`],
//! [`Allocator::plan_route`], [`Allocator::park_idle`]), with the time
//! passed in. The VDA 5050 adapter turns its answers into order updates.
//!
//! # Resources
//!
//! Nodes, lanes (an edge and its reverse, unless two-way wide) and named
//! blocks of bounded capacity ([`resources`]). A robot holds the nodes and
//! lanes from the last node it passed up to its base end, and a slot in
//! every block those touch; nobody else holds them. Once its state shows it
//! clear of the node it passed last ([`Allocator::cleared`]: its position
//! far enough past it along the lane to the next), that node is freed; the
//! lane it drives in stays held until it reaches the next node.
//!
//! # Deadlock avoidance: short grants with a wait-for guard
//!
//! 1. **Segments.** Grants are segments of a robot's route, all-or-nothing
//!    (every node, lane and block slot of it). By default a segment is one
//!    node ([`Config::max_segment_nodes`] 1): the base grows node by node,
//!    up to [`Config::lookahead_nodes`] ahead, each node checked by the guard
//!    below — except that a segment does not end on a *crossing* (two one-way
//!    ways through the node share no end) another robot's route runs through: it
//!    takes the node beyond with it, so a robot that cannot leave a crossing
//!    waits before it, not on it, and the way across stays open. (Segment ends
//!    move only towards the robot as others' routes shrink, so the guard's
//!    argument below holds for them as for any segment.) With the cap off (0) a route is cut at *stop nodes* — nodes
//!    marked `waiting` or `parking`, nodes on no other robot's remaining
//!    route, and the route's end — so a robot comes to rest only where it is
//!    in nobody's planned way; on a busy floor almost no node is one, a
//!    robot then holds long stretches of aisle, and the fleet moves in single
//!    file (measured in BENCHMARKS.md § 6: 7 % of the steps a free fleet
//!    makes, against 85 % node by node). A robot at its destination with no
//!    new route leaves it when idle ([`Allocator::park_idle`]).
//! 2. **Wait-for guard.** Every robot with route left has a *next request*:
//!    the segment after its base end. Robot R waits for H when H will still
//!    hold a node or lane of R's next request once H has driven its base
//!    (H's base end, or what it kept when halted), or will still fill a
//!    block R needs. What H holds between where it stands and its base end
//!    is freed behind it as it drives, and driving its base needs nothing
//!    from anyone: R is delayed by it, never deadlocked on it (once every
//!    robot has driven its base, the two relations are the same). A grant
//!    is made only if this graph stays acyclic afterwards, and a new route
//!    ([`Allocator::set_route`]) is refused if it would close a cycle. No
//!    other event can close one: passing a node leaves the passer's base end
//!    where it was and shortens its remaining route (which can only turn
//!    more nodes into stop nodes, so others' requests only shrink), and so
//!    does clearing the node behind it, which nobody waits for (it lies
//!    between where the robot is and its base end); `free`
//!    and status changes add no edge; a freshly placed or halted robot may
//!    be waited for but has no request, so no cycle runs through it. So the graph is acyclic at
//!    all times (the property test checks it after every event), and since
//!    a hold-and-wait deadlock is a cycle in it, none can form. Robots that
//!    are offline, faulted or manual keep their requests in the graph, so
//!    their return cannot close a cycle either.
//! 3. **Stalemates.** Refusing a grant that would close a cycle can leave
//!    robots that all refuse each other (two routes that swap places in one
//!    lane), and an idle robot can stand in a way it cannot leave.
//!    [`Allocator::deadlocks`] finds them as cycles among robots at rest
//!    whose next request is refused and idle robots in someone's way (which
//!    wait for whoever holds their way out); [`Allocator::resolve`] sends
//!    the robot with the cheapest detour to a free waiting or parking node
//!    over free resources (or keeps it where it stands, if that is one; any
//!    free node off the others' routes if no such node is in reach), which
//!    removes its request from the cycle.
//!
//! A robot that is offline, faulted or in manual mode keeps what it holds
//! (it may still be standing in the lane) until it reports again or an
//! operator calls [`Allocator::free`]. Robots that wait for it are reported
//! by [`Allocator::due_for_replan`] once blocked longer than
//! [`Config::replan_after`], and [`Allocator::replan`] routes them around.
//!
//! # Zones
//!
//! A zone that needs a release (VDA 5050 3.0 `RELEASE`) is a block of its
//! nodes and lanes, so a 2.x robot whose route crosses it gets a slot with
//! the segment that enters it, as for any block. A 3.0 robot asks before it
//! enters ([`Allocator::claim_block`]): the slot is claimed outright — held
//! whatever the robot's route, until [`Allocator::release_block`] — if the
//! block has room and the claim closes no wait-for cycle (it is checked as a
//! grant is: robots that need the block now wait for the claimant), so both
//! kinds of robot share one picture and the guard's argument above holds;
//! giving a claim back only removes wait-for edges.
//!
//! # Why this method
//!
//! openTCS' scheduler allocates resources per path segment as a vehicle's
//! movement commands go out and leaves freedom from deadlock largely to the
//! plant model (blocks, routing); Open-RMF's traffic schedule holds every
//! participant's itinerary as trajectories in time and negotiates conflicts
//! between fleets. Spatial claims suit VDA 5050, whose robots report where
//! they are, not when they will be somewhere; time windows slip with every
//! safety-field stop and would need re-negotiation at each delay. So this
//! allocator claims space as openTCS does, and adds what openTCS leaves to
//! the model: segments that end where waiting is harmless, and a wait-for
//! check on every grant and route. Like the action dependency graphs of
//! Hönig et al. (2019) it is insensitive to delays — it decides which robot
//! passes a shared resource first, never when — but it decides that order
//! online, grant by grant, instead of taking it from a multi-agent plan.
//!
//! # Cost
//!
//! A request recomputes the wait-for graph once per segment it tries:
//! O(robots × segment length). Routing is Dijkstra over the directed edges;
//! `park_idle` and `deadlocks` run one search per robot concerned.
//!
//! # Route indices
//!
//! A route is a list of node ids starting where the robot stands; index `i`
//! is the order's node with `sequenceId` `2 * i`, so `lastNodeSequenceId / 2`
//! is what [`Allocator::passed`] takes, and a [`Grant`]'s `base_end` is the
//! last released node.

mod allocator;
mod deadlock;
mod ledger;
mod parking;
pub mod resources;
mod routing;
mod spec;
mod view;
mod waitfor;
mod zones;

#[cfg(test)]
mod tests;

use std::time::Duration;

pub use allocator::{Allocator, Grant};
pub use deadlock::{Deadlock, Resolution};
pub use parking::{ParkReason, ParkingMove};
pub use resources::{BlockSpec, EdgeSpec, LayoutSpec, NodeSpec, ResourceMap};
pub use view::{Counters, Holdings};

/// What the allocator refuses, or cannot make sense of.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TrafficError {
    /// The layout description cannot be used.
    #[error("layout: {0}")]
    Layout(String),
    /// A node id that is not on the layout.
    #[error("unknown node `{0}`")]
    UnknownNode(String),
    /// Two consecutive route nodes are not joined by an edge in that direction.
    #[error("no edge from `{from}` to `{to}`")]
    NoEdge {
        /// Start node.
        from: String,
        /// End node.
        to: String,
    },
    /// A block name that is not on the layout.
    #[error("unknown block `{0}`")]
    UnknownBlock(String),
    /// A robot the allocator has not been told about (or that was freed).
    #[error("robot `{0}` is not placed on the layout")]
    NotPlaced(String),
    /// `place` for a robot that already stands somewhere else.
    #[error("robot `{robot}` is already placed at `{node}`")]
    AlreadyPlaced {
        /// The robot.
        robot: String,
        /// Where the allocator has it.
        node: String,
    },
    /// `place` on a node another robot holds.
    #[error("node `{node}` is held by robot `{by}`")]
    Occupied {
        /// The node.
        node: String,
        /// Its holder.
        by: String,
    },
    /// A route that does not start where the robot stands, or is empty.
    #[error("the route of `{robot}` must start at its node `{node}`")]
    NotAtStart {
        /// The robot.
        robot: String,
        /// Where it stands.
        node: String,
    },
    /// A new route while the robot still has base ahead of it.
    #[error("robot `{0}` has not yet driven its base; re-route it once it stands")]
    BaseNotDriven(String),
    /// The robot reports passing a node beyond its base.
    #[error("robot `{robot}` passed route index {index} beyond its base end {base_end}")]
    BeyondBase {
        /// The robot.
        robot: String,
        /// The index it reported.
        index: usize,
        /// Its base end.
        base_end: usize,
    },
    /// The route would close a wait-for cycle with these robots.
    #[error("the route would deadlock with {0:?}")]
    WouldDeadlock(Vec<String>),
    /// No path between the nodes.
    #[error("no path from `{from}` to `{to}`")]
    NoPath {
        /// Start node.
        from: String,
        /// End node.
        to: String,
    },
}

/// A resource, by its layout names.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Resource {
    /// A node.
    Node(String),
    /// A lane, named by its end nodes as the layout gives them.
    Lane(String, String),
    /// A slot of a block.
    Block(String),
}

/// Why a robot gets no more of its route.
#[derive(Debug, Clone, PartialEq)]
pub enum Blocker {
    /// Another robot holds a node or lane of the next segment.
    Held {
        /// The resource.
        resource: Resource,
        /// Its holder.
        by: String,
    },
    /// A block of the next segment is full.
    BlockFull {
        /// The block.
        block: String,
        /// The robots in it.
        holders: Vec<String>,
    },
    /// Granting would close a wait-for cycle with these robots.
    WouldDeadlock(Vec<String>),
    /// The robot itself is not operational.
    NotOperational(RobotStatus),
}

impl Blocker {
    /// The robots this one waits for.
    pub fn robots(&self) -> Vec<&str> {
        match self {
            Blocker::Held { by, .. } => vec![by.as_str()],
            Blocker::BlockFull { holders, .. } => holders.iter().map(String::as_str).collect(),
            Blocker::WouldDeadlock(r) => r.iter().map(String::as_str).collect(),
            Blocker::NotOperational(_) => Vec::new(),
        }
    }

    /// Whether robot `id` is one this one waits for.
    pub fn waits_for(&self, id: &str) -> bool {
        match self {
            Blocker::Held { by, .. } => by == id,
            Blocker::BlockFull { holders: rs, .. } | Blocker::WouldDeadlock(rs) => {
                rs.iter().any(|r| r == id)
            }
            Blocker::NotOperational(_) => false,
        }
    }
}

/// What a robot reports it can do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RobotStatus {
    /// Driving under our control.
    Online,
    /// Not heard from (connection broken or offline).
    Offline,
    /// A fatal error or a battery too low to drive.
    Fault,
    /// Under manual control.
    Manual,
}

/// Tuning of the allocator. Defaults in [`Config::default`].
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// A robot waiting this long is due for a re-plan.
    pub replan_after: Duration,
    /// Segments are granted until the robot has at least this many route
    /// nodes released ahead of it (at least one segment per request).
    pub lookahead_nodes: usize,
    /// Routing cost (metres) of a resource another robot holds.
    pub held_cost: f64,
    /// Routing cost (metres) per other robot whose remaining route uses a
    /// resource.
    pub planned_cost: f64,
    /// Segments end after at most this many nodes even between stop nodes
    /// (0: no cap, segments run from stop node to stop node; default 1: node
    /// by node). The wait-for guard still refuses any grant that would close
    /// a cycle; a robot may then come to rest in another's way, which
    /// `deadlocks` and `resolve` handle.
    pub max_segment_nodes: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            replan_after: Duration::from_secs(30),
            lookahead_nodes: 3,
            held_cost: 50.0,
            planned_cost: 10.0,
            max_segment_nodes: 1,
        }
    }
}

impl Config {
    /// Whether a robot blocked for `blocked_for` should be re-planned.
    pub fn replan_after(&self, blocked_for: Duration) -> bool {
        blocked_for >= self.replan_after
    }
}
