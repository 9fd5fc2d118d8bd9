//! The service desk: IT tickets, their outbox, and delivery to the configured sinks.
//!
//! An IT message (or the IT part of a MIXED one) becomes a [`Ticket`] holding the minimum
//! necessary: reporter, role, department, tenant and vendor, category, urgency, the redacted
//! description, a correlation id and a link back to the conversation. The ticket is sealed
//! and written to the outbox (`ticket_intent`) in the same transaction as the message, before
//! the clinician is told "ticket requested". The [`Relay`] then delivers it.
//!
//! Invariants:
//! - the description is a [`RedactedText`]: a ticket cannot be built from raw text, and a sink
//!   only ever sees a `Ticket` (no patient identifier, by type and by redaction);
//! - at-least-once delivery with an idempotent effect: every sink is given the ticket id as its
//!   dedupe key, and a retried ticket is looked up by that key before any re-send;
//! - a ticket that keeps failing goes to the dead-letter list (audited) and can be retried from
//!   there; nothing is dropped;
//! - claims are leases: a relay that dies mid-delivery loses its claim when the lease ends and
//!   another relay (or the restarted process) picks the ticket up;
//! - outbound HTTP from this module goes only to the configured desks (never to the EHR: only
//!   `fhir` talks to the EHR), carries only a `Ticket`, and logs status codes, never bodies.
//!
//! Sinks: Request Tracker 5 REST2, ServiceNow Table API, Jira Service Management, a signed
//! webhook, and a Redis Stream. The first configured desk's reference is the ticket number the
//! clinician sees (desks come before the stream).

mod http;
pub mod jira;
mod redis_stream;
pub mod request_tracker;
pub mod servicenow;
pub mod webhook;

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::audit::{Agent, Audit, AuditError, AuditRecord, EntityRole, EventKind, Outcome, Purpose};
use crate::crypto::{CryptoError, DataClass, KeyRing};
use crate::error::{ErrorCode, HasErrorCode};
use crate::redact::RedactedText;
use crate::store::{Store, StoreError, TicketIntentRow};

pub use self::jira::JiraSink;
pub use self::redis_stream::RedisStreamSink;
pub use self::request_tracker::RequestTrackerSink;
pub use self::servicenow::ServiceNowSink;
pub use self::webhook::WebhookSink;

#[derive(Debug, thiserror::Error)]
pub enum DeskError {
    #[error("the ticket could not be sealed or opened")]
    Crypto(#[from] CryptoError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Audit(#[from] AuditError),
    #[error("a stored ticket is malformed")]
    Malformed,
    #[error("no such dead-lettered ticket")]
    NotDeadLettered,
    #[error("desk configuration: {0}")]
    Config(String),
}

impl HasErrorCode for DeskError {
    fn code(&self) -> ErrorCode {
        match self {
            DeskError::Store(e) => e.code(),
            DeskError::Audit(e) => e.code(),
            DeskError::NotDeadLettered => ErrorCode::NotFound,
            DeskError::Crypto(_) | DeskError::Malformed | DeskError::Config(_) => ErrorCode::Internal,
        }
    }
}

/// Why a delivery attempt failed. `Ambiguous` means the desk may have committed (timeout,
/// 5xx after the request was sent): the next attempt searches by key before re-sending.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("desk unreachable")]
    Unavailable,
    #[error("desk outcome unknown")]
    Ambiguous,
    #[error("desk refused the ticket")]
    Refused,
}

impl SinkError {
    /// A stable code for the outbox row and the audit record (never content).
    pub fn code(&self) -> &'static str {
        match self {
            SinkError::Unavailable => "sink-unavailable",
            SinkError::Ambiguous => "sink-ambiguous",
            SinkError::Refused => "sink-refused",
        }
    }
}

/// A service-desk connector. `create` must be idempotent per `ticket.key` or at least
/// searchable by it through `find`.
#[async_trait::async_trait]
pub trait Sink: Send + Sync {
    fn name(&self) -> &'static str;
    /// The desk's reference of the ticket created earlier with this key, if any.
    async fn find(&self, key: &str) -> Result<Option<String>, SinkError>;
    /// Create the ticket; returns the desk's reference (ticket number).
    async fn create(&self, ticket: &Ticket) -> Result<String, SinkError>;
}

/// The ticket handed to a desk. Only [`Ticket::new`] (which takes a [`RedactedText`]) and
/// this module (reading back its own sealed outbox rows) can make one.
#[derive(Clone, Debug, Serialize)]
pub struct Ticket {
    /// Dedupe key: the ticket intent id.
    pub key: String,
    /// Correlation id: the chartdesk message id.
    pub correlation_id: String,
    pub tenant: String,
    pub vendor: String,
    /// The reporter's FHIR reference (`Practitioner/…`) and display name.
    pub reporter: Option<String>,
    pub reporter_name: Option<String>,
    pub role: Option<String>,
    pub department: String,
    /// LOGIN (login/MFA), ACCESS, PRINTER, DEVICE, EHR_HOWTO, BUILD_REQUEST, INTERFACE, MOBILE,
    /// NETWORK, HARDWARE, OTHER.
    pub category: String,
    /// `high` for a ticket split from an urgent or clinical message, else `normal`.
    pub urgency: String,
    /// Path of the conversation in chartdesk (readable there under policy).
    pub link: String,
    description: String,
}

/// The fields of a ticket other than its description.
pub struct TicketFields {
    pub key: String,
    pub correlation_id: String,
    pub tenant: String,
    pub vendor: String,
    pub reporter: Option<String>,
    pub reporter_name: Option<String>,
    pub role: Option<String>,
    pub department: String,
    pub category: String,
    pub urgency: String,
    pub link: String,
}

#[derive(Deserialize)]
struct StoredTicket {
    key: String,
    correlation_id: String,
    tenant: String,
    vendor: String,
    reporter: Option<String>,
    reporter_name: Option<String>,
    role: Option<String>,
    department: String,
    category: String,
    urgency: String,
    link: String,
    description: String,
}

impl Ticket {
    pub fn new(f: TicketFields, description: RedactedText) -> Ticket {
        Ticket {
            key: f.key,
            correlation_id: f.correlation_id,
            tenant: f.tenant,
            vendor: f.vendor,
            reporter: f.reporter,
            reporter_name: f.reporter_name,
            role: f.role,
            department: f.department,
            category: f.category,
            urgency: f.urgency,
            link: f.link,
            description: description.into_string(),
        }
    }

    /// The redacted description.
    pub fn description(&self) -> &str {
        &self.description
    }

    /// A one-line subject for desks that want one.
    pub fn subject(&self) -> String {
        const MAX: usize = 80;
        let line = self.description.lines().next().unwrap_or_default();
        let first = if line.chars().count() <= MAX {
            line.to_string()
        } else {
            // Cut at a word boundary so a placeholder such as "[SSN]" is never split.
            let cut: String = line.chars().take(MAX).collect();
            let cut = cut.rfind(char::is_whitespace).map_or(cut.as_str(), |i| &cut[..i]).trim_end();
            format!("{cut}…")
        };
        format!("[chartdesk {}] {}", self.category, first)
    }

    /// Seal for the outbox row (ticket data class: kept and shredded with handoffs).
    pub async fn seal(&self, keys: &KeyRing) -> Result<String, DeskError> {
        let json = serde_json::to_vec(self).map_err(|_| DeskError::Malformed)?;
        Ok(keys.seal(DataClass::Handoff, &aad(&self.key), &json).await?)
    }

    async fn open(keys: &KeyRing, row: &TicketIntentRow) -> Result<Ticket, DeskError> {
        let plain = keys.open(&aad(&row.id), &row.payload).await?;
        let s: StoredTicket = serde_json::from_slice(&plain).map_err(|_| DeskError::Malformed)?;
        if s.key != row.id {
            return Err(DeskError::Malformed);
        }
        Ok(Ticket {
            key: s.key,
            correlation_id: s.correlation_id,
            tenant: s.tenant,
            vendor: s.vendor,
            reporter: s.reporter,
            reporter_name: s.reporter_name,
            role: s.role,
            department: s.department,
            category: s.category,
            urgency: s.urgency,
            link: s.link,
            description: s.description,
        })
    }
}

/// The HTTP desk connectors a configuration enables, in the order RT, ServiceNow, Jira,
/// webhook. Incomplete settings are an error (never a silently disabled desk). In the
/// production profile desk URLs must use https.
pub fn http_sinks(
    c: &crate::config::DeskConfig,
    public_url: &str,
    production: bool,
) -> Result<Vec<Arc<dyn Sink>>, DeskError> {
    let timeout = Duration::from_secs(c.http_timeout_secs.max(1));
    let need = |v: Option<&str>, key: &str, desk: &str| -> Result<String, DeskError> {
        v.filter(|v| !v.trim().is_empty())
            .map(str::to_string)
            .ok_or_else(|| DeskError::Config(format!("{desk} is enabled but desk.{key} is not set")))
    };
    let check_url = |u: &str, key: &str| -> Result<String, DeskError> {
        let parsed = url::Url::parse(u).map_err(|_| DeskError::Config(format!("desk.{key} is not a URL")))?;
        match parsed.scheme() {
            "https" => {}
            "http" if !production => {}
            _ => return Err(DeskError::Config(format!("desk.{key} must use https in production"))),
        }
        Ok(u.trim_end_matches('/').to_string())
    };
    let mut sinks: Vec<Arc<dyn Sink>> = Vec::new();
    if let Some(u) = &c.rt_url {
        sinks.push(Arc::new(RequestTrackerSink::new(request_tracker::RequestTrackerSettings {
            url: check_url(u, "rt_url")?,
            token: need(c.rt_token.as_ref().map(|s| s.expose()), "rt_token", "Request Tracker")?,
            queue: need(Some(&c.rt_queue), "rt_queue", "Request Tracker")?,
            key_field: need(Some(&c.rt_key_field), "rt_key_field", "Request Tracker")?,
            public_url: public_url.to_string(),
            timeout,
        })));
    }
    if let Some(u) = &c.servicenow_url {
        let auth = match (&c.servicenow_token, &c.servicenow_user, &c.servicenow_password) {
            (Some(t), _, _) => servicenow::ServiceNowAuth::Bearer(t.expose().to_string()),
            (None, Some(user), Some(pw)) => {
                servicenow::ServiceNowAuth::Basic { user: user.clone(), password: pw.expose().to_string() }
            }
            _ => {
                return Err(DeskError::Config(
                    "ServiceNow needs desk.servicenow_token or desk.servicenow_user and desk.servicenow_password"
                        .into(),
                ));
            }
        };
        sinks.push(Arc::new(ServiceNowSink::new(servicenow::ServiceNowSettings {
            instance_url: check_url(u, "servicenow_url")?,
            auth,
            assignment_group: c.servicenow_assignment_group.clone(),
            public_url: public_url.to_string(),
            timeout,
        })));
    }
    if let Some(u) = &c.jira_url {
        let key_field = c.jira_key_field.trim().to_string();
        let custom = key_field.strip_prefix("customfield_").is_some_and(|n| n.parse::<u64>().is_ok());
        if key_field != "labels" && !custom {
            return Err(DeskError::Config("desk.jira_key_field must be labels or customfield_NNNNN".into()));
        }
        sinks.push(Arc::new(JiraSink::new(jira::JiraSettings {
            site_url: check_url(u, "jira_url")?,
            email: need(c.jira_email.as_deref(), "jira_email", "Jira Service Management")?,
            api_token: need(
                c.jira_api_token.as_ref().map(|s| s.expose()),
                "jira_api_token",
                "Jira Service Management",
            )?,
            service_desk_id: need(
                c.jira_service_desk_id.as_deref(),
                "jira_service_desk_id",
                "Jira Service Management",
            )?,
            request_type_id: need(
                c.jira_request_type_id.as_deref(),
                "jira_request_type_id",
                "Jira Service Management",
            )?,
            key_field,
            public_url: public_url.to_string(),
            timeout,
        })));
    }
    if let Some(u) = &c.webhook_url {
        let secret = need(c.webhook_secret.as_ref().map(|s| s.expose()), "webhook_secret", "The webhook")?;
        if secret.len() < 32 {
            return Err(DeskError::Config("desk.webhook_secret must be at least 32 bytes".into()));
        }
        sinks.push(Arc::new(WebhookSink::new(webhook::WebhookSettings {
            url: check_url(u, "webhook_url")?,
            secret,
            timeout,
        })));
    }
    Ok(sinks)
}

fn aad(id: &str) -> String {
    format!("ticket:{id}")
}

/// Relay settings (from `[desk]`).
#[derive(Clone, Debug)]
pub struct RelaySettings {
    pub batch: i64,
    pub lease: Duration,
    pub max_attempts: i64,
    pub retry_base: Duration,
    pub retry_max: Duration,
}

/// Delivers outbox tickets to every sink.
pub struct Relay {
    store: Arc<dyn Store>,
    keys: Arc<KeyRing>,
    audit: Arc<Audit>,
    sinks: Vec<Arc<dyn Sink>>,
    settings: RelaySettings,
    delivered: tokio::sync::broadcast::Sender<Delivered>,
}

/// A ticket's delivery state changed (for live views).
#[derive(Clone, Debug)]
pub struct Delivered {
    pub tenant: String,
    pub message_id: String,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

impl Relay {
    pub fn new(
        store: Arc<dyn Store>,
        keys: Arc<KeyRing>,
        audit: Arc<Audit>,
        sinks: Vec<Arc<dyn Sink>>,
        settings: RelaySettings,
    ) -> Relay {
        let (delivered, _) = tokio::sync::broadcast::channel(1024);
        Relay { store, keys, audit, sinks, settings, delivered }
    }

    pub fn has_sinks(&self) -> bool {
        !self.sinks.is_empty()
    }

    /// Delivery state changes, for live views.
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Delivered> {
        self.delivered.subscribe()
    }

    /// Claim and deliver one batch; returns how many tickets were settled (delivered,
    /// rescheduled or dead-lettered).
    pub async fn run_once(&self) -> Result<usize, DeskError> {
        if self.sinks.is_empty() {
            return Ok(0);
        }
        let now = now_ms();
        let lease_until = now + self.settings.lease.as_millis() as i64;
        let claimed = self.store.tickets_claim(now, lease_until, self.settings.batch).await?;
        let n = claimed.len();
        // The claimed tickets are delivered concurrently: each waits on the desk and on its
        // own audit commit, which the audit writer batches.
        let results = futures_util::future::join_all(claimed.into_iter().map(|row| self.deliver(row))).await;
        results.into_iter().collect::<Result<Vec<()>, DeskError>>()?;
        Ok(n)
    }

    async fn deliver(&self, row: TicketIntentRow) -> Result<(), DeskError> {
        let ticket = match Ticket::open(&self.keys, &row).await {
            Ok(t) => t,
            Err(_) => return self.dead_letter(&row, None, "ticket-unreadable").await,
        };
        let mut reference: Option<String> = None;
        let mut failure: Option<SinkError> = None;
        for sink in &self.sinks {
            // A retry first asks the desk whether an earlier attempt already landed.
            let found = if row.attempts > 1 { sink.find(&ticket.key).await } else { Ok(None) };
            let result = match found {
                Ok(Some(r)) => Ok(r),
                Ok(None) => sink.create(&ticket).await,
                Err(e) => Err(e),
            };
            match result {
                Ok(r) => {
                    reference.get_or_insert(r);
                }
                Err(e) => {
                    tracing::warn!(
                        sink = sink.name(),
                        error = e.code(),
                        attempt = row.attempts,
                        "ticket delivery failed"
                    );
                    failure = Some(e);
                }
            }
        }
        let now = now_ms();
        match failure {
            None => {
                let reference = reference.unwrap_or_default();
                self.audit
                    .record(
                        AuditRecord::new(EventKind::TicketDelivery, Outcome::Success)
                            .agent(Agent { tenant: Some(ticket.tenant.clone()), ..Agent::default() })
                            .entity(EntityRole::Ticket, format!("TicketIntent/{}", row.id))
                            .entity(EntityRole::Message, format!("Message/{}", row.message_id))
                            .purpose(Purpose::ItSupport)
                            .number("attempts", row.attempts),
                    )
                    .await?;
                self.store.ticket_settle(&row.id, "delivered", Some(&reference), 0, None, now).await?;
                tracing::info!(attempts = row.attempts, "ticket delivered");
                let _ = self.delivered.send(Delivered { tenant: ticket.tenant, message_id: row.message_id });
                Ok(())
            }
            Some(e) if e.is_final() || row.attempts >= self.settings.max_attempts => {
                self.dead_letter(&row, Some(&ticket.tenant), e.code()).await
            }
            Some(e) => {
                let next = now + self.backoff(row.attempts).as_millis() as i64;
                self.store.ticket_settle(&row.id, "pending", None, next, Some(e.code()), now).await?;
                let _ = self.delivered.send(Delivered { tenant: ticket.tenant, message_id: row.message_id });
                Ok(())
            }
        }
    }

    fn backoff(&self, attempts: i64) -> Duration {
        let exp = attempts.clamp(1, 20) as u32 - 1;
        self.settings.retry_base.saturating_mul(2u32.saturating_pow(exp)).min(self.settings.retry_max)
    }

    async fn dead_letter(
        &self,
        row: &TicketIntentRow,
        tenant: Option<&str>,
        code: &'static str,
    ) -> Result<(), DeskError> {
        self.audit
            .record(
                AuditRecord::new(EventKind::DeadLetter, Outcome::SeriousFailure)
                    .agent(Agent { tenant: tenant.map(str::to_string), ..Agent::default() })
                    .entity(EntityRole::Ticket, format!("TicketIntent/{}", row.id))
                    .entity(EntityRole::Message, format!("Message/{}", row.message_id))
                    .purpose(Purpose::ItSupport)
                    .reason(code)
                    .number("attempts", row.attempts),
            )
            .await?;
        self.store.ticket_settle(&row.id, "dead-letter", None, 0, Some(code), now_ms()).await?;
        tracing::warn!(error = code, attempts = row.attempts, "ticket dead-lettered");
        if let Some(t) = tenant {
            let _ = self.delivered.send(Delivered { tenant: t.to_string(), message_id: row.message_id.clone() });
        }
        Ok(())
    }

    /// The dead-letter list (ids, categories, attempts and error codes; never content).
    pub async fn dead_letters(&self, limit: i64) -> Result<Vec<TicketIntentRow>, DeskError> {
        Ok(self.store.tickets_dead(limit).await?)
    }

    /// Put a dead-lettered ticket back in the queue (audited).
    pub async fn retry(&self, id: &str, agent: Agent) -> Result<(), DeskError> {
        let row = self.store.ticket_get(id).await?.ok_or(DeskError::NotDeadLettered)?;
        if row.status != "dead-letter" {
            return Err(DeskError::NotDeadLettered);
        }
        self.audit
            .record(
                AuditRecord::new(EventKind::DeadLetter, Outcome::Success)
                    .agent(agent)
                    .entity(EntityRole::Ticket, format!("TicketIntent/{}", row.id))
                    .purpose(Purpose::Administration)
                    .reason("dead-letter-retry"),
            )
            .await?;
        if self.store.ticket_requeue(id, now_ms()).await? { Ok(()) } else { Err(DeskError::NotDeadLettered) }
    }
}

impl SinkError {
    /// A refusal will not pass by retrying.
    fn is_final(&self) -> bool {
        matches!(self, SinkError::Refused)
    }
}

/// What the clinician sees about a ticket.
pub fn status_text(row: &TicketIntentRow, has_sinks: bool) -> String {
    match (row.status.as_str(), &row.external_ref) {
        ("delivered", Some(r)) => format!("Ticket {r} created at the service desk."),
        ("delivered", None) => "Ticket created at the service desk.".into(),
        ("dead-letter", _) => {
            "The service desk could not be reached; the request is kept and the desk team has been alerted.".into()
        }
        _ if !has_sinks => "Ticket requested; it is kept until a service-desk connector is configured.".into(),
        _ if row.attempts > 0 && row.last_error.is_some() => {
            "Ticket requested; delivery to the service desk is delayed and is being retried.".into()
        }
        _ => "Ticket requested; waiting for the service desk.".into(),
    }
}
