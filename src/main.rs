#![forbid(unsafe_code)]

use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

use chartdesk::audit::{Signer, verify};
use chartdesk::cli::{AuditCommand, Cli, Command, KeysCommand, parse_time};
use chartdesk::config::{Config, render_commented};
use chartdesk::crypto::KeyRing;
use chartdesk::startup::{Application, audit_settings, install_crypto_provider, open_audit};
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
        Command::Audit(cmd) => audit(config, cmd).await,
        Command::Keys(KeysCommand::Rotate { new_master_key_file }) => rotate(config, new_master_key_file).await,
        Command::Purge => purge(config).await,
        Command::Classify { format } => classify(&format),
        Command::Redact { format: _ } => redact(),
    }
}

/// `chartdesk classify`: stdin lines → one classification per line (the shipped tuning).
fn classify(format: &str) -> ExitCode {
    use std::io::{BufRead, Write};
    let detector = match chartdesk::detect::Detector::new(&chartdesk::detect::Tuning::default()) {
        Ok(d) => d,
        Err(e) => {
            eprintln!("chartdesk: classify: {e}");
            return ExitCode::FAILURE;
        }
    };
    let stdin = std::io::stdin();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    for (n, line) in stdin.lock().lines().enumerate() {
        let Ok(line) = line else {
            eprintln!("chartdesk: classify: input line {} is not UTF-8 text", n + 1);
            return ExitCode::FAILURE;
        };
        let d = detector.detect(&line);
        let written = if format == "label" {
            writeln!(out, "{}", if d.is_clinical() { "CLINICAL" } else { "IT" })
        } else {
            writeln!(out, "{}", d.classify_json())
        };
        if written.is_err() {
            return ExitCode::FAILURE;
        }
    }
    if out.flush().is_err() { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}

/// `chartdesk redact --format jsonl`: JSON lines in, redacted JSON lines out (character offsets).
fn redact() -> ExitCode {
    use std::io::{BufRead, Write};

    use chartdesk::redact::{Known, Redactor};

    #[derive(serde::Deserialize)]
    struct Input {
        id: serde_json::Value,
        text: String,
        #[serde(default)]
        known: Known,
    }

    let redactor = Redactor::new();
    let stdin = std::io::stdin();
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    let mut bad = 0usize;
    for (n, line) in stdin.lock().lines().enumerate() {
        let lineno = n + 1;
        let Ok(line) = line else {
            eprintln!("chartdesk: redact: input line {lineno} is not UTF-8 text");
            bad += 1;
            continue;
        };
        if line.trim().is_empty() {
            continue;
        }
        let input: Input = match serde_json::from_str(&line) {
            Ok(i) => i,
            Err(e) => {
                eprintln!("chartdesk: redact: input line {lineno}: expected {{\"id\":…,\"text\":\"…\"}} ({e})");
                bad += 1;
                continue;
            }
        };
        let red = redactor.redact(&input.text, &input.known);
        let spans: Vec<serde_json::Value> = red
            .spans()
            .iter()
            .map(|s| {
                let (start, end) = s.char_span(&input.text);
                serde_json::json!({"start": start, "end": end, "label": s.label.as_str()})
            })
            .collect();
        let line = serde_json::json!({"id": input.id, "redacted": red.as_str(), "spans": spans, "preds": spans});
        if writeln!(out, "{line}").is_err() {
            return ExitCode::FAILURE;
        }
    }
    if out.flush().is_err() {
        return ExitCode::FAILURE;
    }
    if bad > 0 {
        eprintln!("chartdesk: redact: {bad} bad input line(s); every other line was written");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}

async fn purge(config: Config) -> ExitCode {
    let run = async {
        let store = open_store(&config).await?;
        let keys = std::sync::Arc::new(
            KeyRing::load(
                config.security.master_key.as_ref().map(|k| k.expose()),
                &config.server.data_dir,
                store.clone(),
            )
            .map_err(|e| e.to_string())?,
        );
        let audit = open_audit(&config, store.clone(), keys.clone()).await.map_err(|e| e.to_string())?;
        chartdesk::retention::purge(&config, store.as_ref(), &keys, &audit).await.map_err(|e| e.to_string())
    };
    match run.await {
        Ok(r) => {
            println!(
                "chartdesk: purged {} audit records' content and {} expired entries; destroyed {} data keys",
                r.audit_records, r.expired_kv, r.shredded_keys
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("chartdesk: purge failed: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn open_store(config: &Config) -> Result<std::sync::Arc<dyn chartdesk::store::Store>, String> {
    install_crypto_provider();
    std::fs::create_dir_all(&config.server.data_dir).map_err(|e| e.to_string())?;
    let timeout = Duration::from_secs(config.database.connect_timeout_secs);
    store::open(&config.database_url(), 2, timeout).await.map_err(|e| e.to_string())
}

async fn audit(config: Config, cmd: AuditCommand) -> ExitCode {
    let run = async {
        let store = open_store(&config).await?;
        let keys = std::sync::Arc::new(
            KeyRing::load(
                config.security.master_key.as_ref().map(|k| k.expose()),
                &config.server.data_dir,
                store.clone(),
            )
            .map_err(|e| e.to_string())?,
        );
        match cmd {
            AuditCommand::Verify => {
                let signer =
                    Signer::load(audit_settings(&config), &config.server.data_dir).map_err(|e| e.to_string())?;
                let report = verify::verify(store.as_ref(), &keys, &signer).await.map_err(|e| e.to_string())?;
                if report.ok() {
                    println!(
                        "audit log verified: {} records ({} purged under retention), {} checkpoints",
                        report.records, report.purged, report.checkpoints
                    );
                    Ok::<bool, String>(true)
                } else {
                    println!("audit log FAILED verification: {}", report.problems[0]);
                    for p in report.problems.iter().skip(1).take(19) {
                        println!("  also: {p}");
                    }
                    Ok(false)
                }
            }
            AuditCommand::Export { since, until, format } => {
                let since = parse_time(&since)?;
                let until = match until {
                    Some(u) => parse_time(&u)?,
                    None => chrono::Utc::now().timestamp_millis() + 1,
                };
                let audit = open_audit(&config, store.clone(), keys.clone()).await.map_err(|e| e.to_string())?;
                let events = audit.export(since, until, &config.audit.origin, None).await.map_err(|e| e.to_string())?;
                if format == "fhir" {
                    let bundle = serde_json::json!({
                        "resourceType": "Bundle",
                        "type": "collection",
                        "entry": events.into_iter().map(|e| serde_json::json!({ "resource": e })).collect::<Vec<_>>()
                    });
                    println!("{}", serde_json::to_string_pretty(&bundle).map_err(|e| e.to_string())?);
                } else {
                    for e in events {
                        println!("{e}");
                    }
                }
                Ok(true)
            }
        }
    };
    match run.await {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("chartdesk: {e}");
            ExitCode::from(2)
        }
    }
}

async fn rotate(config: Config, new_master_key_file: Option<std::path::PathBuf>) -> ExitCode {
    let run = async {
        let store = open_store(&config).await?;
        let keys = KeyRing::load(
            config.security.master_key.as_ref().map(|k| k.expose()),
            &config.server.data_dir,
            store.clone(),
        )
        .map_err(|e| e.to_string())?;
        let new_key = match (&new_master_key_file, &config.security.master_key) {
            (Some(path), _) => {
                use base64::Engine;
                let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
                base64::engine::general_purpose::STANDARD
                    .decode(text.trim())
                    .map_err(|_| "the new master key is not base64".to_string())?
            }
            (None, Some(_)) => return Err("security.master_key is configured: pass --new-master-key-file".to_string()),
            (None, None) => keys.random_key().map_err(|e| e.to_string())?.to_vec(),
        };
        let n = keys.rotate_master(&new_key).await.map_err(|e| e.to_string())?;
        let audit = open_audit(&config, store, std::sync::Arc::new(keys)).await.map_err(|e| e.to_string())?;
        audit
            .record(
                chartdesk::audit::AuditRecord::new(
                    chartdesk::audit::EventKind::KeyRotation,
                    chartdesk::audit::Outcome::Success,
                )
                .entity(chartdesk::audit::EntityRole::Key, "master-key")
                .number("data_keys_rewrapped", n as i64),
            )
            .await
            .map_err(|e| e.to_string())?;
        println!("chartdesk: {n} data keys re-wrapped under the new master key");
        if config.security.master_key.is_some() {
            println!("chartdesk: now set security.master_key to the new key before the next start");
        }
        Ok::<(), String>(())
    };
    match run.await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("chartdesk: keys rotate failed: {e}");
            ExitCode::FAILURE
        }
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
