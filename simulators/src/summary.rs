//! What the simulators did, from their own records, for an operator or a test to hold the
//! gateway's journal against: printed on SIGTERM/SIGINT as text and as one JSON line.
//!
//! | field | from |
//! |---|---|
//! | `orders` | AMR orders taken (updates not counted) |
//! | `picks`, `drops` | AMR picks and drops FINISHED: one each per completed transport |
//! | `cancels` | `cancelOrder`s an AMR carried out |
//! | `transfers` | PLC commands that ended done (conveyor transfers, lift moves) |
//! | `plc_commands`, `plc_failed` | PLC commands taken, and those failed or refused |
//! | `asrs_commands` | AS/RS tasks done (retrievals + stores) |
//! | `asrs_retrieves`, `asrs_stores`, `asrs_failed` | the same by kind, and those failed or refused |
//! | `faults` | FATAL errors the AMRs raised (injected faults) |
//! | `conflicts` | pairs of AMRs that came closer than their footprint (once per encounter; `crate::amr::World`) |
//! | `blocked_secs` | seconds AMRs were held by their safety fields, summed over the robots |

use serde::Serialize;

use crate::amr::{Happened, WorldStats};
use crate::asrs::{TaskKind, TaskOutcome, TaskRecord};
use crate::plc::{CommandOutcome, CommandRecord};

/// Counts of what the simulators did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Summary {
    pub orders: u64,
    pub picks: u64,
    pub drops: u64,
    pub cancels: u64,
    pub transfers: u64,
    pub plc_commands: u64,
    pub plc_failed: u64,
    pub asrs_commands: u64,
    pub asrs_retrieves: u64,
    pub asrs_stores: u64,
    pub asrs_failed: u64,
    pub faults: u64,
    pub conflicts: u64,
    pub blocked_secs: f64,
}

impl Summary {
    /// Adds one robot's record.
    pub fn add_robot(&mut self, record: &[Happened]) {
        for h in record {
            match h {
                Happened::OrderTaken { .. } => self.orders += 1,
                Happened::Picked { .. } => self.picks += 1,
                Happened::Dropped { .. } => self.drops += 1,
                Happened::CancelAccepted { .. } => self.cancels += 1,
                Happened::Faulted { .. } => self.faults += 1,
                _ => {}
            }
        }
    }

    /// Adds what the AMRs' world counted.
    pub fn add_world(&mut self, world: &WorldStats) {
        self.conflicts += world.conflicts;
        self.blocked_secs += world.blocked_secs;
    }

    /// Adds one PLC's record.
    pub fn add_plc(&mut self, records: &[CommandRecord]) {
        for r in records {
            self.plc_commands += 1;
            match r.outcome {
                CommandOutcome::Done => self.transfers += 1,
                CommandOutcome::Failed { .. }
                | CommandOutcome::Refused { .. }
                | CommandOutcome::RefusedBusy => self.plc_failed += 1,
                CommandOutcome::Running | CommandOutcome::Stopped => {}
            }
        }
    }

    /// Adds one AS/RS's records.
    pub fn add_asrs<'a>(&mut self, records: impl IntoIterator<Item = &'a TaskRecord>) {
        for r in records {
            match r.outcome {
                TaskOutcome::Done => {
                    self.asrs_commands += 1;
                    match r.kind {
                        TaskKind::Retrieve => self.asrs_retrieves += 1,
                        TaskKind::Store => self.asrs_stores += 1,
                    }
                }
                TaskOutcome::Refused(_) | TaskOutcome::Failed(_) => self.asrs_failed += 1,
                _ => {}
            }
        }
    }

    /// One JSON object on one line.
    pub fn json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// A few lines for people.
    pub fn text(&self) -> String {
        format!(
            "AMRs: {} orders, {} picks, {} drops, {} cancels, {} faults, {} conflicts, {:.1} s blocked\n\
             PLCs: {} commands, {} transfers done, {} failed or refused\n\
             AS/RS: {} commands done ({} retrievals, {} stores), {} failed or refused",
            self.orders,
            self.picks,
            self.drops,
            self.cancels,
            self.faults,
            self.conflicts,
            self.blocked_secs,
            self.plc_commands,
            self.transfers,
            self.plc_failed,
            self.asrs_commands,
            self.asrs_retrieves,
            self.asrs_stores,
            self.asrs_failed
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_summary_counts_records_and_prints_one_json_line() {
        let mut s = Summary::default();
        s.add_robot(&[
            Happened::OrderTaken {
                order_id: "o".into(),
            },
            Happened::Picked {
                order_id: "o".into(),
                load_id: "T".into(),
                node_id: "N1".into(),
            },
            Happened::Dropped {
                order_id: "o".into(),
                load_id: "T".into(),
                node_id: "N1".into(),
            },
        ]);
        let json = s.json();
        assert!(!json.contains('\n'));
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["orders"], 1);
        assert_eq!(v["picks"], 1);
        assert_eq!(v["drops"], 1);
        assert_eq!(v["transfers"], 0);
        assert!(s.text().contains("1 picks"));
        assert_eq!(v["conflicts"], 0);
        s.add_world(&WorldStats {
            conflicts: 2,
            blocked_secs: 1.5,
            ..WorldStats::default()
        });
        let v: serde_json::Value = serde_json::from_str(&s.json()).unwrap();
        assert_eq!(v["conflicts"], 2);
        assert_eq!(v["blocked_secs"], 1.5);
        assert!(s.text().contains("2 conflicts, 1.5 s blocked"));
    }
}
