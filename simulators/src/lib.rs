//! floorgate-sim: simulated warehouse devices that speak the real protocols on loopback,
//! for tests, benchmarks and `floorgate simulate`.

pub mod amr;
pub mod asrs;
pub mod handoff;
pub mod plc;
pub mod site;
pub mod summary;
