//! Policy administration by clinical informatics: drafts, preview, second-person approval,
//! activation as a numbered version, and rollback.
//!
//! Invariants:
//! - nothing partial is ever activated: a draft is parsed, checked and compiled (schema
//!   validated) when it is saved, and again, whole, when it is activated;
//! - a change that widens access (any new grant line) needs the approval of a second
//!   clinical-informatics user (not the author) before activation;
//! - every activation is a new version (who, when, approver, diff) and is audited; rollback
//!   makes a draft of an earlier version, which follows the same rules.

use std::sync::Arc;

use serde::Serialize;

use super::{Compiled, Diff, PolicyDocument, PolicyEngine, PolicyError, compile, default_document};
use crate::audit::{Agent, Audit, AuditError, AuditRecord, EntityRole, EventKind, Outcome, Purpose};
use crate::error::{ErrorCode, HasErrorCode};
use crate::store::{PolicyDraftRow, PolicyVersionRow, Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("the policy document is not valid JSON for a policy: {0}")]
    Json(String),
    #[error("{0}")]
    Invalid(#[from] PolicyError),
    #[error("no draft `{0}`")]
    DraftNotFound(String),
    #[error("no policy version {0}")]
    VersionNotFound(i64),
    #[error("this draft was already activated as version {0}")]
    AlreadyActivated(i64),
    #[error("this change widens access ({0}); a second clinical-informatics user must approve it before activation")]
    ApprovalRequired(String),
    #[error("the author of a draft cannot approve it; a second clinical-informatics user must")]
    SelfApproval,
    #[error("another version was activated meanwhile; reload and try again")]
    Conflict,
    #[error("storage is unavailable")]
    Store(#[from] StoreError),
    #[error("the audit trail is unavailable")]
    Audit(#[from] AuditError),
}

impl HasErrorCode for AdminError {
    fn code(&self) -> ErrorCode {
        match self {
            AdminError::Json(_) => ErrorCode::InvalidJson,
            AdminError::Invalid(_) => ErrorCode::PolicyInvalid,
            AdminError::DraftNotFound(_) | AdminError::VersionNotFound(_) => ErrorCode::NotFound,
            AdminError::AlreadyActivated(_) | AdminError::Conflict => ErrorCode::Conflict,
            AdminError::ApprovalRequired(_) => ErrorCode::ApprovalRequired,
            AdminError::SelfApproval => ErrorCode::Forbidden,
            AdminError::Store(_) | AdminError::Audit(_) => ErrorCode::ServiceUnavailable,
        }
    }
}

/// A draft as shown to informatics: the document, what it changes against the active
/// version, and whether it needs a second approver.
#[derive(Clone, Debug, Serialize)]
pub struct DraftView {
    pub id: String,
    pub author: String,
    pub created_ms: i64,
    pub base_version: i64,
    pub document: PolicyDocument,
    /// Against the active version.
    pub diff: Diff,
    pub widens: bool,
    pub warnings: Vec<String>,
    pub approved_by: Option<String>,
    pub activated_version: Option<i64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct VersionView {
    pub version: i64,
    pub activated_by: String,
    pub activated_ms: i64,
    pub approved_by: Option<String>,
    pub diff: Diff,
    pub draft_id: Option<String>,
    pub active: bool,
}

/// The policy administration service.
pub struct PolicyAdmin {
    store: Arc<dyn Store>,
    engine: Arc<PolicyEngine>,
    audit: Arc<Audit>,
    tenants: Vec<String>,
    last_sync: std::sync::Mutex<std::time::Instant>,
}

/// How often an instance looks for versions activated by another instance.
const SYNC_EVERY: std::time::Duration = std::time::Duration::from_secs(5);

/// Parse a submitted document: malformed JSON and unknown fields are named.
pub fn parse_document(json: &serde_json::Value) -> Result<PolicyDocument, AdminError> {
    serde_json::from_value(json.clone()).map_err(|e| AdminError::Json(e.to_string()))
}

/// Load the latest stored version, or the built-in default (version 0).
pub async fn load_active(store: &dyn Store, tenants: &[String]) -> Result<Compiled, String> {
    let versions = store.policy_versions().await.map_err(|e| format!("policy versions: {e}"))?;
    match versions.last() {
        None => compile(0, default_document()).map_err(|e| format!("the built-in policy: {e}")),
        Some(v) => {
            let doc: PolicyDocument =
                serde_json::from_str(&v.document).map_err(|e| format!("policy version {}: {e}", v.version))?;
            doc.check(tenants).map_err(|e| format!("policy version {}: {e}", v.version))?;
            compile(v.version, doc).map_err(|e| format!("policy version {}: {e}", v.version))
        }
    }
}

fn warnings(diff: &Diff) -> Vec<String> {
    let mut w = Vec::new();
    if diff.widens() {
        w.push(format!(
            "This change widens access ({} new grant{}); a second clinical-informatics user must approve it.",
            diff.added.len(),
            if diff.added.len() == 1 { "" } else { "s" }
        ));
    }
    w
}

impl PolicyAdmin {
    pub fn new(
        store: Arc<dyn Store>,
        engine: Arc<PolicyEngine>,
        audit: Arc<Audit>,
        tenants: Vec<String>,
    ) -> PolicyAdmin {
        PolicyAdmin { store, engine, audit, tenants, last_sync: std::sync::Mutex::new(std::time::Instant::now()) }
    }

    pub fn engine(&self) -> &Arc<PolicyEngine> {
        &self.engine
    }

    /// Validate a document fully (checks and schema-validated compilation).
    pub fn validate(&self, doc: &PolicyDocument) -> Result<Compiled, AdminError> {
        doc.check(&self.tenants)?;
        Ok(compile(-1, doc.clone())?)
    }

    fn view(&self, d: &PolicyDraftRow) -> Result<DraftView, AdminError> {
        let document: PolicyDocument =
            serde_json::from_str(&d.document).map_err(|e| AdminError::Json(e.to_string()))?;
        let diff = Diff::between(&self.engine.active().document, &document);
        Ok(DraftView {
            id: d.id.clone(),
            author: d.author.clone(),
            created_ms: d.created_ms,
            base_version: d.base_version,
            widens: diff.widens(),
            warnings: warnings(&diff),
            diff,
            document,
            approved_by: d.approved_by.clone(),
            activated_version: d.activated_version,
        })
    }

    pub async fn versions(&self) -> Result<Vec<VersionView>, AdminError> {
        let active = self.engine.active().version;
        Ok(self
            .store
            .policy_versions()
            .await?
            .into_iter()
            .map(|v| VersionView {
                version: v.version,
                activated_by: v.activated_by,
                activated_ms: v.activated_ms,
                approved_by: v.approved_by,
                diff: serde_json::from_str(&v.diff).unwrap_or_default(),
                draft_id: v.draft_id,
                active: v.version == active,
            })
            .collect())
    }

    pub async fn version_document(&self, version: i64) -> Result<PolicyDocument, AdminError> {
        if version == 0 {
            return Ok(default_document());
        }
        let v = self.store.policy_versions().await?.into_iter().find(|v| v.version == version);
        let v = v.ok_or(AdminError::VersionNotFound(version))?;
        serde_json::from_str(&v.document).map_err(|e| AdminError::Json(e.to_string()))
    }

    pub async fn drafts(&self) -> Result<Vec<DraftView>, AdminError> {
        self.store.policy_drafts().await?.iter().rev().map(|d| self.view(d)).collect()
    }

    pub async fn draft(&self, id: &str) -> Result<DraftView, AdminError> {
        let d = self.store.policy_drafts().await?.into_iter().find(|d| d.id == id);
        self.view(&d.ok_or_else(|| AdminError::DraftNotFound(id.to_string()))?)
    }

    async fn record(
        &self,
        agent: &Agent,
        outcome: Outcome,
        what: String,
        reason: &'static str,
        numbers: &[(&'static str, i64)],
    ) -> Result<(), AdminError> {
        let mut r = AuditRecord::new(EventKind::PolicyChange, outcome)
            .agent(agent.clone())
            .entity(EntityRole::Policy, what)
            .purpose(Purpose::Administration)
            .reason(reason);
        for (k, v) in numbers {
            r = r.number(k, *v);
        }
        self.audit.record(r).await?;
        Ok(())
    }

    /// Save a validated draft.
    pub async fn create_draft(
        &self,
        agent: &Agent,
        author: &str,
        doc: PolicyDocument,
    ) -> Result<DraftView, AdminError> {
        if let Err(e) = self.validate(&doc) {
            self.record(agent, Outcome::MinorFailure, "policy-draft:rejected".into(), "policy_invalid", &[]).await?;
            return Err(e);
        }
        let row = PolicyDraftRow {
            id: uuid::Uuid::new_v4().to_string(),
            document: serde_json::to_string(&doc).expect("documents serialise"),
            author: author.to_string(),
            created_ms: chrono::Utc::now().timestamp_millis(),
            base_version: self.engine.active().version,
            approved_by: None,
            approved_ms: None,
            activated_version: None,
        };
        self.store.policy_draft_insert(&row).await?;
        self.record(agent, Outcome::Success, format!("policy-draft:{}", row.id), "draft_created", &[]).await?;
        self.view(&row)
    }

    /// A second informatics user approves a draft.
    pub async fn approve(&self, agent: &Agent, approver: &str, id: &str) -> Result<DraftView, AdminError> {
        let d = self.draft(id).await?;
        if let Some(v) = d.activated_version {
            return Err(AdminError::AlreadyActivated(v));
        }
        if d.author == approver {
            self.record(agent, Outcome::MinorFailure, format!("policy-draft:{id}"), "self_approval_refused", &[])
                .await?;
            return Err(AdminError::SelfApproval);
        }
        if !self.store.policy_draft_approve(id, approver, chrono::Utc::now().timestamp_millis()).await? {
            return Err(AdminError::Conflict);
        }
        self.record(agent, Outcome::Success, format!("policy-draft:{id}"), "draft_approved", &[]).await?;
        self.draft(id).await
    }

    /// Activate a draft as the next version.
    pub async fn activate(&self, agent: &Agent, who: &str, id: &str) -> Result<VersionView, AdminError> {
        let d = self.draft(id).await?;
        if let Some(v) = d.activated_version {
            return Err(AdminError::AlreadyActivated(v));
        }
        let active = self.engine.active();
        // Re-diff against what is active *now*: approval covers the change as it stands.
        let diff = Diff::between(&active.document, &d.document);
        if diff.widens() && d.approved_by.is_none() {
            self.record(agent, Outcome::MinorFailure, format!("policy-draft:{id}"), "approval_required", &[]).await?;
            return Err(AdminError::ApprovalRequired(diff.added.join("; ")));
        }
        let version = self.store.policy_versions().await?.last().map(|v| v.version).unwrap_or(0) + 1;
        let mut compiled = self.validate(&d.document)?;
        compiled.version = version;
        let row = PolicyVersionRow {
            version,
            document: serde_json::to_string(&d.document).expect("documents serialise"),
            activated_by: who.to_string(),
            activated_ms: chrono::Utc::now().timestamp_millis(),
            approved_by: d.approved_by.clone(),
            diff: serde_json::to_string(&diff).expect("diffs serialise"),
            draft_id: Some(id.to_string()),
        };
        if self.store.policy_activate(&row).await.is_err() {
            return Err(AdminError::Conflict);
        }
        self.engine.activate(compiled);
        self.record(
            agent,
            Outcome::Success,
            format!("policy-version:{version}"),
            if diff.widens() { "activated_widening_approved" } else { "activated" },
            &[
                ("version", version),
                ("grants_added", diff.added.len() as i64),
                ("grants_removed", diff.removed.len() as i64),
            ],
        )
        .await?;
        tracing::info!(version, widens = diff.widens(), "policy version activated");
        Ok(VersionView {
            version,
            activated_by: row.activated_by,
            activated_ms: row.activated_ms,
            approved_by: row.approved_by,
            diff,
            draft_id: row.draft_id,
            active: true,
        })
    }

    /// Roll back to `version`: a draft of that version's document, activated at once when it
    /// does not widen access (otherwise it waits for approval like any other draft).
    pub async fn rollback(
        &self,
        agent: &Agent,
        who: &str,
        version: i64,
    ) -> Result<(DraftView, Option<VersionView>), AdminError> {
        let doc = self.version_document(version).await?;
        let draft = self.create_draft(agent, who, doc).await?;
        if draft.widens {
            return Ok((draft, None));
        }
        let activated = self.activate(agent, who, &draft.id).await?;
        Ok((self.draft(&draft.id).await?, Some(activated)))
    }

    /// [`Self::sync`] at most every few seconds; a failure keeps the active version (logged).
    pub async fn maybe_sync(&self) {
        {
            let mut last = self.last_sync.lock().unwrap_or_else(|p| p.into_inner());
            if last.elapsed() < SYNC_EVERY {
                return;
            }
            *last = std::time::Instant::now();
        }
        if let Err(e) = self.sync().await {
            tracing::warn!(error = %e, "could not look for newer policy versions");
        }
    }

    /// Re-read the newest stored version (another instance may have activated one).
    pub async fn sync(&self) -> Result<(), AdminError> {
        let latest = self.store.policy_versions().await?.last().cloned();
        if let Some(v) = latest
            && v.version > self.engine.active().version
        {
            let doc: PolicyDocument = serde_json::from_str(&v.document).map_err(|e| AdminError::Json(e.to_string()))?;
            let mut compiled = self.validate(&doc)?;
            compiled.version = v.version;
            self.engine.activate(compiled);
        }
        Ok(())
    }
}
