//! The `floorgate` binary: parses the command line, sets up logging, and
//! hands over to the daemon, the config check or the client commands.

#![forbid(unsafe_code)]

use std::process::ExitCode;

use clap::Parser;
use floorgate::cli::{run_client, Cli, Command, LogFormat};
use tracing_subscriber::EnvFilter;

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The daemon logs what it does; the other commands print their own
    // output and log only problems, unless FLOORGATE_LOG says otherwise.
    let default_level = match cli.command {
        Command::Run { .. } => "info",
        _ => "warn",
    };
    // The virtual site's OPC-UA sessions use security None, which the
    // OPC-UA stack complains about on every connect.
    #[cfg(feature = "simulate")]
    let quiet = match cli.command {
        Command::Simulate { .. } => floorgate::opcua::QUIET_INSECURE_LOG_DIRECTIVE,
        _ => "",
    };
    #[cfg(not(feature = "simulate"))]
    let quiet = "";
    init_logging(cli.log_format, default_level, quiet);
    match cli.command {
        Command::CheckConfig { file } => match floorgate::config::load(&file) {
            Ok(cfg) => {
                println!(
                    "{}: ok (site {:?}: {} devices, {} locations, {} routes)",
                    file.display(),
                    cfg.site.name,
                    cfg.site.devices.len(),
                    cfg.site.locations.len(),
                    cfg.site.routes.len()
                );
                ExitCode::SUCCESS
            }
            Err(errors) => {
                eprintln!("{errors}");
                ExitCode::FAILURE
            }
        },
        Command::Run {
            config,
            listen_addr_file,
        } => {
            let cfg = match floorgate::config::load(&config) {
                Ok(c) => c,
                Err(errors) => {
                    eprintln!("{errors}");
                    return ExitCode::FAILURE;
                }
            };
            let rt = tokio::runtime::Runtime::new().expect("a tokio runtime");
            let opts = floorgate::daemon::RunOptions { listen_addr_file };
            match rt.block_on(floorgate::daemon::run(cfg, opts, shutdown_signal())) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!("{e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        #[cfg(feature = "simulate")]
        Command::Simulate {
            tasks,
            amrs,
            duration,
            seed,
            quiet,
        } => {
            let rt = tokio::runtime::Runtime::new().expect("a tokio runtime");
            let opts = floorgate::simulate::SimulateOptions {
                tasks,
                amrs,
                duration: std::time::Duration::from_secs(duration),
                seed,
                progress: !quiet,
            };
            match rt.block_on(floorgate::simulate::run(opts, async {
                let _ = tokio::signal::ctrl_c().await;
            })) {
                Ok(summary) => {
                    println!("{summary}");
                    if summary.all_completed() {
                        ExitCode::SUCCESS
                    } else {
                        ExitCode::FAILURE
                    }
                }
                Err(e) => {
                    eprintln!("error: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
        client => {
            let rt = tokio::runtime::Runtime::new().expect("a tokio runtime");
            match rt.block_on(run_client(client)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    eprintln!("error: {e:#}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}

fn init_logging(format: LogFormat, default_level: &str, quiet: &str) {
    let filter = EnvFilter::try_from_env("FLOORGATE_LOG")
        .or_else(|_| EnvFilter::try_from_default_env())
        .unwrap_or_else(|_| {
            let mut directives = default_level.to_string();
            #[cfg(feature = "broker")]
            {
                directives.push(',');
                directives.push_str(floorgate::broker::QUIET_LOG_DIRECTIVE);
            }
            if !quiet.is_empty() {
                directives.push(',');
                directives.push_str(quiet);
            }
            EnvFilter::new(directives)
        });
    // Colour only for a person at a terminal: a log file, journald or a
    // pipe gets plain text (`NO_COLOR` is honoured as well).
    use std::io::IsTerminal;
    let ansi = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    let b = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => b.init(),
        LogFormat::Json => b.json().init(),
    }
}

/// Resolves on SIGTERM (systemd, k3s) or SIGINT (Ctrl-C).
async fn shutdown_signal() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("installing the SIGTERM handler");
    tokio::select! {
        _ = term.recv() => tracing::info!("SIGTERM"),
        _ = tokio::signal::ctrl_c() => tracing::info!("SIGINT"),
    }
}
