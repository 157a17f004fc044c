//! The PLC's own record of every command it saw, whoever wrote it: what really happened,
//! for tests to hold the gateway's journal against.

use std::collections::BTreeMap;

/// What happened to one command.
#[derive(Debug, Clone, PartialEq)]
pub enum CommandOutcome {
    /// Started and not ended yet.
    Running,
    /// Finished OK (result 0).
    Done,
    /// Started, then ended with a non-zero result (a jam, an e-stop, an injected failure).
    Failed {
        /// The result / fault code.
        code: u16,
    },
    /// Refused without starting (unknown code, bad argument, no tote, device in fault).
    Refused {
        /// The result / fault code.
        code: u16,
    },
    /// Refused because another command was running.
    RefusedBusy,
    /// Stopped by a `stop` command before it finished.
    Stopped,
}

/// One command as the PLC took it.
#[derive(Debug, Clone, PartialEq)]
pub struct CommandRecord {
    /// Its sequence number.
    pub seq: u16,
    /// Command code written.
    pub code: u16,
    /// Profile name of the code, if known.
    pub command: Option<String>,
    /// Argument values decoded with the profile.
    pub args: BTreeMap<String, f64>,
    /// What happened.
    pub outcome: CommandOutcome,
}

/// Every command, in the order the PLC took them.
#[derive(Debug, Default, Clone)]
pub(super) struct Record {
    commands: Vec<CommandRecord>,
}

impl Record {
    pub(super) fn push(&mut self, record: CommandRecord) {
        self.commands.push(record);
    }

    /// Ends the running command with `seq` (the latest record of it still running).
    pub(super) fn end(&mut self, seq: u16, outcome: CommandOutcome) {
        if let Some(r) = self
            .commands
            .iter_mut()
            .rev()
            .find(|r| r.seq == seq && r.outcome == CommandOutcome::Running)
        {
            r.outcome = outcome;
        }
    }

    pub(super) fn all(&self) -> &[CommandRecord] {
        &self.commands
    }
}
