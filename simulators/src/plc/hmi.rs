//! A second Modbus master on the PLC's mailbox: an operator panel (HMI) writing commands
//! of its own, with its own sequence numbers, while the gateway drives the same PLC.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use floorgate_protocols::modbus::ModbusProfile;
use tokio_modbus::client::{tcp, Context, Reader, Writer};
use tokio_modbus::{ExceptionCode, Slave};

/// What the PLC answered the HMI's write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HmiAnswer {
    /// The write was answered with a Modbus exception (legacy busy refusal).
    Exception(ExceptionCode),
    /// The write landed; the handshake registers read right after it.
    Written {
        /// `acked_seq` after the write.
        acked_seq: u16,
        /// `done_seq` after the write.
        done_seq: u16,
        /// `result` after the write (0 without the register).
        result: u16,
        /// `active_seq` after the write (0 without the register).
        active_seq: u16,
    },
}

impl HmiAnswer {
    /// Whether the PLC refused the HMI's command `seq` (busy or otherwise).
    pub fn refused(&self, seq: u16) -> bool {
        match self {
            HmiAnswer::Exception(_) => true,
            HmiAnswer::Written {
                done_seq, result, ..
            } => *done_seq == seq && *result != 0,
        }
    }
}

/// The HMI could not talk to the PLC.
#[derive(Debug, thiserror::Error)]
pub enum HmiError {
    /// Connecting or a request failed.
    #[error("hmi: {0}")]
    Io(String),
    /// The profile has no command of that name.
    #[error("hmi: the profile has no command `{0}`")]
    UnknownCommand(String),
    /// The PLC never reached the awaited state.
    #[error("hmi: gave up waiting for {0}")]
    Timeout(&'static str),
}

/// An HMI connected to one PLC.
pub struct Hmi {
    ctx: Context,
    profile: Arc<ModbusProfile>,
}

impl std::fmt::Debug for Hmi {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hmi")
            .field("model", &self.profile.model)
            .finish_non_exhaustive()
    }
}

impl Hmi {
    /// Connects to the PLC at `addr` with the profile's unit id.
    pub async fn connect(addr: SocketAddr, profile: Arc<ModbusProfile>) -> Result<Hmi, HmiError> {
        let ctx = tcp::connect_slave(addr, Slave(profile.unit_id))
            .await
            .map_err(|e| HmiError::Io(e.to_string()))?;
        Ok(Hmi { ctx, profile })
    }

    /// Writes `command` with `args` and `seq` into the mailbox (one Write Multiple
    /// Registers, seq last, exactly as the gateway does) and reads the handshake back.
    pub async fn write_command(
        &mut self,
        command: &str,
        args: &[(&str, f64)],
        seq: u16,
    ) -> Result<HmiAnswer, HmiError> {
        let code = self
            .profile
            .command_code(command)
            .ok_or_else(|| HmiError::UnknownCommand(command.to_owned()))?;
        let mut words = self
            .profile
            .encode_args(args)
            .map_err(|e| HmiError::Io(e.to_string()))?;
        words.push(code);
        words.push(seq);
        let start = self.profile.mailbox.start();
        match self
            .ctx
            .write_multiple_registers(start, &words)
            .await
            .map_err(|e| HmiError::Io(e.to_string()))?
        {
            Err(exception) => Ok(HmiAnswer::Exception(exception)),
            Ok(()) => self.handshake().await,
        }
    }

    /// Waits (polling every 10 ms, up to `within`) until the PLC is running a command, then
    /// writes `command`: another master writing the mailbox during the gateway's move.
    pub async fn write_while_running(
        &mut self,
        command: &str,
        args: &[(&str, f64)],
        seq: u16,
        within: Duration,
    ) -> Result<HmiAnswer, HmiError> {
        let running = self
            .profile
            .state_code("running")
            .ok_or(HmiError::UnknownCommand("state running".into()))?;
        let state_addr = self.profile.status.state;
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let state = self.read(state_addr, 1).await?.first().copied();
            if state == Some(running) {
                return self.write_command(command, args, seq).await;
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(HmiError::Timeout("the PLC to run a command"));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    async fn read(&mut self, addr: u16, count: u16) -> Result<Vec<u16>, HmiError> {
        self.ctx
            .read_holding_registers(addr, count)
            .await
            .map_err(|e| HmiError::Io(e.to_string()))?
            .map_err(|e| HmiError::Io(format!("read refused: {e}")))
    }

    async fn handshake(&mut self) -> Result<HmiAnswer, HmiError> {
        let status = self.profile.status.clone();
        let (first, last) = status.span();
        let words = self.read(first, last - first + 1).await?;
        let at = |a: u16| words.get(usize::from(a - first)).copied().unwrap_or(0);
        Ok(HmiAnswer::Written {
            acked_seq: at(status.acked_seq),
            done_seq: at(status.done_seq),
            result: status.result.map_or(0, at),
            active_seq: status.active_seq.map_or(0, at),
        })
    }
}
