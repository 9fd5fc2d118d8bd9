//! `GET /healthz` (the process answers) and `GET /readyz` (its dependencies answer).

use std::time::Duration;

use actix_web::{HttpResponse, web};
use serde_json::json;

use super::AppState;

const CHECK_TIMEOUT: Duration = Duration::from_secs(2);

pub async fn healthz() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "status": "ok" }))
}

/// 200 when the database (and Redis, if configured) answer; 503 naming what failed.
pub async fn readyz(state: web::Data<AppState>) -> HttpResponse {
    let database = async { matches!(tokio::time::timeout(CHECK_TIMEOUT, state.store.ping()).await, Ok(Ok(()))) };
    let redis = async {
        match &state.redis {
            None => None,
            Some(r) => Some(matches!(tokio::time::timeout(CHECK_TIMEOUT, r.ping()).await, Ok(Ok(())))),
        }
    };
    let (db_ok, redis_ok) = tokio::join!(database, redis);
    let mut checks = serde_json::Map::new();
    let mut failing = Vec::new();
    checks.insert("database".into(), json!(if db_ok { "ok" } else { "unreachable" }));
    if !db_ok {
        failing.push("database");
    }
    if let Some(ok) = redis_ok {
        checks.insert("redis".into(), json!(if ok { "ok" } else { "unreachable" }));
        if !ok {
            failing.push("redis");
        }
    }
    if failing.is_empty() {
        HttpResponse::Ok().json(json!({ "status": "ready", "checks": checks }))
    } else {
        tracing::warn!(failing = ?failing, "not ready");
        HttpResponse::ServiceUnavailable()
            .json(json!({ "status": "unavailable", "failing": failing, "checks": checks }))
    }
}
