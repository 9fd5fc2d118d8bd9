//! Jira Service Management Cloud connector (customer request).
//!
//! - create: `POST {site}/rest/servicedeskapi/request` with `serviceDeskId`, `requestTypeId` and
//!   `requestFieldValues {summary, description, <key field>}`; JSM answers 201
//!   `{"issueId":"…","issueKey":"ITSD-12",…}`. The ticket number is the issue key.
//! - the handoff key: JSM has no idempotency header, so the key is written to a field of the
//!   request type: `labels` (default; the label `chartdesk-<key>`), or a custom text field
//!   (`customfield_NNNNN`) that the request type carries (hidden fields need a preset, so make it a
//!   visible field or use labels).
//! - find: `GET {site}/rest/api/3/search/jql?jql=<field> … ORDER BY created ASC&fields=key&maxResults=1`,
//!   `labels = "chartdesk-<key>"` or `cf[NNNNN] ~ "\"<key>\""` (phrase match on a text field).
//! - auth: Basic with the integration account's email and an API token.

use std::time::Duration;

use serde_json::json;

use super::http::{Call, body_text, safe_key, send_json};
use super::{Sink, SinkError, Ticket};

pub struct JiraSettings {
    pub site_url: String,
    pub email: String,
    pub api_token: String,
    pub service_desk_id: String,
    pub request_type_id: String,
    /// `labels` or `customfield_NNNNN`.
    pub key_field: String,
    pub public_url: String,
    pub timeout: Duration,
}

pub struct JiraSink {
    client: reqwest::Client,
    site: String,
    s: JiraSettings,
}

impl JiraSink {
    pub fn new(s: JiraSettings) -> JiraSink {
        JiraSink { client: super::http::client(s.timeout), site: s.site_url.trim_end_matches('/').to_string(), s }
    }

    fn auth(&self, rb: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        rb.basic_auth(&self.s.email, Some(&self.s.api_token)).header("Accept", "application/json")
    }

    fn uses_labels(&self) -> bool {
        self.s.key_field == "labels"
    }

    /// The JQL that finds a request by its handoff key.
    pub fn key_jql(&self, key: &str) -> String {
        if self.uses_labels() {
            format!("labels = \"chartdesk-{key}\" ORDER BY created ASC")
        } else {
            let id = self.s.key_field.trim_start_matches("customfield_");
            format!("cf[{id}] ~ \"\\\"{key}\\\"\" ORDER BY created ASC")
        }
    }
}

#[async_trait::async_trait]
impl Sink for JiraSink {
    fn name(&self) -> &'static str {
        "jira-service-management"
    }

    async fn find(&self, key: &str) -> Result<Option<String>, SinkError> {
        if !safe_key(key) {
            return Err(SinkError::Refused);
        }
        let rb = self.auth(self.client.get(format!("{}/rest/api/3/search/jql", self.site))).query(&[
            ("jql", self.key_jql(key).as_str()),
            ("fields", "key"),
            ("maxResults", "1"),
        ]);
        let (_, v) = send_json(self.name(), rb, Call::Search).await?;
        Ok(v["issues"].as_array().and_then(|i| i.first()).and_then(|i| i["key"].as_str()).map(String::from))
    }

    async fn create(&self, ticket: &Ticket) -> Result<String, SinkError> {
        if !safe_key(&ticket.key) {
            return Err(SinkError::Refused);
        }
        let mut fields = json!({
            "summary": ticket.subject(),
            "description": body_text(ticket, &self.s.public_url),
        });
        if self.uses_labels() {
            fields["labels"] = json!([format!("chartdesk-{}", ticket.key)]);
        } else {
            fields[self.s.key_field.as_str()] = json!(ticket.key);
        }
        let body = json!({
            "serviceDeskId": self.s.service_desk_id,
            "requestTypeId": self.s.request_type_id,
            "requestFieldValues": fields,
        });
        let rb = self.auth(self.client.post(format!("{}/rest/servicedeskapi/request", self.site))).json(&body);
        let (_, v) = send_json(self.name(), rb, Call::Create).await?;
        match v["issueKey"].as_str() {
            Some(k) if !k.is_empty() => Ok(k.to_string()),
            _ => {
                tracing::warn!(sink = self.name(), "JSM answered a create without an issue key");
                Err(SinkError::Ambiguous)
            }
        }
    }
}
