//! The documentation of every configuration key, and the commented rendering that
//! `chartdesk print-config` prints. Order here is the order of the printed file.

use super::Config;

pub(super) struct Doc {
    pub key: &'static str,
    pub doc: &'static str,
    /// What to show, commented out, when the key has no value by default.
    pub unset: Option<&'static str>,
}

const fn d(key: &'static str, doc: &'static str) -> Doc {
    Doc { key, doc, unset: None }
}

const fn u(key: &'static str, doc: &'static str, unset: &'static str) -> Doc {
    Doc { key, doc, unset: Some(unset) }
}

pub(super) const SECTIONS: &[(&str, &str)] = &[
    ("server", "HTTP server and process settings."),
    ("database", "Storage. SQLite under the data dir by default; PostgreSQL for production."),
    ("redis", "Optional Redis: sessions, caches and streams. Without it everything runs in-process + the database."),
    ("security", "Browser security headers."),
    ("telemetry", "Logs. They never contain PHI, tokens, bodies, query strings or full paths."),
    ("sessions", "Clinician sessions: server-side, per launch, encrypted tokens."),
    ("audit", "The tamper-evident audit trail: hash chain, signed Merkle checkpoints inside and outside the database."),
    ("retention", "How long each class of data is kept; expired content is purged and its data keys destroyed."),
    (
        "handoff",
        "Clinical handoffs: message limits, where questions go, acknowledgement deadlines (SLA) and rapid-response numbers.",
    ),
    ("desk", "The service-desk outbox: the relay that delivers IT tickets, retries, dead letters, and the sinks."),
    ("tls", "Serve HTTPS directly (TLS 1.2 and 1.3 only). Unset: plain HTTP behind a TLS-terminating proxy."),
    ("sandbox", "The embedded sandbox EHR (synthetic data, development and tests only)."),
];

pub(super) const DOCS: &[Doc] = &[
    d("server.bind", "Socket address to listen on. Flag: --bind."),
    u(
        "server.public_url",
        "Externally visible base URL (used in redirects and the sandbox's registrations). Derived from the bound address when unset.",
        "\"https://chartdesk.hospital.example\"",
    ),
    d(
        "server.data_dir",
        "Directory for the SQLite database and generated keys; created on first start. Flag: --data-dir.",
    ),
    d(
        "server.profile",
        "\"development\" or \"production\". Production switches the sandbox off unless sandbox.enabled = true.",
    ),
    d("server.workers", "HTTP worker threads; 0 means one per CPU core."),
    d("server.shutdown_timeout_secs", "Seconds to let in-flight requests finish on shutdown."),
    d("server.max_body_bytes", "Largest request body accepted, in bytes; larger ones get a clear 413 error."),
    u(
        "database.url",
        "sqlite://PATH or postgres://USER@HOST/DB (secret: may carry a password). Default: <data_dir>/chartdesk.db.",
        "\"postgres://chartdesk@127.0.0.1:5432/chartdesk\"",
    ),
    d("database.max_connections", "Connection pool size."),
    d("database.connect_timeout_secs", "Seconds to wait for a database connection."),
    u(
        "redis.url",
        "redis://HOST:PORT[/DB] (secret: may carry a password). Unset: no Redis.",
        "\"redis://127.0.0.1:6379\"",
    ),
    d("redis.key_prefix", "Prefix of every Redis key chartdesk writes."),
    d("security.frame_ancestors", "CSP frame-ancestors sources allowed to embed chartdesk (your EHRs' origins)."),
    u(
        "security.master_key",
        "Master key wrapping the per-month AES-256-GCM data keys: base64 of 32 bytes (secret). Unset: <data_dir>/keys/master.key, generated on first start.",
        "\"<base64 of 32 random bytes>\"",
    ),
    d("sessions.idle_timeout_secs", "A session unused for this many seconds ends; the clinician relaunches."),
    d("sessions.absolute_timeout_secs", "No session lives longer than this many seconds."),
    d(
        "sessions.partitioned_cookie",
        "Add the Partitioned (CHIPS) attribute to the session cookie for third-party iframes.",
    ),
    d("audit.origin", "The origin line of every checkpoint: a name for this log."),
    d("audit.key_name", "Name of the Ed25519 key that signs checkpoints."),
    u(
        "audit.signing_key",
        "Ed25519 seed, base64 of 32 bytes (secret). Unset: <data_dir>/keys/audit-ed25519.key.",
        "\"<base64>\"",
    ),
    u(
        "audit.checkpoint_dir",
        "Directory for checkpoints outside the database (ideally another volume or a WORM mount). Unset: <data_dir>/audit-checkpoints.",
        "\"/var/lib/chartdesk-anchor\"",
    ),
    d("audit.checkpoint_every", "Sign a Merkle checkpoint every this many records."),
    d("audit.checkpoint_interval_secs", "…or after this many seconds with new records."),
    d("retention.message_days", "Message content is kept this many days."),
    d("retention.handoff_days", "Handoffs and tickets are kept this many days."),
    d(
        "retention.audit_days",
        "Audit record content is kept this many days (default: six years); hashes are kept for good.",
    ),
    d("retention.purge_interval_secs", "How often the retention purge runs."),
    d(
        "handoff.max_message_bytes",
        "Largest message accepted (bytes of UTF-8); larger ones are refused with a clear error.",
    ),
    d(
        "handoff.sla_urgent_secs",
        "An urgent handoff not acknowledged within this time is re-escalated to the next tier.",
    ),
    d("handoff.sla_other_secs", "The same deadline for other handoffs."),
    d("handoff.sweep_interval_secs", "How often overdue handoffs are looked for."),
    d("handoff.medication_queue", "Where medication questions go: pharmacy or nursing-supervisor."),
    u("handoff.rapid_response", "Hospital-wide rapid-response number shown with the urgent notice.", "\"x5555\""),
    d("handoff.units", "Units and their rapid-response numbers (one [[handoff.units]] block each)."),
    u("handoff.units[].name", "The department name as the EHR gives it.", "\"4 West Medical-Surgical\""),
    u("handoff.units[].rapid_response", "The unit's rapid-response / escalation number.", "\"x4444\""),
    d(
        "desk.redis_stream",
        "Deliver tickets to a Redis Stream (when redis.url is set); consumers use XREADGROUP / XACK / XAUTOCLAIM.",
    ),
    u(
        "desk.redis_url",
        "A separate Redis for the ticket stream (default: redis.url). Secret.",
        "\"redis://desk-redis:6379\"",
    ),
    d("desk.stream_key", "The stream's key, after redis.key_prefix; dedupe keys live in <stream>:keys."),
    d("desk.relay_interval_ms", "How often the relay looks for tickets due for delivery."),
    d("desk.batch", "Tickets claimed per relay pass."),
    d("desk.lease_secs", "How long a claim holds; a relay that dies loses its claims after this."),
    d("desk.max_attempts", "Attempts before a ticket goes to the dead-letter list (visible to admins, retryable)."),
    d("desk.retry_base_ms", "First retry delay, doubled per attempt."),
    d("desk.retry_max_secs", "Longest retry delay."),
    d(
        "desk.http_timeout_secs",
        "Total time for one call to a desk's HTTP API (a timeout counts as an ambiguous outcome).",
    ),
    u(
        "desk.rt_url",
        "Request Tracker 5 base URL (REST2 at <url>/REST/2.0). Enables the RT connector.",
        "\"https://rt.hospital.example\"",
    ),
    u("desk.rt_token", "RT auth token (Authorization: token …). Secret.", "\"1-14-…\""),
    d("desk.rt_queue", "RT queue the tickets go to."),
    d(
        "desk.rt_key_field",
        "RT ticket custom field (applied to the queue) that holds the handoff key; searched before any re-send.",
    ),
    u(
        "desk.servicenow_url",
        "ServiceNow instance URL. Enables the incident connector.",
        "\"https://hospital.service-now.com\"",
    ),
    u(
        "desk.servicenow_user",
        "ServiceNow integration user (Basic auth), with desk.servicenow_password.",
        "\"chartdesk.integration\"",
    ),
    u("desk.servicenow_password", "ServiceNow integration user's password. Secret.", "\"…\""),
    u("desk.servicenow_token", "ServiceNow OAuth bearer token, instead of user and password. Secret.", "\"…\""),
    u(
        "desk.servicenow_assignment_group",
        "sys_id of the assignment group for new incidents.",
        "\"d625dccec0a8016700a222a0f7900d06\"",
    ),
    u(
        "desk.jira_url",
        "Jira Service Management Cloud site URL. Enables the customer-request connector.",
        "\"https://hospital.atlassian.net\"",
    ),
    u(
        "desk.jira_email",
        "Email of the Jira integration account (Basic auth with the API token).",
        "\"chartdesk@hospital.example\"",
    ),
    u("desk.jira_api_token", "Jira API token. Secret.", "\"…\""),
    u("desk.jira_service_desk_id", "JSM service desk id.", "\"10\""),
    u(
        "desk.jira_request_type_id",
        "JSM request type id (its fields must include summary, description and the key field).",
        "\"25\"",
    ),
    d(
        "desk.jira_key_field",
        "Where the handoff key goes: labels (label chartdesk-<key>) or a customfield_NNNNN text field.",
    ),
    u(
        "desk.webhook_url",
        "Generic webhook URL: JSON signed with HMAC-SHA256 (X-Chartdesk-Signature, X-Chartdesk-Timestamp).",
        "\"https://itsm-bridge.hospital.example/chartdesk\"",
    ),
    u("desk.webhook_secret", "Webhook HMAC key (at least 32 bytes). Secret.", "\"…\""),
    u("tls.cert_file", "PEM certificate chain for HTTPS.", "\"/etc/chartdesk/tls/cert.pem\""),
    u("tls.key_file", "PEM private key for HTTPS.", "\"/etc/chartdesk/tls/key.pem\""),
    d("tls.hsts_max_age_secs", "Strict-Transport-Security max-age when serving HTTPS (0: no header)."),
    d("telemetry.format", "\"text\" for people, \"json\" for log shippers."),
    d("telemetry.filter", "tracing filter directive, e.g. \"info\" or \"chartdesk=debug,info\"."),
    u("sandbox.enabled", "Serve the sandbox EHR under /sandbox. Unset: on in development, off in production.", "true"),
    d(
        "sandbox.token_lifetime_secs",
        "Access-token lifetime for tenants whose vendor mode does not fix one (Oracle Health: 570 s).",
    ),
    d("sandbox.launch_lifetime_secs", "How long a sandbox `launch` value stays usable (it is single-use)."),
    d("sandbox.clients", "Clients registered with the sandbox tenants (one [[sandbox.clients]] block each)."),
    d("sandbox.clients[].tenant", "Sandbox tenant: generic, epic, oracle-health or meditech."),
    d("sandbox.clients[].client_id", "The client id."),
    d("sandbox.clients[].auth", "public, client_secret_basic or private_key_jwt."),
    u("sandbox.clients[].client_secret", "Secret for client_secret_basic clients.", "\"…\""),
    u(
        "sandbox.clients[].jwks",
        "For private_key_jwt: \"chartdesk\" (this server's own keys) or an inline JWKS JSON document.",
        "\"chartdesk\"",
    ),
    d("sandbox.clients[].redirect_uris", "Registered redirect URIs; relative ones resolve against server.public_url."),
    d("sandbox.clients[].launch_uri", "The app's launch URL, used by /sandbox/ehr-launch."),
    u(
        "sandbox.clients[].toolbar_launch_uri",
        "The app's launch URL for the toolbar launch point (no patient open).",
        "\"/launch?point=toolbar\"",
    ),
    u(
        "sandbox.clients[].allowed_scopes",
        "Scopes the registration allows (Oracle Health mode trims grants to these).",
        "[\"launch\", \"openid\", \"fhirUser\"]",
    ),
    d("tenants", "The EHRs chartdesk is registered with (one [[tenants]] block each): the issuer allow-list."),
    d("tenants[].id", "A short name for the tenant."),
    d(
        "tenants[].issuer",
        "The FHIR base URL the EHR sends as iss (also the aud). Relative: this server (the sandbox).",
    ),
    d(
        "tenants[].vendor",
        "Vendor profile supplying defaults: generic, epic, oracle-health or meditech (fhir-profiles/vendors/).",
    ),
    d("tenants[].client_id", "chartdesk's client id at this EHR."),
    d("tenants[].client_auth", "public, client_secret_basic or private_key_jwt (our keys: /.well-known/jwks.json)."),
    u("tenants[].client_secret", "Secret for client_secret_basic.", "\"…\""),
    u("tenants[].signing_alg", "private_key_jwt signing algorithm: RS384 (default) or ES384.", "\"ES384\""),
    d("tenants[].redirect_uri", "The registered redirect URI; relative resolves against server.public_url."),
    u("tenants[].scope_style", "v1 (.read) or v2 (.rs). Default from the vendor profile.", "\"v1\""),
    u("tenants[].authorize_method", "get or post. Default from the vendor profile (Epic: post).", "\"post\""),
    u("tenants[].extra_headers", "Extra headers on discovery and token calls.", "{ \"Epic-Client-ID\" = \"…\" }"),
    u(
        "tenants[].frame_ancestors",
        "Origins allowed to frame chartdesk for this EHR (added to security.frame_ancestors).",
        "[\"https://ehr.hospital.example\"]",
    ),
    u(
        "tenants[].user_scopes",
        "Read scopes on the user's behalf. Default from the vendor profile.",
        "[\"user/Practitioner.rs\"]",
    ),
    u(
        "tenants[].patient_scopes",
        "Read scopes for the patient in context. Default from the vendor profile.",
        "[\"patient/Patient.r\"]",
    ),
    u("tenants[].launch_location", "Request launch/location.", "true"),
    u("tenants[].offline_access", "Request offline_access.", "false"),
    u("tenants[].online_access", "Request online_access.", "false"),
];

/// Arrays of tables, rendered as `[[name]]` blocks after the plain sections.
pub(super) const ARRAYS: &[&str] = &["sandbox.clients", "tenants"];

/// The whole configuration as commented TOML, secrets masked.
pub fn render_commented(config: &Config) -> String {
    let value = toml::Value::try_from(config).expect("the configuration serialises to TOML");
    let mut out = String::from(
        "# chartdesk configuration (effective values; secrets are masked as \"********\").\n\
         # Precedence: defaults < this file (--config) < CHARTDESK__SECTION__KEY environment < flags.\n",
    );
    for (section, about) in SECTIONS {
        out.push_str(&format!("\n# {about}\n[{section}]\n"));
        let table = value.get(section).and_then(|v| v.as_table());
        for doc in DOCS.iter().filter(|d| section_of(d.key) == *section && !d.key.contains("[]")) {
            if ARRAYS.contains(&doc.key) {
                continue; // rendered below as [[…]] blocks
            }
            let key = &doc.key[section.len() + 1..];
            push_key(&mut out, key, doc, table.and_then(|t| t.get(key)));
        }
    }
    for array in ARRAYS {
        let items =
            array.split('.').try_fold(&value, |v, k| v.get(k)).and_then(|v| v.as_array()).cloned().unwrap_or_default();
        out.push_str(&format!("\n# {}\n", doc_for(array).doc));
        if items.is_empty() {
            out.push_str("# (none)\n");
        }
        let prefix = format!("{array}[].");
        for item in &items {
            out.push_str(&format!("[[{array}]]\n"));
            for doc in DOCS.iter().filter(|d| d.key.starts_with(&prefix)) {
                let key = &doc.key[prefix.len()..];
                push_key(&mut out, key, doc, item.get(key));
            }
        }
    }
    out
}

fn push_key(out: &mut String, key: &str, doc: &Doc, value: Option<&toml::Value>) {
    out.push_str(&format!("# {}\n", doc.doc));
    match (value, doc.unset) {
        (Some(v), _) => out.push_str(&format!("{key} = {}\n", inline(v))),
        (None, Some(example)) => out.push_str(&format!("# {key} = {example}\n")),
        (None, None) => out.push_str(&format!("# {key} = (unset)\n")),
    }
}

/// A value on one line (tables as inline tables).
fn inline(v: &toml::Value) -> String {
    match v {
        toml::Value::Table(t) => {
            let parts: Vec<String> =
                t.iter().map(|(k, v)| format!("{} = {}", toml::Value::String(k.clone()), inline(v))).collect();
            format!("{{ {} }}", parts.join(", "))
        }
        toml::Value::Array(a) => format!("[{}]", a.iter().map(inline).collect::<Vec<_>>().join(", ")),
        other => other.to_string(),
    }
}

fn section_of(key: &str) -> &str {
    key.split('.').next().unwrap_or(key)
}

fn doc_for(key: &str) -> &'static Doc {
    DOCS.iter().find(|d| d.key == key).expect("documented key")
}

/// Test helper: every key the configuration serialises has a doc entry and vice versa.
#[cfg(test)]
pub(super) fn assert_complete(config: &Config) {
    let value = toml::Value::try_from(config).unwrap();
    let mut emitted = Vec::new();
    fn walk(prefix: &str, v: &toml::Value, out: &mut Vec<String>) {
        if let Some(t) = v.as_table() {
            for (k, v) in t {
                let path = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                if let Some(arr) = v.as_array().filter(|a| a.iter().all(|x| x.is_table()) && !a.is_empty()) {
                    out.push(path.clone());
                    for item in arr {
                        walk(&format!("{path}[]"), item, out);
                    }
                } else if v.is_table() {
                    walk(&path, v, out);
                } else {
                    out.push(path);
                }
            }
        }
    }
    walk("", &value, &mut emitted);
    for key in &emitted {
        assert!(DOCS.iter().any(|d| d.key == key), "config key `{key}` has no doc entry");
    }
    for doc in DOCS {
        assert!(
            emitted.contains(&doc.key.to_string()) || doc.unset.is_some(),
            "doc entry `{}` names no key and has no example",
            doc.key
        );
        let in_array = ARRAYS.iter().any(|a| doc.key == *a || doc.key.starts_with(&format!("{a}[].")));
        assert!(in_array || SECTIONS.iter().any(|(s, _)| *s == section_of(doc.key)), "{} has no section", doc.key);
    }
}
