//! The clinician-facing launch routes: `/launch`, `/launch/standalone`, `/callback`,
//! `/app/{launch_id}` and its logout. Pages render from smart-launch/templates.

use std::collections::HashMap;

use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use askama::Template;
use url::Url;

use super::AppState;
use super::authz::{self, Authorized, Guarded, ViewContext};
use super::error::{AppError, PageError};
use super::middleware::content_security_policy;
use crate::error::ErrorCode;
use crate::smart::session::Session;
use crate::smart::tenant::Tenant;
use crate::smart::{Authorize, Callback, LaunchError, Started};

/// The browser-binding cookie. `__Host-`, Secure, HttpOnly, SameSite=None (embedded in EHR
/// iframes), optionally Partitioned; relaxed (no Secure, no prefix, Lax) only when chartdesk
/// itself is served over plain HTTP on a loopback address.
#[derive(Clone, Debug)]
pub struct CookiePolicy {
    pub name: &'static str,
    pub secure: bool,
    pub partitioned: bool,
}

impl CookiePolicy {
    pub fn for_url(public: &Url, partitioned: bool) -> CookiePolicy {
        let loopback = matches!(public.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
        if public.scheme() == "http" && loopback {
            CookiePolicy { name: "chartdesk_browser", secure: false, partitioned: false }
        } else {
            CookiePolicy { name: "__Host-chartdesk_browser", secure: true, partitioned }
        }
    }

    fn set_cookie(&self, value: &str) -> String {
        if self.secure {
            let partitioned = if self.partitioned { "; Partitioned" } else { "" };
            format!("{}={value}; Path=/; HttpOnly; Secure; SameSite=None{partitioned}", self.name)
        } else {
            format!("{}={value}; Path=/; HttpOnly; SameSite=Lax", self.name)
        }
    }

    pub(crate) fn read(&self, req: &HttpRequest) -> Option<String> {
        req.cookie(self.name).map(|c| c.value().to_string())
    }
}

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/launch", web::get().to(launch_get))
        .route("/launch", web::post().to(launch_post))
        .route("/launch/standalone", web::get().to(standalone))
        .route("/callback", web::get().to(callback))
        .route("/app/{launch_id}", authz::get(app_page))
        .route("/app/{launch_id}/logout", web::post().to(logout));
}

fn params(raw: &[u8]) -> HashMap<String, String> {
    url::form_urlencoded::parse(raw).into_owned().collect()
}

/// CSP for a tenant's pages: the global frame ancestors plus the tenant's own.
fn csp_for(state: &AppState, tenant: &Tenant, form_action: &[String]) -> HeaderValue {
    let mut ancestors = state.config.security.frame_ancestors.clone();
    ancestors.extend(tenant.frame_ancestors.iter().cloned());
    content_security_policy(&ancestors, form_action)
}

fn html(status: u16, body: String) -> HttpResponse {
    HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap_or(actix_web::http::StatusCode::OK))
        .content_type("text/html; charset=utf-8")
        .body(body)
}

fn render(t: &impl Template) -> Result<String, PageError> {
    t.render().map_err(|_| PageError(AppError::bare(ErrorCode::Internal)))
}

#[derive(Template)]
#[template(path = "launch_post.html")]
struct PostPage<'a> {
    action: &'a str,
    fields: &'a [(String, String)],
    ehr: &'a str,
}

fn started(state: &AppState, s: Started) -> Result<HttpResponse, PageError> {
    let mut resp = match &s.authorize {
        Authorize::Redirect(url) => HttpResponse::Found().insert_header((header::LOCATION, url.as_str())).finish(),
        Authorize::Post { action, fields } => {
            let origin = action.origin().ascii_serialization();
            let body = render(&PostPage { action: action.as_str(), fields, ehr: &s.tenant.label })?;
            let mut r = html(200, body);
            r.headers_mut().insert(header::CONTENT_SECURITY_POLICY, csp_for(state, &s.tenant, &[origin]));
            r
        }
    };
    if let Some(cookie) = &s.new_binding
        && let Ok(v) = HeaderValue::from_str(&state.cookie.set_cookie(cookie))
    {
        resp.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(resp)
}

async fn launch(state: &AppState, req: &HttpRequest, p: HashMap<String, String>) -> Result<HttpResponse, PageError> {
    let toolbar = p.get("point").is_some_and(|v| v == "toolbar");
    let cookie = state.cookie.read(req);
    let s = state
        .smart
        .start_ehr(p.get("iss").map(String::as_str), p.get("launch").map(String::as_str), toolbar, cookie.as_deref())
        .await?;
    started(state, s)
}

async fn launch_get(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, PageError> {
    launch(&state, &req, params(req.query_string().as_bytes())).await
}

/// Some EHRs POST the launch (`iss`, `launch` as a form).
async fn launch_post(
    req: HttpRequest,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let mut p = params(req.query_string().as_bytes());
    p.extend(params(&body));
    launch(&state, &req, p).await
}

async fn standalone(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, PageError> {
    let p = params(req.query_string().as_bytes());
    let tenant = p.get("tenant").ok_or(LaunchError::MissingParameter("tenant"))?;
    let cookie = state.cookie.read(&req);
    let s = state.smart.start_standalone(tenant, cookie.as_deref()).await?;
    started(&state, s)
}

#[derive(Template)]
#[template(path = "relaunch.html")]
struct RelaunchPage<'a> {
    ehr: &'a str,
    error: &'a str,
    description: Option<&'a str>,
    error_uri: Option<&'a str>,
}

async fn callback(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, PageError> {
    let p = params(req.query_string().as_bytes());
    let cookie = state.cookie.read(&req);
    match state.smart.callback(&p, cookie.as_deref()).await? {
        Callback::Done { launch_id, .. } => {
            Ok(HttpResponse::SeeOther().insert_header((header::LOCATION, format!("/app/{launch_id}"))).finish())
        }
        Callback::EhrError { error, description, error_uri, tenant } => {
            let page = RelaunchPage {
                ehr: &tenant.label,
                error: &error,
                description: description.as_deref(),
                error_uri: error_uri.as_deref(),
            };
            let mut r = html(ErrorCode::LaunchEhrError.status(), render(&page)?);
            r.headers_mut().insert(header::CONTENT_SECURITY_POLICY, csp_for(&state, &tenant, &[]));
            Ok(r)
        }
    }
}

/// A launch id as we mint them (43 base64url characters); anything else is not a session.
pub(crate) fn plausible_launch_id(id: &str) -> bool {
    id.len() == 43 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

async fn session(state: &AppState, req: &HttpRequest, launch_id: &str) -> Result<Session, PageError> {
    if !plausible_launch_id(launch_id) {
        return Err(PageError(AppError::bare(ErrorCode::NotFound)));
    }
    let binding = state.cookie.read(req).map(|c| crate::smart::session_binding(&c)).unwrap_or_default();
    Ok(state.smart.session(launch_id, &binding).await?)
}

#[derive(Template)]
#[template(path = "app.html")]
struct AppPage<'a> {
    launch_id: &'a str,
    ehr: &'a str,
    user_name: String,
    ctx: &'a crate::context::view::ContextView,
    show_banner: bool,
    toolbar: bool,
}

/// The clinician's first screen: the same context `GET /api/context` returns.
async fn app_page(auth: Authorized<ViewContext>, state: web::Data<AppState>) -> Result<Guarded, PageError> {
    let s = &auth.session;
    let tenant = state.smart.tenants.by_id(&s.tenant).ok_or(LaunchError::SessionEnded)?;
    let ctx = super::api::context_view(&state, &auth);
    let user_name = ctx.user.name.clone().unwrap_or_else(|| {
        if s.user.verified { "Signed in (name not available)".into() } else { "Unknown user".into() }
    });
    let page = AppPage {
        launch_id: &s.launch_id,
        ehr: &tenant.label,
        user_name,
        ctx: &ctx,
        show_banner: s.context.need_patient_banner && s.context.patient.is_some(),
        toolbar: s.context.patient.is_none(),
    };
    let mut r = html(200, render(&page)?);
    r.headers_mut().insert(header::CONTENT_SECURITY_POLICY, csp_for(&state, tenant, &[]));
    Ok(auth.respond(r))
}

#[derive(Template)]
#[template(path = "signed_out.html")]
struct SignedOut;

async fn logout(
    req: HttpRequest,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let launch_id = path.into_inner();
    if let Ok(s) = session(&state, &req, &launch_id).await {
        state.smart.logout(&s).await?;
        tracing::info!(tenant = %s.tenant, "signed out");
    }
    Ok(html(200, render(&SignedOut)?))
}
