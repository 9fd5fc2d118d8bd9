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

    async fn close(&self);
}

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

            async fn close(&self) {
                self.pool.close().await;
            }
        }
    };
}
pub(crate) use sql_store;

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
