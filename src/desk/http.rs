//! What the HTTP desk connectors share: one client shape, the mapping of transport errors and
//! status codes onto [`SinkError`], bounded response reading, and the plain-text body a desk
//! agent reads.
//!
//! Error mapping (the relay looks a ticket up by key before any re-send, so the split matters
//! only for logs and the dead-letter decision):
//! - connection refused / DNS / TLS before the request left: `Unavailable`;
//! - a timeout or a dropped connection after sending, 408, 429 and every 5xx: `Ambiguous` for a
//!   create (the desk may have committed), `Unavailable` for a search;
//! - 401 and 403: `Unavailable` (a credentials or permission problem of the deployment, fixed by
//!   an administrator; the ticket is not at fault and is retried until `max_attempts`);
//! - any other 4xx: `Refused` (the desk rejects this ticket; it goes to the dead-letter list).

use std::time::Duration;

use super::{SinkError, Ticket};

/// Responses larger than this are not read (a desk answer is a few hundred bytes).
const MAX_RESPONSE_BYTES: usize = 256 * 1024;

/// A client for desk calls: no redirects, bounded connect and total time.
pub(super) fn client(timeout: Duration) -> reqwest::Client {
    crate::startup::install_crypto_provider();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(5).min(timeout))
        .timeout(timeout)
        .user_agent(concat!("chartdesk/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("a client with these static settings builds")
}

/// Which kind of call failed: a create may have committed at the desk, a search has no effect.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Call {
    Create,
    Search,
}

pub(super) fn send_error(e: &reqwest::Error, call: Call) -> SinkError {
    if e.is_connect() || e.is_builder() {
        SinkError::Unavailable
    } else if call == Call::Create {
        // Timed out or cut after (part of) the request was sent: the outcome is unknown.
        SinkError::Ambiguous
    } else {
        SinkError::Unavailable
    }
}

pub(super) fn status_error(status: reqwest::StatusCode, call: Call) -> SinkError {
    let code = status.as_u16();
    if status.is_server_error() || code == 408 || code == 429 {
        if call == Call::Create { SinkError::Ambiguous } else { SinkError::Unavailable }
    } else if code == 401 || code == 403 {
        SinkError::Unavailable
    } else {
        SinkError::Refused
    }
}

/// Send a request and read a successful JSON answer (`Value::Null` for an empty body).
pub(super) async fn send_json(
    sink: &'static str,
    request: reqwest::RequestBuilder,
    call: Call,
) -> Result<(reqwest::StatusCode, serde_json::Value), SinkError> {
    let resp = request.send().await.map_err(|e| {
        let err = send_error(&e, call);
        tracing::warn!(sink, error = err.code(), timeout = e.is_timeout(), "desk request failed");
        err
    })?;
    let status = resp.status();
    let body = read_limited(resp)
        .await
        .map_err(|_| if call == Call::Create { SinkError::Ambiguous } else { SinkError::Unavailable })?;
    if !status.is_success() {
        let err = status_error(status, call);
        // Desk error bodies may echo the request; only the status is logged.
        tracing::warn!(sink, status = status.as_u16(), error = err.code(), "desk answered with an error");
        return Err(err);
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok((status, serde_json::Value::Null));
    }
    let value = serde_json::from_slice(&body).map_err(|_| {
        tracing::warn!(sink, status = status.as_u16(), "desk answer is not JSON");
        if call == Call::Create { SinkError::Ambiguous } else { SinkError::Unavailable }
    })?;
    Ok((status, value))
}

async fn read_limited(mut resp: reqwest::Response) -> Result<Vec<u8>, ()> {
    let mut out = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|_| ())? {
        if out.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(());
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// A dedupe key is ours (a UUID). Connectors that put it into a query language (ServiceNow
/// encoded queries, JQL) refuse anything else rather than escape it.
pub(super) fn safe_key(key: &str) -> bool {
    !key.is_empty() && key.len() <= 100 && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

/// A JSON value that desks send as a string or a number (`"id":"7"` or `"id":7`).
pub(super) fn string_or_number(v: &serde_json::Value) -> Option<String> {
    match v {
        serde_json::Value::String(s) if !s.is_empty() => Some(s.clone()),
        serde_json::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The plain-text ticket body a desk agent reads: the redacted description, then the minimum
/// necessary context, one field per line. `public_url` makes the conversation link absolute.
pub(super) fn body_text(ticket: &Ticket, public_url: &str) -> String {
    let mut out = String::new();
    out.push_str(ticket.description());
    out.push_str("\n\n-- chartdesk handoff --\n");
    let reporter = match (&ticket.reporter_name, &ticket.reporter) {
        (Some(n), Some(r)) => format!("{n} ({r})"),
        (Some(n), None) => n.clone(),
        (None, Some(r)) => r.clone(),
        (None, None) => "unknown".into(),
    };
    let lines = [
        ("Reporter", reporter),
        ("Role", ticket.role.clone().unwrap_or_else(|| "unknown".into())),
        ("Department", ticket.department.clone()),
        ("EHR", format!("{} ({})", ticket.tenant, ticket.vendor)),
        ("Category", ticket.category.clone()),
        ("Urgency", ticket.urgency.clone()),
        ("Conversation", format!("{}{}", public_url.trim_end_matches('/'), ticket.link)),
        ("Correlation id", ticket.correlation_id.clone()),
        ("Handoff key", ticket.key.clone()),
    ];
    for (k, v) in lines {
        out.push_str(&format!("{k}: {v}\n"));
    }
    out
}
