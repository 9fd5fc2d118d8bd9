//! HTTP: the actix-web application.
//!
//! Invariants:
//! - this is the only module that knows actix; everything below it takes and returns plain
//!   values;
//! - every response passes the request-context middleware (request id, root span with the
//!   route pattern only) and the security-headers middleware;
//! - errors are rendered by [`error`] from the one code table: JSON for `/api`, FHIR
//!   OperationOutcome for FHIR-facing routes, an HTML page in the browser; 5xx are opaque;
//! - the sandbox EHR is mounted by [`sandbox::mount`] at startup, and only when enabled;
//!   no other handler touches it.

mod admin;
mod api;
pub mod authz;
pub mod error;
mod health;
pub mod launch;
mod messages;
pub mod middleware;
mod pages;
mod sandbox;

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::http::header::HeaderValue;
use actix_web::middleware::from_fn;
use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};

use crate::config::Config;
use crate::error::ErrorCode;
use crate::keys::AppKeys;
use crate::kv::Kv;
use crate::store::Store;
use error::AppError;

/// Everything a handler may need, built once at startup.
pub struct AppState {
    pub config: Arc<Config>,
    pub public_url: url::Url,
    pub store: Arc<dyn Store>,
    pub kv: Arc<dyn Kv>,
    /// Set when `redis.url` is configured (readiness reports it by name).
    pub redis: Option<Arc<dyn Kv>>,
    pub app_keys: Arc<AppKeys>,
    /// The embedded sandbox EHR, when enabled. Read only by [`sandbox::mount`].
    pub sandbox: Option<Arc<crate::sandbox::Sandbox>>,
    pub smart: Arc<crate::smart::Smart>,
    pub policy_admin: Arc<crate::policy::admin::PolicyAdmin>,
    pub handoffs: Arc<crate::handoff::Handoffs>,
    /// The service-desk relay (dead letters and their retry).
    pub desk: Arc<crate::desk::Relay>,
    pub detectors: Arc<crate::handoff::Detectors>,
    pub cookie: launch::CookiePolicy,
    pub(crate) csp: HeaderValue,
    /// Strict-Transport-Security, when chartdesk serves HTTPS itself.
    pub(crate) hsts: Option<HeaderValue>,
}

impl AppState {
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        config: Arc<Config>,
        public_url: url::Url,
        store: Arc<dyn Store>,
        kv: Arc<dyn Kv>,
        redis: Option<Arc<dyn Kv>>,
        app_keys: Arc<AppKeys>,
        sandbox: Option<Arc<crate::sandbox::Sandbox>>,
        smart: Arc<crate::smart::Smart>,
        policy_admin: Arc<crate::policy::admin::PolicyAdmin>,
        handoffs: Arc<crate::handoff::Handoffs>,
        desk: Arc<crate::desk::Relay>,
    ) -> AppState {
        let csp = middleware::content_security_policy(&config.security.frame_ancestors, &[]);
        let cookie = launch::CookiePolicy::for_url(&public_url, config.sessions.partitioned_cookie);
        let hsts = (config.tls.cert_file.is_some() && config.tls.hsts_max_age_secs > 0)
            .then(|| {
                HeaderValue::from_str(&format!("max-age={}; includeSubDomains", config.tls.hsts_max_age_secs)).ok()
            })
            .flatten();
        let detectors = Arc::new(crate::handoff::Detectors::default());
        AppState {
            config,
            public_url,
            store,
            kv,
            redis,
            app_keys,
            sandbox,
            smart,
            policy_admin,
            handoffs,
            desk,
            detectors,
            cookie,
            csp,
            hsts,
        }
    }
}

/// Register every route on `cfg`.
pub fn configure(cfg: &mut web::ServiceConfig, state: &web::Data<AppState>) {
    let limit = state.config.server.max_body_bytes;
    cfg.app_data(state.clone())
        .app_data(web::PayloadConfig::new(limit))
        .app_data(web::JsonConfig::default().limit(limit).error_handler(|err, _req| {
            use actix_web::error::JsonPayloadError as J;
            let e = match &err {
                J::Overflow { .. } | J::OverflowKnownLength { .. } => AppError::bare(ErrorCode::PayloadTooLarge),
                J::ContentType => AppError::new(ErrorCode::UnsupportedMediaType, "send application/json"),
                _ => AppError::new(ErrorCode::InvalidJson, "the body is not valid JSON for this endpoint"),
            };
            error::ApiError(e).into()
        }))
        .app_data(web::QueryConfig::default().error_handler(|_err, _req| {
            error::ApiError(AppError::new(ErrorCode::InvalidParameter, "a query parameter is missing or not valid"))
                .into()
        }))
        .route("/", web::get().to(pages::home))
        .route("/static/chartdesk.css", web::get().to(pages::stylesheet))
        .route("/static/autosubmit.js", web::get().to(pages::autosubmit))
        .route("/healthz", web::get().to(health::healthz))
        .route("/readyz", web::get().to(health::readyz))
        .route("/.well-known/jwks.json", web::get().to(pages::jwks))
        .configure(launch::routes)
        .configure(api::routes)
        .configure(admin::routes)
        .configure(messages::routes);
    match &state.sandbox {
        Some(sb) => sandbox::mount(cfg, sb.clone()),
        None => sandbox::mount_disabled(cfg),
    }
}

/// Build the actix application around `state`.
pub fn app(
    state: web::Data<AppState>,
) -> App<
    impl actix_web::dev::ServiceFactory<
        actix_web::dev::ServiceRequest,
        Config = (),
        Response = actix_web::dev::ServiceResponse<impl actix_web::body::MessageBody>,
        Error = actix_web::Error,
        InitError = (),
    >,
> {
    App::new()
        .configure(|cfg| configure(cfg, &state))
        .default_service(web::to(not_found))
        .wrap(from_fn(middleware::security_headers))
        .wrap(from_fn(middleware::request_context))
}

async fn not_found(req: HttpRequest) -> HttpResponse {
    error::render_for_path(req.path(), accepts_html(&req), &AppError::bare(ErrorCode::NotFound))
}

pub(crate) fn accepts_html(req: &HttpRequest) -> bool {
    req.headers()
        .get(actix_web::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"))
}

/// A running server: await [`Server::run`], stop it with a [`Stopper`].
pub struct Server(actix_web::dev::Server);

#[derive(Clone)]
pub struct Stopper(actix_web::dev::ServerHandle);

impl Server {
    pub fn stopper(&self) -> Stopper {
        Stopper(self.0.handle())
    }

    pub async fn run(self) -> std::io::Result<()> {
        self.0.await
    }
}

impl Stopper {
    /// Stop accepting connections and let in-flight requests finish.
    pub async fn stop(&self) {
        self.0.stop(true).await;
    }
}

/// Serve `state` on an already-bound listener (tests bind port 0).
pub fn serve(state: AppState, listener: TcpListener) -> std::io::Result<Server> {
    let workers = state.config.server.workers;
    let shutdown = state.config.server.shutdown_timeout_secs;
    let tls = match (&state.config.tls.cert_file, &state.config.tls.key_file) {
        (Some(cert), Some(key)) => Some(tls_config(cert, key)?),
        _ => None,
    };
    let state = web::Data::new(state);
    let mut server = HttpServer::new(move || app(state.clone()))
        .shutdown_timeout(shutdown)
        .client_request_timeout(Duration::from_secs(10))
        .disable_signals();
    if workers > 0 {
        server = server.workers(workers);
    }
    let server = match tls {
        Some(tls) => server.listen_rustls_0_23(listener, tls)?,
        None => server.listen(listener)?,
    };
    Ok(Server(server.run()))
}

/// rustls with the ring provider, TLS 1.3 and 1.2 only, its default (AEAD, forward-secret)
/// cipher suites, and the configured certificate chain.
fn tls_config(cert: &std::path::Path, key: &std::path::Path) -> std::io::Result<rustls::ServerConfig> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let bad = |what: &str, e: &dyn std::fmt::Display| std::io::Error::other(format!("tls {what}: {e}"));
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .map_err(|e| bad("cert_file", &e))?
        .collect::<Result<_, _>>()
        .map_err(|e| bad("cert_file", &e))?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| bad("key_file", &e))?;
    rustls::ServerConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| bad("versions", &e))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| bad("certificate", &e))
}
