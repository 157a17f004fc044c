//! `floorgate-sim`: run simulated devices against a real broker or server.
//!
//! `site --config FILE` runs every device of a site file in one process (see
//! `floorgate_sim::site`); `site grid` writes a generated warehouse site file
//! (`floorgate_sim::site::grid`); `amr`, `plc` and `asrs` run one kind alone, from flags or from
//! the site file (`--config`). On SIGTERM or SIGINT each prints what its devices did, as
//! text and then as one JSON line on stdout (`floorgate_sim::summary`), and exits 0.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use floorgate_protocols::vda5050::ProtocolVersion;
use floorgate_sim::amr::{Fleet, FleetConfig};
use floorgate_sim::site::grid::GridSpec;
use floorgate_sim::site::{Parts, Site, SiteOptions, SiteSim};
use floorgate_sim::summary::Summary;

#[derive(Debug, Parser)]
#[command(name = "floorgate-sim", version, about = "Simulated warehouse devices")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// How the devices of a site file behave.
#[derive(Debug, Args)]
struct Behaviour {
    /// AMR driving speed in m/s (default: the AMR profile's).
    #[arg(long)]
    speed: Option<f64>,
    /// AMR pick and drop time in seconds (default: the AMR profile's).
    #[arg(long)]
    handling: Option<f64>,
    /// Conveyor transfer time, or lift time per level, in milliseconds.
    #[arg(long, default_value_t = 1500)]
    travel_ms: u64,
    /// AS/RS retrieval and store time in milliseconds.
    #[arg(long, default_value_t = 2000)]
    crane_ms: u64,
    /// The AMRs stop for each other before they touch (safety fields); without it they
    /// pass through each other. Conflicts are counted either way.
    #[arg(long)]
    physical: bool,
    /// The AMRs' simulated time runs this many times faster than the wall clock.
    #[arg(long, default_value_t = 1.0)]
    time_lapse: f64,
}

impl Behaviour {
    fn options(
        &self,
        broker: Option<String>,
        embedded_broker: bool,
    ) -> Result<SiteOptions, String> {
        if let Some(s) = self.speed {
            if !(s.is_finite() && s > 0.0) {
                return Err("--speed must be a positive number".into());
            }
        }
        if !(self.time_lapse.is_finite() && self.time_lapse > 0.0) {
            return Err("--time-lapse must be a positive number".into());
        }
        Ok(SiteOptions {
            broker,
            embedded_broker,
            speed: self.speed,
            handling_s: self.handling.map(|h| h.max(0.0)),
            travel: Duration::from_millis(self.travel_ms),
            crane: Duration::from_millis(self.crane_ms),
            physical: self.physical,
            time_lapse: self.time_lapse,
            ..SiteOptions::default()
        })
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Every device of a site file at its address: AMRs on their layout nodes, PLCs, AS/RS,
    /// the hand-offs between them, and an embedded MQTT broker unless --broker is given;
    /// `site grid` writes a generated warehouse site file.
    #[command(args_conflicts_with_subcommands = true)]
    Site {
        #[command(subcommand)]
        generate: Option<SiteCommand>,
        /// The site file (e.g. devices/site-demo.toml).
        #[arg(long)]
        config: Option<PathBuf>,
        /// An MQTT broker to use, HOST:PORT, instead of starting one on the site file's
        /// broker address.
        #[arg(long)]
        broker: Option<String>,
        #[command(flatten)]
        behaviour: Behaviour,
    },
    /// A fleet of VDA 5050 AMRs on an MQTT broker.
    Amr {
        /// The site file: its AMRs (serials, profiles) on their layout nodes, and its
        /// broker unless --broker is given; the other flags are ignored but --speed and
        /// --handling.
        #[arg(long)]
        config: Option<PathBuf>,
        /// The broker, HOST:PORT (default 127.0.0.1:1883, or the site file's).
        #[arg(long)]
        broker: Option<String>,
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
        #[arg(long)]
        speed: Option<f64>,
        /// Pick and drop duration in seconds.
        #[arg(long)]
        handling: Option<f64>,
        /// Interface name (first topic level).
        #[arg(long, default_value = "uagv")]
        interface: String,
        /// Publish state at least every this many seconds.
        #[arg(long, default_value_t = 30)]
        state_interval: u64,
    },
    /// A Modbus TCP conveyor or lift PLC serving a `devices/*-modbus.toml` register map.
    Plc {
        /// The site file: its conveyors and lifts at their addresses with their profiles
        /// (--listen, --profile and --machine are then ignored).
        #[arg(long)]
        config: Option<PathBuf>,
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
    /// An AS/RS with an OPC-UA server (both interface styles: methods and handshake).
    Asrs {
        /// The site file: its AS/RS at their addresses, ports and bins from its locations.
        #[arg(long)]
        config: Option<PathBuf>,
        /// Listen address without a site file, HOST:PORT: the demo grid (bins
        /// ASRS1-01-01 … ASRS1-04-05, levels 1–3 stocked), ports IN-1 and OUT-1.
        #[arg(long, default_value = "127.0.0.1:4840")]
        listen: std::net::SocketAddr,
        /// Retrieval and store time in milliseconds.
        #[arg(long, default_value_t = 2000)]
        crane_ms: u64,
    },
}

#[derive(Debug, Subcommand)]
enum SiteCommand {
    /// Write a rack warehouse site file: one-way rack aisles with a bay per rack, cross
    /// aisles, pick stations behind waiting nodes, a parking node per AMR, the AMRs, and
    /// routes rack → station and back (loads in `floorgate check-config`).
    Grid {
        /// Rack aisles.
        #[arg(long, default_value_t = 4)]
        aisles: usize,
        /// Racks per aisle.
        #[arg(long, default_value_t = 10)]
        racks: usize,
        /// Pick stations.
        #[arg(long, default_value_t = 2)]
        stations: usize,
        /// AMRs (each with a parking node).
        #[arg(long, default_value_t = 4)]
        amrs: usize,
        /// The AMRs' MQTT broker, HOST:PORT.
        #[arg(long, default_value = "127.0.0.1:1883")]
        broker: String,
        /// `profiles_dir` of the file, relative to it (default: its own directory).
        #[arg(long, default_value = ".")]
        profiles_dir: String,
        /// Write here instead of stdout.
        #[arg(long)]
        out: Option<PathBuf>,
    },
}

/// SIGTERM or SIGINT.
async fn stop_signal() -> Result<(), String> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
        let mut int = signal(SignalKind::interrupt()).map_err(|e| e.to_string())?;
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        Ok(())
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await.map_err(|e| e.to_string())
    }
}

/// The summary as text, then as one JSON line.
fn print_summary(s: &Summary) {
    println!("{}", s.text());
    println!("{}", s.json());
}

async fn run_site(path: &PathBuf, parts: Parts, opts: SiteOptions) -> Result<(), String> {
    let site = Site::load(path).map_err(|e| e.to_string())?;
    let sim = SiteSim::start(&site, parts, &opts)
        .await
        .map_err(|e| e.to_string())?;
    for line in sim.describe() {
        eprintln!("{line}");
    }
    eprintln!("simulating {}; SIGTERM or Ctrl-C to stop", path.display());
    stop_signal().await?;
    let summary = sim.summary();
    sim.stop(Duration::from_secs(3)).await;
    print_summary(&summary);
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let cli = Cli::parse();
    match cli.command {
        Command::Site {
            generate:
                Some(SiteCommand::Grid {
                    aisles,
                    racks,
                    stations,
                    amrs,
                    broker,
                    profiles_dir,
                    out,
                }),
            ..
        } => {
            let mut spec =
                GridSpec::new(aisles, racks, stations, amrs).map_err(|e| format!("--{e}"))?;
            spec.profiles_dir = profiles_dir;
            let text = spec.site_toml(&broker);
            match out {
                Some(path) => std::fs::write(&path, text)
                    .map_err(|e| format!("writing {}: {e}", path.display())),
                None => {
                    print!("{text}");
                    Ok(())
                }
            }
        }
        Command::Site {
            generate: None,
            config,
            broker,
            behaviour,
        } => {
            let config = config.ok_or("site needs --config FILE (or the grid subcommand)")?;
            run_site(&config, Parts::ALL, behaviour.options(broker, true)?).await
        }
        Command::Amr {
            config: Some(config),
            broker,
            speed,
            handling,
            ..
        } => {
            let b = Behaviour {
                speed,
                handling,
                travel_ms: 0,
                crane_ms: 0,
                physical: false,
                time_lapse: 1.0,
            };
            let parts = Parts {
                amrs: true,
                plcs: false,
                asrs: false,
            };
            run_site(&config, parts, b.options(broker, false)?).await
        }
        Command::Amr {
            config: None,
            broker,
            count,
            manufacturer,
            version,
            speed,
            handling,
            interface,
            state_interval,
        } => {
            let broker = broker.unwrap_or_else(|| "127.0.0.1:1883".into());
            let (host, port) = broker
                .rsplit_once(':')
                .and_then(|(h, p)| Some((h.to_string(), p.parse::<u16>().ok()?)))
                .ok_or_else(|| format!("--broker must be HOST:PORT, not {broker:?}"))?;
            let speed = speed.unwrap_or(2.0);
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
            cfg.handling_s = handling.unwrap_or(2.0).max(0.0);
            cfg.topics.interface_name = interface;
            cfg.state_interval = Duration::from_secs(state_interval.max(1));
            let fleet = Fleet::spawn(&cfg);
            eprintln!(
                "{count} AMRs (VDA 5050 {version}) on {host}:{port}; topics {}/v2/{}/{}NNN/…; SIGTERM or Ctrl-C to stop",
                cfg.topics.interface_name, cfg.manufacturer, cfg.serial_prefix
            );
            stop_signal().await?;
            let mut summary = Summary::default();
            for r in fleet.robots() {
                summary.add_robot(&r.record());
            }
            summary.add_world(&fleet.world());
            fleet.shutdown(Duration::from_secs(3)).await;
            print_summary(&summary);
            Ok(())
        }
        Command::Plc {
            config: Some(config),
            travel_ms,
            levels,
            ..
        } => {
            let opts = SiteOptions {
                travel: Duration::from_millis(travel_ms),
                levels,
                ..SiteOptions::default()
            };
            let parts = Parts {
                amrs: false,
                plcs: true,
                asrs: false,
            };
            run_site(&config, parts, opts).await
        }
        Command::Plc {
            config: None,
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
            eprintln!(
                "simulated PLC ({model}) on {}; SIGTERM or Ctrl-C to stop",
                plc.addr()
            );
            stop_signal().await?;
            let mut summary = Summary::default();
            summary.add_plc(&plc.records());
            print_summary(&summary);
            Ok(())
        }
        Command::Asrs {
            config,
            listen,
            crane_ms,
        } => {
            let opts = SiteOptions {
                crane: Duration::from_millis(crane_ms),
                ..SiteOptions::default()
            };
            let parts = Parts {
                amrs: false,
                plcs: false,
                asrs: true,
            };
            match config {
                Some(config) => run_site(&config, parts, opts).await,
                None => {
                    // The demo AS/RS alone: a site of one device on `listen`.
                    let text = format!(
                        "[[devices]]\nid = \"asrs-1\"\nkind = \"asrs\"\naddress = \"opc.tcp://{listen}/\"\n\
                         [[locations]]\nid = \"ASRS1-*\"\nkind = \"storage\"\n\
                         [[locations]]\nid = \"ASRS1-OUT\"\nkind = \"port\"\nstation_type = \"OUT-1\"\n\
                         [[locations]]\nid = \"ASRS1-IN\"\nkind = \"port\"\nstation_type = \"IN-1\"\n"
                    );
                    let site = Site::parse(std::path::Path::new("(built in)"), &text)
                        .map_err(|e| e.to_string())?;
                    let sim = SiteSim::start(&site, parts, &opts)
                        .await
                        .map_err(|e| e.to_string())?;
                    for line in sim.describe() {
                        eprintln!("{line}");
                    }
                    stop_signal().await?;
                    let summary = sim.summary();
                    sim.stop(Duration::from_secs(1)).await;
                    print_summary(&summary);
                    Ok(())
                }
            }
        }
    }
}
