//! JSON APIs of a launch. The launch is named by the `X-Chartdesk-Launch` header (or the
//! `launch` query parameter) and must belong to this browser's cookie.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use super::AppState;
use super::error::{ApiError, AppError};
use crate::audit::{AuditRecord, EntityRole, EventKind, ExportFormat, Outcome};
use crate::error::ErrorCode;
use crate::smart::session::Session;

pub const LAUNCH_HEADER: &str = "x-chartdesk-launch";

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/audit", web::get().to(audit_export));
}

/// The session of the launch named by the request, with its chart context (and roles).
async fn launch_session(state: &AppState, req: &HttpRequest, query_launch: Option<&str>) -> Result<Session, ApiError> {
    let launch = req.headers().get(LAUNCH_HEADER).and_then(|v| v.to_str().ok()).or(query_launch).ok_or_else(|| {
        AppError::new(ErrorCode::Unauthenticated, "open chartdesk from your EHR; this API needs the launch id")
    })?;
    let binding = state.cookie.read(req).map(|c| crate::smart::session_binding(&c)).unwrap_or_default();
    let s = state.smart.session(launch, &binding).await?;
    Ok(state.smart.chart(s).await?)
}

#[derive(Deserialize)]
struct AuditQuery {
    since: Option<String>,
    until: Option<String>,
    format: Option<ExportFormat>,
    launch: Option<String>,
}

/// `GET /api/audit`: AuditEvents for compliance and clinical informatics only.
async fn audit_export(
    req: HttpRequest,
    q: web::Query<AuditQuery>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, ApiError> {
    let s = launch_session(&state, &req, q.launch.as_deref()).await?;
    let agent = state.smart.agent(&s);
    let allowed = agent.roles.iter().any(|r| r == "compliance" || r == "clinical-informatics");
    if !allowed {
        let refusal = AuditRecord::new(EventKind::Refusal, Outcome::MinorFailure)
            .agent(agent)
            .entity(EntityRole::AuditLog, "audit-log")
            .reason("audit_access_denied");
        state.smart.audit.record(refusal).await?;
        return Err(AppError::new(
            ErrorCode::Forbidden,
            "the audit trail is open to compliance and clinical informatics only",
        )
        .into());
    }
    let now = chrono::Utc::now().timestamp_millis();
    let parse = |v: &Option<String>, default: i64| match v {
        Some(t) => crate::cli::parse_time(t).map_err(|m| ApiError(AppError::new(ErrorCode::InvalidParameter, m))),
        None => Ok(default),
    };
    let since = parse(&q.since, now - 24 * 3600 * 1000)?;
    let until = parse(&q.until, now + 1)?;
    let events = state.smart.audit.export(since, until, &state.config.audit.origin, Some(agent)).await?;
    Ok(match q.format.unwrap_or(ExportFormat::Fhir) {
        ExportFormat::Fhir => HttpResponse::Ok().content_type("application/fhir+json; fhirVersion=4.0").body(
            serde_json::json!({
                "resourceType": "Bundle",
                "type": "collection",
                "total": events.len(),
                "entry": events.into_iter().map(|e| serde_json::json!({ "resource": e })).collect::<Vec<_>>()
            })
            .to_string(),
        ),
        ExportFormat::Ndjson => HttpResponse::Ok()
            .content_type("application/fhir+ndjson")
            .body(events.iter().map(|e| format!("{e}\n")).collect::<String>()),
    })
}
