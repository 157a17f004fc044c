//! How the fate of one mailbox command is read from the handshake registers. Pure code:
//! [`taken`] answers the acknowledgement read-back, [`judge`] every later status poll.
//!
//! Two modes, chosen by the profile (see the module note in `mod.rs`):
//!
//! * **Per-command result** (`status.result`, optionally `status.active_seq`): only
//!   `done_seq == seq` ends a command, and `result` says how. The fault register is never
//!   read, so a fault that arrives after the command finished (an e-stop) does not touch
//!   it, and another master's sequence in `acked_seq` does not either. With a completion
//!   log (`status.history`) a command that ended earlier is found there. With
//!   `active_seq`, a command that is neither active, nor done, nor in the log has ended
//!   unseen ([`Verdict::Lost`]).
//! * **Legacy** (neither register): `done_seq == seq` ends the command with the fault
//!   register as its outcome; a different `acked_seq` means another command replaced it
//!   ([`Verdict::Superseded`]); a fault code while it is acknowledged fails it. Weaker: the
//!   fault register describes the device *now*, so a later fault or another master's
//!   write can be taken for this command's outcome.

use super::mailbox::Handshake;
use super::profile::{FaultInfo, ModbusProfile};

/// What the handshake registers say about one command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Still running (or, at the read-back, not taken yet).
    Running,
    /// Finished OK.
    Done,
    /// Ended with a non-zero result (or, legacy, a fault code).
    Failed {
        /// The code resolved through the profile's `[faults]`.
        fault: FaultInfo,
        /// The PLC ended it before it ran (seen at the acknowledgement read-back).
        refused: bool,
    },
    /// Legacy profiles only: the PLC acknowledged another sequence first.
    Superseded {
        /// The sequence acknowledged since.
        acked_seq: u16,
    },
    /// The command is neither executing nor the last one done: it ended while nobody
    /// looked, and a later command's end replaced its result.
    Lost {
        /// The last command done.
        done_seq: u16,
        /// The command executing now (0 = none).
        active_seq: u16,
    },
}

fn by_result(profile: &ModbusProfile) -> bool {
    profile.status.result.is_some()
}

/// `active_seq` as read, where the profile has the register.
fn active(profile: &ModbusProfile, h: &Handshake) -> Option<u16> {
    profile.status.active_seq.and(h.active_seq)
}

/// The result of `seq`: `done_seq`/`result`, else its entry in the completion log.
fn ended(profile: &ModbusProfile, seq: u16, h: &Handshake) -> Option<u16> {
    if h.done_seq == seq {
        return Some(h.result.unwrap_or(0));
    }
    profile.status.history?;
    h.history
        .iter()
        .find(|(s, _)| *s == seq)
        .map(|(_, result)| *result)
}

/// The acknowledgement read-back of `seq`: `None` while the PLC has not taken it (keep
/// reading until the ack deadline), else `Running` (taken), `Done` (already finished) or
/// `Failed { refused: true }` (refused at once).
pub fn taken(profile: &ModbusProfile, seq: u16, h: &Handshake) -> Option<Verdict> {
    if by_result(profile) {
        if let Some(result) = ended(profile, seq, h) {
            return Some(if result == 0 {
                Verdict::Done
            } else {
                Verdict::Failed {
                    fault: profile.fault(result),
                    refused: true,
                }
            });
        }
        let running = active(profile, h) == Some(seq) || h.acked_seq == seq;
        return running.then_some(Verdict::Running);
    }
    if h.acked_seq != seq {
        return None;
    }
    if h.done_seq == seq && h.fault_code != 0 {
        return Some(Verdict::Failed {
            fault: profile.fault(h.fault_code),
            refused: true,
        });
    }
    Some(Verdict::Running)
}

/// The fate of `seq`, acknowledged earlier, as one later poll shows it.
pub fn judge(profile: &ModbusProfile, seq: u16, h: &Handshake) -> Verdict {
    if by_result(profile) {
        if let Some(result) = ended(profile, seq, h) {
            return if result == 0 {
                Verdict::Done
            } else {
                Verdict::Failed {
                    fault: profile.fault(result),
                    refused: false,
                }
            };
        }
        return match active(profile, h) {
            Some(active) if active != seq => Verdict::Lost {
                done_seq: h.done_seq,
                active_seq: active,
            },
            // Executing; or, without `active_seq`, not decidable from these registers:
            // wait for `done_seq` (bounded by the completion timeout).
            _ => Verdict::Running,
        };
    }
    let fault = |refused| Verdict::Failed {
        fault: profile.fault(h.fault_code),
        refused,
    };
    if h.done_seq == seq {
        return if h.fault_code != 0 {
            fault(true)
        } else {
            Verdict::Done
        };
    }
    if h.acked_seq != seq {
        return Verdict::Superseded {
            acked_seq: h.acked_seq,
        };
    }
    if h.fault_code != 0 {
        return fault(false);
    }
    Verdict::Running
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(result: bool, active: bool) -> ModbusProfile {
        let mut text = String::from(
            r#"
            model = "t"
            [mailbox]
            code = 100
            seq = 101
            [status]
            acked_seq = 0
            state = 1
            fault_code = 2
            done_seq = 3
        "#,
        );
        if result {
            text.push_str("result = 4\n");
        }
        if active {
            text.push_str("active_seq = 5\n");
        }
        text.push_str(
            r#"
            [commands]
            transfer = 1
            [states]
            idle = 0
            estop = 3
            [faults.estop]
            code = 2
            reason = "emergency stop pressed"
            [faults.busy]
            code = 6
            reason = "busy"
        "#,
        );
        ModbusProfile::from_toml_str(&text).unwrap()
    }

    fn h(acked: u16, fault: u16, done: u16, result: u16, active: u16) -> Handshake {
        Handshake {
            acked_seq: acked,
            state: 0,
            fault_code: fault,
            done_seq: done,
            result: Some(result),
            active_seq: Some(active),
            history: Vec::new(),
        }
    }

    #[test]
    fn an_outcome_another_command_replaced_is_read_from_the_completion_log() {
        let mut p = profile(true, true);
        p.status.history = Some(crate::modbus::profile::HistoryLayout {
            address: 10,
            len: 4,
        });
        // Ours (5) finished OK, then the HMI's 7 was refused: done_seq is 7.
        let mut seen = h(7, 0, 7, 6, 0);
        seen.history = vec![(7, 6), (5, 0), (4, 0), (0, 0)];
        assert_eq!(judge(&p, 5, &seen), Verdict::Done);
        assert_eq!(taken(&p, 5, &seen), Some(Verdict::Done));
        seen.history = vec![(7, 6), (5, 2), (4, 0), (0, 0)];
        assert!(matches!(judge(&p, 5, &seen), Verdict::Failed { .. }));
        // Not in the log either: unseen.
        seen.history = vec![(7, 6), (4, 0), (0, 0), (0, 0)];
        assert!(matches!(judge(&p, 5, &seen), Verdict::Lost { .. }));
    }

    #[test]
    fn a_fault_after_completion_does_not_change_a_result_ok() {
        let p = profile(true, true);
        // Done with result 0, then the e-stop fault appears in the fault register.
        assert_eq!(judge(&p, 5, &h(5, 2, 5, 0, 0)), Verdict::Done);
        // The legacy reading takes the e-stop for the command's outcome.
        let legacy = profile(false, false);
        assert!(matches!(
            judge(&legacy, 5, &h(5, 2, 5, 0, 0)),
            Verdict::Failed { .. }
        ));
    }

    #[test]
    fn another_masters_refused_write_does_not_supersede_the_active_command() {
        let p = profile(true, true);
        // The HMI's seq 900 was acknowledged and refused (done_seq 900, busy); ours runs.
        assert_eq!(judge(&p, 5, &h(900, 0, 900, 6, 5)), Verdict::Running);
        assert_eq!(taken(&p, 5, &h(900, 0, 900, 6, 5)), Some(Verdict::Running));
        assert_eq!(judge(&p, 5, &h(900, 0, 5, 0, 0)), Verdict::Done);
        let legacy = profile(false, false);
        assert_eq!(
            judge(&legacy, 5, &h(900, 0, 900, 6, 5)),
            Verdict::Superseded { acked_seq: 900 }
        );
    }

    #[test]
    fn a_non_zero_result_fails_the_command_with_the_profiles_fault() {
        let p = profile(true, true);
        match judge(&p, 5, &h(5, 0, 5, 2, 0)) {
            Verdict::Failed { fault, refused } => {
                assert_eq!(fault.name.as_deref(), Some("estop"));
                assert!(!refused);
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            taken(&p, 5, &h(5, 0, 5, 6, 0)),
            Some(Verdict::Failed { refused: true, .. })
        ));
    }

    #[test]
    fn a_command_neither_active_nor_done_ended_unseen() {
        let p = profile(true, true);
        assert_eq!(
            judge(&p, 5, &h(7, 0, 7, 0, 0)),
            Verdict::Lost {
                done_seq: 7,
                active_seq: 0
            }
        );
        // Without active_seq the registers cannot tell: keep waiting for done_seq.
        let p = profile(true, false);
        assert_eq!(judge(&p, 5, &h(7, 0, 7, 0, 0)), Verdict::Running);
    }

    #[test]
    fn a_seq_the_plc_has_not_seen_is_not_taken() {
        let p = profile(true, true);
        assert_eq!(taken(&p, 5, &h(4, 0, 4, 0, 0)), None);
        assert_eq!(taken(&profile(false, false), 5, &h(4, 0, 4, 0, 0)), None);
    }

    #[test]
    fn active_seq_without_result_is_refused_by_validation() {
        let text = r#"
            model = "t"
            [mailbox]
            code = 100
            seq = 101
            [status]
            acked_seq = 0
            state = 1
            fault_code = 2
            done_seq = 3
            active_seq = 5
            [commands]
            transfer = 1
            [states]
            idle = 0
        "#;
        let errs = ModbusProfile::from_toml_str(text).unwrap_err();
        assert!(
            errs.0.iter().any(|e| e.field() == "status.active_seq"),
            "{errs}"
        );
    }
}
