//! The sandbox's FHIR R4 API: read, search, batch-of-GETs and the CapabilityStatement, over
//! the synthetic data, enforcing the SMART scopes of the access token. Read-only: every write
//! method is answered 405. Every request is journaled (method, path, query, status).

use serde_json::{Value, json};

use super::auth::{self, AccessRecord, AuthError};
use super::data::in_patient_compartment;
use super::search;
use super::tenant::Tenant;
use super::{Request, Response, Sandbox};
use crate::smart::scope::{Context, Interaction, Scope, parse_list};

pub(super) async fn handle(sb: &Sandbox, tenant: &Tenant, req: &Request<'_>) -> Response {
    let (response, kind, client_id) = dispatch(sb, tenant, req).await;
    if sb.record(tenant, req, response.status, kind.to_string(), client_id).await {
        response
    } else {
        outcome(500, "exception", "the sandbox could not record this request")
    }
}

fn outcome(status: u16, code: &str, diagnostics: &str) -> Response {
    Response::fhir(
        status,
        json!({
            "resourceType": "OperationOutcome",
            "issue": [{ "severity": "error", "code": code, "diagnostics": diagnostics }]
        }),
    )
}

type Outcome = (Response, &'static str, Option<String>);

async fn dispatch(sb: &Sandbox, tenant: &Tenant, req: &Request<'_>) -> Outcome {
    let segments: Vec<&str> = req.path.split('/').filter(|s| !s.is_empty()).collect();
    match (req.method, segments.as_slice()) {
        ("GET", [".well-known", "smart-configuration"]) => {
            (Response::json(200, auth::smart_configuration(sb, tenant)), "discovery", None)
        }
        ("GET", [".well-known", "openid-configuration"]) => {
            (Response::json(200, auth::openid_configuration(sb, tenant)), "discovery", None)
        }
        ("POST" | "PUT" | "PATCH" | "DELETE", segs) if !(req.method == "POST" && segs.is_empty()) => (
            outcome(405, "not-supported", &format!("{} is not allowed: this FHIR API is read-only", req.method))
                .with_header("allow", "GET"),
            "write-refused",
            None,
        ),
        ("GET" | "HEAD" | "POST", _) if !accepts_json(req.accept) => {
            (outcome(406, "not-supported", "only JSON (application/fhir+json) is available"), "other", None)
        }
        ("GET", ["metadata"]) => (capability_statement(sb, tenant), "capabilities", None),
        ("POST", []) => batch(sb, tenant, req).await,
        ("GET" | "HEAD", [rtype]) => {
            with_token(sb, tenant, req, "search", |rec| search(sb, tenant, rec, rtype, req.query)).await
        }
        ("GET" | "HEAD", [rtype, id]) => {
            with_token(sb, tenant, req, "read", |rec| read(sb, tenant, rec, rtype, id, req.query)).await
        }
        ("GET", _) => {
            (outcome(404, "not-supported", "this interaction is not supported by the sandbox"), "other", None)
        }
        _ => (outcome(405, "not-supported", "method not allowed").with_header("allow", "GET"), "other", None),
    }
}

fn accepts_json(accept: Option<&str>) -> bool {
    let Some(accept) = accept.filter(|a| !a.trim().is_empty()) else { return true };
    accept.split(',').any(|range| {
        let media = range.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
        matches!(
            media.as_str(),
            "*/*" | "application/*" | "application/json" | "application/fhir+json" | "application/json+fhir"
        )
    })
}

async fn with_token(
    sb: &Sandbox,
    tenant: &Tenant,
    req: &Request<'_>,
    kind: &'static str,
    f: impl FnOnce(&AccessRecord) -> Response,
) -> Outcome {
    match authenticate(sb, tenant, req).await {
        Ok(record) => {
            let client = Some(record.client_id.clone());
            (f(&record), kind, client)
        }
        Err(resp) => (resp, kind, None),
    }
}

async fn authenticate(sb: &Sandbox, tenant: &Tenant, req: &Request<'_>) -> Result<AccessRecord, Response> {
    let unauthorized = |error: &str, d: &str| {
        outcome(401, "login", d)
            .with_header("www-authenticate", format!("Bearer realm=\"sandbox-ehr\", error=\"{error}\""))
    };
    let token = req
        .authorization
        .and_then(|h| h.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, t)| t.trim())
        .filter(|t| !t.is_empty())
        .ok_or_else(|| unauthorized("invalid_request", "a Bearer access token is required"))?;
    let record = auth::access_record(sb, token)
        .await
        .map_err(|_| outcome(503, "transient", "the sandbox is temporarily unavailable"))?
        .ok_or_else(|| unauthorized("invalid_token", "the access token is unknown or expired"))?;
    if record.tenant != tenant.id {
        return Err(unauthorized("invalid_token", "the access token was issued by another EHR"));
    }
    match record.ctx.auth_error {
        Some(AuthError::RequestExpiredToken) => {
            Err(unauthorized("invalid_token", "the access token has expired (injected by the sandbox)"))
        }
        Some(AuthError::RequestInvalidToken) => {
            Err(unauthorized("invalid_token", "the access token is invalid (injected by the sandbox)"))
        }
        _ => Ok(record),
    }
}

/// Scopes of a token that could ever allow `interaction` on `rtype`.
fn applicable(record: &AccessRecord, rtype: &str, interaction: Interaction) -> Vec<crate::smart::scope::ResourceScope> {
    parse_list(&record.scopes.join(" "))
        .0
        .into_iter()
        .filter_map(|s| match s {
            Scope::Resource(r) if r.allows(rtype, interaction) => Some(r),
            _ => None,
        })
        .collect()
}

/// Does some granted scope cover this very resource?
fn permitted(record: &AccessRecord, scopes: &[crate::smart::scope::ResourceScope], resource: &Value) -> bool {
    scopes.iter().any(|s| {
        let in_context = match s.context {
            Context::Patient => record.ctx.patient.as_deref().is_some_and(|p| in_patient_compartment(resource, p)),
            Context::User | Context::System => true,
        };
        in_context && s.query.iter().all(|(k, v)| search::matches_pair(resource, k, v))
    })
}

fn forbidden(d: &str) -> Response {
    outcome(403, "forbidden", d)
        .with_header("www-authenticate", "Bearer realm=\"sandbox-ehr\", error=\"insufficient_scope\"")
}

fn read(sb: &Sandbox, tenant: &Tenant, record: &AccessRecord, rtype: &str, id: &str, query: &str) -> Response {
    if !sb.data.supports(rtype) {
        return outcome(404, "not-supported", &format!("resource type {rtype} is not supported"));
    }
    let mut elements = None;
    for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
        match k.as_ref() {
            "_elements" => elements = Some(v.split(',').map(|s| s.trim().to_string()).collect::<Vec<_>>()),
            "_format" => {}
            other => return outcome(400, "not-supported", &format!("parameter `{other}` is not supported on read")),
        }
    }
    let scopes = applicable(record, rtype, Interaction::Read);
    if scopes.is_empty() {
        return forbidden(&format!("no granted scope allows reading {rtype}"));
    }
    let Some(resource) = sb.data.get(rtype, id) else {
        return outcome(404, "not-found", &format!("{rtype}/{id} is not known"));
    };
    if !permitted(record, &scopes, resource) {
        return forbidden(&format!("the granted scopes do not cover {rtype}/{id}"));
    }
    Response::fhir(200, decorate(tenant, resource, elements.as_deref()))
}

fn search(sb: &Sandbox, tenant: &Tenant, record: &AccessRecord, rtype: &str, query: &str) -> Response {
    if !sb.data.supports(rtype) {
        return outcome(404, "not-supported", &format!("resource type {rtype} is not supported"));
    }
    let scopes = applicable(record, rtype, Interaction::Search);
    if scopes.is_empty() {
        return forbidden(&format!("no granted scope allows searching {rtype}"));
    }
    let spec = match search::parse(rtype, query) {
        Ok(s) => s,
        Err(d) => return outcome(400, "invalid", &d),
    };
    let mut hits: Vec<Value> =
        sb.data.all(rtype).iter().filter(|r| spec.matches(r) && permitted(record, &scopes, r)).cloned().collect();
    spec.sort(&mut hits);
    let total = hits.len();
    let base = tenant.fhir_base(&sb.public);
    let self_url = if query.is_empty() { format!("{base}/{rtype}") } else { format!("{base}/{rtype}?{query}") };
    let mut links = vec![json!({ "relation": "self", "url": self_url })];
    let page: Vec<Value> =
        if spec.summary_count { Vec::new() } else { hits.into_iter().skip(spec.offset).take(spec.count).collect() };
    if !spec.summary_count && spec.offset + spec.count < total {
        let rest: String = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(url::form_urlencoded::parse(query.as_bytes()).filter(|(k, _)| k != "_offset"))
            .append_pair("_offset", &(spec.offset + spec.count).to_string())
            .finish();
        links.push(json!({ "relation": "next", "url": format!("{base}/{rtype}?{rest}") }));
    }
    let entries: Vec<Value> = page
        .iter()
        .map(|r| {
            json!({
                "fullUrl": format!("{base}/{rtype}/{}", r["id"].as_str().unwrap_or_default()),
                "resource": decorate(tenant, r, spec.elements.as_deref()),
                "search": { "mode": "match" }
            })
        })
        .collect();
    let mut bundle = json!({ "resourceType": "Bundle", "type": "searchset", "total": total, "link": links });
    if !entries.is_empty() {
        bundle["entry"] = json!(entries);
    }
    Response::fhir(200, bundle)
}

async fn batch(sb: &Sandbox, tenant: &Tenant, req: &Request<'_>) -> Outcome {
    let json_body = req.content_type.is_some_and(|c| {
        let m = c.split(';').next().unwrap_or_default().trim().to_ascii_lowercase();
        m == "application/fhir+json" || m == "application/json"
    });
    if !json_body {
        return (outcome(415, "not-supported", "a batch must be application/fhir+json"), "batch-invalid", None);
    }
    let Ok(bundle) = serde_json::from_slice::<Value>(req.body) else {
        return (outcome(400, "structure", "the body is not valid JSON"), "batch-invalid", None);
    };
    if bundle["resourceType"] != "Bundle" {
        return (outcome(400, "structure", "the body must be a Bundle"), "batch-invalid", None);
    }
    let entries = bundle["entry"].as_array().cloned().unwrap_or_default();
    // From here on the journal kind `batch` means "a Bundle of GETs only".
    if entries.iter().any(|e| e["request"]["method"] != "GET") {
        return (
            outcome(405, "not-supported", "only GET entries are allowed: this FHIR API is read-only")
                .with_header("allow", "GET"),
            "write-refused",
            None,
        );
    }
    if bundle["type"] != "batch" {
        return (outcome(400, "not-supported", "only Bundle.type = batch is supported"), "batch-invalid", None);
    }
    let record = match authenticate(sb, tenant, req).await {
        Ok(r) => r,
        Err(resp) => return (resp, "batch", None),
    };
    let results: Vec<Value> = entries
        .iter()
        .map(|e| {
            let url = e["request"]["url"].as_str().unwrap_or_default().trim_start_matches('/');
            let (path, query) = url.split_once('?').unwrap_or((url, ""));
            let parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
            let resp = match parts.as_slice() {
                [rtype] => search(sb, tenant, &record, rtype, query),
                [rtype, id] => read(sb, tenant, &record, rtype, id, query),
                _ => outcome(400, "not-supported", "entry url must be Type/id or Type?query"),
            };
            let body = match resp.body {
                super::Body::Fhir(v) => v,
                _ => Value::Null,
            };
            let status = format!("{} {}", resp.status, reason(resp.status));
            if resp.status == 200 {
                json!({ "resource": body, "response": { "status": status } })
            } else {
                json!({ "response": { "status": status, "outcome": body } })
            }
        })
        .collect();
    let client = Some(record.client_id.clone());
    (
        Response::fhir(200, json!({ "resourceType": "Bundle", "type": "batch-response", "entry": results })),
        "batch",
        client,
    )
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        _ => "Error",
    }
}

fn us_core_profile(rtype: &str) -> Option<&'static str> {
    Some(match rtype {
        "Patient" => "http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient",
        "Encounter" => "http://hl7.org/fhir/us/core/StructureDefinition/us-core-encounter",
        "Practitioner" => "http://hl7.org/fhir/us/core/StructureDefinition/us-core-practitioner",
        "PractitionerRole" => "http://hl7.org/fhir/us/core/StructureDefinition/us-core-practitionerrole",
        "Location" => "http://hl7.org/fhir/us/core/StructureDefinition/us-core-location",
        "Organization" => "http://hl7.org/fhir/us/core/StructureDefinition/us-core-organization",
        _ => return None,
    })
}

/// Vendor flavour (US Core profiles for MEDITECH) and `_elements` projection.
fn decorate(tenant: &Tenant, resource: &Value, elements: Option<&[String]>) -> Value {
    let mut r = resource.clone();
    if tenant.us_core_profiles()
        && let Some(profile) = r["resourceType"].as_str().and_then(us_core_profile)
    {
        r["meta"]["profile"] = json!([profile]);
    }
    match elements {
        Some(el) => search::project(&r, el),
        None => r,
    }
}

fn capability_statement(sb: &Sandbox, tenant: &Tenant) -> Response {
    let resources: Vec<Value> = sb
        .data
        .types()
        .map(|t| {
            let params: Vec<Value> = search::supported(t)
                .into_iter()
                .map(|p| {
                    let kind = match p {
                        "_id" => "token",
                        "date" => "date",
                        "status" | "type" | "subtype" => "token",
                        _ => "reference",
                    };
                    json!({ "name": p, "type": kind })
                })
                .collect();
            let mut r = json!({
                "type": t,
                "interaction": [{ "code": "read" }, { "code": "search-type" }],
                "searchParam": params
            });
            if tenant.us_core_profiles()
                && let Some(p) = us_core_profile(t)
            {
                r["supportedProfile"] = json!([p]);
            }
            r
        })
        .collect();
    Response::fhir(
        200,
        json!({
            "resourceType": "CapabilityStatement",
            "status": "active",
            "date": "2026-11-20",
            "kind": "instance",
            "software": { "name": format!("chartdesk sandbox EHR ({})", tenant.vendor.label()) },
            "implementation": {
                "description": "SANDBOX — synthetic data, not for production",
                "url": tenant.fhir_base(&sb.public)
            },
            "fhirVersion": "4.0.1",
            "format": ["json"],
            "rest": [{
                "mode": "server",
                "security": {
                    "service": [{ "coding": [{
                        "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                        "code": "SMART-on-FHIR"
                    }]}],
                    "extension": [{
                        "url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
                        "extension": [
                            { "url": "authorize", "valueUri": tenant.endpoint(&sb.public, "authorize") },
                            { "url": "token", "valueUri": tenant.endpoint(&sb.public, "token") }
                        ]
                    }]
                },
                "resource": resources,
                "interaction": [{ "code": "batch" }]
            }]
        }),
    )
}
