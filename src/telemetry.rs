//! Logging setup. Output is text or JSON lines on stdout.
//!
//! Invariant (enforced by the planted-PHI test): no PHI, tokens, bodies, cookies, query
//! strings or full paths are ever logged. Spans carry route patterns and opaque ids only.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::{LogFormat, TelemetryConfig};

tokio::task_local! {
    /// The current request's opaque id (set by the web layer's request-context middleware).
    pub static REQUEST_ID: String;
}

/// The id of the request being served, if any (for error bodies and audit records).
pub fn current_request_id() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

/// Install the global subscriber. Returns an error if the filter does not parse.
pub fn init(config: &TelemetryConfig) -> Result<(), String> {
    let filter = EnvFilter::try_new(&config.filter).map_err(|e| format!("telemetry.filter: {e}"))?;
    let registry = tracing_subscriber::registry().with(filter);
    let result = match config.format {
        LogFormat::Json => registry
            .with(tracing_subscriber::fmt::layer().json().with_current_span(true).with_span_list(false))
            .try_init(),
        LogFormat::Text => registry
            .with(tracing_subscriber::fmt::layer().with_target(true).with_ansi(std::io::stdout().is_terminal()))
            .try_init(),
    };
    result.map_err(|e| e.to_string())
}
