//! The command line: the daemon (`run`), the configuration check
//! (`check-config`, fit for systemd's `ExecStartPre`), and the operator's
//! client commands that talk to a running daemon over gRPC.

mod client;

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

pub use client::run_client;

#[derive(Debug, Parser)]
#[command(
    name = "floorgate",
    version,
    about = "Edge gateway for warehouse robotics"
)]
pub struct Cli {
    /// Log format: human-readable text or one JSON object per line.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text, env = "FLOORGATE_LOG_FORMAT")]
    pub log_format: LogFormat,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the gateway daemon.
    Run {
        /// The site file.
        #[arg(long, short, env = "FLOORGATE_CONFIG")]
        config: PathBuf,
        /// Write the gRPC listener's address to this file once listening.
        #[arg(long)]
        listen_addr_file: Option<PathBuf>,
    },
    #[cfg(feature = "simulate")]
    /// Run a whole virtual site in one process: embedded MQTT broker,
    /// simulated AMR fleet and conveyor PLC, the gateway, and a stream of
    /// demo tasks with live progress; prints a summary at the end (also on
    /// Ctrl-C). Exits non-zero unless every task completed.
    Simulate {
        /// Demo tasks to submit.
        #[arg(long, default_value_t = 40)]
        tasks: usize,
        /// Simulated AMRs.
        #[arg(long, default_value_t = 6)]
        amrs: usize,
        /// Seconds over which tasks arrive (60 % of it) and the run lasts.
        #[arg(long, default_value_t = 60)]
        duration: u64,
        /// Seed of the task mix.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// No progress lines, only the summary.
        #[arg(long)]
        quiet: bool,
        /// The site: `demo` (devices/site-demo.toml: AMRs, conveyor, AS/RS)
        /// or `grid` (a generated rack warehouse, AMRs from racks to pick
        /// stations, as `floorgate-sim site grid` writes).
        #[arg(long, value_enum, default_value_t = crate::simulate::Layout::Demo)]
        layout: crate::simulate::Layout,
        /// The VDA 5050 versions the AMRs speak: 2.0, 2.1, 3.0, or mixed (robot 1 2.0,
        /// robot 2 2.1, robot 3 3.0, and so on round).
        #[arg(long, value_enum, default_value_t = crate::simulate::Vda::Mixed)]
        vda: crate::simulate::Vda,
        /// On the grid: the AMRs pass through each other instead of stopping
        /// for each other (the contention-free upper bound).
        #[arg(long)]
        pass_through: bool,
        /// Keep the site running after the tasks ended, until Ctrl-C (to watch it in the
        /// console).
        #[arg(long)]
        hold: bool,
        /// Where the operator console (the admin listener) listens, or "off".
        #[arg(long, default_value = "127.0.0.1:0")]
        console_listen: String,
        /// The console's admin token (16 characters or more): operator actions need it
        /// as `Authorization: Bearer …`. Without it the console is read-only.
        #[arg(long, env = "FLOORGATE_CONSOLE_ADMIN_TOKEN", hide_env_values = true)]
        admin_token: Option<String>,
    },
    /// The gateway's OPC-UA client identity and trust list.
    Opcua {
        #[command(subcommand)]
        command: OpcuaCommand,
    },
    /// Validate a site file and its device profiles; exit non-zero on errors.
    CheckConfig {
        /// The site file.
        file: PathBuf,
    },
    /// Submit, query, cancel and watch tasks on a running gateway.
    Task {
        #[command(flatten)]
        server: ServerArg,
        #[command(subcommand)]
        command: TaskCommand,
    },
    /// List the devices of a running gateway, or show one; operator
    /// commands to a device (reset, stop, pause, resume, resolve).
    #[command(args_conflicts_with_subcommands = true)]
    Devices {
        #[command(flatten)]
        server: ServerArg,
        /// Show only this device.
        id: Option<String>,
        #[command(subcommand)]
        command: Option<DeviceCommand>,
    },
}

#[derive(Debug, Subcommand)]
pub enum OpcuaCommand {
    /// The client certificate and the trust list of `[gateway.opcua]`.
    #[command(subcommand)]
    Pki(PkiCommand),
}

#[derive(Debug, Subcommand)]
pub enum PkiCommand {
    /// Make the client certificate and key (self-signed, the site file's
    /// application URI and this machine's host names in its alternative
    /// names) if they do not exist; print where they are and the
    /// thumbprint to add to each AS/RS's trust list.
    Init {
        /// The site file.
        #[arg(long, short, env = "FLOORGATE_CONFIG")]
        config: PathBuf,
    },
    /// Trust an AS/RS server's certificate (DER or PEM, any file name).
    Trust {
        /// The site file.
        #[arg(long, short, env = "FLOORGATE_CONFIG")]
        config: PathBuf,
        /// The server's certificate.
        certificate: PathBuf,
    },
}

/// An operator's command to one device, journaled with its reason.
#[derive(Debug, Subcommand)]
pub enum DeviceCommand {
    /// Clear a fault (the profile's reset).
    Reset(DeviceCommandArgs),
    /// Stop the device; a step on it fails once the device confirms.
    Stop(DeviceCommandArgs),
    /// Pause motion (VDA 5050 startPause).
    Pause(DeviceCommandArgs),
    /// Resume motion (VDA 5050 stopPause).
    Resume(DeviceCommandArgs),
    /// Wake a sleeping robot (VDA 5050 3.0 stopHibernation).
    Wake(DeviceCommandArgs),
    /// Put an idle robot to sleep (VDA 5050 3.0 startHibernation).
    Hibernate(DeviceCommandArgs),
    /// Say how a step whose outcome is unknown ended, after looking at the
    /// device.
    Resolve {
        #[command(flatten)]
        args: DeviceCommandArgs,
        /// What the device did.
        #[arg(long, value_enum)]
        outcome: ResolvedOutcome,
    },
}

#[derive(Debug, clap::Args)]
pub struct DeviceCommandArgs {
    /// The device id from the site file.
    pub device: String,
    /// Why; journaled with the command.
    #[arg(long, default_value = "")]
    pub reason: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ResolvedOutcome {
    /// The device did the step.
    Completed,
    /// It did not: the step fails (and may move to another device).
    Failed,
}

#[derive(Debug, clap::Args)]
pub struct ServerArg {
    /// The gateway's gRPC address.
    #[arg(
        long,
        global = true,
        env = "FLOORGATE_SERVER",
        default_value = "http://127.0.0.1:50051"
    )]
    pub server: String,
    /// CA certificate (PEM) to verify an https:// server with.
    #[arg(long, global = true, env = "FLOORGATE_CA_FILE")]
    pub ca_file: Option<PathBuf>,
    /// Client certificate (PEM) for mutual TLS.
    #[arg(
        long,
        global = true,
        env = "FLOORGATE_CERT_FILE",
        requires = "key_file"
    )]
    pub cert_file: Option<PathBuf>,
    /// Client private key (PEM) for mutual TLS.
    #[arg(
        long,
        global = true,
        env = "FLOORGATE_KEY_FILE",
        requires = "cert_file"
    )]
    pub key_file: Option<PathBuf>,
}

impl ServerArg {
    /// A channel to the gateway, with TLS for https:// addresses.
    pub async fn connect(&self) -> anyhow::Result<tonic::transport::Channel> {
        use anyhow::Context;
        use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};
        let mut ep = Endpoint::from_shared(self.server.clone())
            .with_context(|| format!("{:?} is not a URL", self.server))?;
        if self.server.starts_with("https://") {
            let mut tls = ClientTlsConfig::new();
            if let Some(ca) = &self.ca_file {
                let pem = std::fs::read(ca).with_context(|| format!("reading {}", ca.display()))?;
                tls = tls.ca_certificate(Certificate::from_pem(pem));
            }
            if let (Some(c), Some(k)) = (&self.cert_file, &self.key_file) {
                let cert = std::fs::read(c).with_context(|| format!("reading {}", c.display()))?;
                let key = std::fs::read(k).with_context(|| format!("reading {}", k.display()))?;
                tls = tls.identity(Identity::from_pem(cert, key));
            }
            ep = ep.tls_config(tls)?;
        }
        ep.connect()
            .await
            .with_context(|| format!("connecting to {}", self.server))
    }
}

#[derive(Debug, Subcommand)]
pub enum TaskCommand {
    /// Submit a task (idempotent on --id).
    Submit {
        #[arg(long)]
        id: String,
        #[arg(long, value_parser = ["pick", "put"])]
        kind: String,
        #[arg(long, default_value = "")]
        sku: String,
        #[arg(long, default_value_t = 1)]
        quantity: u32,
        /// The tote or load carrier.
        #[arg(long, default_value = "")]
        load: String,
        /// Source location id.
        #[arg(long)]
        from: String,
        /// Destination location id.
        #[arg(long)]
        to: String,
        #[arg(long, default_value_t = 0)]
        priority: i32,
        /// Extra attributes, KEY=VALUE, repeatable.
        #[arg(long = "attr", value_parser = parse_kv)]
        attributes: Vec<(String, String)>,
    },
    /// Show one task.
    Get { id: String },
    /// List tasks, optionally by state.
    List {
        /// accepted, planned, running, completed, failed, cancelled (repeatable).
        #[arg(long)]
        state: Vec<String>,
        #[arg(long, default_value_t = 100)]
        page_size: u32,
        #[arg(long, default_value = "")]
        page_token: String,
    },
    /// Cancel a task.
    Cancel {
        id: String,
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Print events after a seq, then follow live ones.
    Watch {
        /// Print events after this seq (default: the oldest kept).
        #[arg(long)]
        after: Option<u64>,
    },
}

fn parse_kv(s: &str) -> Result<(String, String), String> {
    s.split_once('=')
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .ok_or_else(|| format!("{s:?} is not KEY=VALUE"))
}
