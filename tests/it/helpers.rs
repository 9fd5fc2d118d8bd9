//! Test harness: spawn the real application on 127.0.0.1:0 with its own data directory and
//! database, and drive it over HTTP.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chartdesk::config::{ClientAuth, Config, SandboxClient, Secret};
use chartdesk::keys::{SigningKey, generate_pem, random_token};
use chartdesk::startup::Application;
use chartdesk::store::Store;
use chartdesk::web::Stopper;
use jsonwebtoken::Algorithm;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use url::Url;

pub const SECRET: &str = "s3cret/with+special&chars";

/// Keys of the test's own confidential clients (generated once per test process).
pub struct TestKeys {
    pub rs384: SigningKey,
    pub es384: SigningKey,
    /// A different RSA key published under the same kid as `rs384` nowhere: for bad signatures.
    pub rogue: SigningKey,
}

pub fn keys() -> &'static TestKeys {
    static KEYS: OnceLock<TestKeys> = OnceLock::new();
    KEYS.get_or_init(|| TestKeys {
        rs384: SigningKey::from_pem(generate_pem(Algorithm::RS384).unwrap().as_bytes(), Algorithm::RS384).unwrap(),
        es384: SigningKey::from_pem(generate_pem(Algorithm::ES384).unwrap().as_bytes(), Algorithm::ES384).unwrap(),
        rogue: SigningKey::from_pem(generate_pem(Algorithm::RS384).unwrap().as_bytes(), Algorithm::RS384).unwrap(),
    })
}

fn test_jwks() -> String {
    let k = keys();
    serde_json::to_string(&chartdesk::keys::jwks(&[&k.rs384, &k.es384])).unwrap()
}

fn client(tenant: &str, id: &str, auth: ClientAuth) -> SandboxClient {
    SandboxClient {
        tenant: tenant.into(),
        client_id: id.into(),
        auth,
        client_secret: (auth == ClientAuth::ClientSecretBasic).then(|| Secret::new(SECRET)),
        jwks: (auth == ClientAuth::PrivateKeyJwt).then(test_jwks),
        redirect_uris: vec!["/test-callback".into()],
        launch_uri: "/test-launch".into(),
        toolbar_launch_uri: None,
        allowed_scopes: None,
    }
}

/// The test registrations added to the default ones.
pub fn test_clients() -> Vec<SandboxClient> {
    let mut oracle = client("oracle-health", "test-oracle-basic", ClientAuth::ClientSecretBasic);
    oracle.allowed_scopes = Some(
        [
            "launch",
            "openid",
            "fhirUser",
            "online_access",
            "patient/Patient.read",
            "patient/Encounter.read",
            "user/Practitioner.read",
        ]
        .map(String::from)
        .to_vec(),
    );
    vec![
        client("generic", "test-public", ClientAuth::Public),
        client("generic", "test-basic", ClientAuth::ClientSecretBasic),
        client("generic", "test-jwt", ClientAuth::PrivateKeyJwt),
        client("epic", "test-epic-public", ClientAuth::Public),
        client("epic", "test-epic-jwt", ClientAuth::PrivateKeyJwt),
        oracle,
        client("oracle-health", "test-oracle-public", ClientAuth::Public),
        client("meditech", "test-meditech-public", ClientAuth::Public),
    ]
}

pub struct TestApp {
    pub base: String,
    pub store: Arc<dyn Store>,
    /// Follows no redirects, so tests can inspect every hop.
    pub http: reqwest::Client,
    /// Kept alive for the app's lifetime (dropping it deletes the directory).
    pub _data_dir: tempfile::TempDir,
    pub stopper: Stopper,
    /// Set by tests that themselves send writes to the sandbox (to prove they are refused):
    /// their journals are excluded from the "chartdesk never writes" check.
    pub direct_writes: std::sync::atomic::AtomicBool,
}

impl TestApp {
    /// This test sends writes to the sandbox itself.
    pub fn expect_direct_writes(&self) {
        self.direct_writes.store(true, std::sync::atomic::Ordering::SeqCst);
    }
}

/// Proof at the other end that chartdesk only reads: when a test's app goes away, its sandbox
/// journal (read with a fresh connection to the SQLite file) must hold no request other than
/// GET, except batches of GETs (journaled as `batch` only after the sandbox checked that every
/// entry is a GET).
/// A summary line per app is appended to `$CARGO_TARGET_TMPDIR/journal-summary.tsv`.
impl Drop for TestApp {
    fn drop(&mut self) {
        if std::thread::panicking() {
            return;
        }
        let db = self._data_dir.path().join("chartdesk.db");
        if !db.exists() {
            return; // a test that put the store elsewhere (PostgreSQL)
        }
        let excluded = self.direct_writes.load(std::sync::atomic::Ordering::SeqCst);
        let rows = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
            rt.block_on(async move {
                use sqlx::{Connection, Row};
                let url = format!("sqlite://{}?mode=ro", db.display());
                let mut conn = sqlx::SqliteConnection::connect(&url).await?;
                let rows = sqlx::query("SELECT method, kind, status FROM sandbox_journal").fetch_all(&mut conn).await?;
                Ok::<_, sqlx::Error>(
                    rows.iter()
                        .map(|r| (r.get::<String, _>("method"), r.get::<String, _>("kind"), r.get::<i64, _>("status")))
                        .collect::<Vec<_>>(),
                )
            })
        })
        .join()
        .expect("the journal check thread");
        let rows = match rows {
            Ok(r) => r,
            Err(e) if e.to_string().contains("no such table") => return,
            Err(e) => panic!("the sandbox journal could not be read: {e}"),
        };
        let fhir: Vec<_> = rows.iter().filter(|(_, k, _)| !k.starts_with("auth:")).collect();
        let non_get: Vec<_> = fhir.iter().filter(|(m, _, _)| m != "GET").collect();
        // The sandbox journals a batch as `batch` only once it has checked every entry is a GET.
        let writes: Vec<_> = non_get.iter().filter(|(_, k, _)| k != "batch").collect();
        let batches = non_get.len() - writes.len();
        let line = format!(
            "{}\t{}\t{}\t{}\t{}\n",
            fhir.len(),
            non_get.len(),
            batches,
            writes.len(),
            if excluded { "excluded" } else { "checked" }
        );
        let path = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("journal-summary.tsv");
        if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(path) {
            use std::io::Write;
            let _ = f.write_all(line.as_bytes());
        }
        if !excluded {
            assert!(writes.is_empty(), "the sandbox journal holds requests other than reads: {writes:?}");
        }
    }
}

pub fn base_config(data_dir: &std::path::Path) -> Config {
    let mut c = Config::default();
    c.server.bind = "127.0.0.1:0".into();
    c.server.data_dir = data_dir.to_path_buf();
    c.server.workers = 1;
    c.sandbox.clients.extend(test_clients());
    c
}

pub async fn spawn_app() -> TestApp {
    spawn_with(|_| {}).await
}

pub async fn spawn_with(adjust: impl FnOnce(&mut Config)) -> TestApp {
    let data_dir = tempfile::tempdir().unwrap();
    let mut config = base_config(data_dir.path());
    adjust(&mut config);
    let app = Application::build(config).await.expect("the application starts");
    let base = app.public_url.as_str().trim_end_matches('/').to_string();
    let store = app.store.clone();
    let stopper = app.stopper();
    tokio::spawn(app.run());
    TestApp {
        base,
        store,
        http: http_client(),
        _data_dir: data_dir,
        stopper,
        direct_writes: std::sync::atomic::AtomicBool::new(false),
    }
}

pub fn http_client() -> reqwest::Client {
    chartdesk::startup::install_crypto_provider();
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap()
}

/// A sandbox tenant's URLs.
#[derive(Clone, Debug)]
pub struct Tenant {
    pub id: &'static str,
    pub fhir: String,
    pub issuer: String,
}

impl Tenant {
    pub fn authorize(&self) -> String {
        format!("{}/authorize", self.issuer)
    }
    pub fn token(&self) -> String {
        format!("{}/token", self.issuer)
    }
}

pub const ORACLE_GUID: &str = "5c1e7b52-8f3d-4c1a-9e6b-2d7f0a93c4e1";

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn tenant(&self, id: &'static str) -> Tenant {
        let (fhir, auth) = match id {
            "generic" => ("/sandbox/generic/fhir".to_string(), "/sandbox/generic/auth".to_string()),
            "epic" => (
                "/sandbox/epic/interconnect-fhir-oauth/api/FHIR/R4".to_string(),
                "/sandbox/epic/interconnect-fhir-oauth/oauth2".to_string(),
            ),
            "oracle-health" => (
                format!("/sandbox/oracle-health/r4/{ORACLE_GUID}"),
                format!("/sandbox/oracle-health/tenants/{ORACLE_GUID}/protocols/oauth2/profiles/smart-v1"),
            ),
            "meditech" => ("/sandbox/meditech/v2/uscore/STU6".to_string(), "/sandbox/meditech/oauth".to_string()),
            other => panic!("unknown tenant {other}"),
        };
        Tenant { id, fhir: self.url(&fhir), issuer: self.url(&auth) }
    }

    pub fn redirect_uri(&self) -> String {
        self.url("/test-callback")
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http.get(self.url(path)).send().await.unwrap()
    }

    /// `/sandbox/ehr-launch?…` → (iss, launch) from the 302 to the app's launch URL.
    pub async fn ehr_launch(&self, query: &str) -> (String, String) {
        let resp = self.get(&format!("/sandbox/ehr-launch?{query}")).await;
        assert_eq!(resp.status(), 302, "ehr-launch {query}: {}", resp.text().await.unwrap_or_default());
        let location = Url::parse(resp.headers()["location"].to_str().unwrap()).unwrap();
        let q = query_map(&location);
        (q["iss"].clone(), q["launch"].clone())
    }

    pub async fn journal_since(&self, since: i64) -> Value {
        self.get(&format!("/sandbox/journal?since={since}")).await.json().await.unwrap()
    }
}

pub fn query_map(url: &Url) -> HashMap<String, String> {
    url.query_pairs().into_owned().collect()
}

pub fn location(resp: &reqwest::Response) -> Url {
    Url::parse(resp.headers().get("location").expect("a Location header").to_str().unwrap()).unwrap()
}

pub struct Pkce {
    pub verifier: String,
    pub challenge: String,
}

pub fn pkce() -> Pkce {
    let verifier = random_token(48);
    let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
    Pkce { verifier, challenge }
}

/// An authorization request under construction (raw HTTP, for negative tests).
pub struct Authorize {
    pub params: Vec<(String, String)>,
    pub pkce: Pkce,
    pub state: String,
}

impl Authorize {
    pub fn new(app: &TestApp, tenant: &Tenant, client_id: &str, scope: &str) -> Authorize {
        let pkce = pkce();
        let state = random_token(16);
        let params = vec![
            ("response_type".into(), "code".into()),
            ("client_id".into(), client_id.into()),
            ("redirect_uri".into(), app.redirect_uri()),
            ("scope".into(), scope.into()),
            ("state".into(), state.clone()),
            ("aud".into(), tenant.fhir.clone()),
            ("code_challenge".into(), pkce.challenge.clone()),
            ("code_challenge_method".into(), "S256".into()),
        ];
        Authorize { params, pkce, state }
    }

    pub fn set(mut self, k: &str, v: &str) -> Self {
        self.params.retain(|(key, _)| key != k);
        self.params.push((k.into(), v.into()));
        self
    }

    pub fn without(mut self, k: &str) -> Self {
        self.params.retain(|(key, _)| key != k);
        self
    }

    pub fn url(&self, tenant: &Tenant) -> String {
        let mut u = Url::parse(&tenant.authorize()).unwrap();
        u.query_pairs_mut().extend_pairs(self.params.iter());
        u.to_string()
    }

    /// GET the authorize endpoint; returns the redirect's query (or panics with the page).
    pub async fn redirect(&self, app: &TestApp, tenant: &Tenant) -> HashMap<String, String> {
        let resp = app.http.get(self.url(tenant)).send().await.unwrap();
        assert_eq!(resp.status(), 302, "authorize: {}", resp.text().await.unwrap_or_default());
        let loc = location(&resp);
        assert!(loc.as_str().starts_with(&app.redirect_uri()), "redirects only to the registered URI: {loc}");
        query_map(&loc)
    }
}

pub enum Cred<'a> {
    Public(&'a str),
    Basic(&'a str, &'a str),
}

/// POST the token endpoint with a form; returns (status, JSON body).
pub async fn token(app: &TestApp, tenant: &Tenant, cred: Cred<'_>, form: &[(&str, &str)]) -> (u16, Value) {
    let mut form: Vec<(String, String)> = form.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    let mut req = app.http.post(tenant.token());
    match cred {
        Cred::Public(id) => form.push(("client_id".into(), id.into())),
        Cred::Basic(id, secret) => {
            let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
            let basic = base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", enc(id), enc(secret)));
            req = req.header("authorization", format!("Basic {basic}"));
        }
    }
    let resp = req.form(&form).send().await.unwrap();
    let status = resp.status().as_u16();
    if status == 200 {
        assert_eq!(resp.headers()["cache-control"], "no-store", "token responses are not cacheable");
    }
    (status, resp.json().await.unwrap_or(Value::Null))
}

pub fn assertion(key: &SigningKey, client_id: &str, aud: &str, exp_in: i64, jti: &str) -> String {
    let now = chrono::Utc::now().timestamp();
    key.sign(&json!({ "iss": client_id, "sub": client_id, "aud": aud, "exp": now + exp_in, "iat": now, "jti": jti }))
        .unwrap()
}

/// Run launch → authorize → code; returns (code, pkce verifier).
pub async fn launch_code(
    app: &TestApp,
    tenant: &Tenant,
    client_id: &str,
    query: &str,
    scope: &str,
) -> (String, String) {
    let (iss, launch) = app.ehr_launch(&format!("vendor={}&client={client_id}&{query}", tenant.id)).await;
    assert_eq!(iss, tenant.fhir, "iss is the tenant's FHIR base");
    let auth = Authorize::new(app, tenant, client_id, scope).set("launch", &launch);
    let q = auth.redirect(app, tenant).await;
    assert_eq!(q.get("state"), Some(&auth.state), "state is echoed");
    let code = q.get("code").unwrap_or_else(|| panic!("no code: {q:?}")).clone();
    (code, auth.pkce.verifier)
}

/// A full launch for a public client; returns the token response.
pub async fn public_launch(app: &TestApp, tenant: &Tenant, client_id: &str, query: &str, scope: &str) -> Value {
    let (code, verifier) = launch_code(app, tenant, client_id, query, scope).await;
    let (status, body) = token(
        app,
        tenant,
        Cred::Public(client_id),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &app.redirect_uri()),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body
}

pub async fn fhir_get(app: &TestApp, tenant: &Tenant, token: &str, path: &str) -> (u16, Value) {
    let resp = app.http.get(format!("{}{path}", tenant.fhir)).bearer_auth(token).send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

pub const LAUNCH_SCOPE: &str = "launch openid fhirUser patient/Patient.rs patient/Encounter.rs user/Practitioner.rs user/PractitionerRole.rs user/Location.rs";

/// The environment variable holding a test service URL, if set (and then it must work).
pub fn service_url(var: &str) -> Option<String> {
    std::env::var(var).ok().filter(|v| !v.trim().is_empty())
}

/// A browser: a cookie jar, redirects followed by hand so every hop can be inspected.
pub struct Browser {
    pub http: reqwest::Client,
}

impl Browser {
    pub fn new() -> Browser {
        chartdesk::startup::install_crypto_provider();
        let http =
            reqwest::Client::builder().cookie_store(true).redirect(reqwest::redirect::Policy::none()).build().unwrap();
        Browser { http }
    }

    /// GET `url` and follow redirects; returns the final response and every URL visited.
    pub async fn follow(&self, url: &str) -> (reqwest::Response, Vec<String>) {
        let mut visited = vec![url.to_string()];
        let mut resp = self.http.get(url).send().await.unwrap();
        for _ in 0..15 {
            if !resp.status().is_redirection() {
                break;
            }
            let next = resp.url().join(resp.headers()["location"].to_str().unwrap()).unwrap();
            visited.push(next.to_string());
            resp = self.http.get(next).send().await.unwrap();
        }
        (resp, visited)
    }

    /// Follow a whole sandbox EHR launch to its last page; returns (status, final URL, body).
    pub async fn launch(&self, app: &TestApp, query: &str) -> (u16, String, String) {
        let (resp, _) = self.follow(&app.url(&format!("/sandbox/ehr-launch?{query}"))).await;
        let status = resp.status().as_u16();
        let url = resp.url().to_string();
        (status, url, resp.text().await.unwrap())
    }
}

pub fn tenant_mut<'a>(c: &'a mut chartdesk::config::Config, id: &str) -> &'a mut chartdesk::config::TenantConfig {
    c.tenants.iter_mut().find(|t| t.id == id).unwrap_or_else(|| panic!("no tenant {id}"))
}

/// The text of the page's `<h1>`.
pub fn h1(html: &str) -> String {
    html.split("<h1")
        .nth(1)
        .and_then(|s| s.split_once('>'))
        .map(|(_, r)| r.split("</h1>").next().unwrap_or("").trim().to_string())
        .unwrap_or_default()
}

/// Journal entries since `since`, including the authorization servers' (`auth:` kinds).
pub async fn journal_all(app: &TestApp, since: i64) -> Vec<Value> {
    let j: Value = app.get(&format!("/sandbox/journal?include=auth&since={since}")).await.json().await.unwrap();
    j["entries"].as_array().unwrap().clone()
}

pub async fn journal_cursor(app: &TestApp) -> i64 {
    let j: Value = app.get("/sandbox/journal?include=auth&since=0&limit=10000").await.json().await.unwrap();
    j["next_since"].as_i64().unwrap()
}

/// A TCP proxy in front of a real service (Redis) that a test can take down and bring back.
pub struct Proxy {
    pub port: u16,
    /// `false`: existing connections are cut and new ones refused; `true`: relayed again.
    pub up: tokio::sync::watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    pub async fn start(upstream: String) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (up, up_rx) = tokio::sync::watch::channel(true);
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else { break };
                let mut up = up_rx.clone();
                if !*up.borrow() {
                    drop(inbound);
                    continue;
                }
                let upstream = upstream.clone();
                tokio::spawn(async move {
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(&upstream).await else { return };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = up.wait_for(|u| !*u) => {}
                    }
                });
            }
        });
        Proxy { port, up, task }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}
