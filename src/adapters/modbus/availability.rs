//! Whether a PLC can take work: its link, its status polls, and its state register.
//!
//! * Not connected → offline, with the link's error.
//! * Connected but the status polls are refused (a Modbus exception: wrong unit id behind
//!   a gateway, a register map the PLC lacks) → offline, the reason naming the device,
//!   the unit id and the exception code in hex.
//! * Connected, polled, `state` one of the profile's `fault_states` → fault, with the
//!   fault register's reason.
//! * Otherwise online — also when the fault register holds the last command's failure:
//!   that is the command's result, not the device's fault.

use crate::engine::adapter::{Availability, DeviceReport, ReportSink};
use crate::modbus::{LinkState, ModbusClient, ModbusProfile, PollRefusal, StatusSnapshot};

/// What one moment of link, poll refusal and status says about the device.
pub fn availability(
    device_id: &str,
    profile: &ModbusProfile,
    link: &LinkState,
    refusal: Option<&PollRefusal>,
    status: Option<&StatusSnapshot>,
) -> (Availability, String) {
    match link {
        LinkState::Connecting => (Availability::Offline, "connecting".into()),
        LinkState::Disconnected { error, .. } => (Availability::Offline, error.clone()),
        LinkState::Connected { .. } => match (refusal, status) {
            (Some(r), _) => (
                Availability::Offline,
                format!(
                    "{device_id} (unit {}): status poll refused: {}",
                    profile.unit_id,
                    crate::modbus::exception_text(r.exception)
                ),
            ),
            (None, None) => (
                Availability::Offline,
                "connected, waiting for the first status poll".into(),
            ),
            (None, Some(s)) if profile.is_fault_state(s.state) => (
                Availability::Fault,
                s.fault
                    .as_ref()
                    .map(|f| f.reason.clone())
                    .unwrap_or_else(|| format!("state {}", s.state_name.as_deref().unwrap_or("?"))),
            ),
            (None, Some(_)) => (Availability::Online, String::new()),
        },
    }
}

/// Reports the PLC's availability at every change; tells `on_link` whether the link is
/// up at every change.
pub fn watch(
    device_id: String,
    client: ModbusClient,
    sink: ReportSink,
    on_link: impl Fn(bool) + Send + 'static,
) {
    tokio::spawn(async move {
        let mut link = client.link();
        let mut status = client.status();
        let mut refusal = client.poll_refusal();
        let profile = client.profile().clone();
        let mut last: Option<(Availability, String)> = None;
        loop {
            let now = {
                let l = link.borrow_and_update();
                on_link(matches!(&*l, LinkState::Connected { .. }));
                let r = refusal.borrow_and_update();
                let s = status.borrow_and_update();
                availability(&device_id, &profile, &l, r.as_ref(), s.as_deref())
            };
            if last.as_ref() != Some(&now) {
                if now.0 != Availability::Online {
                    tracing::info!(device = %device_id, availability = ?now.0, reason = %now.1, "PLC not available");
                }
                sink.report(DeviceReport::Availability {
                    device_id: device_id.clone(),
                    availability: now.0,
                    reason: now.1.clone(),
                });
                last = Some(now);
            }
            tokio::select! {
                r = link.changed() => if r.is_err() { return },
                r = status.changed() => if r.is_err() { return },
                r = refusal.changed() => if r.is_err() { return },
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::modbus::ExceptionCode;

    fn profile() -> ModbusProfile {
        let path =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("devices/conveyor-modbus.toml");
        let mut p = ModbusProfile::load(&path).unwrap();
        p.unit_id = 3;
        p
    }

    fn snapshot(p: &ModbusProfile, state: &str, fault: u16) -> StatusSnapshot {
        let state = p.state_code(state).unwrap();
        StatusSnapshot {
            acked_seq: 1,
            state,
            state_name: p.state_name(state).map(str::to_owned),
            fault_code: fault,
            fault: (fault != 0).then(|| p.fault(fault)),
            done_seq: 1,
            result: Some(fault),
            active_seq: Some(0),
            history: Vec::new(),
            values: Default::default(),
            polled_at: tokio::time::Instant::now(),
            poll_number: 1,
        }
    }

    const UP: LinkState = LinkState::Connected { generation: 1 };

    #[test]
    fn an_idle_plc_whose_last_command_failed_is_online() {
        let p = profile();
        let s = snapshot(&p, "idle", p.fault_code("no_tote").unwrap());
        assert_eq!(
            availability("conv-1", &p, &UP, None, Some(&s)).0,
            Availability::Online
        );
    }

    #[test]
    fn a_fault_state_holds_the_plc_with_the_fault_registers_reason() {
        let p = profile();
        let s = snapshot(&p, "estop", p.fault_code("estop").unwrap());
        assert_eq!(
            availability("conv-1", &p, &UP, None, Some(&s)),
            (Availability::Fault, "emergency stop pressed".into())
        );
    }

    #[test]
    fn refused_polls_name_the_device_the_unit_and_the_exception_in_hex() {
        let p = profile();
        let r = PollRefusal {
            exception: ExceptionCode::GatewayTargetDevice,
            start: 0,
            count: 22,
        };
        let s = snapshot(&p, "idle", 0);
        assert_eq!(
            availability("conv-1", &p, &UP, Some(&r), Some(&s)),
            (
                Availability::Offline,
                "conv-1 (unit 3): status poll refused: exception 0x0B gateway target device failed to respond".into()
            )
        );
    }
}
