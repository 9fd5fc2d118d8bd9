//! Rendering of errors: one [`ErrorCode`] table, three surfaces.
//!
//! - [`ApiError`]: the JSON envelope `{"error": {"code", "message", "detail", "request_id"}}`
//!   for API routes;
//! - [`FhirError`]: a FHIR `OperationOutcome` for FHIR-facing routes;
//! - [`PageError`]: a friendly HTML page for browser routes.
//!
//! 5xx bodies are opaque: code, title and request id only; the cause is logged (without
//! PHI) by the request middleware, never sent.

use std::fmt;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpResponse, ResponseError};
use askama::Template;
use serde_json::json;

use crate::error::{ErrorCode, HasErrorCode};

use crate::telemetry::current_request_id;

/// The error content shared by the three surfaces.
pub struct AppError {
    pub code: ErrorCode,
    /// Client-safe detail; dropped for 5xx.
    pub detail: Option<String>,
    /// The cause, for the log (never rendered).
    pub source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl AppError {
    pub fn new(code: ErrorCode, detail: impl Into<String>) -> AppError {
        AppError { code, detail: Some(detail.into()), source: None }
    }

    pub fn bare(code: ErrorCode) -> AppError {
        AppError { code, detail: None, source: None }
    }

    fn status(&self) -> StatusCode {
        StatusCode::from_u16(self.code.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// The detail that may be shown: none at all for server errors.
    fn public_detail(&self) -> Option<&str> {
        if self.code.status() >= 500 { None } else { self.detail.as_deref() }
    }
}

impl<E: HasErrorCode + Send + Sync + 'static> From<E> for AppError {
    fn from(e: E) -> Self {
        AppError { code: e.code(), detail: e.public_detail(), source: Some(Box::new(e)) }
    }
}

impl fmt::Debug for AppError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.code)?;
        if let Some(s) = &self.source {
            write!(f, ": {s}")?;
            let mut cause = s.source();
            while let Some(c) = cause {
                write!(f, ": {c}")?;
                cause = c.source();
            }
        }
        Ok(())
    }
}

impl fmt::Display for AppError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self, f)
    }
}

macro_rules! surface {
    ($name:ident, $render:ident) => {
        #[derive(Debug)]
        pub struct $name(pub AppError);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }

        impl<E: Into<AppError>> From<E> for $name {
            fn from(e: E) -> Self {
                $name(e.into())
            }
        }

        impl ResponseError for $name {
            fn status_code(&self) -> StatusCode {
                self.0.status()
            }
            fn error_response(&self) -> HttpResponse {
                $render(&self.0)
            }
        }
    };
}

surface!(ApiError, render_json);
surface!(FhirError, render_fhir);
surface!(PageError, render_page);

pub(super) fn render_json(e: &AppError) -> HttpResponse {
    let mut body = json!({ "code": e.code.as_str(), "message": e.code.title() });
    if let Some(d) = e.public_detail() {
        body["detail"] = json!(d);
    }
    if let Some(id) = current_request_id() {
        body["request_id"] = json!(id);
    }
    HttpResponse::build(e.status()).json(json!({ "error": body }))
}

fn fhir_issue_code(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::Unauthenticated => "login",
        ErrorCode::Forbidden => "forbidden",
        ErrorCode::NotFound => "not-found",
        ErrorCode::MethodNotAllowed | ErrorCode::NotAcceptable | ErrorCode::UnsupportedMediaType => "not-supported",
        ErrorCode::PayloadTooLarge => "too-long",
        ErrorCode::InvalidJson => "structure",
        ErrorCode::ServiceUnavailable => "transient",
        ErrorCode::Internal => "exception",
        _ => "invalid",
    }
}

pub(super) fn render_fhir(e: &AppError) -> HttpResponse {
    let mut issue = json!({
        "severity": "error",
        "code": fhir_issue_code(e.code),
        "details": {
            "coding": [{ "system": "urn:chartdesk:error-code", "code": e.code.as_str() }],
            "text": e.code.title()
        }
    });
    if let Some(d) = e.public_detail() {
        issue["diagnostics"] = json!(d);
    }
    let body = json!({ "resourceType": "OperationOutcome", "issue": [issue] });
    HttpResponse::build(e.status())
        .insert_header((header::CONTENT_TYPE, HeaderValue::from_static("application/fhir+json; fhirVersion=4.0")))
        .body(body.to_string())
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPageTemplate<'a> {
    title: &'a str,
    detail: Option<&'a str>,
    request_id: Option<String>,
    relaunch: bool,
}

pub(super) fn render_page(e: &AppError) -> HttpResponse {
    let page = ErrorPageTemplate {
        title: e.code.title(),
        detail: e.public_detail(),
        request_id: current_request_id(),
        relaunch: matches!(e.code, ErrorCode::Unauthenticated | ErrorCode::LaunchInvalid),
    };
    let html =
        page.render().unwrap_or_else(|_| format!("<!doctype html><title>Error</title><p>{}</p>", e.code.title()));
    HttpResponse::build(e.status()).content_type("text/html; charset=utf-8").body(html)
}

/// Which surface a path belongs to, for errors raised outside any handler (404, 405).
pub(super) fn render_for_path(path: &str, accepts_html: bool, e: &AppError) -> HttpResponse {
    if path.starts_with("/api/") || path == "/api" {
        render_json(e)
    } else if path.starts_with("/fhir/") {
        render_fhir(e)
    } else if accepts_html {
        render_page(e)
    } else {
        render_json(e)
    }
}
