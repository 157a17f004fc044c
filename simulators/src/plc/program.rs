//! The PLC program: holding registers, the command mailbox and the machine, with no IO.
//!
//! Time is passed in: every read or write first runs [`PlcProgram::tick`] up to `now`, so a
//! test can drive the program with made-up instants and the Modbus shell needs no timer.
//!
//! With a profile that has the `result` register (and `active_seq`) the program follows
//! the per-command handshake of `floorgate_protocols::modbus`: every command's end writes
//! `done_seq` + `result` in one scan, a command refused while another runs is refused per
//! sequence (`result` = the profile's `busy`), each end is logged in the completion log
//! (`status.history`), and a sequence equal to `acked_seq`, `active_seq`, `done_seq` or
//! one in the log is a re-send. Without it, the legacy handshake: the fault
//! register is the outcome, a busy PLC answers `ServerDeviceBusy`. Either way the fault
//! register also holds the last command's failure until the next command starts (a "last
//! error" register, as many PLCs keep), while `state` says whether the machine is faulted.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use floorgate_protocols::modbus::ModbusProfile;
use tokio_modbus::ExceptionCode;

use super::machine::{Codes, Machine, Motion, SetupError, ToteLocation};
use super::record::{CommandOutcome, CommandRecord, Record};

mod registers;

use registers::register_space;
pub use registers::Status;

/// The PLC's memory and program state.
#[derive(Debug)]
pub struct PlcProgram {
    profile: Arc<ModbusProfile>,
    codes: Codes,
    machine: Machine,
    regs: Vec<u16>,
    running: Option<Running>,
    jam_armed: bool,
    estop: bool,
    /// The motion a jam stopped (a tote stuck on the belt), until reset with `stop`.
    jammed: Option<Motion>,
    executions: BTreeMap<u16, u32>,
    /// The result the next command that runs ends with (an injected failure).
    fail_next: Option<u16>,
    /// Press the e-stop in the scan where the next command finishes.
    estop_after_completion: bool,
    record: Record,
    /// Totes that reached the end of a transfer since the last
    /// [`PlcProgram::take_arrivals`]: (tote, location).
    arrivals: Vec<(u32, u16)>,
}

#[derive(Debug, Clone)]
struct Running {
    seq: u16,
    motion: Motion,
    started: Instant,
    finish_at: Instant,
}

impl PlcProgram {
    /// A PLC with all registers zero, running `machine` with the register map of `profile`.
    pub fn new(profile: Arc<ModbusProfile>, machine: Machine) -> Result<Self, SetupError> {
        let codes = Codes::resolve(&profile, &machine)?;
        let size = register_space(&profile);
        let mut program = PlcProgram {
            profile,
            codes,
            machine,
            regs: vec![0; size],
            running: None,
            jam_armed: false,
            estop: false,
            jammed: None,
            executions: BTreeMap::new(),
            fail_next: None,
            estop_after_completion: false,
            record: Record::default(),
            arrivals: Vec::new(),
        };
        let idle = program.codes.idle;
        program.set_status(|s| s.state = idle);
        program.refresh_values(None);
        Ok(program)
    }

    /// The profile the PLC implements.
    pub fn profile(&self) -> &ModbusProfile {
        &self.profile
    }

    /// Read Holding Registers.
    pub fn read(&mut self, now: Instant, addr: u16, count: u16) -> Result<Vec<u16>, ExceptionCode> {
        self.tick(now);
        let range = self.range(addr, count)?;
        Ok(self.regs[range].to_vec())
    }

    /// Write Multiple Registers (or Write Single Register with one word). Only the mailbox is
    /// writable. A write that changes the sequence register takes a command.
    pub fn write(&mut self, now: Instant, addr: u16, words: &[u16]) -> Result<(), ExceptionCode> {
        self.tick(now);
        let mb = &self.profile.mailbox;
        let count = u16::try_from(words.len()).map_err(|_| ExceptionCode::IllegalDataValue)?;
        let range = self.range(addr, count)?;
        if addr < mb.start() || u32::from(addr) + u32::from(count) > u32::from(mb.seq) + 1 {
            return Err(ExceptionCode::IllegalDataAddress);
        }
        let (code_addr, seq_addr) = (usize::from(mb.code), usize::from(mb.seq));
        let new_seq = range
            .contains(&seq_addr)
            .then(|| words[seq_addr - range.start]);
        let st = self.status();
        let per_seq = self.per_seq();
        let re_send = |s: u16| {
            s == st.acked_seq
                || (per_seq && (s == st.active_seq || s == st.done_seq || self.in_history(s)))
        };
        let Some(seq) = new_seq.filter(|s| *s != 0 && !re_send(*s)) else {
            // No new command: plain memory write (a repeated sequence lands here).
            self.regs[range].copy_from_slice(words);
            return Ok(());
        };
        let code = if range.contains(&code_addr) {
            words[code_addr - range.start]
        } else {
            self.regs[code_addr]
        };
        if self.running.is_some() && Some(code) != self.codes.stop {
            let Some(busy) = self.codes.busy.filter(|_| per_seq) else {
                // The write is refused whole: record the refused command's own arguments
                // without letting them into the mailbox.
                let kept = self.regs[range.clone()].to_vec();
                self.regs[range.clone()].copy_from_slice(words);
                self.push_record(seq, code, CommandOutcome::RefusedBusy);
                self.regs[range].copy_from_slice(&kept);
                return Err(ExceptionCode::ServerDeviceBusy);
            };
            // Refused per sequence: the running command's active_seq stays.
            self.regs[range].copy_from_slice(words);
            self.push_record(seq, code, CommandOutcome::RefusedBusy);
            self.set_status(|s| s.acked_seq = seq);
            self.ended(seq, busy);
            return Ok(());
        }
        self.regs[range].copy_from_slice(words);
        self.take_command(now, seq, code);
        Ok(())
    }

    /// Whether the profile has the per-command result handshake.
    fn per_seq(&self) -> bool {
        self.profile.status.result.is_some()
    }

    fn push_record(&mut self, seq: u16, code: u16, outcome: CommandOutcome) {
        let mb = &self.profile.mailbox;
        let words = self.regs[usize::from(mb.start())..usize::from(mb.code)].to_vec();
        self.record.push(CommandRecord {
            seq,
            code,
            command: self.profile.command_name(code).map(str::to_owned),
            args: self.profile.decode_args(&words).unwrap_or_default(),
            outcome,
        });
    }

    fn range(&self, addr: u16, count: u16) -> Result<std::ops::Range<usize>, ExceptionCode> {
        let (start, end) = (usize::from(addr), usize::from(addr) + usize::from(count));
        if count == 0 || end > self.regs.len() {
            return Err(ExceptionCode::IllegalDataAddress);
        }
        Ok(start..end)
    }

    fn take_command(&mut self, now: Instant, seq: u16, code: u16) {
        self.set_status(|s| s.acked_seq = seq);
        self.push_record(seq, code, CommandOutcome::Running);
        if self.estop {
            return self.refuse(seq, self.codes.estop_fault);
        }
        let stop = Some(code) == self.codes.stop;
        if stop || Some(code) == self.codes.reset {
            if stop {
                self.abort_motion(self.codes.stopped, CommandOutcome::Stopped);
            }
            // Both clear a latched jam: the stuck tote is taken back to its source.
            if let Some(motion) = self.jammed.take() {
                self.machine.abort(&motion);
            }
            *self.executions.entry(seq).or_default() += 1;
            self.record.end(seq, CommandOutcome::Done);
            let idle = self.codes.idle;
            self.set_status(|s| {
                s.state = idle;
                s.fault_code = 0;
                s.active_seq = 0;
            });
            self.ended(seq, 0);
            self.refresh_values(None);
            return;
        }
        let Some(name) = self.profile.command_name(code).map(str::to_owned) else {
            return self.refuse(seq, self.codes.unknown_command);
        };
        if self.jammed.is_some() {
            return self.refuse(seq, self.codes.jam);
        }
        let args_words = self.regs
            [usize::from(self.profile.mailbox.start())..usize::from(self.profile.mailbox.code)]
            .to_vec();
        let args = self.profile.decode_args(&args_words).unwrap_or_default();
        let motion = match self.machine.start(&name, &args) {
            Ok(motion) => motion,
            Err(fault) => return self.refuse(seq, self.codes.fault(fault)),
        };
        *self.executions.entry(seq).or_default() += 1;
        let finish_at = now + self.machine.duration(&motion);
        self.running = Some(Running {
            seq,
            motion,
            started: now,
            finish_at,
        });
        let running = self.codes.running;
        self.set_status(|s| {
            s.state = running;
            s.fault_code = 0;
            s.active_seq = seq;
        });
        if std::mem::take(&mut self.jam_armed) {
            self.jam();
        }
        self.refresh_values(Some(now));
    }

    fn refuse(&mut self, seq: u16, fault: u16) {
        self.record
            .end(seq, CommandOutcome::Refused { code: fault });
        self.set_status(|s| s.fault_code = fault);
        self.ended(seq, fault);
    }

    /// Advances the program to `now`: finishes a motion whose time is up.
    pub fn tick(&mut self, now: Instant) {
        if let Some(run) = self.running.take_if(|r| now >= r.finish_at) {
            let result = self.fail_next.take().unwrap_or(0);
            if result == 0 {
                self.machine.finish(&run.motion);
                if let Motion::Transfer { tote, to, .. } = run.motion {
                    self.arrivals.push((tote, to));
                }
                self.record.end(run.seq, CommandOutcome::Done);
            } else {
                self.machine.abort(&run.motion);
                self.record
                    .end(run.seq, CommandOutcome::Failed { code: result });
            }
            let idle = self.codes.idle;
            self.set_status(|s| {
                s.state = idle;
                s.fault_code = result;
                s.active_seq = 0;
            });
            self.ended(run.seq, result);
            if std::mem::take(&mut self.estop_after_completion) {
                self.set_estop(true);
            }
        }
        self.refresh_values(Some(now));
    }

    /// Aborts the running command (tote back to its source). With the per-command
    /// handshake its end is written as `result` (`None`: the profile has no code for it,
    /// and the caller writes the registers).
    fn abort_motion(&mut self, result: Option<u16>, outcome: CommandOutcome) {
        if let Some(run) = self.running.take() {
            self.machine.abort(&run.motion);
            self.record.end(run.seq, outcome);
            if let Some(result) = result.filter(|_| self.per_seq()) {
                self.set_status(|s| s.active_seq = 0);
                self.ended(run.seq, result);
            }
        }
    }

    fn jam(&mut self) {
        // The motion stays where it stopped: a jammed tote is neither at its source nor at
        // its destination until an operator resets the conveyor ("reset" or "stop").
        let (fault, jam) = (self.codes.fault_state, self.codes.jam);
        let per_seq = self.per_seq();
        if let Some(run) = self.running.take() {
            self.record
                .end(run.seq, CommandOutcome::Failed { code: jam });
            if per_seq {
                self.set_status(|s| s.active_seq = 0);
                self.ended(run.seq, jam);
            }
            self.jammed = Some(run.motion);
        }
        self.set_status(|s| {
            s.state = fault;
            s.fault_code = jam;
        });
    }

    /// The next command that runs ends, after its travel time, with `result` instead of 0
    /// (the tote goes back to its source): a failure the PLC reports per command.
    pub fn fail_next_with(&mut self, result: u16) {
        self.fail_next = Some(result);
    }

    /// Presses the e-stop in the same scan in which the next command finishes: a fault
    /// after completion, which no poll can see apart from the completion.
    pub fn estop_after_next_completion(&mut self) {
        self.estop_after_completion = true;
    }

    /// Every command the PLC took (or refused), in order: what really happened.
    pub fn records(&self) -> &[CommandRecord] {
        self.record.all()
    }

    /// Jams the running command now, or the next command as soon as it starts.
    pub fn inject_jam(&mut self) {
        if self.running.is_some() {
            self.jam();
        } else {
            self.jam_armed = true;
        }
    }

    /// Presses (`true`) or releases (`false`) the emergency stop.
    pub fn set_estop(&mut self, on: bool) {
        self.estop = on;
        if on {
            let estop = self.codes.estop_fault;
            self.abort_motion(Some(estop), CommandOutcome::Failed { code: estop });
            let (state, fault) = (self.codes.estop_state, self.codes.estop_fault);
            self.set_status(|s| {
                s.state = state;
                s.fault_code = fault;
            });
        } else {
            let (state, jammed, jam) = (self.codes.idle, self.jammed.is_some(), self.codes.jam);
            let fault_state = self.codes.fault_state;
            self.set_status(|s| {
                s.state = if jammed { fault_state } else { state };
                s.fault_code = if jammed { jam } else { 0 };
            });
        }
    }

    /// How many times the command with sequence `seq` was started.
    pub fn executions(&self, seq: u16) -> u32 {
        self.executions.get(&seq).copied().unwrap_or(0)
    }

    /// Commands started in total.
    pub fn executions_total(&self) -> u32 {
        self.executions.values().sum()
    }

    /// The machine (tote positions, lift level).
    pub fn machine(&self) -> &Machine {
        &self.machine
    }

    /// Where a tote is.
    pub fn tote_location(&self, tote: u32) -> Option<ToteLocation> {
        self.machine.tote_location(tote)
    }

    /// Puts a tote on a conveyor location (for test setup, or a hand-off
    /// from another machine).
    pub fn place_tote(&mut self, tote: u32, at: u16) {
        self.machine.place_tote(tote, at);
    }

    /// Takes a tote off the conveyor (a machine downstream took it over).
    pub fn remove_tote(&mut self, tote: u32) -> Option<ToteLocation> {
        self.machine.remove_tote(tote)
    }

    /// The transfers that ended since the last call: (tote, location), in
    /// order.
    pub fn take_arrivals(&mut self) -> Vec<(u32, u16)> {
        std::mem::take(&mut self.arrivals)
    }

    /// Remaining time of the running command, if any.
    pub fn remaining(&self, now: Instant) -> Option<Duration> {
        self.running
            .as_ref()
            .map(|r| r.finish_at.saturating_duration_since(now))
    }
}
