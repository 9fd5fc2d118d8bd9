//! Sandbox HTML pages (askama templates in src/sandbox/templates, auto-escaped). Every page
//! extends `sandbox_base.html`, which carries the "SANDBOX — synthetic data" banner.

use std::collections::HashMap;

use askama::Template;

use super::auth::AuthError;
use super::data::display_name;
use super::launch::{QUICK_LAUNCHES, practitioner_label, quick_link};
use super::tenant::Tenant;
use super::{Response, Sandbox};

pub struct Choice {
    pub value: String,
    pub label: String,
}

pub struct TenantRow {
    pub id: String,
    pub label: String,
    pub fhir_base: String,
    pub issuer: String,
    pub clients: String,
}

#[derive(Template)]
#[template(path = "sandbox_launch.html")]
struct LaunchPage {
    tenants: Vec<TenantRow>,
    practitioners: Vec<Choice>,
    patients: Vec<Choice>,
    encounters: Vec<Choice>,
    errors: Vec<Choice>,
    quick: Vec<Choice>,
}

#[derive(Template)]
#[template(path = "sandbox_login.html")]
struct LoginPage {
    ehr: String,
    action: String,
    hidden: Vec<(String, String)>,
    practitioners: Vec<Choice>,
    patients: Vec<Choice>,
    wants_patient: bool,
}

#[derive(Template)]
#[template(path = "sandbox_error.html")]
struct ErrorPage<'a> {
    title: &'a str,
    message: &'a str,
}

#[derive(Template)]
#[template(path = "sandbox_help.html")]
struct HelpPage;

fn render(status: u16, t: &impl Template) -> Response {
    match t.render() {
        Ok(html) => Response::html(status, html),
        Err(_) => Response::html(
            500,
            "<!doctype html><title>Sandbox error</title><p>SANDBOX — the page could not be rendered.".into(),
        ),
    }
}

pub fn error(status: u16, title: &str, message: &str) -> Response {
    render(status, &ErrorPage { title, message })
}

pub fn help() -> Response {
    render(200, &HelpPage)
}

fn practitioners(sb: &Sandbox) -> Vec<Choice> {
    sb.data
        .all("Practitioner")
        .iter()
        .filter_map(|p| p["id"].as_str())
        .map(|id| Choice { value: id.to_string(), label: practitioner_label(sb, id) })
        .collect()
}

fn patients(sb: &Sandbox) -> Vec<Choice> {
    sb.data
        .all("Patient")
        .iter()
        .map(|p| Choice {
            value: p["id"].as_str().unwrap_or_default().to_string(),
            label: format!("{} (born {})", display_name(p), p["birthDate"].as_str().unwrap_or("?")),
        })
        .collect()
}

pub fn launch_page(sb: &Sandbox) -> Response {
    let tenants = sb
        .tenants
        .iter()
        .map(|t| TenantRow {
            id: t.id.to_string(),
            label: t.vendor.label().to_string(),
            fhir_base: t.fhir_base(&sb.public),
            issuer: t.issuer(&sb.public),
            clients: sb
                .clients
                .for_tenant(t.id)
                .map(|c| format!("{} ({:?})", c.client_id, c.auth))
                .collect::<Vec<_>>()
                .join(", "),
        })
        .collect();
    let encounters = sb
        .data
        .all("Encounter")
        .iter()
        .map(|e| {
            let patient = e["subject"]["reference"].as_str().and_then(|r| r.rsplit('/').next()).unwrap_or_default();
            let name = sb.data.get("Patient", patient).map(display_name).unwrap_or_default();
            Choice {
                value: e["id"].as_str().unwrap_or_default().to_string(),
                label: format!(
                    "{name}: {} since {}",
                    e["status"].as_str().unwrap_or_default(),
                    e["period"]["start"].as_str().unwrap_or_default()
                ),
            }
        })
        .collect();
    let errors = AuthError::ALL
        .into_iter()
        .map(|e| Choice { value: e.as_str().to_string(), label: format!("{} (fires at {})", e.as_str(), e.fires_at()) })
        .collect();
    let quick = QUICK_LAUNCHES
        .iter()
        .map(|(label, vendor, pr, pat)| Choice { value: quick_link(vendor, pr, *pat), label: (*label).to_string() })
        .collect();
    render(
        200,
        &LaunchPage { tenants, practitioners: practitioners(sb), patients: patients(sb), encounters, errors, quick },
    )
}

/// The standalone-launch sign-in page: the EHR's own login, simulated.
pub fn login(sb: &Sandbox, tenant: &Tenant, params: &HashMap<String, String>, wants_patient: bool) -> Response {
    let mut hidden: Vec<(String, String)> = params
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "sandbox_user" | "sandbox_patient"))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    hidden.sort();
    render(
        200,
        &LoginPage {
            ehr: tenant.vendor.label().to_string(),
            action: format!("{}/authorize", tenant.auth_path),
            hidden,
            practitioners: practitioners(sb),
            patients: if wants_patient { patients(sb) } else { Vec::new() },
            wants_patient,
        },
    )
}
