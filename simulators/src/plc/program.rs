//! The PLC program: holding registers, the command mailbox and the machine, with no IO.
//!
//! Time is passed in: every read or write first runs [`PlcProgram::tick`] up to `now`, so a
//! test can drive the program with made-up instants and the Modbus shell needs no timer.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use floorgate_protocols::modbus::ModbusProfile;
use tokio_modbus::ExceptionCode;

use super::machine::{Codes, Machine, Motion, SetupError, ToteLocation};

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
        let acked = self.status().acked_seq;
        let Some(seq) = new_seq.filter(|s| *s != 0 && *s != acked) else {
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
            return Err(ExceptionCode::ServerDeviceBusy);
        }
        self.regs[range].copy_from_slice(words);
        self.take_command(now, seq, code);
        Ok(())
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
        if self.estop {
            return self.refuse(seq, self.codes.estop_fault);
        }
        if Some(code) == self.codes.stop {
            self.abort_motion();
            if let Some(motion) = self.jammed.take() {
                self.machine.abort(&motion);
            }
            *self.executions.entry(seq).or_default() += 1;
            let idle = self.codes.idle;
            self.set_status(|s| {
                s.state = idle;
                s.fault_code = 0;
                s.done_seq = seq;
            });
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
        });
        if std::mem::take(&mut self.jam_armed) {
            self.jam();
        }
        self.refresh_values(Some(now));
    }

    fn refuse(&mut self, seq: u16, fault: u16) {
        self.set_status(|s| {
            s.fault_code = fault;
            s.done_seq = seq;
        });
    }

    /// Advances the program to `now`: finishes a motion whose time is up.
    pub fn tick(&mut self, now: Instant) {
        if let Some(run) = self.running.take_if(|r| now >= r.finish_at) {
            self.machine.finish(&run.motion);
            if let Motion::Transfer { tote, to, .. } = run.motion {
                self.arrivals.push((tote, to));
            }
            let idle = self.codes.idle;
            self.set_status(|s| {
                s.state = idle;
                s.fault_code = 0;
                s.done_seq = run.seq;
            });
        }
        self.refresh_values(Some(now));
    }

    fn abort_motion(&mut self) {
        if let Some(run) = self.running.take() {
            self.machine.abort(&run.motion);
        }
    }

    fn jam(&mut self) {
        // The motion stays where it stopped: a jammed tote is neither at its source nor at
        // its destination until an operator resets the conveyor with "stop".
        self.jammed = self.running.take().map(|run| run.motion);
        let (fault, jam) = (self.codes.fault_state, self.codes.jam);
        self.set_status(|s| {
            s.state = fault;
            s.fault_code = jam;
        });
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
            self.abort_motion();
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

    /// The four handshake registers.
    pub fn status(&self) -> Status {
        let s = &self.profile.status;
        let at = |a: u16| self.regs[usize::from(a)];
        Status {
            acked_seq: at(s.acked_seq),
            state: at(s.state),
            fault_code: at(s.fault_code),
            done_seq: at(s.done_seq),
        }
    }

    fn set_status(&mut self, f: impl FnOnce(&mut Status)) {
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
    }

    /// Writes the machine's named values into the registers the profile defines.
    fn refresh_values(&mut self, now: Option<Instant>) {
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

    /// Remaining time of the running command, if any.
    pub fn remaining(&self, now: Instant) -> Option<Duration> {
        self.running
            .as_ref()
            .map(|r| r.finish_at.saturating_duration_since(now))
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
}

/// Registers `0..size` exist; every address the profile names is inside.
fn register_space(profile: &ModbusProfile) -> usize {
    let mut last = u32::from(profile.mailbox.seq);
    for (_, a) in profile.status.fields() {
        last = last.max(u32::from(a));
    }
    for def in profile
        .registers
        .values()
        .chain(profile.mailbox.args.values())
    {
        last = last.max(def.last());
    }
    last as usize + 1
}
