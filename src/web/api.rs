//! JSON APIs of a launch. The launch is named by the `X-Chartdesk-Launch` header (or the
//! `launch` query parameter) and must belong to this browser's cookie. Every route here is
//! registered through [`super::authz`], so its handler cannot run without a policy decision.

use actix_web::{HttpResponse, web};
use serde::{Deserialize, Serialize};
use utoipa::{OpenApi, ToSchema};

use super::AppState;
use super::authz::{self, Authorized, Guarded, ViewAudit, ViewContext};
use super::error::{ApiError, AppError};
use crate::audit::{AuditRecord, EntityRole, EventKind, ExportFormat, Outcome};
use crate::context::view::{self, ContextView, PatientInfo};
use crate::error::ErrorCode;

pub const LAUNCH_HEADER: &str = "x-chartdesk-launch";

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/openapi.json", web::get().to(openapi))
        .route("/api/context", authz::get(context))
        .route("/api/patients/{id}", authz::get(patient))
        .route("/api/audit", authz::get(audit_export));
}

/// The error envelope of every JSON API.
#[derive(Serialize, ToSchema)]
pub struct ErrorEnvelope {
    pub error: ErrorBody,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    /// A stable code from README § Errors, e.g. `patient_outside_context`.
    pub code: String,
    pub message: String,
    pub detail: Option<String>,
    pub request_id: Option<String>,
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "chartdesk API",
        description = "Read-only login and chart context of a SMART launch. Every call names its launch with the X-Chartdesk-Launch header (or `launch` query parameter) and carries the browser's chartdesk cookie."
    ),
    paths(context, patient, super::messages::submit, super::messages::message),
    components(schemas(ContextView, PatientInfo, ErrorEnvelope, ErrorBody))
)]
struct ApiDoc;

/// `GET /api/openapi.json`.
async fn openapi() -> HttpResponse {
    HttpResponse::Ok().content_type("application/json").body(ApiDoc::openapi().to_pretty_json().unwrap_or_default())
}

/// The context of the current launch as `auth`'s user may see it for its purpose.
pub(crate) fn context_view<P: authz::Permission>(state: &AppState, auth: &Authorized<P>) -> ContextView {
    let allowed = auth.policy.allowed_groups(&auth.subject, &auth.env);
    let chart = auth.session.chart.clone().unwrap_or_default();
    view::build(
        &state.smart.launch_facts(&auth.session),
        &chart,
        &auth.subject.roles,
        &allowed,
        &auth.env.purpose,
        auth.policy.version,
    )
}

/// Login and chart context of the current launch.
///
/// Each field is present only if the policy allows it for this user and purpose (and the
/// EHR's granted scopes covered it). Costs no EHR request after the launch's first.
#[utoipa::path(
    get,
    path = "/api/context",
    params(
        ("X-Chartdesk-Launch" = String, Header, description = "The launch id (from the app page URL)"),
        ("purpose" = Option<String>, Query, description = "`it-support` (default) or `clinical-handoff`")
    ),
    responses(
        (status = 200, description = "The context", body = ContextView),
        (status = 400, description = "Unknown purpose", body = ErrorEnvelope),
        (status = 401, description = "No launch, or the session has ended", body = ErrorEnvelope),
        (status = 403, description = "The policy does not allow this page", body = ErrorEnvelope)
    ),
    tag = "context"
)]
async fn context(auth: Authorized<ViewContext>, state: web::Data<AppState>) -> Result<Guarded, ApiError> {
    let v = context_view(&state, &auth);
    Ok(auth.respond(HttpResponse::Ok().json(v)))
}

/// The patient in context, by id. Any other patient id is refused (403) and recorded.
#[utoipa::path(
    get,
    path = "/api/patients/{id}",
    params(
        ("id" = String, Path, description = "A Patient id: only the launch's patient is allowed"),
        ("X-Chartdesk-Launch" = String, Header, description = "The launch id")
    ),
    responses(
        (status = 200, description = "The patient's allowed details", body = PatientInfo),
        (status = 403, description = "Not the patient in context", body = ErrorEnvelope)
    ),
    tag = "context"
)]
async fn patient(
    auth: Authorized<ViewContext>,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<Guarded, ApiError> {
    let id = path.into_inner();
    if auth.session.context.patient.as_deref() != Some(id.as_str()) {
        let what =
            if crate::fhir::client::valid_id(&id) { format!("Patient/{id}") } else { "Patient/(not a FHIR id)".into() };
        let refusal = AuditRecord::new(EventKind::Refusal, Outcome::MinorFailure)
            .agent(auth.agent.clone())
            .entity(EntityRole::Patient, what)
            .decision(false, vec!["context:patient-outside-launch".into()])
            .reason("patient_outside_context");
        state.smart.audit.record(refusal).await?;
        return Err(AppError::new(
            ErrorCode::PatientOutsideContext,
            "chartdesk only shows the patient whose chart is open in the EHR for this launch",
        )
        .into());
    }
    let v = context_view(&state, &auth);
    match v.patient {
        Some(p) => Ok(auth.respond(HttpResponse::Ok().json(p))),
        None => Err(AppError::new(ErrorCode::Forbidden, "your role may not see this patient's details").into()),
    }
}

#[derive(Deserialize)]
struct AuditQuery {
    since: Option<String>,
    until: Option<String>,
    format: Option<ExportFormat>,
}

/// `GET /api/audit`: AuditEvents for compliance and clinical informatics (by policy).
async fn audit_export(
    auth: Authorized<ViewAudit>,
    q: web::Query<AuditQuery>,
    state: web::Data<AppState>,
) -> Result<Guarded, ApiError> {
    let now = chrono::Utc::now().timestamp_millis();
    let parse = |v: &Option<String>, default: i64| match v {
        Some(t) => crate::cli::parse_time(t).map_err(|m| ApiError(AppError::new(ErrorCode::InvalidParameter, m))),
        None => Ok(default),
    };
    let since = parse(&q.since, now - 24 * 3600 * 1000)?;
    let until = parse(&q.until, now + 1)?;
    let events = state.smart.audit.export(since, until, &state.config.audit.origin, Some(auth.agent.clone())).await?;
    Ok(auth.respond(match q.format.unwrap_or(ExportFormat::Fhir) {
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
    }))
}
