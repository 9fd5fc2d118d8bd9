//! Request Tracker 5 REST2 connector.
//!
//! - create: `POST {url}/REST/2.0/ticket` with `Queue`, `Subject`, `Content`, `ContentType`,
//!   `Priority` and `CustomFields {<key field>: <handoff key>}`; RT answers 201
//!   `{"id":"7","type":"ticket",…}`. The ticket number is RT's id.
//! - RT accepts a create whose custom field it cannot apply and silently drops the value (a CF
//!   that is not applied to the queue, a misspelt name). The dedupe search would then never find
//!   the ticket, so every create is verified by reading the ticket back; a missing key is set with
//!   `PUT /ticket/{id}`, and if that also fails an error is logged for the administrator (the
//!   ticket itself was created and counts as delivered).
//! - find: `GET {url}/REST/2.0/tickets?query=Queue = '<queue>' AND CF.{<key field>} = '<key>'`
//!   (TicketSQL, values quoted and escaped). More than one hit (a duplicate made by hand, say)
//!   returns the oldest.
//! - auth: `Authorization: token <auth token>` (RT::Authen::Token, core since RT 5.0).

use std::time::Duration;

use serde_json::json;

use super::http::{Call, body_text, send_json, string_or_number};
use super::{Sink, SinkError, Ticket};

pub struct RequestTrackerSink {
    client: reqwest::Client,
    api: String,
    token: String,
    queue: String,
    key_field: String,
    public_url: String,
}

pub struct RequestTrackerSettings {
    /// RT's base URL (without `/REST/2.0`).
    pub url: String,
    pub token: String,
    pub queue: String,
    pub key_field: String,
    pub public_url: String,
    pub timeout: Duration,
}

impl RequestTrackerSink {
    pub fn new(s: RequestTrackerSettings) -> RequestTrackerSink {
        RequestTrackerSink {
            client: super::http::client(s.timeout),
            api: format!("{}/REST/2.0", s.url.trim_end_matches('/')),
            token: s.token,
            queue: s.queue,
            key_field: s.key_field,
            public_url: s.public_url,
        }
    }

    fn auth(&self, rb: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        rb.header("Authorization", format!("token {}", self.token)).header("Accept", "application/json")
    }

    /// The TicketSQL query that finds a handoff by its key.
    pub fn key_query(&self, key: &str) -> String {
        format!("Queue = '{}' AND CF.{{{}}} = '{}'", quote(&self.queue), self.key_field, quote(key))
    }

    async fn key_of(&self, id: &str) -> Result<Option<String>, SinkError> {
        let (_, v) =
            send_json(self.name(), self.auth(self.client.get(format!("{}/ticket/{id}", self.api))), Call::Search)
                .await?;
        let values =
            v["CustomFields"].as_array().into_iter().flatten().find(|cf| cf["name"] == self.key_field.as_str());
        Ok(values
            .and_then(|cf| cf["values"].as_array())
            .and_then(|a| a.first())
            .and_then(|v| v.as_str())
            .map(String::from))
    }
}

/// TicketSQL string quoting: backslash-escape `\` and `'`.
fn quote(s: &str) -> String {
    s.replace('\\', "\\\\").replace('\'', "\\'")
}

fn priority(urgency: &str) -> &'static str {
    if urgency == "high" { "70" } else { "30" }
}

#[async_trait::async_trait]
impl Sink for RequestTrackerSink {
    fn name(&self) -> &'static str {
        "request-tracker"
    }

    async fn find(&self, key: &str) -> Result<Option<String>, SinkError> {
        let rb = self.auth(self.client.get(format!("{}/tickets", self.api))).query(&[
            ("query", self.key_query(key).as_str()),
            ("orderby", "id"),
            ("order", "ASC"),
            ("per_page", "1"),
        ]);
        let (_, v) = send_json(self.name(), rb, Call::Search).await?;
        Ok(v["items"].as_array().and_then(|items| items.first()).and_then(|item| string_or_number(&item["id"])))
    }

    async fn create(&self, ticket: &Ticket) -> Result<String, SinkError> {
        let body = json!({
            "Queue": self.queue,
            "Subject": ticket.subject(),
            "Content": body_text(ticket, &self.public_url),
            "ContentType": "text/plain",
            "Priority": priority(&ticket.urgency),
            "CustomFields": { self.key_field.as_str(): ticket.key },
        });
        let rb = self.auth(self.client.post(format!("{}/ticket", self.api))).json(&body);
        let (_, v) = send_json(self.name(), rb, Call::Create).await?;
        let Some(id) = string_or_number(&v["id"]) else {
            tracing::warn!(sink = self.name(), "RT answered a create without a ticket id");
            return Err(SinkError::Ambiguous);
        };
        // RT drops an unknown custom field without an error: make sure the key is on the ticket.
        if self.key_of(&id).await?.as_deref() != Some(ticket.key.as_str()) {
            let fix = json!({ "CustomFields": { self.key_field.as_str(): ticket.key } });
            let rb = self.auth(self.client.put(format!("{}/ticket/{id}", self.api))).json(&fix);
            send_json(self.name(), rb, Call::Search).await?;
            if self.key_of(&id).await?.as_deref() != Some(ticket.key.as_str()) {
                // The ticket exists and its number is known, so it counts as delivered (a
                // re-send would duplicate it); only a crash before settling could now duplicate.
                tracing::error!(
                    sink = self.name(),
                    "RT does not keep the handoff key custom field on tickets of this queue; check desk.rt_key_field"
                );
            }
        }
        Ok(id)
    }
}
