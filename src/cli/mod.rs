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
    /// List the devices of a running gateway, or show one.
    Devices {
        #[command(flatten)]
        server: ServerArg,
        /// Show only this device.
        id: Option<String>,
    },
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
