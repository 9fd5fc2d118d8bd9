//! The real binary: `serve` (what `cargo run` does), `print-config`, `migrate`, bad
//! configuration, and the planted-PHI logging test over the process's whole output.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

use crate::helpers::*;

const BIN: &str = env!("CARGO_BIN_EXE_chartdesk");

/// A running `chartdesk serve` whose stdout and stderr are captured in full.
struct Served {
    child: Child,
    base: String,
    output: Arc<Mutex<String>>,
}

async fn serve(data_dir: &std::path::Path, env: &[(&str, &str)]) -> Served {
    let mut cmd = Command::new(BIN);
    cmd.args(["serve", "--bind", "127.0.0.1:0", "--data-dir"]).arg(data_dir);
    cmd.env_clear().env("PATH", std::env::var("PATH").unwrap_or_default());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true).spawn().unwrap();
    let output = Arc::new(Mutex::new(String::new()));
    let (url_tx, mut url_rx) = tokio::sync::mpsc::unbounded_channel();
    for stream in [
        Box::new(child.stdout.take().unwrap()) as Box<dyn tokio::io::AsyncRead + Unpin + Send>,
        Box::new(child.stderr.take().unwrap()),
    ] {
        let output = output.clone();
        let url_tx = url_tx.clone();
        tokio::spawn(async move {
            let mut lines = BufReader::new(stream).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(url) = line.strip_prefix("chartdesk is listening on ") {
                    let _ = url_tx.send(url.trim().to_string());
                }
                let mut o = output.lock().unwrap();
                o.push_str(&line);
                o.push('\n');
            }
        });
    }
    let base = tokio::time::timeout(Duration::from_secs(30), url_rx.recv())
        .await
        .unwrap_or_else(|_| panic!("no URL printed; output so far:\n{}", output.lock().unwrap()))
        .unwrap();
    Served { child, base, output }
}

impl Served {
    /// SIGTERM, wait for a clean exit, and return everything the process printed.
    async fn stop(mut self) -> String {
        let pid = self.child.id().unwrap().to_string();
        let status = Command::new("kill").args(["-TERM", &pid]).status().await.unwrap();
        assert!(status.success());
        let exit = tokio::time::timeout(Duration::from_secs(20), self.child.wait())
            .await
            .expect("exits after SIGTERM")
            .unwrap();
        assert!(exit.success(), "clean shutdown: {exit:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
        self.output.lock().unwrap().clone()
    }
}

#[tokio::test]
async fn cargo_run_serves_health_readiness_and_the_sandbox() {
    let dir = tempfile::tempdir().unwrap();
    let s = serve(dir.path(), &[]).await;
    let http = http_client();
    assert_eq!(http.get(format!("{}/healthz", s.base)).send().await.unwrap().status(), 200);
    assert_eq!(http.get(format!("{}/readyz", s.base)).send().await.unwrap().status(), 200);
    let page = http.get(format!("{}/sandbox", s.base)).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("SANDBOX — synthetic data"));
    let r = http
        .get(format!("{}/sandbox/ehr-launch?vendor=epic&practitioner=pr-jpike&patient=pat-01", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 302);
    assert!(location(&r).as_str().starts_with(&format!("{}/launch?iss=", s.base)));
    assert!(dir.path().join("chartdesk.db").exists(), "the SQLite file is created on first start");
    assert!(dir.path().join("keys/sandbox-rs256.pem").exists());
    let out = s.stop().await;
    assert!(out.contains("sandbox EHR (synthetic data):"), "{out}");
    assert!(out.contains("SANDBOX EHR ENABLED"), "a warning log line when the sandbox is on");
}

#[tokio::test]
async fn print_config_prints_everything_commented_with_secrets_masked() {
    let out = Command::new(BIN)
        .arg("print-config")
        .env("CHARTDESK__DATABASE__URL", "postgres://chartdesk:pw-planted-991@db.example/chartdesk")
        .output()
        .await
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    for section in
        ["[server]", "[database]", "[redis]", "[security]", "[telemetry]", "[sandbox]", "[[sandbox.clients]]"]
    {
        assert!(text.contains(section), "{section}");
    }
    assert!(!text.contains("pw-planted-991"));
    assert!(text.contains("url = \"********\""));
    let comments = text.lines().filter(|l| l.starts_with('#')).count();
    let keys = text.lines().filter(|l| !l.starts_with('#') && l.contains(" = ")).count();
    assert!(comments >= keys, "every key is commented ({comments} comments, {keys} keys)");
}

#[tokio::test]
async fn bad_configuration_is_refused_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bad.toml");
    std::fs::write(&path, "[server]\nbind = \"127.0.0.1:0\"\nlisten_port = 9\n").unwrap();
    let out = Command::new(BIN).arg("--config").arg(&path).arg("serve").output().await.unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("unknown key `server.listen_port`"), "{err}");
    let out = Command::new(BIN)
        .arg("--config")
        .arg(dir.path().join("missing.toml"))
        .arg("print-config")
        .output()
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8(out.stderr).unwrap().contains("does not exist"));
}

#[tokio::test]
async fn migrate_creates_and_migrates_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN).arg("migrate").arg("--data-dir").arg(dir.path().join("d")).output().await.unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(dir.path().join("d/chartdesk.db").exists());
    let again = Command::new(BIN).arg("migrate").arg("--data-dir").arg(dir.path().join("d")).output().await.unwrap();
    assert!(again.status.success(), "migrate is idempotent");
}

/// Plant PHI and tokens in paths, queries, headers and bodies across every kind of route,
/// run at TRACE level in JSON, and prove that none of it reaches the process's output.
#[tokio::test]
async fn planted_phi_and_tokens_never_reach_the_logs() {
    let dir = tempfile::tempdir().unwrap();
    let s =
        serve(dir.path(), &[("CHARTDESK__TELEMETRY__FILTER", "trace"), ("CHARTDESK__TELEMETRY__FORMAT", "json")]).await;
    let http = http_client();
    let name = "Zebulon Quixotic-Marrow";
    let mrn = "MRN88471923";
    let dob = "1937-04-19";
    let ssn = "219-09-9999";
    let planted_token = "tokPLANTEDc2f9a1e7d55b";
    let enc = |v: &str| url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>();
    let b = &s.base;
    let fhir = format!("{b}/sandbox/generic/fhir");
    let auth = format!("{b}/sandbox/generic/auth");

    let with_headers = |rb: reqwest::RequestBuilder| {
        rb.header("authorization", format!("Bearer {planted_token}"))
            .header("cookie", format!("session={planted_token}; name={}", enc(name)))
            .header("x-request-id", enc(name))
            .header("user-agent", format!("{name} {mrn}"))
            .header("x-patient-mrn", mrn)
            .header("referer", format!("https://ehr.example/chart?mrn={mrn}"))
    };
    // FHIR read and search with PHI in the path and query.
    with_headers(http.get(format!("{fhir}/Patient/{mrn}?name={}&birthdate={dob}", enc(name)))).send().await.unwrap();
    with_headers(http.get(format!("{fhir}/Encounter?patient={mrn}&ssn={ssn}"))).send().await.unwrap();
    // A write attempt with PHI in the body.
    let patient = serde_json::json!({"resourceType": "Patient", "name": [{"text": name}], "birthDate": dob, "identifier": [{"value": mrn}]});
    with_headers(http.put(format!("{fhir}/Patient/{mrn}"))).json(&patient).send().await.unwrap();
    with_headers(http.post(fhir.clone()))
        .header("content-type", "application/fhir+json")
        .body(format!("{{\"bad json {name} {ssn}"))
        .send()
        .await
        .unwrap();
    // Token endpoint: secrets in the body and in Basic credentials.
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{}:{planted_token}", enc(name)));
    http.post(format!("{auth}/token"))
        .header("authorization", format!("Basic {basic}"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", planted_token),
            ("code_verifier", mrn),
            ("redirect_uri", name),
        ])
        .send()
        .await
        .unwrap();
    http.post(format!("{auth}/token"))
        .form(&[("grant_type", "refresh_token"), ("refresh_token", planted_token), ("client_id", name)])
        .send()
        .await
        .unwrap();
    // Authorize and launch pages with PHI in parameters.
    http.get(format!("{auth}/authorize?client_id={}&state={mrn}&scope=launch", enc(name))).send().await.unwrap();
    http.get(format!("{b}/sandbox/ehr-launch?vendor=epic&practitioner={}&patient={mrn}", enc(name)))
        .send()
        .await
        .unwrap();
    // Unknown routes and the API surface.
    with_headers(http.get(format!("{b}/api/patients/{mrn}/{dob}?q={ssn}"))).send().await.unwrap();
    with_headers(http.post(format!("{b}/api/messages")))
        .json(&serde_json::json!({"text": format!("{name} DOB {dob} SSN {ssn}")}))
        .send()
        .await
        .unwrap();
    http.get(format!("{b}/sandbox/journal?since={}", enc(name))).send().await.unwrap();

    // A real launch, so real codes and tokens flow too; none of them may be logged.
    let r = http
        .get(format!("{b}/sandbox/ehr-launch?vendor=generic&practitioner=pr-jpike&patient=pat-01"))
        .send()
        .await
        .unwrap();
    let launch = query_map(&location(&r))["launch"].clone();
    let p = pkce();
    let authz = format!(
        "{auth}/authorize?response_type=code&client_id=chartdesk-generic&redirect_uri={}&scope={}&state={}&aud={}&launch={launch}&code_challenge={}&code_challenge_method=S256",
        enc(&format!("{b}/callback")),
        enc(LAUNCH_SCOPE),
        enc(mrn),
        enc(&fhir),
        p.challenge
    );
    let r = http.get(authz).send().await.unwrap();
    assert_eq!(r.status(), 302);
    let code = query_map(&location(&r))["code"].clone();
    let t: serde_json::Value = http
        .post(format!("{auth}/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &format!("{b}/callback")),
            ("code_verifier", &p.verifier),
            ("client_id", "chartdesk-generic"),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let access = t["access_token"].as_str().expect("a real token").to_string();
    let id_token = t["id_token"].as_str().unwrap().to_string();
    let r = http.get(format!("{fhir}/Patient/pat-01")).bearer_auth(&access).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let real_name = "Quillfeather"; // the synthetic patient's family name, served in that body

    let out = s.stop().await;
    let completed = out.matches("request completed").count();
    assert!(completed >= 15, "the requests were logged ({completed} completion lines):\n{out}");
    assert!(out.contains("\"level\":\"TRACE\"") || out.contains("\"level\":\"DEBUG\""), "trace/debug output was on");
    assert!(out.contains("/sandbox/generic/fhir/{tail:.*}"), "route patterns are logged");
    let lower = out.to_lowercase();
    for secret in [
        name,
        "zebulon",
        "quixotic",
        mrn,
        "88471923",
        dob,
        ssn,
        planted_token,
        &launch,
        &code,
        &access,
        &id_token[..40],
        &p.verifier,
        real_name,
        &enc(name),
        "patient/pat-01",
        "mrn=",
        "?name=",
    ] {
        assert!(!lower.contains(&secret.to_lowercase()), "`{secret}` leaked into the logs");
    }
}
