//! The sandbox EHR's launch side: the `/sandbox` page and the scriptable
//! `/sandbox/ehr-launch?vendor=…&practitioner=…&patient=…[&encounter=…][&auth_error=…]`
//! that starts a real EHR launch (302 to the app's launch URL with `iss` and `launch`).
//! Logging in as the chosen practitioner is implicit, as in a real EHR session.

use std::collections::HashMap;
use std::time::Duration;

use url::Url;

use super::auth::{AuthError, LaunchRecord, NS_LAUNCH, digest, reference_id};
use super::data::display_name;
use super::{IdTokenFault, LaunchContext, Response, Sandbox, pages};
use crate::keys::random_token;
use crate::kv;

/// Ready-made launches, one or more per vendor mode: (label, vendor, practitioner, patient).
pub(super) const QUICK_LAUNCHES: &[(&str, &str, &str, Option<&str>)] = &[
    ("Epic · RN Jordan Pike on 4 West, patient Rosalind Quillfeather", "epic", "pr-jpike", Some("pat-01")),
    ("Epic · Clinical informatics Lena Brandt, toolbar launch (no patient)", "epic", "pr-lbrandt", None),
    (
        "Oracle Health · Dr. Helena Marsh in the MICU, patient Marisol Brindlewood",
        "oracle-health",
        "pr-hmarsh",
        Some("pat-05"),
    ),
    (
        "MEDITECH · RN Priya Lanning in the ED, patient Desmond Halloway-Finch",
        "meditech",
        "pr-planning",
        Some("pat-08"),
    ),
    ("Generic · Nursing supervisor Grace Okafor, patient Theodore Vantwerp", "generic", "pr-gokafor", Some("pat-02")),
    ("Generic · IT analyst Marcus Webb, toolbar launch (no patient)", "generic", "pr-mwebb", None),
    ("Generic · Pharmacist Samuel Ortiz-Vale, patient Augustin Pellegrove", "generic", "pr-sortizvale", Some("pat-06")),
];

pub(super) fn quick_link(vendor: &str, practitioner: &str, patient: Option<&str>) -> String {
    let mut q = url::form_urlencoded::Serializer::new(String::new());
    q.append_pair("vendor", vendor).append_pair("practitioner", practitioner);
    if let Some(p) = patient {
        q.append_pair("patient", p);
    }
    format!("/sandbox/ehr-launch?{}", q.finish())
}

pub(super) fn page(sb: &Sandbox) -> Response {
    pages::launch_page(sb)
}

pub(super) async fn ehr_launch(sb: &Sandbox, query: &str) -> Response {
    let params: HashMap<String, String> =
        url::form_urlencoded::parse(query.as_bytes()).into_owned().filter(|(_, v)| !v.trim().is_empty()).collect();
    match prepare(sb, &params) {
        Ok((record, launch_uri, iss)) => {
            let launch = random_token(32);
            let ttl = Duration::from_secs(sb.config.launch_lifetime_secs);
            if kv::put_json(sb.kv.as_ref(), NS_LAUNCH, &digest(&launch), &record, Some(ttl)).await.is_err() {
                return pages::error(
                    503,
                    "The sandbox EHR is unavailable",
                    "The launch could not be recorded; try again.",
                );
            }
            let mut url = match Url::parse(&launch_uri) {
                Ok(u) => u,
                Err(_) => return pages::error(400, "Launch refused", "The app's registered launch URL is not a URL."),
            };
            url.query_pairs_mut().append_pair("iss", &iss).append_pair("launch", &launch);
            tracing::info!(tenant = %record.tenant, client_id = %record.client_id, "sandbox EHR launch started");
            Response::redirect(url.to_string())
        }
        Err(message) => pages::error(400, "Launch refused", &message),
    }
}

/// Validate a launch request. The error is shown to the person on the launch page.
fn prepare(sb: &Sandbox, p: &HashMap<String, String>) -> Result<(LaunchRecord, String, String), String> {
    let get = |k: &str| p.get(k).map(String::as_str);
    let known: &[&str] = &[
        "vendor",
        "tenant",
        "practitioner",
        "patient",
        "encounter",
        "auth_error",
        "id_token_fault",
        "client",
        "need_patient_banner",
    ];
    if let Some(unknown) = p.keys().find(|k| !known.contains(&k.as_str())) {
        return Err(format!("Unknown launch parameter `{unknown}`. Known: {}.", known.join(", ")));
    }
    let vendor =
        get("vendor").or(get("tenant")).ok_or("Choose a vendor mode (vendor=generic|epic|oracle-health|meditech).")?;
    let tenant = sb
        .tenant(vendor)
        .ok_or_else(|| format!("Unknown vendor mode `{vendor}`: use generic, epic, oracle-health or meditech."))?;
    let practitioner =
        get("practitioner").ok_or("Choose the practitioner who is logged in to the EHR (practitioner=…).")?;
    if sb.data.get("Practitioner", practitioner).is_none() {
        return Err(format!("No practitioner `{practitioner}` in the sandbox data."));
    }
    let patient = match get("patient") {
        None => None,
        Some(id) => {
            sb.data.get("Patient", id).ok_or_else(|| format!("No patient `{id}` in the sandbox data."))?;
            Some(id.to_string())
        }
    };
    let encounter = match (get("encounter"), &patient) {
        (Some("none"), _) => None,
        (Some(_), None) => return Err("An encounter needs a patient.".into()),
        (Some(id), Some(pid)) => {
            let enc =
                sb.data.get("Encounter", id).ok_or_else(|| format!("No encounter `{id}` in the sandbox data."))?;
            if enc["subject"]["reference"] != format!("Patient/{pid}") {
                return Err(format!("Encounter `{id}` belongs to another patient."));
            }
            Some(id.to_string())
        }
        (None, Some(pid)) => sb.data.encounters_of(pid).first().and_then(|e| e["id"].as_str().map(String::from)),
        (None, None) => None,
    };
    let auth_error = match get("auth_error") {
        None => None,
        Some(e) => Some(AuthError::parse(e).ok_or_else(|| {
            format!("Unknown auth_error `{e}`. Known: {}.", AuthError::ALL.map(AuthError::as_str).join(", "))
        })?),
    };
    let id_token_fault = match get("id_token_fault") {
        None => None,
        Some(f) => Some(IdTokenFault::parse(f).ok_or_else(|| {
            format!("Unknown id_token_fault `{f}`. Known: {}.", IdTokenFault::ALL.map(IdTokenFault::as_str).join(", "))
        })?),
    };
    if id_token_fault == Some(IdTokenFault::RotatedKey) {
        sb.rotated.store(true, std::sync::atomic::Ordering::SeqCst);
    }
    let client = match get("client") {
        Some(id) => {
            sb.clients.get(tenant.id, id).ok_or_else(|| format!("No client `{id}` is registered with {vendor}."))?
        }
        None => sb.clients.default_for(tenant.id).ok_or_else(|| format!("No app is registered with {vendor}."))?,
    };
    let need_patient_banner = match get("need_patient_banner") {
        None | Some("true") => true,
        Some("false") => false,
        Some(other) => return Err(format!("need_patient_banner must be true or false, not `{other}`.")),
    };
    let department = sb.data.role_of(practitioner).and_then(|r| reference_id(&r["location"][0]["reference"]));
    let location = encounter
        .as_deref()
        .and_then(|e| sb.data.get("Encounter", e))
        .and_then(|e| reference_id(&e["location"][0]["location"]["reference"]))
        .or_else(|| department.clone());
    let ctx = LaunchContext {
        practitioner: practitioner.to_string(),
        patient,
        encounter,
        location,
        login_department: department,
        need_patient_banner,
        auth_error,
        id_token_fault,
    };
    // A launch without a patient comes from a toolbar or dashboard launch point.
    let launch_uri = match (&ctx.patient, &client.toolbar_launch_uri) {
        (None, Some(toolbar)) => toolbar.clone(),
        _ => client.launch_uri.clone(),
    };
    let record = LaunchRecord { tenant: tenant.id.to_string(), client_id: client.client_id.clone(), ctx };
    Ok((record, launch_uri, tenant.fhir_base(&sb.public)))
}

/// Label for a practitioner on the launch page: name, role and department.
pub(super) fn practitioner_label(sb: &Sandbox, id: &str) -> String {
    let name = sb.data.get("Practitioner", id).map(display_name).unwrap_or_default();
    let role = sb.data.role_of(id);
    let role_text = role.and_then(|r| r["code"][0]["text"].as_str()).unwrap_or("staff");
    let dept = role.and_then(|r| r["location"][0]["display"].as_str()).unwrap_or("");
    format!("{name} — {role_text}, {dept}")
}
