//! Device profile: the register map of one PLC model, loaded from `devices/*-modbus.toml`.
//!
//! Every address is a zero-based holding-register address (the PDU address, not the
//! "40001" notation). See the module note in `mod.rs` for the mailbox handshake.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::codec::{self, CodecError, RegisterType, WordOrder};
pub use super::settings::{PollSettings, Timing};

pub use super::settings::MAX_READ_REGISTERS;
/// Largest quantity of a Write Multiple Registers request (Modbus application protocol 6.12).
pub const MAX_WRITE_REGISTERS: u16 = 123;

/// The register map and handshake settings of one Modbus PLC model.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct ModbusProfile {
    /// Model name, used in logs and error messages.
    pub model: String,
    /// Unit identifier (slave id) the PLC answers to: 1..=247, or 255 for plain TCP devices.
    #[serde(default = "default_unit_id")]
    pub unit_id: u8,
    /// Timeouts and reconnect backoff.
    #[serde(default)]
    pub timing: Timing,
    /// Status polling.
    #[serde(default)]
    pub poll: PollSettings,
    /// The command mailbox: argument registers, then the command code, then the sequence.
    pub mailbox: MailboxLayout,
    /// The handshake status registers the PLC writes.
    pub status: StatusLayout,
    /// Further named status registers to poll (position, speed, temperature, ...).
    #[serde(default)]
    pub registers: BTreeMap<String, RegisterDef>,
    /// Command codes by name (`transfer = 1`); 0 is reserved for "no command".
    pub commands: BTreeMap<String, u16>,
    /// Values of the state register by name (`idle = 0`, `running = 1`, ...).
    pub states: BTreeMap<String, u16>,
    /// Fault codes by name, with the reason shown to operators; 0 is reserved for "no fault".
    /// The fault register and the `result` register both resolve through this table.
    #[serde(default)]
    pub faults: BTreeMap<String, FaultDef>,
    /// Names of the `states` that mean the *device* is in fault (it takes no work until
    /// reset), e.g. `["fault", "estop"]`. Only these make the device unavailable: a PLC that
    /// is idle with a non-zero fault register (its last command failed) is available.
    /// Absent: the states named `fault` and `estop`, where the profile has them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fault_states: Option<Vec<String>>,
}

/// The state names [`ModbusProfile::fault_states`] defaults to.
pub const DEFAULT_FAULT_STATES: [&str; 2] = ["fault", "estop"];

fn default_unit_id() -> u8 {
    1
}

/// One named typed value in holding registers.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RegisterDef {
    /// Address of the first register.
    pub address: u16,
    /// Machine type; 32-bit types occupy `address` and `address + 1`.
    #[serde(rename = "type")]
    pub ty: RegisterType,
    /// Which word of a 32-bit value comes first; ignored for 16-bit types.
    #[serde(default)]
    pub word_order: WordOrder,
    /// Engineering value = raw × scale.
    #[serde(default = "default_scale")]
    pub scale: f64,
    /// Unit of the engineering value, for display only ("mm", "m/s").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unit: Option<String>,
}

fn default_scale() -> f64 {
    1.0
}

impl RegisterDef {
    /// Last register occupied by this value.
    pub fn last(&self) -> u32 {
        u32::from(self.address) + u32::from(self.ty.word_count()) - 1
    }
    /// Decodes this value from its registers.
    pub fn decode(&self, words: &[u16]) -> Result<f64, CodecError> {
        codec::decode(self.ty, self.word_order, self.scale, words)
    }
    /// Encodes an engineering value into this register's words.
    pub fn encode(&self, value: f64) -> Result<Vec<u16>, CodecError> {
        codec::encode(self.ty, self.word_order, self.scale, value)
    }
}

/// The command mailbox: one contiguous block written by one Write Multiple Registers.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct MailboxLayout {
    /// Named argument registers; they fill the block from its start up to `code`.
    #[serde(default)]
    pub args: BTreeMap<String, RegisterDef>,
    /// Address of the command code register (right after the arguments).
    pub code: u16,
    /// Address of the command sequence register: `code + 1`, the last of the block, so the
    /// PLC sees a new sequence only once arguments and code are in place.
    pub seq: u16,
}

impl MailboxLayout {
    /// First register of the block.
    pub fn start(&self) -> u16 {
        self.args
            .values()
            .map(|a| a.address)
            .min()
            .unwrap_or(self.code)
    }
    /// Registers in the block (arguments, code, sequence).
    pub fn len(&self) -> u16 {
        self.seq.saturating_sub(self.start()) + 1
    }
    /// Always false: the block holds at least the code and the sequence.
    pub fn is_empty(&self) -> bool {
        false
    }
    /// Registers in front of the code register.
    pub fn args_len(&self) -> u16 {
        self.code.saturating_sub(self.start())
    }
}

/// The handshake registers the PLC writes (all `u16`). See the module note in `mod.rs`
/// for how a command's outcome is read from them.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct StatusLayout {
    /// The last sequence the PLC saw in the mailbox, from any master, taken or refused.
    pub acked_seq: u16,
    /// Machine state, one of the profile's `states`.
    pub state: u16,
    /// Fault of the machine, or the last command's failure ("last error"); 0 = none. With
    /// a `result` register it never decides a command; whether the device is in fault is
    /// the state register's ([`ModbusProfile::fault_states`]).
    pub fault_code: u16,
    /// The sequence of the last command that ended: finished, failed, aborted or refused.
    pub done_seq: u16,
    /// Optional: the result code of the command in `done_seq` (0 = done OK, otherwise a
    /// code of `[faults]`), written together with `done_seq`. With it a command is judged
    /// by `done_seq` + `result` alone, never by the fault register. Without it the fault
    /// register is read at completion, which a fault after completion (an e-stop pressed
    /// once the move is done) or another command's fault can misattribute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<u16>,
    /// Optional (needs `result`): the sequence of the command the PLC is executing, 0 when
    /// idle, kept apart from `acked_seq` so that another master's write (acknowledged,
    /// refused as busy) does not hide the command that runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_seq: Option<u16>,
    /// Optional (needs `result`): the PLC's log of the last commands that ended, so that
    /// an outcome floorgate did not see (it was down, another master's command ended
    /// since) is still read from the PLC, and a re-send of a finished command is still
    /// recognised as one. Read in the same request as the other status registers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history: Option<HistoryLayout>,
}

/// The completion log: `len` entries of two registers each, `seq` then `result`, newest
/// first (entry 0 is the command in `done_seq`); the PLC shifts the entries by one each
/// time a command ends. An empty entry has `seq` 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct HistoryLayout {
    /// First register of entry 0.
    pub address: u16,
    /// Number of entries (1..=32).
    pub len: u16,
}

impl HistoryLayout {
    /// Last register of the log.
    pub fn last(&self) -> u32 {
        u32::from(self.address) + 2 * u32::from(self.len) - 1
    }
}

impl StatusLayout {
    /// `(field name, address)` of the handshake registers: the four required ones, then
    /// `result` and `active_seq` where the profile has them.
    pub fn fields(&self) -> Vec<(&'static str, u16)> {
        let mut out = vec![
            ("acked_seq", self.acked_seq),
            ("state", self.state),
            ("fault_code", self.fault_code),
            ("done_seq", self.done_seq),
        ];
        out.extend(self.result.map(|a| ("result", a)));
        out.extend(self.active_seq.map(|a| ("active_seq", a)));
        out
    }
    /// First and last address of the smallest span holding every handshake register
    /// (the completion log included): what one read of the handshake covers.
    pub fn span(&self) -> (u16, u16) {
        let mut addrs: Vec<u32> = self
            .fields()
            .into_iter()
            .map(|(_, a)| u32::from(a))
            .collect();
        if let Some(h) = &self.history {
            addrs.push(u32::from(h.address));
            addrs.push(h.last().min(u32::from(u16::MAX)));
        }
        let first = addrs.iter().copied().min().unwrap_or(0);
        let last = addrs.iter().copied().max().unwrap_or(0);
        // Both come from u16 addresses (the log's end clamped above).
        (first as u16, last as u16)
    }
}

/// A fault code and its operator-facing reason.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct FaultDef {
    /// Value of the fault register (non-zero).
    pub code: u16,
    /// Readable reason ("tote jammed between rollers").
    pub reason: String,
}

/// A fault code resolved through the profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FaultInfo {
    /// Raw fault code.
    pub code: u16,
    /// Profile name of the fault, if the code is known.
    pub name: Option<String>,
    /// Readable reason; for an unknown code, a sentence saying so.
    pub reason: String,
}

impl ModbusProfile {
    /// Parses and validates a profile from TOML text.
    pub fn from_toml_str(text: &str) -> Result<Self, ProfileErrors> {
        let profile: ModbusProfile = toml::from_str(text).map_err(|e| {
            ProfileErrors(vec![ProfileError::Parse {
                message: e.to_string(),
            }])
        })?;
        profile.validate()?;
        Ok(profile)
    }

    /// Reads, parses and validates a profile file.
    pub fn load(path: &Path) -> Result<Self, ProfileErrors> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            ProfileErrors(vec![ProfileError::Parse {
                message: format!("{}: {e}", path.display()),
            }])
        })?;
        Self::from_toml_str(&text).map_err(|mut errs| {
            for err in &mut errs.0 {
                if let ProfileError::Parse { message } = err {
                    *message = format!("{}: {message}", path.display());
                }
            }
            errs
        })
    }

    /// Checks the profile; every error names the offending field.
    pub fn validate(&self) -> Result<(), ProfileErrors> {
        super::validate::validate(self)
    }

    /// Code of a named command.
    pub fn command_code(&self, name: &str) -> Option<u16> {
        self.commands.get(name).copied()
    }

    /// Name of a command code.
    pub fn command_name(&self, code: u16) -> Option<&str> {
        self.commands
            .iter()
            .find(|(_, c)| **c == code)
            .map(|(n, _)| n.as_str())
    }

    /// Name of a value of the state register.
    pub fn state_name(&self, code: u16) -> Option<&str> {
        self.states
            .iter()
            .find(|(_, c)| **c == code)
            .map(|(n, _)| n.as_str())
    }

    /// Value of a named state.
    pub fn state_code(&self, name: &str) -> Option<u16> {
        self.states.get(name).copied()
    }

    /// Whether the value of the state register means the device is in fault
    /// ([`ModbusProfile::fault_states`]).
    pub fn is_fault_state(&self, state: u16) -> bool {
        let Some(name) = self.state_name(state) else {
            return false;
        };
        match &self.fault_states {
            Some(names) => names.iter().any(|n| n == name),
            None => DEFAULT_FAULT_STATES.contains(&name),
        }
    }

    /// Code of a named fault.
    pub fn fault_code(&self, name: &str) -> Option<u16> {
        self.faults.get(name).map(|f| f.code)
    }

    /// Resolves a fault code to its name and readable reason.
    pub fn fault(&self, code: u16) -> FaultInfo {
        match self.faults.iter().find(|(_, f)| f.code == code) {
            Some((name, f)) => FaultInfo {
                code,
                name: Some(name.clone()),
                reason: f.reason.clone(),
            },
            None => FaultInfo {
                code,
                name: None,
                reason: format!("unknown fault code {code}"),
            },
        }
    }

    /// Encodes named argument values (engineering units) into the argument words of the
    /// mailbox, zero-filled; the result goes to [`crate::modbus::Mailbox::send_command`].
    pub fn encode_args(&self, values: &[(&str, f64)]) -> Result<Vec<u16>, ArgsError> {
        let start = self.mailbox.start();
        let mut words = vec![0u16; usize::from(self.mailbox.args_len())];
        for (name, value) in values {
            let def = self
                .mailbox
                .args
                .get(*name)
                .ok_or_else(|| ArgsError::UnknownArg((*name).to_owned()))?;
            let encoded = def.encode(*value).map_err(|source| ArgsError::Codec {
                arg: (*name).to_owned(),
                source,
            })?;
            let at = usize::from(def.address - start);
            words[at..at + encoded.len()].copy_from_slice(&encoded);
        }
        Ok(words)
    }

    /// Decodes the named argument values out of the argument words of the mailbox.
    pub fn decode_args(&self, words: &[u16]) -> Result<BTreeMap<String, f64>, ArgsError> {
        let start = self.mailbox.start();
        let mut out = BTreeMap::new();
        for (name, def) in &self.mailbox.args {
            let at = usize::from(def.address - start);
            let slice = words
                .get(at..at + usize::from(def.ty.word_count()))
                .unwrap_or(&[]);
            let value = def.decode(slice).map_err(|source| ArgsError::Codec {
                arg: name.clone(),
                source,
            })?;
            out.insert(name.clone(), value);
        }
        Ok(out)
    }
}

/// Named command arguments that cannot be encoded.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ArgsError {
    /// The profile's mailbox has no argument of that name.
    #[error("the mailbox has no argument `{0}`")]
    UnknownArg(String),
    /// The value does not fit the argument's register type.
    #[error("argument `{arg}`: {source}")]
    Codec {
        /// Argument name.
        arg: String,
        /// What went wrong.
        source: CodecError,
    },
}

/// One problem in a profile.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProfileError {
    /// The file could not be read or is not valid TOML for this shape.
    #[error("{message}")]
    Parse {
        /// Parser message, with line and column.
        message: String,
    },
    /// Two fields claim the same register.
    #[error("`{field}` (registers {first}..={last}) overlaps `{other}`")]
    Overlap {
        /// Field path, e.g. `registers.speed`.
        field: String,
        /// The field it collides with.
        other: String,
        /// First register of `field`.
        first: u32,
        /// Last register of `field`.
        last: u32,
    },
    /// The same code is used for two names.
    #[error("`{field}`: code {code} is already used by `{other}`")]
    DuplicateCode {
        /// Field path.
        field: String,
        /// The other name.
        other: String,
        /// The code.
        code: u16,
    },
    /// A required entry is absent.
    #[error("`{field}` is missing: {message}")]
    Missing {
        /// Field path.
        field: String,
        /// What is expected.
        message: String,
    },
    /// A field has a value that cannot work.
    #[error("`{field}`: {message}")]
    Invalid {
        /// Field path.
        field: String,
        /// Why.
        message: String,
    },
}

impl ProfileError {
    /// The field the error is about (empty for parse errors).
    pub fn field(&self) -> &str {
        match self {
            ProfileError::Parse { .. } => "",
            ProfileError::Overlap { field, .. }
            | ProfileError::DuplicateCode { field, .. }
            | ProfileError::Missing { field, .. }
            | ProfileError::Invalid { field, .. } => field,
        }
    }
}

/// All problems found in a profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProfileErrors(pub Vec<ProfileError>);

impl fmt::Display for ProfileErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for ProfileErrors {}
