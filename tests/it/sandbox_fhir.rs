//! The sandbox EHR's FHIR API and pages: scope enforcement, search, batch, 405 on writes,
//! the journal, the launch page and its quick links.

use serde_json::{Value, json};

use crate::helpers::*;

async fn token_with(app: &TestApp, scope: &str, query: &str) -> String {
    let t = app.tenant("generic");
    let body = public_launch(app, &t, "test-public", query, scope).await;
    body["access_token"].as_str().unwrap().to_string()
}

fn ids(bundle: &Value) -> Vec<String> {
    bundle["entry"]
        .as_array()
        .map(|e| e.iter().map(|x| x["resource"]["id"].as_str().unwrap().to_string()).collect())
        .unwrap_or_default()
}

#[tokio::test]
async fn scopes_are_enforced_on_reads_and_searches() {
    let app = spawn_app().await;
    let t = app.tenant("generic");
    let q = "practitioner=pr-jpike&patient=pat-01";

    // v2 patient scopes: only the launch patient's compartment.
    let tok = token_with(&app, "launch patient/Patient.rs patient/Encounter.rs", q).await;
    assert_eq!(fhir_get(&app, &t, &tok, "/Patient/pat-01").await.0, 200);
    let (s, oo) = fhir_get(&app, &t, &tok, "/Patient/pat-02").await;
    assert_eq!(s, 403);
    assert_eq!(oo["issue"][0]["code"], "forbidden");
    assert_eq!(fhir_get(&app, &t, &tok, "/Practitioner/pr-jpike").await.0, 403, "no user/ scope for Practitioner");
    let (s, b) = fhir_get(&app, &t, &tok, "/Encounter").await;
    assert_eq!(s, 200);
    assert_eq!(ids(&b), ["enc-01-a", "enc-01-b"], "search is filtered to the compartment");
    let (_, b) = fhir_get(&app, &t, &tok, "/Encounter?patient=pat-02").await;
    assert_eq!(b["total"], 0);
    assert_eq!(fhir_get(&app, &t, &tok, "/Patient/no-such-patient").await.0, 404);

    // `.r` without `s`: read yes, search no.
    let tok = token_with(&app, "launch patient/Patient.r", q).await;
    assert_eq!(fhir_get(&app, &t, &tok, "/Patient/pat-01").await.0, 200);
    assert_eq!(fhir_get(&app, &t, &tok, "/Patient?_id=pat-01").await.0, 403);

    // v1 `.read` means read and search.
    let tok = token_with(&app, "launch user/Practitioner.read user/Encounter.read", q).await;
    assert_eq!(fhir_get(&app, &t, &tok, "/Practitioner/pr-hmarsh").await.0, 200);
    let (_, b) = fhir_get(&app, &t, &tok, "/Encounter?patient=pat-02").await;
    assert_eq!(b["total"], 1, "user/ scopes are not confined to the launch patient");

    // A query-restricted v2 scope narrows what is visible.
    let tok = token_with(&app, "launch user/Encounter.rs?status=finished", q).await;
    let (_, b) = fhir_get(&app, &t, &tok, "/Encounter").await;
    assert!(b["total"].as_u64().unwrap() >= 1);
    assert!(b["entry"].as_array().unwrap().iter().all(|e| e["resource"]["status"] == "finished"));
    assert_eq!(
        fhir_get(&app, &t, &tok, "/Encounter/enc-01-a").await.0,
        403,
        "in-progress is outside the scope's query"
    );
    assert_eq!(fhir_get(&app, &t, &tok, "/Encounter/enc-01-b").await.0, 200);

    // No token, a bad token, a token from another EHR.
    let r = app.http.get(format!("{}/Patient/pat-01", t.fhir)).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.headers()["www-authenticate"].to_str().unwrap().starts_with("Bearer"));
    assert_eq!(fhir_get(&app, &t, "not-a-token", "/Patient/pat-01").await.0, 401);
    let epic_token = token_with(&app, "launch patient/Patient.rs", q).await;
    assert_eq!(fhir_get(&app, &app.tenant("epic"), &epic_token, "/Patient/pat-01").await.0, 401);
    // Bearer is case-insensitive.
    let r = app
        .http
        .get(format!("{}/Patient/pat-01", t.fhir))
        .header("authorization", format!("bearer {epic_token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
}

#[tokio::test]
async fn search_parameters_sorting_paging_and_elements() {
    let app = spawn_app().await;
    let t = app.tenant("generic");
    let tok = token_with(&app, "launch user/*.rs", "practitioner=pr-lbrandt&patient=pat-01").await;

    let (_, b) =
        fhir_get(&app, &t, &tok, "/AuditEvent?agent=Practitioner/pr-jpike&subtype=110122&_sort=-date&_count=1").await;
    assert_eq!(b["total"], 3);
    assert_eq!(b["entry"].as_array().unwrap().len(), 1);
    let latest = b["entry"][0]["resource"]["recorded"].as_str().unwrap().to_string();
    let (_, all) = fhir_get(&app, &t, &tok, "/AuditEvent?agent=pr-jpike&_sort=-date").await;
    let dates: Vec<&str> =
        all["entry"].as_array().unwrap().iter().map(|e| e["resource"]["recorded"].as_str().unwrap()).collect();
    assert_eq!(dates[0], latest);
    assert!(dates.windows(2).all(|w| w[0] >= w[1]), "sorted newest first: {dates:?}");
    let next = b["link"].as_array().unwrap().iter().find(|l| l["relation"] == "next").expect("a next link")["url"]
        .as_str()
        .unwrap()
        .to_string();
    let r = app.http.get(next).bearer_auth(&tok).send().await.unwrap();
    assert_eq!(ids(&r.json::<Value>().await.unwrap()).len(), 1);

    let (_, b) = fhir_get(&app, &t, &tok, "/Encounter?subject=Patient/pat-04&date=ge2026-11-01").await;
    assert_eq!(ids(&b), ["enc-04-a"]);
    let (_, b) = fhir_get(&app, &t, &tok, "/Encounter?practitioner=pr-dcorr&_count=0&_summary=count").await;
    assert_eq!(b["total"], 4);
    assert!(b.get("entry").is_none());
    let (_, b) = fhir_get(&app, &t, &tok, "/PractitionerRole?practitioner=pr-gokafor").await;
    assert_eq!(b["entry"][0]["resource"]["code"][0]["coding"][1]["code"], "NURSING_SUPERVISOR");

    let (s, p) = fhir_get(&app, &t, &tok, "/Patient/pat-01?_elements=name,birthDate").await;
    assert_eq!(s, 200);
    assert!(p.get("address").is_none() && p.get("telecom").is_none() && p.get("name").is_some());
    assert!(p["meta"]["tag"].as_array().unwrap().iter().any(|t| t["code"] == "SUBSETTED"));
    let (_, b) = fhir_get(&app, &t, &tok, "/Patient?_id=pat-02&_elements=gender").await;
    assert!(b["entry"][0]["resource"].get("name").is_none());

    for bad in ["/Encounter?foo=bar", "/Encounter?date=notadate", "/Patient?_sort=date", "/Patient?_format=xml"] {
        let (s, oo) = fhir_get(&app, &t, &tok, bad).await;
        assert_eq!(s, 400, "{bad}");
        assert_eq!(oo["resourceType"], "OperationOutcome");
        assert!(oo["issue"][0]["diagnostics"].as_str().unwrap().len() > 10, "a diagnostic names the problem");
    }
    assert_eq!(fhir_get(&app, &t, &tok, "/Observation?patient=pat-01").await.0, 404, "unsupported type");
    let r = app
        .http
        .get(format!("{}/Patient/pat-01", t.fhir))
        .bearer_auth(&tok)
        .header("accept", "application/fhir+xml")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 406);
}

#[tokio::test]
async fn batch_bundles_of_gets_are_answered_entry_by_entry() {
    let app = spawn_app().await;
    let t = app.tenant("generic");
    let tok = token_with(
        &app,
        "launch patient/Patient.rs patient/Encounter.rs user/Practitioner.rs",
        "practitioner=pr-jpike&patient=pat-01",
    )
    .await;
    let bundle = json!({"resourceType": "Bundle", "type": "batch", "entry": [
        {"request": {"method": "GET", "url": "Patient/pat-01"}},
        {"request": {"method": "GET", "url": "Encounter?patient=pat-01&_sort=-date&_count=1"}},
        {"request": {"method": "GET", "url": "Practitioner/pr-jpike"}},
        {"request": {"method": "GET", "url": "Patient/pat-09"}}
    ]});
    let r = app
        .http
        .post(&t.fhir)
        .bearer_auth(&tok)
        .header("content-type", "application/fhir+json")
        .body(bundle.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let b: Value = r.json().await.unwrap();
    assert_eq!(b["type"], "batch-response");
    let statuses: Vec<&str> =
        b["entry"].as_array().unwrap().iter().map(|e| e["response"]["status"].as_str().unwrap()).collect();
    assert_eq!(statuses, ["200 OK", "200 OK", "200 OK", "403 Forbidden"]);
    assert_eq!(b["entry"][1]["resource"]["entry"][0]["resource"]["id"], "enc-01-a");
}

#[tokio::test]
async fn writes_are_refused_with_405_and_journaled() {
    let app = spawn_app().await;
    app.expect_direct_writes(); // this test itself sends the writes, to see them refused
    let t = app.tenant("generic");
    let tok = token_with(&app, "launch patient/Patient.rs", "practitioner=pr-jpike&patient=pat-01").await;
    let start = app.journal_since(0).await["next_since"].as_i64().unwrap();
    let body = json!({"resourceType": "Patient", "id": "pat-01"}).to_string();
    let put_batch = json!({"resourceType": "Bundle", "type": "batch", "entry": [{"request": {"method": "PUT", "url": "Patient/pat-01"}, "resource": {"resourceType": "Patient"}}]}).to_string();
    let attempts = [
        ("POST", format!("{}/Patient", t.fhir), body.clone()),
        ("PUT", format!("{}/Patient/pat-01", t.fhir), body.clone()),
        ("PATCH", format!("{}/Patient/pat-01", t.fhir), "[]".to_string()),
        ("DELETE", format!("{}/Patient/pat-01", t.fhir), String::new()),
        ("POST", t.fhir.clone(), put_batch),
        ("POST", format!("{}/Patient/pat-01/$everything", t.fhir), String::new()),
    ];
    for (method, url, body) in &attempts {
        let r = app
            .http
            .request(method.parse().unwrap(), url)
            .bearer_auth(&tok)
            .header("content-type", "application/fhir+json")
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 405, "{method} {url}");
        assert_eq!(r.headers()["allow"], "GET");
        assert_eq!(r.json::<Value>().await.unwrap()["resourceType"], "OperationOutcome");
    }
    assert_eq!(fhir_get(&app, &t, &tok, "/Patient/pat-01").await.0, 200);
    let j = app.journal_since(start).await;
    let entries = j["entries"].as_array().unwrap();
    let writes: Vec<(&str, &str, i64, &str)> = entries
        .iter()
        .filter(|e| e["method"] != "GET")
        .map(|e| {
            (
                e["method"].as_str().unwrap(),
                e["path"].as_str().unwrap(),
                e["status"].as_i64().unwrap(),
                e["kind"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        writes,
        [
            ("POST", "/Patient", 405, "write-refused"),
            ("PUT", "/Patient/pat-01", 405, "write-refused"),
            ("PATCH", "/Patient/pat-01", 405, "write-refused"),
            ("DELETE", "/Patient/pat-01", 405, "write-refused"),
            ("POST", "/", 405, "write-refused"),
            ("POST", "/Patient/pat-01/$everything", 405, "write-refused"),
        ]
    );
    let read = entries.last().unwrap();
    assert_eq!(
        (read["method"].as_str(), read["path"].as_str(), read["status"].as_i64(), read["kind"].as_str()),
        (Some("GET"), Some("/Patient/pat-01"), Some(200), Some("read"))
    );
    assert_eq!(read["client_id"], "test-public");
    assert_eq!(read["tenant"], "generic");
    // The cursor moves on.
    let later = app.journal_since(j["next_since"].as_i64().unwrap()).await;
    assert_eq!(later["entries"].as_array().unwrap().len(), 0);
    // Queries are kept.
    fhir_get(&app, &t, &tok, "/Patient?_id=pat-01").await;
    let e = &app.journal_since(j["next_since"].as_i64().unwrap()).await["entries"][0];
    assert_eq!((e["query"].as_str(), e["kind"].as_str()), (Some("_id=pat-01"), Some("search")));
}

#[tokio::test]
async fn launch_page_renders_with_banner_and_quick_links_that_launch() {
    let app = spawn_app().await;
    let r = app.get("/sandbox").await;
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(html.contains("SANDBOX — synthetic data, not for production"));
    let links: Vec<String> = html
        .split("href=\"")
        .skip(1)
        .filter_map(|s| s.split('"').next())
        .filter(|h| h.starts_with("/sandbox/ehr-launch?"))
        .map(|h| h.replace("&amp;", "&").replace("&#38;", "&"))
        .collect();
    for vendor in ["generic", "epic", "oracle-health", "meditech"] {
        assert!(links.iter().any(|l| l.contains(&format!("vendor={vendor}&"))), "a quick link for {vendor}");
    }
    for link in &links {
        let r = app.get(link).await;
        assert_eq!(r.status(), 302, "{link}");
        let loc = location(&r);
        assert_eq!(loc.path(), "/launch", "to chartdesk's launch URL: {loc}");
        let q = query_map(&loc);
        assert!(q["iss"].starts_with(&app.base) && q["launch"].len() >= 43, "{q:?}");
    }
    for option in ["auth_invalid_client_id", "request_expired_token", "pr-gokafor", "pat-13"] {
        assert!(html.contains(option), "the form offers {option}");
    }
}

#[tokio::test]
async fn ehr_launch_refuses_bad_requests_clearly() {
    let app = spawn_app().await;
    for (query, expect) in [
        ("practitioner=pr-jpike", "vendor"),
        ("vendor=cerner&practitioner=pr-jpike", "Unknown vendor mode"),
        ("vendor=epic", "practitioner"),
        ("vendor=epic&practitioner=nobody", "No practitioner"),
        ("vendor=epic&practitioner=pr-jpike&patient=nobody", "No patient"),
        ("vendor=epic&practitioner=pr-jpike&patient=pat-01&encounter=enc-02-a", "another patient"),
        ("vendor=epic&practitioner=pr-jpike&auth_error=boom", "Unknown auth_error"),
        ("vendor=epic&practitioner=pr-jpike&colour=red", "Unknown launch parameter"),
        ("vendor=epic&practitioner=pr-jpike&client=nobody", "No client"),
    ] {
        let r = app.get(&format!("/sandbox/ehr-launch?{query}")).await;
        assert_eq!(r.status(), 400, "{query}");
        let html = r.text().await.unwrap();
        assert!(html.contains(expect), "{query}: {html}");
        assert!(html.contains("SANDBOX"));
    }
}

#[tokio::test]
async fn synthetic_data_parses_as_fhir_and_meets_the_promised_counts() {
    use chartdesk::sandbox::data::FILES;
    use fhir_sdk::r4b::resources as r;
    let mut counts = std::collections::HashMap::new();
    for (rtype, text) in FILES {
        let bundle: Value = serde_json::from_str(text).unwrap();
        for e in bundle["entry"].as_array().unwrap() {
            let res = e["resource"].clone();
            assert_eq!(res["resourceType"], *rtype);
            assert_eq!(res["meta"]["tag"][0]["code"], "synthetic", "{rtype}/{}: tagged synthetic", res["id"]);
            let parsed = match *rtype {
                "Organization" => serde_json::from_value::<r::Organization>(res.clone()).map(|_| ()),
                "Location" => serde_json::from_value::<r::Location>(res.clone()).map(|_| ()),
                "Practitioner" => serde_json::from_value::<r::Practitioner>(res.clone()).map(|_| ()),
                "PractitionerRole" => serde_json::from_value::<r::PractitionerRole>(res.clone()).map(|_| ()),
                "Patient" => serde_json::from_value::<r::Patient>(res.clone()).map(|_| ()),
                "Encounter" => serde_json::from_value::<r::Encounter>(res.clone()).map(|_| ()),
                "AuditEvent" => serde_json::from_value::<r::AuditEvent>(res.clone()).map(|_| ()),
                other => panic!("unexpected {other}"),
            };
            parsed.unwrap_or_else(|e| panic!("{rtype}/{} is not valid FHIR: {e}", res["id"]));
            *counts.entry(*rtype).or_insert(0) += 1;
        }
    }
    assert!(counts["Patient"] >= 12);
    assert!(counts["Practitioner"] >= 8);
    assert!(counts["Organization"] >= 1);
    let roles: std::collections::HashSet<String> = serde_json::from_str::<Value>(
        FILES.iter().find(|(t, _)| *t == "PractitionerRole").unwrap().1,
    )
    .unwrap()["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            let codings = e["resource"]["code"][0]["coding"].as_array().unwrap();
            let ehr = codings.iter().find(|c| c["system"].as_str().unwrap().ends_with("/ehr-role")).unwrap();
            ehr["code"].as_str().unwrap().to_string()
        })
        .collect();
    for role in [
        "PHYSICIAN",
        "RESIDENT",
        "RN",
        "NURSING_SUPERVISOR",
        "PHARMACIST",
        "CLIN_INFORMATICS",
        "IT_ANALYST",
        "COMPLIANCE",
    ] {
        assert!(roles.contains(role), "role {role}");
    }
    let departments: std::collections::HashSet<String> = serde_json::from_str::<Value>(
        FILES.iter().find(|(t, _)| *t == "PractitionerRole").unwrap().1,
    )
    .unwrap()["entry"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["resource"]["location"][0]["reference"].as_str().unwrap().to_string())
        .collect();
    assert!(departments.len() >= 3);
    assert!(counts["AuditEvent"] >= counts["Practitioner"], "login history for every practitioner");
}
