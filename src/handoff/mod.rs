//! Messages and clinical handoffs: what happens to a clinician's screened message.
//!
//! A clinical message becomes a handoff to a human in the clinical workflow (never an
//! automated answer): urgent → the on-call clinician, with an immediate "follow your
//! rapid-response protocol" notice; medication questions → pharmacy or the nursing
//! supervisor (configurable); documentation or clinical-workflow build questions → clinical
//! informatics; everything else → the nursing supervisor of the clinician's unit. An IT
//! message becomes a ticket intent (the desk delivers it); a MIXED one becomes both.
//!
//! Invariants:
//! - only [`crate::detect::Screened`] text enters: a message cannot be stored or routed without
//!   having been through the detector;
//! - the message, its handoffs and ticket intents are written in one transaction, after the
//!   audit record; a double submit (same client message id) returns the first result;
//! - message text and notes are sealed at rest (message / handoff data keys, so retention can
//!   crypto-shred them); rows hold ids, codes and times only;
//! - an unacknowledged handoff past its SLA is re-escalated to the next tier, recorded for
//!   audit and announced to the live views.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};

use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use crate::audit::{Agent, Audit, AuditError, AuditRecord, EntityRole, EventKind, Outcome, Purpose};
use crate::config::{HandoffConfig, MedicationQueue};
use crate::context::ChartData;
use crate::crypto::{CryptoError, DataClass, KeyRing};
use crate::desk::{Ticket, TicketFields};
use crate::detect::{ClinicalCategory, Detection, Detector, ItCategory, Route, Screened};
use crate::error::{ErrorCode, HasErrorCode};
use crate::policy::Compiled;
use crate::redact::Redactor;
use crate::store::{HandoffNoteRow, HandoffRow, MessageRow, Store, StoreError, TicketIntentRow};

/// The clinical queues.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Queue {
    NursingSupervisor,
    OnCall,
    Pharmacy,
    ClinicalInformatics,
}

impl Queue {
    pub const ALL: [Queue; 4] = [Queue::NursingSupervisor, Queue::OnCall, Queue::Pharmacy, Queue::ClinicalInformatics];

    pub fn as_str(self) -> &'static str {
        match self {
            Queue::NursingSupervisor => "nursing-supervisor",
            Queue::OnCall => "on-call",
            Queue::Pharmacy => "pharmacy",
            Queue::ClinicalInformatics => "clinical-informatics",
        }
    }

    pub fn parse(s: &str) -> Option<Queue> {
        Self::ALL.into_iter().find(|q| q.as_str() == s)
    }

    /// Who a person reads the queue as.
    pub fn label(self) -> &'static str {
        match self {
            Queue::NursingSupervisor => "the nursing supervisor of your unit",
            Queue::OnCall => "the on-call clinician",
            Queue::Pharmacy => "pharmacy",
            Queue::ClinicalInformatics => "clinical informatics",
        }
    }

    /// Where an unacknowledged handoff goes when its SLA passes.
    pub fn next_tier(self) -> Queue {
        match self {
            Queue::ClinicalInformatics | Queue::Pharmacy => Queue::NursingSupervisor,
            Queue::NursingSupervisor | Queue::OnCall => Queue::OnCall,
        }
    }

    /// The queues a chartdesk role works.
    pub fn for_role(role: &str) -> &'static [Queue] {
        match role {
            "nursing-supervisor" => &[Queue::NursingSupervisor],
            "physician" => &[Queue::OnCall],
            "pharmacist" => &[Queue::Pharmacy],
            "clinical-informatics" => &[Queue::ClinicalInformatics],
            _ => &[],
        }
    }
}

/// What a sealed message holds (besides the row's codes).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Envelope {
    pub text: String,
    pub clinician: Clinician,
    /// The patient and encounter in the clinician's launch, and the chart data fetched for it
    /// (projected per viewer, for the clinical-handoff purpose, when shown).
    pub patient: Option<String>,
    pub encounter: Option<String>,
    pub chart: Option<ChartData>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Clinician {
    pub reference: Option<String>,
    pub name: Option<String>,
    pub role_text: Option<String>,
    pub roles: Vec<String>,
    pub unit: String,
}

/// The submitter of a message.
pub struct Submitter {
    pub tenant: String,
    pub vendor: String,
    pub user_key: String,
    pub launch_ref: String,
    pub agent: Agent,
    pub clinician: Clinician,
    pub patient: Option<String>,
    pub encounter: Option<String>,
    pub chart: Option<ChartData>,
}

#[derive(Debug, thiserror::Error)]
pub enum HandoffError {
    #[error("no such message")]
    MessageNotFound,
    #[error("no such handoff")]
    NotFound,
    #[error("this handoff is not in your queues")]
    NotYours,
    #[error("this handoff is already resolved")]
    Resolved,
    #[error("the handoff changed meanwhile; reload and try again")]
    Conflict,
    #[error("storage is unavailable")]
    Store(#[from] StoreError),
    #[error("the audit trail is unavailable")]
    Audit(#[from] AuditError),
    #[error("sealed content could not be opened")]
    Crypto(#[from] CryptoError),
    #[error("the ticket could not be prepared")]
    Desk(#[from] crate::desk::DeskError),
}

impl HasErrorCode for HandoffError {
    fn code(&self) -> ErrorCode {
        match self {
            HandoffError::MessageNotFound | HandoffError::NotFound => ErrorCode::NotFound,
            HandoffError::NotYours => ErrorCode::Forbidden,
            HandoffError::Resolved | HandoffError::Conflict => ErrorCode::Conflict,
            HandoffError::Store(_) | HandoffError::Audit(_) | HandoffError::Crypto(_) => ErrorCode::ServiceUnavailable,
            HandoffError::Desk(e) => e.code(),
        }
    }
}

/// The result of a submission, as the clinician sees it.
#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Receipt {
    pub message_id: String,
    /// `clinical` or `it`.
    pub route: String,
    pub category: String,
    pub urgent: bool,
    /// Set when the message looks urgent: what to do now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub urgent_notice: Option<String>,
    pub handoffs: Vec<HandoffStatus>,
    pub tickets: Vec<TicketStatus>,
    /// What fired, for "why did this go there" (rule ids and character offsets).
    pub signals: Vec<SignalInfo>,
    /// True when this is the answer to an earlier submission with the same client id.
    pub duplicate: bool,
}

#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HandoffStatus {
    pub id: String,
    pub queue: String,
    /// Where it went, in words.
    pub went_to: String,
    pub unit: String,
    pub status: String,
    pub tier: i64,
    pub overdue: bool,
    /// RFC 3339: when an acknowledgement is due.
    pub respond_by: String,
    pub expected_response: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub acknowledged_by: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TicketStatus {
    pub id: String,
    pub category: String,
    /// `pending`, `delivered` or `dead-letter`.
    pub status: String,
    /// The desk's ticket number, once it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub number: Option<String>,
    /// What to tell the clinician.
    pub message: String,
}

#[derive(Clone, Debug, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SignalInfo {
    pub kind: String,
    pub rule: String,
    pub start: usize,
    pub end: usize,
}

/// A change to announce to live views.
#[derive(Clone, Debug)]
pub struct Changed {
    pub tenant: String,
    pub message_id: String,
}

/// The detector of the active policy version, rebuilt when the version changes.
#[derive(Default)]
pub struct Detectors {
    current: RwLock<Option<(i64, Arc<Detector>)>>,
}

impl Detectors {
    pub fn for_policy(&self, policy: &Compiled) -> Arc<Detector> {
        if let Some((v, d)) = self.current.read().unwrap_or_else(|p| p.into_inner()).as_ref()
            && *v == policy.version
        {
            return d.clone();
        }
        let d = match Detector::new(&policy.document.detection.tuning()) {
            Ok(d) => Arc::new(d),
            Err(e) => {
                // Validated at activation; should it still fail, the shipped default (never less sensitive).
                tracing::error!(error = %e, "detector tuning refused: using the default");
                Arc::new(Detector::new(&crate::detect::Tuning::default()).expect("the default detector builds"))
            }
        };
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = Some((policy.version, d.clone()));
        d
    }
}

fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms).unwrap_or_default().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

fn human_duration(secs: u64) -> String {
    if secs < 120 { format!("{secs} seconds") } else { format!("{} minutes", secs / 60) }
}

/// The queue a clinical detection goes to.
pub fn queue_for(detection: &Detection, medication: MedicationQueue) -> Option<Queue> {
    let Route::Clinical { category, urgent } = &detection.route else { return None };
    if *urgent || *category == ClinicalCategory::Urgent {
        return Some(Queue::OnCall);
    }
    let med = match medication {
        MedicationQueue::Pharmacy => Queue::Pharmacy,
        MedicationQueue::NursingSupervisor => Queue::NursingSupervisor,
    };
    Some(match category {
        ClinicalCategory::MedDose | ClinicalCategory::MedInteraction | ClinicalCategory::MedAdmin => med,
        _ if matches!(detection.it_part, Some(ItCategory::BuildRequest | ItCategory::EhrHowto))
            && *category != ClinicalCategory::PatientSpecific =>
        {
            Queue::ClinicalInformatics
        }
        _ => Queue::NursingSupervisor,
    })
}

/// The IT category a detection asks a ticket for (the whole message, or a MIXED one's IT part).
pub fn ticket_for(detection: &Detection) -> Option<ItCategory> {
    match &detection.route {
        Route::It { category } => Some(*category),
        Route::Clinical { .. } => detection.it_part,
    }
}

/// Is `h` in one of `queues` (and, for the nursing-supervisor queue, of `unit` or of no
/// known unit)?
pub fn visible(h: &HandoffRow, queues: &[Queue], unit: Option<&str>) -> bool {
    Queue::parse(&h.queue).is_some_and(|q| queues.contains(&q))
        && (h.queue != Queue::NursingSupervisor.as_str()
            || h.unit.is_empty()
            || unit.is_none_or(|u| u.eq_ignore_ascii_case(&h.unit)))
}

pub struct Handoffs {
    store: Arc<dyn Store>,
    keys: Arc<KeyRing>,
    audit: Arc<Audit>,
    config: HandoffConfig,
    changes: broadcast::Sender<Changed>,
    redactor: Arc<Redactor>,
    desk_configured: AtomicBool,
}

impl Handoffs {
    pub fn new(store: Arc<dyn Store>, keys: Arc<KeyRing>, audit: Arc<Audit>, config: HandoffConfig) -> Handoffs {
        let (changes, _) = broadcast::channel(1024);
        Handoffs {
            store,
            keys,
            audit,
            config,
            changes,
            redactor: Arc::new(Redactor::new()),
            desk_configured: AtomicBool::new(false),
        }
    }

    /// Whether a service-desk sink delivers tickets (changes what the clinician is told).
    pub fn set_desk_configured(&self, yes: bool) {
        self.desk_configured.store(yes, Ordering::Relaxed);
    }

    /// Announce a change of a message (e.g. its ticket was delivered) to the live views.
    pub fn notify(&self, tenant: String, message_id: String) {
        let _ = self.changes.send(Changed { tenant, message_id });
    }

    pub fn config(&self) -> &HandoffConfig {
        &self.config
    }

    /// Live changes (for server-sent events).
    pub fn subscribe(&self) -> broadcast::Receiver<Changed> {
        self.changes.subscribe()
    }

    fn sla_ms(&self, urgent: bool) -> i64 {
        1000 * if urgent { self.config.sla_urgent_secs } else { self.config.sla_other_secs } as i64
    }

    fn urgent_notice(&self, unit: &str) -> String {
        let number = self
            .config
            .units
            .iter()
            .find(|u| u.name.eq_ignore_ascii_case(unit))
            .map(|u| u.rapid_response.clone())
            .or(self.config.rapid_response.clone());
        match number {
            Some(n) => format!(
                "This looks urgent: follow your rapid-response / escalation protocol now (call {n}). Do not wait for a reply here; the on-call clinician has also been alerted."
            ),
            None => "This looks urgent: follow your rapid-response / escalation protocol now. Do not wait for a reply here; the on-call clinician has also been alerted.".into(),
        }
    }

    /// Accept a screened message: audit, then message + handoffs + ticket intents in one
    /// transaction. A repeated client message id returns the first receipt.
    pub async fn submit(
        &self,
        who: &Submitter,
        client_message_id: &str,
        screened: &Screened,
    ) -> Result<Receipt, HandoffError> {
        let detection = screened.detection();
        let t = now_ms();
        let id = uuid::Uuid::now_v7().to_string();
        let (route, category, urgent) = match &detection.route {
            Route::Clinical { category, urgent } => ("clinical", category.as_str(), *urgent),
            Route::It { category } => ("it", category.as_str(), false),
        };
        let queue = queue_for(detection, self.config.medication_queue);
        let ticket = ticket_for(detection);
        let envelope = Envelope {
            text: screened.text().to_string(),
            clinician: who.clinician.clone(),
            patient: who.patient.clone(),
            encounter: who.encounter.clone(),
            chart: who.chart.clone(),
        };
        let sealed = self
            .keys
            .seal(
                DataClass::Message,
                &format!("message:{id}"),
                &serde_json::to_vec(&envelope).expect("envelopes serialise"),
            )
            .await?;
        let detection_json = serde_json::to_string(&serde_json::json!({
            "route": route, "category": category, "urgent": urgent, "score": detection.score,
            "it_part": detection.it_part.map(|c| c.as_str()),
            "signals": detection.signals.iter().map(|s| serde_json::json!({"kind": format!("{:?}", s.kind), "rule": s.rule, "start": s.start, "end": s.end})).collect::<Vec<_>>()
        }))
        .expect("detections serialise");
        let row = MessageRow {
            id: id.clone(),
            tenant: who.tenant.clone(),
            user_key: who.user_key.clone(),
            client_message_id: client_message_id.to_string(),
            launch_ref: who.launch_ref.clone(),
            created_ms: t,
            envelope: sealed,
            detection: detection_json,
            route: route.into(),
            category: category.into(),
            urgent,
        };
        let handoffs: Vec<HandoffRow> = queue
            .map(|q| HandoffRow {
                id: uuid::Uuid::now_v7().to_string(),
                message_id: id.clone(),
                tenant: who.tenant.clone(),
                queue: q.as_str().into(),
                unit: who.clinician.unit.clone(),
                category: category.into(),
                urgent,
                status: "open".into(),
                tier: 0,
                created_ms: t,
                due_ms: t + self.sla_ms(urgent),
                acknowledged_by: None,
                acknowledged_ms: None,
                claimed_by: None,
                resolved_ms: None,
                updated_ms: t,
                version: 1,
            })
            .into_iter()
            .collect();
        let mut tickets: Vec<TicketIntentRow> = Vec::new();
        if let Some(c) = ticket {
            let ticket_id = uuid::Uuid::now_v7().to_string();
            // Minimum necessary: an IT message's text, redacted (the chart-context patient's
            // identifiers always); for a MIXED one only the fact of its IT part, since the rest
            // is a clinical question that went to the clinical workflow.
            let known = crate::context::redaction_known(who.chart.as_ref());
            let description = if route == "it" {
                self.redactor.redact(screened.text(), &known)
            } else {
                self.redactor.redact(
                    &format!(
                        "IT part ({}) of a message that was escalated to the clinical workflow; the text stays in chartdesk (see link).",
                        c.as_str()
                    ),
                    &known,
                )
            };
            let ticket = Ticket::new(
                TicketFields {
                    key: ticket_id.clone(),
                    correlation_id: id.clone(),
                    tenant: who.tenant.clone(),
                    vendor: who.vendor.clone(),
                    reporter: who.clinician.reference.clone(),
                    reporter_name: who.clinician.name.clone(),
                    role: who.clinician.role_text.clone().or_else(|| who.clinician.roles.first().cloned()),
                    department: who.clinician.unit.clone(),
                    category: c.as_str().into(),
                    urgency: if urgent || route == "clinical" { "high" } else { "normal" }.into(),
                    link: format!("/api/messages/{id}"),
                },
                description,
            );
            tickets.push(TicketIntentRow {
                id: ticket_id,
                message_id: id.clone(),
                category: c.as_str().into(),
                created_ms: t,
                status: "pending".into(),
                payload: ticket.seal(&self.keys).await?,
                attempts: 0,
                next_attempt_ms: 0,
                external_ref: None,
                last_error: None,
                updated_ms: t,
            });
        }

        // The audit record comes first: a message that cannot be recorded is not accepted.
        let mut record = AuditRecord::new(EventKind::MessageSubmitted, Outcome::Success)
            .agent(who.agent.clone())
            .entity(EntityRole::Message, format!("Message/{id}"))
            .purpose(if route == "clinical" { Purpose::ClinicalHandoff } else { Purpose::ItSupport })
            .decision(
                route == "clinical",
                detection.signals.iter().map(|s| format!("{}@{}-{}", s.rule, s.start, s.end)).collect(),
            )
            .reason(category)
            .number("urgent", urgent as i64)
            .number("signals", detection.signals.len() as i64);
        if let Some(p) = &who.patient {
            record = record.entity(EntityRole::Patient, format!("Patient/{p}"));
        }
        for h in &handoffs {
            record = record.entity(EntityRole::Handoff, format!("Handoff/{}?queue={}", h.id, h.queue));
        }
        for tk in &tickets {
            record = record.entity(EntityRole::Ticket, format!("TicketIntent/{}", tk.id));
        }
        if let Some(existing) = self.store.message_get_by_client(&who.user_key, client_message_id).await? {
            return self.receipt(&existing, true).await;
        }
        self.audit.record(record).await?;
        match self.store.message_submit(&row, &handoffs, &tickets).await? {
            Some(existing) => {
                let m = self.store.message_get(&existing).await?.ok_or(HandoffError::MessageNotFound)?;
                self.receipt(&m, true).await
            }
            None => {
                let _ = self.changes.send(Changed { tenant: who.tenant.clone(), message_id: id.clone() });
                tracing::info!(
                    route,
                    category,
                    urgent,
                    handoffs = handoffs.len(),
                    tickets = tickets.len(),
                    "message accepted"
                );
                self.receipt(&row, false).await
            }
        }
    }

    /// The receipt of a stored message (its current status).
    pub async fn receipt(&self, m: &MessageRow, duplicate: bool) -> Result<Receipt, HandoffError> {
        let handoffs = self.store.handoffs_of_message(&m.id).await?;
        let tickets = self.store.tickets_of_message(&m.id).await?;
        let detection: serde_json::Value = serde_json::from_str(&m.detection).unwrap_or_default();
        let signals = detection["signals"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|s| SignalInfo {
                kind: s["kind"].as_str().unwrap_or_default().to_string(),
                rule: s["rule"].as_str().unwrap_or_default().to_string(),
                start: s["start"].as_u64().unwrap_or_default() as usize,
                end: s["end"].as_u64().unwrap_or_default() as usize,
            })
            .collect();
        let unit = handoffs.first().map(|h| h.unit.clone()).unwrap_or_default();
        Ok(Receipt {
            message_id: m.id.clone(),
            route: m.route.clone(),
            category: m.category.clone(),
            urgent: m.urgent,
            urgent_notice: m.urgent.then(|| self.urgent_notice(&unit)),
            handoffs: handoffs.iter().map(|h| self.status(h)).collect(),
            tickets: tickets
                .into_iter()
                .map(|t| TicketStatus {
                    message: crate::desk::status_text(&t, self.desk_configured.load(Ordering::Relaxed)),
                    id: t.id,
                    category: t.category,
                    status: t.status,
                    number: t.external_ref,
                })
                .collect(),
            signals,
            duplicate,
        })
    }

    fn status(&self, h: &HandoffRow) -> HandoffStatus {
        let q = Queue::parse(&h.queue).unwrap_or(Queue::NursingSupervisor);
        let secs = (self.sla_ms(h.urgent) / 1000) as u64;
        HandoffStatus {
            id: h.id.clone(),
            queue: h.queue.clone(),
            went_to: if q == Queue::NursingSupervisor && !h.unit.is_empty() {
                format!("the nursing supervisor of {}", h.unit)
            } else {
                q.label().to_string()
            },
            unit: h.unit.clone(),
            status: h.status.clone(),
            tier: h.tier,
            overdue: h.tier > 0 || (h.status == "open" && h.due_ms < now_ms()),
            respond_by: rfc3339(h.due_ms),
            expected_response: format!("acknowledgement expected within {}", human_duration(secs)),
            acknowledged_by: h.acknowledged_by.clone(),
        }
    }

    /// A message of `user_key` (a clinician sees only their own).
    pub async fn message_of(&self, id: &str, user_key: &str) -> Result<MessageRow, HandoffError> {
        match self.store.message_get(id).await? {
            Some(m) if m.user_key == user_key => Ok(m),
            _ => Err(HandoffError::MessageNotFound),
        }
    }

    pub async fn open_envelope(&self, m: &MessageRow) -> Result<Envelope, HandoffError> {
        let bytes = self.keys.open(&format!("message:{}", m.id), &m.envelope).await?;
        serde_json::from_slice(&bytes).map_err(|_| HandoffError::Crypto(CryptoError::Malformed))
    }

    /// The handoffs of a tenant in `queues` (for a nursing supervisor: of `unit`, or of no
    /// known unit), newest urgent first.
    pub async fn inbox(
        &self,
        tenant: &str,
        queues: &[Queue],
        unit: Option<&str>,
    ) -> Result<Vec<HandoffRow>, HandoffError> {
        let since = now_ms() - 24 * 3600 * 1000;
        let mut list: Vec<HandoffRow> =
            self.store.handoffs_active(tenant, since).await?.into_iter().filter(|h| visible(h, queues, unit)).collect();
        list.sort_by(|a, b| {
            let rank = |h: &HandoffRow| (h.status == "resolved", !h.urgent, -h.created_ms);
            rank(a).cmp(&rank(b))
        });
        Ok(list)
    }

    pub async fn notes(&self, handoff_id: &str) -> Result<Vec<(HandoffNoteRow, String)>, HandoffError> {
        let mut out = Vec::new();
        for n in self.store.handoff_notes(handoff_id).await? {
            let body = self.keys.open(&format!("handoff-note:{}", n.id), &n.body).await?;
            out.push((n, String::from_utf8_lossy(&body).into_owned()));
        }
        Ok(out)
    }

    /// Acknowledge, claim or resolve a handoff the actor's queues hold.
    pub async fn act(
        &self,
        agent: &Agent,
        actor: &str,
        (queues, unit): (&[Queue], Option<&str>),
        id: &str,
        action: Action,
    ) -> Result<HandoffRow, HandoffError> {
        let h = self.store.handoff_get(id).await?.ok_or(HandoffError::NotFound)?;
        if !visible(&h, queues, unit) {
            return Err(HandoffError::NotYours);
        }
        if h.status == "resolved" {
            return Err(HandoffError::Resolved);
        }
        let t = now_ms();
        let mut next = h.clone();
        match action {
            Action::Acknowledge => {
                next.status = if h.status == "claimed" { "claimed".into() } else { "acknowledged".into() };
                next.acknowledged_by.get_or_insert_with(|| actor.to_string());
                next.acknowledged_ms.get_or_insert(t);
            }
            Action::Claim => {
                next.status = "claimed".into();
                next.claimed_by = Some(actor.to_string());
                next.acknowledged_by.get_or_insert_with(|| actor.to_string());
                next.acknowledged_ms.get_or_insert(t);
            }
            Action::Resolve => {
                next.status = "resolved".into();
                next.resolved_ms = Some(t);
                next.acknowledged_by.get_or_insert_with(|| actor.to_string());
                next.acknowledged_ms.get_or_insert(t);
            }
        }
        next.updated_ms = t;
        next.version = h.version + 1;
        self.audit
            .record(
                AuditRecord::new(EventKind::HandoffChange, Outcome::Success)
                    .agent(agent.clone())
                    .entity(EntityRole::Handoff, format!("Handoff/{}", h.id))
                    .purpose(Purpose::ClinicalHandoff)
                    .reason(action.as_str()),
            )
            .await?;
        if !self.store.handoff_update(&next).await? {
            return Err(HandoffError::Conflict);
        }
        let _ = self.changes.send(Changed { tenant: h.tenant.clone(), message_id: h.message_id.clone() });
        Ok(next)
    }

    /// Add a note (screened text) to a handoff the actor's queues hold.
    pub async fn note(
        &self,
        agent: &Agent,
        actor: &str,
        (queues, unit): (&[Queue], Option<&str>),
        id: &str,
        text: &Screened,
    ) -> Result<(), HandoffError> {
        let h = self.store.handoff_get(id).await?.ok_or(HandoffError::NotFound)?;
        if !visible(&h, queues, unit) {
            return Err(HandoffError::NotYours);
        }
        let note_id = uuid::Uuid::now_v7().to_string();
        let body =
            self.keys.seal(DataClass::Handoff, &format!("handoff-note:{note_id}"), text.text().as_bytes()).await?;
        self.audit
            .record(
                AuditRecord::new(EventKind::HandoffChange, Outcome::Success)
                    .agent(agent.clone())
                    .entity(EntityRole::Handoff, format!("Handoff/{}", h.id))
                    .purpose(Purpose::ClinicalHandoff)
                    .reason("note"),
            )
            .await?;
        self.store
            .handoff_note_insert(&HandoffNoteRow {
                id: note_id,
                handoff_id: h.id.clone(),
                author: actor.to_string(),
                created_ms: now_ms(),
                body,
            })
            .await?;
        let _ = self.changes.send(Changed { tenant: h.tenant.clone(), message_id: h.message_id.clone() });
        Ok(())
    }

    /// Re-escalate every open handoff past its SLA to the next tier. Returns how many moved.
    pub async fn sweep(&self) -> Result<usize, HandoffError> {
        let t = now_ms();
        let mut moved = 0;
        for h in self.store.handoffs_overdue(t).await? {
            let from = Queue::parse(&h.queue).unwrap_or(Queue::NursingSupervisor);
            let to = from.next_tier();
            let mut next = h.clone();
            next.queue = to.as_str().into();
            next.tier = h.tier + 1;
            next.due_ms = t + self.sla_ms(h.urgent);
            next.updated_ms = t;
            next.version = h.version + 1;
            self.audit
                .record(
                    AuditRecord::new(EventKind::HandoffChange, Outcome::MinorFailure)
                        .agent(Agent { tenant: Some(h.tenant.clone()), ..Agent::default() })
                        .entity(EntityRole::Handoff, format!("Handoff/{}?queue={}", h.id, to.as_str()))
                        .purpose(Purpose::ClinicalHandoff)
                        .reason("sla_reescalated")
                        .number("tier", next.tier),
                )
                .await?;
            if self.store.handoff_update(&next).await? {
                moved += 1;
                tracing::warn!(
                    from = from.as_str(),
                    to = to.as_str(),
                    tier = next.tier,
                    "handoff past its SLA: re-escalated"
                );
                let _ = self.changes.send(Changed { tenant: h.tenant.clone(), message_id: h.message_id.clone() });
            }
        }
        Ok(moved)
    }

    /// A handoff's row.
    pub async fn get(&self, id: &str) -> Result<HandoffRow, HandoffError> {
        self.store.handoff_get(id).await?.ok_or(HandoffError::NotFound)
    }

    /// How a handoff shows in an inbox (the message text and what the viewer may see of the
    /// patient are added by the caller).
    pub fn inbox_status(&self, h: &HandoffRow) -> HandoffStatus {
        self.status(h)
    }

    /// Counts by queue, for the page header.
    pub fn counts(list: &[HandoffRow]) -> BTreeMap<String, usize> {
        let mut m = BTreeMap::new();
        for h in list.iter().filter(|h| h.status != "resolved") {
            *m.entry(h.queue.clone()).or_insert(0) += 1;
        }
        m
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    Acknowledge,
    Claim,
    Resolve,
}

impl Action {
    pub fn parse(s: &str) -> Option<Action> {
        match s {
            "acknowledge" => Some(Action::Acknowledge),
            "claim" => Some(Action::Claim),
            "resolve" => Some(Action::Resolve),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Acknowledge => "acknowledged",
            Action::Claim => "claimed",
            Action::Resolve => "resolved",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::detect::Detection;

    fn detection(route: Route, it_part: Option<ItCategory>) -> Detection {
        Detection { route, score: 1.0, signals: Vec::new(), it_part }
    }

    #[test]
    fn clinical_categories_go_to_their_queues() {
        let c = |category, urgent| Route::Clinical { category, urgent };
        let q = |d: &Detection| queue_for(d, MedicationQueue::Pharmacy);
        assert_eq!(q(&detection(c(ClinicalCategory::Diagnosis, true), None)), Some(Queue::OnCall), "urgent first");
        assert_eq!(q(&detection(c(ClinicalCategory::Urgent, false), None)), Some(Queue::OnCall));
        for med in [ClinicalCategory::MedDose, ClinicalCategory::MedInteraction, ClinicalCategory::MedAdmin] {
            assert_eq!(q(&detection(c(med, false), None)), Some(Queue::Pharmacy));
            let d = detection(c(med, false), None);
            assert_eq!(queue_for(&d, MedicationQueue::NursingSupervisor), Some(Queue::NursingSupervisor));
        }
        let build = detection(c(ClinicalCategory::Mixed, false), Some(ItCategory::BuildRequest));
        assert_eq!(q(&build), Some(Queue::ClinicalInformatics));
        assert_eq!(ticket_for(&build), Some(ItCategory::BuildRequest), "and the IT part is ticketed");
        assert_eq!(q(&detection(c(ClinicalCategory::PatientSpecific, false), None)), Some(Queue::NursingSupervisor));
        let it = detection(Route::It { category: ItCategory::Printer }, None);
        assert_eq!((q(&it), ticket_for(&it)), (None, Some(ItCategory::Printer)));
    }

    #[test]
    fn tiers_escalate_towards_on_call() {
        assert_eq!(Queue::Pharmacy.next_tier(), Queue::NursingSupervisor);
        assert_eq!(Queue::ClinicalInformatics.next_tier(), Queue::NursingSupervisor);
        assert_eq!(Queue::NursingSupervisor.next_tier(), Queue::OnCall);
        assert_eq!(Queue::OnCall.next_tier(), Queue::OnCall);
    }
}
