//! Hand-offs between simulated machines: where one machine's output is the
//! next one's input, the tote must move from one simulator's model to the
//! other's at the moment the first one delivers it, as it would on the
//! floor. The gateway never does this; a real site does it with steel.
//!
//! [`couple_asrs_and_conveyor`] joins an AS/RS and a conveyor PLC: a tote a
//! retrieval puts at an AS/RS output port appears on the conveyor location
//! below it (and leaves the port), and a tote a transfer brings to a
//! conveyor location above an AS/RS input port appears at that port (and
//! leaves the conveyor). Both happen before the delivering machine reports
//! its command done, so the next step always finds the tote.
//!
//! The conveyor tracks totes by number, the AS/RS by id: the number is the
//! digits of the id (`TOTE-000123` → 123), as the gateway's Modbus adapter
//! derives it; a tote that came from the AS/RS goes back with its contents.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::asrs::{SimAsrs, Tote};
use crate::plc::SimPlc;

/// Where the AS/RS and the conveyor meet.
#[derive(Debug, Clone, Default)]
pub struct AsrsConveyorLink {
    /// AS/RS output port name → the conveyor location it feeds.
    pub output_ports: Vec<(String, u16)>,
    /// Conveyor location → the AS/RS input port it feeds.
    pub input_ports: Vec<(u16, String)>,
}

/// The number a conveyor tracks a tote by: the digits of its id.
pub fn tote_number(id: &str) -> Option<u32> {
    let digits: String = id.chars().filter(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// Installs the hand-off hooks on both simulators (replacing earlier ones).
/// The hooks hold neither simulator alive.
pub fn couple_asrs_and_conveyor(asrs: &SimAsrs, plc: &SimPlc, link: &AsrsConveyorLink) {
    // Totes the conveyor carries that came from the AS/RS, by number.
    let known: Arc<Mutex<HashMap<u32, Tote>>> = Arc::default();

    let to_conveyor = plc.handle();
    let outputs = link.output_ports.clone();
    let seen = known.clone();
    asrs.on_delivered(move |port, tote| {
        let Some(at) = outputs.iter().find(|(p, _)| p == port).map(|(_, a)| *a) else {
            return false;
        };
        let Some(n) = tote_number(&tote.id) else {
            tracing::warn!(tote = %tote.id, "a tote id without a number cannot go on the conveyor");
            return false;
        };
        seen.lock().expect("poisoned").insert(n, tote.clone());
        to_conveyor.place_tote(n, at)
    });

    let to_asrs = asrs.handle();
    let inputs = link.input_ports.clone();
    plc.on_arrival(move |n, at| {
        let Some(port) = inputs.iter().find(|(a, _)| *a == at).map(|(_, p)| p) else {
            return false;
        };
        let tote = known
            .lock()
            .expect("poisoned")
            .remove(&n)
            .unwrap_or_else(|| Tote {
                id: format!("TOTE-{n}"),
                sku: String::new(),
                quantity: 0,
            });
        to_asrs.with(|m| m.put_at_port(port, tote)).is_some()
    });
}
