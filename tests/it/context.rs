//! Login and chart context under ABAC ∩ SMART scopes: `/api/context`, the one-round-trip
//! chart fetch, patients outside the launch, degraded EHRs, the route × role matrix and
//! policy administration by clinical informatics.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{Value, json};

use crate::fake_ehr::{FakeEhr, Raw, Script};
use crate::helpers::*;

/// A browser and the launch id of a completed sandbox launch.
pub async fn launch_as(app: &TestApp, query: &str) -> (Browser, String) {
    let b = Browser::new();
    let (status, url, body) = b.launch(app, query).await;
    assert_eq!(status, 200, "{query}: {body}");
    let id = url.rsplit('/').next().unwrap().to_string();
    (b, id)
}

pub async fn api(app: &TestApp, b: &Browser, launch: &str, path: &str) -> (u16, Value) {
    let r = b.http.get(app.url(path)).header("x-chartdesk-launch", launch).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

pub async fn api_post(app: &TestApp, b: &Browser, launch: &str, path: &str, body: &str) -> (u16, Value) {
    let r = b
        .http
        .post(app.url(path))
        .header("x-chartdesk-launch", launch)
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

/// FHIR requests chartdesk's clients sent for chart context (not discovery, not tokens).
fn chart_requests(entries: &[Value]) -> Vec<&Value> {
    entries
        .iter()
        .filter(|e| matches!(e["kind"].as_str(), Some("read" | "search" | "batch")))
        .filter(|e| e["client_id"].as_str().is_some_and(|c| c.starts_with("chartdesk-")))
        .collect()
}

#[tokio::test]
async fn the_context_api_shows_each_field_only_if_policy_allows_it() {
    let app = spawn_app().await;
    let (b, launch) = launch_as(&app, "vendor=generic&practitioner=pr-jpike&patient=pat-01").await;
    let (status, v) = api(&app, &b, &launch, "/api/context").await;
    assert_eq!(status, 200, "{v}");
    insta::assert_json_snapshot!("context_nurse_it_support", v, {
        ".launch.id" => "[launch]",
        ".token.issuedAt" => "[time]",
        ".token.expiresAt" => "[time]",
    });
    assert_eq!(v["user"]["fhirUser"], "Practitioner/pr-jpike");
    assert_eq!(v["user"]["roles"], json!(["nurse"]));
    assert_eq!(v["user"]["roleSource"], "PractitionerRole");
    assert_eq!(v["lastLogin"]["source"], "ehr-audit-event", "the sandbox offers AuditEvent search");
    assert!(v["patient"]["name"].is_string() && v["patient"].get("identifiers").is_none(), "{v}");
    assert!(v["encounter"]["reference"].as_str().unwrap().starts_with("Encounter/"));

    // The same nurse asking for a clinical handoff purpose: the policy grants nurses nothing there.
    let (_, v) = api(&app, &b, &launch, "/api/context?purpose=clinical-handoff").await;
    assert!(v.get("patient").is_none() && v.get("encounter").is_none() && v["patientInContext"] == true, "{v}");
    let (status, v) = api(&app, &b, &launch, "/api/context?purpose=curiosity").await;
    assert_eq!((status, v["error"]["code"].as_str()), (400, Some("invalid_parameter")));

    // A nursing supervisor receiving a handoff sees the MRN; an IT analyst sees no patient data.
    let (b2, l2) = launch_as(&app, "vendor=generic&practitioner=pr-gokafor&patient=pat-01").await;
    let (_, v) = api(&app, &b2, &l2, "/api/context?purpose=clinical-handoff").await;
    assert!(v["patient"]["identifiers"][0]["value"].is_string(), "{v}");
    let (b3, l3) = launch_as(&app, "vendor=generic&practitioner=pr-mwebb&patient=pat-01").await;
    let (_, v) = api(&app, &b3, &l3, "/api/context").await;
    assert_eq!(v["user"]["roles"], json!(["it-analyst"]));
    assert!(v.get("patient").is_none() && v.get("encounter").is_none(), "{v}");
    let text = v.to_string();
    let (_, nurse_view) = api(&app, &b, &launch, "/api/context").await;
    let name = nurse_view["patient"]["name"].as_str().unwrap();
    assert!(!text.contains(name), "the IT analyst's context never carries the patient's name");

    // Epic mode: department from the token's loginDepartment; last login from chartdesk's record.
    let (b4, l4) = launch_as(&app, "vendor=epic&practitioner=pr-jpike&patient=pat-01").await;
    let (_, v) = api(&app, &b4, &l4, "/api/context").await;
    assert_eq!(v["user"]["department"]["source"], "token:loginDepartment", "{v}");
    assert!(v.get("lastLogin").is_none(), "first chartdesk launch on this tenant: nothing before it");
    let (b5, l5) = launch_as(&app, "vendor=epic&practitioner=pr-jpike&patient=pat-01").await;
    tokio::time::sleep(Duration::from_millis(10)).await;
    let (_, v) = api(&app, &b5, &l5, "/api/context").await;
    // Launches within the same second are not "before" each other; allow either.
    if let Some(l) = v.get("lastLogin") {
        assert_eq!(l["source"], "chartdesk");
    }

    // The OpenAPI description documents the endpoint and its schema.
    let doc: Value = app.get("/api/openapi.json").await.json().await.unwrap();
    assert!(doc["paths"]["/api/context"]["get"].is_object(), "{doc}");
    assert!(doc["components"]["schemas"]["ContextView"].is_object());
    // The clinician page shows the same context.
    let page = b.http.get(app.url(&format!("/app/{launch}"))).send().await.unwrap().text().await.unwrap();
    assert!(page.contains(name) && page.contains("Last login"), "{page}");
}

#[tokio::test]
async fn one_launch_and_twenty_page_views_cost_one_fhir_request_for_chart_context() {
    let app = spawn_app().await;
    for vendor in ["generic", "epic", "oracle-health", "meditech"] {
        let since = journal_cursor(&app).await;
        let (b, launch) = launch_as(&app, &format!("vendor={vendor}&practitioner=pr-jpike&patient=pat-01")).await;
        for i in 0..20 {
            let r = if i % 2 == 0 {
                b.http.get(app.url(&format!("/app/{launch}"))).send().await.unwrap()
            } else {
                b.http.get(app.url("/api/context")).header("x-chartdesk-launch", &launch).send().await.unwrap()
            };
            assert_eq!(r.status(), 200);
        }
        let entries = journal_all(&app, since).await;
        let chart = chart_requests(&entries);
        assert_eq!(chart.len(), 1, "{vendor}: {chart:#?}");
        assert_eq!(chart[0]["kind"], "batch", "{vendor}: the sandbox offers batch");
        assert_eq!(chart[0]["status"], 200);
        // Every request chartdesk sent is a GET, or that one batch of GETs.
        for e in entries.iter().filter(|e| !e["kind"].as_str().unwrap_or("").starts_with("auth:")) {
            assert!(e["method"] == "GET" || e["kind"] == "batch", "{e}");
        }
    }
}

#[tokio::test]
async fn a_patient_outside_the_launch_context_is_refused_and_recorded() {
    let app = spawn_app().await;
    let (b, launch) = launch_as(&app, "vendor=generic&practitioner=pr-hmarsh&patient=pat-01").await;
    let since = journal_cursor(&app).await;
    let (status, v) = api(&app, &b, &launch, "/api/patients/pat-01").await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["reference"], "Patient/pat-01");
    for other in ["pat-02", "pat-03", "..%2FPatient%2Fpat-02"] {
        let (status, v) = api(&app, &b, &launch, &format!("/api/patients/{other}")).await;
        assert_eq!((status, v["error"]["code"].as_str()), (403, Some("patient_outside_context")), "{other}");
    }
    assert!(chart_requests(&journal_all(&app, since).await).is_empty(), "no EHR request for any of it");
    // A toolbar launch has no patient at all.
    let (b2, l2) = launch_as(&app, "vendor=generic&practitioner=pr-hmarsh").await;
    let (status, _) = api(&app, &b2, &l2, "/api/patients/pat-01").await;
    assert_eq!(status, 403);

    // The refusals are in the audit trail, naming the patient asked for.
    let (bc, lc) = launch_as(&app, "vendor=generic&practitioner=pr-kvoss").await;
    let (_, bundle) = api(&app, &bc, &lc, "/api/audit?since=2020-01-01").await;
    let refusals: Vec<&Value> = bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["resource"])
        .filter(|r| r["outcomeDesc"] == "patient_outside_context")
        .collect();
    assert_eq!(refusals.len(), 4, "{bundle}");
    assert!(refusals.iter().any(|r| r.to_string().contains("Patient/pat-02")));
}

#[tokio::test]
async fn every_route_for_every_role() {
    let app = spawn_app().await;
    let users = [
        ("physician", "pr-hmarsh"),
        ("nurse", "pr-jpike"),
        ("nursing-supervisor", "pr-gokafor"),
        ("clinical-informatics", "pr-lbrandt"),
        ("it-analyst", "pr-mwebb"),
    ];
    let draft = serde_json::to_string(&json!({ "document": chartdesk::policy::default_document() })).unwrap();
    // (method, path, body) — `{L}` is the launch id.
    let routes: Vec<(&str, &str, &str)> = vec![
        ("GET", "/app/{L}", ""),
        ("GET", "/api/context", ""),
        ("GET", "/api/context?purpose=clinical-handoff", ""),
        ("GET", "/api/patients/pat-01", ""),
        ("GET", "/api/audit", ""),
        ("GET", "/admin/policy?launch={L}", ""),
        ("GET", "/api/admin/policy", ""),
        ("POST", "/api/admin/policy/drafts", &draft),
        ("GET", "/api/admin/policy/versions/0", ""),
        ("POST", "/api/admin/policy/drafts/no-such-draft/activate", ""),
        ("GET", "/api/openapi.json", ""),
        ("POST", "/api/messages", r#"{"text": "the label printer on my unit is jammed again"}"#),
        ("GET", "/supervisor?launch={L}", ""),
        ("GET", "/api/handoffs", ""),
        ("POST", "/api/handoffs/no-such-handoff/acknowledge", ""),
        ("GET", "/api/admin/desk/dead-letters", ""),
        ("POST", "/api/admin/desk/dead-letters/no-such-ticket/retry", ""),
    ];
    let expect = |role: &str, route: usize| -> u16 {
        let admin = role == "clinical-informatics";
        let inbox = matches!(role, "nursing-supervisor" | "physician" | "clinical-informatics");
        match route {
            0..=2 => 200,
            3 => {
                if role == "it-analyst" {
                    403
                } else {
                    200
                }
            }
            4 => {
                if admin {
                    200
                } else {
                    403
                }
            }
            5 | 6 | 8 => {
                if admin {
                    200
                } else {
                    403
                }
            }
            7 => {
                if admin {
                    201
                } else {
                    403
                }
            }
            9 => {
                if admin {
                    404
                } else {
                    403
                }
            }
            10 => 200,
            11 => 201,
            12 | 13 => {
                if inbox {
                    200
                } else {
                    403
                }
            }
            14 => {
                if inbox {
                    404
                } else {
                    403
                }
            }
            15 => {
                if admin {
                    200
                } else {
                    403
                }
            }
            16 => {
                if admin {
                    404
                } else {
                    403
                }
            }
            _ => unreachable!(),
        }
    };
    let send = |b: &Browser, launch: Option<&str>, method: &str, path: &str, body: &str| {
        let path = path.replace("{L}", launch.unwrap_or("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"));
        let mut r = match method {
            "GET" => b.http.get(app.url(&path)),
            _ => b.http.post(app.url(&path)).header("content-type", "application/json").body(body.to_string()),
        };
        if let Some(l) = launch {
            r = r.header("x-chartdesk-launch", l);
        }
        r.send()
    };
    let mut checked = 0;
    for (role, practitioner) in users {
        let (b, launch) = launch_as(&app, &format!("vendor=generic&practitioner={practitioner}&patient=pat-01")).await;
        for (i, (method, path, body)) in routes.iter().enumerate() {
            let got = send(&b, Some(&launch), method, path, body).await.unwrap().status().as_u16();
            assert_eq!(got, expect(role, i), "{role} {method} {path}");
            checked += 1;
        }
        let r = b.http.post(app.url(&format!("/app/{launch}/logout"))).send().await.unwrap();
        assert_eq!(r.status(), 200, "{role} logout");
    }
    // Anonymous: no launch, or a launch id that is not a session.
    let anon = Browser::new();
    for (method, path, body) in &routes {
        let want = if path.starts_with("/api/openapi") { 200 } else { 401 };
        for launch in [None, Some("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")] {
            let got = send(&anon, launch, method, path, body).await.unwrap().status().as_u16();
            assert_eq!(got, want, "anonymous {launch:?} {method} {path}");
            checked += 1;
        }
    }
    // An expired session (idle timeout), in a server with a one-second idle timeout.
    let short = spawn_with(|c| c.sessions.idle_timeout_secs = 1).await;
    let (b, launch) = launch_as(&short, "vendor=generic&practitioner=pr-lbrandt&patient=pat-01").await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    for (method, path, body) in &routes {
        let path = path.replace("{L}", &launch);
        let mut r = match *method {
            "GET" => b.http.get(short.url(&path)),
            _ => b.http.post(short.url(&path)).header("content-type", "application/json").body(body.to_string()),
        };
        r = r.header("x-chartdesk-launch", &launch);
        let resp = r.send().await.unwrap();
        let want = if path.starts_with("/api/openapi") { 200 } else { 401 };
        assert_eq!(resp.status().as_u16(), want, "expired {method} {path}");
        checked += 1;
    }
    // A POST naming its launch only in the query (as a cross-site form could) is not accepted.
    let (b, launch) = launch_as(&app, "vendor=generic&practitioner=pr-lbrandt&patient=pat-01").await;
    let r = b
        .http
        .post(app.url(&format!("/api/admin/policy/drafts?launch={launch}")))
        .header("content-type", "application/json")
        .body(draft.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(checked >= 5 * 17 + 34 + 17, "{checked}");
}

pub fn fake_tenant(fake: &FakeEhr) -> chartdesk::config::TenantConfig {
    chartdesk::config::TenantConfig {
        id: "fake".into(),
        issuer: fake.fhir.clone(),
        vendor: "generic".into(),
        client_id: "fake-client".into(),
        client_auth: chartdesk::config::ClientAuth::Public,
        client_secret: None,
        signing_alg: None,
        redirect_uri: "/callback".into(),
        scope_style: None,
        authorize_method: None,
        extra_headers: None,
        frame_ancestors: None,
        user_scopes: None,
        patient_scopes: None,
        launch_location: None,
        offline_access: None,
        online_access: None,
    }
}

/// Launch against a fake EHR whose FHIR answers are `raw`; returns the page and the context.
async fn degraded(raw: HashMap<String, Raw>, scope: &str) -> (FakeEhr, u16, String, Value) {
    let id_free_token = json!({"access_token": "a", "token_type": "Bearer", "expires_in": 600, "patient": "p1",
        "encounter": "e1", "loginDepartment": "loc1", "need_patient_banner": true, "scope": scope});
    let fake =
        FakeEhr::start(Script { token_responses: vec![(200, id_free_token)], fhir_raw: raw, ..Script::default() })
            .await;
    let t = fake_tenant(&fake);
    let app = spawn_with(move |c| c.tenants.push(t)).await;
    let b = Browser::new();
    let r = b.http.get(app.url(&format!("/launch?iss={}&launch=l", fake.fhir))).send().await.unwrap();
    let state = query_map(&location(&r))["state"].clone();
    let r = b.http.get(app.url(&format!("/callback?code=c&state={state}"))).send().await.unwrap();
    let app_path = r.headers()["location"].to_str().unwrap().to_string();
    let page = b.http.get(app.url(&app_path)).send().await.unwrap();
    let status = page.status().as_u16();
    let html = page.text().await.unwrap();
    let launch = app_path.rsplit('/').next().unwrap();
    let (_, ctx) = api(&app, &b, launch, "/api/context").await;
    (fake, status, html, ctx)
}

fn raw(status: u16, body: &str) -> Raw {
    Raw { status, body: body.to_string(), ..Raw::default() }
}

#[tokio::test]
async fn a_degraded_ehr_degrades_the_page_never_a_500() {
    let scope = "launch patient/Patient.r patient/Encounter.r user/Location.r";
    let patient =
        r#"{"resourceType": "Patient", "id": "p1", "name": [{"text": "Della Graded"}], "birthDate": "1970-01-01"}"#;
    let big = format!(
        r#"{{"resourceType": "Patient", "id": "p1", "name": [{{"text": "{}"}}]}}"#,
        "x".repeat(3 * 1024 * 1024)
    );
    let cases: Vec<(&str, Raw, &str)> = vec![
        ("403", raw(403, r#"{"resourceType": "OperationOutcome"}"#), "denied access (403)"),
        ("404", raw(404, r#"{"resourceType": "OperationOutcome"}"#), "not found"),
        ("500", raw(500, "oops"), "failed (HTTP 500)"),
        ("503", raw(503, ""), "failed (HTTP 503)"),
        ("malformed", raw(200, r#"{"resourceType": "Patient", "id": "p1", "name": [{"text": "#), "not valid FHIR JSON"),
        ("not an object", raw(200, "[1, 2, 3]"), "not valid FHIR JSON"),
        ("oversized", raw(200, &big), "larger than"),
        ("wrong type", raw(200, r#"{"resourceType": "Observation", "id": "p1"}"#), "expected Patient"),
        ("wrong id", raw(200, r#"{"resourceType": "Patient", "id": "p2"}"#), "another id"),
        (
            "429",
            Raw {
                status: 429,
                body: String::new(),
                headers: vec![("retry-after".into(), "120".into())],
                ..Raw::default()
            },
            "slow down",
        ),
        (
            "timeout",
            Raw { status: 200, body: patient.into(), delay: Duration::from_secs(11), ..Raw::default() },
            "did not answer in time",
        ),
    ];
    for (label, answer, reason) in cases {
        let fhir = HashMap::from([
            ("/Patient/p1".to_string(), answer),
            (
                "/Encounter/e1".to_string(),
                raw(
                    200,
                    r#"{"resourceType": "Encounter", "id": "e1", "status": "in-progress", "futureElement": {"x": 1}, "class": {"code": "IMP"}}"#,
                ),
            ),
            (
                "/Location/loc1".to_string(),
                raw(200, r#"{"resourceType": "Location", "id": "loc1", "name": "4 West", "unknownThing": [1]}"#),
            ),
        ]);
        let (fake, status, html, ctx) = degraded(fhir, scope).await;
        assert_eq!(status, 200, "{label}: {html}");
        assert!(html.contains("Chart context unavailable") && html.contains(reason), "{label}: {html}");
        let reasons = ctx["unavailable"].to_string();
        assert!(reasons.contains("patient details") && reasons.contains(reason), "{label}: {ctx}");
        assert!(ctx.get("patient").is_none(), "{label}");
        // The other parts still arrived, unknown elements dropped by the local projection.
        assert_eq!(ctx["encounter"]["status"], "in-progress", "{label}: {ctx}");
        assert_eq!(ctx["user"]["department"]["name"], "4 West", "{label}");
        assert!(!ctx.to_string().contains("futureElement") && !ctx.to_string().contains("unknownThing"));
        // No batch at a server whose CapabilityStatement does not offer it: concurrent GETs.
        assert_eq!(fake.count("/fhir/Patient/p1"), 1, "{label}");
        assert!(fake.requests().iter().all(|r| r.method == "GET" || r.path == "/oauth/token"), "{label}");
    }
}

#[tokio::test]
async fn after_a_429_the_tenant_is_backed_off_and_passing_failures_are_retried() {
    let scope = "launch patient/Patient.r";
    let answer =
        Raw { status: 429, body: String::new(), headers: vec![("retry-after".into(), "2".into())], ..Raw::default() };
    let token =
        json!({"access_token": "a", "token_type": "Bearer", "expires_in": 600, "patient": "p1", "scope": scope});
    let fake = FakeEhr::start(Script {
        token_responses: vec![(200, token)],
        fhir_raw: HashMap::from([("/Patient/p1".to_string(), answer)]),
        ..Script::default()
    })
    .await;
    let t = fake_tenant(&fake);
    let app = spawn_with(move |c| c.tenants.push(t)).await;
    let b = Browser::new();
    let r = b.http.get(app.url(&format!("/launch?iss={}&launch=l", fake.fhir))).send().await.unwrap();
    let state = query_map(&location(&r))["state"].clone();
    let r = b.http.get(app.url(&format!("/callback?code=c&state={state}"))).send().await.unwrap();
    let launch = r.headers()["location"].to_str().unwrap().rsplit('/').next().unwrap().to_string();
    for _ in 0..5 {
        let (status, ctx) = api(&app, &b, &launch, "/api/context").await;
        assert_eq!(status, 200);
        assert!(ctx["unavailable"].to_string().contains("slow down"), "{ctx}");
    }
    assert_eq!(fake.count("/fhir/Patient/p1"), 1, "backed off: no request while Retry-After runs");
    tokio::time::sleep(Duration::from_millis(2600)).await;
    let (status, _) = api(&app, &b, &launch, "/api/context").await;
    assert_eq!(status, 200);
    assert_eq!(fake.count("/fhir/Patient/p1"), 2, "retried once the back-off ended");
}

#[tokio::test]
async fn clinical_informatics_drafts_previews_approves_activates_and_rolls_back() {
    let app = spawn_app().await;
    let (b1, l1) = launch_as(&app, "vendor=generic&practitioner=pr-lbrandt&patient=pat-01").await;
    let (b2, l2) = launch_as(&app, "vendor=generic&practitioner=pr-rcastellano&patient=pat-01").await;
    let (bit, lit) = launch_as(&app, "vendor=generic&practitioner=pr-mwebb&patient=pat-01").await;
    let (_, overview) = api(&app, &b1, &l1, "/api/admin/policy").await;
    assert_eq!(overview["active"]["version"], 0);
    let doc = overview["active"]["document"].clone();

    // Bad input is named; nothing is saved.
    let (s, v) = api_post(&app, &b1, &l1, "/api/admin/policy/drafts", "{not json").await;
    assert_eq!((s, v["error"]["code"].as_str()), (400, Some("invalid_json")));
    let mut bad = doc.clone();
    bad["access"][0]["role"] = json!("janitor");
    let (s, v) = api_post(&app, &b1, &l1, "/api/admin/policy/drafts", &json!({ "document": bad }).to_string()).await;
    assert_eq!((s, v["error"]["code"].as_str()), (422, Some("policy_invalid")));
    assert!(v["error"]["detail"].as_str().unwrap().contains("janitor"), "{v}");
    let mut bad = doc.clone();
    bad["access"][0]["groups"] = json!(["demographics", "medications"]);
    let (s, v) = api_post(&app, &b1, &l1, "/api/admin/policy/drafts", &json!({ "document": bad }).to_string()).await;
    assert_eq!(s, 400, "{v}");
    assert!(v["error"]["detail"].as_str().unwrap().contains("medications"), "{v}");
    let mut write = doc.clone();
    write["tenants"] =
        json!([{ "tenant": "sandbox-generic", "patient_scopes": ["patient/Patient.rs", "patient/Encounter.cruds"] }]);
    let (s, v) = api_post(&app, &b1, &l1, "/api/admin/policy/drafts", &json!({ "document": write }).to_string()).await;
    assert_eq!((s, v["error"]["code"].as_str()), (422, Some("policy_invalid")), "a write can never be configured");
    assert!(v["error"]["detail"].as_str().unwrap().contains("write"), "{v}");
    let mut clinical = doc.clone();
    clinical["access"][0]["groups"] = json!(["clinical"]);
    let (s, _) =
        api_post(&app, &b1, &l1, "/api/admin/policy/drafts", &json!({ "document": clinical }).to_string()).await;
    assert_eq!(s, 422);
    let (_, overview) = api(&app, &b1, &l1, "/api/admin/policy").await;
    assert_eq!(overview["drafts"].as_array().unwrap().len(), 0, "nothing partial was saved");

    // A widening draft: IT analysts may see demographics for IT support.
    let mut wide = doc.clone();
    wide["access"]
        .as_array_mut()
        .unwrap()
        .push(json!({ "role": "it-analyst", "purpose": "it-support", "groups": ["demographics"] }));
    let (s, draft) =
        api_post(&app, &b1, &l1, "/api/admin/policy/drafts", &json!({ "document": wide }).to_string()).await;
    assert_eq!(s, 201, "{draft}");
    assert_eq!(draft["widens"], true);
    assert_eq!(draft["diff"]["added"], json!(["it-analyst may read demographics for it-support"]));
    assert!(draft["warnings"][0].as_str().unwrap().contains("second clinical-informatics user"));
    let id = draft["id"].as_str().unwrap().to_string();

    // Preview: what would an IT analyst see for the patient in context.
    let (s, p) = api_post(
        &app,
        &b1,
        &l1,
        &format!("/api/admin/policy/drafts/{id}/preview"),
        r#"{"role": "it-analyst", "purpose": "it-support"}"#,
    )
    .await;
    assert_eq!(s, 200, "{p}");
    assert!(p["context"]["patient"]["name"].is_string(), "{p}");
    assert!(p["groups"].to_string().contains("access:it-analyst:it-support"));
    let (s, p) =
        api_post(&app, &b1, &l1, &format!("/api/admin/policy/drafts/{id}/preview"), r#"{"role": "janitor"}"#).await;
    assert_eq!((s, p["error"]["code"].as_str()), (422, Some("policy_invalid")));

    // Not yet: a widening change needs a second informatics user, and not its author.
    let (s, v) = api_post(&app, &b1, &l1, &format!("/api/admin/policy/drafts/{id}/activate"), "").await;
    assert_eq!((s, v["error"]["code"].as_str()), (409, Some("approval_required")));
    let (s, _) = api_post(&app, &b1, &l1, &format!("/api/admin/policy/drafts/{id}/approve"), "").await;
    assert_eq!(s, 403, "the author cannot approve");
    let (s, _) = api_post(&app, &bit, &lit, &format!("/api/admin/policy/drafts/{id}/approve"), "").await;
    assert_eq!(s, 403, "an IT analyst cannot approve");
    let (_, before) = api(&app, &bit, &lit, "/api/context").await;
    assert!(before.get("patient").is_none());
    let (s, v) = api_post(&app, &b2, &l2, &format!("/api/admin/policy/drafts/{id}/approve"), "").await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["approved_by"], "Practitioner/pr-rcastellano");
    let (s, v) = api_post(&app, &b1, &l1, &format!("/api/admin/policy/drafts/{id}/activate"), "").await;
    assert_eq!(s, 200, "{v}");
    assert_eq!((v["version"].as_i64(), v["approved_by"].as_str()), (Some(1), Some("Practitioner/pr-rcastellano")));
    let (s, _) = api_post(&app, &b1, &l1, &format!("/api/admin/policy/drafts/{id}/activate"), "").await;
    assert_eq!(s, 409, "a draft activates once");

    // The new version applies to the IT analyst's next request (no relaunch, no EHR request).
    let since = journal_cursor(&app).await;
    let (_, after) = api(&app, &bit, &lit, "/api/context").await;
    assert_eq!(after["policyVersion"], 1);
    assert!(after["patient"]["name"].is_string(), "{after}");
    assert!(chart_requests(&journal_all(&app, since).await).is_empty());

    // Roll back to the default: narrowing, so it is activated at once as version 2.
    let (s, v) = api_post(&app, &b1, &l1, "/api/admin/policy/versions/0/rollback", "").await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["activated"]["version"], 2);
    assert_eq!(v["activated"]["diff"]["removed"], json!(["it-analyst may read demographics for it-support"]));
    let (_, again) = api(&app, &bit, &lit, "/api/context").await;
    assert!(again.get("patient").is_none() && again["policyVersion"] == 2, "{again}");
    // Rolling forward to version 1 widens again: a draft waiting for approval (202).
    let (s, v) = api_post(&app, &b1, &l1, "/api/admin/policy/versions/1/rollback", "").await;
    assert_eq!(s, 202, "{v}");
    assert!(v["activated"].is_null() && v["draft"]["widens"] == true);

    // Versions survive a restart of the service: they are read back from the database.
    let versions: Vec<i64> = app.store.policy_versions().await.unwrap().iter().map(|v| v.version).collect();
    assert_eq!(versions, [1, 2]);

    // The admin page lists versions and drafts; an IT analyst is refused it.
    let page =
        b1.http.get(app.url(&format!("/admin/policy?launch={l1}"))).header("accept", "text/html").send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(html.contains("Access policy, version 2") && html.contains("it-analyst may read demographics"), "{html}");
    let page = bit
        .http
        .get(app.url(&format!("/admin/policy?launch={lit}")))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 403);
    assert!(page.text().await.unwrap().contains("<html"), "a friendly page in the browser");

    // Every change is in the audit trail.
    let (bc, lc) = launch_as(&app, "vendor=generic&practitioner=pr-kvoss").await;
    let (_, bundle) = api(&app, &bc, &lc, "/api/audit?since=2020-01-01").await;
    let reasons: Vec<String> = bundle["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["resource"])
        .filter(|r| r["type"]["code"] == "policy-change" || r.to_string().contains("policy-"))
        .filter_map(|r| r["outcomeDesc"].as_str().map(String::from))
        .collect();
    for want in [
        "policy_invalid",
        "draft_created",
        "approval_required",
        "self_approval_refused",
        "draft_approved",
        "activated_widening_approved",
        "activated",
    ] {
        assert!(reasons.iter().any(|r| r == want), "{want} in {reasons:?}");
    }
}
