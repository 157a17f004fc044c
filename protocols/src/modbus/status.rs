//! Status snapshots: what one poll of a PLC read, in protocol terms.

use std::collections::BTreeMap;

use tokio::time::Instant;

use super::mailbox::Handshake;
use super::plan::RegisterImage;
use super::profile::{FaultInfo, ModbusProfile};

/// The handshake registers and named values of one status poll.
#[derive(Debug, Clone, PartialEq)]
pub struct StatusSnapshot {
    /// Last sequence number the PLC took.
    pub acked_seq: u16,
    /// Raw value of the state register.
    pub state: u16,
    /// Profile name of `state`, if known.
    pub state_name: Option<String>,
    /// Raw value of the fault register (0 = none).
    pub fault_code: u16,
    /// `fault_code` resolved through the profile; `None` when it is 0.
    pub fault: Option<FaultInfo>,
    /// Last sequence number the PLC finished.
    pub done_seq: u16,
    /// Result code of `done_seq`, where the profile has a `result` register.
    pub result: Option<u16>,
    /// Sequence the PLC is executing (0 = none), where the profile has `active_seq`.
    pub active_seq: Option<u16>,
    /// The completion log `(seq, result)`, newest first, where the profile has one.
    pub history: Vec<(u16, u16)>,
    /// Named registers in engineering units; a value that failed to decode is absent.
    pub values: BTreeMap<String, f64>,
    /// When the poll that produced this snapshot started (every read happened after it).
    pub polled_at: Instant,
    /// Number of this poll since the client started.
    pub poll_number: u64,
}

impl StatusSnapshot {
    /// Decodes a snapshot from the registers of one poll; `None` if a handshake register is
    /// missing from the image.
    pub fn decode(
        profile: &ModbusProfile,
        image: &RegisterImage,
        polled_at: Instant,
        poll_number: u64,
    ) -> Option<Self> {
        let s = &profile.status;
        let (acked_seq, state, fault_code, done_seq) = (
            image.get(s.acked_seq)?,
            image.get(s.state)?,
            image.get(s.fault_code)?,
            image.get(s.done_seq)?,
        );
        let optional = |addr: Option<u16>| match addr {
            Some(a) => image.get(a).map(Some),
            None => Some(None),
        };
        let (result, active_seq) = (optional(s.result)?, optional(s.active_seq)?);
        let history = match &s.history {
            Some(h) => {
                let entries = super::mailbox::history_entries(h, |a| image.get(a));
                if entries.len() != usize::from(h.len) {
                    return None;
                }
                entries
            }
            None => Vec::new(),
        };
        let values = profile
            .registers
            .iter()
            .filter_map(|(name, def)| {
                let words = image.span(def.address, def.ty.word_count())?;
                def.decode(&words).ok().map(|v| (name.clone(), v))
            })
            .collect();
        Some(StatusSnapshot {
            acked_seq,
            state,
            state_name: profile.state_name(state).map(str::to_owned),
            fault_code,
            fault: (fault_code != 0).then(|| profile.fault(fault_code)),
            done_seq,
            result,
            active_seq,
            history,
            values,
            polled_at,
            poll_number,
        })
    }
}

impl StatusSnapshot {
    /// The handshake registers of this poll.
    pub fn handshake(&self) -> Handshake {
        Handshake {
            acked_seq: self.acked_seq,
            state: self.state,
            fault_code: self.fault_code,
            done_seq: self.done_seq,
            result: self.result,
            active_seq: self.active_seq,
            history: self.history.clone(),
        }
    }
}
