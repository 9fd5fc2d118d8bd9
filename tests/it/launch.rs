//! The app side of the SMART launch, against the sandbox EHR in every vendor mode and against
//! a scriptable fake EHR. Test names carry the AC-* item of ../shared/guide/smart-launch.md § 7
//! they prove.

use std::collections::HashMap;

use chartdesk::config::{AuthorizeMethod, ClientAuth, Secret, SigningAlg, TenantConfig};
use serde_json::{Value, json};
use url::Url;

use crate::fake_ehr::{FakeEhr, Script};
use crate::helpers::*;

fn fake_tenant(issuer: &str, vendor: &str, auth: ClientAuth) -> TenantConfig {
    TenantConfig {
        id: "fake".into(),
        issuer: issuer.into(),
        vendor: vendor.into(),
        client_id: "fake-client".into(),
        client_auth: auth,
        client_secret: (auth == ClientAuth::ClientSecretBasic).then(|| Secret::new("fake/secret+x")),
        signing_alg: None,
        redirect_uri: "/callback".into(),
        scope_style: None,
        authorize_method: Some(AuthorizeMethod::Get),
        extra_headers: None,
        frame_ancestors: None,
        user_scopes: None,
        patient_scopes: None,
        launch_location: None,
        offline_access: None,
        online_access: None,
    }
}

async fn app_with_fake(fake: &FakeEhr, vendor: &str, auth: ClientAuth) -> TestApp {
    let t = fake_tenant(&fake.fhir, vendor, auth);
    spawn_with(move |c| c.tenants.push(t)).await
}

/// Start a launch against the fake EHR; returns the authorize URL's query.
async fn fake_launch(app: &TestApp, browser: &Browser, fake: &FakeEhr, extra: &str) -> HashMap<String, String> {
    let r = browser
        .http
        .get(app.url(&format!("/launch?iss={}&launch=opaque-launch-value{extra}", fake.fhir)))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302, "{}", r.text().await.unwrap_or_default());
    let loc = location(&r);
    assert!(loc.as_str().starts_with(&format!("{}/oauth/authorize?", fake.base)), "{loc}");
    query_map(&loc)
}

/// Deliver an authorization response to chartdesk's callback, as the EHR's redirect would.
async fn deliver(app: &TestApp, browser: &Browser, query: &[(&str, &str)]) -> reqwest::Response {
    let mut u = Url::parse(&app.url("/callback")).unwrap();
    u.query_pairs_mut().extend_pairs(query.iter());
    browser.http.get(u).send().await.unwrap()
}

fn auth_count(entries: &[Value], kind: &str) -> usize {
    entries.iter().filter(|e| e["kind"] == kind).count()
}

#[tokio::test]
async fn ac_l1_launch_refuses_missing_parameters_and_unknown_issuers_without_any_outbound_call() {
    // A listener standing in for an unknown EHR: it counts connections.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let hits = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = hits.clone();
    tokio::spawn(async move {
        while let Ok((_s, _)) = listener.accept().await {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        }
    });
    let app = spawn_app().await;
    let b = Browser::new();
    for (query, code) in [
        ("launch=x".to_string(), "launch_invalid"),
        (format!("iss={}", app.tenant("generic").fhir), "launch_invalid"),
        (format!("iss=http://127.0.0.1:{port}/fhir&launch=x"), "launch_unknown_issuer"),
        (format!("iss={}/evil&launch=x", app.tenant("generic").fhir), "launch_unknown_issuer"),
    ] {
        let r = b.http.get(app.url(&format!("/launch?{query}"))).header("accept", "text/html").send().await.unwrap();
        assert_eq!(r.status(), 400, "{query}");
        let html = r.text().await.unwrap();
        assert!(html.contains("open chartdesk again") || html.contains("not set up for this EHR"), "{code}: {html}");
    }
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(hits.load(std::sync::atomic::Ordering::SeqCst), 0, "no request to an issuer outside the allow-list");
}

#[tokio::test]
async fn ac_l2_discovery_well_known_first_metadata_fallback_relative_urls_cached_epic_header() {
    // Well-known with relative endpoints and a legacy capability name.
    let fake = FakeEhr::start(Script::default()).await;
    let app = app_with_fake(&fake, "epic", ClientAuth::Public).await;
    let b = Browser::new();
    let q = fake_launch(&app, &b, &fake, "").await;
    assert_eq!(q["client_id"], "fake-client");
    fake_launch(&app, &b, &fake, "").await;
    assert_eq!(fake.count("/fhir/.well-known/smart-configuration"), 1, "discovery is cached per tenant");
    let disc = fake.requests().into_iter().find(|r| r.path == "/fhir/.well-known/smart-configuration").unwrap();
    assert_eq!(disc.headers.get("epic-client-id").map(String::as_str), Some("fake-client"), "Epic-Client-ID is sent");
    assert!(disc.headers["accept"].contains("application/json"));

    // No well-known: the CapabilityStatement's OAuth URIs are used.
    let fake = FakeEhr::start(Script {
        well_known: None,
        metadata: Some(json!({"resourceType": "CapabilityStatement", "rest": [{"security": {"extension": [{
            "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
            "extension": [{"url": "authorize", "valueUri": "/oauth/authorize"}, {"url": "token", "valueUri": "/oauth/token"}]}]}}]})),
        ..Script::default()
    })
    .await;
    let app = app_with_fake(&fake, "generic", ClientAuth::Public).await;
    let q = fake_launch(&app, &Browser::new(), &fake, "").await;
    assert!(q.contains_key("state"));
    assert_eq!(fake.count("/fhir/metadata"), 1);
}

#[tokio::test]
async fn ac_a1_authorize_request_is_complete_and_always_uses_pkce() {
    // The fake's well-known does not advertise code_challenge_methods_supported.
    let fake = FakeEhr::start(Script::default()).await;
    let app = app_with_fake(&fake, "generic", ClientAuth::Public).await;
    let b = Browser::new();
    let q = fake_launch(&app, &b, &fake, "").await;
    assert_eq!(q["response_type"], "code");
    assert_eq!(q["client_id"], "fake-client");
    assert_eq!(q["redirect_uri"], app.url("/callback"));
    assert_eq!(q["launch"], "opaque-launch-value", "launch echoed");
    assert_eq!(q["aud"], fake.fhir, "aud is the iss, byte for byte");
    let scopes: Vec<&str> = q["scope"].split(' ').collect();
    for s in ["launch", "openid", "fhirUser"] {
        assert!(scopes.contains(&s), "{s} in {scopes:?}");
    }
    assert_eq!(q["code_challenge_method"], "S256", "PKCE even when discovery does not advertise it");
    assert_eq!(q["code_challenge"].len(), 43);
    assert!(q["state"].len() >= 43, "state carries ≥ 256 bits: {}", q["state"]);
    assert!(q["nonce"].len() >= 22, "nonce with openid");
    let q2 = fake_launch(&app, &b, &fake, "").await;
    assert_ne!(q["state"], q2["state"]);
    assert_ne!(q["code_challenge"], q2["code_challenge"]);
    // A trailing slash in iss is echoed as sent.
    let r = b.http.get(app.url(&format!("/launch?iss={}/&launch=l", fake.fhir))).send().await.unwrap();
    assert_eq!(query_map(&location(&r))["aud"], format!("{}/", fake.fhir));
}

#[tokio::test]
async fn ac_a2_post_authorize_is_an_auto_submitted_form_that_completes() {
    let app = spawn_with(|c| tenant_mut(c, "sandbox-epic").authorize_method = Some(AuthorizeMethod::Post)).await;
    let b = Browser::new();
    let r = b
        .http
        .get(app.url("/sandbox/ehr-launch?vendor=epic&practitioner=pr-jpike&patient=pat-01"))
        .send()
        .await
        .unwrap();
    let launch_url = location(&r);
    let r = b.http.get(launch_url).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let csp = r.headers()["content-security-policy"].to_str().unwrap().to_string();
    assert!(csp.contains(&format!("form-action 'self' {}", app.base)), "the EHR origin may receive the form: {csp}");
    let html = r.text().await.unwrap();
    assert!(html.contains("<script src=\"/static/autosubmit.js\">"));
    let action = html.split("action=\"").nth(1).unwrap().split('"').next().unwrap().to_string();
    assert_eq!(action, app.tenant("epic").authorize());
    let fields: Vec<(String, String)> = html
        .split("<input type=\"hidden\" ")
        .skip(1)
        .map(|s| {
            let name = s.split("name=\"").nth(1).unwrap().split('"').next().unwrap();
            let value = s.split("value=\"").nth(1).unwrap().split('"').next().unwrap();
            (
                name.to_string(),
                value.replace("&#43;", "+").replace("&#47;", "/").replace("&#61;", "=").replace("&#38;", "&"),
            )
        })
        .collect();
    assert!(fields.iter().any(|(k, _)| k == "launch") && fields.iter().any(|(k, _)| k == "code_challenge"));
    // The browser submits the form.
    let r = b.http.post(&action).form(&fields).send().await.unwrap();
    assert_eq!(r.status(), 302);
    let (page, _) = b.follow(location(&r).as_str()).await;
    assert_eq!(page.status(), 200);
    assert!(h1(&page.text().await.unwrap()).starts_with("Jordan Pike"));
}

#[tokio::test]
async fn ac_a3_requested_scopes_are_read_only_in_the_tenant_style() {
    let app = spawn_app().await;
    let b = Browser::new();
    for (vendor, style_marker) in [("generic", ".rs"), ("epic", ".rs"), ("oracle-health", ".read"), ("meditech", ".rs")]
    {
        let since = journal_cursor(&app).await;
        let (status, _, _) = b.launch(&app, &format!("vendor={vendor}&practitioner=pr-jpike&patient=pat-01")).await;
        assert_eq!(status, 200);
        let entries = journal_all(&app, since).await;
        let authorize = entries.iter().find(|e| e["kind"] == "auth:authorize").unwrap();
        let q: HashMap<String, String> =
            url::form_urlencoded::parse(authorize["query"].as_str().unwrap().as_bytes()).into_owned().collect();
        let scope = &q["scope"];
        assert!(scope.contains(style_marker), "{vendor}: {scope}");
        for s in scope.split(' ') {
            if let Ok(chartdesk::smart::scope::Scope::Resource(r)) = s.parse() {
                assert!(!r.perms.is_write(), "{vendor}: {s}");
                assert!(r.resource != "*", "{vendor}: no wildcards: {s}");
            }
        }
        if vendor == "meditech" {
            assert!(scope.contains("launch/location"));
        }
    }
}

#[tokio::test]
async fn ac_c1_callback_checks_state_first_and_shows_ehr_errors_safely() {
    let app = spawn_app().await;
    let b = Browser::new();
    let since = journal_cursor(&app).await;
    // Missing and unknown state: refused, no token request.
    for q in [vec![("code", "x")], vec![("code", "x"), ("state", "forged-state-value")]] {
        let r = deliver(&app, &b, &q).await;
        assert_eq!(r.status(), 400);
        assert!(r.text().await.unwrap().contains("expired or was already used"));
    }
    // A real state, replayed.
    let r = b
        .http
        .get(app.url("/sandbox/ehr-launch?vendor=generic&practitioner=pr-jpike&patient=pat-01"))
        .send()
        .await
        .unwrap();
    let r = b.http.get(location(&r)).send().await.unwrap();
    let authorize = location(&r);
    let r = b.http.get(authorize).send().await.unwrap();
    let callback = location(&r);
    let first = b.http.get(callback.clone()).send().await.unwrap();
    assert_eq!(first.status(), 303);
    let replay = b.http.get(callback.clone()).send().await.unwrap();
    assert_eq!(replay.status(), 400, "a state is single-use");
    // A fresh callback carried into another browser (with a cookie of its own) is refused.
    let other = Browser::new();
    let r = other
        .http
        .get(app.url("/sandbox/ehr-launch?vendor=generic&practitioner=pr-jpike&patient=pat-02"))
        .send()
        .await
        .unwrap();
    other.http.get(location(&r)).send().await.unwrap();
    let r = b
        .http
        .get(app.url("/sandbox/ehr-launch?vendor=generic&practitioner=pr-jpike&patient=pat-01"))
        .send()
        .await
        .unwrap();
    let r = b.http.get(location(&r)).send().await.unwrap();
    let r = b.http.get(location(&r)).send().await.unwrap();
    let stolen = location(&r);
    let r = other.http.get(stolen).send().await.unwrap();
    assert_eq!(r.status(), 400, "a state is bound to the browser that started the launch");
    let entries = journal_all(&app, since).await;
    assert_eq!(auth_count(&entries, "auth:token"), 1, "only the genuine callback reached the token endpoint");

    // An error redirect: escaped description, https error_uri linked, others not.
    for (uri, linked) in [
        ("https://help.ehr.example/oauth?e=1", true),
        ("javascript:alert(1)", false),
        ("http://help.ehr.example/x", false),
    ] {
        let r = b
            .http
            .get(app.url("/sandbox/ehr-launch?vendor=generic&practitioner=pr-jpike&patient=pat-01"))
            .send()
            .await
            .unwrap();
        let r = b.http.get(location(&r)).send().await.unwrap();
        let state = query_map(&location(&r))["state"].clone();
        let r = deliver(
            &app,
            &b,
            &[
                ("state", &state),
                ("error", "access_denied"),
                ("error_description", "<script>alert('x')</script> denied"),
                ("error_uri", uri),
            ],
        )
        .await;
        assert_eq!(r.status(), 400);
        let html = r.text().await.unwrap();
        assert!(!html.contains("<script>alert"), "the description is escaped");
        assert!(html.contains("&lt;script&gt;") || html.contains("&#60;script&#62;"), "{html}");
        assert!(html.contains("access_denied"));
        assert_eq!(
            html.contains(&format!("href=\"{}", uri.replace('&', "&#38;"))) || html.contains(&format!("href=\"{uri}")),
            linked,
            "{uri}: {html}"
        );
        assert!(html.contains("open it again") || html.contains("close chartdesk"));
    }
}

#[tokio::test]
async fn ac_t1_token_requests_per_client_authentication_method() {
    // client_secret_basic: form-urlencoded id and secret in Basic, no client_id in the body.
    let fake = FakeEhr::start(Script::default()).await;
    let app = app_with_fake(&fake, "generic", ClientAuth::ClientSecretBasic).await;
    let b = Browser::new();
    let q = fake_launch(&app, &b, &fake, "").await;
    deliver(&app, &b, &[("code", "the-code"), ("state", &q["state"])]).await;
    let t = &fake.token_requests()[0];
    let form = t.form();
    assert_eq!(form["grant_type"], "authorization_code");
    assert_eq!(form["code"], "the-code");
    assert_eq!(form["redirect_uri"], app.url("/callback"));
    assert!(form["code_verifier"].len() >= 43);
    assert!(!form.contains_key("client_id") && !form.contains_key("client_secret"), "{form:?}");
    use base64::Engine;
    let basic = t.headers["authorization"].strip_prefix("Basic ").unwrap();
    let decoded = String::from_utf8(base64::engine::general_purpose::STANDARD.decode(basic).unwrap()).unwrap();
    assert_eq!(decoded, "fake-client:fake%2Fsecret%2Bx", "RFC 6749 § 2.3.1 encoding");

    // Public: client_id in the body, no Authorization.
    let fake = FakeEhr::start(Script::default()).await;
    let app = app_with_fake(&fake, "generic", ClientAuth::Public).await;
    let b = Browser::new();
    let q = fake_launch(&app, &b, &fake, "").await;
    deliver(&app, &b, &[("code", "c"), ("state", &q["state"])]).await;
    let t = &fake.token_requests()[0];
    assert_eq!(t.form()["client_id"], "fake-client");
    assert!(!t.headers.contains_key("authorization"));

    // private_key_jwt, RS384 and ES384: a client assertion verifiable with our JWKS.
    for alg in [SigningAlg::RS384, SigningAlg::ES384] {
        let fake = FakeEhr::start(Script::default()).await;
        let mut t = fake_tenant(&fake.fhir, "generic", ClientAuth::PrivateKeyJwt);
        t.signing_alg = Some(alg);
        let app = spawn_with(move |c| c.tenants.push(t)).await;
        let b = Browser::new();
        let q = fake_launch(&app, &b, &fake, "").await;
        deliver(&app, &b, &[("code", "c"), ("state", &q["state"])]).await;
        let form = fake.token_requests()[0].form();
        assert_eq!(form["client_assertion_type"], "urn:ietf:params:oauth:client-assertion-type:jwt-bearer");
        let jwt = &form["client_assertion"];
        let header = jsonwebtoken::decode_header(jwt).unwrap();
        assert_eq!(
            header.alg,
            if alg == SigningAlg::RS384 { jsonwebtoken::Algorithm::RS384 } else { jsonwebtoken::Algorithm::ES384 }
        );
        assert_eq!(header.typ.as_deref(), Some("JWT"));
        let jwks: jsonwebtoken::jwk::JwkSet = app.get("/.well-known/jwks.json").await.json().await.unwrap();
        let key = jsonwebtoken::DecodingKey::from_jwk(jwks.find(header.kid.as_deref().unwrap()).unwrap()).unwrap();
        let mut v = jsonwebtoken::Validation::new(header.alg);
        v.set_audience(&[format!("{}/oauth/token", fake.base)]);
        v.set_issuer(&["fake-client"]);
        let claims = jsonwebtoken::decode::<Value>(jwt, &key, &v)
            .expect("the assertion verifies with our published JWKS")
            .claims;
        assert_eq!(claims["sub"], "fake-client");
        let now = chrono::Utc::now().timestamp();
        assert!(claims["exp"].as_i64().unwrap() <= now + 300);
        assert!(claims["jti"].as_str().is_some_and(|j| !j.is_empty() && j.len() <= 151));
    }
}

#[tokio::test]
async fn ac_t2_token_responses_are_parsed_leniently() {
    let fake = FakeEhr::start(Script {
        token_responses: vec![(200, json!({
            "access_token": "A".repeat(4096), "token_type": "BEARER", "scope": "  launch   openid fhirUser  user/Practitioner.rs  ",
            "need_patient_banner": "false", "patient": "p1", "custom_vendor_key": {"nested": true}
        }))],
        ..Script::default()
    })
    .await;
    let app = app_with_fake(&fake, "generic", ClientAuth::Public).await;
    let b = Browser::new();
    let q = fake_launch(&app, &b, &fake, "").await;
    let r = deliver(&app, &b, &[("code", "c"), ("state", &q["state"])]).await;
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap_or_default());
    let (page, _) = b.follow(&app.url(r.headers()["location"].to_str().unwrap())).await;
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains("Unknown user") && html.contains("did not confirm your identity"),
        "no id_token → unknown user, with a warning"
    );
    assert!(!html.contains("patient-banner"), "need_patient_banner \"false\" is honoured");
}

#[tokio::test]
async fn ac_t3_granted_scopes_are_recomputed_and_write_scopes_dropped() {
    let fake = FakeEhr::start(Script {
        token_responses: vec![(
            200,
            json!({
                "access_token": "fake", "token_type": "Bearer", "expires_in": 600, "patient": "p1",
                "scope": "launch openid fhirUser patient/Patient.cruds user/Practitioner.rs patient/Encounter.write"
            }),
        )],
        ..Script::default()
    })
    .await;
    let app = app_with_fake(&fake, "generic", ClientAuth::Public).await;
    let b = Browser::new();
    let q = fake_launch(&app, &b, &fake, "").await;
    let r = deliver(&app, &b, &[("code", "c"), ("state", &q["state"])]).await;
    let (page, _) = b.follow(&app.url(r.headers()["location"].to_str().unwrap())).await;
    assert_eq!(page.status(), 200);
    assert!(
        fake.requests().iter().all(|r| !r.path.starts_with("/fhir/Patient")),
        "the dropped write scope is never used, so no Patient read happens"
    );
}

#[tokio::test]
async fn ac_i1_id_tokens_are_verified_and_bad_ones_refused_without_a_session() {
    let app = spawn_app().await;
    for fault in ["bad_signature", "wrong_iss", "wrong_aud", "expired", "wrong_nonce", "alg_none"] {
        let b = Browser::new();
        let (status, url, html) = b
            .launch(&app, &format!("vendor=generic&practitioner=pr-jpike&patient=pat-01&id_token_fault={fault}"))
            .await;
        assert_eq!(status, 401, "{fault}: {url}");
        assert!(url.contains("/callback?"), "{fault}: stopped at the callback, no app page: {url}");
        assert!(html.contains("identity token could not be verified"), "{fault}: {html}");
    }
    // Key rotation: the first id_token signed with a new key triggers one JWKS refetch.
    let b = Browser::new();
    let (status, _, _) = b.launch(&app, "vendor=generic&practitioner=pr-jpike&patient=pat-01").await;
    assert_eq!(status, 200);
    let since = journal_cursor(&app).await;
    let (status, _, html) =
        b.launch(&app, "vendor=generic&practitioner=pr-jpike&patient=pat-01&id_token_fault=rotated_key").await;
    assert_eq!(status, 200, "{html}");
    let entries = journal_all(&app, since).await;
    assert_eq!(auth_count(&entries, "auth:jwks"), 1, "one refetch after the unknown kid");
}

#[tokio::test]
async fn ac_r1_refresh_only_with_a_refresh_token_single_flight_keeping_the_old_one() {
    // The fake issues a 1-second token and a refresh token, then refreshes without a new one.
    let fake = FakeEhr::start(Script {
        token_responses: vec![
            (200, json!({"access_token": "first", "token_type": "Bearer", "expires_in": 1, "refresh_token": "rt-original", "scope": "launch openid fhirUser"})),
            // Long-lived: a page load that starts after the refresh must not need another.
            (200, json!({"access_token": "second", "token_type": "Bearer", "expires_in": 3600, "scope": "launch openid fhirUser"})),
        ],
        ..Script::default()
    })
    .await;
    let app = app_with_fake(&fake, "generic", ClientAuth::Public).await;
    let b = Browser::new();
    let q = fake_launch(&app, &b, &fake, "").await;
    let r = deliver(&app, &b, &[("code", "c"), ("state", &q["state"])]).await;
    let app_url = app.url(r.headers()["location"].to_str().unwrap());
    // Five concurrent page loads with an expiring token: one refresh.
    let loads: Vec<_> = (0..5).map(|_| b.http.get(&app_url).send()).collect();
    for r in futures_util::future::join_all(loads).await {
        assert_eq!(r.unwrap().status(), 200);
    }
    let refreshes: Vec<_> =
        fake.token_requests().into_iter().filter(|t| t.form()["grant_type"] == "refresh_token").collect();
    assert_eq!(refreshes.len(), 1, "single-flight refresh");
    assert_eq!(refreshes[0].form()["refresh_token"], "rt-original");

    // Without a refresh token: a 401 from the EHR leads straight to the relaunch page.
    let app = spawn_app().await;
    let b = Browser::new();
    let since = journal_cursor(&app).await;
    let (status, _, html) =
        b.launch(&app, "vendor=generic&practitioner=pr-jpike&patient=pat-01&auth_error=request_expired_token").await;
    assert_eq!(status, 401);
    assert!(html.contains("session has ended"), "{html}");
    assert_eq!(
        auth_count(&journal_all(&app, since).await, "auth:token"),
        1,
        "no refresh attempted without a refresh token"
    );

    // With a refresh token (offline_access): one refresh, then the relaunch page, no loop.
    let app = spawn_with(|c| tenant_mut(c, "sandbox-generic").offline_access = Some(true)).await;
    let b = Browser::new();
    let since = journal_cursor(&app).await;
    let (status, _, _) =
        b.launch(&app, "vendor=generic&practitioner=pr-jpike&patient=pat-01&auth_error=request_expired_token").await;
    assert_eq!(status, 401);
    assert_eq!(auth_count(&journal_all(&app, since).await, "auth:token"), 2, "code exchange + exactly one refresh");
}

#[tokio::test]
async fn ac_s1_two_launches_in_one_browser_are_isolated() {
    let app = spawn_app().await;
    let b = Browser::new();
    let (_, first_url, first) = b.launch(&app, "vendor=epic&practitioner=pr-jpike&patient=pat-01").await;
    let (_, second_url, second) = b.launch(&app, "vendor=epic&practitioner=pr-jpike&patient=pat-03").await;
    assert_ne!(first_url, second_url, "each launch has its own id in the URL");
    assert!(first.contains("Rosalind Mae Quillfeather") && !first.contains("Imogen Larkspur"));
    assert!(second.contains("Imogen Larkspur") && !second.contains("Rosalind Mae Quillfeather"));
    let again = b.http.get(&first_url).send().await.unwrap().text().await.unwrap();
    assert!(again.contains("Rosalind Mae Quillfeather"), "the second launch replaced nothing of the first");
    // Another browser cannot use the first launch's URL.
    let r = Browser::new().http.get(&first_url).header("accept", "text/html").send().await.unwrap();
    assert_eq!(r.status(), 401);
    // Logout ends one launch only.
    let launch_id = first_url.rsplit('/').next().unwrap();
    let r = b.http.post(app.url(&format!("/app/{launch_id}/logout"))).send().await.unwrap();
    assert!(r.text().await.unwrap().contains("signed out"));
    assert_eq!(b.http.get(&first_url).send().await.unwrap().status(), 401);
    assert_eq!(b.http.get(&second_url).send().await.unwrap().status(), 200);
}

#[tokio::test]
async fn ac_s2_cookie_attributes_framing_and_blocked_cookies() {
    // Loopback HTTP (the cargo-run default): relaxed cookie.
    let app = spawn_with(|c| {
        tenant_mut(c, "sandbox-generic").frame_ancestors = Some(vec!["https://ehr.hospital.example".into()])
    })
    .await;
    let b = Browser::new();
    let r = b
        .http
        .get(app.url("/sandbox/ehr-launch?vendor=generic&practitioner=pr-jpike&patient=pat-01"))
        .send()
        .await
        .unwrap();
    let r = b.http.get(location(&r)).send().await.unwrap();
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie.starts_with("chartdesk_browser=") && cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"),
        "{cookie}"
    );
    assert!(!cookie.contains("Secure"));
    let (page, _) = b.follow(location(&r).as_str()).await;
    let csp = page.headers()["content-security-policy"].to_str().unwrap().to_string();
    assert!(csp.contains("frame-ancestors 'self' https://ehr.hospital.example"), "{csp}");

    // Any other origin: __Host-, Secure, SameSite=None, Partitioned when configured.
    let policy =
        chartdesk::web::launch::CookiePolicy::for_url(&Url::parse("https://chartdesk.hospital.example").unwrap(), true);
    assert_eq!((policy.name, policy.secure, policy.partitioned), ("__Host-chartdesk_browser", true, true));
    let policy =
        chartdesk::web::launch::CookiePolicy::for_url(&Url::parse("http://chartdesk.hospital.example").unwrap(), false);
    assert!(policy.secure, "never relaxed off loopback, even over plain HTTP");

    // Cookies blocked (the callback arrives without it): a clear page, no token request.
    let app = spawn_app().await;
    let b = Browser::new();
    let since = journal_cursor(&app).await;
    let r = b
        .http
        .get(app.url("/sandbox/ehr-launch?vendor=generic&practitioner=pr-jpike&patient=pat-01"))
        .send()
        .await
        .unwrap();
    let r = b.http.get(location(&r)).send().await.unwrap();
    let r = b.http.get(location(&r)).send().await.unwrap();
    let callback = location(&r);
    let cookieless = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let r = cookieless.get(callback).send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("blocked chartdesk"));
    assert_eq!(auth_count(&journal_all(&app, since).await, "auth:token"), 0);
}

#[tokio::test]
async fn ac_s3_tokens_never_reach_the_browser_or_the_database_in_clear() {
    let access = "tokPLAINTEXTaccess7c1d0e55";
    let refresh = "tokPLAINTEXTrefresh93fa21";
    let fake = FakeEhr::start(Script {
        token_responses: vec![(200, json!({"access_token": access, "refresh_token": refresh, "token_type": "Bearer", "expires_in": 600, "scope": "launch openid fhirUser user/Practitioner.rs"}))],
        ..Script::default()
    })
    .await;
    let app = app_with_fake(&fake, "generic", ClientAuth::Public).await;
    let b = Browser::new();
    let q = fake_launch(&app, &b, &fake, "").await;
    let r = deliver(&app, &b, &[("code", "c"), ("state", &q["state"])]).await;
    let mut seen = format!("{:?}{}", r.headers(), r.url());
    let (page, visited) = b.follow(&app.url(r.headers()["location"].to_str().unwrap())).await;
    seen.push_str(&format!("{:?}{visited:?}", page.headers()));
    seen.push_str(&page.text().await.unwrap());
    assert!(!seen.contains(access) && !seen.contains(refresh), "tokens reached the browser");
    let db = std::fs::read(app._data_dir.path().join("chartdesk.db-wal"))
        .unwrap_or_default()
        .into_iter()
        .chain(std::fs::read(app._data_dir.path().join("chartdesk.db")).unwrap())
        .collect::<Vec<u8>>();
    let text = String::from_utf8_lossy(&db);
    assert!(text.contains("session"), "the session is in the database");
    assert!(!text.contains(access) && !text.contains(refresh), "tokens are stored sealed");
}

#[tokio::test]
async fn ac_f1_fhir_requests_are_gets_with_bearer_and_fhir_json() {
    let fake = FakeEhr::start(Script {
        token_responses: vec![(
            200,
            json!({"access_token": "tok-f1", "token_type": "bearer", "expires_in": 600, "patient": "p1",
            "scope": "launch openid fhirUser user/Practitioner.rs user/PractitionerRole.rs patient/Patient.r"}),
        )],
        fhir: HashMap::from([(
            "/Patient/p1".to_string(),
            (200, json!({"resourceType": "Patient", "id": "p1", "name": [{"text": "Test Patient"}]})),
        )]),
        ..Script::default()
    })
    .await;
    let app = app_with_fake(&fake, "generic", ClientAuth::Public).await;
    let b = Browser::new();
    let q = fake_launch(&app, &b, &fake, "").await;
    let r = deliver(&app, &b, &[("code", "c"), ("state", &q["state"])]).await;
    let (page, _) = b.follow(&app.url(r.headers()["location"].to_str().unwrap())).await;
    assert!(page.text().await.unwrap().contains("Test Patient"));
    let fhir: Vec<_> = fake
        .requests()
        .into_iter()
        .filter(|r| r.path.starts_with("/fhir/") && !r.path.contains(".well-known"))
        .collect();
    assert!(!fhir.is_empty());
    for r in fhir {
        assert_eq!(r.method, "GET", "{}", r.path);
        assert_eq!(r.headers["authorization"], "Bearer tok-f1");
        assert_eq!(r.headers["accept"], "application/fhir+json");
    }
}

#[tokio::test]
async fn ac_f2_toolbar_launch_without_a_patient_works_in_user_only_mode() {
    let app = spawn_app().await;
    let b = Browser::new();
    let since = journal_cursor(&app).await;
    let (status, url, html) = b.launch(&app, "vendor=epic&practitioner=pr-lbrandt").await;
    assert_eq!(status, 200, "{url}");
    assert!(html.contains("No patient chart is open") && !html.contains("patient-banner"));
    assert!(h1(&html).starts_with("Lena Brandt"));
    let entries = journal_all(&app, since).await;
    let authorize = entries.iter().find(|e| e["kind"] == "auth:authorize").unwrap();
    assert!(
        !authorize["query"].as_str().unwrap().contains("patient%2F"),
        "no patient scopes from the toolbar launch point"
    );
}

#[tokio::test]
async fn ac_v1_every_vendor_mode_and_client_authentication_end_to_end() {
    let app = spawn_app().await;
    for (query, name, dept) in [
        ("vendor=generic&practitioner=pr-gokafor&patient=pat-02", "Grace Okafor", "4 West Medical-Surgical"),
        ("vendor=epic&practitioner=pr-hmarsh&patient=pat-05", "Dr. Helena Marsh", "Medical Intensive Care Unit"),
        ("vendor=oracle-health&practitioner=pr-sortizvale&patient=pat-06", "Samuel Ortiz-Vale", "Inpatient Pharmacy"),
        ("vendor=meditech&practitioner=pr-planning&patient=pat-08", "Priya Lanning", "ED Room 9 Bed A"),
    ] {
        let (status, url, html) = Browser::new().launch(&app, query).await;
        assert_eq!(status, 200, "{query}: {url}");
        assert!(url.contains("/app/"));
        assert!(h1(&html).starts_with(name), "{query}: {}", h1(&html));
        assert!(html.contains(dept), "{query}: department {dept}");
        assert!(html.contains("patient-banner"));
    }
    // ES384 client assertions with the Epic tenant.
    let app = spawn_with(|c| tenant_mut(c, "sandbox-epic").signing_alg = Some(SigningAlg::ES384)).await;
    let (status, _, html) = Browser::new().launch(&app, "vendor=epic&practitioner=pr-jpike&patient=pat-01").await;
    assert_eq!(status, 200);
    assert!(h1(&html).starts_with("Jordan Pike"));
}

#[tokio::test]
async fn every_injected_launcher_error_ends_on_a_clear_page() {
    let app = spawn_with(|c| tenant_mut(c, "sandbox-generic").offline_access = Some(true)).await;
    for (inject, status, text) in [
        ("auth_invalid_client_id", 400, "invalid_client"),
        ("auth_invalid_redirect_uri", 400, "invalid_request"),
        ("auth_invalid_scope", 400, "invalid_scope"),
        ("auth_invalid_client_secret", 401, "did not complete the sign-in"),
        ("token_invalid_token", 401, "did not complete the sign-in"),
        ("token_expired_registration_token", 401, "did not complete the sign-in"),
        ("token_invalid_scope", 401, "did not complete the sign-in"),
        ("token_invalid_jti", 401, "did not complete the sign-in"),
        ("request_invalid_token", 401, "session has ended"),
        ("request_expired_token", 401, "session has ended"),
    ] {
        let (s, url, html) = Browser::new()
            .launch(&app, &format!("vendor=generic&practitioner=pr-jpike&patient=pat-01&auth_error={inject}"))
            .await;
        assert_eq!(s, status, "{inject}: {url}");
        assert!(html.contains(text), "{inject}: {html}");
        assert!(!url.contains("/app/") || status == 401, "{inject}");
    }
    // The expired refresh token: a short-lived access token forces a refresh, which is refused.
    let app = spawn_with(|c| {
        tenant_mut(c, "sandbox-generic").offline_access = Some(true);
        c.sandbox.token_lifetime_secs = 1;
    })
    .await;
    let (s, _, html) = Browser::new()
        .launch(&app, "vendor=generic&practitioner=pr-jpike&patient=pat-01&auth_error=token_expired_refresh_token")
        .await;
    assert_eq!(s, 401);
    assert!(html.contains("did not complete the sign-in") || html.contains("session has ended"), "{html}");
}

#[tokio::test]
async fn pkce_verifier_mismatch_is_refused_without_a_session() {
    let app = spawn_app().await;
    let b = Browser::new();
    let mut callbacks = Vec::new();
    for _ in 0..2 {
        let r = b
            .http
            .get(app.url("/sandbox/ehr-launch?vendor=generic&practitioner=pr-jpike&patient=pat-01"))
            .send()
            .await
            .unwrap();
        let r = b.http.get(location(&r)).send().await.unwrap();
        let r = b.http.get(location(&r)).send().await.unwrap();
        callbacks.push(query_map(&location(&r)));
    }
    // Launch A's state with launch B's code: the verifier does not match B's challenge.
    let r = deliver(&app, &b, &[("state", &callbacks[0]["state"]), ("code", &callbacks[1]["code"])]).await;
    assert_eq!(r.status(), 401);
    assert!(r.headers().get("location").is_none());
    assert!(r.text().await.unwrap().contains("did not complete the sign-in"));
}

#[tokio::test]
async fn sessions_end_after_the_idle_timeout() {
    let app = spawn_with(|c| c.sessions.idle_timeout_secs = 1).await;
    let b = Browser::new();
    let (status, url, _) = b.launch(&app, "vendor=generic&practitioner=pr-jpike&patient=pat-01").await;
    assert_eq!(status, 200);
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let r = b.http.get(&url).header("accept", "text/html").send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.text().await.unwrap().contains("session has ended"));
}

#[tokio::test]
async fn standalone_launch_with_patient_picker_for_each_client_authentication() {
    let app = spawn_app().await;
    // public (generic, meditech), private_key_jwt (epic), client_secret_basic (oracle-health)
    for (tenant, sandbox, user, patient, name, shown) in [
        ("sandbox-generic", "generic", "pr-dcorr", "pat-07", "Dmitri Corr", "Winifred Ashcombe"),
        ("sandbox-epic", "epic", "pr-awhitfield", "pat-09", "Dr. Ana Whitfield", "Juniper Okonkwo-Reyes"),
        ("sandbox-oracle-health", "oracle-health", "pr-bhale", "pat-13", "Bernadette Hale", "Saoirse Delacourt"),
        ("sandbox-meditech", "meditech", "pr-tfenn", "pat-12", "Dr. Tobias Fenn", "Percival Greenhalgh"),
    ] {
        let b = Browser::new();
        let r = b.http.get(app.url(&format!("/launch/standalone?tenant={tenant}"))).send().await.unwrap();
        assert_eq!(r.status(), 302, "{tenant}");
        let q = query_map(&location(&r));
        assert!(q["scope"].split(' ').any(|s| s == "launch/patient") && !q.contains_key("launch"), "{tenant}");
        // The sandbox EHR's sign-in form, submitted.
        let mut form: Vec<(String, String)> = q.into_iter().collect();
        form.push(("sandbox_user".into(), user.into()));
        form.push(("sandbox_patient".into(), patient.into()));
        let r = b.http.post(app.tenant(sandbox).authorize()).form(&form).send().await.unwrap();
        assert_eq!(r.status(), 302, "{tenant}");
        let (page, _) = b.follow(location(&r).as_str()).await;
        assert_eq!(page.status(), 200, "{tenant}");
        let html = page.text().await.unwrap();
        assert!(h1(&html).starts_with(name) && html.contains(shown), "{tenant}: {html}");
    }
    let r = Browser::new().http.get(app.url("/launch/standalone?tenant=nope")).send().await.unwrap();
    assert_eq!(r.status(), 400);
}
