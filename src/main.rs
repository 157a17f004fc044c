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
    // Sessions with security None (the virtual site, a site file that says
    // so): the OPC-UA stack complains about the certificate they never use
    // on every connect. The daemon reads its site file first to know.
    let mut loaded = None;
    let quiet = match &cli.command {
        #[cfg(feature = "simulate")]
        Command::Simulate { .. } => floorgate::opcua::QUIET_INSECURE_LOG_DIRECTIVE,
        Command::Run { config, .. } => match floorgate::config::load(config) {
            Ok(cfg) => {
                let insecure = cfg.gateway.opcua.security_policy == floorgate::opcua::Policy::None;
                loaded = Some(cfg);
                if insecure {
                    floorgate::opcua::QUIET_INSECURE_LOG_DIRECTIVE
                } else {
                    ""
                }
            }
            Err(errors) => {
                eprintln!("{errors}");
                return ExitCode::FAILURE;
            }
        },
        _ => "",
    };
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
            listen_addr_file, ..
        } => {
            let cfg = loaded.expect("loaded before logging");
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
            layout,
            vda,
            pass_through,
            hold,
            console_listen,
            admin_token,
        } => {
            let console_listen = match floorgate::config::parse_admin_listen(&console_listen) {
                Ok(a) => a,
                Err(e) => {
                    eprintln!("error: --console-listen: {e}");
                    return ExitCode::FAILURE;
                }
            };
            let rt = tokio::runtime::Runtime::new().expect("a tokio runtime");
            let opts = floorgate::simulate::SimulateOptions {
                tasks,
                amrs,
                duration: std::time::Duration::from_secs(duration),
                seed,
                progress: !quiet,
                layout,
                pass_through,
                console_listen,
                admin_token,
                hold,
                vda,
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
        Command::Opcua {
            command: floorgate::cli::OpcuaCommand::Pki(pki),
        } => match opcua_pki(pki) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
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

/// `floorgate opcua pki init|trust`.
fn opcua_pki(cmd: floorgate::cli::PkiCommand) -> Result<(), String> {
    use floorgate::cli::PkiCommand;
    let config = match &cmd {
        PkiCommand::Init { config } | PkiCommand::Trust { config, .. } => config,
    };
    let cfg = floorgate::config::load(config).map_err(|e| e.to_string())?;
    let sec = cfg.gateway.opcua.settings(&cfg.gateway.data_dir);
    match cmd {
        PkiCommand::Init { .. } => {
            let id = floorgate::opcua::pki::ensure_identity(&sec)?;
            println!(
                "{} client certificate {}\nprivate key {}\napplication URI {}\nthumbprint {}\nadd the certificate to the trust list of each AS/RS",
                if id.created { "made" } else { "found" },
                id.certificate.display(),
                id.private_key.display(),
                sec.application_uri,
                id.thumbprint
            );
        }
        PkiCommand::Trust { certificate, .. } => {
            let to = floorgate::opcua::pki::trust_file(&sec.pki_dir, &certificate)?;
            println!("trusted: {}", to.display());
        }
    }
    Ok(())
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
