//! The one place the sandbox EHR meets HTTP: it mounts the sandbox's routes at startup and
//! adapts actix requests to [`crate::sandbox::Request`] values and back.

use std::sync::Arc;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderMap};
use actix_web::{HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use serde::Deserialize;

use super::AppState;
use super::error::{ApiError, AppError, FhirError, PageError};
use crate::error::ErrorCode;
use crate::sandbox::{Body, Request, Response, Sandbox, Tenant};

pub fn mount(cfg: &mut web::ServiceConfig, sb: Arc<Sandbox>) {
    cfg.app_data(web::Data::from(sb.clone()))
        .route("/sandbox", web::get().to(launch_page))
        .route("/sandbox/ehr-launch", web::get().to(ehr_launch))
        .route("/sandbox/journal", web::get().to(journal))
        .route("/sandbox/smart-style.json", web::get().to(style))
        .route("/sandbox/help/oauth-errors", web::get().to(help));
    for tenant in sb.tenants() {
        let t = web::Data::new(tenant.clone());
        cfg.service(
            web::scope(&tenant.fhir_path)
                .app_data(t.clone())
                .route("", web::route().to(fhir))
                .route("/{tail:.*}", web::route().to(fhir)),
        );
        cfg.service(web::scope(&tenant.auth_path).app_data(t).route("/{tail:.*}", web::route().to(auth)));
    }
}

/// With the sandbox off, its pages say so instead of a bare 404.
pub fn mount_disabled(cfg: &mut web::ServiceConfig) {
    cfg.route("/sandbox", web::get().to(disabled)).route("/sandbox/{tail:.*}", web::route().to(disabled));
}

async fn disabled() -> Result<HttpResponse, PageError> {
    Err(PageError(AppError::new(
        ErrorCode::SandboxDisabled,
        "Set sandbox.enabled = true to use the sandbox EHR (never in production).",
    )))
}

fn header(h: &HeaderMap, name: header::HeaderName) -> Option<&str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// Read the body up to the configured limit, answering 413 in the right format past it.
async fn read_body(mut payload: web::Payload, limit: usize) -> Result<web::BytesMut, AppError> {
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk.map_err(|_| AppError::new(ErrorCode::BadRequest, "the request body could not be read"))?;
        if body.len() + chunk.len() > limit {
            return Err(AppError::bare(ErrorCode::PayloadTooLarge));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

fn to_http(r: Response) -> HttpResponse {
    let mut b = HttpResponse::build(StatusCode::from_u16(r.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR));
    for (name, value) in &r.headers {
        b.insert_header((*name, value.as_str()));
    }
    match r.body {
        Body::Empty => b.finish(),
        Body::Json(v) => b.content_type("application/json").body(v.to_string()),
        Body::Fhir(v) => b.content_type("application/fhir+json; fhirVersion=4.0").body(v.to_string()),
        Body::Html(h) => b.content_type("text/html; charset=utf-8").body(h),
    }
}

fn relative<'a>(req: &'a HttpRequest, base: &str) -> &'a str {
    req.path().strip_prefix(base).unwrap_or("")
}

async fn fhir(
    req: HttpRequest,
    payload: web::Payload,
    sb: web::Data<Sandbox>,
    tenant: web::Data<Arc<Tenant>>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, FhirError> {
    let body = read_body(payload, state.config.server.max_body_bytes).await?;
    let h = req.headers();
    let r = Request {
        method: req.method().as_str(),
        path: relative(&req, &tenant.fhir_path),
        query: req.query_string(),
        authorization: header(h, header::AUTHORIZATION),
        accept: header(h, header::ACCEPT),
        content_type: header(h, header::CONTENT_TYPE),
        body: &body,
    };
    Ok(to_http(sb.fhir(&tenant, &r).await))
}

async fn auth(
    req: HttpRequest,
    payload: web::Payload,
    sb: web::Data<Sandbox>,
    tenant: web::Data<Arc<Tenant>>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let body = read_body(payload, state.config.server.max_body_bytes).await?;
    let h = req.headers();
    let r = Request {
        method: req.method().as_str(),
        path: relative(&req, &tenant.auth_path),
        query: req.query_string(),
        authorization: header(h, header::AUTHORIZATION),
        accept: header(h, header::ACCEPT),
        content_type: header(h, header::CONTENT_TYPE),
        body: &body,
    };
    Ok(to_http(sb.auth(&tenant, &r).await))
}

async fn launch_page(sb: web::Data<Sandbox>) -> HttpResponse {
    to_http(sb.launch_page())
}

async fn ehr_launch(req: HttpRequest, sb: web::Data<Sandbox>) -> HttpResponse {
    to_http(sb.ehr_launch(req.query_string()).await)
}

async fn style(sb: web::Data<Sandbox>) -> HttpResponse {
    to_http(sb.style())
}

async fn help(sb: web::Data<Sandbox>) -> HttpResponse {
    to_http(sb.oauth_error_help())
}

#[derive(Deserialize)]
struct JournalQuery {
    #[serde(default)]
    since: i64,
    limit: Option<u32>,
    include: Option<String>,
}

async fn journal(q: web::Query<JournalQuery>, sb: web::Data<Sandbox>) -> Result<HttpResponse, ApiError> {
    let limit = q.limit.unwrap_or(1000).clamp(1, 10_000);
    let auth = q.include.as_deref() == Some("auth");
    Ok(HttpResponse::Ok().json(sb.journal(q.since, limit, auth).await?))
}
