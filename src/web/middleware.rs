//! Request context (request id, root span, one completion log line) and security headers.
//!
//! Logging rule: the root span records the route *pattern* (never the path or query), the
//! method, status, latency and request id. Headers, cookies and bodies are never recorded.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{Error, HttpMessage, web};
use tracing::Instrument;

use super::AppState;
use crate::telemetry::REQUEST_ID;

pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The request's id, available to handlers through request extensions.
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

/// Accept an incoming id only if it is plainly opaque (hex digits and dashes, 16–64 long,
/// e.g. a UUID or an nginx `$request_id`), so a client cannot smuggle text into the logs.
pub fn acceptable_request_id(v: &str) -> bool {
    (16..=64).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_hexdigit() || b == b'-')
}

pub async fn request_context(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let id = req
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|v| acceptable_request_id(v))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    req.extensions_mut().insert(RequestId(id.clone()));
    let route = req.match_pattern().unwrap_or_else(|| "unmatched".to_string());
    let span = tracing::info_span!(
        "request",
        http.method = %req.method(),
        http.route = %route,
        request_id = %id,
    );
    let started = Instant::now();
    let result = REQUEST_ID.scope(id.clone(), next.call(req)).instrument(span.clone()).await;
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    match result {
        Ok(mut res) => {
            let status = res.status().as_u16();
            if let Ok(v) = HeaderValue::from_str(&id) {
                res.headers_mut().insert(HeaderName::from_static(REQUEST_ID_HEADER), v);
            }
            span.in_scope(|| {
                if status >= 500 {
                    // The error's Display carries codes and causes, never request data.
                    let cause = res.response().error().map(|e| e.to_string()).unwrap_or_default();
                    tracing::error!(status, latency_ms, error = %cause, "request failed");
                } else {
                    tracing::info!(status, latency_ms, "request completed");
                }
            });
            Ok(res)
        }
        Err(e) => {
            span.in_scope(|| tracing::error!(latency_ms, error = %e, "request failed in middleware"));
            Err(e)
        }
    }
}

/// All security headers, in one place.
pub async fn security_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    let (csp, hsts) = match req.app_data::<web::Data<AppState>>() {
        Some(s) => (Some(s.csp.clone()), s.hsts.clone()),
        None => (None, None),
    };
    let mut res = next.call(req).await?;
    let h = res.headers_mut();
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    if let Some(hsts) = hsts {
        h.insert(header::STRICT_TRANSPORT_SECURITY, hsts);
    }
    // Pages that need a tenant-specific policy set their own; everything else gets the default.
    if let Some(csp) = csp.filter(|_| !h.contains_key(header::CONTENT_SECURITY_POLICY)) {
        h.insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    // Anything that may carry user, patient or launch context must not be cached; handlers
    // that serve public, cacheable documents (static assets, JWKS) set their own value.
    if !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    Ok(res)
}

fn sources(list: &[String]) -> Vec<&str> {
    list.iter()
        .map(String::as_str)
        .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_graphic()) && !s.contains(';') && !s.contains(','))
        .collect()
}

/// The Content-Security-Policy value: the given frame ancestors, and form targets beyond
/// 'self' (an EHR's authorize endpoint for POST launches).
pub fn content_security_policy(frame_ancestors: &[String], form_action: &[String]) -> HeaderValue {
    let ancestors = sources(frame_ancestors);
    let ancestors = if ancestors.is_empty() { "'none'".to_string() } else { ancestors.join(" ") };
    let mut forms = vec!["'self'"];
    forms.extend(sources(form_action));
    let value = format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; \
         form-action {}; base-uri 'none'; object-src 'none'; frame-ancestors {ancestors}",
        forms.join(" ")
    );
    HeaderValue::from_str(&value)
        .unwrap_or_else(|_| HeaderValue::from_static("default-src 'self'; frame-ancestors 'none'"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_ids_must_look_opaque() {
        assert!(acceptable_request_id("3f2b8c1e-4d5a-4b6c-8d7e-9f0a1b2c3d4e"));
        assert!(acceptable_request_id("0123456789abcdef0123456789abcdef"));
        assert!(!acceptable_request_id("short"));
        assert!(!acceptable_request_id("Jane-Doe-MRN-12345678"));
        assert!(!acceptable_request_id("deadbeef deadbeef"));
        assert!(!acceptable_request_id(&"a".repeat(65)));
    }

    #[test]
    fn csp_drops_injection_attempts() {
        let v = content_security_policy(&["https://ehr.example".into(), "x; script-src *".into()], &[]);
        let s = v.to_str().unwrap();
        assert!(s.ends_with("frame-ancestors https://ehr.example"), "{s}");
        let none = content_security_policy(&[], &["https://auth.example".into()]);
        assert!(none.to_str().unwrap().contains("form-action 'self' https://auth.example;"));
        assert!(none.to_str().unwrap().ends_with("frame-ancestors 'none'"));
    }
}
