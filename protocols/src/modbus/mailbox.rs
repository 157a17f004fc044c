//! The command mailbox handshake: write, verify the acknowledgement, track completion.

use std::sync::Arc;

use tokio::sync::broadcast;
use tokio::time::{self, Instant};
use tokio_modbus::ExceptionCode;

use super::client::ModbusClient;
use super::error::ModbusError;
use super::outcome::{self, Verdict};
use super::profile::{FaultInfo, ModbusProfile};
use super::status::StatusSnapshot;

/// Capacity of the event channel; a slow subscriber loses the oldest events (and is told
/// how many by `broadcast::error::RecvError::Lagged`).
const EVENT_CAPACITY: usize = 256;

/// The handshake registers as read at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handshake {
    /// Last sequence the PLC saw (any master).
    pub acked_seq: u16,
    /// State register.
    pub state: u16,
    /// Fault register (0 = none).
    pub fault_code: u16,
    /// Last sequence the PLC finished.
    pub done_seq: u16,
    /// Result of `done_seq`, where the profile has the register.
    pub result: Option<u16>,
    /// Sequence executing now (0 = none), where the profile has the register.
    pub active_seq: Option<u16>,
    /// The completion log `(seq, result)`, newest first, where the profile has one.
    pub history: Vec<(u16, u16)>,
}

/// A command the PLC took: its sequence was read back from the acknowledged register.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acked {
    /// Sequence number of the command.
    pub seq: u16,
    /// Command code that was written.
    pub code: u16,
    /// Handshake registers of the read-back that saw the acknowledgement.
    pub handshake: Handshake,
    /// When the acknowledgement was read back.
    pub at: Instant,
}

/// A command the PLC finished without a fault.
#[derive(Debug, Clone, PartialEq)]
pub struct Done {
    /// Sequence number of the command.
    pub seq: u16,
    /// State register when completion was seen.
    pub state: u16,
    /// Profile name of `state`.
    pub state_name: Option<String>,
    /// The status snapshot that showed completion.
    pub snapshot: Arc<StatusSnapshot>,
}

/// The PLC said no. Not a transport problem: re-sending the same command will not help
/// until something on the device changes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlcFault {
    /// The PLC answered a request with a Modbus exception (e.g. illegal data address).
    #[error("the PLC answered the {op} with exception {exception:?}")]
    Exception {
        /// The request: "write" of the mailbox or "read" of the handshake.
        op: &'static str,
        /// The exception code.
        exception: ExceptionCode,
    },
    /// The PLC took the command and reported a fault code for it.
    #[error("seq {seq}: fault {}: {}", fault.code, fault.reason)]
    Fault {
        /// Sequence number of the command.
        seq: u16,
        /// Fault code with the profile's readable reason.
        fault: FaultInfo,
        /// State register at the time.
        state: u16,
        /// True when the PLC refused the command outright (done without running).
        refused: bool,
    },
    /// The PLC took a later command (e.g. "stop") before this one finished. Profiles
    /// without a `result` register only: with one, another sequence in `acked_seq` does
    /// not end this command.
    #[error("seq {seq} was superseded: the PLC acknowledged seq {acked_seq}")]
    Superseded {
        /// Sequence number of the command.
        seq: u16,
        /// The sequence the PLC took since.
        acked_seq: u16,
    },
}

/// Progress of mailbox commands, in protocol terms.
#[derive(Debug, Clone, PartialEq)]
pub enum MailboxEvent {
    /// The PLC acknowledged `seq`.
    Acked {
        /// Sequence number.
        seq: u16,
        /// Command code.
        code: u16,
    },
    /// The PLC finished `seq`.
    Done {
        /// Sequence number.
        seq: u16,
        /// State register.
        state: u16,
    },
    /// The PLC refused or faulted `seq`, or took another command first.
    Faulted {
        /// Sequence number.
        seq: u16,
        /// What the PLC said.
        fault: PlcFault,
    },
}

/// The command mailbox of one PLC.
#[derive(Debug, Clone)]
pub struct Mailbox {
    client: ModbusClient,
    events: broadcast::Sender<MailboxEvent>,
}

impl Mailbox {
    /// A mailbox over an existing client (the client keeps polling status).
    pub fn new(client: ModbusClient) -> Self {
        Mailbox {
            client,
            events: broadcast::channel(EVENT_CAPACITY).0,
        }
    }

    /// The underlying client.
    pub fn client(&self) -> &ModbusClient {
        &self.client
    }

    fn profile(&self) -> &ModbusProfile {
        self.client.profile()
    }

    /// Acks, completions and faults of commands sent through this mailbox.
    pub fn subscribe(&self) -> broadcast::Receiver<MailboxEvent> {
        self.events.subscribe()
    }

    fn emit(&self, event: MailboxEvent) {
        // No subscriber is fine.
        let _ = self.events.send(event);
    }

    /// Writes `args` (zero-filled to the argument block), `code` and `seq` in one Write
    /// Multiple Registers, then reads the handshake back until the PLC acknowledges `seq`
    /// (verified actuation). `seq` comes from the caller, who persisted it first; it must be
    /// non-zero and differ from the previous command's. Re-sending the same `seq` is
    /// harmless: the PLC ignores it and the read-back confirms the earlier acknowledgement.
    ///
    /// A command the PLC refuses at once (unknown code, device in fault, busy with another
    /// master's command) yields `Ok(Err(PlcFault::Fault { refused: true, .. }))`.
    ///
    /// Transport errors tell whether the write may have reached the PLC
    /// ([`ModbusError::may_have_reached_plc`]): `NotConnected` and `Closed` mean it was
    /// never issued; anything after the write was issued is [`ModbusError::Unconfirmed`]
    /// or [`ModbusError::AckTimeout`] (re-send the same `seq`).
    pub async fn send_command(
        &self,
        code: u16,
        args: &[u16],
        seq: u16,
    ) -> Result<Result<Acked, PlcFault>, ModbusError> {
        let profile = self.profile();
        let mailbox = &profile.mailbox;
        if seq == 0 {
            return Err(ModbusError::InvalidCommand(
                "seq 0 is reserved for \"no command\"".into(),
            ));
        }
        if args.len() > usize::from(mailbox.args_len()) {
            return Err(ModbusError::InvalidCommand(format!(
                "{} argument registers given, the mailbox has {}",
                args.len(),
                mailbox.args_len()
            )));
        }
        let mut words = vec![0u16; usize::from(mailbox.len())];
        words[..args.len()].copy_from_slice(args);
        let n = words.len();
        words[n - 2] = code;
        words[n - 1] = seq;

        let timing = &profile.timing;
        let deadline = Instant::now() + timing.ack_timeout();
        let within = |fut| async move {
            match time::timeout_at(deadline, fut).await {
                Ok(reply) => reply,
                Err(_) => Err(ModbusError::AckTimeout {
                    seq,
                    acked_seq: None,
                    after: timing.ack_timeout(),
                }),
            }
        };
        let unconfirmed = |e: ModbusError| match e {
            e @ (ModbusError::AckTimeout { .. } | ModbusError::Unconfirmed { .. }) => e,
            e => ModbusError::Unconfirmed {
                seq,
                source: Box::new(e),
            },
        };
        let written = within(
            self.client
                .write_multiple_registers(mailbox.start(), &words),
        )
        .await
        .map_err(|e| match e {
            // The client refused the request without sending it.
            e @ (ModbusError::NotConnected(_) | ModbusError::Closed) => e,
            e => unconfirmed(e),
        })?;
        if let Err(exception) = written {
            return Ok(Err(self.fault_event(
                seq,
                PlcFault::Exception {
                    op: "write",
                    exception,
                },
            )));
        }

        let mut last_acked = None;
        loop {
            let read = time::timeout_at(deadline, self.read_handshake()).await;
            let handshake = match read {
                Ok(Ok(Ok(h))) => h,
                Ok(Ok(Err(exception))) => {
                    return Ok(Err(self.fault_event(
                        seq,
                        PlcFault::Exception {
                            op: "read",
                            exception,
                        },
                    )));
                }
                Ok(Err(e)) => return Err(unconfirmed(e)),
                Err(_) => break,
            };
            last_acked = Some(handshake.acked_seq);
            match outcome::taken(profile, seq, &handshake) {
                None => {}
                Some(Verdict::Failed { fault, .. }) => {
                    let fault = PlcFault::Fault {
                        seq,
                        fault,
                        state: handshake.state,
                        refused: true,
                    };
                    return Ok(Err(self.fault_event(seq, fault)));
                }
                Some(_) => {
                    self.emit(MailboxEvent::Acked { seq, code });
                    return Ok(Ok(Acked {
                        seq,
                        code,
                        handshake,
                        at: Instant::now(),
                    }));
                }
            }
            if Instant::now() + timing.ack_retry() >= deadline {
                break;
            }
            time::sleep(timing.ack_retry()).await;
        }
        Err(ModbusError::AckTimeout {
            seq,
            acked_seq: last_acked,
            after: timing.ack_timeout(),
        })
    }

    /// [`Mailbox::send_command`] by command name with named arguments in engineering units.
    pub async fn send_named(
        &self,
        command: &str,
        args: &[(&str, f64)],
        seq: u16,
    ) -> Result<Result<Acked, PlcFault>, ModbusError> {
        let profile = self.profile();
        let code = profile.command_code(command).ok_or_else(|| {
            ModbusError::InvalidCommand(format!(
                "profile {} has no command `{command}`",
                profile.model
            ))
        })?;
        let words = profile
            .encode_args(args)
            .map_err(|e| ModbusError::InvalidCommand(e.to_string()))?;
        self.send_command(code, &words, seq).await
    }

    /// Reads the handshake registers in one request, through the lane.
    pub async fn read_handshake(&self) -> Result<Result<Handshake, ExceptionCode>, ModbusError> {
        let status = &self.profile().status;
        let (first, last) = status.span();
        let words = match self
            .client
            .read_holding_registers(first, last - first + 1)
            .await?
        {
            Ok(words) => words,
            Err(exception) => return Ok(Err(exception)),
        };
        let at = |addr: u16| words[usize::from(addr - first)];
        Ok(Ok(Handshake {
            acked_seq: at(status.acked_seq),
            state: at(status.state),
            fault_code: at(status.fault_code),
            done_seq: at(status.done_seq),
            result: status.result.map(at),
            active_seq: status.active_seq.map(at),
            history: status
                .history
                .map(|h| history_entries(&h, |a| words.get(usize::from(a - first)).copied()))
                .unwrap_or_default(),
        }))
    }

    /// Follows the status polls until the acknowledged command ends, as
    /// [`outcome::judge`] reads it: done OK, failed (a non-zero `result`, or for legacy
    /// profiles the fault register), superseded (legacy only), or ended unseen
    /// ([`ModbusError::OutcomeLost`]). Only polls started after the acknowledgement count.
    /// Bounded by the profile's completion timeout; a lost connection just delays the
    /// answer until polling resumes.
    pub async fn wait_completion(
        &self,
        acked: &Acked,
    ) -> Result<Result<Done, PlcFault>, ModbusError> {
        let seq = acked.seq;
        let after = self.profile().timing.completion_timeout();
        let deadline = acked.at + after;
        let mut status = self.client.status();
        loop {
            let latest = status.borrow_and_update().clone();
            if let Some(snapshot) = latest.filter(|s| s.polled_at >= acked.at) {
                if let Some(outcome) = judge(self.profile(), seq, &snapshot)? {
                    match &outcome {
                        Ok(done) => self.emit(MailboxEvent::Done {
                            seq,
                            state: done.state,
                        }),
                        Err(fault) => self.emit(MailboxEvent::Faulted {
                            seq,
                            fault: fault.clone(),
                        }),
                    }
                    return Ok(outcome);
                }
            }
            match time::timeout_at(deadline, status.changed()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => return Err(ModbusError::Closed),
                Err(_) => return Err(ModbusError::CompletionTimeout { seq, after }),
            }
        }
    }

    /// Sends a command and waits for its completion.
    pub async fn execute(
        &self,
        code: u16,
        args: &[u16],
        seq: u16,
    ) -> Result<Result<Done, PlcFault>, ModbusError> {
        match self.send_command(code, args, seq).await? {
            Ok(acked) => self.wait_completion(&acked).await,
            Err(fault) => Ok(Err(fault)),
        }
    }

    fn fault_event(&self, seq: u16, fault: PlcFault) -> PlcFault {
        self.emit(MailboxEvent::Faulted {
            seq,
            fault: fault.clone(),
        });
        fault
    }
}

/// The outcome of `seq` as one snapshot shows it, or `None` while it is still running;
/// `Err(OutcomeLost)` when it ended unseen.
pub fn judge(
    profile: &ModbusProfile,
    seq: u16,
    s: &Arc<StatusSnapshot>,
) -> Result<Option<Result<Done, PlcFault>>, ModbusError> {
    Ok(Some(match outcome::judge(profile, seq, &s.handshake()) {
        Verdict::Running => return Ok(None),
        Verdict::Done => Ok(Done {
            seq,
            state: s.state,
            state_name: s.state_name.clone(),
            snapshot: Arc::clone(s),
        }),
        Verdict::Failed { fault, refused } => Err(PlcFault::Fault {
            seq,
            fault,
            state: s.state,
            refused,
        }),
        Verdict::Superseded { acked_seq } => Err(PlcFault::Superseded { seq, acked_seq }),
        Verdict::Lost {
            done_seq,
            active_seq,
        } => {
            return Err(ModbusError::OutcomeLost {
                seq,
                done_seq,
                active_seq,
            })
        }
    }))
}

/// The `(seq, result)` entries of a completion log, read through `word` (absent words
/// end the log).
pub(super) fn history_entries(
    h: &super::profile::HistoryLayout,
    word: impl Fn(u16) -> Option<u16>,
) -> Vec<(u16, u16)> {
    (0..h.len)
        .map_while(|i| {
            let at = h.address.checked_add(2 * i)?;
            Some((word(at)?, word(at.checked_add(1)?)?))
        })
        .collect()
}
