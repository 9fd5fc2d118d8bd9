//! ServiceNow Table API connector (incident).
//!
//! - create: `POST {instance}/api/now/table/incident?sysparm_fields=sys_id,number&sysparm_exclude_reference_link=true`
//!   with `short_description`, `description`, `category`, `urgency` and `impact` ("1"–"3"),
//!   `contact_type`, `correlation_id` (the handoff key), `correlation_display` ("chartdesk"), and
//!   `assignment_group` when configured. ServiceNow answers 201 `{"result":{"sys_id":…,"number":"INC…"}}`.
//!   The ticket number is the incident number.
//! - find: `GET {instance}/api/now/table/incident?sysparm_query=correlation_id=<key>^ORDERBYsys_created_on&sysparm_fields=sys_id,number&sysparm_limit=1`.
//!   `correlation_id` is a real incident field, so the query is never the "invalid part silently
//!   ignored" case that would match every row.
//! - auth: Basic (integration user) or a bearer token.
//! - minimum necessary: no caller lookup by name (the reporter goes in the description as a
//!   FHIR reference and display name), no patient field, no PHI anywhere (the text is redacted).

use std::time::Duration;

use serde_json::json;

use super::http::{Call, body_text, safe_key, send_json};
use super::{Sink, SinkError, Ticket};

pub enum ServiceNowAuth {
    Basic { user: String, password: String },
    Bearer(String),
}

pub struct ServiceNowSettings {
    pub instance_url: String,
    pub auth: ServiceNowAuth,
    pub assignment_group: Option<String>,
    pub public_url: String,
    pub timeout: Duration,
}

pub struct ServiceNowSink {
    client: reqwest::Client,
    table: String,
    auth: ServiceNowAuth,
    assignment_group: Option<String>,
    public_url: String,
}

impl ServiceNowSink {
    pub fn new(s: ServiceNowSettings) -> ServiceNowSink {
        ServiceNowSink {
            client: super::http::client(s.timeout),
            table: format!("{}/api/now/table/incident", s.instance_url.trim_end_matches('/')),
            auth: s.auth,
            assignment_group: s.assignment_group,
            public_url: s.public_url,
        }
    }

    fn auth(&self, rb: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        let rb = rb.header("Accept", "application/json");
        match &self.auth {
            ServiceNowAuth::Basic { user, password } => rb.basic_auth(user, Some(password)),
            ServiceNowAuth::Bearer(token) => rb.bearer_auth(token),
        }
    }
}

/// The incident category for a chartdesk category (ServiceNow's default choice list).
fn category(c: &str) -> &'static str {
    match c {
        "NETWORK" => "network",
        "PRINTER" | "DEVICE" | "HARDWARE" | "MOBILE" => "hardware",
        "LOGIN" | "ACCESS" | "EHR_HOWTO" | "BUILD_REQUEST" | "INTERFACE" => "software",
        _ => "inquiry",
    }
}

#[async_trait::async_trait]
impl Sink for ServiceNowSink {
    fn name(&self) -> &'static str {
        "servicenow"
    }

    async fn find(&self, key: &str) -> Result<Option<String>, SinkError> {
        if !safe_key(key) {
            return Err(SinkError::Refused);
        }
        let query = format!("correlation_id={key}^ORDERBYsys_created_on");
        let rb = self.auth(self.client.get(&self.table)).query(&[
            ("sysparm_query", query.as_str()),
            ("sysparm_fields", "sys_id,number"),
            ("sysparm_limit", "1"),
        ]);
        let (_, v) = send_json(self.name(), rb, Call::Search).await?;
        Ok(v["result"].as_array().and_then(|r| r.first()).and_then(|r| r["number"].as_str()).map(String::from))
    }

    async fn create(&self, ticket: &Ticket) -> Result<String, SinkError> {
        if !safe_key(&ticket.key) {
            return Err(SinkError::Refused);
        }
        let urgency = if ticket.urgency == "high" { "1" } else { "3" };
        let mut body = json!({
            "short_description": ticket.subject(),
            "description": body_text(ticket, &self.public_url),
            "category": category(&ticket.category),
            "urgency": urgency,
            "impact": "3",
            "contact_type": "self-service",
            "correlation_id": ticket.key,
            "correlation_display": "chartdesk",
        });
        if let Some(group) = &self.assignment_group {
            body["assignment_group"] = json!(group);
        }
        let rb = self
            .auth(self.client.post(&self.table))
            .query(&[("sysparm_fields", "sys_id,number"), ("sysparm_exclude_reference_link", "true")])
            .json(&body);
        let (_, v) = send_json(self.name(), rb, Call::Create).await?;
        match v["result"]["number"].as_str() {
            Some(n) if !n.is_empty() => Ok(n.to_string()),
            _ => {
                tracing::warn!(sink = self.name(), "ServiceNow answered a create without an incident number");
                Err(SinkError::Ambiguous)
            }
        }
    }
}
