//! The command mailbox handshake: write, verify the acknowledgement, track completion.

use std::sync::Arc;

use tokio::sync::broadcast;
use tokio::time::{self, Instant};
use tokio_modbus::ExceptionCode;

use super::client::ModbusClient;
use super::error::ModbusError;
use super::profile::{FaultInfo, ModbusProfile};
use super::status::StatusSnapshot;

/// Capacity of the event channel; a slow subscriber loses the oldest events (and is told
/// how many by `broadcast::error::RecvError::Lagged`).
const EVENT_CAPACITY: usize = 256;

/// The four handshake registers as read at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Handshake {
    /// Last sequence the PLC took.
    pub acked_seq: u16,
    /// State register.
    pub state: u16,
    /// Fault register (0 = none).
    pub fault_code: u16,
    /// Last sequence the PLC finished.
    pub done_seq: u16,
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
    /// The PLC took a later command (e.g. "stop") before this one finished.
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
    /// A command the PLC refuses at once (unknown code, device in fault) yields
    /// `Ok(Err(PlcFault::Fault { refused: true, .. }))`.
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
        if let Err(exception) = within(
            self.client
                .write_multiple_registers(mailbox.start(), &words),
        )
        .await?
        {
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
                Ok(Err(e)) => return Err(e),
                Err(_) => break,
            };
            last_acked = Some(handshake.acked_seq);
            if handshake.acked_seq == seq {
                if handshake.done_seq == seq && handshake.fault_code != 0 {
                    let fault = PlcFault::Fault {
                        seq,
                        fault: profile.fault(handshake.fault_code),
                        state: handshake.state,
                        refused: true,
                    };
                    return Ok(Err(self.fault_event(seq, fault)));
                }
                self.emit(MailboxEvent::Acked { seq, code });
                return Ok(Ok(Acked {
                    seq,
                    code,
                    handshake,
                    at: Instant::now(),
                }));
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

    /// Reads the four handshake registers in one request, through the lane.
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
        }))
    }

    /// Follows the status polls until the acknowledged command finishes (`done_seq == seq`
    /// and no fault), faults (fault code while `acked_seq == seq`), or is superseded. Only
    /// polls started after the acknowledgement count. Bounded by the profile's completion
    /// timeout; a lost connection just delays the answer until polling resumes.
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
                if let Some(outcome) = judge(self.profile(), seq, &snapshot) {
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

/// The outcome of `seq` as one snapshot shows it, or `None` while it is still running.
pub fn judge(
    profile: &ModbusProfile,
    seq: u16,
    s: &Arc<StatusSnapshot>,
) -> Option<Result<Done, PlcFault>> {
    let fault = |refused| PlcFault::Fault {
        seq,
        fault: profile.fault(s.fault_code),
        state: s.state,
        refused,
    };
    if s.done_seq == seq {
        if s.fault_code != 0 {
            return Some(Err(fault(true)));
        }
        return Some(Ok(Done {
            seq,
            state: s.state,
            state_name: s.state_name.clone(),
            snapshot: Arc::clone(s),
        }));
    }
    if s.acked_seq != seq {
        return Some(Err(PlcFault::Superseded {
            seq,
            acked_seq: s.acked_seq,
        }));
    }
    if s.fault_code != 0 {
        return Some(Err(fault(false)));
    }
    None
}
