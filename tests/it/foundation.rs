//! The server foundation: health, readiness, security headers, request ids and the three
//! error surfaces.

use serde_json::Value;

use crate::helpers::*;

#[tokio::test]
async fn healthz_and_readyz_answer() {
    let app = spawn_app().await;
    let r = app.get("/healthz").await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["status"], "ok");
    let r = app.get("/readyz").await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["checks"]["database"], "ok");
    assert!(body["checks"].get("redis").is_none(), "redis is not configured, so not checked");
}

#[tokio::test]
async fn readyz_names_the_database_when_it_is_gone() {
    let app = spawn_app().await;
    app.store.close().await;
    let r = app.get("/readyz").await;
    assert_eq!(r.status(), 503);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["failing"], serde_json::json!(["database"]));
}

/// Readiness names Redis when it stops answering. Uses the real Redis through a TCP relay
/// the test can cut. Runs when CHARTDESK_TEST_REDIS_URL is set (and then must pass).
#[tokio::test]
async fn readyz_names_redis_when_it_is_gone() {
    let Some(redis_url) = service_url("CHARTDESK_TEST_REDIS_URL") else { return };
    let target = url::Url::parse(&redis_url).unwrap();
    let upstream = format!("{}:{}", target.host_str().unwrap(), target.port().unwrap_or(6379));
    let proxy = Proxy::start(upstream).await;
    let mut relayed = target.clone();
    relayed.set_host(Some("127.0.0.1")).unwrap();
    relayed.set_port(Some(proxy.port)).unwrap();
    let app = spawn_with(|c| {
        c.redis.url = Some(chartdesk::config::Secret::new(relayed.as_str()));
        c.redis.key_prefix = format!("chartdesk-test:{}:", uuid::Uuid::new_v4());
    })
    .await;
    let body: Value = app.get("/readyz").await.json().await.unwrap();
    assert_eq!(body["checks"]["redis"], "ok", "{body}");

    proxy.up.send(false).unwrap();
    let r = app.get("/readyz").await;
    assert_eq!(r.status(), 503);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["failing"], serde_json::json!(["redis"]), "{body}");
    assert_eq!(body["checks"]["database"], "ok");
}

#[tokio::test]
async fn security_headers_on_every_kind_of_response() {
    let app =
        spawn_with(|c| c.security.frame_ancestors = vec!["'self'".into(), "https://ehr.hospital.example".into()]).await;
    for path in
        ["/", "/healthz", "/sandbox", "/no/such/page", "/sandbox/generic/fhir/metadata", "/static/chartdesk.css"]
    {
        let r = app.get(path).await;
        let h = r.headers();
        assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
        assert_eq!(h["referrer-policy"], "no-referrer", "{path}");
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("frame-ancestors 'self' https://ehr.hospital.example"), "{path}: {csp}");
        assert!(csp.contains("default-src 'self'") && csp.contains("object-src 'none'"), "{path}: {csp}");
        let cache = h["cache-control"].to_str().unwrap();
        if path.starts_with("/static/") {
            assert!(cache.starts_with("public"), "static assets may be cached");
        } else {
            assert_eq!(cache, "no-store", "{path}");
        }
    }
}

#[tokio::test]
async fn request_ids_are_honoured_when_opaque_and_always_emitted() {
    let app = spawn_app().await;
    let id = "6f1d2c3b-4a5e-4f60-8a7b-9c0d1e2f3a4b";
    let r = app.http.get(app.url("/healthz")).header("x-request-id", id).send().await.unwrap();
    assert_eq!(r.headers()["x-request-id"], id);
    let r = app.http.get(app.url("/healthz")).header("x-request-id", "Jane Doe 1950-01-01").send().await.unwrap();
    let emitted = r.headers()["x-request-id"].to_str().unwrap();
    assert_ne!(emitted, "Jane Doe 1950-01-01");
    assert!(uuid::Uuid::parse_str(emitted).is_ok(), "a fresh id is generated: {emitted}");
    let r = app.get("/healthz").await;
    assert!(uuid::Uuid::parse_str(r.headers()["x-request-id"].to_str().unwrap()).is_ok());
}

#[tokio::test]
async fn errors_render_per_surface() {
    let app = spawn_app().await;
    // API routes: JSON envelope.
    let r = app.get("/api/no-such-thing").await;
    assert_eq!(r.status(), 404);
    let rid = r.headers()["x-request-id"].to_str().unwrap().to_string();
    let body: Value = r.json().await.unwrap();
    insta::assert_json_snapshot!("api_error_envelope", body, { ".error.request_id" => "[request-id]" });
    assert_eq!(body["error"]["request_id"], rid.as_str(), "the body names the request id");

    // Browser routes: a friendly page.
    let r = app
        .http
        .get(app.url("/no/such/page"))
        .header("accept", "text/html,application/xhtml+xml")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("text/html"));
    let html = r.text().await.unwrap();
    assert!(html.contains("Nothing is here") && html.contains("reference"), "{html}");

    // FHIR-facing routes: OperationOutcome.
    let r = app.get("/sandbox/generic/fhir/Patient/pat-01").await;
    assert_eq!(r.status(), 401);
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("application/fhir+json"));
    assert_eq!(r.json::<Value>().await.unwrap()["resourceType"], "OperationOutcome");

    // Bad query parameter on an API route.
    let r = app.get("/sandbox/journal?since=yesterday").await;
    assert_eq!(r.status(), 400);
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["code"], "invalid_parameter");
}

#[tokio::test]
async fn server_errors_are_opaque() {
    let app = spawn_app().await;
    app.store.close().await;
    let r = app.get("/sandbox/journal").await;
    assert_eq!(r.status(), 500);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "internal");
    assert!(body["error"].get("detail").is_none(), "no cause in a 500 body: {body}");
    let text = body.to_string().to_lowercase();
    for leak in ["sqlx", "sqlite", "pool", "closed"] {
        assert!(!text.contains(leak), "500 body leaks `{leak}`: {text}");
    }
    // FHIR-facing 500s are opaque too.
    let r = app.get("/sandbox/generic/fhir/metadata").await;
    assert_eq!(r.status(), 500);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["resourceType"], "OperationOutcome");
    assert!(!body.to_string().to_lowercase().contains("sqlx"));
}

#[tokio::test]
async fn oversized_bodies_get_a_clear_413() {
    let app = spawn_with(|c| c.server.max_body_bytes = 1024).await;
    let tenant = app.tenant("generic");
    let r = app
        .http
        .post(tenant.token())
        .header("content-type", "application/x-www-form-urlencoded")
        .body("x".repeat(4096))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    assert_eq!(r.json::<Value>().await.unwrap()["error"]["code"], "payload_too_large");
    let r = app
        .http
        .post(&tenant.fhir)
        .header("content-type", "application/fhir+json")
        .body("x".repeat(4096))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 413);
    assert_eq!(r.json::<Value>().await.unwrap()["resourceType"], "OperationOutcome");
}

#[tokio::test]
async fn sandbox_can_be_switched_off_and_is_off_in_production() {
    for adjust in [
        (|c: &mut chartdesk::config::Config| c.sandbox.enabled = Some(false)) as fn(&mut chartdesk::config::Config),
        |c| c.server.profile = chartdesk::config::Profile::Production,
    ] {
        let app = spawn_with(adjust).await;
        let r = app.http.get(app.url("/sandbox")).header("accept", "text/html").send().await.unwrap();
        assert_eq!(r.status(), 404);
        assert!(r.text().await.unwrap().contains("sandbox"));
        let r = app.get("/sandbox/generic/fhir/metadata").await;
        assert_eq!(r.status(), 404);
        let home = app.get("/").await.text().await.unwrap();
        assert!(!home.contains("/sandbox"), "no sandbox link when it is off");
    }
}

#[tokio::test]
async fn home_page_and_app_jwks() {
    let app = spawn_app().await;
    let home = app.get("/").await.text().await.unwrap();
    assert!(home.contains("/sandbox"));
    let jwks: Value = app.get("/.well-known/jwks.json").await.json().await.unwrap();
    let keys = jwks["keys"].as_array().unwrap();
    let algs: Vec<&str> = keys.iter().map(|k| k["alg"].as_str().unwrap()).collect();
    assert_eq!(algs, ["RS384", "ES384"]);
    for k in keys {
        assert!(k["kid"].as_str().is_some_and(|s| !s.is_empty()));
        assert!(k.get("d").is_none(), "no private parts in a JWKS");
    }
}
