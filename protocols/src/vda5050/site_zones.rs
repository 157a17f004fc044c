//! The layout's zones as the site file writes them, and the 3.0 zone sets built from them.
//!
//! ```toml
//! [[layout.zones]]
//! id = "narrow-aisle"
//! kind = "release"             # robots need a release to enter: traffic control grants it
//! vertices = [[10.0, 0.0], [20.0, 0.0], [20.0, 3.0], [10.0, 3.0]]
//! capacity = 1                 # release zones: robots inside at once (default 1)
//!
//! [[layout.zones]]
//! id = "dock-slow"
//! kind = "speed_limit"
//! maximum_speed = 0.5
//! vertices = [[0.0, 0.0], [5.0, 0.0], [5.0, 5.0]]
//! ```
//!
//! Kinds are those of VDA 5050 3.0 (section 6.4.1), written in snake case: `blocked`,
//! `line_guided`, `release`, `coordinated_replanning`, `speed_limit`, `action`,
//! `priority`, `penalty`, `directed`, `bidirected`. A kind's parameters are checked when
//! the layout is built (`maximum_speed` for `speed_limit`, `priority_factor` in [0, 1],
//! `direction` for the directed kinds, …); those the schema requires and the site file may
//! leave out get the text's defaults (`release_loss_behavior` STOP, `limitation`
//! RESTRICTED, no zone actions).
//!
//! Each map's zones become one zone set, whose id is derived from its content
//! (`{map}-zones-{hash}`): 3.0 forbids changing a zone set under its id (section 6.4.2), so
//! an edited site file publishes a new id and robots that still hold the old set are sent
//! the new one.
//!
//! What the layout does with them: nodes inside a `blocked` zone are taken out of the graph
//! (no route runs through them, for any robot); `release` and `coordinated_replanning`
//! zones are blocks of traffic control named `zone:{id}` ([`zone_block`]), holding at most
//! `capacity` robots, whatever protocol version they speak.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::order::BlockingType;
use super::zones::{ReleaseLossBehavior, Vertex, Zone, ZoneAction, ZoneSet, ZoneType};

/// A zone as the site file writes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LayoutZone {
    /// Unique among the layout's zones.
    pub id: String,
    /// The 3.0 zone kind, in snake case (`release`, `blocked`, `speed_limit`, …).
    pub kind: String,
    /// The map the zone is on (default: the layout's `map_id`).
    #[serde(default)]
    pub map_id: Option<String>,
    /// The polygon's corners `[x, y]` in metres (at least three).
    pub vertices: Vec<[f64; 2]>,
    /// A name for people.
    #[serde(default)]
    pub description: Option<String>,
    /// `release` / `coordinated_replanning`: robots inside at once (default 1).
    #[serde(default = "one")]
    pub capacity: u32,
    /// `speed_limit`: the limit (m/s).
    #[serde(default)]
    pub maximum_speed: Option<f64>,
    /// `release`: what a robot does when its release is withdrawn inside (`stop`,
    /// `continue`, `evacuate`; default `stop`).
    #[serde(default)]
    pub release_loss_behavior: Option<String>,
    /// `priority`: preference in [0, 1].
    #[serde(default)]
    pub priority_factor: Option<f64>,
    /// `penalty`: penalty in [0, 1].
    #[serde(default)]
    pub penalty_factor: Option<f64>,
    /// `directed` / `bidirected`: the direction of travel (rad).
    #[serde(default)]
    pub direction: Option<f64>,
    /// `directed` / `bidirected`: `soft`, `restricted` (default) or `strict`.
    #[serde(default)]
    pub limitation: Option<String>,
    /// `action`: action types run on entry, inside and on exit (blocking NONE, no
    /// parameters).
    #[serde(default)]
    pub entry_actions: Vec<String>,
    /// See `entry_actions`.
    #[serde(default)]
    pub during_actions: Vec<String>,
    /// See `entry_actions`.
    #[serde(default)]
    pub exit_actions: Vec<String>,
}

fn one() -> u32 {
    1
}

/// The traffic-control block of a `release` or `coordinated_replanning` zone.
pub fn zone_block(zone_id: &str) -> String {
    format!("zone:{zone_id}")
}

/// The zone kind named `name` (snake case, or the 3.0 wire name).
pub fn zone_type(name: &str) -> Option<ZoneType> {
    Some(match name.to_ascii_lowercase().as_str() {
        "blocked" => ZoneType::Blocked,
        "line_guided" => ZoneType::LineGuided,
        "release" => ZoneType::Release,
        "coordinated_replanning" => ZoneType::CoordinatedReplanning,
        "speed_limit" => ZoneType::SpeedLimit,
        "action" => ZoneType::Action,
        "priority" => ZoneType::Priority,
        "penalty" => ZoneType::Penalty,
        "directed" => ZoneType::Directed,
        "bidirected" => ZoneType::Bidirected,
        _ => return None,
    })
}

/// Whether zones of kind `t` are entered only with a release from master control.
pub fn needs_release(t: ZoneType) -> bool {
    matches!(t, ZoneType::Release | ZoneType::CoordinatedReplanning)
}

impl LayoutZone {
    /// The zone's kind, checked.
    pub fn zone_type(&self) -> Result<ZoneType, String> {
        zone_type(&self.kind).ok_or_else(|| {
            format!(
                "zone `{}`: unknown kind {:?} (blocked, line_guided, release, \
                 coordinated_replanning, speed_limit, action, priority, penalty, directed, \
                 bidirected)",
                self.id, self.kind
            )
        })
    }

    /// Whether point (`x`, `y`) lies inside the polygon (ray casting; a point on an edge
    /// may fall either way).
    pub fn contains(&self, x: f64, y: f64) -> bool {
        contains(&self.vertices, x, y)
    }

    /// The 3.0 zone, checked: at least three finite vertices, the kind's parameters.
    pub fn to_zone(&self) -> Result<Zone, String> {
        let t = self.zone_type()?;
        let bad = |what: &str| Err(format!("zone `{}`: {what}", self.id));
        if self.vertices.len() < 3 {
            return bad("needs at least three vertices");
        }
        if self
            .vertices
            .iter()
            .any(|[x, y]| !x.is_finite() || !y.is_finite())
        {
            return bad("has a non-finite vertex");
        }
        if self.capacity == 0 {
            return bad("capacity must be at least 1");
        }
        let vertices = self
            .vertices
            .iter()
            .map(|&[x, y]| Vertex { x, y })
            .collect();
        let mut z = Zone::new(&self.id, t, vertices);
        z.zone_descriptor = self.description.clone();
        let unit = |v: Option<f64>, what: &str| match v {
            Some(f) if (0.0..=1.0).contains(&f) => Ok(f),
            _ => Err(format!("zone `{}`: {what} must be in [0, 1]", self.id)),
        };
        match t {
            ZoneType::Release => {
                z.release_loss_behavior = Some(match self.release_loss_behavior.as_deref() {
                    None => ReleaseLossBehavior::Stop,
                    Some(s) => match s.to_ascii_lowercase().as_str() {
                        "stop" => ReleaseLossBehavior::Stop,
                        "continue" => ReleaseLossBehavior::Continue,
                        "evacuate" => ReleaseLossBehavior::Evacuate,
                        _ => {
                            return bad("release_loss_behavior must be stop, continue or evacuate")
                        }
                    },
                })
            }
            ZoneType::SpeedLimit => match self.maximum_speed {
                Some(v) if v.is_finite() && v > 0.0 => z.maximum_speed = Some(v),
                _ => return bad("a speed_limit zone needs maximum_speed > 0 (m/s)"),
            },
            ZoneType::Priority => {
                z.priority_factor = Some(unit(self.priority_factor, "priority_factor")?)
            }
            ZoneType::Penalty => {
                z.penalty_factor = Some(unit(self.penalty_factor, "penalty_factor")?)
            }
            ZoneType::Directed | ZoneType::Bidirected => {
                match self.direction {
                    Some(d) if d.is_finite() => z.direction = Some(d),
                    _ => return bad("a directed zone needs direction (rad)"),
                }
                let l = self
                    .limitation
                    .as_deref()
                    .unwrap_or("restricted")
                    .to_ascii_uppercase();
                if !["SOFT", "RESTRICTED", "STRICT"].contains(&l.as_str()) {
                    return bad("limitation must be soft, restricted or strict");
                }
                let key = if t == ZoneType::Directed {
                    "directedLimitation"
                } else {
                    "bidirectedLimitation"
                };
                z.other.insert(key.into(), Value::String(l));
            }
            ZoneType::Action => {
                let actions = |names: &[String]| {
                    Some(
                        names
                            .iter()
                            .map(|n| ZoneAction {
                                action_type: n.clone(),
                                action_descriptor: None,
                                blocking_type: BlockingType::None,
                                action_parameters: None,
                            })
                            .collect(),
                    )
                };
                z.entry_actions = actions(&self.entry_actions);
                z.during_actions = actions(&self.during_actions);
                z.exit_actions = actions(&self.exit_actions);
            }
            _ => {}
        }
        Ok(z)
    }
}

/// Point-in-polygon by ray casting.
pub fn contains(vertices: &[[f64; 2]], x: f64, y: f64) -> bool {
    let mut inside = false;
    let n = vertices.len();
    for i in 0..n {
        let [xi, yi] = vertices[i];
        let [xj, yj] = vertices[(i + n - 1) % n];
        if (yi > y) != (yj > y) && x < (xj - xi) * (y - yi) / (yj - yi) + xi {
            inside = !inside;
        }
    }
    inside
}

/// One zone set per map, from the layout's zones (`default_map` for zones naming none),
/// each with its content-derived id. Errors name the zone.
pub fn zone_sets(zones: &[LayoutZone], default_map: &str) -> Result<Vec<ZoneSet>, String> {
    let mut by_map: BTreeMap<String, Vec<Zone>> = BTreeMap::new();
    let mut seen = std::collections::HashSet::new();
    for z in zones {
        if !seen.insert(z.id.as_str()) {
            return Err(format!("zone `{}` is defined twice", z.id));
        }
        let map = z.map_id.clone().unwrap_or_else(|| default_map.to_string());
        by_map.entry(map).or_default().push(z.to_zone()?);
    }
    Ok(by_map
        .into_iter()
        .map(|(map_id, zones)| {
            let body = serde_json::to_vec(&zones).unwrap_or_default();
            ZoneSet {
                zone_set_id: format!("{map_id}-zones-{:016x}", fnv1a(&body)),
                map_id,
                zone_set_descriptor: None,
                zones,
            }
        })
        .collect())
}

/// FNV-1a, 64 bits: a stable content hash (the same on every build and machine).
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn zone(id: &str, kind: &str) -> LayoutZone {
        LayoutZone {
            id: id.into(),
            kind: kind.into(),
            map_id: None,
            vertices: vec![[0.0, 0.0], [4.0, 0.0], [4.0, 2.0], [0.0, 2.0]],
            description: None,
            capacity: 1,
            maximum_speed: None,
            release_loss_behavior: None,
            priority_factor: None,
            penalty_factor: None,
            direction: None,
            limitation: None,
            entry_actions: vec![],
            during_actions: vec![],
            exit_actions: vec![],
        }
    }

    #[test]
    fn points_inside_and_outside_a_polygon() {
        let z = zone("a", "release");
        assert!(z.contains(1.0, 1.0));
        assert!(z.contains(3.9, 0.1));
        assert!(!z.contains(5.0, 1.0));
        assert!(!z.contains(1.0, -0.1));
        let tri = [[0.0, 0.0], [4.0, 0.0], [0.0, 4.0]];
        assert!(contains(&tri, 1.0, 1.0));
        assert!(!contains(&tri, 3.0, 3.0));
    }

    #[test]
    fn kinds_get_their_required_parameters_or_a_clear_error() {
        let r = zone("a", "release").to_zone().unwrap();
        assert_eq!(r.release_loss_behavior, Some(ReleaseLossBehavior::Stop));
        let e = zone("s", "speed_limit").to_zone().unwrap_err();
        assert!(e.contains("zone `s`") && e.contains("maximum_speed"), "{e}");
        let mut s = zone("s", "speed_limit");
        s.maximum_speed = Some(0.3);
        assert_eq!(s.to_zone().unwrap().maximum_speed, Some(0.3));
        let mut p = zone("p", "priority");
        p.priority_factor = Some(1.5);
        assert!(p.to_zone().unwrap_err().contains("[0, 1]"));
        let mut d = zone("d", "directed");
        d.direction = Some(1.0);
        assert_eq!(
            d.to_zone().unwrap().other.get("directedLimitation"),
            Some(&Value::String("RESTRICTED".into()))
        );
        assert!(zone("x", "moat")
            .to_zone()
            .unwrap_err()
            .contains("unknown kind"));
        let mut t = zone("t", "blocked");
        t.vertices.truncate(2);
        assert!(t.to_zone().unwrap_err().contains("three vertices"));
    }

    #[test]
    fn a_zone_set_per_map_whose_id_changes_with_its_content() {
        let mut b = zone("b", "blocked");
        b.map_id = Some("upper".into());
        let sets = zone_sets(&[zone("a", "release"), b.clone()], "map").unwrap();
        assert_eq!(sets.len(), 2);
        assert_eq!(sets[0].map_id, "map");
        assert!(sets[0].zone_set_id.starts_with("map-zones-"));
        let again = zone_sets(&[zone("a", "release"), b.clone()], "map").unwrap();
        assert_eq!(sets, again, "the same zones give the same id");
        let mut wider = zone("a", "release");
        wider.vertices[1] = [5.0, 0.0];
        let edited = zone_sets(&[wider, b], "map").unwrap();
        assert_ne!(edited[0].zone_set_id, sets[0].zone_set_id);
        assert_eq!(edited[1].zone_set_id, sets[1].zone_set_id);
        let dup = zone_sets(&[zone("a", "release"), zone("a", "blocked")], "map").unwrap_err();
        assert!(dup.contains("defined twice"));
    }
}
