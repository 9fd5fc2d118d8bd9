//! Authorization in the handler's type.
//!
//! A route that serves a launch's data is registered with [`get`] or [`post`], which accept
//! only handlers returning [`Guarded`]; a `Guarded` can only be made by
//! [`Authorized::respond`], and an [`Authorized<P>`] only by its extractor, which loads the
//! launch's session, maps the user's roles and asks the policy whether this user may open
//! page `P` before the handler body runs. So a handler that skips the check does not compile:
//!
//! ```compile_fail,E0271
//! use actix_web::HttpResponse;
//! async fn unguarded() -> Result<HttpResponse, actix_web::Error> {
//!     Ok(HttpResponse::Ok().finish())
//! }
//! let _ = chartdesk::web::authz::get(unguarded);
//! ```
//!
//! and neither does forging the proof (error codes are checked on nightly only; on stable the
//! positive twin below shows the setup itself compiles):
//!
//! ```compile_fail,E0603
//! use actix_web::HttpResponse;
//! async fn forged() -> Result<chartdesk::web::authz::Guarded, actix_web::Error> {
//!     Ok(chartdesk::web::authz::Guarded(HttpResponse::Ok().finish()))
//! }
//! let _ = chartdesk::web::authz::get(forged);
//! ```
//!
//! while a guarded handler does:
//!
//! ```
//! use actix_web::HttpResponse;
//! use chartdesk::web::authz::{Authorized, Guarded, ViewContext};
//! async fn guarded(auth: Authorized<ViewContext>) -> Result<Guarded, actix_web::Error> {
//!     Ok(auth.respond(HttpResponse::Ok().finish()))
//! }
//! let _ = chartdesk::web::authz::get(guarded);
//! ```

use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::sync::Arc;

use actix_web::body::BoxBody;
use actix_web::dev::Payload;
use actix_web::http::StatusCode;
use actix_web::{FromRequest, Handler, HttpRequest, HttpResponse, Responder, ResponseError, Route, web};

use super::AppState;
use super::error::AppError;
use crate::audit::{Agent, AuditRecord, EntityRole, EventKind, Outcome};
use crate::error::ErrorCode;
use crate::policy::{Compiled, Decision, Env, PURPOSES, Page, Subject};
use crate::smart::session::Session;

/// A page or API family behind a policy check.
pub trait Permission: 'static {
    const PAGE: Page;
}

/// The clinician's page and `/api/context`: every signed-in user (base policy).
pub struct ViewContext;
/// `/api/audit`.
pub struct ViewAudit;
/// `/admin/policy` and its API.
pub struct AdminPolicy;
/// The handoff inboxes.
pub struct ViewInbox;

impl Permission for ViewContext {
    const PAGE: Page = Page::Context;
}
impl Permission for ViewAudit {
    const PAGE: Page = Page::Audit;
}
impl Permission for AdminPolicy {
    const PAGE: Page = Page::AdminPolicy;
}
impl Permission for ViewInbox {
    const PAGE: Page = Page::Inbox;
}

/// Proof that the policy allowed this request to page `P`, with what the decision used.
pub struct Authorized<P: Permission> {
    pub session: Session,
    pub subject: Subject,
    pub env: Env,
    pub decision: Decision,
    /// The policy version that decided (the same one answers the whole request).
    pub policy: Arc<Compiled>,
    pub agent: Agent,
    _page: PhantomData<P>,
}

/// A response made under an authorization check.
pub struct Guarded(HttpResponse);

impl<P: Permission> Authorized<P> {
    pub fn respond(&self, response: HttpResponse) -> Guarded {
        Guarded(response)
    }
}

impl Responder for Guarded {
    type Body = BoxBody;

    fn respond_to(self, _req: &HttpRequest) -> HttpResponse {
        self.0
    }
}

/// Register a guarded GET route.
pub fn get<F, Args, E>(handler: F) -> Route
where
    F: Handler<Args, Output = Result<Guarded, E>>,
    Args: FromRequest + 'static,
    E: Into<actix_web::Error> + 'static,
{
    web::get().to(handler)
}

/// Register a guarded POST route.
pub fn post<F, Args, E>(handler: F) -> Route
where
    F: Handler<Args, Output = Result<Guarded, E>>,
    Args: FromRequest + 'static,
    E: Into<actix_web::Error> + 'static,
{
    web::post().to(handler)
}

/// An authorization failure, rendered for the route's surface (JSON for `/api`, a page for
/// the browser).
#[derive(Debug)]
pub struct Refused {
    error: AppError,
    html: bool,
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(&self.error, f)
    }
}

impl ResponseError for Refused {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(self.error.code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        if self.html { super::error::render_page(&self.error) } else { super::error::render_json(&self.error) }
    }
}

/// The launch a request names: the `{launch_id}` path segment, the `X-Chartdesk-Launch`
/// header, or (for GETs only) the `launch` query parameter. A state-changing API call must
/// use the header: a cross-site form cannot set it.
fn launch_of(req: &HttpRequest) -> Option<String> {
    let header = req.headers().get(super::api::LAUNCH_HEADER).and_then(|v| v.to_str().ok()).map(String::from);
    if req.method() != actix_web::http::Method::GET && req.path().starts_with("/api/") {
        return header;
    }
    req.match_info()
        .get("launch_id")
        .map(String::from)
        .or_else(|| req.headers().get(super::api::LAUNCH_HEADER).and_then(|v| v.to_str().ok()).map(String::from))
        .or_else(|| {
            url::form_urlencoded::parse(req.query_string().as_bytes())
                .find(|(k, _)| k == "launch")
                .map(|(_, v)| v.into_owned())
        })
}

fn purpose_of(req: &HttpRequest) -> Result<String, AppError> {
    let p = url::form_urlencoded::parse(req.query_string().as_bytes())
        .find(|(k, _)| k == "purpose")
        .map(|(_, v)| v.into_owned());
    match p {
        None => Ok("it-support".into()),
        Some(p) if PURPOSES.contains(&p.as_str()) => Ok(p),
        Some(_) => Err(AppError::new(
            ErrorCode::InvalidParameter,
            format!("`purpose` must be one of: {}", PURPOSES.join(", ")),
        )),
    }
}

/// The policy subject and environment of a session.
pub(crate) fn subject_env(s: &Session, purpose: &str) -> (Subject, Env) {
    let chart = s.chart.clone().unwrap_or_default();
    let department = crate::context::view::department(&s.place(), &chart).map(|d| d.name).unwrap_or_default();
    let subject = Subject {
        user_key: crate::smart::session_user_key(s)
            .unwrap_or_else(|| format!("launch:{}", &s.launch_id[..8.min(s.launch_id.len())])),
        roles: chart.mapped_roles.clone(),
        department,
        tenant: s.tenant.clone(),
    };
    let env = Env {
        purpose: purpose.to_string(),
        launch_type: s.kind.to_ascii_lowercase(),
        patient_in_context: s.context.patient.is_some(),
        hour: chrono::Timelike::hour(&chrono::Utc::now()) as i64,
    };
    (subject, env)
}

async fn authorize<P: Permission>(req: &HttpRequest) -> Result<Authorized<P>, AppError> {
    let state = req.app_data::<web::Data<AppState>>().ok_or_else(|| AppError::bare(ErrorCode::Internal))?;
    let launch = launch_of(req).ok_or_else(|| {
        AppError::new(ErrorCode::Unauthenticated, "open chartdesk from your EHR; this page belongs to a launch")
    })?;
    if !super::launch::plausible_launch_id(&launch) {
        return Err(AppError::new(
            ErrorCode::SessionExpired,
            "this launch is unknown or has ended; open chartdesk again from your EHR",
        ));
    }
    let purpose = purpose_of(req)?;
    let binding = state.cookie.read(req).map(|c| crate::smart::session_binding(&c)).unwrap_or_default();
    let session = state.smart.session(&launch, &binding).await?;
    let session = state.smart.chart(session).await?;
    state.policy_admin.maybe_sync().await;
    let policy = state.smart.policy.active();
    let (subject, env) = subject_env(&session, &purpose);
    let decision = policy.decide_page(&subject, P::PAGE, &env);
    let agent = state.smart.agent(&session);
    if !decision.allowed {
        let mut rules = decision.rules.clone();
        rules.extend(decision.errors.iter().map(|e| format!("error: {e}")));
        let refusal = AuditRecord::new(EventKind::Refusal, Outcome::MinorFailure)
            .agent(agent)
            .entity(EntityRole::Resource, format!("page:{}", P::PAGE.as_str()))
            .decision(false, rules)
            .reason("page_denied");
        state.smart.audit.record(refusal).await?;
        return Err(AppError::new(
            ErrorCode::Forbidden,
            format!("your role does not include access to this page ({})", P::PAGE.as_str()),
        ));
    }
    Ok(Authorized { session, subject, env, decision, policy, agent, _page: PhantomData })
}

impl<P: Permission> FromRequest for Authorized<P> {
    type Error = Refused;
    type Future = Pin<Box<dyn Future<Output = Result<Self, Refused>>>>;

    fn from_request(req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let html = !req.path().starts_with("/api/") && super::accepts_html(&req);
            authorize::<P>(&req).await.map_err(|error| Refused { error, html })
        })
    }
}
