//! Redis-backed [`Kv`]: `SET … NX PX`, `GETDEL`, keys `<prefix><ns>:<key>`.

use std::time::Duration;

use async_trait::async_trait;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::{Kv, KvError};

pub struct RedisKv {
    conn: ConnectionManager,
    prefix: String,
}

impl RedisKv {
    /// A lazily connecting, automatically reconnecting client. Call [`Kv::ping`] to check it.
    pub fn new(url: &str, prefix: &str) -> Result<Self, KvError> {
        Ok(RedisKv { conn: connect(url)?, prefix: prefix.to_string() })
    }

    fn key(&self, ns: &str, key: &str) -> String {
        format!("{}{ns}:{key}", self.prefix)
    }

    /// A connection handle for other Redis users (streams, sessions) sharing this client.
    pub fn connection(&self) -> ConnectionManager {
        self.conn.clone()
    }
}

/// A lazily connecting, automatically reconnecting Redis client with chartdesk's timeouts
/// (2 s to connect, 2 s per reply, one retry); shared by every Redis user.
pub fn connect(url: &str) -> Result<ConnectionManager, redis::RedisError> {
    let client = redis::Client::open(url)?;
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(2)))
        .set_response_timeout(Some(Duration::from_secs(2)))
        .set_number_of_retries(1)
        .set_max_delay(Duration::from_millis(500));
    ConnectionManager::new_lazy_with_config(client, config)
}

fn px(ttl: Option<Duration>) -> Option<u64> {
    ttl.map(|t| u64::try_from(t.as_millis()).unwrap_or(u64::MAX).max(1))
}

#[async_trait]
impl Kv for RedisKv {
    fn kind(&self) -> &'static str {
        "redis"
    }

    async fn ping(&self) -> Result<(), KvError> {
        let mut c = self.conn.clone();
        let _: String = redis::cmd("PING").query_async(&mut c).await?;
        Ok(())
    }

    async fn put(&self, ns: &str, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<(), KvError> {
        let mut c = self.conn.clone();
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.key(ns, key)).arg(value);
        if let Some(ms) = px(ttl) {
            cmd.arg("PX").arg(ms);
        }
        let _: () = cmd.query_async(&mut c).await?;
        Ok(())
    }

    async fn put_if_absent(&self, ns: &str, key: &str, value: &[u8], ttl: Option<Duration>) -> Result<bool, KvError> {
        let mut c = self.conn.clone();
        let mut cmd = redis::cmd("SET");
        cmd.arg(self.key(ns, key)).arg(value).arg("NX");
        if let Some(ms) = px(ttl) {
            cmd.arg("PX").arg(ms);
        }
        let reply: Option<String> = cmd.query_async(&mut c).await?;
        Ok(reply.is_some())
    }

    async fn get(&self, ns: &str, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        let mut c = self.conn.clone();
        Ok(redis::cmd("GET").arg(self.key(ns, key)).query_async(&mut c).await?)
    }

    async fn take(&self, ns: &str, key: &str) -> Result<Option<Vec<u8>>, KvError> {
        let mut c = self.conn.clone();
        Ok(redis::cmd("GETDEL").arg(self.key(ns, key)).query_async(&mut c).await?)
    }

    async fn delete(&self, ns: &str, key: &str) -> Result<bool, KvError> {
        let mut c = self.conn.clone();
        let n: u64 = redis::cmd("DEL").arg(self.key(ns, key)).query_async(&mut c).await?;
        Ok(n > 0)
    }
}
