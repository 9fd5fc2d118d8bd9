//! `/admin/policy` (HTML) and `/api/admin/policy/…` (JSON): policy administration for
//! clinical informatics. Every route requires [`AdminPolicy`], which the policy itself grants
//! (by default to clinical-informatics only). State-changing calls are POSTs that must name
//! the launch in the `X-Chartdesk-Launch` header (a cross-site form cannot set it).

use actix_web::{HttpResponse, web};
use askama::Template;
use serde::Deserialize;
use serde_json::json;

use super::AppState;
use super::authz::{self, AdminPolicy, Authorized, Guarded};
use super::error::{ApiError, AppError, PageError};
use crate::context::view;
use crate::error::ErrorCode;
use crate::policy::admin::{AdminError, parse_document};
use crate::policy::{Env, Group, PURPOSES, ROLES, Subject, compile};

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/admin/policy", authz::get(page))
        .route("/static/admin.js", web::get().to(script))
        .route("/api/admin/policy", authz::get(overview))
        .route("/api/admin/policy/drafts", authz::post(create_draft))
        .route("/api/admin/policy/drafts/{id}", authz::get(draft))
        .route("/api/admin/policy/drafts/{id}/preview", authz::post(preview))
        .route("/api/admin/policy/drafts/{id}/approve", authz::post(approve))
        .route("/api/admin/policy/drafts/{id}/activate", authz::post(activate))
        .route("/api/admin/policy/versions/{version}", authz::get(version))
        .route("/api/admin/policy/versions/{version}/rollback", authz::post(rollback))
        .route("/api/admin/desk/dead-letters", authz::get(dead_letters))
        .route("/api/admin/desk/dead-letters/{id}/retry", authz::post(retry_dead_letter));
}

/// Tickets the desk relay gave up on: ids, categories, attempts and error codes (never content).
async fn dead_letters(auth: Authorized<AdminPolicy>, state: web::Data<AppState>) -> Result<Guarded, ApiError> {
    let rows = state.desk.dead_letters(200).await?;
    let items: Vec<_> = rows
        .iter()
        .map(|t| {
            json!({
                "id": t.id, "messageId": t.message_id, "category": t.category, "attempts": t.attempts,
                "lastError": t.last_error, "createdMs": t.created_ms, "updatedMs": t.updated_ms,
            })
        })
        .collect();
    Ok(auth.respond(HttpResponse::Ok().json(json!({ "deadLetters": items }))))
}

/// Put a dead-lettered ticket back in the outbox (audited).
async fn retry_dead_letter(
    auth: Authorized<AdminPolicy>,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<Guarded, ApiError> {
    state.desk.retry(&path.into_inner(), auth.agent.clone()).await?;
    Ok(auth.respond(HttpResponse::Accepted().json(json!({ "status": "pending" }))))
}

async fn script() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header(("cache-control", "no-cache"))
        .body(include_str!("../../smart-launch/static/admin.js"))
}

/// Who did it, for the version record: the fhirUser reference, else the opaque user key.
fn actor(auth: &Authorized<AdminPolicy>) -> String {
    auth.agent.who.clone().or(auth.agent.user_key.clone()).unwrap_or_else(|| "unknown".into())
}

fn body_json(body: &[u8]) -> Result<serde_json::Value, ApiError> {
    serde_json::from_slice(body)
        .map_err(|e| ApiError(AppError::new(ErrorCode::InvalidJson, format!("the body is not valid JSON: {e}"))))
}

async fn overview(auth: Authorized<AdminPolicy>, state: web::Data<AppState>) -> Result<Guarded, ApiError> {
    let admin = &state.policy_admin;
    let active = auth.policy.clone();
    let body = json!({
        "active": { "version": active.version, "document": active.document },
        "versions": admin.versions().await?,
        "drafts": admin.drafts().await?,
        "roles": ROLES,
        "purposes": PURPOSES,
        "groups": Group::ALL.iter().map(|g| json!({ "group": g.as_str(), "elements": g.elements().iter().map(|(t, e)| json!({ "resourceType": t.as_str(), "elements": e })).collect::<Vec<_>>() })).collect::<Vec<_>>(),
        "tenants": state.smart.tenants.all().iter().map(|t| t.id.clone()).collect::<Vec<_>>(),
    });
    Ok(auth.respond(HttpResponse::Ok().json(body)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DraftBody {
    document: serde_json::Value,
}

async fn create_draft(
    auth: Authorized<AdminPolicy>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<Guarded, ApiError> {
    let v = body_json(&body)?;
    let b: DraftBody = serde_json::from_value(v).map_err(|e| AdminError::Json(e.to_string()))?;
    let doc = parse_document(&b.document)?;
    let draft = state.policy_admin.create_draft(&auth.agent, &actor(&auth), doc).await?;
    Ok(auth.respond(HttpResponse::Created().json(draft)))
}

async fn draft(
    auth: Authorized<AdminPolicy>,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<Guarded, ApiError> {
    let d = state.policy_admin.draft(&path.into_inner()).await?;
    Ok(auth.respond(HttpResponse::Ok().json(d)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PreviewBody {
    role: String,
    #[serde(default)]
    department: Option<String>,
    #[serde(default)]
    purpose: Option<String>,
}

/// "What would a nurse on 4 West see for the patient in context" under a draft. Values of
/// groups the previewing user may not see themselves are withheld (the preview is not a way
/// around the active policy); their names are listed.
async fn preview(
    auth: Authorized<AdminPolicy>,
    path: web::Path<String>,
    body: web::Bytes,
    state: web::Data<AppState>,
) -> Result<Guarded, ApiError> {
    let b: PreviewBody = serde_json::from_value(body_json(&body)?).map_err(|e| AdminError::Json(e.to_string()))?;
    if !ROLES.contains(&b.role.as_str()) {
        return Err(AdminError::Invalid(crate::policy::PolicyError::UnknownRole(b.role)).into());
    }
    let purpose = b.purpose.unwrap_or_else(|| "it-support".into());
    if !PURPOSES.contains(&purpose.as_str()) {
        return Err(AdminError::Invalid(crate::policy::PolicyError::UnknownPurpose(purpose)).into());
    }
    let d = state.policy_admin.draft(&path.into_inner()).await?;
    let compiled = compile(d.base_version, d.document.clone()).map_err(AdminError::from)?;
    let subject = Subject {
        user_key: "preview".into(),
        roles: vec![b.role.clone()],
        department: b.department.clone().unwrap_or_default(),
        tenant: auth.session.tenant.clone(),
    };
    let env = Env { purpose: purpose.clone(), ..auth.env.clone() };
    let would = compiled.allowed_groups(&subject, &env);
    let mine = auth.policy.allowed_groups(&auth.subject, &env);
    let chart = auth.session.chart.clone().unwrap_or_default();
    let shown: std::collections::BTreeMap<_, _> =
        would.iter().filter(|(g, _)| mine.contains_key(*g)).map(|(g, d)| (*g, d.clone())).collect();
    let withheld: Vec<&str> = would.keys().filter(|g| !mine.contains_key(*g)).map(|g| g.as_str()).collect();
    let not_fetched: Vec<&str> = would.keys().filter(|g| !chart.groups.contains(g)).map(|g| g.as_str()).collect();
    let mut v = view::build(
        &state.smart.launch_facts(&auth.session),
        &chart,
        &subject.roles,
        &shown,
        &purpose,
        compiled.version,
    );
    v.user = view::UserInfo { roles: subject.roles.clone(), ..v.user };
    Ok(auth.respond(HttpResponse::Ok().json(json!({
        "draft": d.id,
        "subject": { "role": b.role, "department": b.department, "purpose": purpose },
        "patientInContext": auth.session.context.patient.is_some(),
        "groups": would.iter().map(|(g, d)| json!({ "group": g.as_str(), "rules": d.rules })).collect::<Vec<_>>(),
        "withheldFromYou": withheld,
        "notFetchedUnderActivePolicy": not_fetched,
        "context": { "patient": v.patient, "encounter": v.encounter, "lastLogin": v.last_login },
    }))))
}

async fn approve(
    auth: Authorized<AdminPolicy>,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<Guarded, ApiError> {
    let d = state.policy_admin.approve(&auth.agent, &actor(&auth), &path.into_inner()).await?;
    Ok(auth.respond(HttpResponse::Ok().json(d)))
}

async fn activate(
    auth: Authorized<AdminPolicy>,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<Guarded, ApiError> {
    let v = state.policy_admin.activate(&auth.agent, &actor(&auth), &path.into_inner()).await?;
    Ok(auth.respond(HttpResponse::Ok().json(v)))
}

fn version_number(raw: &str) -> Result<i64, ApiError> {
    raw.parse::<i64>().ok().filter(|v| *v >= 0).ok_or_else(|| {
        ApiError(AppError::new(ErrorCode::InvalidParameter, "a policy version is a number (0 is the built-in default)"))
    })
}

async fn version(
    auth: Authorized<AdminPolicy>,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<Guarded, ApiError> {
    let n = version_number(&path.into_inner())?;
    let doc = state.policy_admin.version_document(n).await?;
    Ok(auth.respond(HttpResponse::Ok().json(json!({ "version": n, "document": doc }))))
}

async fn rollback(
    auth: Authorized<AdminPolicy>,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<Guarded, ApiError> {
    let n = version_number(&path.into_inner())?;
    let (draft, activated) = state.policy_admin.rollback(&auth.agent, &actor(&auth), n).await?;
    let status = if activated.is_some() { 200 } else { 202 };
    let body = json!({ "draft": draft, "activated": activated });
    let resp =
        HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap_or(actix_web::http::StatusCode::OK))
            .json(body);
    Ok(auth.respond(resp))
}

#[derive(Template)]
#[template(path = "admin_policy.html")]
struct AdminPage<'a> {
    launch_id: &'a str,
    version: i64,
    document: &'a crate::policy::PolicyDocument,
    document_json: String,
    versions: Vec<crate::policy::admin::VersionView>,
    drafts: Vec<crate::policy::admin::DraftView>,
    roles: &'a [&'a str],
    dead_letters: Vec<DeadLetterView>,
    desk_configured: bool,
}

/// A dead-lettered ticket as the admin page lists it: ids, category, attempts, the error code
/// and what it means. Never the ticket's content.
struct DeadLetterView {
    id: String,
    message_id: String,
    category: String,
    attempts: i64,
    error: String,
    meaning: &'static str,
    since: String,
}

fn error_meaning(code: &str) -> &'static str {
    match code {
        "sink-refused" => "the desk rejected the ticket (check the desk's required fields or business rules)",
        "sink-unavailable" => "the desk could not be reached or refused the credentials",
        "sink-ambiguous" => "the desk kept failing after receiving the ticket (timeouts or server errors)",
        "ticket-unreadable" => "the stored ticket could not be opened (key or data problem; contact support)",
        _ => "see the audit trail for this ticket",
    }
}

async fn page(auth: Authorized<AdminPolicy>, state: web::Data<AppState>) -> Result<Guarded, PageError> {
    let admin = &state.policy_admin;
    let active = auth.policy.clone();
    let page = AdminPage {
        launch_id: &auth.session.launch_id,
        version: active.version,
        document: &active.document,
        document_json: serde_json::to_string_pretty(&active.document).unwrap_or_default(),
        versions: admin.versions().await.map_err(AppError::from)?,
        drafts: admin.drafts().await.map_err(AppError::from)?,
        roles: ROLES,
        dead_letters: state
            .desk
            .dead_letters(200)
            .await
            .map_err(AppError::from)?
            .into_iter()
            .map(|t| {
                let error = t.last_error.unwrap_or_else(|| "unknown".into());
                DeadLetterView {
                    meaning: error_meaning(&error),
                    error,
                    id: t.id,
                    message_id: t.message_id,
                    category: t.category,
                    attempts: t.attempts,
                    since: chrono::DateTime::from_timestamp_millis(t.updated_ms)
                        .map(|d| d.format("%Y-%m-%d %H:%M UTC").to_string())
                        .unwrap_or_default(),
                }
            })
            .collect(),
        desk_configured: state.desk.has_sinks(),
    };
    let html = page.render().map_err(|_| PageError(AppError::bare(ErrorCode::Internal)))?;
    Ok(auth.respond(HttpResponse::Ok().content_type("text/html; charset=utf-8").body(html)))
}
