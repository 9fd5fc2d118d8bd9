//! The audit trail: every access, decision, refusal and change, in a tamper-evident log.
//!
//! Invariants:
//! - records hold references, ids and codes, never names or free text: the only text type,
//!   [`AuditText`], can be built from a code string written in the source (and, with the
//!   redaction work, from redacted text), never from a request;
//! - append-only: each record's leaf hash (RFC 6962) is chained to the previous record's
//!   chain hash inside the appending transaction; the database refuses updates and deletes
//!   (triggers) except the retention purge, which clears content and keeps every hash;
//! - every N records or T seconds a Merkle checkpoint is signed with Ed25519 (C2SP
//!   tlog-checkpoint) and written to the database *and* to a directory outside it; after
//!   every batch a signed `latest.txt` head is written there too, so deleting the tail or
//!   rewriting history is detected by [`verify::verify`];
//! - content is sealed with the `audit` data keys (AES-256-GCM) before it is stored;
//! - `record` returns once the record is committed: no audit, no data.

pub mod fhir;
pub mod merkle;
pub mod note;
pub mod verify;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::SigningKey;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot};

use crate::crypto::{CryptoError, DataClass, KeyRing};
use crate::error::{ErrorCode, HasErrorCode};
use crate::store::{CheckpointRow, NewAuditRow, Store, StoreError};
use merkle::{CompactRange, Hash};
use note::Checkpoint;

/// The associated data every sealed audit record is bound to.
pub(crate) const AAD: &str = "audit-record";
const MAX_BATCH: usize = 512;

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("the audit log is unavailable")]
    Store(#[from] StoreError),
    #[error("audit encryption failed")]
    Crypto(#[from] CryptoError),
    #[error("the audit writer has stopped")]
    Stopped,
    #[error("audit signing key: {0}")]
    Key(String),
    #[error("checkpoint directory {0}: {1}")]
    Dir(String, std::io::Error),
}

impl HasErrorCode for AuditError {
    fn code(&self) -> ErrorCode {
        ErrorCode::ServiceUnavailable
    }
}

/// Text in an audit record: a code from the source, never data from a request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AuditText(Cow<'static, str>);

impl AuditText {
    pub const fn code(code: &'static str) -> AuditText {
        AuditText(Cow::Borrowed(code))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EventKind {
    /// A SMART launch completed: the user is signed in.
    Login,
    /// A launch or callback failed.
    LaunchFailed,
    /// The EHR granted an access token (IHE IUA ITI-71).
    TokenGrant,
    Logout,
    SessionExpired,
    FhirRead,
    FhirSearch,
    /// Something was refused: unknown issuer, write scope dropped, ABAC deny, patient outside context.
    Refusal,
    MessageSubmitted,
    HandoffChange,
    TicketDelivery,
    DeadLetter,
    PolicyChange,
    AuditExport,
    AuditPurge,
    KeyRotation,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Login => "login",
            EventKind::LaunchFailed => "launch-failed",
            EventKind::TokenGrant => "token-grant",
            EventKind::Logout => "logout",
            EventKind::SessionExpired => "session-expired",
            EventKind::FhirRead => "fhir-read",
            EventKind::FhirSearch => "fhir-search",
            EventKind::Refusal => "refusal",
            EventKind::MessageSubmitted => "message-submitted",
            EventKind::HandoffChange => "handoff-change",
            EventKind::TicketDelivery => "ticket-delivery",
            EventKind::DeadLetter => "dead-letter",
            EventKind::PolicyChange => "policy-change",
            EventKind::AuditExport => "audit-export",
            EventKind::AuditPurge => "audit-purge",
            EventKind::KeyRotation => "key-rotation",
        }
    }
}

/// FHIR AuditEvent outcome codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    Success,
    MinorFailure,
    SeriousFailure,
    MajorFailure,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Agent {
    /// The user's FHIR reference (`Practitioner/…`), never a display name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub who: Option<String>,
    /// A digest of (iss, sub), the stable user key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EntityRole {
    Patient,
    Resource,
    Query,
    Session,
    Message,
    Handoff,
    Ticket,
    Policy,
    AuditLog,
    Key,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entity {
    /// A reference (`Patient/pat-01`) or an opaque id (`session:…`), never a name.
    pub what: String,
    pub role: EntityRole,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Purpose {
    ItSupport,
    ClinicalHandoff,
    Administration,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    pub allowed: bool,
    /// Ids of the rules (or scopes) that decided.
    pub rules: Vec<String>,
}

/// One audit record. Field order is the canonical order (the stored bytes are what is hashed).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub kind: EventKind,
    pub outcome: Outcome,
    /// RFC 3339 UTC, milliseconds.
    #[serde(default)]
    pub recorded: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent: Option<Agent>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entities: Vec<Entity>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub purpose: Option<Purpose>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub decision: Option<Decision>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<AuditText>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// Counts and sequence numbers (purge ranges, export sizes).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub numbers: BTreeMap<String, i64>,
}

impl AuditRecord {
    pub fn new(kind: EventKind, outcome: Outcome) -> AuditRecord {
        AuditRecord {
            kind,
            outcome,
            recorded: String::new(),
            agent: None,
            entities: Vec::new(),
            purpose: None,
            decision: None,
            reason: None,
            request_id: crate::telemetry::current_request_id(),
            numbers: BTreeMap::new(),
        }
    }

    pub fn agent(mut self, agent: Agent) -> Self {
        self.agent = Some(agent);
        self
    }

    pub fn entity(mut self, role: EntityRole, what: impl Into<String>) -> Self {
        self.entities.push(Entity { what: what.into(), role });
        self
    }

    pub fn purpose(mut self, p: Purpose) -> Self {
        self.purpose = Some(p);
        self
    }

    pub fn decision(mut self, allowed: bool, rules: Vec<String>) -> Self {
        self.decision = Some(Decision { allowed, rules });
        self
    }

    pub fn reason(mut self, code: &'static str) -> Self {
        self.reason = Some(AuditText::code(code));
        self
    }

    pub fn number(mut self, key: &'static str, value: i64) -> Self {
        self.numbers.insert(key.to_string(), value);
        self
    }
}

/// Where and how the log is anchored.
#[derive(Clone, Debug)]
pub struct AuditSettings {
    /// The checkpoint origin line, e.g. `chartdesk.hospital.example/audit`.
    pub origin: String,
    pub key_name: String,
    pub checkpoint_dir: PathBuf,
    pub checkpoint_every: u64,
    pub checkpoint_interval: Duration,
    /// Ed25519 seed (base64 of 32 bytes); unset: `<data_dir>/keys/audit-ed25519.key`.
    pub signing_key: Option<String>,
}

/// The checkpoint signer (shared by the writer and the verifier).
pub struct Signer {
    pub settings: AuditSettings,
    pub key: SigningKey,
}

impl Signer {
    pub fn load(settings: AuditSettings, data_dir: &Path) -> Result<Signer, AuditError> {
        let seed = match &settings.signing_key {
            Some(b64) => STANDARD.decode(b64.trim()).map_err(|_| AuditError::Key("not base64".into()))?,
            None => {
                let path = data_dir.join("keys/audit-ed25519.key");
                match std::fs::read_to_string(&path) {
                    Ok(t) => STANDARD.decode(t.trim()).map_err(|_| AuditError::Key("key file is not base64".into()))?,
                    Err(_) => {
                        let mut seed = [0u8; 32];
                        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut seed)
                            .map_err(|_| AuditError::Key("no randomness".into()))?;
                        crate::crypto::write_secret(&path, STANDARD.encode(seed).as_bytes())
                            .map_err(|e| AuditError::Dir(path.display().to_string(), e))?;
                        seed.to_vec()
                    }
                }
            }
        };
        let seed: [u8; 32] = seed.try_into().map_err(|_| AuditError::Key("must be 32 bytes".into()))?;
        std::fs::create_dir_all(&settings.checkpoint_dir)
            .map_err(|e| AuditError::Dir(settings.checkpoint_dir.display().to_string(), e))?;
        let signer = Signer { key: SigningKey::from_bytes(&seed), settings };
        // Publish the verifier key beside the checkpoints (C2SP vkey format).
        let vkey = note::verifier_key(&signer.settings.key_name, &signer.key.verifying_key());
        let _ = std::fs::write(signer.settings.checkpoint_dir.join("verifier.vkey"), format!("{vkey}\n"));
        Ok(signer)
    }

    pub fn sign(&self, size: u64, root: Hash) -> String {
        let c = Checkpoint { origin: self.settings.origin.clone(), size, root };
        note::sign(&c, &self.settings.key_name, &self.key)
    }

    fn write(&self, file: &str, note: &str) -> std::io::Result<()> {
        let path = self.settings.checkpoint_dir.join(file);
        let tmp = self.settings.checkpoint_dir.join(format!(".{file}.tmp"));
        std::fs::write(&tmp, note)?;
        std::fs::rename(tmp, path)
    }
}

type Job = (AuditRecord, oneshot::Sender<Result<i64, String>>);

/// The audit service. Cheap to share; records go through one writer task.
pub struct Audit {
    tx: mpsc::Sender<Job>,
    pub store: Arc<dyn Store>,
    pub keys: Arc<KeyRing>,
    pub signer: Arc<Signer>,
}

impl Audit {
    /// Start the writer (rebuilding the Merkle state from the stored leaf hashes).
    pub async fn start(
        store: Arc<dyn Store>,
        keys: Arc<KeyRing>,
        signer: Arc<Signer>,
    ) -> Result<Arc<Audit>, AuditError> {
        let size = store.audit_size().await?;
        let mut range = CompactRange::default();
        extend(&store, &mut range, size).await?;
        let last_checkpoint = store.checkpoints().await?.last().map(|c| c.size as u64).unwrap_or(0);
        let (tx, rx) = mpsc::channel::<Job>(8192);
        let writer = Writer {
            store: store.clone(),
            keys: keys.clone(),
            signer: signer.clone(),
            range,
            last_checkpoint,
            last_time: Instant::now(),
        };
        tokio::spawn(writer.run(rx));
        Ok(Arc::new(Audit { tx, store, keys, signer }))
    }

    /// Append a record; returns its sequence number once committed.
    pub async fn record(&self, mut r: AuditRecord) -> Result<i64, AuditError> {
        r.recorded = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
        let (done, wait) = oneshot::channel();
        self.tx.send((r, done)).await.map_err(|_| AuditError::Stopped)?;
        match wait.await.map_err(|_| AuditError::Stopped)? {
            Ok(seq) => Ok(seq),
            Err(why) => {
                tracing::error!(error = %why, "audit append failed");
                Err(AuditError::Stopped)
            }
        }
    }

    /// Decrypt stored records with `from <= seq`, at most `limit` (purged ones are skipped).
    pub async fn read(&self, from: i64, limit: u32) -> Result<Vec<(i64, AuditRecord)>, AuditError> {
        let rows = self.store.audit_rows(from, limit).await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let Some(sealed) = row.sealed else { continue };
            let plain = self.keys.open(AAD, &sealed).await?;
            if let Ok(r) = serde_json::from_slice::<AuditRecord>(&plain) {
                out.push((row.seq, r));
            }
        }
        Ok(out)
    }
}

/// Export format of `chartdesk audit export` and `GET /api/audit`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    /// A FHIR Bundle (type `collection`) of AuditEvents.
    Fhir,
    /// One FHIR AuditEvent per line.
    Ndjson,
}

impl Audit {
    /// AuditEvents recorded in `[since_ms, until_ms)`, in log order; the export itself is
    /// recorded too. Purged records are left out (their hashes stay in the log).
    pub async fn export(
        &self,
        since_ms: i64,
        until_ms: i64,
        site: &str,
        who: Option<Agent>,
    ) -> Result<Vec<serde_json::Value>, AuditError> {
        let mut out = Vec::new();
        let mut from = 0i64;
        loop {
            let rows = self.store.audit_rows(from, 5000).await?;
            let Some(last) = rows.last().map(|r| r.seq) else { break };
            for row in rows.into_iter().filter(|r| r.recorded_ms >= since_ms && r.recorded_ms < until_ms) {
                let Some(sealed) = row.sealed else { continue };
                let plain = match self.keys.open(AAD, &sealed).await {
                    Ok(p) => p,
                    Err(CryptoError::Shredded(_)) => continue,
                    Err(e) => return Err(e.into()),
                };
                if let Ok(r) = serde_json::from_slice::<AuditRecord>(&plain) {
                    out.push(fhir::audit_event(row.seq, &r, site));
                }
            }
            from = last + 1;
        }
        let mut record = AuditRecord::new(EventKind::AuditExport, Outcome::Success)
            .entity(EntityRole::AuditLog, "audit-log")
            .number("events", out.len() as i64)
            .number("since_ms", since_ms)
            .number("until_ms", until_ms);
        if let Some(a) = who {
            record = record.agent(a);
        }
        self.record(record).await?;
        Ok(out)
    }
}

async fn extend(store: &Arc<dyn Store>, range: &mut CompactRange, to: i64) -> Result<(), StoreError> {
    let mut from = range.size() as i64;
    while from < to {
        let upto = (from + 100_000).min(to);
        for leaf in store.audit_leaves(from, upto).await? {
            range.push(leaf.try_into().unwrap_or([0u8; 32]));
        }
        from = upto;
    }
    Ok(())
}

struct Writer {
    store: Arc<dyn Store>,
    keys: Arc<KeyRing>,
    signer: Arc<Signer>,
    range: CompactRange,
    last_checkpoint: u64,
    last_time: Instant,
}

impl Writer {
    async fn run(mut self, mut rx: mpsc::Receiver<Job>) {
        let mut tick = tokio::time::interval(self.signer.settings.checkpoint_interval);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                job = rx.recv() => {
                    let Some(first) = job else { break };
                    let mut batch = vec![first];
                    while batch.len() < MAX_BATCH {
                        match rx.try_recv() {
                            Ok(j) => batch.push(j),
                            Err(_) => break,
                        }
                    }
                    self.append(batch).await;
                }
                _ = tick.tick() => self.maybe_checkpoint(true).await,
            }
        }
    }

    async fn append(&mut self, batch: Vec<Job>) {
        let prepared = async {
            let key = self.keys.data_key(DataClass::Audit).await.map_err(|e| e.to_string())?;
            let mut rows = Vec::with_capacity(batch.len());
            for (record, _) in &batch {
                let canonical = serde_json::to_vec(record).map_err(|e| e.to_string())?;
                let recorded_ms =
                    chrono::DateTime::parse_from_rfc3339(&record.recorded).map(|t| t.timestamp_millis()).unwrap_or(0);
                rows.push(NewAuditRow {
                    recorded_ms,
                    kind: record.kind.as_str().to_string(),
                    sealed: key.seal(AAD, &canonical).map_err(|e| e.to_string())?,
                    leaf: merkle::leaf_hash(&canonical),
                });
            }
            Ok::<_, String>(rows)
        }
        .await;
        let result = match prepared {
            Ok(rows) => self.store.audit_append(&rows).await.map(|first| (first, rows)).map_err(|e| e.to_string()),
            Err(e) => Err(e),
        };
        match result {
            Ok((first, rows)) => {
                if (first as u64) != self.range.size() {
                    // Another process appended since: catch up from the database.
                    if let Err(e) = extend(&self.store, &mut self.range, first).await {
                        tracing::error!(error = %e, "audit state rebuild failed");
                    }
                }
                for r in &rows {
                    self.range.push(r.leaf);
                }
                for (i, (_, done)) in batch.into_iter().enumerate() {
                    let _ = done.send(Ok(first + i as i64));
                }
                let latest = self.signer.sign(self.range.size(), self.range.root());
                if let Err(e) = self.signer.write("latest.txt", &latest) {
                    tracing::error!(error = %e, "writing the audit head outside the database failed");
                }
                self.maybe_checkpoint(false).await;
            }
            Err(why) => {
                for (_, done) in batch {
                    let _ = done.send(Err(why.clone()));
                }
            }
        }
    }

    async fn maybe_checkpoint(&mut self, timer: bool) {
        let size = self.range.size();
        let due = size >= self.last_checkpoint + self.signer.settings.checkpoint_every
            || (timer
                && size > self.last_checkpoint
                && self.last_time.elapsed() >= self.signer.settings.checkpoint_interval);
        if !due {
            return;
        }
        let root = self.range.root();
        let note = self.signer.sign(size, root);
        let row = CheckpointRow {
            size: size as i64,
            root: root.to_vec(),
            note: note.clone(),
            created_ms: chrono::Utc::now().timestamp_millis(),
        };
        match self.store.checkpoint_insert(&row).await {
            Ok(()) => {
                if let Err(e) = self.signer.write(&format!("checkpoint-{size:012}.txt"), &note) {
                    tracing::error!(error = %e, "writing the audit checkpoint outside the database failed");
                }
                self.last_checkpoint = size;
                self.last_time = Instant::now();
            }
            Err(e) => tracing::error!(error = %e, "audit checkpoint failed"),
        }
    }
}
