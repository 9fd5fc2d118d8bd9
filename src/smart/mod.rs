//! SMART App Launch 2.2, app side: EHR and standalone launch, callback, token, identity,
//! sessions and refresh.
//!
//! Invariants:
//! - an `iss` outside the tenant allow-list is refused before any outbound request;
//! - every authorization request carries PKCE S256 (even when discovery does not advertise
//!   it), `aud` equal to the launch `iss`, and a `state` of 256 CSPRNG bits that is
//!   single-use, expires after 10 minutes and is bound to this browser's cookie;
//! - the callback checks `state` before anything else; no token request without it;
//! - requested scopes are built from types that can only express reads; a write scope an
//!   EHR grants anyway is dropped, logged and never used;
//! - id_tokens are verified (signature against the issuer's JWKS with one refetch on an
//!   unknown key, `iss`, `aud`, `exp` with 60 s skew, `nonce`; never `alg: none`);
//! - tokens live only server-side, sealed; never in URLs, cookies, pages or logs;
//! - all EHR I/O goes through `fhir` (HTTP) and the `oauth2`/`openidconnect` crates.

mod chart;
mod flow;
mod identity;
pub mod request;
pub mod scope;
pub mod session;
pub mod tenant;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::RwLock;

use crate::audit::{Audit, AuditRecord, EntityRole, EventKind, Outcome};
use crate::crypto::KeyRing;
use crate::error::{ErrorCode, HasErrorCode};
use crate::fhir::discovery::{Discovered, DiscoveryError, discover};
use crate::keys::AppKeys;
use crate::kv::{Kv, KvError};
use session::{SessionError, Sessions};
use tenant::{Tenant, Tenants};

pub use flow::{Authorize, Callback, Started};

const DISCOVERY_TTL: Duration = Duration::from_secs(3600);

/// A session's opaque audit reference (a digest of the launch id, which itself opens the session).
pub fn session_ref(launch_id: &str) -> String {
    flow::session_entity(launch_id)
}

/// The opaque user key of a session (digest of issuer and subject).
pub fn session_user_key(s: &session::Session) -> Option<String> {
    flow::user_key(s)
}

/// The session binding of a browser: the digest of its cookie value.
pub fn session_binding(cookie: &str) -> String {
    flow::digest(cookie)
}

#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    #[error("the launch is missing `{0}`; please open chartdesk again from your EHR")]
    MissingParameter(&'static str),
    #[error("the launch parameter `{0}` is not valid")]
    BadParameter(&'static str),
    #[error("chartdesk is not set up for this EHR (its address is not on chartdesk's list)")]
    UnknownIssuer,
    #[error("no tenant `{0}` is configured")]
    UnknownTenant(String),
    #[error("this sign-in is unknown, expired or was already used; please open chartdesk again from your EHR")]
    StateInvalid,
    #[error("your browser did not keep chartdesk's cookie, so this sign-in cannot be completed here")]
    CookieMissing,
    #[error("the EHR's answer names a different authorization server than the one chartdesk called")]
    IssuerMismatch,
    #[error("the EHR's SMART configuration could not be read")]
    Discovery(#[from] DiscoveryError),
    #[error("the EHR could not be reached or answered incorrectly")]
    EhrUnavailable(String),
    #[error("the EHR refused the sign-in ({0})")]
    TokenRejected(String),
    #[error("the EHR's identity token failed verification ({0})")]
    IdentityInvalid(String),
    #[error("your chartdesk session has ended; please open chartdesk again from your EHR")]
    SessionEnded,
    #[error("temporary storage is unavailable")]
    Storage(#[from] SessionError),
    #[error("the audit trail is unavailable")]
    Audit(#[from] crate::audit::AuditError),
}

impl From<KvError> for LaunchError {
    fn from(e: KvError) -> Self {
        LaunchError::Storage(SessionError::Kv(e))
    }
}

impl HasErrorCode for LaunchError {
    fn code(&self) -> ErrorCode {
        match self {
            LaunchError::MissingParameter(_) | LaunchError::BadParameter(_) => ErrorCode::LaunchInvalid,
            LaunchError::UnknownIssuer | LaunchError::UnknownTenant(_) => ErrorCode::LaunchUnknownIssuer,
            LaunchError::StateInvalid => ErrorCode::LaunchStateInvalid,
            LaunchError::CookieMissing => ErrorCode::LaunchCookiesBlocked,
            LaunchError::IssuerMismatch | LaunchError::TokenRejected(_) => ErrorCode::LaunchTokenRejected,
            LaunchError::Discovery(_) | LaunchError::EhrUnavailable(_) => ErrorCode::EhrUnavailable,
            LaunchError::IdentityInvalid(_) => ErrorCode::LaunchIdentityInvalid,
            LaunchError::SessionEnded => ErrorCode::SessionExpired,
            LaunchError::Storage(_) | LaunchError::Audit(_) => ErrorCode::ServiceUnavailable,
        }
    }
}

/// The SMART service: tenants, discovery and identity caches, sessions.
pub struct Smart {
    pub tenants: Tenants,
    pub sessions: Sessions,
    http: crate::fhir::http::EhrClient,
    kv: Arc<dyn Kv>,
    pub audit: Arc<Audit>,
    keys: Arc<AppKeys>,
    discovery: RwLock<HashMap<String, (Instant, Arc<Discovered>)>>,
    oidc: RwLock<HashMap<String, (Instant, Arc<openidconnect::core::CoreProviderMetadata>)>>,
    refresh_locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    /// The active access policy (role mapping, element groups, tenant overrides).
    pub policy: Arc<crate::policy::PolicyEngine>,
    store: Arc<dyn crate::store::Store>,
    /// CapabilityStatement summaries per tenant: (fetched, lifetime, summary).
    capabilities: Mutex<HashMap<String, (Instant, Duration, crate::fhir::client::Capabilities)>>,
    /// Tenants backed off after a 429, until the instant.
    backoff: Mutex<HashMap<String, Instant>>,
}

impl Smart {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        tenants: Tenants,
        kv: Arc<dyn Kv>,
        ring: Arc<KeyRing>,
        audit: Arc<Audit>,
        keys: Arc<AppKeys>,
        idle: Duration,
        absolute: Duration,
        policy: Arc<crate::policy::PolicyEngine>,
        store: Arc<dyn crate::store::Store>,
    ) -> Smart {
        Smart {
            tenants,
            sessions: Sessions::new(kv.clone(), ring, idle, absolute),
            http: crate::fhir::http::ehr_client(Duration::from_secs(10)),
            kv,
            audit,
            keys,
            discovery: RwLock::new(HashMap::new()),
            oidc: RwLock::new(HashMap::new()),
            refresh_locks: Mutex::new(HashMap::new()),
            policy,
            store,
            capabilities: Mutex::new(HashMap::new()),
            backoff: Mutex::new(HashMap::new()),
        }
    }

    /// A tenant as configured, with the active policy's overrides (scope set and style,
    /// authorize method) applied.
    pub fn tenant_with_overrides(&self, tenant: &Tenant) -> Tenant {
        let mut t = tenant.clone();
        let policy = self.policy.active();
        if let Some(o) = policy.document.tenants.iter().find(|o| o.tenant == t.id) {
            if let Some(style) = o.scope_style {
                t.scope_style = style;
            }
            if let Some(m) = o.authorize_method {
                t.authorize_method = m;
            }
            // Validated when the policy was activated; anything unparsable is skipped.
            if let Some(list) = &o.user_scopes {
                t.user_scopes = list.iter().filter_map(|s| s.parse().ok()).collect();
            }
            if let Some(list) = &o.patient_scopes {
                t.patient_scopes = list.iter().filter_map(|s| s.parse().ok()).collect();
            }
        }
        t
    }

    /// The session of `launch_id` for this browser; an expired one is recorded and ends.
    pub async fn session(&self, launch_id: &str, binding: &str) -> Result<session::Session, LaunchError> {
        match self.sessions.load(launch_id, binding).await? {
            session::Loaded::Active(s) => Ok(*s),
            session::Loaded::Expired(s) => {
                if let Some(t) = self.tenants.by_id(&s.tenant) {
                    let record = AuditRecord::new(EventKind::SessionExpired, Outcome::Success)
                        .agent(flow::session_agent(&s, t))
                        .entity(EntityRole::Session, flow::session_entity(&s.launch_id))
                        .reason("idle_or_absolute_timeout");
                    self.audit.record(record).await?;
                }
                Err(LaunchError::SessionEnded)
            }
            session::Loaded::Missing => Err(LaunchError::SessionEnded),
        }
    }

    /// The audit agent of a session (references and ids only).
    pub fn agent(&self, s: &session::Session) -> crate::audit::Agent {
        match self.tenants.by_id(&s.tenant) {
            Some(t) => flow::session_agent(s, t),
            None => crate::audit::Agent::default(),
        }
    }

    /// The facts of a launch that a context view shows besides chart data.
    pub fn launch_facts(&self, s: &session::Session) -> crate::context::view::LaunchFacts {
        let tenant = self.tenants.by_id(&s.tenant);
        crate::context::view::LaunchFacts {
            launch_id: s.launch_id.clone(),
            kind: match s.kind.as_str() {
                "Ehr" => "ehr",
                "EhrToolbar" => "ehr-toolbar",
                _ => "standalone",
            }
            .into(),
            tenant: s.tenant.clone(),
            vendor: tenant.map(|t| t.vendor.clone()).unwrap_or_default(),
            ehr: tenant.map(|t| t.label.clone()).unwrap_or_default(),
            fhir_user: s.user.fhir_user.as_ref().map(|u| format!("{}/{}", u.resource_type, u.id)),
            id_token_name: s.user.name.clone(),
            verified: s.user.verified,
            token_issued_at: s.token_issued_at,
            token_expires_at: s.token_expires_at,
            granted_scopes: s.granted_scopes.clone(),
            dropped_scopes: s.dropped_scopes.clone(),
            patient: s.context.patient.clone(),
            encounter: s.context.encounter.clone(),
            place: s.place(),
            created_at: s.created_at,
        }
    }

    /// End a session at the user's request.
    pub async fn logout(&self, s: &session::Session) -> Result<(), LaunchError> {
        self.sessions.delete(&s.launch_id).await?;
        if let Some(t) = self.tenants.by_id(&s.tenant) {
            let record = AuditRecord::new(EventKind::Logout, Outcome::Success)
                .agent(flow::session_agent(s, t))
                .entity(EntityRole::Session, flow::session_entity(&s.launch_id));
            self.audit.record(record).await?;
        }
        Ok(())
    }

    /// Discovery for a tenant, cached for an hour.
    pub async fn discovery(&self, tenant: &Tenant) -> Result<Arc<Discovered>, LaunchError> {
        if let Some((at, d)) = self.discovery.read().await.get(&tenant.id)
            && at.elapsed() < DISCOVERY_TTL
        {
            return Ok(d.clone());
        }
        let d = Arc::new(discover(&self.http, &tenant.issuer, &tenant.extra_headers).await?);
        if !d.code_challenge_methods.iter().any(|m| m == "S256") {
            tracing::info!(tenant = %tenant.id, "discovery does not advertise PKCE S256; sending it anyway");
        }
        self.discovery.write().await.insert(tenant.id.clone(), (Instant::now(), d.clone()));
        Ok(d)
    }
}
