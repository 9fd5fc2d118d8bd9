//! Generic webhook connector: the ticket as JSON, signed with HMAC-SHA256, timestamped.
//!
//! Request: `POST <url>`, `Content-Type: application/json`, body
//! `{"type":"chartdesk.ticket","key":…,"sent_at":<unix seconds>,"ticket":{…}}`, and headers
//! - `X-Chartdesk-Timestamp: <unix seconds>`;
//! - `X-Chartdesk-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>`;
//! - `X-Chartdesk-Delivery` and `Idempotency-Key`: the handoff key.
//!
//! Receiver contract (what makes it replay-safe and exactly-once in effect):
//! 1. verify the signature over the raw body bytes, in constant time ([`verify`] does this);
//! 2. reject a timestamp more than five minutes from its own clock (a captured request cannot be
//!    replayed later);
//! 3. treat the key as an idempotency key: a second delivery with a known key answers 2xx (or
//!    409) with the reference given the first time, and creates nothing. A webhook has no
//!    search, so after an ambiguous failure chartdesk simply re-sends and relies on this rule;
//! 4. answer 2xx with `{"reference":"<ticket number>"}` (optional; the key is used without it).
//!
//! Any 4xx other than 401/403/408/409/429 means "never accept this": the ticket is dead-lettered.

use std::time::Duration;

use ring::hmac;
use serde_json::json;

use super::http::{Call, send_error, status_error};
use super::{Sink, SinkError, Ticket};

pub const SIGNATURE_HEADER: &str = "X-Chartdesk-Signature";
pub const TIMESTAMP_HEADER: &str = "X-Chartdesk-Timestamp";
pub const DELIVERY_HEADER: &str = "X-Chartdesk-Delivery";
/// How far a receiver should accept the timestamp from its own clock.
pub const TOLERANCE: Duration = Duration::from_secs(300);

pub struct WebhookSettings {
    pub url: String,
    pub secret: String,
    pub timeout: Duration,
}

pub struct WebhookSink {
    client: reqwest::Client,
    url: String,
    key: hmac::Key,
}

impl WebhookSink {
    pub fn new(s: WebhookSettings) -> WebhookSink {
        WebhookSink {
            client: super::http::client(s.timeout),
            url: s.url,
            key: hmac::Key::new(hmac::HMAC_SHA256, s.secret.as_bytes()),
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

fn signed_payload(timestamp: &str, body: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(timestamp.len() + 1 + body.len());
    m.extend_from_slice(timestamp.as_bytes());
    m.push(b'.');
    m.extend_from_slice(body);
    m
}

/// The `X-Chartdesk-Signature` value for a body sent at `timestamp` (unix seconds).
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    format!("v1={}", hex(hmac::sign(&key, &signed_payload(&timestamp.to_string(), body)).as_ref()))
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VerifyError {
    #[error("malformed signature or timestamp header")]
    Malformed,
    #[error("timestamp outside the tolerance")]
    Stale,
    #[error("signature does not match")]
    BadSignature,
}

/// Receiver-side check of a delivery: signature (constant time) and timestamp freshness.
pub fn verify(
    secret: &[u8],
    timestamp: &str,
    body: &[u8],
    signature: &str,
    now_unix: i64,
    tolerance: Duration,
) -> Result<(), VerifyError> {
    let ts: i64 = timestamp.parse().map_err(|_| VerifyError::Malformed)?;
    if (now_unix - ts).unsigned_abs() > tolerance.as_secs() {
        return Err(VerifyError::Stale);
    }
    let tag = signature.strip_prefix("v1=").and_then(unhex).ok_or(VerifyError::Malformed)?;
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    hmac::verify(&key, &signed_payload(timestamp, body), &tag).map_err(|_| VerifyError::BadSignature)
}

#[async_trait::async_trait]
impl Sink for WebhookSink {
    fn name(&self) -> &'static str {
        "webhook"
    }

    /// A webhook has no search: the receiver is idempotent by key (see the module contract),
    /// so a re-send is the lookup.
    async fn find(&self, _key: &str) -> Result<Option<String>, SinkError> {
        Ok(None)
    }

    async fn create(&self, ticket: &Ticket) -> Result<String, SinkError> {
        let now = chrono::Utc::now().timestamp();
        let body = serde_json::to_vec(&json!({
            "type": "chartdesk.ticket",
            "key": ticket.key,
            "sent_at": now,
            "ticket": ticket,
        }))
        .map_err(|_| SinkError::Refused)?;
        let ts = now.to_string();
        let signature = format!("v1={}", hex(hmac::sign(&self.key, &signed_payload(&ts, &body)).as_ref()));
        let resp = self
            .client
            .post(&self.url)
            .header("Content-Type", "application/json")
            .header(TIMESTAMP_HEADER, &ts)
            .header(SIGNATURE_HEADER, signature)
            .header(DELIVERY_HEADER, &ticket.key)
            .header("Idempotency-Key", &ticket.key)
            .body(body)
            .send()
            .await
            .map_err(|e| {
                let err = send_error(&e, Call::Create);
                tracing::warn!(sink = "webhook", error = err.code(), "desk request failed");
                err
            })?;
        let status = resp.status();
        // 409: the receiver already has this key (an earlier attempt landed).
        if !status.is_success() && status.as_u16() != 409 {
            let err = status_error(status, Call::Create);
            tracing::warn!(
                sink = "webhook",
                status = status.as_u16(),
                error = err.code(),
                "desk answered with an error"
            );
            return Err(err);
        }
        let body = resp.bytes().await.map_err(|_| SinkError::Ambiguous)?;
        let reference = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| super::http::string_or_number(&v["reference"]))
            .unwrap_or_else(|| ticket.key.clone());
        Ok(reference)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_and_any_change_breaks_it() {
        let (secret, body) = (b"s3cret".as_slice(), br#"{"key":"k-1"}"#.as_slice());
        let sig = sign(secret, 1_700_000_000, body);
        assert!(sig.starts_with("v1=") && sig.len() == 3 + 64, "{sig}");
        let ok = |ts: &str, b: &[u8], s: &str, now| verify(secret, ts, b, s, now, TOLERANCE);
        assert_eq!(ok("1700000000", body, &sig, 1_700_000_100), Ok(()));
        assert_eq!(ok("1700000000", br#"{"key":"k-2"}"#, &sig, 1_700_000_100), Err(VerifyError::BadSignature));
        assert_eq!(ok("1700000001", body, &sig, 1_700_000_100), Err(VerifyError::BadSignature));
        assert_eq!(
            verify(b"other", "1700000000", body, &sig, 1_700_000_000, TOLERANCE),
            Err(VerifyError::BadSignature)
        );
        assert_eq!(ok("1700000000", body, &sig, 1_700_000_301), Err(VerifyError::Stale), "replayed too late");
        assert_eq!(ok("1700000000", body, &sig, 1_699_999_699), Err(VerifyError::Stale), "from the future");
        assert_eq!(ok("1700000000", body, "v1=zz", 1_700_000_000), Err(VerifyError::Malformed));
        assert_eq!(ok("1700000000", body, &sig[3..], 1_700_000_000), Err(VerifyError::Malformed));
        assert_eq!(ok("soon", body, &sig, 1_700_000_000), Err(VerifyError::Malformed));
    }
}
