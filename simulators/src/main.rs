//! `floorgate-sim`: run simulated devices against a real broker or server.

use std::time::Duration;

use clap::{Parser, Subcommand};
use floorgate_protocols::vda5050::ProtocolVersion;
use floorgate_sim::amr::{Fleet, FleetConfig};

#[derive(Debug, Parser)]
#[command(name = "floorgate-sim", version, about = "Simulated warehouse devices")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// A fleet of VDA 5050 AMRs on an MQTT broker.
    Amr {
        /// The broker, HOST:PORT.
        #[arg(long, default_value = "127.0.0.1:1883")]
        broker: String,
        /// Number of robots.
        #[arg(long, default_value_t = 10)]
        count: usize,
        /// The `manufacturer` of all robots.
        #[arg(long, default_value = "floorgate-sim")]
        manufacturer: String,
        /// VDA 5050 version: 2.0 or 2.1.
        #[arg(long, default_value = "2.1")]
        version: ProtocolVersion,
        /// Driving speed in m/s.
        #[arg(long, default_value_t = 2.0)]
        speed: f64,
        /// Pick and drop duration in seconds.
        #[arg(long, default_value_t = 2.0)]
        handling: f64,
        /// Interface name (first topic level).
        #[arg(long, default_value = "uagv")]
        interface: String,
        /// Publish state at least every this many seconds.
        #[arg(long, default_value_t = 30)]
        state_interval: u64,
    },
    /// A Modbus TCP conveyor or lift PLC serving a `devices/*-modbus.toml` register map.
    Plc {
        /// Listen address, HOST:PORT (port 0 picks a free port).
        #[arg(long, default_value = "127.0.0.1:5020")]
        listen: std::net::SocketAddr,
        /// The device profile (register map).
        #[arg(long, default_value = "devices/conveyor-modbus.toml")]
        profile: std::path::PathBuf,
        /// The machine behind the mailbox: conveyor or lift.
        #[arg(long, default_value = "conveyor")]
        machine: String,
        /// Conveyor transfer time, or lift time per level, in milliseconds.
        #[arg(long, default_value_t = 2000)]
        travel_ms: u64,
        /// Number of lift levels.
        #[arg(long, default_value_t = 6)]
        levels: u16,
        /// Totes 1..=N placed on the conveyor ports at start.
        #[arg(long, default_value_t = 4)]
        totes: u32,
    },
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let cli = Cli::parse();
    match cli.command {
        Command::Amr {
            broker,
            count,
            manufacturer,
            version,
            speed,
            handling,
            interface,
            state_interval,
        } => {
            let (host, port) = broker
                .rsplit_once(':')
                .and_then(|(h, p)| Some((h.to_string(), p.parse::<u16>().ok()?)))
                .ok_or_else(|| format!("--broker must be HOST:PORT, not {broker:?}"))?;
            if !(speed.is_finite() && speed > 0.0) {
                return Err("--speed must be a positive number".into());
            }
            if floorgate_protocols::vda5050::topic::check_level(&manufacturer).is_err() {
                return Err(format!(
                    "--manufacturer {manufacturer:?} cannot be a topic level"
                ));
            }
            let mut cfg = FleetConfig::new(&host, port, count);
            cfg.manufacturer = manufacturer;
            cfg.version = version;
            cfg.speed = speed;
            cfg.handling_s = handling.max(0.0);
            cfg.topics.interface_name = interface;
            cfg.state_interval = Duration::from_secs(state_interval.max(1));
            let fleet = Fleet::spawn(&cfg);
            eprintln!(
                "{count} AMRs (VDA 5050 {version}) on {host}:{port}; topics {}/v2/{}/{}NNN/…; Ctrl-C to stop",
                cfg.topics.interface_name, cfg.manufacturer, cfg.serial_prefix
            );
            tokio::signal::ctrl_c().await.map_err(|e| e.to_string())?;
            fleet.shutdown(Duration::from_secs(3)).await;
            Ok(())
        }
        Command::Plc {
            listen,
            profile,
            machine,
            travel_ms,
            levels,
            totes,
        } => {
            let profile = floorgate_protocols::modbus::ModbusProfile::load(&profile)
                .map_err(|e| e.to_string())?;
            let travel = Duration::from_millis(travel_ms);
            let machine = match machine.as_str() {
                "conveyor" => floorgate_sim::plc::Machine::conveyor(travel),
                "lift" => floorgate_sim::plc::Machine::lift(levels, travel),
                other => return Err(format!("--machine must be conveyor or lift, not {other:?}")),
            };
            let model = profile.model.clone();
            let plc =
                floorgate_sim::plc::SimPlc::start_on(listen, std::sync::Arc::new(profile), machine)
                    .await
                    .map_err(|e| e.to_string())?;
            for tote in 1..=totes {
                plc.place_tote(tote, u16::try_from((tote - 1) % 4 + 1).unwrap_or(1));
            }
            eprintln!("simulated PLC ({model}) on {}; Ctrl-C to stop", plc.addr());
            tokio::signal::ctrl_c().await.map_err(|e| e.to_string())?;
            Ok(())
        }
    }
}
