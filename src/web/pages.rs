//! Product pages that are not part of a flow: the home page, the stylesheet, our JWKS.

use actix_web::{HttpResponse, web};
use askama::Template;

use super::AppState;
use super::error::{AppError, PageError};
use crate::error::ErrorCode;

#[derive(Template)]
#[template(path = "home.html")]
struct Home {
    sandbox: bool,
}

pub async fn home(state: web::Data<AppState>) -> Result<HttpResponse, PageError> {
    let html = Home { sandbox: state.sandbox.is_some() }
        .render()
        .map_err(|_| PageError(AppError::bare(ErrorCode::Internal)))?;
    Ok(HttpResponse::Ok().content_type("text/html; charset=utf-8").body(html))
}

pub async fn stylesheet() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/css; charset=utf-8")
        .insert_header(("cache-control", "public, max-age=3600"))
        .body(include_str!("../../smart-launch/static/chartdesk.css"))
}

pub async fn autosubmit() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/javascript; charset=utf-8")
        .insert_header(("cache-control", "public, max-age=3600"))
        .body(include_str!("../../smart-launch/static/autosubmit.js"))
}

/// chartdesk's public keys for `private_key_jwt` client authentication.
pub async fn jwks(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok().insert_header(("cache-control", "public, max-age=300")).json(state.app_keys.jwks())
}
