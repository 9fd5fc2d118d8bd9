//! In-process fakes of the SaaS desks chartdesk cannot reach from CI (ServiceNow Table API,
//! Jira Service Management, a webhook receiver), built from the vendors' documented request
//! and response shapes. Each fake checks the contract (method, path, auth, content type, field
//! names and types), answers like the vendor, records every request, and can be told to fail
//! in the ways that matter for no-loss / no-duplicate delivery: commit then answer 500, commit
//! then hang past the client's timeout, fail without committing, reject.
//!
//! Like a real desk, the ServiceNow and Jira fakes do not dedupe creates: two POSTs with the
//! same correlation id make two incidents. Only chartdesk's search-before-resend prevents that.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use base64::Engine;
use serde_json::{Value, json};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Store the ticket, then answer 500.
    CommitThen500,
    /// Store the ticket, then answer only after the client has given up.
    CommitThenHang,
    /// Answer 503 without storing anything.
    Unavailable,
    /// Answer 400 (a ticket the desk will never accept).
    Reject,
}

#[derive(Clone, Debug)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: HashMap<String, String>,
    pub body: String,
}

#[derive(Clone, Debug)]
pub struct Created {
    /// The desk's number (INC0010001, ITSD-1, WH-1).
    pub number: String,
    /// The dedupe key as the desk stored it.
    pub key: String,
    pub body: Value,
}

#[derive(Default)]
pub struct DeskState {
    pub requests: Vec<Request>,
    pub created: Vec<Created>,
    pub faults: VecDeque<Fault>,
    /// Contract violations the fake answered 400 to (a test asserts this stays empty).
    pub violations: Vec<String>,
    /// Webhook: deliveries refused for a bad or stale signature.
    pub bad_signatures: usize,
}

pub const SN_USER: &str = "chartdesk.integration";
pub const SN_PASSWORD: &str = "sn-pass-1";
pub const JIRA_EMAIL: &str = "chartdesk@hospital.example";
pub const JIRA_TOKEN: &str = "jira-token-1";
pub const JIRA_DESK: &str = "10";
pub const JIRA_REQUEST_TYPE: &str = "25";
pub const WEBHOOK_SECRET: &str = "webhook-secret-0123456789abcdef-0123";
/// How long a "hang" lasts: longer than the 1 s client timeout the tests configure.
const HANG: Duration = Duration::from_secs(3);

#[derive(Clone)]
pub struct FakeDesk {
    pub base: String,
    pub state: Arc<Mutex<DeskState>>,
}

impl FakeDesk {
    pub async fn start() -> FakeDesk {
        let state = Arc::new(Mutex::new(DeskState::default()));
        let shared = state.clone();
        let server = HttpServer::new(move || {
            App::new().app_data(web::Data::new(shared.clone())).default_service(web::to(handle))
        })
        .workers(2)
        .bind("127.0.0.1:0")
        .unwrap();
        let port = server.addrs()[0].port();
        tokio::spawn(server.run());
        FakeDesk { base: format!("http://127.0.0.1:{port}"), state }
    }

    pub fn fail_next(&self, faults: &[Fault]) {
        self.state.lock().unwrap().faults.extend(faults.iter().copied());
    }

    pub fn created(&self) -> Vec<Created> {
        self.state.lock().unwrap().created.clone()
    }

    pub fn requests(&self) -> Vec<Request> {
        self.state.lock().unwrap().requests.clone()
    }

    pub fn violations(&self) -> Vec<String> {
        self.state.lock().unwrap().violations.clone()
    }
}

type Shared = Arc<Mutex<DeskState>>;

fn json_resp(status: u16, v: &Value) -> HttpResponse {
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap())
        .content_type("application/json")
        .body(v.to_string())
}

fn basic(headers: &HashMap<String, String>) -> Option<(String, String)> {
    let b64 = headers.get("authorization")?.strip_prefix("Basic ")?;
    let raw = String::from_utf8(base64::engine::general_purpose::STANDARD.decode(b64).ok()?).ok()?;
    let (u, p) = raw.split_once(':')?;
    Some((u.to_string(), p.to_string()))
}

async fn handle(req: HttpRequest, body: web::Bytes, state: web::Data<Shared>) -> HttpResponse {
    let rec = Request {
        method: req.method().to_string(),
        path: req.path().to_string(),
        query: req.query_string().to_string(),
        headers: req
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
            .collect(),
        body: String::from_utf8_lossy(&body).into_owned(),
    };
    state.lock().unwrap().requests.push(rec.clone());
    let query: HashMap<String, String> = url::form_urlencoded::parse(rec.query.as_bytes()).into_owned().collect();
    let outcome = match (rec.method.as_str(), rec.path.as_str()) {
        ("POST", "/api/now/table/incident") => servicenow_create(&state, &rec, &query),
        ("GET", "/api/now/table/incident") => servicenow_find(&state, &rec, &query),
        ("POST", "/rest/servicedeskapi/request") => jira_create(&state, &rec),
        ("GET", "/rest/api/3/search/jql") => jira_find(&state, &rec, &query),
        ("POST", "/hook") => webhook(&state, &rec, &body),
        _ => Answer::Now(404, json!({"message": "no such endpoint"})),
    };
    match outcome {
        Answer::Now(status, v) => json_resp(status, &v),
        Answer::Hang(status, v) => {
            tokio::time::sleep(HANG).await;
            json_resp(status, &v)
        }
    }
}

enum Answer {
    Now(u16, Value),
    Hang(u16, Value),
}

fn violation(state: &Shared, what: String) -> Answer {
    state.lock().unwrap().violations.push(what.clone());
    Answer::Now(400, json!({"error": {"message": "contract violation", "detail": what}, "status": "failure"}))
}

/// Take the next fault and apply it around `commit` (which stores and returns the success answer).
fn with_fault(state: &Shared, commit: impl FnOnce(&mut DeskState) -> (u16, Value)) -> Answer {
    let fault = state.lock().unwrap().faults.pop_front();
    match fault {
        Some(Fault::Unavailable) => Answer::Now(503, json!({"error": {"message": "maintenance"}})),
        Some(Fault::Reject) => Answer::Now(400, json!({"error": {"message": "rejected by a business rule"}})),
        Some(Fault::CommitThen500) => {
            commit(&mut state.lock().unwrap());
            Answer::Now(500, json!({"error": {"message": "internal error"}}))
        }
        Some(Fault::CommitThenHang) => {
            let (s, v) = commit(&mut state.lock().unwrap());
            Answer::Hang(s, v)
        }
        None => {
            let (s, v) = commit(&mut state.lock().unwrap());
            Answer::Now(s, v)
        }
    }
}

fn require_json_call(rec: &Request) -> Result<(), String> {
    if rec.headers.get("accept").map(String::as_str) != Some("application/json") {
        return Err(format!("{} {}: Accept must be application/json", rec.method, rec.path));
    }
    if rec.method == "POST" && rec.headers.get("content-type").map(String::as_str) != Some("application/json") {
        return Err(format!("{} {}: Content-Type must be application/json", rec.method, rec.path));
    }
    Ok(())
}

// ---------------------------------------------------------------- ServiceNow Table API

const SN_FIELDS: &[&str] = &[
    "short_description",
    "description",
    "category",
    "subcategory",
    "urgency",
    "impact",
    "contact_type",
    "correlation_id",
    "correlation_display",
    "assignment_group",
    "caller_id",
];

fn servicenow_auth(rec: &Request) -> Result<(), String> {
    require_json_call(rec)?;
    match basic(&rec.headers) {
        Some((u, p)) if u == SN_USER && p == SN_PASSWORD => Ok(()),
        _ => Err("ServiceNow: Basic auth with the integration user".into()),
    }
}

fn servicenow_create(state: &Shared, rec: &Request, query: &HashMap<String, String>) -> Answer {
    if let Err(e) = servicenow_auth(rec) {
        return if e.starts_with("ServiceNow: Basic") {
            Answer::Now(401, json!({"error": {"message": "User Not Authenticated"}, "status": "failure"}))
        } else {
            violation(state, e)
        };
    }
    let Ok(body) = serde_json::from_str::<Value>(&rec.body) else { return violation(state, "body not JSON".into()) };
    let Some(obj) = body.as_object() else { return violation(state, "body not an object".into()) };
    for (k, v) in obj {
        if !SN_FIELDS.contains(&k.as_str()) {
            return violation(state, format!("unknown incident field {k}"));
        }
        if !v.is_string() {
            return violation(state, format!("incident field {k} must be a string"));
        }
    }
    for required in ["short_description", "description", "correlation_id", "urgency", "impact"] {
        if obj.get(required).and_then(Value::as_str).is_none_or(str::is_empty) {
            return violation(state, format!("missing {required}"));
        }
    }
    for choice in ["urgency", "impact"] {
        if !["1", "2", "3"].contains(&obj[choice].as_str().unwrap()) {
            return violation(state, format!("{choice} must be 1, 2 or 3"));
        }
    }
    if obj["short_description"].as_str().unwrap().chars().count() > 160 {
        return violation(state, "short_description longer than 160".into());
    }
    if query.get("sysparm_fields").map(String::as_str) != Some("sys_id,number") {
        return violation(state, "create should ask only for sys_id,number".into());
    }
    let key = obj["correlation_id"].as_str().unwrap().to_string();
    with_fault(state, move |s| {
        let n = s.created.len() + 1;
        let number = format!("INC{:07}", 10000 + n);
        let sys_id = format!("{:032x}", n);
        s.created.push(Created { number: number.clone(), key, body: body.clone() });
        (201, json!({"result": {"sys_id": sys_id, "number": number}}))
    })
}

fn servicenow_find(state: &Shared, rec: &Request, query: &HashMap<String, String>) -> Answer {
    if let Err(e) = servicenow_auth(rec) {
        return violation(state, e);
    }
    let Some(q) = query.get("sysparm_query") else { return violation(state, "find without sysparm_query".into()) };
    // correlation_id=<key>^ORDERBYsys_created_on
    let mut parts = q.split('^');
    let Some(key) = parts.next().and_then(|p| p.strip_prefix("correlation_id=")) else {
        return violation(state, format!("unexpected sysparm_query {q}"));
    };
    let s = state.lock().unwrap();
    let limit: usize = query.get("sysparm_limit").and_then(|l| l.parse().ok()).unwrap_or(10_000);
    let result: Vec<Value> = s
        .created
        .iter()
        .filter(|c| c.key == key)
        .take(limit)
        .map(|c| json!({"sys_id": "x", "number": c.number}))
        .collect();
    Answer::Now(200, json!({ "result": result }))
}

// ---------------------------------------------------------------- Jira Service Management

fn jira_auth(rec: &Request) -> Result<(), String> {
    require_json_call(rec)?;
    match basic(&rec.headers) {
        Some((u, p)) if u == JIRA_EMAIL && p == JIRA_TOKEN => Ok(()),
        _ => Err("JSM: Basic auth with email and API token".into()),
    }
}

fn jira_create(state: &Shared, rec: &Request) -> Answer {
    if let Err(e) = jira_auth(rec) {
        return violation(state, e);
    }
    let Ok(body) = serde_json::from_str::<Value>(&rec.body) else { return violation(state, "body not JSON".into()) };
    if body["serviceDeskId"] != JIRA_DESK || body["requestTypeId"] != JIRA_REQUEST_TYPE {
        return violation(state, "serviceDeskId / requestTypeId must be the configured strings".into());
    }
    let Some(fields) = body["requestFieldValues"].as_object() else {
        return violation(state, "missing requestFieldValues".into());
    };
    for k in fields.keys() {
        if !["summary", "description", "labels"].contains(&k.as_str()) {
            return violation(state, format!("field {k} is not on the request type"));
        }
    }
    if fields.get("summary").and_then(Value::as_str).is_none_or(str::is_empty)
        || fields.get("description").and_then(Value::as_str).is_none()
    {
        return violation(state, "summary and description are required strings".into());
    }
    let labels: Vec<String> = fields
        .get("labels")
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(|l| l.as_str().map(String::from)).collect())
        .unwrap_or_default();
    if labels.iter().any(|l| l.contains(' ')) {
        return violation(state, "labels cannot contain spaces".into());
    }
    let Some(key) = labels.iter().find_map(|l| l.strip_prefix("chartdesk-")).map(String::from) else {
        return violation(state, "no chartdesk-<key> label".into());
    };
    with_fault(state, move |s| {
        let n = s.created.len() + 1;
        let issue_key = format!("ITSD-{n}");
        s.created.push(Created { number: issue_key.clone(), key, body: body.clone() });
        (
            201,
            json!({
                "issueId": format!("{}", 10000 + n), "issueKey": issue_key,
                "requestTypeId": JIRA_REQUEST_TYPE, "serviceDeskId": JIRA_DESK,
                "currentStatus": {"status": "Waiting for support", "statusCategory": "NEW"},
                "_links": {"web": format!("https://hospital.atlassian.net/servicedesk/customer/portal/1/ITSD-{n}")}
            }),
        )
    })
}

fn jira_find(state: &Shared, rec: &Request, query: &HashMap<String, String>) -> Answer {
    if let Err(e) = jira_auth(rec) {
        return violation(state, e);
    }
    let Some(jql) = query.get("jql") else { return violation(state, "search without jql".into()) };
    let Some(label) = jql.strip_prefix("labels = \"").and_then(|r| r.split_once('"')).map(|(l, _)| l.to_string())
    else {
        return violation(state, format!("unexpected jql {jql}"));
    };
    let key = label.strip_prefix("chartdesk-").unwrap_or("").to_string();
    let s = state.lock().unwrap();
    let issues: Vec<Value> = s
        .created
        .iter()
        .filter(|c| c.key == key)
        .map(|c| json!({"id": "1", "key": c.number, "fields": {}}))
        .take(query.get("maxResults").and_then(|m| m.parse().ok()).unwrap_or(50))
        .collect();
    Answer::Now(200, json!({ "issues": issues, "isLast": true }))
}

// ---------------------------------------------------------------- webhook receiver

fn webhook(state: &Shared, rec: &Request, raw: &[u8]) -> Answer {
    let (Some(ts), Some(sig)) = (rec.headers.get("x-chartdesk-timestamp"), rec.headers.get("x-chartdesk-signature"))
    else {
        return violation(state, "webhook without timestamp or signature".into());
    };
    let now = chrono::Utc::now().timestamp();
    let check = chartdesk::desk::webhook::verify(
        WEBHOOK_SECRET.as_bytes(),
        ts,
        raw,
        sig,
        now,
        chartdesk::desk::webhook::TOLERANCE,
    );
    if check.is_err() {
        state.lock().unwrap().bad_signatures += 1;
        return Answer::Now(401, json!({"error": "bad signature"}));
    }
    let Ok(body) = serde_json::from_slice::<Value>(raw) else { return violation(state, "body not JSON".into()) };
    let Some(key) = body["key"].as_str().map(String::from) else { return violation(state, "no key".into()) };
    if rec.headers.get("x-chartdesk-delivery") != Some(&key) || rec.headers.get("idempotency-key") != Some(&key) {
        return violation(state, "delivery / idempotency headers must carry the key".into());
    }
    // The receiver contract: idempotent by key.
    if let Some(existing) = state.lock().unwrap().created.iter().find(|c| c.key == key) {
        return Answer::Now(200, json!({"reference": existing.number}));
    }
    with_fault(state, move |s| {
        let number = format!("WH-{}", s.created.len() + 1);
        s.created.push(Created { number: number.clone(), key, body: body.clone() });
        (202, json!({ "reference": number }))
    })
}
