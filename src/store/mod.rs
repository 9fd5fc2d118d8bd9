//! Durable storage: one [`Store`] interface, two implementations (SQLite, PostgreSQL).
//!
//! Invariants:
//! - the backend is chosen by the database URL (`sqlite:` or `postgres://`), nowhere else;
//! - both backends run the same queries (written once, in [`sql_store!`]) and the same
//!   migration list; `migrations/sqlite` and `migrations/postgres` hold the same file names
//!   (a test fails otherwise);
//! - migrations are embedded in the binary and applied at start;
//! - no query is built from user input; every value is bound.

mod postgres;
mod sqlite;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use sqlx::SqlSafeStr;
use sqlx::migrate::{Migration, MigrationType, Migrator};

use crate::error::{ErrorCode, HasErrorCode};

pub use postgres::PgStore;
pub use sqlite::SqliteStore;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database unavailable")]
    Unavailable(#[source] sqlx::Error),
    #[error("database error")]
    Query(#[from] sqlx::Error),
    #[error("database migration failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("cannot prepare data directory {path}")]
    DataDir { path: String, source: std::io::Error },
    #[error("unsupported database URL (expected sqlite: or postgres://)")]
    UnsupportedUrl,
}

impl HasErrorCode for StoreError {
    fn code(&self) -> ErrorCode {
        match self {
            StoreError::Unavailable(_) => ErrorCode::ServiceUnavailable,
            _ => ErrorCode::Internal,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// One request received by the sandbox EHR's FHIR API.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct JournalEntry {
    pub tenant: String,
    pub method: String,
    /// Path relative to the tenant's FHIR base, e.g. `/Patient/pat-01`.
    pub path: String,
    pub query: Option<String>,
    pub status: u16,
    /// `discovery`, `capabilities`, `read`, `search`, `batch`, `write-refused`, `other`.
    pub kind: String,
    pub client_id: Option<String>,
}

/// A data key, wrapped by the master key (see `crypto`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataKeyRow {
    pub kid: String,
    pub class: String,
    pub period: String,
    /// `None` once shredded.
    pub wrapped: Option<String>,
    pub master_kid: String,
    pub created_ms: i64,
    pub shredded_ms: Option<i64>,
}

/// An audit record to append: its sealed canonical form and leaf hash.
#[derive(Clone, Debug)]
pub struct NewAuditRow {
    pub recorded_ms: i64,
    pub kind: String,
    pub sealed: String,
    pub leaf: [u8; 32],
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditRow {
    pub seq: i64,
    pub recorded_ms: i64,
    pub kind: String,
    /// `None` once purged under the retention policy.
    pub sealed: Option<String>,
    pub leaf: Vec<u8>,
    pub chain: Vec<u8>,
    pub purged_ms: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CheckpointRow {
    pub size: i64,
    pub root: Vec<u8>,
    pub note: String,
    pub created_ms: i64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PolicyVersionRow {
    pub version: i64,
    pub document: String,
    pub activated_by: String,
    pub activated_ms: i64,
    pub approved_by: Option<String>,
    pub diff: String,
    pub draft_id: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PolicyDraftRow {
    pub id: String,
    pub document: String,
    pub author: String,
    pub created_ms: i64,
    pub base_version: i64,
    pub approved_by: Option<String>,
    pub approved_ms: Option<i64>,
    pub activated_version: Option<i64>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoginRow {
    pub tenant: String,
    pub at_ms: i64,
    pub location: Option<String>,
}

/// A clinician's message: the text is in the sealed `envelope`; `detection` holds rule ids and
/// character offsets only.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageRow {
    pub id: String,
    pub tenant: String,
    pub user_key: String,
    pub client_message_id: String,
    pub launch_ref: String,
    pub created_ms: i64,
    pub envelope: String,
    pub detection: String,
    pub route: String,
    pub category: String,
    pub urgent: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HandoffRow {
    pub id: String,
    pub message_id: String,
    pub tenant: String,
    pub queue: String,
    pub unit: String,
    pub category: String,
    pub urgent: bool,
    /// `open`, `acknowledged`, `claimed`, `resolved`.
    pub status: String,
    /// 0 for the first queue; each SLA re-escalation adds one.
    pub tier: i64,
    pub created_ms: i64,
    pub due_ms: i64,
    pub acknowledged_by: Option<String>,
    pub acknowledged_ms: Option<i64>,
    pub claimed_by: Option<String>,
    pub resolved_ms: Option<i64>,
    pub updated_ms: i64,
    pub version: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HandoffNoteRow {
    pub id: String,
    pub handoff_id: String,
    pub author: String,
    pub created_ms: i64,
    /// Sealed.
    pub body: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TicketIntentRow {
    pub id: String,
    pub message_id: String,
    pub category: String,
    pub created_ms: i64,
    /// `pending`, `delivered` or `dead-letter`.
    pub status: String,
    /// The sealed ticket (`desk::Ticket` JSON: redacted text only).
    pub payload: String,
    pub attempts: i64,
    pub next_attempt_ms: i64,
    /// The desk's ticket number once delivered.
    pub external_ref: Option<String>,
    /// Why the last attempt failed (an error code, never content).
    pub last_error: Option<String>,
    pub updated_ms: i64,
}

/// The ticket intent columns, in [`ticket_from!`] order.
macro_rules! ticket_select {
    () => {
        "SELECT id, message_id, category, created_ms, status, payload, attempts, next_attempt_ms, external_ref, last_error, updated_ms FROM ticket_intent "
    };
}
pub(crate) use ticket_select;

macro_rules! ticket_from {
    ($r:expr) => {{
        let r = $r;
        Ok::<_, sqlx::Error>($crate::store::TicketIntentRow {
            id: r.try_get("id")?,
            message_id: r.try_get("message_id")?,
            category: r.try_get("category")?,
            created_ms: r.try_get("created_ms")?,
            status: r.try_get("status")?,
            payload: r.try_get("payload")?,
            attempts: r.try_get("attempts")?,
            next_attempt_ms: r.try_get("next_attempt_ms")?,
            external_ref: r.try_get("external_ref")?,
            last_error: r.try_get("last_error")?,
            updated_ms: r.try_get("updated_ms")?,
        })
    }};
}
pub(crate) use ticket_from;

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct JournalRecord {
    pub seq: i64,
    pub at_ms: i64,
    #[serde(flatten)]
    pub entry: JournalEntry,
}

/// The storage interface every part of chartdesk uses.
#[async_trait]
pub trait Store: Send + Sync + 'static {
    fn backend(&self) -> Backend;

    /// A round trip to the database.
    async fn ping(&self) -> Result<(), StoreError>;

    /// Insert or replace a value, optionally expiring after `ttl`.
    async fn kv_put(&self, ns: &str, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<(), StoreError>;

    /// Insert only if no live value exists; `true` if this call stored it.
    async fn kv_put_if_absent(
        &self,
        ns: &str,
        key: &str,
        value: &[u8],
        ttl: Option<Duration>,
    ) -> Result<bool, StoreError>;

    async fn kv_get(&self, ns: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError>;

    /// Atomically read and delete (single-use values). At most one caller gets the value.
    async fn kv_take(&self, ns: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError>;

    async fn kv_delete(&self, ns: &str, key: &str) -> Result<bool, StoreError>;

    /// Remove expired entries; returns how many.
    async fn kv_purge_expired(&self) -> Result<u64, StoreError>;

    async fn journal_append(&self, entry: &JournalEntry) -> Result<i64, StoreError>;

    /// Entries with `seq > since`, oldest first, at most `limit`.
    async fn journal_since(&self, since: i64, limit: u32) -> Result<Vec<JournalRecord>, StoreError>;

    async fn data_key_insert(&self, k: &DataKeyRow) -> Result<(), StoreError>;
    async fn data_key_get(&self, kid: &str) -> Result<Option<DataKeyRow>, StoreError>;
    async fn data_keys(&self) -> Result<Vec<DataKeyRow>, StoreError>;
    /// Replace wrapped keys: (kid, wrapped, master kid), all in one transaction.
    async fn data_key_rewrap(&self, updates: &[(String, String, String)]) -> Result<(), StoreError>;
    /// Shred the data keys of `class` for periods before `before_period`.
    async fn data_key_shred(&self, class: &str, before_period: &str, now_ms: i64) -> Result<u64, StoreError>;

    /// Append records at the head of the audit log, chaining their hashes, in one
    /// transaction serialised across processes. Returns the seq of the first.
    async fn audit_append(&self, rows: &[NewAuditRow]) -> Result<i64, StoreError>;
    /// Number of records ever appended (the next seq).
    async fn audit_size(&self) -> Result<i64, StoreError>;
    /// Records with `seq >= from`, in order, at most `limit`.
    async fn audit_rows(&self, from: i64, limit: u32) -> Result<Vec<AuditRow>, StoreError>;
    /// Leaf hashes of records `from..to`, in order.
    async fn audit_leaves(&self, from: i64, to: i64) -> Result<Vec<Vec<u8>>, StoreError>;
    /// Clear the content of records recorded before `before_ms`; returns (count, first seq, last seq).
    async fn audit_purge(&self, before_ms: i64, now_ms: i64) -> Result<(u64, Option<i64>, Option<i64>), StoreError>;
    async fn checkpoint_insert(&self, c: &CheckpointRow) -> Result<(), StoreError>;
    async fn checkpoints(&self) -> Result<Vec<CheckpointRow>, StoreError>;

    async fn policy_versions(&self) -> Result<Vec<PolicyVersionRow>, StoreError>;
    async fn policy_drafts(&self) -> Result<Vec<PolicyDraftRow>, StoreError>;
    async fn policy_draft_insert(&self, d: &PolicyDraftRow) -> Result<(), StoreError>;
    async fn policy_draft_approve(&self, id: &str, by: &str, at_ms: i64) -> Result<bool, StoreError>;
    /// Insert version `v` and mark its draft activated, in one transaction; fails if the
    /// version number is taken (a concurrent activation).
    async fn policy_activate(&self, v: &PolicyVersionRow) -> Result<(), StoreError>;

    async fn login_insert(&self, user_key: &str, login: &LoginRow) -> Result<(), StoreError>;
    /// The latest login of a user before `before_ms`.
    async fn login_last(&self, user_key: &str, before_ms: i64) -> Result<Option<LoginRow>, StoreError>;

    /// Write a message with its handoffs and ticket intents in one transaction. If this user
    /// already sent a message with the same client id, nothing is written and the earlier
    /// message's id is returned.
    async fn message_submit(
        &self,
        m: &MessageRow,
        handoffs: &[HandoffRow],
        tickets: &[TicketIntentRow],
    ) -> Result<Option<String>, StoreError>;
    async fn message_get(&self, id: &str) -> Result<Option<MessageRow>, StoreError>;
    async fn message_get_by_client(
        &self,
        user_key: &str,
        client_message_id: &str,
    ) -> Result<Option<MessageRow>, StoreError>;
    async fn handoffs_of_message(&self, message_id: &str) -> Result<Vec<HandoffRow>, StoreError>;
    async fn tickets_of_message(&self, message_id: &str) -> Result<Vec<TicketIntentRow>, StoreError>;
    async fn ticket_get(&self, id: &str) -> Result<Option<TicketIntentRow>, StoreError>;
    /// Claim up to `limit` pending tickets whose next attempt is due (`now_ms`) and that no
    /// relay holds, for `lease_until_ms`; the attempt counter is raised by the claim.
    /// PostgreSQL: `FOR UPDATE SKIP LOCKED`; SQLite: one atomic UPDATE (single writer).
    async fn tickets_claim(
        &self,
        now_ms: i64,
        lease_until_ms: i64,
        limit: i64,
    ) -> Result<Vec<TicketIntentRow>, StoreError>;
    /// Record a delivery (or a dead letter / a retry time) for a claimed ticket.
    async fn ticket_settle(
        &self,
        id: &str,
        status: &str,
        external_ref: Option<&str>,
        next_attempt_ms: i64,
        last_error: Option<&str>,
        now_ms: i64,
    ) -> Result<(), StoreError>;
    /// Dead-lettered tickets, newest first.
    async fn tickets_dead(&self, limit: i64) -> Result<Vec<TicketIntentRow>, StoreError>;
    /// Put a dead-lettered ticket back in the queue; false if it was not dead-lettered.
    async fn ticket_requeue(&self, id: &str, now_ms: i64) -> Result<bool, StoreError>;
    async fn handoff_get(&self, id: &str) -> Result<Option<HandoffRow>, StoreError>;
    /// Handoffs of a tenant not resolved, or resolved after `resolved_after_ms`.
    async fn handoffs_active(&self, tenant: &str, resolved_after_ms: i64) -> Result<Vec<HandoffRow>, StoreError>;
    /// Open (unacknowledged) handoffs due before `now_ms`, all tenants.
    async fn handoffs_overdue(&self, now_ms: i64) -> Result<Vec<HandoffRow>, StoreError>;
    /// Replace a handoff's state if its version is still `h.version - 1` (optimistic).
    async fn handoff_update(&self, h: &HandoffRow) -> Result<bool, StoreError>;
    async fn handoff_note_insert(&self, n: &HandoffNoteRow) -> Result<(), StoreError>;
    async fn handoff_notes(&self, handoff_id: &str) -> Result<Vec<HandoffNoteRow>, StoreError>;

    async fn close(&self);
}

/// `SELECT <every handoff column> FROM handoff <tail>`, as a static string.
macro_rules! handoff_select {
    ($tail:literal) => {
        concat!(
            "SELECT id, message_id, tenant, queue, unit, category, urgent, status, tier, created_ms, due_ms, ",
            "acknowledged_by, acknowledged_ms, claimed_by, resolved_ms, updated_ms, version FROM handoff ",
            $tail
        )
    };
}
pub(crate) use handoff_select;

macro_rules! handoff_from {
    ($r:expr) => {{
        use sqlx::Row;
        let r = $r;
        Ok::<_, sqlx::Error>($crate::store::HandoffRow {
            id: r.try_get("id")?,
            message_id: r.try_get("message_id")?,
            tenant: r.try_get("tenant")?,
            queue: r.try_get("queue")?,
            unit: r.try_get("unit")?,
            category: r.try_get("category")?,
            urgent: r.try_get::<i64, _>("urgent")? != 0,
            status: r.try_get("status")?,
            tier: r.try_get("tier")?,
            created_ms: r.try_get("created_ms")?,
            due_ms: r.try_get("due_ms")?,
            acknowledged_by: r.try_get("acknowledged_by")?,
            acknowledged_ms: r.try_get("acknowledged_ms")?,
            claimed_by: r.try_get("claimed_by")?,
            resolved_ms: r.try_get("resolved_ms")?,
            updated_ms: r.try_get("updated_ms")?,
            version: r.try_get("version")?,
        })
    }};
}
pub(crate) use handoff_from;

/// Open the store named by `url`, creating the SQLite file (and its directory) if needed,
/// and apply migrations.
pub async fn open(url: &str, max_connections: u32, connect_timeout: Duration) -> Result<Arc<dyn Store>, StoreError> {
    if let Some(path) = url.strip_prefix("sqlite://").or_else(|| url.strip_prefix("sqlite:")) {
        let path = Path::new(path);
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|source| StoreError::DataDir { path: dir.display().to_string(), source })?;
        }
        Ok(Arc::new(SqliteStore::open(path, max_connections, connect_timeout).await?))
    } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        Ok(Arc::new(PgStore::open(url, max_connections, connect_timeout).await?))
    } else {
        Err(StoreError::UnsupportedUrl)
    }
}

/// The migration list, shared by both backends: (version, description, file).
macro_rules! migrations {
    ($( ($version:literal, $description:literal, $file:literal) ),+ $(,)?) => {
        /// File names of the embedded migrations, in order.
        pub const MIGRATION_FILES: &[&str] = &[$($file),+];

        fn embedded(backend: Backend) -> Migrator {
            let list = match backend {
                Backend::Sqlite => vec![$(
                    Migration::new($version, $description.into(), MigrationType::Simple,
                        include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/sqlite/", $file)).into_sql_str(), false)
                ),+],
                Backend::Postgres => vec![$(
                    Migration::new($version, $description.into(), MigrationType::Simple,
                        include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/migrations/postgres/", $file)).into_sql_str(), false)
                ),+],
            };
            Migrator::with_migrations(list)
        }
    };
}

migrations! {
    (1, "init", "0001_init.sql"),
    (2, "audit and keys", "0002_audit_and_keys.sql"),
    (3, "policy and logins", "0003_policy_and_logins.sql"),
    (4, "messages and handoffs", "0004_messages_and_handoffs.sql"),
    (5, "desk outbox", "0005_desk_outbox.sql"),
}

pub(crate) fn migrator(backend: Backend) -> Migrator {
    embedded(backend)
}

pub(crate) fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

pub(crate) fn expiry(ttl: Option<Duration>) -> Option<i64> {
    ttl.map(|t| now_ms().saturating_add(i64::try_from(t.as_millis()).unwrap_or(i64::MAX)))
}

/// The queries, written once and implemented for both pools. SQLite numbers `$N`
/// parameters in order of first appearance, so every query below introduces them ascending.
macro_rules! sql_store {
    ($ty:ty, $backend:expr) => {
        #[async_trait::async_trait]
        impl $crate::store::Store for $ty {
            fn backend(&self) -> $crate::store::Backend {
                $backend
            }

            async fn ping(&self) -> Result<(), $crate::store::StoreError> {
                sqlx::query("SELECT 1")
                    .execute(&self.pool)
                    .await
                    .map(|_| ())
                    .map_err($crate::store::StoreError::Unavailable)
            }

            async fn kv_put(
                &self,
                ns: &str,
                key: &str,
                value: &[u8],
                ttl: Option<std::time::Duration>,
            ) -> Result<(), $crate::store::StoreError> {
                sqlx::query(
                    "INSERT INTO kv (ns, key, value, expires_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (ns, key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at",
                )
                .bind(ns)
                .bind(key)
                .bind(value)
                .bind($crate::store::expiry(ttl))
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn kv_put_if_absent(
                &self,
                ns: &str,
                key: &str,
                value: &[u8],
                ttl: Option<std::time::Duration>,
            ) -> Result<bool, $crate::store::StoreError> {
                let done = sqlx::query(
                    "INSERT INTO kv (ns, key, value, expires_at) VALUES ($1, $2, $3, $4) \
                     ON CONFLICT (ns, key) DO UPDATE SET value = excluded.value, expires_at = excluded.expires_at \
                     WHERE kv.expires_at IS NOT NULL AND kv.expires_at <= $5",
                )
                .bind(ns)
                .bind(key)
                .bind(value)
                .bind($crate::store::expiry(ttl))
                .bind($crate::store::now_ms())
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn kv_get(&self, ns: &str, key: &str) -> Result<Option<Vec<u8>>, $crate::store::StoreError> {
                use sqlx::Row;
                let row = sqlx::query(
                    "SELECT value FROM kv WHERE ns = $1 AND key = $2 AND (expires_at IS NULL OR expires_at > $3)",
                )
                .bind(ns)
                .bind(key)
                .bind($crate::store::now_ms())
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.map(|r| r.try_get::<Vec<u8>, _>("value")).transpose()?)
            }

            async fn kv_take(&self, ns: &str, key: &str) -> Result<Option<Vec<u8>>, $crate::store::StoreError> {
                use sqlx::Row;
                let row = sqlx::query("DELETE FROM kv WHERE ns = $1 AND key = $2 RETURNING value, expires_at")
                    .bind(ns)
                    .bind(key)
                    .fetch_optional(&self.pool)
                    .await?;
                let Some(row) = row else { return Ok(None) };
                let expires: Option<i64> = row.try_get("expires_at")?;
                if expires.is_some_and(|e| e <= $crate::store::now_ms()) {
                    return Ok(None);
                }
                Ok(Some(row.try_get("value")?))
            }

            async fn kv_delete(&self, ns: &str, key: &str) -> Result<bool, $crate::store::StoreError> {
                let done = sqlx::query("DELETE FROM kv WHERE ns = $1 AND key = $2")
                    .bind(ns)
                    .bind(key)
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected() > 0)
            }

            async fn kv_purge_expired(&self) -> Result<u64, $crate::store::StoreError> {
                let done = sqlx::query("DELETE FROM kv WHERE expires_at IS NOT NULL AND expires_at <= $1")
                    .bind($crate::store::now_ms())
                    .execute(&self.pool)
                    .await?;
                Ok(done.rows_affected())
            }

            async fn journal_append(&self, e: &$crate::store::JournalEntry) -> Result<i64, $crate::store::StoreError> {
                use sqlx::Row;
                let row = sqlx::query(
                    "INSERT INTO sandbox_journal (at_ms, tenant, method, path, query, status, kind, client_id) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING seq",
                )
                .bind($crate::store::now_ms())
                .bind(&e.tenant)
                .bind(&e.method)
                .bind(&e.path)
                .bind(&e.query)
                .bind(i32::from(e.status))
                .bind(&e.kind)
                .bind(&e.client_id)
                .fetch_one(&self.pool)
                .await?;
                Ok(row.try_get("seq")?)
            }

            async fn journal_since(
                &self,
                since: i64,
                limit: u32,
            ) -> Result<Vec<$crate::store::JournalRecord>, $crate::store::StoreError> {
                use sqlx::Row;
                let rows = sqlx::query(
                    "SELECT seq, at_ms, tenant, method, path, query, status, kind, client_id \
                     FROM sandbox_journal WHERE seq > $1 ORDER BY seq LIMIT $2",
                )
                .bind(since)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter()
                    .map(|r| {
                        let status: i32 = r.try_get("status")?;
                        Ok($crate::store::JournalRecord {
                            seq: r.try_get("seq")?,
                            at_ms: r.try_get("at_ms")?,
                            entry: $crate::store::JournalEntry {
                                tenant: r.try_get("tenant")?,
                                method: r.try_get("method")?,
                                path: r.try_get("path")?,
                                query: r.try_get("query")?,
                                status: u16::try_from(status).unwrap_or(0),
                                kind: r.try_get("kind")?,
                                client_id: r.try_get("client_id")?,
                            },
                        })
                    })
                    .collect::<Result<Vec<_>, sqlx::Error>>()
                    .map_err(Into::into)
            }

            async fn data_key_insert(&self, k: &$crate::store::DataKeyRow) -> Result<(), $crate::store::StoreError> {
                sqlx::query(
                    "INSERT INTO data_keys (kid, class, period, wrapped, master_kid, created_ms, shredded_ms) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(&k.kid)
                .bind(&k.class)
                .bind(&k.period)
                .bind(&k.wrapped)
                .bind(&k.master_kid)
                .bind(k.created_ms)
                .bind(k.shredded_ms)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn data_key_get(&self, kid: &str) -> Result<Option<$crate::store::DataKeyRow>, $crate::store::StoreError> {
                let row = sqlx::query(
                    "SELECT kid, class, period, wrapped, master_kid, created_ms, shredded_ms FROM data_keys WHERE kid = $1",
                )
                .bind(kid)
                .fetch_optional(&self.pool)
                .await?;
                Ok(row.map(|r| $crate::store::data_key_row(&r)).transpose()?)
            }

            async fn data_keys(&self) -> Result<Vec<$crate::store::DataKeyRow>, $crate::store::StoreError> {
                let rows = sqlx::query(
                    "SELECT kid, class, period, wrapped, master_kid, created_ms, shredded_ms FROM data_keys ORDER BY kid",
                )
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.iter().map($crate::store::data_key_row).collect::<Result<_, _>>()?)
            }

            async fn data_key_rewrap(&self, updates: &[(String, String, String)]) -> Result<(), $crate::store::StoreError> {
                let mut tx = self.pool.begin().await?;
                for (kid, wrapped, master) in updates {
                    sqlx::query("UPDATE data_keys SET wrapped = $1, master_kid = $2 WHERE kid = $3 AND wrapped IS NOT NULL")
                        .bind(wrapped)
                        .bind(master)
                        .bind(kid)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn data_key_shred(&self, class: &str, before: &str, now_ms: i64) -> Result<u64, $crate::store::StoreError> {
                let done = sqlx::query(
                    "UPDATE data_keys SET wrapped = NULL, shredded_ms = $1 WHERE class = $2 AND period < $3 AND wrapped IS NOT NULL",
                )
                .bind(now_ms)
                .bind(class)
                .bind(before)
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected())
            }

            async fn audit_append(&self, rows: &[$crate::store::NewAuditRow]) -> Result<i64, $crate::store::StoreError> {
                use sqlx::Row;
                let mut tx = self.pool.begin().await?;
                // Writing first takes the lock (row lock on PostgreSQL, write lock on SQLite).
                let head = sqlx::query("UPDATE audit_head SET next_seq = next_seq WHERE id = 1 RETURNING next_seq, last_chain")
                    .fetch_one(&mut *tx)
                    .await?;
                let first: i64 = head.try_get("next_seq")?;
                let last: Vec<u8> = head.try_get("last_chain")?;
                let mut prev: [u8; 32] = last.try_into().map_err(|_| sqlx::Error::Protocol("audit_head.last_chain".into()))?;
                let mut seq = first;
                for r in rows {
                    let chain = $crate::audit::merkle::chain_next(&prev, &r.leaf);
                    sqlx::query(
                        "INSERT INTO audit_log (seq, recorded_ms, kind, sealed, leaf_hash, chain_hash) VALUES ($1, $2, $3, $4, $5, $6)",
                    )
                    .bind(seq)
                    .bind(r.recorded_ms)
                    .bind(&r.kind)
                    .bind(&r.sealed)
                    .bind(r.leaf.as_slice())
                    .bind(chain.as_slice())
                    .execute(&mut *tx)
                    .await?;
                    prev = chain;
                    seq += 1;
                }
                sqlx::query("UPDATE audit_head SET next_seq = $1, last_chain = $2 WHERE id = 1")
                    .bind(seq)
                    .bind(prev.as_slice())
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok(first)
            }

            async fn audit_size(&self) -> Result<i64, $crate::store::StoreError> {
                use sqlx::Row;
                let row = sqlx::query("SELECT next_seq FROM audit_head WHERE id = 1").fetch_one(&self.pool).await?;
                Ok(row.try_get("next_seq")?)
            }

            async fn audit_rows(&self, from: i64, limit: u32) -> Result<Vec<$crate::store::AuditRow>, $crate::store::StoreError> {
                use sqlx::Row;
                let rows = sqlx::query(
                    "SELECT seq, recorded_ms, kind, sealed, leaf_hash, chain_hash, purged_ms FROM audit_log \
                     WHERE seq >= $1 ORDER BY seq LIMIT $2",
                )
                .bind(from)
                .bind(i64::from(limit))
                .fetch_all(&self.pool)
                .await?;
                rows.iter()
                    .map(|r| {
                        Ok($crate::store::AuditRow {
                            seq: r.try_get("seq")?,
                            recorded_ms: r.try_get("recorded_ms")?,
                            kind: r.try_get("kind")?,
                            sealed: r.try_get("sealed")?,
                            leaf: r.try_get("leaf_hash")?,
                            chain: r.try_get("chain_hash")?,
                            purged_ms: r.try_get("purged_ms")?,
                        })
                    })
                    .collect::<Result<Vec<_>, sqlx::Error>>()
                    .map_err(Into::into)
            }

            async fn audit_leaves(&self, from: i64, to: i64) -> Result<Vec<Vec<u8>>, $crate::store::StoreError> {
                use sqlx::Row;
                let rows = sqlx::query("SELECT leaf_hash FROM audit_log WHERE seq >= $1 AND seq < $2 ORDER BY seq")
                    .bind(from)
                    .bind(to)
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(|r| r.try_get("leaf_hash")).collect::<Result<Vec<_>, sqlx::Error>>().map_err(Into::into)
            }

            async fn audit_purge(&self, before_ms: i64, now_ms: i64) -> Result<(u64, Option<i64>, Option<i64>), $crate::store::StoreError> {
                use sqlx::Row;
                let mut tx = self.pool.begin().await?;
                let range = sqlx::query(
                    "SELECT MIN(seq) AS lo, MAX(seq) AS hi FROM audit_log WHERE recorded_ms < $1 AND sealed IS NOT NULL",
                )
                .bind(before_ms)
                .fetch_one(&mut *tx)
                .await?;
                let lo: Option<i64> = range.try_get("lo")?;
                let hi: Option<i64> = range.try_get("hi")?;
                let done = sqlx::query("UPDATE audit_log SET sealed = NULL, purged_ms = $1 WHERE recorded_ms < $2 AND sealed IS NOT NULL")
                    .bind(now_ms)
                    .bind(before_ms)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                Ok((done.rows_affected(), lo, hi))
            }

            async fn checkpoint_insert(&self, c: &$crate::store::CheckpointRow) -> Result<(), $crate::store::StoreError> {
                sqlx::query("INSERT INTO audit_checkpoint (size, root, note, created_ms) VALUES ($1, $2, $3, $4)")
                    .bind(c.size)
                    .bind(c.root.as_slice())
                    .bind(&c.note)
                    .bind(c.created_ms)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn checkpoints(&self) -> Result<Vec<$crate::store::CheckpointRow>, $crate::store::StoreError> {
                use sqlx::Row;
                let rows = sqlx::query("SELECT size, root, note, created_ms FROM audit_checkpoint ORDER BY size")
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter()
                    .map(|r| {
                        Ok($crate::store::CheckpointRow {
                            size: r.try_get("size")?,
                            root: r.try_get("root")?,
                            note: r.try_get("note")?,
                            created_ms: r.try_get("created_ms")?,
                        })
                    })
                    .collect::<Result<Vec<_>, sqlx::Error>>()
                    .map_err(Into::into)
            }

            async fn policy_versions(&self) -> Result<Vec<$crate::store::PolicyVersionRow>, $crate::store::StoreError> {
                use sqlx::Row;
                let rows = sqlx::query(
                    "SELECT version, document, activated_by, activated_ms, approved_by, diff, draft_id FROM policy_version ORDER BY version",
                )
                .fetch_all(&self.pool)
                .await?;
                rows.iter()
                    .map(|r| {
                        Ok($crate::store::PolicyVersionRow {
                            version: r.try_get("version")?,
                            document: r.try_get("document")?,
                            activated_by: r.try_get("activated_by")?,
                            activated_ms: r.try_get("activated_ms")?,
                            approved_by: r.try_get("approved_by")?,
                            diff: r.try_get("diff")?,
                            draft_id: r.try_get("draft_id")?,
                        })
                    })
                    .collect::<Result<Vec<_>, sqlx::Error>>()
                    .map_err(Into::into)
            }

            async fn policy_drafts(&self) -> Result<Vec<$crate::store::PolicyDraftRow>, $crate::store::StoreError> {
                use sqlx::Row;
                let rows = sqlx::query(
                    "SELECT id, document, author, created_ms, base_version, approved_by, approved_ms, activated_version \
                     FROM policy_draft ORDER BY created_ms",
                )
                .fetch_all(&self.pool)
                .await?;
                rows.iter()
                    .map(|r| {
                        Ok($crate::store::PolicyDraftRow {
                            id: r.try_get("id")?,
                            document: r.try_get("document")?,
                            author: r.try_get("author")?,
                            created_ms: r.try_get("created_ms")?,
                            base_version: r.try_get("base_version")?,
                            approved_by: r.try_get("approved_by")?,
                            approved_ms: r.try_get("approved_ms")?,
                            activated_version: r.try_get("activated_version")?,
                        })
                    })
                    .collect::<Result<Vec<_>, sqlx::Error>>()
                    .map_err(Into::into)
            }

            async fn policy_draft_insert(&self, d: &$crate::store::PolicyDraftRow) -> Result<(), $crate::store::StoreError> {
                sqlx::query(
                    "INSERT INTO policy_draft (id, document, author, created_ms, base_version, approved_by, approved_ms, activated_version) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                )
                .bind(&d.id)
                .bind(&d.document)
                .bind(&d.author)
                .bind(d.created_ms)
                .bind(d.base_version)
                .bind(&d.approved_by)
                .bind(d.approved_ms)
                .bind(d.activated_version)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn policy_draft_approve(&self, id: &str, by: &str, at_ms: i64) -> Result<bool, $crate::store::StoreError> {
                let done = sqlx::query(
                    "UPDATE policy_draft SET approved_by = $1, approved_ms = $2 WHERE id = $3 AND activated_version IS NULL",
                )
                .bind(by)
                .bind(at_ms)
                .bind(id)
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn policy_activate(&self, v: &$crate::store::PolicyVersionRow) -> Result<(), $crate::store::StoreError> {
                let mut tx = self.pool.begin().await?;
                sqlx::query(
                    "INSERT INTO policy_version (version, document, activated_by, activated_ms, approved_by, diff, draft_id) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7)",
                )
                .bind(v.version)
                .bind(&v.document)
                .bind(&v.activated_by)
                .bind(v.activated_ms)
                .bind(&v.approved_by)
                .bind(&v.diff)
                .bind(&v.draft_id)
                .execute(&mut *tx)
                .await?;
                if let Some(id) = &v.draft_id {
                    sqlx::query("UPDATE policy_draft SET activated_version = $1 WHERE id = $2")
                        .bind(v.version)
                        .bind(id)
                        .execute(&mut *tx)
                        .await?;
                }
                tx.commit().await?;
                Ok(())
            }

            async fn login_insert(&self, user_key: &str, l: &$crate::store::LoginRow) -> Result<(), $crate::store::StoreError> {
                sqlx::query("INSERT INTO login_history (user_key, tenant, at_ms, location) VALUES ($1, $2, $3, $4)")
                    .bind(user_key)
                    .bind(&l.tenant)
                    .bind(l.at_ms)
                    .bind(&l.location)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn login_last(&self, user_key: &str, before_ms: i64) -> Result<Option<$crate::store::LoginRow>, $crate::store::StoreError> {
                use sqlx::Row;
                let row = sqlx::query(
                    "SELECT tenant, at_ms, location FROM login_history WHERE user_key = $1 AND at_ms < $2 ORDER BY at_ms DESC LIMIT 1",
                )
                .bind(user_key)
                .bind(before_ms)
                .fetch_optional(&self.pool)
                .await?;
                row.map(|r| {
                    Ok::<_, sqlx::Error>($crate::store::LoginRow { tenant: r.try_get("tenant")?, at_ms: r.try_get("at_ms")?, location: r.try_get("location")? })
                })
                .transpose()
                .map_err(Into::into)
            }

            async fn message_submit(
                &self,
                m: &$crate::store::MessageRow,
                handoffs: &[$crate::store::HandoffRow],
                tickets: &[$crate::store::TicketIntentRow],
            ) -> Result<Option<String>, $crate::store::StoreError> {
                use sqlx::Row;
                let mut tx = self.pool.begin().await?;
                let inserted = sqlx::query(
                    "INSERT INTO message (id, tenant, user_key, client_message_id, launch_ref, created_ms, envelope, detection, route, category, urgent) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (user_key, client_message_id) DO NOTHING",
                )
                .bind(&m.id)
                .bind(&m.tenant)
                .bind(&m.user_key)
                .bind(&m.client_message_id)
                .bind(&m.launch_ref)
                .bind(m.created_ms)
                .bind(&m.envelope)
                .bind(&m.detection)
                .bind(&m.route)
                .bind(&m.category)
                .bind(m.urgent as i64)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if inserted == 0 {
                    let row = sqlx::query("SELECT id FROM message WHERE user_key = $1 AND client_message_id = $2")
                        .bind(&m.user_key)
                        .bind(&m.client_message_id)
                        .fetch_one(&mut *tx)
                        .await?;
                    tx.rollback().await?;
                    return Ok(Some(row.try_get("id")?));
                }
                for h in handoffs {
                    sqlx::query(
                        "INSERT INTO handoff (id, message_id, tenant, queue, unit, category, urgent, status, tier, created_ms, due_ms, \
                         acknowledged_by, acknowledged_ms, claimed_by, resolved_ms, updated_ms, version) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
                    )
                    .bind(&h.id)
                    .bind(&h.message_id)
                    .bind(&h.tenant)
                    .bind(&h.queue)
                    .bind(&h.unit)
                    .bind(&h.category)
                    .bind(h.urgent as i64)
                    .bind(&h.status)
                    .bind(h.tier)
                    .bind(h.created_ms)
                    .bind(h.due_ms)
                    .bind(&h.acknowledged_by)
                    .bind(h.acknowledged_ms)
                    .bind(&h.claimed_by)
                    .bind(h.resolved_ms)
                    .bind(h.updated_ms)
                    .bind(h.version)
                    .execute(&mut *tx)
                    .await?;
                }
                for t in tickets {
                    sqlx::query(
                        "INSERT INTO ticket_intent (id, message_id, category, created_ms, status, payload, attempts, next_attempt_ms, claimed_until_ms, updated_ms) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0, $4)",
                    )
                    .bind(&t.id)
                    .bind(&t.message_id)
                    .bind(&t.category)
                    .bind(t.created_ms)
                    .bind(&t.status)
                    .bind(&t.payload)
                    .bind(t.attempts)
                    .bind(t.next_attempt_ms)
                    .execute(&mut *tx)
                    .await?;
                }
                tx.commit().await?;
                Ok(None)
            }

            async fn message_get_by_client(&self, user_key: &str, client_message_id: &str) -> Result<Option<$crate::store::MessageRow>, $crate::store::StoreError> {
                use sqlx::Row;
                let row = sqlx::query("SELECT id FROM message WHERE user_key = $1 AND client_message_id = $2")
                    .bind(user_key)
                    .bind(client_message_id)
                    .fetch_optional(&self.pool)
                    .await?;
                match row {
                    Some(r) => self.message_get(&r.try_get::<String, _>("id")?).await,
                    None => Ok(None),
                }
            }

            async fn message_get(&self, id: &str) -> Result<Option<$crate::store::MessageRow>, $crate::store::StoreError> {
                use sqlx::Row;
                let row = sqlx::query(
                    "SELECT id, tenant, user_key, client_message_id, launch_ref, created_ms, envelope, detection, route, category, urgent \
                     FROM message WHERE id = $1",
                )
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
                row.map(|r| {
                    Ok::<_, sqlx::Error>($crate::store::MessageRow {
                        id: r.try_get("id")?,
                        tenant: r.try_get("tenant")?,
                        user_key: r.try_get("user_key")?,
                        client_message_id: r.try_get("client_message_id")?,
                        launch_ref: r.try_get("launch_ref")?,
                        created_ms: r.try_get("created_ms")?,
                        envelope: r.try_get("envelope")?,
                        detection: r.try_get("detection")?,
                        route: r.try_get("route")?,
                        category: r.try_get("category")?,
                        urgent: r.try_get::<i64, _>("urgent")? != 0,
                    })
                })
                .transpose()
                .map_err(Into::into)
            }

            async fn handoffs_of_message(&self, message_id: &str) -> Result<Vec<$crate::store::HandoffRow>, $crate::store::StoreError> {
                let rows = sqlx::query($crate::store::handoff_select!("WHERE message_id = $1 ORDER BY created_ms, id"))
                    .bind(message_id)
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(|r| $crate::store::handoff_from!(r)).collect::<Result<Vec<_>, _>>().map_err(Into::into)
            }

            async fn tickets_of_message(&self, message_id: &str) -> Result<Vec<$crate::store::TicketIntentRow>, $crate::store::StoreError> {
                use sqlx::Row;
                let rows = sqlx::query(concat!($crate::store::ticket_select!(), "WHERE message_id = $1 ORDER BY created_ms, id"))
                    .bind(message_id)
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(|r| $crate::store::ticket_from!(r)).collect::<Result<Vec<_>, _>>().map_err(Into::into)
            }

            async fn ticket_get(&self, id: &str) -> Result<Option<$crate::store::TicketIntentRow>, $crate::store::StoreError> {
                use sqlx::Row;
                let row = sqlx::query(concat!($crate::store::ticket_select!(), "WHERE id = $1"))
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?;
                row.as_ref().map(|r| $crate::store::ticket_from!(r)).transpose().map_err(Into::into)
            }

            async fn tickets_claim(
                &self,
                now_ms: i64,
                lease_until_ms: i64,
                limit: i64,
            ) -> Result<Vec<$crate::store::TicketIntentRow>, $crate::store::StoreError> {
                use sqlx::Row;
                let sql = match self.backend() {
                    $crate::store::Backend::Postgres => concat!(
                        "UPDATE ticket_intent SET claimed_until_ms = $1, attempts = attempts + 1 WHERE id IN (",
                        "SELECT id FROM ticket_intent WHERE status = 'pending' AND next_attempt_ms <= $2 AND claimed_until_ms <= $2 ",
                        "ORDER BY created_ms, id LIMIT $3 FOR UPDATE SKIP LOCKED) ",
                        "RETURNING id, message_id, category, created_ms, status, payload, attempts, next_attempt_ms, external_ref, last_error, updated_ms"
                    ),
                    $crate::store::Backend::Sqlite => concat!(
                        "UPDATE ticket_intent SET claimed_until_ms = $1, attempts = attempts + 1 WHERE id IN (",
                        "SELECT id FROM ticket_intent WHERE status = 'pending' AND next_attempt_ms <= $2 AND claimed_until_ms <= $2 ",
                        "ORDER BY created_ms, id LIMIT $3) ",
                        "RETURNING id, message_id, category, created_ms, status, payload, attempts, next_attempt_ms, external_ref, last_error, updated_ms"
                    ),
                };
                let rows = sqlx::query(sql)
                    .bind(lease_until_ms)
                    .bind(now_ms)
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(|r| $crate::store::ticket_from!(r)).collect::<Result<Vec<_>, _>>().map_err(Into::into)
            }

            async fn ticket_settle(
                &self,
                id: &str,
                status: &str,
                external_ref: Option<&str>,
                next_attempt_ms: i64,
                last_error: Option<&str>,
                now_ms: i64,
            ) -> Result<(), $crate::store::StoreError> {
                sqlx::query(
                    "UPDATE ticket_intent SET status = $1, external_ref = COALESCE($2, external_ref), next_attempt_ms = $3, \
                     last_error = $4, updated_ms = $5, claimed_until_ms = 0 WHERE id = $6",
                )
                .bind(status)
                .bind(external_ref)
                .bind(next_attempt_ms)
                .bind(last_error)
                .bind(now_ms)
                .bind(id)
                .execute(&self.pool)
                .await?;
                Ok(())
            }

            async fn tickets_dead(&self, limit: i64) -> Result<Vec<$crate::store::TicketIntentRow>, $crate::store::StoreError> {
                use sqlx::Row;
                let rows = sqlx::query(concat!($crate::store::ticket_select!(), "WHERE status = 'dead-letter' ORDER BY updated_ms DESC, id LIMIT $1"))
                    .bind(limit)
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter().map(|r| $crate::store::ticket_from!(r)).collect::<Result<Vec<_>, _>>().map_err(Into::into)
            }

            async fn ticket_requeue(&self, id: &str, now_ms: i64) -> Result<bool, $crate::store::StoreError> {
                let n = sqlx::query(
                    "UPDATE ticket_intent SET status = 'pending', attempts = 0, next_attempt_ms = $1, updated_ms = $1, claimed_until_ms = 0 \
                     WHERE id = $2 AND status = 'dead-letter'",
                )
                .bind(now_ms)
                .bind(id)
                .execute(&self.pool)
                .await?
                .rows_affected();
                Ok(n == 1)
            }

            async fn handoff_get(&self, id: &str) -> Result<Option<$crate::store::HandoffRow>, $crate::store::StoreError> {
                let row = sqlx::query($crate::store::handoff_select!("WHERE id = $1"))
                    .bind(id)
                    .fetch_optional(&self.pool)
                    .await?;
                row.map(|r| $crate::store::handoff_from!(&r)).transpose().map_err(Into::into)
            }

            async fn handoffs_active(&self, tenant: &str, resolved_after_ms: i64) -> Result<Vec<$crate::store::HandoffRow>, $crate::store::StoreError> {
                let rows = sqlx::query($crate::store::handoff_select!("WHERE tenant = $1 AND (status <> 'resolved' OR resolved_ms > $2) ORDER BY created_ms DESC LIMIT 500"))
                .bind(tenant)
                .bind(resolved_after_ms)
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(|r| $crate::store::handoff_from!(r)).collect::<Result<Vec<_>, _>>().map_err(Into::into)
            }

            async fn handoffs_overdue(&self, now_ms: i64) -> Result<Vec<$crate::store::HandoffRow>, $crate::store::StoreError> {
                let rows = sqlx::query($crate::store::handoff_select!("WHERE status = 'open' AND due_ms < $1 ORDER BY due_ms LIMIT 500"))
                .bind(now_ms)
                .fetch_all(&self.pool)
                .await?;
                rows.iter().map(|r| $crate::store::handoff_from!(r)).collect::<Result<Vec<_>, _>>().map_err(Into::into)
            }

            async fn handoff_update(&self, h: &$crate::store::HandoffRow) -> Result<bool, $crate::store::StoreError> {
                let done = sqlx::query(
                    "UPDATE handoff SET queue = $1, status = $2, tier = $3, due_ms = $4, acknowledged_by = $5, acknowledged_ms = $6, \
                     claimed_by = $7, resolved_ms = $8, updated_ms = $9, version = $10 WHERE id = $11 AND version = $12",
                )
                .bind(&h.queue)
                .bind(&h.status)
                .bind(h.tier)
                .bind(h.due_ms)
                .bind(&h.acknowledged_by)
                .bind(h.acknowledged_ms)
                .bind(&h.claimed_by)
                .bind(h.resolved_ms)
                .bind(h.updated_ms)
                .bind(h.version)
                .bind(&h.id)
                .bind(h.version - 1)
                .execute(&self.pool)
                .await?;
                Ok(done.rows_affected() == 1)
            }

            async fn handoff_note_insert(&self, n: &$crate::store::HandoffNoteRow) -> Result<(), $crate::store::StoreError> {
                sqlx::query("INSERT INTO handoff_note (id, handoff_id, author, created_ms, body) VALUES ($1, $2, $3, $4, $5)")
                    .bind(&n.id)
                    .bind(&n.handoff_id)
                    .bind(&n.author)
                    .bind(n.created_ms)
                    .bind(&n.body)
                    .execute(&self.pool)
                    .await?;
                Ok(())
            }

            async fn handoff_notes(&self, handoff_id: &str) -> Result<Vec<$crate::store::HandoffNoteRow>, $crate::store::StoreError> {
                use sqlx::Row;
                let rows = sqlx::query("SELECT id, handoff_id, author, created_ms, body FROM handoff_note WHERE handoff_id = $1 ORDER BY created_ms, id")
                    .bind(handoff_id)
                    .fetch_all(&self.pool)
                    .await?;
                rows.iter()
                    .map(|r| {
                        Ok::<_, sqlx::Error>($crate::store::HandoffNoteRow {
                            id: r.try_get("id")?,
                            handoff_id: r.try_get("handoff_id")?,
                            author: r.try_get("author")?,
                            created_ms: r.try_get("created_ms")?,
                            body: r.try_get("body")?,
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(Into::into)
            }

            async fn close(&self) {
                self.pool.close().await;
            }
        }
    };
}
pub(crate) use sql_store;

/// Decode a `data_keys` row (shared by both backends).
pub(crate) fn data_key_row<R: sqlx::Row>(r: &R) -> Result<DataKeyRow, sqlx::Error>
where
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<String>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<i64>: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    Ok(DataKeyRow {
        kid: r.try_get("kid")?,
        class: r.try_get("class")?,
        period: r.try_get("period")?,
        wrapped: r.try_get("wrapped")?,
        master_kid: r.try_get("master_kid")?,
        created_ms: r.try_get("created_ms")?,
        shredded_ms: r.try_get("shredded_ms")?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(dir: &str) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join(dir))
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn migration_folders_are_in_step() {
        let sqlite = names("migrations/sqlite");
        let postgres = names("migrations/postgres");
        assert_eq!(sqlite, postgres, "migrations/sqlite and migrations/postgres must hold the same names");
        let embedded: Vec<String> = MIGRATION_FILES.iter().map(|s| s.to_string()).collect();
        assert_eq!(sqlite, embedded, "every migration file must be listed in store::migrations!");
    }
}
