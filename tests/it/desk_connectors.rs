//! The HTTP desk connectors, end to end over real HTTP: ServiceNow, Jira Service Management and
//! the signed webhook against contract-checking fakes (tests/it/fake_desk.rs), and Request
//! Tracker 5 for real when CHARTDESK_TEST_RT_URL is set (.ci/run starts RT from Debian's
//! packages with .ci/rt5.sh and sets it; then the test must pass).
//!
//! Every test plants PHI of the patient in context and checks that no desk request carries it,
//! and makes the desk fail after committing, then counts exactly one ticket per message.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use serde_json::{Value, json};

use crate::context::{api, api_post, launch_as};
use crate::desk::wait_for;
use crate::fake_desk::*;
use crate::helpers::*;

/// Planted: the patient in context (pat-01) and an SSN.
const PLANTED: [&str; 6] = ["Quillfeather", "Rosalind", "RB0000101", "03/14/1948", "555-0170", "123-45-6789"];

fn phi_text(i: usize) -> String {
    format!(
        "label printer {i} on 4W prints blank wristbands for Rosalind Quillfeather RB0000101 dob 03/14/1948, \
         ssn 123-45-6789 on screen, callback 555-0170"
    )
}

/// Send `n` IT messages; returns (message id, ticket id) pairs.
async fn send(app: &TestApp, b: &Browser, l: &str, tag: &str, n: usize) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for i in 0..n {
        let body = json!({ "client_message_id": format!("{tag}-{i}"), "text": phi_text(i) }).to_string();
        let (s, r) = api_post(app, b, l, "/api/messages", &body).await;
        assert_eq!(s, 201, "{r}");
        assert_eq!(r["route"], "it", "{r}");
        out.push((r["messageId"].as_str().unwrap().to_string(), r["tickets"][0]["id"].as_str().unwrap().to_string()));
    }
    out
}

/// Wait until every message's ticket leaves `pending`; returns ticket id → ticket receipt.
async fn settled(app: &TestApp, b: &Browser, l: &str, sent: &[(String, String)]) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for (message, ticket) in sent {
        let r = wait_for("the ticket to settle", async || {
            let (_, r) = api(app, b, l, &format!("/api/messages/{message}")).await;
            (r["tickets"][0]["status"] != "pending").then(|| r["tickets"][0].clone())
        })
        .await;
        out.insert(ticket.clone(), r);
    }
    out
}

fn assert_no_phi(what: &str, text: &str) {
    for p in PLANTED {
        assert!(!text.contains(p), "{p} reached {what}: {text}");
    }
}

fn fast_relay(c: &mut chartdesk::config::Config) {
    c.desk.relay_interval_ms = 50;
    c.desk.retry_base_ms = 50;
    c.desk.retry_max_secs = 1;
    c.desk.max_attempts = 20;
    c.desk.http_timeout_secs = 1;
}

#[tokio::test]
async fn servicenow_incidents_match_the_table_api_and_survive_failures_after_commit() {
    let desk = FakeDesk::start().await;
    // Two creates commit and then fail (500, and a hang past the client timeout); one fails
    // before committing. Only the search by correlation_id keeps these from duplicating.
    desk.fail_next(&[Fault::CommitThen500, Fault::CommitThenHang, Fault::Unavailable]);
    let base = desk.base.clone();
    let app = spawn_with(move |c| {
        fast_relay(c);
        c.desk.servicenow_url = Some(base);
        c.desk.servicenow_user = Some(SN_USER.into());
        c.desk.servicenow_password = Some(chartdesk::config::Secret::new(SN_PASSWORD));
    })
    .await;
    let (b, l) = launch_as(&app, "vendor=generic&practitioner=pr-jpike&patient=pat-01").await;
    let sent = send(&app, &b, &l, "sn", 4).await;
    let receipts = settled(&app, &b, &l, &sent).await;

    let created = desk.created();
    assert!(desk.violations().is_empty(), "contract violations: {:?}", desk.violations());
    let keys: BTreeSet<&str> = created.iter().map(|c| c.key.as_str()).collect();
    let tickets: BTreeSet<&str> = sent.iter().map(|(_, t)| t.as_str()).collect();
    assert_eq!((created.len(), &keys), (4, &tickets), "exactly one incident per message, keyed by the ticket id");
    for c in &created {
        let r = &receipts[&c.key];
        assert_eq!(r["status"], "delivered", "{r}");
        assert_eq!(r["number"], c.number.as_str(), "the clinician sees the incident number");
        assert!(r["message"].as_str().unwrap().contains(&c.number), "{r}");
        let body = &c.body;
        assert_eq!(body["correlation_id"], c.key.as_str());
        assert_eq!(body["correlation_display"], "chartdesk");
        assert_eq!((body["urgency"].as_str(), body["impact"].as_str()), (Some("3"), Some("3")));
        assert_eq!(body["category"], "hardware", "PRINTER maps to hardware");
        let description = body["description"].as_str().unwrap();
        assert!(description.contains("[NAME]") && description.contains("Category: PRINTER"), "{description}");
        assert!(description.contains(&format!("Conversation: {}/api/messages/", app.base)), "{description}");
        assert!(description.contains("Reporter: ") && description.contains("Practitioner/"), "{description}");
    }
    let requests = desk.requests();
    let searches = requests.iter().filter(|r| r.method == "GET").count();
    assert!(searches >= 3, "each retried ticket was searched by key before any re-send: {searches}");
    // 4 first attempts + 1 re-send for the create that failed before committing; the two that
    // committed were found by key and not sent again.
    assert_eq!(requests.iter().filter(|r| r.method == "POST").count(), 5);
    for r in &requests {
        assert_no_phi("ServiceNow", &format!("{} {}", r.query, r.body));
    }
}

#[tokio::test]
async fn jira_requests_match_the_servicedesk_api_and_a_rejected_one_is_dead_lettered() {
    let desk = FakeDesk::start().await;
    desk.fail_next(&[Fault::CommitThen500, Fault::Reject]);
    let base = desk.base.clone();
    let app = spawn_with(move |c| {
        fast_relay(c);
        c.desk.batch = 1; // one create at a time, so the faults hit the tickets in order
        c.desk.jira_url = Some(base);
        c.desk.jira_email = Some(JIRA_EMAIL.into());
        c.desk.jira_api_token = Some(chartdesk::config::Secret::new(JIRA_TOKEN));
        c.desk.jira_service_desk_id = Some(JIRA_DESK.into());
        c.desk.jira_request_type_id = Some(JIRA_REQUEST_TYPE.into());
    })
    .await;
    let (b, l) = launch_as(&app, "vendor=generic&practitioner=pr-jpike&patient=pat-01").await;
    let sent = send(&app, &b, &l, "jira", 3).await;
    let receipts = settled(&app, &b, &l, &sent).await;
    assert!(desk.violations().is_empty(), "contract violations: {:?}", desk.violations());

    let created = desk.created();
    let statuses: BTreeMap<&str, &str> =
        receipts.iter().map(|(k, r)| (k.as_str(), r["status"].as_str().unwrap())).collect();
    assert_eq!(statuses.values().filter(|s| **s == "dead-letter").count(), 1, "{statuses:?}");
    assert_eq!(created.len(), 2, "one issue per delivered ticket, none for the rejected one: {created:?}");
    for c in &created {
        assert_eq!(statuses[c.key.as_str()], "delivered");
        assert_eq!(receipts[&c.key]["number"], c.number.as_str());
        assert_eq!(c.body["requestFieldValues"]["labels"], json!([format!("chartdesk-{}", c.key)]));
        assert!(c.body["requestFieldValues"]["summary"].as_str().unwrap().starts_with("[chartdesk PRINTER]"));
    }
    let searches: Vec<_> = desk.requests().into_iter().filter(|r| r.method == "GET").collect();
    assert!(!searches.is_empty(), "the retry searched by label first");

    // Clinical informatics sees the dead letter on the admin page (ids and the error, no
    // content) and retries it from there; the desk now accepts it, once.
    let dead = statuses.iter().find(|(_, s)| **s == "dead-letter").map(|(k, _)| k.to_string()).unwrap();
    let (ib, il) = launch_as(&app, "vendor=generic&practitioner=pr-lbrandt&patient=pat-01").await;
    let page = ib
        .http
        .get(app.url(&format!("/admin/policy?launch={il}")))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains(&format!("data-ticket=\"{dead}\"")) && page.contains("sink-refused"), "{page}");
    assert!(!page.contains("wristbands"), "no ticket content on the admin page");
    if let Some(wd) = crate::browser::WebDriver::start().await {
        wd.goto(&app.url("/sandbox/ehr-launch?vendor=generic&practitioner=pr-lbrandt&patient=pat-01")).await;
        let launch = wd.wait_for_url("/app/").await.trim_end_matches('/').rsplit('/').next().unwrap().to_string();
        wd.goto(&app.url(&format!("/admin/policy?launch={launch}"))).await;
        wd.click(&format!("button[data-ticket=\"{dead}\"]")).await;
        wd.wait_for_text("#dead-result", "queued for delivery again").await;
        wd.quit().await;
    } else {
        let (s, r) = api_post(&app, &ib, &il, &format!("/api/admin/desk/dead-letters/{dead}/retry"), "").await;
        assert_eq!(s, 202, "{r}");
    }
    let message = sent.iter().find(|(_, t)| *t == dead).map(|(m, _)| m.clone()).unwrap();
    let r = wait_for("delivery after the retry", async || {
        let (_, r) = api(&app, &b, &l, &format!("/api/messages/{message}")).await;
        (r["tickets"][0]["status"] == "delivered").then(|| r["tickets"][0].clone())
    })
    .await;
    let created = desk.created();
    assert_eq!(created.len(), 3);
    assert_eq!(created.iter().filter(|c| c.key == dead).count(), 1);
    assert_eq!(r["number"], "ITSD-3");
    for r in desk.requests() {
        assert_no_phi("Jira", &format!("{} {}", r.query, r.body));
    }
}

#[tokio::test]
async fn webhook_deliveries_are_signed_and_a_resend_after_commit_lands_once() {
    let desk = FakeDesk::start().await;
    desk.fail_next(&[Fault::CommitThen500]);
    let url = format!("{}/hook", desk.base);
    let app = spawn_with(move |c| {
        fast_relay(c);
        c.desk.webhook_url = Some(url);
        c.desk.webhook_secret = Some(chartdesk::config::Secret::new(WEBHOOK_SECRET));
    })
    .await;
    let (b, l) = launch_as(&app, "vendor=generic&practitioner=pr-jpike&patient=pat-01").await;
    let sent = send(&app, &b, &l, "hook", 2).await;
    let receipts = settled(&app, &b, &l, &sent).await;
    assert!(desk.violations().is_empty(), "contract violations: {:?}", desk.violations());
    assert_eq!(desk.state.lock().unwrap().bad_signatures, 0, "every delivery verified");
    let created = desk.created();
    assert_eq!(created.len(), 2);
    for c in &created {
        assert_eq!(receipts[&c.key]["number"], c.number.as_str());
        assert_eq!(c.body["type"], "chartdesk.ticket");
        assert_eq!(c.body["ticket"]["key"], c.key.as_str());
        assert!(c.body["ticket"].get("patient").is_none());
    }
    let posts: Vec<_> = desk.requests().into_iter().filter(|r| r.path == "/hook").collect();
    assert_eq!(posts.len(), 3, "one re-send after the 500");
    for r in &posts {
        assert_no_phi("the webhook", &r.body);
    }

    // Replay safety, from the receiver's side: an altered body, or the same body signed long ago,
    // is refused by the verification chartdesk documents for receivers.
    let r = &posts[0];
    let client = http_client();
    let resend = |body: String, ts: String, sig: String| {
        client
            .post(format!("{}/hook", desk.base))
            .header("Content-Type", "application/json")
            .header("X-Chartdesk-Timestamp", ts)
            .header("X-Chartdesk-Signature", sig)
            .body(body)
            .send()
    };
    let (ts, sig) = (r.headers["x-chartdesk-timestamp"].clone(), r.headers["x-chartdesk-signature"].clone());
    let tampered = r.body.replace("PRINTER", "NETWORK");
    assert_eq!(resend(tampered, ts.clone(), sig.clone()).await.unwrap().status(), 401);
    let old = chrono::Utc::now().timestamp() - 3600;
    let old_sig = chartdesk::desk::webhook::sign(WEBHOOK_SECRET.as_bytes(), old, r.body.as_bytes());
    assert_eq!(resend(r.body.clone(), old.to_string(), old_sig).await.unwrap().status(), 401);
    assert_eq!(desk.state.lock().unwrap().bad_signatures, 2);
}

#[tokio::test]
async fn incomplete_desk_settings_stop_the_start_with_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let mut c = base_config(dir.path());
    c.desk.jira_url = Some("https://hospital.atlassian.net".into());
    c.desk.jira_email = Some(JIRA_EMAIL.into());
    let err = chartdesk::startup::Application::build(c).await.err().expect("refused").to_string();
    assert!(err.contains("desk.jira_api_token"), "{err}");
    let mut c = base_config(dir.path());
    c.desk.webhook_url = Some("https://bridge.example/hook".into());
    c.desk.webhook_secret = Some(chartdesk::config::Secret::new("short"));
    let err = chartdesk::startup::Application::build(c).await.err().expect("refused").to_string();
    assert!(err.contains("at least 32 bytes"), "{err}");
}

/// A TCP proxy that, for the next `swallow` connections, relays the request to the upstream,
/// waits for the first bytes of its answer (the desk has committed) and then closes the client's
/// connection without relaying them: an ambiguous failure after commit.
struct CutAfterCommit {
    port: u16,
    swallow: Arc<AtomicUsize>,
    swallowed: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl CutAfterCommit {
    async fn start(upstream: String) -> CutAfterCommit {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (swallow, swallowed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let (sw, swd) = (swallow.clone(), swallowed.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else { break };
                let cut = sw.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok();
                let (upstream, swd) = (upstream.clone(), swd.clone());
                tokio::spawn(async move {
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(&upstream).await else { return };
                    if !cut {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                        return;
                    }
                    use tokio::io::AsyncReadExt;
                    let (mut in_r, _in_w) = inbound.split();
                    let (mut out_r, mut out_w) = outbound.split();
                    let mut first = [0u8; 1];
                    tokio::select! {
                        _ = tokio::io::copy(&mut in_r, &mut out_w) => {}
                        _ = out_r.read_exact(&mut first) => { swd.fetch_add(1, Ordering::SeqCst); }
                    }
                });
            }
        });
        CutAfterCommit { port, swallow, swallowed, task }
    }
}

impl Drop for CutAfterCommit {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn rt_get(base: &str, token: &str, path: &str, query: &[(&str, &str)]) -> Value {
    let resp = http_client()
        .get(format!("{base}/REST/2.0{path}"))
        .header("Authorization", format!("token {token}"))
        .query(query)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200, "RT {path}");
    resp.json().await.unwrap()
}

/// Against the real Request Tracker 5: create, find by key, and the dedupe path when RT commits
/// a ticket but chartdesk never sees the answer.
#[tokio::test]
async fn request_tracker_tickets_are_created_found_by_key_and_never_duplicated() {
    let Some(rt_url) = service_url("CHARTDESK_TEST_RT_URL") else { return };
    let token_file = service_url("CHARTDESK_TEST_RT_TOKEN_FILE").expect("CHARTDESK_TEST_RT_TOKEN_FILE with the RT URL");
    let token = std::fs::read_to_string(token_file).unwrap().trim().to_string();
    let target = url::Url::parse(&rt_url).unwrap();
    let proxy = CutAfterCommit::start(format!("{}:{}", target.host_str().unwrap(), target.port().unwrap())).await;
    // The first desk connection (the first ticket's create) commits in RT and is then cut.
    proxy.swallow.store(1, Ordering::SeqCst);
    let via_proxy = format!("http://127.0.0.1:{}", proxy.port);
    let t = token.clone();
    let app = spawn_with(move |c| {
        fast_relay(c);
        c.desk.http_timeout_secs = 10;
        c.desk.batch = 1;
        c.desk.rt_url = Some(via_proxy);
        c.desk.rt_token = Some(chartdesk::config::Secret::new(t));
    })
    .await;
    let (b, l) = launch_as(&app, "vendor=generic&practitioner=pr-jpike&patient=pat-01").await;
    let sent = send(&app, &b, &l, "rt", 3).await;
    let receipts = settled(&app, &b, &l, &sent).await;
    assert_eq!(proxy.swallowed.load(Ordering::SeqCst), 1, "one answer was lost after RT committed");

    for (_, key) in &sent {
        let r = &receipts[key];
        assert_eq!(r["status"], "delivered", "{r}");
        let number = r["number"].as_str().unwrap();
        // Exactly one RT ticket carries this key, and it is the number the clinician sees.
        let query = format!("Queue = 'Handoff' AND CF.{{HandoffKey}} = '{key}'");
        let found = rt_get(&rt_url, &token, "/tickets", &[("query", &query)]).await;
        assert_eq!(found["count"].as_i64(), Some(1), "one ticket for {key}: {found}");
        assert_eq!(found["items"][0]["id"], number);
        let ticket = rt_get(&rt_url, &token, &format!("/ticket/{number}"), &[]).await;
        let cf = ticket["CustomFields"].as_array().unwrap().iter().find(|c| c["name"] == "HandoffKey").unwrap();
        assert_eq!(cf["values"], json!([key]));
        assert!(ticket["Subject"].as_str().unwrap().starts_with("[chartdesk PRINTER]"), "{ticket}");
        assert_no_phi("RT (subject)", &ticket.to_string());
        let attachments =
            rt_get(&rt_url, &token, &format!("/ticket/{number}/attachments"), &[("fields", "Content,ContentType")])
                .await;
        let content: String =
            attachments["items"].as_array().unwrap().iter().filter_map(|a| a["Content"].as_str()).collect();
        assert!(content.contains("[NAME]") && content.contains(&format!("Handoff key: {key}")), "{content}");
        assert_no_phi("RT (content)", &content);
    }

    // The connector's own find-by-key, used before any re-send.
    let sink = chartdesk::desk::RequestTrackerSink::new(chartdesk::desk::request_tracker::RequestTrackerSettings {
        url: rt_url.clone(),
        token: token.clone(),
        queue: "Handoff".into(),
        key_field: "HandoffKey".into(),
        public_url: app.base.clone(),
        timeout: Duration::from_secs(10),
    });
    use chartdesk::desk::Sink;
    let (_, first) = &sent[0];
    assert_eq!(sink.find(first).await.unwrap().as_deref(), receipts[first]["number"].as_str());
    assert_eq!(sink.find(&uuid::Uuid::new_v4().to_string()).await.unwrap(), None);
    assert_eq!(sink.find("o'brien \\ x").await.unwrap(), None, "quotes are escaped in TicketSQL");
}
