//! The audit trail: tamper evidence (a property test over random logs and mutations),
//! the verify command, export as FHIR AuditEvents, access control, encryption at rest,
//! retention, and TLS.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use chartdesk::audit::verify::{Problem, verify};
use chartdesk::audit::{Audit, AuditRecord, AuditSettings, EntityRole, EventKind, Outcome, Signer};
use chartdesk::crypto::KeyRing;
use chartdesk::store::{self, Store};
use proptest::prelude::*;
use serde_json::Value;

use crate::helpers::*;

fn settings(dir: &Path, every: u64) -> AuditSettings {
    AuditSettings {
        origin: "chartdesk.test/audit".into(),
        key_name: "chartdesk-audit".into(),
        checkpoint_dir: dir.join("checkpoints"),
        checkpoint_every: every,
        checkpoint_interval: Duration::from_secs(3600),
        signing_key: None,
    }
}

async fn open(dir: &Path, every: u64) -> (Arc<dyn Store>, Arc<KeyRing>, Arc<Signer>) {
    let store = store::open(&format!("sqlite://{}/audit.db", dir.display()), 2, Duration::from_secs(5)).await.unwrap();
    let keys = Arc::new(KeyRing::load(None, dir, store.clone()).unwrap());
    let signer = Arc::new(Signer::load(settings(dir, every), dir).unwrap());
    (store, keys, signer)
}

/// A log of `n` records with a checkpoint every 5.
async fn build(dir: &Path, n: usize) {
    let (store, keys, signer) = open(dir, 5).await;
    let audit = Audit::start(store.clone(), keys, signer).await.unwrap();
    let kinds = [EventKind::FhirRead, EventKind::Login, EventKind::Refusal, EventKind::FhirSearch];
    for i in 0..n {
        let r = AuditRecord::new(kinds[i % kinds.len()], Outcome::Success)
            .entity(EntityRole::Patient, format!("Patient/p{i}"))
            .reason("test");
        assert_eq!(audit.record(r).await.unwrap(), i as i64);
    }
    store.close().await;
}

async fn check(dir: &Path) -> chartdesk::audit::verify::Report {
    let (store, keys, signer) = open(dir, 5).await;
    let report = verify(store.as_ref(), &keys, &signer).await.unwrap();
    store.close().await;
    report
}

/// Raw SQL as an attacker with database access would run it (triggers dropped first).
async fn attack(dir: &Path, sql: &[String]) {
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}/audit.db", dir.display())).await.unwrap();
    for s in ["DROP TRIGGER IF EXISTS audit_log_no_delete", "DROP TRIGGER IF EXISTS audit_log_no_rewrite"] {
        sqlx::query(s).execute(&pool).await.unwrap();
    }
    for s in sql {
        sqlx::query(sqlx::AssertSqlSafe(s.clone())).execute(&pool).await.unwrap();
    }
    pool.close().await;
}

#[derive(Clone, Debug)]
enum Mutation {
    AlterContent(usize),
    AlterLeaf(usize),
    Delete(usize),
    Insert(usize),
    Swap(usize),
    Truncate(usize),
    DeleteCheckpointRow,
    AlterCheckpointRow,
    DeleteCheckpointFile,
    AlterCheckpointFile,
    TruncateLatest,
    ForgeCheckpointFile,
}

fn mutation(n: usize) -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (0..n).prop_map(Mutation::AlterContent),
        (0..n).prop_map(Mutation::AlterLeaf),
        (0..n).prop_map(Mutation::Delete),
        (0..n - 1).prop_map(Mutation::Insert),
        (0..n - 1).prop_map(Mutation::Swap),
        (1..4usize).prop_map(Mutation::Truncate),
        Just(Mutation::DeleteCheckpointRow),
        Just(Mutation::AlterCheckpointRow),
        Just(Mutation::DeleteCheckpointFile),
        Just(Mutation::AlterCheckpointFile),
        Just(Mutation::TruncateLatest),
        Just(Mutation::ForgeCheckpointFile),
    ]
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

async fn apply(dir: &Path, n: usize, m: &Mutation) -> Option<(usize, usize)> {
    let cp = dir.join("checkpoints");
    let first_file = || -> PathBuf {
        let mut f: Vec<_> = std::fs::read_dir(&cp)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("checkpoint-"))
            .collect();
        f.sort();
        f[0].clone()
    };
    match m {
        Mutation::AlterContent(k) => {
            attack(
                dir,
                &[format!(
                    "UPDATE audit_log SET sealed = substr(sealed, 1, length(sealed) - 5) || 'AAAAA' WHERE seq = {k}"
                )],
            )
            .await;
            Some((*k, *k))
        }
        Mutation::AlterLeaf(k) => {
            attack(dir, &[format!("UPDATE audit_log SET leaf_hash = X'{}' WHERE seq = {k}", hex(&[9u8; 32]))]).await;
            Some((*k, *k))
        }
        Mutation::Delete(k) => {
            attack(dir, &[format!("DELETE FROM audit_log WHERE seq = {k}")]).await;
            Some((*k, *k))
        }
        Mutation::Insert(k) => {
            // A forged record at k (a copy of record k's content, chained correctly to k-1),
            // the rest renumbered and the head fixed up.
            let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}/audit.db", dir.display())).await.unwrap();
            let prev: Vec<u8> = if *k == 0 {
                vec![0u8; 32]
            } else {
                sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                    "SELECT chain_hash FROM audit_log WHERE seq = {}",
                    k - 1
                )))
                .fetch_one(&pool)
                .await
                .unwrap()
            };
            let leaf: Vec<u8> =
                sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT leaf_hash FROM audit_log WHERE seq = {k}")))
                    .fetch_one(&pool)
                    .await
                    .unwrap();
            pool.close().await;
            let chain = chartdesk::audit::merkle::chain_next(&prev.try_into().unwrap(), &leaf.try_into().unwrap());
            attack(dir, &[
                format!("UPDATE audit_log SET seq = seq + 1000000 WHERE seq >= {k}"),
                "UPDATE audit_log SET seq = seq - 999999 WHERE seq >= 1000000".into(),
                format!("INSERT INTO audit_log (seq, recorded_ms, kind, sealed, leaf_hash, chain_hash) SELECT {k}, recorded_ms, kind, sealed, leaf_hash, X'{}' FROM audit_log WHERE seq = {}", hex(&chain), k + 1),
                "UPDATE audit_head SET next_seq = next_seq + 1".into(),
            ]).await;
            Some((*k, k + 1))
        }
        Mutation::Swap(k) => {
            let j = k + 1;
            attack(
                dir,
                &[
                    format!("UPDATE audit_log SET seq = -1 WHERE seq = {k}"),
                    format!("UPDATE audit_log SET seq = {k} WHERE seq = {j}"),
                    format!("UPDATE audit_log SET seq = {j} WHERE seq = -1"),
                ],
            )
            .await;
            Some((*k, *k))
        }
        Mutation::Truncate(m) => {
            let keep = n - m;
            let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}/audit.db", dir.display())).await.unwrap();
            let last: Vec<u8> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
                "SELECT chain_hash FROM audit_log WHERE seq = {}",
                keep - 1
            )))
            .fetch_one(&pool)
            .await
            .unwrap();
            pool.close().await;
            attack(
                dir,
                &[
                    format!("DELETE FROM audit_log WHERE seq >= {keep}"),
                    format!("DELETE FROM audit_checkpoint WHERE size > {keep}"),
                    format!("UPDATE audit_head SET next_seq = {keep}, last_chain = X'{}'", hex(&last)),
                ],
            )
            .await;
            Some((keep, keep))
        }
        Mutation::DeleteCheckpointRow => {
            attack(dir, &["DELETE FROM audit_checkpoint WHERE size = (SELECT MIN(size) FROM audit_checkpoint)".into()])
                .await;
            None
        }
        Mutation::AlterCheckpointRow => {
            attack(
                dir,
                &[format!(
                    "UPDATE audit_checkpoint SET root = X'{}' WHERE size = (SELECT MIN(size) FROM audit_checkpoint)",
                    hex(&[1u8; 32])
                )],
            )
            .await;
            None
        }
        Mutation::DeleteCheckpointFile => {
            std::fs::remove_file(first_file()).unwrap();
            None
        }
        Mutation::AlterCheckpointFile => {
            let f = first_file();
            let text = std::fs::read_to_string(&f).unwrap();
            let mut lines: Vec<&str> = text.lines().collect();
            let size: u64 = lines[1].parse().unwrap();
            let bigger = (size + 1).to_string();
            lines[1] = &bigger;
            std::fs::write(&f, lines.join("\n") + "\n").unwrap();
            None
        }
        Mutation::TruncateLatest => {
            let f = cp.join("latest.txt");
            let text = std::fs::read_to_string(&f).unwrap();
            std::fs::write(&f, &text[..text.len() / 2]).unwrap();
            None
        }
        Mutation::ForgeCheckpointFile => {
            let text = std::fs::read_to_string(first_file()).unwrap();
            let forged = text.replace("chartdesk-audit ", "chartdesk-audit AAAA");
            std::fs::write(cp.join("checkpoint-000000000999.txt"), forged).unwrap();
            None
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Any single modification, deletion, insertion, reordering or truncation of a record, and
    /// any change to a checkpoint, is detected; record tampering names the record.
    #[test]
    fn every_single_tampering_is_detected((n, m) in (12usize..40).prop_flat_map(|n| (Just(n), mutation(n)))) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let dir = tempfile::tempdir().unwrap();
            build(dir.path(), n).await;
            let clean = check(dir.path()).await;
            assert!(clean.ok(), "an untouched log verifies: {:?}", clean.problems);
            assert_eq!(clean.records, n as u64);
            let named = apply(dir.path(), n, &m).await;
            let report = check(dir.path()).await;
            assert!(!report.ok(), "{m:?} on {n} records went undetected");
            if let Some((lo, hi)) = named {
                match &report.problems[0] {
                    Problem::Record { seq, .. } => assert!((lo as i64..=hi as i64).contains(seq), "{m:?}: named record {seq}, expected {lo}..={hi}: {:?}", report.problems),
                    other => panic!("{m:?}: first problem should name a record: {other}"),
                }
            }
        });
    }
}

#[tokio::test]
async fn the_database_refuses_updates_and_deletes_of_audit_records() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path(), 3).await;
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}/audit.db", dir.path().display())).await.unwrap();
    for sql in [
        "DELETE FROM audit_log WHERE seq = 1",
        "UPDATE audit_log SET kind = 'x' WHERE seq = 1",
        "UPDATE audit_log SET sealed = 'x' WHERE seq = 1",
    ] {
        let e = sqlx::query(sql).execute(&pool).await.unwrap_err();
        assert!(e.to_string().contains("audit_log"), "{sql}: {e}");
    }
    // Purging content (sealed → NULL) is the one update allowed.
    sqlx::query("UPDATE audit_log SET sealed = NULL, purged_ms = 1 WHERE seq = 1").execute(&pool).await.unwrap();
    pool.close().await;
    assert!(check(dir.path()).await.ok(), "a purged record keeps the log verifiable");
}

#[tokio::test]
async fn audit_verify_command_exits_non_zero_naming_the_record() {
    let app = spawn_app().await;
    let (status, _, _) = Browser::new().launch(&app, "vendor=generic&practitioner=pr-jpike&patient=pat-01").await;
    assert_eq!(status, 200);
    let bin = env!("CARGO_BIN_EXE_chartdesk");
    let data = app._data_dir.path();
    let out = std::process::Command::new(bin).arg("audit").arg("verify").arg("--data-dir").arg(data).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("audit log verified"), "{text}");
    // Alter record 2 as an attacker would.
    let pool = sqlx::SqlitePool::connect(&format!("sqlite://{}/chartdesk.db", data.display())).await.unwrap();
    sqlx::query("DROP TRIGGER audit_log_no_rewrite").execute(&pool).await.unwrap();
    sqlx::query("UPDATE audit_log SET kind = 'logout', leaf_hash = randomblob(32) WHERE seq = 2")
        .execute(&pool)
        .await
        .unwrap();
    pool.close().await;
    let out = std::process::Command::new(bin).arg("audit").arg("verify").arg("--data-dir").arg(data).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1));
    assert!(text.contains("FAILED verification: record 2:"), "{text}");
}

async fn audit_bundle(app: &TestApp, browser: &Browser, launch_url: &str, query: &str) -> (u16, Value) {
    let launch_id = launch_url.rsplit('/').next().unwrap();
    let r = browser
        .http
        .get(app.url(&format!("/api/audit?{query}")))
        .header("x-chartdesk-launch", launch_id)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

#[tokio::test]
async fn export_of_a_launch_holds_balp_audit_events_that_parse_as_fhir_r4() {
    let app = spawn_app().await;
    // A nurse's launch and logout.
    let nurse = Browser::new();
    let (_, nurse_url, _) = nurse.launch(&app, "vendor=epic&practitioner=pr-jpike&patient=pat-01").await;
    let launch_id = nurse_url.rsplit('/').next().unwrap();
    nurse.http.post(app.url(&format!("/app/{launch_id}/logout"))).send().await.unwrap();
    // Clinical informatics reads the trail.
    let analyst = Browser::new();
    let (_, analyst_url, _) = analyst.launch(&app, "vendor=generic&practitioner=pr-lbrandt").await;
    let (status, bundle) = audit_bundle(&app, &analyst, &analyst_url, "since=2020-01-01").await;
    assert_eq!(status, 200, "{bundle}");
    assert_eq!(bundle["resourceType"], "Bundle");
    let events: Vec<&Value> = bundle["entry"].as_array().unwrap().iter().map(|e| &e["resource"]).collect();
    let codes: Vec<String> = events
        .iter()
        .map(|e| format!("{}|{}", e["type"]["code"].as_str().unwrap(), e["subtype"][0]["code"].as_str().unwrap()))
        .collect();
    for want in ["110114|ITI-71", "110114|110122", "rest|read", "rest|search-type", "110114|110123"] {
        assert!(codes.iter().any(|c| c == want), "expected {want} in {codes:?}");
    }
    let patient_read = events
        .iter()
        .find(|e| e["subtype"][0]["code"] == "read" && e["entity"][0]["what"]["reference"] == "Patient/pat-01")
        .expect("the patient read");
    assert_eq!(patient_read["agent"][0]["who"]["reference"], "Practitioner/pr-jpike");
    assert_eq!(patient_read["purposeOfEvent"][0]["coding"][0]["code"], "it-support");
    assert_eq!(
        patient_read["meta"]["profile"][0],
        "https://profiles.ihe.net/ITI/BALP/StructureDefinition/IHE.BasicAudit.PatientRead"
    );
    // Names never appear: references and ids only.
    let text = bundle.to_string();
    for name in ["Jordan", "Quillfeather", "Rosalind", "Lena"] {
        assert!(!text.contains(name), "{name} in the audit export");
    }
    // Every event is a valid FHIR R4 AuditEvent that round-trips through fhir-sdk's model.
    for e in &events {
        let parsed: fhir_sdk::r4b::resources::AuditEvent =
            serde_json::from_value((*e).clone()).unwrap_or_else(|err| panic!("{err}: {e}"));
        let mut back = serde_json::to_value(&parsed).unwrap();
        let mut original = (*e).clone();
        // fhir-sdk writes `…56.710Z` as `…56.71Z`: the same instant.
        for v in [&mut back, &mut original] {
            let t = chrono::DateTime::parse_from_rfc3339(v["recorded"].as_str().unwrap()).unwrap();
            v["recorded"] = serde_json::json!(t.timestamp_millis());
        }
        assert_eq!(back, original, "round trip");
    }
    // NDJSON too.
    let launch_id = analyst_url.rsplit('/').next().unwrap();
    let r = analyst
        .http
        .get(app.url("/api/audit?format=ndjson&since=2020-01-01"))
        .header("x-chartdesk-launch", launch_id)
        .send()
        .await
        .unwrap();
    assert!(r.headers()["content-type"].to_str().unwrap().starts_with("application/fhir+ndjson"));
    assert!(r.text().await.unwrap().lines().count() >= events.len());
}

#[tokio::test]
async fn the_audit_api_is_for_compliance_and_informatics_only() {
    let app = spawn_app().await;
    for (practitioner, want) in
        [("pr-jpike", 403), ("pr-gokafor", 403), ("pr-mwebb", 403), ("pr-lbrandt", 200), ("pr-kvoss", 200)]
    {
        let b = Browser::new();
        let (status, url, _) = b.launch(&app, &format!("vendor=generic&practitioner={practitioner}")).await;
        assert_eq!(status, 200);
        let (got, body) = audit_bundle(&app, &b, &url, "").await;
        assert_eq!(got, want, "{practitioner}: {body}");
        if want == 403 {
            assert_eq!(body["error"]["code"], "forbidden");
        }
    }
    // No launch id: 401; another browser's launch id: 401.
    let r = app.get("/api/audit").await;
    assert_eq!(r.status(), 401);
    let b = Browser::new();
    let (_, url, _) = b.launch(&app, "vendor=generic&practitioner=pr-lbrandt").await;
    let (got, _) = audit_bundle(&app, &Browser::new(), &url, "").await;
    assert_eq!(got, 401);
    // The refusals were recorded.
    let (_, bundle) = audit_bundle(&app, &b, &url, "since=2020-01-01").await;
    let refusals =
        bundle["entry"].as_array().unwrap().iter().filter(|e| e["resource"]["outcomeDesc"] == "page_denied").count();
    assert_eq!(refusals, 3);
}

#[tokio::test]
async fn tokens_and_audit_content_are_never_stored_in_plaintext() {
    use crate::fake_ehr::{FakeEhr, Script};
    let access = "tokPLANTEDaccessZ81c55e";
    let refresh = "tokPLANTEDrefreshQ02b9";
    let fake = FakeEhr::start(Script {
        token_responses: vec![(200, serde_json::json!({"access_token": access, "refresh_token": refresh, "token_type": "Bearer",
            "expires_in": 600, "patient": "pPLANTED4417", "scope": "launch openid fhirUser patient/Patient.r"}))],
        fhir: std::collections::HashMap::from([("/Patient/pPLANTED4417".to_string(), (200, serde_json::json!({"resourceType": "Patient", "id": "pPLANTED4417", "name": [{"text": "Plantina Xylophant"}]})))]),
        ..Script::default()
    })
    .await;
    let redis = service_url("CHARTDESK_TEST_REDIS_URL");
    let prefix = format!("chartdesk-test:{}:", uuid::Uuid::new_v4().simple());
    let tenant = crate::context::fake_tenant(&fake);
    let (r2, p2) = (redis.clone(), prefix.clone());
    let app = spawn_with(move |c| {
        c.tenants.push(tenant);
        if let Some(url) = r2 {
            c.redis.url = Some(chartdesk::config::Secret::new(url));
            c.redis.key_prefix = p2;
        }
    })
    .await;
    let b = Browser::new();
    let r = b.http.get(app.url(&format!("/launch?iss={}&launch=l", fake.fhir))).send().await.unwrap();
    let state = query_map(&location(&r))["state"].clone();
    let r = b.http.get(app.url(&format!("/callback?code=c&state={state}"))).send().await.unwrap();
    let page =
        b.http.get(app.url(r.headers()["location"].to_str().unwrap())).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("Plantina Xylophant"), "the planted patient was read and shown");
    tokio::time::sleep(Duration::from_millis(300)).await;

    let planted = [access, refresh, "pPLANTED4417", "Plantina"];
    let mut raw = Vec::new();
    for f in ["chartdesk.db", "chartdesk.db-wal"] {
        raw.extend(std::fs::read(app._data_dir.path().join(f)).unwrap_or_default());
    }
    let db = String::from_utf8_lossy(&raw);
    assert!(db.contains("audit_log") && db.contains("fhir-read"), "the scan reads the real database");
    for p in planted {
        assert!(!db.contains(p), "`{p}` in the database file in plaintext");
    }
    if let Some(url) = redis {
        let client = redis::Client::open(url.as_str()).unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        let keys: Vec<String> = redis::cmd("KEYS").arg(format!("{prefix}*")).query_async(&mut conn).await.unwrap();
        assert!(keys.iter().any(|k| k.contains("session")), "the session lives in Redis");
        for k in &keys {
            let v: Vec<u8> = redis::cmd("GET").arg(k).query_async(&mut conn).await.unwrap_or_default();
            let v = String::from_utf8_lossy(&v);
            for p in planted {
                assert!(!v.contains(p), "`{p}` in Redis key {k}");
            }
        }
        let _: () = redis::cmd("DEL").arg(&keys).query_async(&mut conn).await.unwrap();
    }
}

#[tokio::test]
async fn retention_purge_clears_old_audit_content_keeps_the_chain_and_is_audited() {
    let app = spawn_with(|c| c.retention.audit_days = 0).await;
    let (status, _, _) = Browser::new().launch(&app, "vendor=generic&practitioner=pr-jpike&patient=pat-01").await;
    assert_eq!(status, 200);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let before = app.store.audit_size().await.unwrap();
    let bin = env!("CARGO_BIN_EXE_chartdesk");
    let data = app._data_dir.path();
    let out = std::process::Command::new(bin)
        .arg("purge")
        .arg("--data-dir")
        .arg(data)
        .env("CHARTDESK__RETENTION__AUDIT_DAYS", "0")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&format!("purged {before} audit records")), "{text}");
    // The chain still verifies, counting the purged records.
    let out = std::process::Command::new(bin).arg("audit").arg("verify").arg("--data-dir").arg(data).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains(&format!("({before} purged")), "{text}");
    // The purge itself is the one record left to read.
    let rows = app.store.audit_rows(0, 1000).await.unwrap();
    assert!(rows.iter().take(before as usize).all(|r| r.sealed.is_none()));
    assert!(rows.last().unwrap().sealed.is_some() && rows.last().unwrap().kind == "audit-purge");
}

#[tokio::test]
async fn tls_serves_tls12_and_tls13_only_with_hsts() {
    let dir = tempfile::tempdir().unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
    let (cert_path, key_path) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    std::fs::write(&cert_path, cert.cert.pem()).unwrap();
    std::fs::write(&key_path, cert.signing_key.serialize_pem()).unwrap();
    let (c, k) = (cert_path.clone(), key_path.clone());
    let app = spawn_with(move |cfg| {
        cfg.tls.cert_file = Some(c);
        cfg.tls.key_file = Some(k);
    })
    .await;
    assert!(app.base.starts_with("https://"));
    let port = app.base.rsplit(':').next().unwrap().to_string();
    // rustls client with our certificate as the root: HTTPS works, HSTS is sent.
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(cert.cert.pem().as_bytes()).unwrap())
        .build()
        .unwrap();
    let r = client.get(format!("https://localhost:{port}/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.headers()["strict-transport-security"].to_str().unwrap().starts_with("max-age="));

    let handshake = |flag: &'static str, port: String| async move {
        let out = tokio::process::Command::new("openssl")
            .args(["s_client", "-connect", &format!("127.0.0.1:{port}"), flag, "-cipher", "DEFAULT@SECLEVEL=0"])
            .stdin(std::process::Stdio::null())
            .output()
            .await
            .expect("openssl runs");
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        text.contains("Cipher is ") && !text.contains("Cipher is (NONE)")
    };
    assert!(handshake("-tls1_3", port.clone()).await, "TLS 1.3 accepted");
    assert!(handshake("-tls1_2", port.clone()).await, "TLS 1.2 accepted");
    assert!(!handshake("-tls1_1", port.clone()).await, "TLS 1.1 refused");
    // Control: the same TLS 1.1 client succeeds against a server that allows it.
    let control_port = crate::interop::free_port().to_string();
    let mut control = tokio::process::Command::new("openssl")
        .args(["s_server", "-accept", &control_port, "-cert"])
        .arg(&cert_path)
        .arg("-key")
        .arg(&key_path)
        .args(["-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0", "-quiet"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(handshake("-tls1_1", control_port).await, "the TLS 1.1 client itself works");
    control.start_kill().ok();
}
