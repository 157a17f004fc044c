//! The simulated machines behind the mailbox: a conveyor network and a lift.

use std::collections::BTreeMap;
use std::time::Duration;

use floorgate_protocols::modbus::ModbusProfile;

/// What the PLC drives.
#[derive(Debug, Clone)]
pub enum Machine {
    /// A conveyor network: totes move between ports and stations with `transfer`.
    Conveyor(Conveyor),
    /// A lift between levels, moved with `lift_move`.
    Lift(Lift),
}

/// A conveyor network.
#[derive(Debug, Clone)]
pub struct Conveyor {
    /// Port locations (storage side).
    pub ports: Vec<u16>,
    /// Station locations (pick side).
    pub stations: Vec<u16>,
    /// Time a transfer takes.
    pub travel_time: Duration,
    /// Where each tote is.
    pub totes: BTreeMap<u32, ToteLocation>,
    /// Transfers completed.
    pub transfers_total: u32,
}

/// A lift.
#[derive(Debug, Clone)]
pub struct Lift {
    /// Number of levels (0-based level numbers).
    pub levels: u16,
    /// Travel time per level.
    pub time_per_level: Duration,
    /// Height of one level in millimetres.
    pub level_height_mm: i32,
    /// Current level (the level it last reached).
    pub level: u16,
    /// Load on the platform in kilograms.
    pub load_kg: f64,
}

/// Where a tote is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToteLocation {
    /// At a port or station.
    At(u16),
    /// On the belt between two locations (moving, or stuck in a jam).
    InTransit {
        /// Source location.
        from: u16,
        /// Destination location.
        to: u16,
    },
}

/// A motion the machine performs for one command.
#[derive(Debug, Clone, PartialEq)]
pub enum Motion {
    /// A tote moving between locations.
    Transfer {
        /// Tote id.
        tote: u32,
        /// Source.
        from: u16,
        /// Destination.
        to: u16,
    },
    /// The lift travelling between levels.
    LiftMove {
        /// Start level.
        from: u16,
        /// Target level.
        to: u16,
    },
}

/// Why the machine refuses a command (mapped to the profile's fault codes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The command is not one this machine runs.
    UnknownCommand,
    /// An argument is out of range.
    BadArgument,
    /// No tote at the source.
    NoTote,
}

/// The profile lacks a code the simulated PLC needs.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("profile {model}: the simulated PLC needs {what} `{name}`")]
pub struct SetupError {
    /// Profile model.
    pub model: String,
    /// "state", "fault" or "command".
    pub what: &'static str,
    /// The missing name.
    pub name: String,
}

/// The state, fault and command codes the program uses, resolved from the profile.
#[derive(Debug, Clone)]
pub(super) struct Codes {
    pub idle: u16,
    pub running: u16,
    pub fault_state: u16,
    pub estop_state: u16,
    pub jam: u16,
    pub estop_fault: u16,
    pub unknown_command: u16,
    pub bad_argument: u16,
    pub no_tote: u16,
    pub stop: Option<u16>,
    pub reset: Option<u16>,
    /// Result of a command refused while another runs (per-seq refusal); absent: the
    /// PLC answers the write with `ServerDeviceBusy`.
    pub busy: Option<u16>,
    /// Result of a command a `stop` aborted.
    pub stopped: Option<u16>,
}

impl Codes {
    pub(super) fn resolve(profile: &ModbusProfile, machine: &Machine) -> Result<Self, SetupError> {
        let missing = |what, name: &str| SetupError {
            model: profile.model.clone(),
            what,
            name: name.to_owned(),
        };
        let state = |name: &str| {
            profile
                .state_code(name)
                .ok_or_else(|| missing("state", name))
        };
        let fault = |name: &str| {
            profile
                .fault_code(name)
                .ok_or_else(|| missing("fault", name))
        };
        let command = match machine {
            Machine::Conveyor(_) => "transfer",
            Machine::Lift(_) => "lift_move",
        };
        profile
            .command_code(command)
            .ok_or_else(|| missing("command", command))?;
        let bad_argument = fault("bad_argument")?;
        Ok(Codes {
            idle: state("idle")?,
            running: state("running")?,
            fault_state: state("fault")?,
            estop_state: state("estop")?,
            jam: fault("jam")?,
            estop_fault: fault("estop")?,
            unknown_command: fault("unknown_command")?,
            bad_argument,
            no_tote: match machine {
                Machine::Conveyor(_) => fault("no_tote")?,
                Machine::Lift(_) => profile.fault_code("no_tote").unwrap_or(bad_argument),
            },
            stop: profile.command_code("stop"),
            reset: profile.command_code("reset"),
            busy: profile.fault_code("busy"),
            stopped: profile.fault_code("stopped"),
        })
    }

    pub(super) fn fault(&self, refusal: Refusal) -> u16 {
        match refusal {
            Refusal::UnknownCommand => self.unknown_command,
            Refusal::BadArgument => self.bad_argument,
            Refusal::NoTote => self.no_tote,
        }
    }
}

impl Machine {
    /// Conveyor with ports 1..=4, stations 11..=14, and the given travel time.
    pub fn conveyor(travel_time: Duration) -> Self {
        Machine::Conveyor(Conveyor {
            ports: vec![1, 2, 3, 4],
            stations: vec![11, 12, 13, 14],
            travel_time,
            totes: BTreeMap::new(),
            transfers_total: 0,
        })
    }

    /// Lift with `levels` levels of 3 m, `time_per_level` each, at level 0.
    pub fn lift(levels: u16, time_per_level: Duration) -> Self {
        Machine::Lift(Lift {
            levels,
            time_per_level,
            level_height_mm: 3_000,
            level: 0,
            load_kg: 0.0,
        })
    }

    /// Checks a command and returns the motion it starts.
    pub fn start(
        &mut self,
        command: &str,
        args: &BTreeMap<String, f64>,
    ) -> Result<Motion, Refusal> {
        let arg = |name: &str| args.get(name).copied().unwrap_or(0.0);
        let as_u16 = |v: f64| {
            if (0.0..=f64::from(u16::MAX)).contains(&v) {
                Ok(v as u16)
            } else {
                Err(Refusal::BadArgument)
            }
        };
        match (self, command) {
            (Machine::Conveyor(c), "transfer") => {
                let (from, to) = (as_u16(arg("from"))?, as_u16(arg("to"))?);
                let known = |l: u16| c.ports.contains(&l) || c.stations.contains(&l);
                if !known(from) || !known(to) || from == to {
                    return Err(Refusal::BadArgument);
                }
                let wanted = arg("tote");
                let tote = c
                    .totes
                    .iter()
                    .find(|(id, at)| {
                        **at == ToteLocation::At(from)
                            && (wanted == 0.0 || f64::from(**id) == wanted)
                    })
                    .map(|(id, _)| *id)
                    .ok_or(Refusal::NoTote)?;
                c.totes.insert(tote, ToteLocation::InTransit { from, to });
                Ok(Motion::Transfer { tote, from, to })
            }
            (Machine::Lift(l), "lift_move") => {
                let to = as_u16(arg("level"))?;
                if to >= l.levels {
                    return Err(Refusal::BadArgument);
                }
                Ok(Motion::LiftMove { from: l.level, to })
            }
            _ => Err(Refusal::UnknownCommand),
        }
    }

    /// How long a motion takes.
    pub fn duration(&self, motion: &Motion) -> Duration {
        match (self, motion) {
            (Machine::Conveyor(c), Motion::Transfer { .. }) => c.travel_time,
            (Machine::Lift(l), Motion::LiftMove { from, to }) => {
                l.time_per_level * u32::from(from.abs_diff(*to))
            }
            _ => Duration::ZERO,
        }
    }

    /// Completes a motion.
    pub fn finish(&mut self, motion: &Motion) {
        match (self, motion) {
            (Machine::Conveyor(c), Motion::Transfer { tote, to, .. }) => {
                c.totes.insert(*tote, ToteLocation::At(*to));
                c.transfers_total += 1;
            }
            (Machine::Lift(l), Motion::LiftMove { to, .. }) => l.level = *to,
            _ => {}
        }
    }

    /// Undoes a motion that was stopped: the tote goes back to its source.
    pub fn abort(&mut self, motion: &Motion) {
        if let (Machine::Conveyor(c), Motion::Transfer { tote, from, .. }) = (self, motion) {
            c.totes.insert(*tote, ToteLocation::At(*from));
        }
    }

    /// Where a tote is (conveyor only).
    pub fn tote_location(&self, tote: u32) -> Option<ToteLocation> {
        match self {
            Machine::Conveyor(c) => c.totes.get(&tote).copied(),
            Machine::Lift(_) => None,
        }
    }

    /// Puts a tote at a location (conveyor only).
    pub fn place_tote(&mut self, tote: u32, at: u16) {
        if let Machine::Conveyor(c) = self {
            c.totes.insert(tote, ToteLocation::At(at));
        }
    }

    /// Takes a tote off the conveyor; where it was.
    pub fn remove_tote(&mut self, tote: u32) -> Option<ToteLocation> {
        match self {
            Machine::Conveyor(c) => c.totes.remove(&tote),
            Machine::Lift(_) => None,
        }
    }

    /// Named values for the profile's registers; `progress` is the running motion and its
    /// completed fraction.
    pub fn values(&self, progress: Option<(&Motion, f64)>) -> Vec<(&'static str, f64)> {
        match self {
            Machine::Conveyor(c) => {
                let moving = progress.is_some();
                let in_transit = c
                    .totes
                    .values()
                    .filter(|t| matches!(t, ToteLocation::InTransit { .. }))
                    .count();
                vec![
                    ("belt_speed", if moving { 1.5 } else { 0.0 }),
                    ("totes_in_transit", in_transit as f64),
                    ("motor_temperature", if moving { 41.5 } else { 35.0 }),
                    ("transfers_total", f64::from(c.transfers_total)),
                ]
            }
            Machine::Lift(l) => {
                let position = match progress {
                    Some((Motion::LiftMove { from, to }, f)) => {
                        f64::from(*from) + (f64::from(*to) - f64::from(*from)) * f
                    }
                    _ => f64::from(l.level),
                };
                vec![
                    ("level", f64::from(l.level)),
                    (
                        "position",
                        (position * f64::from(l.level_height_mm)).round(),
                    ),
                    ("load", l.load_kg),
                ]
            }
        }
    }
}
