//! The embedded sandbox EHR: a SMART authorization server and a read-only FHIR R4 API over
//! synthetic data, with one tenant per vendor mode. A development and test tool, never a
//! production component.
//!
//! Invariants:
//! - product code never depends on this module; it is wired in only at startup (see
//!   `web::sandbox`, the only place that mounts it) and only when `sandbox.enabled`;
//! - it is framework-free: it takes [`Request`] values and returns [`Response`] values, and
//!   the web layer adapts them to HTTP;
//! - the FHIR API is read-only: every write method is answered 405, and every request it
//!   receives (method, path, query, status) is journaled before the response is returned;
//! - it enforces more than smart-launcher-v2 does: registered clients and redirect URIs,
//!   PKCE S256 always, `aud` equal to the FHIR base, single-use `launch` values and codes,
//!   `jti` replay refusal, and SMART scopes on every FHIR read;
//! - every page it renders carries the "SANDBOX — synthetic data" banner.

mod auth;
mod clients;
pub mod data;
mod fhir_api;
mod launch;
mod pages;
mod search;
pub mod tenant;

use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use url::Url;

use crate::config::SandboxConfig;
use crate::keys::{KeyError, SigningKey};
use crate::kv::Kv;
use crate::store::Store;

pub use auth::AuthError;
pub use clients::RegistryError;
pub use data::Dataset;
pub use tenant::{Tenant, Vendor};

/// A request, as the web layer hands it over.
#[derive(Debug, Default)]
pub struct Request<'a> {
    pub method: &'a str,
    /// Path below the tenant base (`/Patient/pat-01`, `/authorize`); empty for the base itself.
    pub path: &'a str,
    /// The raw query string, without `?`.
    pub query: &'a str,
    pub authorization: Option<&'a str>,
    pub accept: Option<&'a str>,
    pub content_type: Option<&'a str>,
    pub body: &'a [u8],
}

#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    Empty,
    /// `application/json`
    Json(Value),
    /// `application/fhir+json; fhirVersion=4.0`
    Fhir(Value),
    /// `text/html; charset=utf-8`
    Html(String),
}

#[derive(Debug, Clone)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: Body,
}

impl Response {
    pub fn json(status: u16, v: Value) -> Response {
        Response { status, headers: Vec::new(), body: Body::Json(v) }
    }
    pub fn fhir(status: u16, v: Value) -> Response {
        Response { status, headers: Vec::new(), body: Body::Fhir(v) }
    }
    pub fn html(status: u16, html: String) -> Response {
        Response { status, headers: Vec::new(), body: Body::Html(html) }
    }
    pub fn redirect(location: String) -> Response {
        Response { status: 302, headers: vec![("location", location)], body: Body::Empty }
    }
    pub fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Response {
        self.headers.push((name, value.into()));
        self
    }
    /// Token endpoint responses must not be cached (SMART App Launch, RFC 6749 § 5.1).
    pub fn no_store(self) -> Response {
        self.with_header("cache-control", "no-store").with_header("pragma", "no-cache")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error(transparent)]
    Registry(#[from] RegistryError),
    #[error(transparent)]
    Key(#[from] KeyError),
}

/// The sandbox EHR: tenants, data, registrations and its signing key.
pub struct Sandbox {
    public: Url,
    tenants: Vec<Arc<Tenant>>,
    data: Dataset,
    clients: clients::Registry,
    signing: SigningKey,
    /// The next signing key, published in the JWKS once a rotated-key launch has happened.
    rotation: SigningKey,
    rotated: std::sync::atomic::AtomicBool,
    kv: Arc<dyn Kv>,
    store: Arc<dyn Store>,
    config: SandboxConfig,
}

impl Sandbox {
    /// Build the sandbox. `app_jwks` is chartdesk's own public key set, used by registrations
    /// that say `jwks = "chartdesk"`. The RS256 signing key lives in `<data_dir>/keys`.
    pub fn new(
        config: &SandboxConfig,
        public: Url,
        data_dir: &std::path::Path,
        app_jwks: jsonwebtoken::jwk::JwkSet,
        kv: Arc<dyn Kv>,
        store: Arc<dyn Store>,
    ) -> Result<Sandbox, SandboxError> {
        let tenants: Vec<Arc<Tenant>> = Tenant::all().into_iter().map(Arc::new).collect();
        let clients = clients::Registry::new(&config.clients, &tenants, &public, &app_jwks)?;
        let signing =
            SigningKey::load_or_create(&data_dir.join("keys/sandbox-rs256.pem"), jsonwebtoken::Algorithm::RS256)?;
        let rotation =
            SigningKey::load_or_create(&data_dir.join("keys/sandbox-rs256-next.pem"), jsonwebtoken::Algorithm::RS256)?;
        Ok(Sandbox {
            public,
            tenants,
            data: Dataset::embedded(),
            clients,
            signing,
            rotation,
            rotated: std::sync::atomic::AtomicBool::new(false),
            kv,
            store,
            config: config.clone(),
        })
    }

    pub fn tenants(&self) -> &[Arc<Tenant>] {
        &self.tenants
    }

    pub fn tenant(&self, id: &str) -> Option<&Arc<Tenant>> {
        self.tenants.iter().find(|t| t.id == id)
    }

    pub fn data(&self) -> &Dataset {
        &self.data
    }

    pub fn public_url(&self) -> &Url {
        &self.public
    }

    /// Any request below a tenant's FHIR base (journaled).
    pub async fn fhir(&self, tenant: &Tenant, req: &Request<'_>) -> Response {
        fhir_api::handle(self, tenant, req).await
    }

    /// Any request below a tenant's authorization-server base (journaled as `auth:…`).
    pub async fn auth(&self, tenant: &Tenant, req: &Request<'_>) -> Response {
        let response = auth::handle(self, tenant, req).await;
        let kind = format!("auth:{}", req.path.trim_start_matches('/').split('/').next_back().unwrap_or(""));
        if self.record(tenant, req, response.status, kind, None).await {
            response
        } else {
            Response::json(
                500,
                serde_json::json!({"error": "server_error", "error_description": "the sandbox could not record this request"}),
            )
        }
    }

    /// `GET /sandbox`: the launch page.
    pub fn launch_page(&self) -> Response {
        launch::page(self)
    }

    /// `GET /sandbox/ehr-launch?vendor=…&practitioner=…&patient=…`.
    pub async fn ehr_launch(&self, query: &str) -> Response {
        launch::ehr_launch(self, query).await
    }

    /// `GET /sandbox/journal?since=N[&include=auth]`: FHIR API requests, and with
    /// `include=auth` the authorization-server requests too (kinds `auth:…`).
    pub async fn journal(&self, since: i64, limit: u32, include_auth: bool) -> Result<Value, crate::store::StoreError> {
        let entries = self.store.journal_since(since, limit).await?;
        let next = entries.last().map(|e| e.seq).unwrap_or(since);
        let entries: Vec<_> =
            entries.into_iter().filter(|e| include_auth || !e.entry.kind.starts_with("auth:")).collect();
        Ok(serde_json::json!({ "entries": entries, "next_since": next }))
    }

    async fn record(
        &self,
        tenant: &Tenant,
        req: &Request<'_>,
        status: u16,
        kind: String,
        client_id: Option<String>,
    ) -> bool {
        let entry = crate::store::JournalEntry {
            tenant: tenant.id.to_string(),
            method: req.method.to_string(),
            path: if req.path.is_empty() { "/".into() } else { req.path.to_string() },
            query: (!req.query.is_empty()).then(|| req.query.to_string()),
            status,
            kind,
            client_id,
        };
        match self.store.journal_append(&entry).await {
            Ok(_) => true,
            Err(e) => {
                tracing::error!(error = %e, "sandbox journal append failed");
                false
            }
        }
    }

    /// A help page that Oracle-mode `error_uri` values point at.
    pub fn oauth_error_help(&self) -> Response {
        pages::help()
    }

    /// The SMART style document served as `smart_style_url`.
    pub fn style(&self) -> Response {
        Response::json(
            200,
            serde_json::json!({
                "color_background": "#f5f7fa", "color_error": "#9e2a2b", "color_highlight": "#2f6f9f",
                "color_modal_backdrop": "", "color_success": "#2e7d32", "color_text": "#1d2733",
                "dim_border_radius": "4px", "dim_font_size": "14px", "dim_spacing_size": "16px",
                "font_family_body": "system-ui, sans-serif", "font_family_heading": "system-ui, sans-serif"
            }),
        )
    }

    pub(crate) fn style_url(&self) -> String {
        format!("{}/sandbox/smart-style.json", self.public.as_str().trim_end_matches('/'))
    }
}

/// Context carried from a launch (or a standalone login) into codes and tokens.
#[derive(Clone, Debug, Serialize, Deserialize, Default, PartialEq)]
pub struct LaunchContext {
    pub practitioner: String,
    pub patient: Option<String>,
    pub encounter: Option<String>,
    /// Bed or unit Location id (Epic `location`, MEDITECH `launch/location`).
    pub location: Option<String>,
    /// Department Location id (Epic `loginDepartment`).
    pub login_department: Option<String>,
    pub need_patient_banner: bool,
    pub auth_error: Option<AuthError>,
    /// A deliberately broken id_token, to test the app's verification.
    #[serde(default)]
    pub id_token_fault: Option<IdTokenFault>,
}

/// Sandbox-only id_token faults (selectable per launch with `id_token_fault=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdTokenFault {
    BadSignature,
    WrongIss,
    WrongAud,
    Expired,
    WrongNonce,
    AlgNone,
    /// Signed with a second key that the JWKS starts publishing only now (key rotation).
    RotatedKey,
}

impl IdTokenFault {
    pub const ALL: [IdTokenFault; 7] = [
        IdTokenFault::BadSignature,
        IdTokenFault::WrongIss,
        IdTokenFault::WrongAud,
        IdTokenFault::Expired,
        IdTokenFault::WrongNonce,
        IdTokenFault::AlgNone,
        IdTokenFault::RotatedKey,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            IdTokenFault::BadSignature => "bad_signature",
            IdTokenFault::WrongIss => "wrong_iss",
            IdTokenFault::WrongAud => "wrong_aud",
            IdTokenFault::Expired => "expired",
            IdTokenFault::WrongNonce => "wrong_nonce",
            IdTokenFault::AlgNone => "alg_none",
            IdTokenFault::RotatedKey => "rotated_key",
        }
    }

    pub fn parse(s: &str) -> Option<IdTokenFault> {
        Self::ALL.into_iter().find(|f| f.as_str() == s)
    }
}
