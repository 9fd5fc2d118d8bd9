//! The Redis Stream sink: `XADD <prefix>desk:tickets * key <id> ticket <json>`.
//!
//! Idempotent effect: one Lua script (atomic in Redis) looks the key up in the hash
//! `<prefix>desk:tickets:keys` and only adds the entry when the key is new, recording the
//! entry id under the key; `find` reads that hash. A retried ticket therefore lands once.
//!
//! Consumer-group contract (for the desk-side consumer): create a group once with
//! `XGROUP CREATE <stream> <group> 0 MKSTREAM`; read with `XREADGROUP GROUP <group> <consumer>
//! COUNT n BLOCK ms STREAMS <stream> >`; `XACK` an entry only after the consumer has committed
//! its effect (the ticket exists in the desk); on start and periodically, take over entries left
//! pending by a dead consumer with `XAUTOCLAIM <stream> <group> <consumer> <min-idle-ms> 0`.
//! The `key` field is the dedupe key: a consumer that may see an entry twice (after a claim)
//! must treat a second entry with a known key as done.

use redis::aio::ConnectionManager;

use super::{Sink, SinkError, Ticket};

const ADD_ONCE: &str = r"
local existing = redis.call('HGET', KEYS[2], ARGV[1])
if existing then return existing end
local id = redis.call('XADD', KEYS[1], '*', 'key', ARGV[1], 'ticket', ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1], id)
return id
";

pub struct RedisStreamSink {
    conn: ConnectionManager,
    stream: String,
    keys: String,
    script: redis::Script,
}

impl RedisStreamSink {
    /// `prefix` is the deployment's Redis key prefix; the stream is `<prefix><stream>`.
    pub fn new(url: &str, prefix: &str, stream: &str) -> Result<RedisStreamSink, redis::RedisError> {
        let conn = crate::kv::redis_connect(url)?;
        let stream = format!("{prefix}{stream}");
        Ok(RedisStreamSink { conn, keys: format!("{stream}:keys"), stream, script: redis::Script::new(ADD_ONCE) })
    }

    /// The stream's key (for consumers and tests).
    pub fn stream_key(&self) -> &str {
        &self.stream
    }
}

fn classify(e: &redis::RedisError) -> SinkError {
    // A timeout or dropped connection after the command was sent may have committed.
    if e.is_timeout() || e.is_connection_dropped() { SinkError::Ambiguous } else { SinkError::Unavailable }
}

#[async_trait::async_trait]
impl Sink for RedisStreamSink {
    fn name(&self) -> &'static str {
        "redis-stream"
    }

    async fn find(&self, key: &str) -> Result<Option<String>, SinkError> {
        let mut conn = self.conn.clone();
        redis::cmd("HGET").arg(&self.keys).arg(key).query_async(&mut conn).await.map_err(|e| classify(&e))
    }

    async fn create(&self, ticket: &Ticket) -> Result<String, SinkError> {
        let json = serde_json::to_string(ticket).map_err(|_| SinkError::Refused)?;
        let mut conn = self.conn.clone();
        self.script
            .key(&self.stream)
            .key(&self.keys)
            .arg(&ticket.key)
            .arg(json)
            .invoke_async(&mut conn)
            .await
            .map_err(|e| classify(&e))
    }
}
