//! Messages: screened on every request, routed to a human (never answered), recorded; the
//! handoff inboxes with live updates and SLA re-escalation; the clinician's page in Chromium.

use std::time::Duration;

use serde_json::{Value, json};

use crate::browser::WebDriver;
use crate::context::{api, api_post, launch_as};
use crate::helpers::*;

fn msg(id: &str, text: &str) -> String {
    json!({ "client_message_id": id, "text": text }).to_string()
}

#[tokio::test]
async fn messages_are_screened_routed_to_people_and_never_answered() {
    let app = spawn_with(|c| {
        c.handoff.units.push(chartdesk::config::UnitConfig {
            name: "4 West Medical-Surgical".into(),
            rapid_response: "x4444".into(),
        })
    })
    .await;
    let (b, l) = launch_as(&app, "vendor=generic&practitioner=pr-jpike&patient=pat-01").await;

    // An IT problem: a ticket intent, no handoff.
    let (s, r) = api_post(
        &app,
        &b,
        &l,
        "/api/messages",
        &msg("m-it-1", "my badge tap sign in keeps failing on the workstation since this morning"),
    )
    .await;
    assert_eq!(s, 201, "{r}");
    assert_eq!((r["route"].as_str(), r["handoffs"].as_array().unwrap().len()), (Some("it"), 0), "{r}");
    assert_eq!(r["tickets"][0]["category"], "LOGIN", "{r}");
    assert!(r.get("answer").is_none() && r.get("reply").is_none(), "no automated answer of any kind");

    // A medication question: pharmacy (the default medication queue).
    let (s, r) = api_post(
        &app,
        &b,
        &l,
        "/api/messages",
        &msg("m-med-1", "what is the max dose of vancomycin for a 120 kg patient with normal renal function"),
    )
    .await;
    assert_eq!(s, 201, "{r}");
    assert_eq!(r["route"], "clinical", "{r}");
    assert!(r["category"].as_str().unwrap().starts_with("MED_"), "{r}");
    assert_eq!(r["handoffs"][0]["queue"], "pharmacy", "{r}");
    assert!(r["handoffs"][0]["expectedResponse"].as_str().unwrap().contains("15 minutes"));
    assert!(!r["signals"].as_array().unwrap().is_empty(), "every decision is explainable");

    // A patient's state: the nursing supervisor of the clinician's unit.
    let (_, r) =
        api_post(&app, &b, &l, "/api/messages", &msg("m-pt-1", "my pt in 14 looks grey and sweaty, what should I do"))
            .await;
    assert_eq!(r["route"], "clinical", "{r}");
    let h = &r["handoffs"][0];
    assert!(h["queue"] == "nursing-supervisor" || h["queue"] == "on-call", "{r}");

    // Urgent language: on-call, with the protocol notice and the unit's number, at once.
    let (s, r) =
        api_post(&app, &b, &l, "/api/messages", &msg("m-urg-1", "patient not breathing in 412 need help now")).await;
    assert_eq!(s, 201, "{r}");
    assert_eq!((r["urgent"].as_bool(), r["handoffs"][0]["queue"].as_str()), (Some(true), Some("on-call")), "{r}");
    let notice = r["urgentNotice"].as_str().unwrap();
    assert!(notice.contains("rapid-response") && notice.contains("x4444"), "{notice}");
    assert!(r["handoffs"][0]["expectedResponse"].as_str().unwrap().contains("2 minutes"));

    // MIXED: a handoff for the clinical part and a ticket for the IT part.
    let (_, r) = api_post(
        &app,
        &b,
        &l,
        "/api/messages",
        &msg(
            "m-mix-1",
            "label printer is jammed again. also her potassium came back 6.1, should I hold the supplement?",
        ),
    )
    .await;
    assert_eq!(r["route"], "clinical", "{r}");
    assert_eq!(r["handoffs"].as_array().unwrap().len(), 1, "{r}");
    assert_eq!(r["tickets"].as_array().unwrap().len(), 1, "{r}");

    // A double submit yields the same message and handoff, not two.
    let (s, again) =
        api_post(&app, &b, &l, "/api/messages", &msg("m-urg-1", "patient not breathing in 412 need help now")).await;
    assert_eq!(s, 200);
    assert_eq!(again["duplicate"], true);
    let (_, first) = api(&app, &b, &l, &format!("/api/messages/{}", again["messageId"].as_str().unwrap())).await;
    assert_eq!(first["handoffs"][0]["id"], again["handoffs"][0]["id"]);

    // Bad input gets a clear error, and nothing is kept.
    for (body, status, code) in [
        (msg("m-bad-1", "   "), 400, "invalid_parameter"),
        (msg("m-bad-2", &"x".repeat(9000)), 413, "payload_too_large"),
        (msg("m-bad-3", "bell\u{7}"), 400, "invalid_parameter"),
        ("{\"text\": ".to_string(), 400, "invalid_json"),
        (json!({"text": "hi", "extra": 1}).to_string(), 400, "invalid_json"),
        (msg("bad id with spaces", "printer down"), 400, "invalid_parameter"),
    ] {
        let (s, v) = api_post(&app, &b, &l, "/api/messages", &body).await;
        assert_eq!((s, v["error"]["code"].as_str()), (status, Some(code)), "{body:.60}: {v}");
    }
    let r =
        b.http.post(app.url("/api/messages")).header("x-chartdesk-launch", &l).body("text=hi").send().await.unwrap();
    assert_eq!(r.status(), 415);
    let r = Browser::new()
        .http
        .post(app.url("/api/messages"))
        .header("content-type", "application/json")
        .body(msg("m-x", "printer"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "outside a live launch session");

    // Another user's message is not visible.
    let (b2, l2) = launch_as(&app, "vendor=generic&practitioner=pr-hmarsh&patient=pat-01").await;
    let (s, _) = api(&app, &b2, &l2, &format!("/api/messages/{}", again["messageId"].as_str().unwrap())).await;
    assert_eq!(s, 404);

    // Everything was recorded: one message-submitted record per accepted message.
    let (bc, lc) = launch_as(&app, "vendor=generic&practitioner=pr-kvoss").await;
    let (_, bundle) = api(&app, &bc, &lc, "/api/audit?since=2020-01-01").await;
    let submitted =
        bundle["entry"].as_array().unwrap().iter().filter(|e| e["resource"].to_string().contains("Message/")).count();
    assert_eq!(submitted, 5, "five accepted messages, the duplicate not recorded twice");
    // The message text is sealed at rest: the planted phrase is not in the database file.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut raw = std::fs::read(app._data_dir.path().join("chartdesk.db")).unwrap_or_default();
    raw.extend(std::fs::read(app._data_dir.path().join("chartdesk.db-wal")).unwrap_or_default());
    assert!(!String::from_utf8_lossy(&raw).contains("grey and sweaty"), "message text is encrypted at rest");
}

#[tokio::test]
async fn inboxes_show_handoffs_to_their_queues_and_overdue_ones_move_up_a_tier() {
    let app = spawn_with(|c| {
        c.handoff.sla_other_secs = 1;
        c.handoff.sweep_interval_secs = 1;
    })
    .await;
    let (nurse, ln) = launch_as(&app, "vendor=generic&practitioner=pr-jpike&patient=pat-01").await;
    let (sup, ls) = launch_as(&app, "vendor=generic&practitioner=pr-gokafor&patient=pat-02").await;
    let (other_sup, lo) = launch_as(&app, "vendor=generic&practitioner=pr-bhale").await;
    let (doc, ld) = launch_as(&app, "vendor=generic&practitioner=pr-hmarsh").await;
    let (it, li) = launch_as(&app, "vendor=generic&practitioner=pr-mwebb").await;

    // The supervisor's live stream is open before the message is sent.
    let mut stream = sup.http.get(app.url(&format!("/api/handoffs/events?launch={ls}"))).send().await.unwrap();
    assert_eq!(stream.headers()["content-type"], "text/event-stream");
    let first = next_event(&mut stream).await;
    assert!(first["items"].as_array().unwrap().is_empty(), "{first}");

    let (_, r) = api_post(
        &app,
        &nurse,
        &ln,
        "/api/messages",
        &msg("m1", "my pt in 14 seems more confused tonight than yesterday, is that expected"),
    )
    .await;
    assert_eq!(r["route"], "clinical", "{r}");
    assert_eq!(r["handoffs"][0]["queue"], "nursing-supervisor", "{r}");
    let message_id = r["messageId"].as_str().unwrap().to_string();
    let handoff_id = r["handoffs"][0]["id"].as_str().unwrap().to_string();

    // Live: the supervisor's stream carries it, with the clinician, the text, the signals and
    // the patient as policy allows a nursing supervisor for a clinical handoff.
    let event = next_event(&mut stream).await;
    let item = &event["items"][0];
    assert_eq!(item["handoff"]["id"], handoff_id.as_str(), "{event}");
    assert!(item["text"].as_str().unwrap().contains("more confused"));
    assert!(item["clinician"]["name"].as_str().unwrap().contains("Pike"), "{item}");
    assert_eq!(item["patient"]["reference"], "Patient/pat-01", "{item}");
    assert!(item["patient"]["identifiers"].is_array(), "supervisors see the MRN for a handoff: {item}");
    assert!(!item["signals"].as_array().unwrap().is_empty());
    drop(stream);

    // Another unit's supervisor, the on-call physician (not yet) and IT do not see it.
    let (_, v) = api(&app, &other_sup, &lo, "/api/handoffs").await;
    assert!(v["items"].as_array().unwrap().is_empty(), "MICU's supervisor: {v}");
    let (_, v) = api(&app, &doc, &ld, "/api/handoffs").await;
    assert!(v["items"].as_array().unwrap().is_empty(), "not on-call's yet: {v}");
    let (s, _) = api(&app, &it, &li, "/api/handoffs").await;
    assert_eq!(s, 403);
    let (s, _) = api_post(&app, &other_sup, &lo, &format!("/api/handoffs/{handoff_id}/acknowledge"), "").await;
    assert_eq!(s, 403, "not in that supervisor's queue");

    // Unacknowledged past its (shortened) SLA: re-escalated to on-call, shown as overdue.
    let mut moved = false;
    for _ in 0..40 {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let (_, v) = api(&app, &doc, &ld, "/api/handoffs").await;
        if v["items"].as_array().unwrap().iter().any(|i| i["handoff"]["id"] == handoff_id.as_str()) {
            moved = true;
            assert_eq!(v["items"][0]["handoff"]["overdue"], true, "{v}");
            assert!(v["items"][0]["handoff"]["tier"].as_i64().unwrap() >= 1);
            break;
        }
    }
    assert!(moved, "the overdue handoff reached the on-call inbox");
    let (_, mine) = api(&app, &nurse, &ln, &format!("/api/messages/{message_id}")).await;
    assert_eq!(mine["handoffs"][0]["overdue"], true, "the clinician sees the change: {mine}");
    assert_eq!(mine["handoffs"][0]["queue"], "on-call");

    // The on-call physician acknowledges, notes and resolves; the clinician sees each step.
    let (s, v) = api_post(&app, &doc, &ld, &format!("/api/handoffs/{handoff_id}/acknowledge"), "").await;
    assert_eq!(s, 200, "{v}");
    let (_, mine) = api(&app, &nurse, &ln, &format!("/api/messages/{message_id}")).await;
    assert_eq!(mine["handoffs"][0]["status"], "acknowledged");
    assert_eq!(mine["handoffs"][0]["acknowledgedBy"], "Practitioner/pr-hmarsh");
    let (s, _) = api_post(
        &app,
        &doc,
        &ld,
        &format!("/api/handoffs/{handoff_id}/notes"),
        &json!({"text": "coming to see the patient"}).to_string(),
    )
    .await;
    assert_eq!(s, 201);
    let (s, _) =
        api_post(&app, &doc, &ld, &format!("/api/handoffs/{handoff_id}/notes"), &json!({"text": ""}).to_string()).await;
    assert_eq!(s, 400, "notes are screened text too");
    let (_, v) = api(&app, &doc, &ld, "/api/handoffs").await;
    assert_eq!(v["items"][0]["notes"][0]["text"], "coming to see the patient");
    let (s, _) = api_post(&app, &doc, &ld, &format!("/api/handoffs/{handoff_id}/resolve"), "").await;
    assert_eq!(s, 200);
    let (s, v) = api_post(&app, &doc, &ld, &format!("/api/handoffs/{handoff_id}/claim"), "").await;
    assert_eq!((s, v["error"]["code"].as_str()), (409, Some("conflict")), "resolved is final");
    let (s, _) = api_post(&app, &doc, &ld, &format!("/api/handoffs/{handoff_id}/dance"), "").await;
    assert_eq!(s, 404);
    let _ = (&sup, &ls);
}

/// The next server-sent event's JSON data.
async fn next_event(stream: &mut reqwest::Response) -> Value {
    let mut buf = String::new();
    loop {
        let chunk = tokio::time::timeout(Duration::from_secs(15), stream.chunk()).await.expect("an event within 15 s");
        buf.push_str(&String::from_utf8_lossy(&chunk.unwrap().expect("the stream stays open")));
        if let Some(end) = buf.find("\n\n") {
            let event = &buf[..end];
            let data = event.lines().find_map(|l| l.strip_prefix("data: ")).expect("a data line");
            return serde_json::from_str(data).unwrap();
        }
    }
}

#[tokio::test]
async fn chromium_an_urgent_message_reaches_the_supervisor_live_and_the_acknowledgement_comes_back() {
    let app = spawn_app().await;
    let Some(clinician) = WebDriver::start().await else { return };
    let Some(supervisor) = WebDriver::start().await else { return };
    // The supervisor opens the inbox first (another browser, another profile).
    supervisor.goto(&app.url("/sandbox/ehr-launch?vendor=generic&practitioner=pr-gokafor")).await;
    let app_url = supervisor.wait_for_url("/app/").await;
    let sup_launch = app_url.rsplit('/').next().unwrap().to_string();
    supervisor.goto(&app.url(&format!("/supervisor?launch={sup_launch}"))).await;
    supervisor.wait_for_text("#live", "Live").await;

    clinician.goto(&app.url("/sandbox/ehr-launch?vendor=generic&practitioner=pr-jpike&patient=pat-01")).await;
    clinician.wait_for_url("/app/").await;
    clinician.type_into("#message", "my patient in 412 is unresponsive and breathing slowly, help").await;
    clinician.click("#send").await;
    clinician.wait_for_text("#urgent", "rapid-response").await;
    clinician.wait_for_text("#destinations", "on-call").await;

    // Urgent messages go to on-call; the 4 West supervisor sees her unit's urgent handoffs only
    // if they are in her queue, so the on-call physician is the live receiver here.
    let Some(oncall) = WebDriver::start().await else { return };
    oncall.goto(&app.url("/sandbox/ehr-launch?vendor=generic&practitioner=pr-hmarsh")).await;
    let doc_url = oncall.wait_for_url("/app/").await;
    let doc_launch = doc_url.rsplit('/').next().unwrap().to_string();
    oncall.goto(&app.url(&format!("/supervisor?launch={doc_launch}"))).await;
    oncall.wait_for_text("#inbox", "unresponsive").await;
    assert!(oncall.text("#inbox").await.contains("URGENT"));
    oncall.click("article.handoff button[data-action='acknowledge']").await;

    // The acknowledgement appears on the clinician's page, live.
    clinician.wait_for_text("#destinations", "acknowledged").await;

    // And a non-urgent patient question reaches the 4 West supervisor's page live.
    clinician.type_into("#message", "my pt in 14 is more confused than yesterday, is that expected").await;
    clinician.click("#send").await;
    supervisor.wait_for_text("#inbox", "more confused").await;
    clinician.quit().await;
    supervisor.quit().await;
    oncall.quit().await;
}

#[tokio::test]
async fn informatics_tune_detection_through_the_versioned_policy_within_the_floors() {
    let app = spawn_app().await;
    let (inf1, l1) = launch_as(&app, "vendor=generic&practitioner=pr-lbrandt&patient=pat-01").await;
    let (inf2, l2) = launch_as(&app, "vendor=generic&practitioner=pr-rcastellano&patient=pat-01").await;
    let (nurse, ln) = launch_as(&app, "vendor=generic&practitioner=pr-jpike&patient=pat-01").await;
    // No IT framing, weak IT vocabulary ("epic"): nothing clinical in it until informatics
    // say "zebra protocol" is a clinical term.
    let text = "quick question about the zebra protocol in epic";
    let (_, before) = api_post(&app, &nurse, &ln, "/api/messages", &msg("t-1", text)).await;
    assert_eq!(before["route"], "it", "{before}");

    let (_, overview) = api(&app, &inf1, &l1, "/api/admin/policy").await;
    let mut doc = overview["active"]["document"].clone();
    // The floor: sensitivity can be raised, never lowered below it.
    doc["detection"] = json!({ "threshold": 50.0 });
    let (s, v) = api_post(&app, &inf1, &l1, "/api/admin/policy/drafts", &json!({ "document": doc }).to_string()).await;
    assert_eq!((s, v["error"]["code"].as_str()), (422, Some("policy_invalid")), "{v}");
    assert!(v["error"]["detail"].as_str().unwrap().contains("floor"), "{v}");
    doc["detection"] = json!({ "extra_terms": ["zebra protocol"] });
    let (s, draft) =
        api_post(&app, &inf1, &l1, "/api/admin/policy/drafts", &json!({ "document": doc }).to_string()).await;
    assert_eq!(s, 201, "{draft}");
    assert!(draft["diff"]["added"].to_string().contains("zebra protocol"), "{draft}");
    let id = draft["id"].as_str().unwrap();
    let (s, _) = api_post(&app, &inf2, &l2, &format!("/api/admin/policy/drafts/{id}/approve"), "").await;
    assert_eq!(s, 200);
    let (s, v) = api_post(&app, &inf1, &l1, &format!("/api/admin/policy/drafts/{id}/activate"), "").await;
    assert_eq!(s, 200, "{v}");

    let (_, after) = api_post(&app, &nurse, &ln, "/api/messages", &msg("t-2", text)).await;
    assert_eq!(after["route"], "clinical", "the extra term now escalates: {after}");
    assert!(after["signals"].to_string().contains("extra"), "{after}");
}
