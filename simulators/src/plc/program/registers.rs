//! The PLC's registers as the program sees them: the handshake block (with the completion
//! log) and the machine's named values.

use std::time::Instant;

use floorgate_protocols::modbus::ModbusProfile;

use super::PlcProgram;

impl PlcProgram {
    /// The handshake registers.
    pub fn status(&self) -> Status {
        let s = &self.profile.status;
        let at = |a: u16| self.regs[usize::from(a)];
        Status {
            acked_seq: at(s.acked_seq),
            state: at(s.state),
            fault_code: at(s.fault_code),
            done_seq: at(s.done_seq),
            result: s.result.map_or(0, at),
            active_seq: s.active_seq.map_or(0, at),
        }
    }

    pub(super) fn set_status(&mut self, f: impl FnOnce(&mut Status)) {
        let mut status = self.status();
        f(&mut status);
        let s = self.profile.status.clone();
        for (addr, value) in [
            (s.acked_seq, status.acked_seq),
            (s.state, status.state),
            (s.fault_code, status.fault_code),
            (s.done_seq, status.done_seq),
        ] {
            self.regs[usize::from(addr)] = value;
        }
        for (addr, value) in [(s.result, status.result), (s.active_seq, status.active_seq)] {
            if let Some(addr) = addr {
                self.regs[usize::from(addr)] = value;
            }
        }
    }

    /// Writes the machine's named values into the registers the profile defines.
    pub(super) fn refresh_values(&mut self, now: Option<Instant>) {
        let progress = match (&self.running, now) {
            (Some(run), Some(now)) => {
                let total = run.finish_at.saturating_duration_since(run.started);
                let done = now.saturating_duration_since(run.started);
                Some((
                    &run.motion,
                    if total.is_zero() {
                        1.0
                    } else {
                        (done.as_secs_f64() / total.as_secs_f64()).min(1.0)
                    },
                ))
            }
            _ => None,
        };
        for (name, value) in self.machine.values(progress) {
            if let Some(def) = self.profile.registers.get(name) {
                if let Ok(words) = def.encode(value) {
                    let at = usize::from(def.address);
                    self.regs[at..at + words.len()].copy_from_slice(&words);
                }
            }
        }
    }

    /// Writes the end of command `seq` in one scan: `done_seq`, `result`, and, with a
    /// completion log, a new entry 0 (the older ones move down by one, the oldest drops).
    pub(super) fn ended(&mut self, seq: u16, result: u16) {
        if let Some(h) = self.profile.status.history {
            let at = usize::from(h.address);
            let len = 2 * usize::from(h.len);
            self.regs.copy_within(at..at + len - 2, at + 2);
            self.regs[at] = seq;
            self.regs[at + 1] = result;
        }
        self.set_status(|s| {
            s.done_seq = seq;
            s.result = result;
        });
    }

    /// Whether `seq` is in the completion log.
    pub(super) fn in_history(&self, seq: u16) -> bool {
        let Some(h) = self.profile.status.history else {
            return false;
        };
        (0..usize::from(h.len)).any(|i| self.regs[usize::from(h.address) + 2 * i] == seq)
    }

    /// The completion log `(seq, result)`, newest first (empty without one).
    pub fn history(&self) -> Vec<(u16, u16)> {
        let Some(h) = self.profile.status.history else {
            return Vec::new();
        };
        let at = usize::from(h.address);
        (0..usize::from(h.len))
            .map(|i| (self.regs[at + 2 * i], self.regs[at + 2 * i + 1]))
            .collect()
    }
}

/// The handshake registers as the PLC holds them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Status {
    /// Last sequence taken.
    pub acked_seq: u16,
    /// State register.
    pub state: u16,
    /// Fault register.
    pub fault_code: u16,
    /// Last sequence finished.
    pub done_seq: u16,
    /// Result of `done_seq` (0 when the profile has no result register).
    pub result: u16,
    /// Sequence executing (0 when idle or the profile has no such register).
    pub active_seq: u16,
}

/// Registers `0..size` exist; every address the profile names is inside.
pub(super) fn register_space(profile: &ModbusProfile) -> usize {
    let mut last = u32::from(profile.mailbox.seq);
    last = last.max(u32::from(profile.status.span().1));
    for def in profile
        .registers
        .values()
        .chain(profile.mailbox.args.values())
    {
        last = last.max(def.last());
    }
    last as usize + 1
}
