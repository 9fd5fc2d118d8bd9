//! The service-desk outbox: an IT message becomes a redacted ticket, written with the
//! message, and the relay delivers it to the Redis Stream exactly once, through an outage.
//! The Redis test runs when CHARTDESK_TEST_REDIS_URL is set (CI sets it; then it must pass).

use std::time::Duration;

use serde_json::{Value, json};

use crate::context::{api, api_post, launch_as};
use crate::helpers::*;

fn msg(id: &str, text: &str) -> String {
    json!({ "client_message_id": id, "text": text }).to_string()
}

pub(crate) async fn wait_for(what: &str, mut check: impl AsyncFnMut() -> Option<Value>) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn it_tickets_are_redacted_and_delivered_once_to_the_redis_stream_through_an_outage() {
    let Some(redis_url) = service_url("CHARTDESK_TEST_REDIS_URL") else { return };
    let target = url::Url::parse(&redis_url).unwrap();
    let proxy = Proxy::start(format!("{}:{}", target.host_str().unwrap(), target.port().unwrap_or(6379))).await;
    let mut proxied = target.clone();
    proxied.set_host(Some("127.0.0.1")).unwrap();
    proxied.set_port(Some(proxy.port)).unwrap();
    let prefix = format!("chartdesk-test:{}:", uuid::Uuid::new_v4());
    let p = prefix.clone();
    let app = spawn_with(move |c| {
        // Sessions use Redis directly; the ticket stream goes through the proxy the test cuts.
        c.redis.url = Some(chartdesk::config::Secret::new(redis_url.as_str()));
        c.desk.redis_url = Some(chartdesk::config::Secret::new(proxied.as_str()));
        c.redis.key_prefix = p;
        c.desk.relay_interval_ms = 50;
        c.desk.retry_base_ms = 50;
        c.desk.retry_max_secs = 1;
        c.desk.max_attempts = 1000;
    })
    .await;
    let (b, l) = launch_as(&app, "vendor=generic&practitioner=pr-jpike&patient=pat-01").await;

    // Planted PHI: the patient in context (name, MRN, DOB, phone, street), and an SSN.
    let planted = ["Quillfeather", "Rosalind", "RB0000101", "03/14/1948", "555-0170", "100 Larch Lane", "123-45-6789"];
    let text = "wristband printer in 4W prints blank labels for Rosalind Quillfeather (RB0000101, dob 03/14/1948), \
                her SSN 123-45-6789 shows on the screen too; family callback 555-0170, 100 Larch Lane";
    let (s, r) = api_post(&app, &b, &l, "/api/messages", &msg("desk-1", text)).await;
    assert_eq!(s, 201, "{r}");
    assert_eq!(r["route"], "it", "{r}");
    assert_eq!(r["tickets"].as_array().unwrap().len(), 1, "{r}");
    let message_id = r["messageId"].as_str().unwrap().to_string();
    let ticket_id = r["tickets"][0]["id"].as_str().unwrap().to_string();

    // The clinician sees the desk's reference once the relay has delivered it.
    let path = format!("/api/messages/{message_id}");
    let receipt = wait_for("the ticket number", async || {
        let (_, r) = api(&app, &b, &l, &path).await;
        (r["tickets"][0]["status"] == "delivered").then_some(r)
    })
    .await;
    let number = receipt["tickets"][0]["number"].as_str().unwrap().to_string();
    assert!(receipt["tickets"][0]["message"].as_str().unwrap().contains(&number), "{receipt}");

    let client = redis::Client::open(target.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let stream = format!("{prefix}desk:tickets");
    let entries = |conn: &mut redis::aio::MultiplexedConnection| {
        let stream = stream.clone();
        let mut conn = conn.clone();
        async move {
            let v: Vec<(String, Vec<(String, String)>)> =
                redis::cmd("XRANGE").arg(&stream).arg("-").arg("+").query_async(&mut conn).await.unwrap();
            v
        }
    };
    let first = entries(&mut conn).await;
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].0, number, "the ticket number is the stream entry id");
    let fields: std::collections::HashMap<_, _> = first[0].1.iter().cloned().collect();
    assert_eq!(fields["key"], ticket_id, "the dedupe key travels with the entry");
    let ticket: Value = serde_json::from_str(&fields["ticket"]).unwrap();
    for p in planted {
        assert!(!fields["ticket"].contains(p), "{p} reached the desk: {ticket}");
    }
    let description = ticket["description"].as_str().unwrap();
    assert!(description.contains("wristband printer") && description.contains("[NAME]"), "{description}");
    assert_eq!(ticket["category"], "PRINTER");
    assert_eq!(ticket["correlation_id"], message_id.as_str());
    assert_eq!(ticket["tenant"], "sandbox-generic");
    assert_eq!(ticket["vendor"], "generic");
    assert_eq!(ticket["urgency"], "normal");
    assert!(ticket["reporter"].as_str().unwrap().starts_with("Practitioner/"), "{ticket}");
    assert_eq!(ticket["link"], path.as_str());
    assert!(ticket.get("patient").is_none(), "no patient reference in a ticket");

    // Redis goes away: requests are still accepted (the outbox holds them) and the clinician
    // is told delivery is delayed; nothing is lost and nothing is sent twice when it returns.
    proxy.up.send(false).unwrap();
    let mut ids = Vec::new();
    for i in 0..5 {
        let (s, r) = api_post(
            &app,
            &b,
            &l,
            "/api/messages",
            &msg(&format!("desk-out-{i}"), &format!("the label printer on 4W is offline again, try {i}")),
        )
        .await;
        assert_eq!(s, 201, "accepted while the desk is down: {r}");
        assert_eq!(r["tickets"][0]["status"], "pending", "{r}");
        ids.push(r["messageId"].as_str().unwrap().to_string());
    }
    let delayed = wait_for("a delayed status", async || {
        let (_, r) = api(&app, &b, &l, &format!("/api/messages/{}", ids[0])).await;
        r["tickets"][0]["message"].as_str().unwrap_or_default().contains("delayed").then_some(r)
    })
    .await;
    assert_eq!(delayed["tickets"][0]["status"], "pending", "{delayed}");
    proxy.up.send(true).unwrap();
    for id in &ids {
        wait_for("delivery after the outage", async || {
            let (_, r) = api(&app, &b, &l, &format!("/api/messages/{id}")).await;
            (r["tickets"][0]["status"] == "delivered").then_some(r)
        })
        .await;
    }
    let all = entries(&mut conn).await;
    let keys: std::collections::BTreeSet<String> =
        all.iter().map(|(_, f)| f.iter().find(|(k, _)| k == "key").unwrap().1.clone()).collect();
    assert_eq!((all.len(), keys.len()), (6, 6), "every accepted message has exactly one entry");

    // The same client message id again: the first receipt, no second ticket.
    let (s, r) = api_post(&app, &b, &l, "/api/messages", &msg("desk-1", text)).await;
    assert_eq!((s, r["duplicate"].as_bool()), (200, Some(true)), "{r}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(entries(&mut conn).await.len(), 6);

    let keys: Vec<String> = redis::cmd("KEYS").arg(format!("{prefix}*")).query_async(&mut conn).await.unwrap();
    let _: () = redis::cmd("DEL").arg(&keys).query_async(&mut conn).await.unwrap();
}

/// A desk that stays unreachable: the ticket goes to the dead-letter list after
/// `desk.max_attempts`, informatics see it (ids and codes only) and put it back; it is then
/// delivered once.
#[tokio::test]
async fn a_ticket_the_desk_keeps_refusing_is_dead_lettered_and_can_be_retried() {
    let Some(redis_url) = service_url("CHARTDESK_TEST_REDIS_URL") else { return };
    let target = url::Url::parse(&redis_url).unwrap();
    let proxy = Proxy::start(format!("{}:{}", target.host_str().unwrap(), target.port().unwrap_or(6379))).await;
    proxy.up.send(false).unwrap();
    let mut proxied = target.clone();
    proxied.set_host(Some("127.0.0.1")).unwrap();
    proxied.set_port(Some(proxy.port)).unwrap();
    let prefix = format!("chartdesk-test:{}:", uuid::Uuid::new_v4());
    let p = prefix.clone();
    let app = spawn_with(move |c| {
        c.redis.url = Some(chartdesk::config::Secret::new(redis_url.as_str()));
        c.redis.key_prefix = p;
        c.desk.redis_url = Some(chartdesk::config::Secret::new(proxied.as_str()));
        c.desk.relay_interval_ms = 50;
        c.desk.retry_base_ms = 20;
        c.desk.max_attempts = 2;
    })
    .await;
    let (b, l) = launch_as(&app, "vendor=generic&practitioner=pr-jpike&patient=pat-01").await;
    let (s, r) = api_post(&app, &b, &l, "/api/messages", &msg("dl-1", "label printer in the med room is jammed")).await;
    assert_eq!(s, 201, "{r}");
    let message_id = r["messageId"].as_str().unwrap().to_string();
    let ticket_id = r["tickets"][0]["id"].as_str().unwrap().to_string();
    let path = format!("/api/messages/{message_id}");
    let r = wait_for("the dead letter", async || {
        let (_, r) = api(&app, &b, &l, &path).await;
        (r["tickets"][0]["status"] == "dead-letter").then_some(r)
    })
    .await;
    assert!(r["tickets"][0]["message"].as_str().unwrap().contains("kept"), "the clinician is told it is kept: {r}");

    let (ib, il) = launch_as(&app, "vendor=generic&practitioner=pr-lbrandt&patient=pat-01").await;
    let (s, list) = api(&app, &ib, &il, "/api/admin/desk/dead-letters").await;
    assert_eq!(s, 200, "{list}");
    let item = list["deadLetters"].as_array().unwrap().iter().find(|d| d["id"] == ticket_id.as_str()).unwrap().clone();
    assert_eq!(item["attempts"].as_i64(), Some(2), "{item}");
    // Refused connections read as "unavailable", connections the proxy drops as "ambiguous".
    assert!(matches!(item["lastError"].as_str(), Some("sink-unavailable" | "sink-ambiguous")), "{item}");
    assert!(item.get("description").is_none() && !list.to_string().contains("jammed"), "no content on the list");
    let (s, _) = api(&app, &b, &l, "/api/admin/desk/dead-letters").await;
    assert_eq!(s, 403, "a nurse does not see the dead-letter list");

    proxy.up.send(true).unwrap();
    let (s, r) = api_post(&app, &ib, &il, &format!("/api/admin/desk/dead-letters/{ticket_id}/retry"), "").await;
    assert_eq!(s, 202, "{r}");
    let (s, _) = api_post(&app, &ib, &il, &format!("/api/admin/desk/dead-letters/{ticket_id}/retry"), "").await;
    assert_eq!(s, 404, "only a dead-lettered ticket can be retried");
    wait_for("delivery after the retry", async || {
        let (_, r) = api(&app, &b, &l, &path).await;
        (r["tickets"][0]["status"] == "delivered").then_some(r)
    })
    .await;
    let client = redis::Client::open(target.as_str()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let n: usize = redis::cmd("XLEN").arg(format!("{prefix}desk:tickets")).query_async(&mut conn).await.unwrap();
    assert_eq!(n, 1);
    let (_, audit) = api(&app, &ib, &il, "/api/audit").await;
    let text = audit.to_string();
    assert!(text.contains(&format!("TicketIntent/{ticket_id}")), "dead letter and retry are audited: {audit}");
    let keys: Vec<String> = redis::cmd("KEYS").arg(format!("{prefix}*")).query_async(&mut conn).await.unwrap();
    let _: () = redis::cmd("DEL").arg(&keys).query_async(&mut conn).await.unwrap();
}

#[tokio::test]
async fn without_a_desk_connector_tickets_are_kept_and_the_clinician_is_told() {
    let app = spawn_app().await;
    let (b, l) = launch_as(&app, "vendor=generic&practitioner=pr-jpike&patient=pat-01").await;
    let (s, r) = api_post(&app, &b, &l, "/api/messages", &msg("nodesk-1", "scanner on my WOW will not pair")).await;
    assert_eq!(s, 201, "{r}");
    assert_eq!(r["tickets"][0]["status"], "pending", "{r}");
    assert!(r["tickets"][0]["message"].as_str().unwrap().contains("kept until"), "{r}");
}
