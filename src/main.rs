#![forbid(unsafe_code)]

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

use chartdesk::cli::{Cli, Command};
use chartdesk::config::{Config, render_commented};
use chartdesk::startup::{Application, install_crypto_provider};
use chartdesk::{store, telemetry};

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let config = match Config::load(cli.config.as_deref(), &cli.overrides()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("chartdesk: {e}");
            return ExitCode::from(2);
        }
    };
    match cli.command.unwrap_or(Command::Serve { bind: None }) {
        Command::PrintConfig => {
            print!("{}", render_commented(&config));
            ExitCode::SUCCESS
        }
        Command::Migrate => {
            install_crypto_provider();
            let url = config.database_url();
            if let Some(dir) = url.strip_prefix("sqlite://").and_then(|p| std::path::Path::new(p).parent()) {
                let _ = std::fs::create_dir_all(dir);
            }
            let timeout = Duration::from_secs(config.database.connect_timeout_secs);
            match store::open(&url, 1, timeout).await {
                Ok(s) => {
                    println!("chartdesk: migrations applied ({:?} database)", s.backend());
                    s.close().await;
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("chartdesk: migrate failed: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Serve { .. } => serve(config).await,
    }
}

async fn serve(config: Config) -> ExitCode {
    if let Err(e) = telemetry::init(&config.telemetry) {
        eprintln!("chartdesk: {e}");
        return ExitCode::from(2);
    }
    let app = match Application::build(config).await {
        Ok(app) => app,
        Err(e) => {
            tracing::error!(error = %e, "startup failed");
            eprintln!("chartdesk: {e}");
            return ExitCode::FAILURE;
        }
    };
    let url = app.public_url.as_str().trim_end_matches('/').to_string();
    tracing::info!(addr = %app.addr, url = %url, sandbox = app.sandbox_enabled, "chartdesk listening");
    println!("chartdesk is listening on {url}");
    if app.sandbox_enabled {
        println!("sandbox EHR (synthetic data): {url}/sandbox");
    }
    let stopper = app.stopper();
    tokio::spawn(async move {
        shutdown_signal().await;
        tracing::info!("shutting down");
        stopper.stop().await;
    });
    match app.run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("chartdesk: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => return ctrl_c.await.unwrap_or(()),
        };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
