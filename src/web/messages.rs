//! Messages from clinicians and the handoff inboxes.
//!
//! - `POST /api/messages`, `GET /api/messages/{id}`, `GET /api/messages/{id}/events` (SSE):
//!   the clinician's side; the body arrives as [`ScreenedJson`], which runs the detector before
//!   the handler sees any text.
//! - `/supervisor`, `GET /api/handoffs`, `GET /api/handoffs/events` (SSE),
//!   `POST /api/handoffs/{id}/{acknowledge|claim|resolve|notes}`: the inboxes of the nursing
//!   supervisor, on-call, pharmacy and clinical-informatics queues (page `inbox` by policy).

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest, HttpResponse, web};
use askama::Template;
use serde::Deserialize;
use serde_json::{Value, json};

use super::AppState;
use super::authz::{self, Authorized, Guarded, Permission, ViewContext, ViewInbox};
use super::error::{ApiError, AppError, PageError};
use crate::context::ChartData;
use crate::context::view::{self, LaunchFacts};
use crate::detect::{ScreenError, Screened};
use crate::error::ErrorCode;
use crate::handoff::{Action, Changed, Clinician, Queue, Receipt, Submitter};
use crate::policy::Env;

pub fn routes(cfg: &mut web::ServiceConfig) {
    cfg.route("/api/messages", authz::post(submit))
        .route("/api/messages/{id}", authz::get(message))
        .route("/api/messages/{id}/events", authz::get(message_events))
        .route("/supervisor", authz::get(inbox_page))
        .route("/api/handoffs", authz::get(inbox_list))
        .route("/api/handoffs/events", authz::get(inbox_events))
        .route("/api/handoffs/{id}/notes", authz::post(note))
        .route("/api/handoffs/{id}/{action}", authz::post(act))
        .route("/static/app.js", web::get().to(app_js))
        .route("/static/inbox.js", web::get().to(inbox_js));
}

async fn app_js() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header(("cache-control", "no-cache"))
        .body(include_str!("../../smart-launch/static/app.js"))
}

async fn inbox_js() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header(("cache-control", "no-cache"))
        .body(include_str!("../../smart-launch/static/inbox.js"))
}

/// A JSON body `{"client_message_id"?: "…", "text": "…"}` whose text has been screened.
/// Every route that accepts user text takes this (or another [`Screened`] source), never a
/// raw string.
pub struct ScreenedJson {
    pub client_message_id: Option<String>,
    pub screened: Screened,
}

/// `{"client_message_id"?: "…", "text": "…"}`
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct MessageBody {
    #[serde(default)]
    client_message_id: Option<String>,
    text: String,
}

fn plausible_client_id(id: &str) -> bool {
    (1..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

async fn screen(
    req: HttpRequest,
    body: Pin<Box<dyn Future<Output = Result<web::Bytes, actix_web::Error>>>>,
) -> Result<ScreenedJson, AppError> {
    let state = req.app_data::<web::Data<AppState>>().ok_or_else(|| AppError::bare(ErrorCode::Internal))?;
    let max = state.config.handoff.max_message_bytes;
    let ct = req.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("");
    if !ct.split(';').next().unwrap_or("").trim().eq_ignore_ascii_case("application/json") {
        return Err(AppError::new(ErrorCode::UnsupportedMediaType, "send application/json"));
    }
    // The body limit is the server's (`server.max_body_bytes`); the text's own limit is checked
    // by `Screened::screen`.
    let body = body.await.map_err(|e| {
        if e.as_response_error().status_code() == actix_web::http::StatusCode::PAYLOAD_TOO_LARGE {
            AppError::bare(ErrorCode::PayloadTooLarge)
        } else {
            AppError::new(ErrorCode::BadRequest, "the request body could not be read")
        }
    })?;
    let raw: MessageBody = serde_json::from_slice(&body).map_err(|e| {
        AppError::new(
            ErrorCode::InvalidJson,
            format!("expected {{\"client_message_id\": \"…\", \"text\": \"…\"}}: {e}"),
        )
    })?;
    if let Some(id) = &raw.client_message_id
        && !plausible_client_id(id)
    {
        return Err(AppError::new(ErrorCode::InvalidParameter, "client_message_id: 1-64 letters, digits, - or _"));
    }
    let detector = state.detectors.for_policy(&state.smart.policy.active());
    let screened = Screened::screen(&detector, &raw.text, max).map_err(|e| match e {
        ScreenError::TooLong { .. } => AppError::new(ErrorCode::PayloadTooLarge, e.to_string()),
        _ => AppError::new(ErrorCode::InvalidParameter, e.to_string()),
    })?;
    Ok(ScreenedJson { client_message_id: raw.client_message_id, screened })
}

impl FromRequest for ScreenedJson {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = Box::pin(web::Bytes::from_request(req, payload));
        let req = req.clone();
        Box::pin(async move { screen(req, body).await.map_err(ApiError) })
    }
}

fn submitter<P: Permission>(state: &AppState, auth: &Authorized<P>) -> Submitter {
    let s = &auth.session;
    let chart = s.chart.clone().unwrap_or_default();
    let ctx = super::api::context_view(state, auth);
    Submitter {
        tenant: s.tenant.clone(),
        vendor: ctx.tenant.vendor.clone(),
        user_key: auth.subject.user_key.clone(),
        launch_ref: crate::smart::session_ref(&s.launch_id),
        agent: auth.agent.clone(),
        clinician: Clinician {
            reference: ctx.user.fhir_user.clone(),
            name: ctx.user.name.clone(),
            role_text: ctx.user.role_text.clone(),
            roles: ctx.user.roles.clone(),
            unit: ctx.user.department.map(|d| d.name).unwrap_or_default(),
        },
        patient: s.context.patient.clone(),
        encounter: s.context.encounter.clone(),
        // Minimum necessary: only the patient and encounter data, projected per viewer later.
        chart: s.context.patient.as_ref().map(|_| ChartData {
            patient: chart.patient.clone(),
            encounter: chart.encounter.clone(),
            groups: chart.groups.clone(),
            ..ChartData::default()
        }),
    }
}

/// Send a message to the help desk.
///
/// The text is screened by the clinical-context detector before anything else is done with
/// it. A clinical question is never answered: it becomes a handoff to a person in the clinical
/// workflow; an IT problem becomes a service-desk ticket request; a MIXED message both. A
/// repeated `client_message_id` returns the first receipt (200) instead of a second handoff.
#[utoipa::path(
    post,
    path = "/api/messages",
    params(("X-Chartdesk-Launch" = String, Header, description = "The launch id")),
    request_body(content = MessageBody, content_type = "application/json"),
    responses(
        (status = 201, description = "Accepted and routed", body = Receipt),
        (status = 200, description = "The same client_message_id was already accepted", body = Receipt),
        (status = 400, description = "Empty, malformed or control characters", body = super::api::ErrorEnvelope),
        (status = 401, description = "No live launch session", body = super::api::ErrorEnvelope),
        (status = 413, description = "Longer than handoff.max_message_bytes", body = super::api::ErrorEnvelope)
    ),
    tag = "messages"
)]
pub(crate) async fn submit(
    auth: Authorized<ViewContext>,
    body: ScreenedJson,
    state: web::Data<AppState>,
) -> Result<Guarded, ApiError> {
    let client_id = body.client_message_id.clone().unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let who = submitter(&state, &auth);
    let receipt = state.handoffs.submit(&who, &client_id, &body.screened).await?;
    let status = if receipt.duplicate { 200 } else { 201 };
    let resp =
        HttpResponse::build(actix_web::http::StatusCode::from_u16(status).unwrap_or(actix_web::http::StatusCode::OK))
            .json(receipt);
    Ok(auth.respond(resp))
}

/// The current status of one of your messages.
#[utoipa::path(
    get,
    path = "/api/messages/{id}",
    params(("id" = String, Path), ("X-Chartdesk-Launch" = String, Header, description = "The launch id")),
    responses((status = 200, body = Receipt), (status = 404, body = super::api::ErrorEnvelope)),
    tag = "messages"
)]
pub(crate) async fn message(
    auth: Authorized<ViewContext>,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<Guarded, ApiError> {
    let m = state.handoffs.message_of(&path.into_inner(), &auth.subject.user_key).await?;
    let receipt = state.handoffs.receipt(&m, false).await?;
    Ok(auth.respond(HttpResponse::Ok().json(receipt)))
}

type Snapshot = Box<dyn Fn() -> Pin<Box<dyn Future<Output = Option<String>>>>>;

/// A server-sent event stream: a snapshot now, then after every relevant change (and every
/// 10 s, which also covers changes made by other instances).
fn event_stream(
    rx: tokio::sync::broadcast::Receiver<Changed>,
    relevant: impl Fn(&Changed) -> bool + 'static,
    snapshot: Snapshot,
) -> HttpResponse {
    let shared = std::rc::Rc::new((relevant, snapshot));
    let stream = futures_util::stream::unfold((true, rx), move |(first, mut rx)| {
        let shared = shared.clone();
        async move {
            if !first {
                let deadline = tokio::time::sleep(Duration::from_secs(10));
                tokio::pin!(deadline);
                loop {
                    tokio::select! {
                        r = rx.recv() => match r {
                            Ok(c) if (shared.0)(&c) => break,
                            Ok(_) => continue,
                            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => break,
                            Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
                        },
                        _ = &mut deadline => break,
                    }
                }
            }
            let data = (shared.1)().await?;
            let event = web::Bytes::from(format!("event: snapshot\ndata: {data}\n\n"));
            Some((Ok::<_, actix_web::Error>(event), (false, rx)))
        }
    });
    HttpResponse::Ok().content_type("text/event-stream").insert_header(("x-accel-buffering", "no")).streaming(stream)
}

/// `GET /api/messages/{id}/events`: the message's status, live.
async fn message_events(
    auth: Authorized<ViewContext>,
    path: web::Path<String>,
    state: web::Data<AppState>,
) -> Result<Guarded, ApiError> {
    let m = state.handoffs.message_of(&path.into_inner(), &auth.subject.user_key).await?;
    let id = m.id.clone();
    let rx = state.handoffs.subscribe();
    let st = state.clone();
    let snapshot: Snapshot = Box::new(move || {
        let (st, m) = (st.clone(), m.clone());
        Box::pin(async move {
            let m = st.store.message_get(&m.id).await.ok().flatten()?;
            let r = st.handoffs.receipt(&m, false).await.ok()?;
            serde_json::to_string(&r).ok()
        })
    });
    Ok(auth.respond(event_stream(rx, move |c| c.message_id == id, snapshot)))
}

/// The queues and unit of an inbox viewer.
fn viewer_queues(auth: &Authorized<ViewInbox>) -> (Vec<Queue>, Option<String>) {
    let mut queues: Vec<Queue> = auth.subject.roles.iter().flat_map(|r| Queue::for_role(r).iter().copied()).collect();
    queues.sort();
    queues.dedup();
    let unit = (!auth.subject.department.is_empty()).then(|| auth.subject.department.clone());
    (queues, unit)
}

/// The inbox as JSON: each handoff with the message, the signals, the clinician and the
/// patient context the viewer's policy allows for a clinical handoff.
async fn inbox_json(state: &AppState, auth: &Authorized<ViewInbox>) -> Result<Value, ApiError> {
    let (queues, unit) = viewer_queues(auth);
    let list = state.handoffs.inbox(&auth.session.tenant, &queues, unit.as_deref()).await?;
    let env = Env { purpose: "clinical-handoff".into(), patient_in_context: true, ..auth.env.clone() };
    let allowed = auth.policy.allowed_groups(&auth.subject, &env);
    let mut items = Vec::new();
    for h in &list {
        let Some(m) = state.store.message_get(&h.message_id).await.map_err(AppError::from)? else { continue };
        let envelope = match state.handoffs.open_envelope(&m).await {
            Ok(e) => e,
            // Content past retention (its key destroyed): the handoff remains, the text does not.
            Err(_) => continue,
        };
        let facts = LaunchFacts {
            patient: envelope.patient.clone(),
            encounter: envelope.encounter.clone(),
            ..LaunchFacts::default()
        };
        let ctx = view::build(
            &facts,
            &envelope.chart.clone().unwrap_or_default(),
            &auth.subject.roles,
            &allowed,
            "clinical-handoff",
            auth.policy.version,
        );
        let notes: Vec<Value> = state
            .handoffs
            .notes(&h.id)
            .await?
            .into_iter()
            .map(|(n, text)| json!({ "author": n.author, "at": chrono::DateTime::from_timestamp_millis(n.created_ms).map(|t| t.to_rfc3339()), "text": text }))
            .collect();
        let detection: Value = serde_json::from_str(&m.detection).unwrap_or_default();
        items.push(json!({
            "handoff": state.handoffs.inbox_status(h),
            "category": h.category,
            "urgent": h.urgent,
            "createdAt": chrono::DateTime::from_timestamp_millis(h.created_ms).map(|t| t.to_rfc3339()),
            "clinician": envelope.clinician,
            "text": envelope.text,
            "signals": detection["signals"],
            "patient": ctx.patient,
            "encounter": ctx.encounter,
            "notes": notes,
        }));
    }
    Ok(json!({
        "queues": queues.iter().map(|q| q.as_str()).collect::<Vec<_>>(),
        "unit": unit,
        "counts": crate::handoff::Handoffs::counts(&list),
        "items": items,
    }))
}

async fn inbox_list(auth: Authorized<ViewInbox>, state: web::Data<AppState>) -> Result<Guarded, ApiError> {
    let v = inbox_json(&state, &auth).await?;
    Ok(auth.respond(HttpResponse::Ok().json(v)))
}

async fn inbox_events(auth: Authorized<ViewInbox>, state: web::Data<AppState>) -> Result<Guarded, ApiError> {
    let tenant = auth.session.tenant.clone();
    let rx = state.handoffs.subscribe();
    let st = state.clone();
    let auth = std::rc::Rc::new(auth);
    let a2 = auth.clone();
    let snapshot: Snapshot = Box::new(move || {
        let (st, a) = (st.clone(), a2.clone());
        Box::pin(async move { inbox_json(&st, &a).await.ok().map(|v| v.to_string()) })
    });
    let resp = event_stream(rx, move |c| c.tenant == tenant, snapshot);
    Ok(auth.respond(resp))
}

async fn act(
    auth: Authorized<ViewInbox>,
    path: web::Path<(String, String)>,
    state: web::Data<AppState>,
) -> Result<Guarded, ApiError> {
    let (id, action) = path.into_inner();
    let action = Action::parse(&action)
        .ok_or_else(|| AppError::new(ErrorCode::NotFound, "actions are acknowledge, claim, resolve and notes"))?;
    let (queues, unit) = viewer_queues(&auth);
    let actor = auth.agent.who.clone().unwrap_or_else(|| auth.subject.user_key.clone());
    let h = state.handoffs.act(&auth.agent, &actor, (&queues, unit.as_deref()), &id, action).await?;
    Ok(auth.respond(HttpResponse::Ok().json(state.handoffs.inbox_status(&h))))
}

async fn note(
    auth: Authorized<ViewInbox>,
    path: web::Path<String>,
    body: ScreenedJson,
    state: web::Data<AppState>,
) -> Result<Guarded, ApiError> {
    let (queues, unit) = viewer_queues(&auth);
    let actor = auth.agent.who.clone().unwrap_or_else(|| auth.subject.user_key.clone());
    state.handoffs.note(&auth.agent, &actor, (&queues, unit.as_deref()), &path.into_inner(), &body.screened).await?;
    Ok(auth.respond(HttpResponse::Created().json(json!({ "added": true }))))
}

#[derive(Template)]
#[template(path = "inbox.html")]
struct InboxPage<'a> {
    launch_id: &'a str,
    queues: String,
    unit: String,
}

async fn inbox_page(auth: Authorized<ViewInbox>) -> Result<Guarded, PageError> {
    let (queues, unit) = viewer_queues(&auth);
    let page = InboxPage {
        launch_id: &auth.session.launch_id,
        queues: queues.iter().map(|q| q.as_str()).collect::<Vec<_>>().join(", "),
        unit: unit.unwrap_or_else(|| "all units".into()),
    };
    let html = page.render().map_err(|_| PageError(AppError::bare(ErrorCode::Internal)))?;
    Ok(auth.respond(HttpResponse::Ok().content_type("text/html; charset=utf-8").body(html)))
}
