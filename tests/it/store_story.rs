//! One storage story, told against every backend: SQLite always; PostgreSQL when
//! CHARTDESK_TEST_POSTGRES_URL is set; Redis (for the kv layer) when
//! CHARTDESK_TEST_REDIS_URL is set. When a URL is set the backend must work: a connection
//! failure fails the test, it never skips. Each run uses its own schema / key prefix.

use std::sync::Arc;
use std::time::Duration;

use chartdesk::kv::{Kv, RedisKv, StoreKv};
use chartdesk::store::{self, Backend, JournalEntry, Store};

use crate::helpers::*;

async fn kv_story(kv: Arc<dyn Kv>) {
    kv.ping().await.unwrap();
    let ns = "story";
    assert_eq!(kv.get(ns, "a").await.unwrap(), None);
    kv.put(ns, "a", b"one", None).await.unwrap();
    assert_eq!(kv.get(ns, "a").await.unwrap().as_deref(), Some(&b"one"[..]));
    kv.put(ns, "a", b"two", None).await.unwrap();
    assert_eq!(kv.get(ns, "a").await.unwrap().as_deref(), Some(&b"two"[..]), "put replaces");

    assert!(kv.put_if_absent(ns, "b", b"first", None).await.unwrap());
    assert!(!kv.put_if_absent(ns, "b", b"second", None).await.unwrap(), "a live value is not replaced");
    assert_eq!(kv.get(ns, "b").await.unwrap().as_deref(), Some(&b"first"[..]));

    // Expiry: an expired value is gone, and put_if_absent may then store again.
    // (Generous margins: the suite runs on a shared, sometimes saturated machine.)
    kv.put(ns, "short", b"x", Some(Duration::from_millis(1500))).await.unwrap();
    assert!(kv.put_if_absent(ns, "guard", b"1", Some(Duration::from_millis(1500))).await.unwrap());
    assert!(kv.get(ns, "short").await.unwrap().is_some());
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(kv.get(ns, "short").await.unwrap(), None, "expired");
    assert_eq!(kv.take(ns, "short").await.unwrap(), None, "expired values cannot be taken");
    assert!(kv.put_if_absent(ns, "guard", b"2", None).await.unwrap(), "an expired guard can be set again");

    // take is single-use, even under contention.
    kv.put(ns, "once", b"secret", None).await.unwrap();
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let kv = kv.clone();
        tasks.push(tokio::spawn(async move { kv.take("story", "once").await.unwrap() }));
    }
    let mut winners = 0;
    for t in tasks {
        if let Some(v) = t.await.unwrap() {
            assert_eq!(v, b"secret");
            winners += 1;
        }
    }
    assert_eq!(winners, 1, "exactly one concurrent take gets the value");

    // Namespaces are separate.
    kv.put("other", "a", b"elsewhere", None).await.unwrap();
    assert_eq!(kv.get(ns, "a").await.unwrap().as_deref(), Some(&b"two"[..]));
    assert!(kv.delete(ns, "a").await.unwrap());
    assert!(!kv.delete(ns, "a").await.unwrap());
    assert_eq!(kv.get("other", "a").await.unwrap().as_deref(), Some(&b"elsewhere"[..]));
}

async fn store_story(store: Arc<dyn Store>, backend: Backend) {
    assert_eq!(store.backend(), backend);
    store.ping().await.unwrap();
    kv_story(Arc::new(StoreKv(store.clone()))).await;
    store.kv_put("purge", "old", b"x", Some(Duration::from_millis(1))).await.unwrap();
    store.kv_put("purge", "keep", b"x", None).await.unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(store.kv_purge_expired().await.unwrap() >= 1);
    assert!(store.kv_get("purge", "keep").await.unwrap().is_some());

    let e = |path: &str, status: u16| JournalEntry {
        tenant: "generic".into(),
        method: "GET".into(),
        path: path.into(),
        query: Some("_id=x".into()),
        status,
        kind: "read".into(),
        client_id: Some("c".into()),
    };
    let first = store.journal_append(&e("/Patient/a", 200)).await.unwrap();
    let second = store.journal_append(&e("/Patient/b", 403)).await.unwrap();
    assert!(second > first);
    let all = store.journal_since(0, 100).await.unwrap();
    assert_eq!(all.iter().map(|r| r.entry.path.as_str()).collect::<Vec<_>>(), ["/Patient/a", "/Patient/b"]);
    assert_eq!(all[1].entry, e("/Patient/b", 403));
    let after = store.journal_since(first, 100).await.unwrap();
    assert_eq!(after.len(), 1);
    assert_eq!(store.journal_since(second, 100).await.unwrap().len(), 0);
    assert_eq!(store.journal_since(0, 1).await.unwrap().len(), 1, "limit applies");
}

#[tokio::test]
async fn sqlite_story() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}/nested/chartdesk.db", dir.path().display());
    let s = store::open(&url, 4, Duration::from_secs(5)).await.unwrap();
    store_story(s.clone(), Backend::Sqlite).await;
    s.close().await;
    // Reopening applies no migration twice and keeps the data.
    let s = store::open(&url, 4, Duration::from_secs(5)).await.unwrap();
    assert_eq!(s.journal_since(0, 10).await.unwrap().len(), 2);
    // WAL mode is on.
    assert!(dir.path().join("nested/chartdesk.db-wal").exists() || dir.path().join("nested/chartdesk.db-shm").exists());
}

/// A fresh schema on the test PostgreSQL, dropped afterwards.
pub struct PgSchema {
    pub url: String,
    admin: sqlx::PgPool,
    name: String,
}

impl PgSchema {
    pub async fn new(base: &str) -> PgSchema {
        let admin = sqlx::PgPool::connect(base)
            .await
            .expect("CHARTDESK_TEST_POSTGRES_URL is set but PostgreSQL is unreachable");
        let name = format!("chartdesk_test_{}", uuid::Uuid::new_v4().simple());
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE SCHEMA {name}"))).execute(&admin).await.unwrap();
        let sep = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{sep}options=-c%20search_path%3D{name}");
        PgSchema { url, admin, name }
    }

    pub async fn drop(self) {
        sqlx::query(sqlx::AssertSqlSafe(format!("DROP SCHEMA {} CASCADE", self.name)))
            .execute(&self.admin)
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn postgres_story() {
    let Some(base) = service_url("CHARTDESK_TEST_POSTGRES_URL") else { return };
    let schema = PgSchema::new(&base).await;
    let s = store::open(&schema.url, 4, Duration::from_secs(5)).await.unwrap();
    store_story(s.clone(), Backend::Postgres).await;
    s.close().await;
    let s = store::open(&schema.url, 2, Duration::from_secs(5)).await.unwrap();
    assert_eq!(s.journal_since(0, 10).await.unwrap().len(), 2, "reopened, data kept, migrations not re-run");
    s.close().await;
    schema.drop().await;
}

#[tokio::test]
async fn redis_story() {
    let Some(url) = service_url("CHARTDESK_TEST_REDIS_URL") else { return };
    let prefix = format!("chartdesk-test:{}:", uuid::Uuid::new_v4().simple());
    let kv = RedisKv::new(&url, &prefix).unwrap();
    kv.ping().await.expect("CHARTDESK_TEST_REDIS_URL is set but Redis is unreachable");
    let kv: Arc<dyn Kv> = Arc::new(kv);
    kv_story(kv.clone()).await;
    // Keys carry the per-run prefix.
    let client = redis::Client::open(url.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS").arg(format!("{prefix}*")).query_async(&mut conn).await.unwrap();
    assert!(keys.iter().all(|k| k.starts_with(&prefix)) && !keys.is_empty());
    let _: () = redis::cmd("DEL").arg(&keys).query_async(&mut conn).await.unwrap();
}

/// The whole sandbox launch on the production path: PostgreSQL for storage, Redis for
/// single-use values and tokens. Runs when both URLs are set.
#[tokio::test]
async fn sandbox_launch_on_postgres_and_redis() {
    let (Some(pg), Some(redis_url)) =
        (service_url("CHARTDESK_TEST_POSTGRES_URL"), service_url("CHARTDESK_TEST_REDIS_URL"))
    else {
        return;
    };
    let schema = PgSchema::new(&pg).await;
    let prefix = format!("chartdesk-test:{}:", uuid::Uuid::new_v4().simple());
    let app = spawn_with(|c| {
        c.database.url = Some(chartdesk::config::Secret::new(schema.url.clone()));
        c.redis.url = Some(chartdesk::config::Secret::new(redis_url.clone()));
        c.redis.key_prefix = prefix.clone();
    })
    .await;
    assert_eq!(app.store.backend(), Backend::Postgres);
    let ready: serde_json::Value = app.get("/readyz").await.json().await.unwrap();
    assert_eq!(ready["checks"], serde_json::json!({"database": "ok", "redis": "ok"}));
    let t = app.tenant("epic");
    let body = public_launch(&app, &t, "test-epic-public", "practitioner=pr-jpike&patient=pat-01", LAUNCH_SCOPE).await;
    assert_eq!(fhir_get(&app, &t, body["access_token"].as_str().unwrap(), "/Patient/pat-01").await.0, 200);
    // Launch values, codes and tokens lived in Redis (hashed keys), the journal in PostgreSQL.
    let client = redis::Client::open(redis_url.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS").arg(format!("{prefix}sbx-at:*")).query_async(&mut conn).await.unwrap();
    assert_eq!(keys.len(), 1, "one access token stored under the run's prefix");
    let journal = app.journal_since(0).await;
    assert!(journal["entries"].as_array().unwrap().iter().any(|e| e["path"] == "/Patient/pat-01"));
    app.stopper.stop().await;
    let all: Vec<String> = redis::cmd("KEYS").arg(format!("{prefix}*")).query_async(&mut conn).await.unwrap();
    if !all.is_empty() {
        let _: () = redis::cmd("DEL").arg(&all).query_async(&mut conn).await.unwrap();
    }
    schema.drop().await;
}
