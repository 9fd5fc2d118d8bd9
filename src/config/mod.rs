//! Configuration.
//!
//! Layering, lowest to highest: built-in defaults < the TOML file given by `--config` <
//! environment variables `CHARTDESK__SECTION__KEY` < command-line flags. Unknown keys are
//! rejected with a message naming the key and where it came from. Secrets live in [`Secret`],
//! which never prints its value (Debug, Display, serialisation and `print-config` all mask it).
//!
//! Invariants:
//! - every key has a doc line in [`docs::DOCS`] (a test enforces it), so `print-config` can
//!   always print the full, commented configuration;
//! - nothing here performs I/O beyond reading the config file.

mod docs;

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use url::Url;

pub use docs::render_commented;

/// Environment variable prefix; the section/key separator is a double underscore.
pub const ENV_PREFIX: &str = "CHARTDESK__";

/// A secret configuration value (passwords, client secrets, URLs with credentials).
///
/// The only way to read the value is [`Secret::expose`]; every other rendering is masked.
#[derive(Clone)]
pub struct Secret(SecretString);

impl Secret {
    pub const MASK: &'static str = "********";

    pub fn new(value: impl Into<String>) -> Self {
        Secret(SecretString::from(value.into()))
    }

    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(Self::MASK)
    }
}

impl Serialize for Secret {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(Self::MASK)
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Secret::new)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    #[default]
    Development,
    Production,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    pub server: ServerConfig,
    pub database: DatabaseConfig,
    pub redis: RedisConfig,
    pub security: SecurityConfig,
    pub telemetry: TelemetryConfig,
    pub sessions: SessionConfig,
    pub audit: AuditConfig,
    pub retention: RetentionConfig,
    pub handoff: HandoffConfig,
    pub desk: DeskConfig,
    pub tls: TlsConfig,
    pub sandbox: SandboxConfig,
    /// The EHRs chartdesk is registered with: the issuer allow-list.
    pub tenants: Vec<TenantConfig>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            server: ServerConfig::default(),
            database: DatabaseConfig::default(),
            redis: RedisConfig::default(),
            security: SecurityConfig::default(),
            telemetry: TelemetryConfig::default(),
            sessions: SessionConfig::default(),
            audit: AuditConfig::default(),
            retention: RetentionConfig::default(),
            handoff: HandoffConfig::default(),
            desk: DeskConfig::default(),
            tls: TlsConfig::default(),
            sandbox: SandboxConfig::default(),
            tenants: default_tenants(),
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Socket address to listen on.
    pub bind: String,
    /// The externally visible base URL; derived from `bind` when unset.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub public_url: Option<Url>,
    pub data_dir: PathBuf,
    pub profile: Profile,
    /// Worker threads; 0 means one per core.
    pub workers: usize,
    pub shutdown_timeout_secs: u64,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            bind: "127.0.0.1:8080".into(),
            public_url: None,
            data_dir: PathBuf::from("data"),
            profile: Profile::Development,
            workers: 0,
            shutdown_timeout_secs: 10,
            max_body_bytes: 64 * 1024,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DatabaseConfig {
    /// `sqlite://…` or `postgres://…`; defaults to `<data_dir>/chartdesk.db`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<Secret>,
    pub max_connections: u32,
    pub connect_timeout_secs: u64,
}

impl Default for DatabaseConfig {
    fn default() -> Self {
        DatabaseConfig { url: None, max_connections: 8, connect_timeout_secs: 5 }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RedisConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<Secret>,
    pub key_prefix: String,
}

impl Default for RedisConfig {
    fn default() -> Self {
        RedisConfig { url: None, key_prefix: "chartdesk:".into() }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecurityConfig {
    /// CSP `frame-ancestors` sources allowed to embed chartdesk (the EHRs' origins).
    pub frame_ancestors: Vec<String>,
    /// Master key wrapping the data keys (base64 of 32 bytes); unset: `<data_dir>/keys/master.key`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub master_key: Option<Secret>,
}

impl Default for SecurityConfig {
    fn default() -> Self {
        SecurityConfig { frame_ancestors: vec!["'self'".into()], master_key: None }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuditConfig {
    /// First line of every checkpoint: names this log.
    pub origin: String,
    /// Name of the Ed25519 checkpoint signing key.
    pub key_name: String,
    /// Ed25519 seed (base64 of 32 bytes); unset: `<data_dir>/keys/audit-ed25519.key`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub signing_key: Option<Secret>,
    /// Where checkpoints are written outside the database; unset: `<data_dir>/audit-checkpoints`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checkpoint_dir: Option<PathBuf>,
    pub checkpoint_every: u64,
    pub checkpoint_interval_secs: u64,
}

impl Default for AuditConfig {
    fn default() -> Self {
        AuditConfig {
            origin: "chartdesk/audit".into(),
            key_name: "chartdesk-audit".into(),
            signing_key: None,
            checkpoint_dir: None,
            checkpoint_every: 1000,
            checkpoint_interval_secs: 60,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RetentionConfig {
    pub message_days: u64,
    pub handoff_days: u64,
    /// HIPAA § 164.316(b)(2): six years.
    pub audit_days: u64,
    pub purge_interval_secs: u64,
}

impl Default for RetentionConfig {
    fn default() -> Self {
        RetentionConfig { message_days: 30, handoff_days: 365, audit_days: 6 * 365 + 2, purge_interval_secs: 3600 }
    }
}

/// Where medication questions go.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MedicationQueue {
    Pharmacy,
    NursingSupervisor,
}

/// A unit (department) and what its clinicians are told when a message looks urgent.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UnitConfig {
    /// The department name as the EHR gives it (e.g. "4 West Medical-Surgical").
    pub name: String,
    /// The unit's rapid-response / escalation number, shown with the urgent notice.
    pub rapid_response: String,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HandoffConfig {
    /// Largest message accepted, in bytes of UTF-8.
    pub max_message_bytes: usize,
    /// Acknowledgement deadline for urgent handoffs before re-escalation.
    pub sla_urgent_secs: u64,
    /// …and for the others.
    pub sla_other_secs: u64,
    /// How often overdue handoffs are looked for.
    pub sweep_interval_secs: u64,
    pub medication_queue: MedicationQueue,
    /// The hospital-wide rapid-response number, when a unit has none of its own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rapid_response: Option<String>,
    pub units: Vec<UnitConfig>,
}

impl Default for HandoffConfig {
    fn default() -> Self {
        HandoffConfig {
            max_message_bytes: 8 * 1024,
            sla_urgent_secs: 120,
            sla_other_secs: 900,
            sweep_interval_secs: 5,
            medication_queue: MedicationQueue::Pharmacy,
            rapid_response: None,
            units: Vec::new(),
        }
    }
}

/// The service-desk outbox relay and its sinks.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DeskConfig {
    /// Deliver tickets to a Redis Stream (needs `redis.url` or `desk.redis_url`).
    pub redis_stream: bool,
    /// A separate Redis for the ticket stream; default: `redis.url`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redis_url: Option<Secret>,
    /// The stream's key (after `redis.key_prefix`).
    pub stream_key: String,
    /// How often the relay looks for due tickets.
    pub relay_interval_ms: u64,
    /// Tickets claimed per relay pass.
    pub batch: i64,
    /// How long a claim holds before another relay may take the ticket.
    pub lease_secs: u64,
    /// Attempts before a ticket goes to the dead-letter list.
    pub max_attempts: i64,
    /// First retry delay; doubled per attempt up to `retry_max_secs`.
    pub retry_base_ms: u64,
    pub retry_max_secs: u64,
    /// Total time allowed for one desk HTTP call.
    pub http_timeout_secs: u64,
    /// Request Tracker 5 (REST2): base URL, auth token, queue and the handoff-key custom field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rt_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rt_token: Option<Secret>,
    pub rt_queue: String,
    pub rt_key_field: String,
    /// ServiceNow Table API (incident): instance URL and Basic or bearer credentials.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub servicenow_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub servicenow_user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub servicenow_password: Option<Secret>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub servicenow_token: Option<Secret>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub servicenow_assignment_group: Option<String>,
    /// Jira Service Management Cloud: site, account email, API token, service desk and request type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jira_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jira_email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jira_api_token: Option<Secret>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jira_service_desk_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jira_request_type_id: Option<String>,
    pub jira_key_field: String,
    /// A generic webhook: JSON signed with HMAC-SHA256 over "<timestamp>.<body>".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_url: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_secret: Option<Secret>,
}

impl Default for DeskConfig {
    fn default() -> Self {
        DeskConfig {
            redis_stream: true,
            redis_url: None,
            stream_key: "desk:tickets".into(),
            relay_interval_ms: 500,
            batch: 32,
            lease_secs: 30,
            max_attempts: 8,
            retry_base_ms: 500,
            retry_max_secs: 60,
            http_timeout_secs: 10,
            rt_url: None,
            rt_token: None,
            rt_queue: "Handoff".into(),
            rt_key_field: "HandoffKey".into(),
            servicenow_url: None,
            servicenow_user: None,
            servicenow_password: None,
            servicenow_token: None,
            servicenow_assignment_group: None,
            jira_url: None,
            jira_email: None,
            jira_api_token: None,
            jira_service_desk_id: None,
            jira_request_type_id: None,
            jira_key_field: "labels".into(),
            webhook_url: None,
            webhook_secret: None,
        }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// PEM certificate chain; with `key_file`, chartdesk serves HTTPS itself (TLS 1.2 and 1.3).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cert_file: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_file: Option<PathBuf>,
    /// HSTS max-age when serving HTTPS.
    pub hsts_max_age_secs: u64,
}

impl Default for TlsConfig {
    fn default() -> Self {
        TlsConfig { cert_file: None, key_file: None, hsts_max_age_secs: 31_536_000 }
    }
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SessionConfig {
    /// A session not used for this long ends (ASVS 7.3.1).
    pub idle_timeout_secs: u64,
    /// No session lives longer than this (ASVS 7.3.2).
    pub absolute_timeout_secs: u64,
    /// Add the `Partitioned` (CHIPS) attribute to the session cookie.
    pub partitioned_cookie: bool,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig { idle_timeout_secs: 15 * 60, absolute_timeout_secs: 12 * 3600, partitioned_cookie: false }
    }
}

/// `authorize` as a browser redirect (GET) or an auto-submitted form (POST).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthorizeMethod {
    Get,
    Post,
}

/// Our signing algorithm for `private_key_jwt` client assertions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SigningAlg {
    RS384,
    ES384,
}

/// One EHR registration (an entry of the issuer allow-list). Unset keys come from the
/// vendor profile in fhir-profiles/vendors/<vendor>.toml.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TenantConfig {
    pub id: String,
    /// The FHIR base URL the EHR sends as `iss`. A relative URL means this server (the sandbox).
    pub issuer: String,
    pub vendor: String,
    pub client_id: String,
    pub client_auth: ClientAuth,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<Secret>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signing_alg: Option<SigningAlg>,
    #[serde(default = "default_redirect")]
    pub redirect_uri: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope_style: Option<crate::smart::request::ScopeStyle>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorize_method: Option<AuthorizeMethod>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra_headers: Option<std::collections::BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frame_ancestors: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_scopes: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patient_scopes: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch_location: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub offline_access: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub online_access: Option<bool>,
}

fn default_redirect() -> String {
    "/callback".into()
}

/// chartdesk's registrations with the four sandbox tenants (mirroring `sandbox.clients`).
fn default_tenants() -> Vec<TenantConfig> {
    let t = |id: &str, issuer: &str, vendor: &str, client_id: &str, client_auth| TenantConfig {
        id: id.into(),
        issuer: issuer.into(),
        vendor: vendor.into(),
        client_id: client_id.into(),
        client_auth,
        client_secret: None,
        signing_alg: None,
        redirect_uri: default_redirect(),
        scope_style: None,
        authorize_method: None,
        extra_headers: None,
        frame_ancestors: None,
        user_scopes: None,
        patient_scopes: None,
        launch_location: None,
        offline_access: None,
        online_access: None,
    };
    let mut oracle = t(
        "sandbox-oracle-health",
        "/sandbox/oracle-health/r4/5c1e7b52-8f3d-4c1a-9e6b-2d7f0a93c4e1",
        "oracle-health",
        "chartdesk-oracle",
        ClientAuth::ClientSecretBasic,
    );
    oracle.client_secret = Some(Secret::new(SANDBOX_SECRET));
    let mut epic = t(
        "sandbox-epic",
        "/sandbox/epic/interconnect-fhir-oauth/api/FHIR/R4",
        "epic",
        "chartdesk-epic",
        ClientAuth::PrivateKeyJwt,
    );
    // The Epic profile authorizes with a POST form (auto-submitted by script); the built-in
    // sandbox tenant uses GET so that a plain `curl -L` can follow a whole launch.
    epic.authorize_method = Some(AuthorizeMethod::Get);
    // The generic sandbox offers AuditEvent search in its CapabilityStatement, so this tenant
    // also asks for it: "last login" then comes from the EHR (elsewhere from chartdesk's record).
    let mut generic = t("sandbox-generic", "/sandbox/generic/fhir", "generic", "chartdesk-generic", ClientAuth::Public);
    generic.user_scopes = Some(
        ["user/Practitioner.rs", "user/PractitionerRole.rs", "user/Location.r", "user/AuditEvent.rs"]
            .map(String::from)
            .to_vec(),
    );
    vec![
        generic,
        epic,
        oracle,
        t("sandbox-meditech", "/sandbox/meditech/v2/uscore/STU6", "meditech", "chartdesk-meditech", ClientAuth::Public),
    ]
}

/// The sandbox-only secret shared by the default Oracle-mode registration on both sides.
const SANDBOX_SECRET: &str = "sandbox-only-secret-change-me";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
    Json,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetryConfig {
    pub format: LogFormat,
    /// A `tracing` filter directive, e.g. `info` or `chartdesk=debug,info`.
    pub filter: String,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        TelemetryConfig { format: LogFormat::Text, filter: "info".into() }
    }
}

/// How a registered client authenticates at the token endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientAuth {
    /// Public client: `client_id` in the body, PKCE only.
    Public,
    /// Symmetric: HTTP Basic with the form-urlencoded id and secret.
    ClientSecretBasic,
    /// Asymmetric: a signed JWT client assertion (RS384 or ES384).
    PrivateKeyJwt,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct SandboxConfig {
    /// On by default in development, off in production unless set to true explicitly.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    /// Access-token lifetime for tenants whose vendor mode does not fix one.
    pub token_lifetime_secs: u64,
    /// Lifetime of a `launch` value minted by the sandbox EHR.
    pub launch_lifetime_secs: u64,
    pub clients: Vec<SandboxClient>,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            enabled: None,
            token_lifetime_secs: 3600,
            launch_lifetime_secs: 600,
            clients: default_sandbox_clients(),
        }
    }
}

/// A client registered with one sandbox tenant (the out-of-band registration a hospital does).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SandboxClient {
    /// Sandbox tenant id: `generic`, `epic`, `oracle-health` or `meditech`.
    pub tenant: String,
    pub client_id: String,
    pub auth: ClientAuth,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<Secret>,
    /// For `private_key_jwt`: `"chartdesk"` (this server's own key set) or an inline JWKS JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks: Option<String>,
    /// Registered redirect URIs; relative ones resolve against `server.public_url`.
    pub redirect_uris: Vec<String>,
    /// The app's launch URL that `/sandbox/ehr-launch` redirects to.
    pub launch_uri: String,
    /// The launch URL of the toolbar launch point (used when no patient is open).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub toolbar_launch_uri: Option<String>,
    /// Scopes the registration allows; the Oracle Health mode trims grants to this list.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_scopes: Option<Vec<String>>,
}

fn default_sandbox_clients() -> Vec<SandboxClient> {
    let client = |tenant: &str, id: &str, auth| SandboxClient {
        tenant: tenant.into(),
        client_id: id.into(),
        auth,
        client_secret: None,
        jwks: None,
        redirect_uris: vec!["/callback".into()],
        launch_uri: "/launch".into(),
        toolbar_launch_uri: Some("/launch?point=toolbar".into()),
        allowed_scopes: None,
    };
    let mut oracle = client("oracle-health", "chartdesk-oracle", ClientAuth::ClientSecretBasic);
    oracle.client_secret = Some(Secret::new(SANDBOX_SECRET));
    oracle.allowed_scopes = Some(
        [
            "launch",
            "launch/patient",
            "openid",
            "fhirUser",
            "online_access",
            "user/Practitioner.read",
            "user/PractitionerRole.read",
            "user/Location.read",
            "patient/Patient.read",
            "patient/Encounter.read",
        ]
        .map(String::from)
        .to_vec(),
    );
    let mut epic = client("epic", "chartdesk-epic", ClientAuth::PrivateKeyJwt);
    epic.jwks = Some("chartdesk".into());
    vec![
        client("generic", "chartdesk-generic", ClientAuth::Public),
        epic,
        oracle,
        client("meditech", "chartdesk-meditech", ClientAuth::Public),
    ]
}

/// Command-line overrides, applied last.
#[derive(Clone, Debug, Default)]
pub struct Overrides {
    pub bind: Option<String>,
    pub data_dir: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration file {0} does not exist")]
    MissingFile(PathBuf),
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

impl Config {
    /// Load the layered configuration.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Config, ConfigError> {
        Self::load_from_env(file, overrides, Env::prefixed(ENV_PREFIX).split("__"))
    }

    fn load_from_env(file: Option<&Path>, overrides: &Overrides, env: Env) -> Result<Config, ConfigError> {
        let mut figment = Figment::new();
        if let Some(path) = file {
            if !path.exists() {
                return Err(ConfigError::MissingFile(path.to_path_buf()));
            }
            figment = figment.merge(Toml::file_exact(path));
        }
        figment = figment.merge(env);
        if let Some(bind) = &overrides.bind {
            figment = figment.merge(Serialized::default("server.bind", bind));
        }
        if let Some(dir) = &overrides.data_dir {
            figment = figment.merge(Serialized::default("server.data_dir", dir));
        }
        let config: Config = figment.extract().map_err(|e| ConfigError::Invalid(describe(e)))?;
        config.validate()?;
        Ok(config)
    }

    /// Checks that serde cannot express.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let bad = |m: String| Err(ConfigError::Invalid(m));
        if self.tls.cert_file.is_some() != self.tls.key_file.is_some() {
            return bad("tls: cert_file and key_file go together".into());
        }
        if self.audit.checkpoint_every == 0 || self.audit.checkpoint_interval_secs == 0 {
            return bad("audit: checkpoint_every and checkpoint_interval_secs must be positive".into());
        }
        if self.server.bind.parse::<SocketAddr>().is_err() {
            return bad(format!("server.bind: `{}` is not a socket address like 127.0.0.1:8080", self.server.bind));
        }
        if let Some(url) = &self.database.url {
            let u = url.expose();
            if !(u.starts_with("sqlite:") || u.starts_with("postgres://") || u.starts_with("postgresql://")) {
                return bad("database.url: must start with sqlite: or postgres://".into());
            }
        }
        if let Some(url) = &self.redis.url {
            let u = url.expose();
            if !(u.starts_with("redis://") || u.starts_with("rediss://")) {
                return bad("redis.url: must start with redis:// or rediss://".into());
            }
        }
        for (i, c) in self.sandbox.clients.iter().enumerate() {
            let at = format!("sandbox.clients[{i}] ({})", c.client_id);
            match c.auth {
                ClientAuth::ClientSecretBasic if c.client_secret.is_none() => {
                    return bad(format!("{at}: client_secret_basic needs client_secret"));
                }
                ClientAuth::PrivateKeyJwt if c.jwks.is_none() => {
                    return bad(format!("{at}: private_key_jwt needs jwks"));
                }
                _ => {}
            }
            if c.redirect_uris.is_empty() {
                return bad(format!("{at}: at least one redirect_uri is required"));
            }
        }
        Ok(())
    }

    /// Is the embedded sandbox EHR switched on?
    pub fn sandbox_enabled(&self) -> bool {
        self.sandbox.enabled.unwrap_or(self.server.profile == Profile::Development)
    }

    /// The externally visible base URL, without a trailing slash.
    pub fn public_url(&self, bound: SocketAddr) -> Url {
        match &self.server.public_url {
            Some(u) => u.clone(),
            None => {
                let scheme = if self.tls.cert_file.is_some() { "https" } else { "http" };
                Url::parse(&format!("{scheme}://{bound}")).expect("a socket address forms a URL")
            }
        }
    }

    /// The database URL: configured, or the embedded SQLite file under the data dir.
    pub fn checkpoint_dir(&self) -> PathBuf {
        self.audit.checkpoint_dir.clone().unwrap_or_else(|| self.server.data_dir.join("audit-checkpoints"))
    }

    pub fn database_url(&self) -> String {
        match &self.database.url {
            Some(u) => u.expose().to_string(),
            None => format!("sqlite://{}", self.server.data_dir.join("chartdesk.db").display()),
        }
    }
}

/// Render a figment error so that it names the offending key and its source.
fn describe(e: figment::Error) -> String {
    let mut out = Vec::new();
    for err in e {
        let key = if err.path.is_empty() { None } else { Some(err.path.join(".")) };
        let source = err
            .metadata
            .as_ref()
            .map(|m| match &m.source {
                Some(s) => format!("{} ({s})", m.name),
                None => m.name.to_string(),
            })
            .unwrap_or_default();
        let msg = match &err.kind {
            // figment's path already ends with the unknown field
            figment::error::Kind::UnknownField(field, _) => {
                format!("unknown key `{}`", key.as_deref().unwrap_or(field))
            }
            kind => match &key {
                Some(k) => format!("key `{k}`: {kind}"),
                None => kind.to_string(),
            },
        };
        if source.is_empty() {
            out.push(msg);
        } else {
            out.push(format!("{msg} in {source}"));
        }
    }
    out.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[expect(clippy::result_large_err, reason = "figment::Jail's closure type fixes figment::Error as the error")]
    fn load(toml: &str, env: &[(&str, &str)], overrides: Overrides) -> Result<Config, ConfigError> {
        let dir = tempdir();
        let path = dir.join("c.toml");
        std::fs::write(&path, toml).unwrap();
        // Jail serialises tests that touch the process environment and restores it after.
        let mut out = None;
        figment::Jail::expect_with(|jail| {
            for (k, v) in env {
                jail.set_env(k, v);
            }
            out = Some(Config::load(Some(&path), &overrides));
            Ok(())
        });
        out.expect("the jail ran")
    }

    fn tempdir() -> PathBuf {
        let p = std::env::temp_dir().join(format!("chartdesk-cfg-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&p).unwrap();
        p
    }

    #[test]
    fn layering_defaults_file_env_flags() {
        let c = load("[server]\nbind = \"127.0.0.1:9000\"\nworkers = 3\n", &[], Overrides::default()).unwrap();
        assert_eq!(c.server.bind, "127.0.0.1:9000");
        assert_eq!(c.server.workers, 3);
        assert_eq!(c.telemetry.filter, "info", "untouched keys keep defaults");

        let c = load(
            "[server]\nbind = \"127.0.0.1:9000\"\n",
            &[("CHARTDESK__SERVER__BIND", "127.0.0.1:9100"), ("CHARTDESK__TELEMETRY__FORMAT", "json")],
            Overrides::default(),
        )
        .unwrap();
        assert_eq!(c.server.bind, "127.0.0.1:9100", "env beats file");
        assert_eq!(c.telemetry.format, LogFormat::Json);

        let c = load(
            "[server]\nbind = \"127.0.0.1:9000\"\n",
            &[("CHARTDESK__SERVER__BIND", "127.0.0.1:9100")],
            Overrides { bind: Some("127.0.0.1:9200".into()), data_dir: Some("/tmp/x".into()) },
        )
        .unwrap();
        assert_eq!(c.server.bind, "127.0.0.1:9200", "flags beat env");
        assert_eq!(c.server.data_dir, PathBuf::from("/tmp/x"));
    }

    #[test]
    fn unknown_keys_are_named() {
        let e = load("[server]\nbnd = \"x\"\n", &[], Overrides::default()).unwrap_err();
        let m = e.to_string();
        assert!(m.contains("unknown key `server.bnd`"), "{m}");
        assert!(m.contains("c.toml"), "names the file: {m}");

        let e = load("", &[("CHARTDESK__TELEMETRY__COLOUR", "red")], Overrides::default()).unwrap_err();
        let m = e.to_string();
        assert!(m.contains("unknown key `telemetry.colour`"), "{m}");
        assert!(m.contains("CHARTDESK__"), "names the environment as the source: {m}");

        let e = load("[nosuchsection]\na = 1\n", &[], Overrides::default()).unwrap_err();
        assert!(e.to_string().contains("unknown key `nosuchsection`"), "{e}");
    }

    #[test]
    fn bad_values_are_explained() {
        let e = load("[server]\nbind = \"not-an-address\"\n", &[], Overrides::default()).unwrap_err();
        assert!(e.to_string().contains("server.bind"), "{e}");
        let e = load("[database]\nurl = \"mysql://x\"\n", &[], Overrides::default()).unwrap_err();
        assert!(e.to_string().contains("database.url"), "{e}");
        let e = load("[server]\nworkers = \"many\"\n", &[], Overrides::default()).unwrap_err();
        assert!(e.to_string().contains("server.workers"), "{e}");
    }

    #[test]
    fn secrets_are_masked_in_debug_and_serialisation() {
        let c = load(
            "[database]\nurl = \"postgres://u:hunter2-pw@db/x\"\n",
            &[("CHARTDESK__REDIS__URL", "redis://:redis-pw-77@127.0.0.1:6379")],
            Overrides::default(),
        )
        .unwrap();
        assert_eq!(c.database.url.as_ref().unwrap().expose(), "postgres://u:hunter2-pw@db/x");
        let debug = format!("{c:?}");
        let printed = render_commented(&c);
        for rendering in [&debug, &printed] {
            assert!(!rendering.contains("hunter2-pw"), "{rendering}");
            assert!(!rendering.contains("redis-pw-77"));
            assert!(!rendering.contains("sandbox-only-secret"));
            assert!(rendering.contains(Secret::MASK));
        }
    }

    #[test]
    fn sandbox_defaults_follow_the_profile() {
        let c = Config::default();
        assert!(c.sandbox_enabled());
        let c = load("[server]\nprofile = \"production\"\n", &[], Overrides::default()).unwrap();
        assert!(!c.sandbox_enabled(), "off in production unless explicitly enabled");
        let c =
            load("[server]\nprofile = \"production\"\n[sandbox]\nenabled = true\n", &[], Overrides::default()).unwrap();
        assert!(c.sandbox_enabled());
    }

    #[test]
    fn print_config_is_complete_commented_and_reloadable() {
        let c = Config::default();
        let text = render_commented(&c);
        // Every documented key appears, and every emitted key is documented.
        docs::assert_complete(&c);
        // The printed configuration loads back to the same values.
        let dir = tempdir();
        let path = dir.join("printed.toml");
        std::fs::write(&path, &text).unwrap();
        let back = Config::load_from_env(Some(&path), &Overrides::default(), Env::prefixed("NOPE_UNSET__")).unwrap();
        assert_eq!(back.server.bind, c.server.bind);
        assert_eq!(back.sandbox.clients.len(), c.sandbox.clients.len());
        assert_eq!(back.security.frame_ancestors, c.security.frame_ancestors);
    }
}
