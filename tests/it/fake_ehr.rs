//! A scriptable fake EHR (discovery, token endpoint, FHIR reads) that records every request,
//! for tests that must see exactly what chartdesk sends or feed it vendor quirks the sandbox
//! does not produce.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use serde_json::{Value, json};

#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub headers: HashMap<String, String>,
    pub body: String,
}

impl Recorded {
    pub fn form(&self) -> HashMap<String, String> {
        url::form_urlencoded::parse(self.body.as_bytes()).into_owned().collect()
    }
}

pub struct Script {
    /// `None`: 404 for the well-known document (forces the /metadata fallback).
    pub well_known: Option<Value>,
    pub metadata: Option<Value>,
    /// Answers to successive token requests (the last one repeats).
    pub token_responses: Vec<(u16, Value)>,
    /// FHIR answers by path below /fhir, e.g. "/Practitioner/u1".
    pub fhir: HashMap<String, (u16, Value)>,
    /// Raw FHIR answers (any body, headers, a delay), checked before `fhir`.
    pub fhir_raw: HashMap<String, Raw>,
}

/// A raw answer: for malformed, oversized, slow or rate-limited responses.
#[derive(Clone, Debug, Default)]
pub struct Raw {
    pub status: u16,
    pub body: String,
    pub headers: Vec<(String, String)>,
    pub delay: std::time::Duration,
}

impl Default for Script {
    fn default() -> Self {
        Script {
            well_known: Some(json!({
                "authorization_endpoint": "../oauth/authorize",
                "token_endpoint": "../oauth/token",
                "capabilities": ["launch-ehr", "client-public", "context-passthrough-banner"],
                "grant_types_supported": ["authorization_code"]
            })),
            metadata: None,
            token_responses: vec![(
                200,
                json!({"access_token": "fake-access", "token_type": "Bearer", "expires_in": 3600, "scope": "launch openid fhirUser"}),
            )],
            fhir: HashMap::new(),
            fhir_raw: HashMap::new(),
        }
    }
}

#[derive(Clone)]
pub struct FakeEhr {
    pub base: String,
    pub fhir: String,
    pub log: Arc<Mutex<Vec<Recorded>>>,
}

impl FakeEhr {
    pub async fn start(script: Script) -> FakeEhr {
        let log = Arc::new(Mutex::new(Vec::new()));
        let script = Arc::new(Mutex::new(script));
        let token_calls = Arc::new(Mutex::new(0usize));
        let state = (log.clone(), script, token_calls);
        let server = HttpServer::new(move || {
            App::new().app_data(web::Data::new(state.clone())).default_service(web::to(handle))
        })
        .workers(2)
        .bind("127.0.0.1:0")
        .unwrap();
        let port = server.addrs()[0].port();
        tokio::spawn(server.run());
        let base = format!("http://127.0.0.1:{port}");
        FakeEhr { fhir: format!("{base}/fhir"), base, log }
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.log.lock().unwrap().clone()
    }

    pub fn count(&self, path: &str) -> usize {
        self.requests().iter().filter(|r| r.path == path).count()
    }

    pub fn token_requests(&self) -> Vec<Recorded> {
        self.requests().into_iter().filter(|r| r.path == "/oauth/token").collect()
    }
}

type State = (Arc<Mutex<Vec<Recorded>>>, Arc<Mutex<Script>>, Arc<Mutex<usize>>);

async fn handle(req: HttpRequest, body: web::Bytes, state: web::Data<State>) -> HttpResponse {
    let (log, script, token_calls) = state.get_ref();
    let rec = Recorded {
        method: req.method().to_string(),
        path: req.path().to_string(),
        headers: req
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
            .collect(),
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    log.lock().unwrap().push(rec.clone());
    let raw = rec.path.strip_prefix("/fhir").and_then(|p| script.lock().unwrap().fhir_raw.get(p).cloned());
    if let Some(raw) = raw {
        tokio::time::sleep(raw.delay).await;
        let mut resp = HttpResponse::build(actix_web::http::StatusCode::from_u16(raw.status).unwrap());
        resp.content_type("application/fhir+json");
        for (k, v) in &raw.headers {
            resp.insert_header((k.as_str(), v.as_str()));
        }
        return resp.body(raw.body);
    }
    let script = script.lock().unwrap();
    let json = |status: u16, v: &Value| {
        HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap())
            .content_type("application/json")
            .body(v.to_string())
    };
    match (rec.method.as_str(), rec.path.as_str()) {
        ("GET", "/fhir/.well-known/smart-configuration") => match &script.well_known {
            Some(doc) => json(200, doc),
            None => HttpResponse::NotFound().finish(),
        },
        ("GET", "/fhir/metadata") => match &script.metadata {
            Some(doc) => json(200, doc),
            None => HttpResponse::NotFound().finish(),
        },
        ("GET", "/oauth/authorize") => HttpResponse::Ok().body("fake authorize page"),
        ("POST", "/oauth/token") => {
            let mut n = token_calls.lock().unwrap();
            let (status, body) = script.token_responses.get(*n).or(script.token_responses.last()).cloned().unwrap();
            *n += 1;
            json(status, &body)
        }
        ("GET", p) if p.starts_with("/fhir/") => match script.fhir.get(&p["/fhir".len()..]) {
            Some((status, v)) => json(*status, v),
            None => json(
                404,
                &json!({"resourceType": "OperationOutcome", "issue": [{"severity": "error", "code": "not-found"}]}),
            ),
        },
        _ => HttpResponse::NotFound().finish(),
    }
}
