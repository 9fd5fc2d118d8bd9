//! Short-lived key/value state: single-use values (SMART `state`, sandbox `launch` values and
//! codes), replay guards (`jti`), sessions and caches.
//!
//! Invariants:
//! - one interface, [`Kv`]; Redis when `redis.url` is configured, the database otherwise, so
//!   the embedded default needs nothing installed;
//! - [`Kv::take`] is atomic: of any number of concurrent callers at most one gets the value
//!   (this is what makes single-use values single-use);
//! - every key is namespaced; the Redis implementation also prefixes keys per deployment.

mod redis;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use crate::error::{ErrorCode, HasErrorCode};
use crate::store::{Store, StoreError};

pub use self::redis::{RedisKv, connect as redis_connect};

#[derive(Debug, thiserror::Error)]
pub enum KvError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("redis unavailable")]
    Redis(#[from] ::redis::RedisError),
}

impl HasErrorCode for KvError {
    fn code(&self) -> ErrorCode {
        match self {
            KvError::Store(e) => e.code(),
            KvError::Redis(_) => ErrorCode::ServiceUnavailable,
        }
    }
}

#[async_trait]
pub trait Kv: Send + Sync + 'static {
    /// `"redis"` or `"database"`.
    fn kind(&self) -> &'static str;
    async fn ping(&self) -> Result<(), KvError>;
    async fn put(&self, ns: &str, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<(), KvError>;
    /// Store only if absent; `true` if this call stored the value.
    async fn put_if_absent(&self, ns: &str, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<bool, KvError>;
    async fn get(&self, ns: &str, key: &str) -> Result<Option<Vec<u8>>, KvError>;
    /// Atomically get and delete.
    async fn take(&self, ns: &str, key: &str) -> Result<Option<Vec<u8>>, KvError>;
    async fn delete(&self, ns: &str, key: &str) -> Result<bool, KvError>;
}

/// The database-backed implementation (the embedded default).
pub struct StoreKv(pub Arc<dyn Store>);

#[async_trait]
impl Kv for StoreKv {
    fn kind(&self) -> &'static str {
        "database"
    }
    async fn ping(&self) -> Result<(), KvError> {
        Ok(self.0.ping().await?)
    }
    async fn put(&self, ns: &str, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<(), KvError> {
        Ok(self.0.kv_put(ns, key, value, ttl).await?)
    }
    async fn put_if_absent(&self, ns: &str, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<bool, KvError> {
        Ok(self.0.kv_put_if_absent(ns, key, value, ttl).await?)
    }
    async fn get(&self, ns: &str, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        Ok(self.0.kv_get(ns, key).await?)
    }
    async fn take(&self, ns: &str, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        Ok(self.0.kv_take(ns, key).await?)
    }
    async fn delete(&self, ns: &str, key: &str) -> Result<bool, KvError> {
        Ok(self.0.kv_delete(ns, key).await?)
    }
}

/// JSON helpers over any [`Kv`].
pub async fn put_json<T: serde::Serialize + Sync>(
    kv: &dyn Kv,
    ns: &str,
    key: &str,
    value: &T,
    ttl: Option<Duration>,
) -> Result<(), KvError> {
    let bytes = serde_json::to_vec(value).expect("kv values serialise");
    kv.put(ns, key, &bytes, ttl).await
}

/// Take a JSON value; a value that no longer parses counts as absent.
pub async fn take_json<T: serde::de::DeserializeOwned>(kv: &dyn Kv, ns: &str, key: &str) -> Result<Option<T>, KvError> {
    Ok(kv.take(ns, key).await?.and_then(|b| serde_json::from_slice(&b).ok()))
}

pub async fn get_json<T: serde::de::DeserializeOwned>(kv: &dyn Kv, ns: &str, key: &str) -> Result<Option<T>, KvError> {
    Ok(kv.get(ns, key).await?.and_then(|b| serde_json::from_slice(&b).ok()))
}
