//! The SMART authorization server of each sandbox tenant: discovery documents, JWKS,
//! `authorize` (GET and POST), a standalone-launch login page and `token`
//! (authorization_code and refresh_token; public, client_secret_basic and private_key_jwt
//! clients). Behaviour follows SMART App Launch 2.2, RFC 6749/7636 and the launcher's error
//! injections; where the launcher is permissive, this server is strict.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use url::Url;

use super::clients::Client;
use super::tenant::{Tenant, Vendor};
use super::{IdTokenFault, LaunchContext, Request, Response, Sandbox, data, pages};
use crate::config::ClientAuth;
use crate::keys::random_token;
use crate::kv;
use crate::smart::scope::{Context, Scope, parse_list};

pub(super) const NS_LAUNCH: &str = "sbx-launch";
pub(super) const NS_ACCESS: &str = "sbx-at";
const NS_CODE: &str = "sbx-code";
const NS_REFRESH: &str = "sbx-rt";
const NS_JTI: &str = "sbx-jti";
const CODE_LIFETIME: Duration = Duration::from_secs(60);
const REFRESH_LIFETIME: Duration = Duration::from_secs(30 * 24 * 3600);
const ASSERTION_MAX_LIFETIME: i64 = 300;
const CLOCK_SKEW: i64 = 30;
const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";

/// The smart-launcher-v2 `auth_error` injections, selectable per launch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthError {
    AuthInvalidClientId,
    AuthInvalidRedirectUri,
    AuthInvalidScope,
    AuthInvalidClientSecret,
    TokenInvalidToken,
    TokenExpiredRefreshToken,
    TokenExpiredRegistrationToken,
    TokenInvalidScope,
    TokenInvalidJti,
    RequestInvalidToken,
    RequestExpiredToken,
}

impl AuthError {
    pub const ALL: [AuthError; 11] = [
        AuthError::AuthInvalidClientId,
        AuthError::AuthInvalidRedirectUri,
        AuthError::AuthInvalidScope,
        AuthError::AuthInvalidClientSecret,
        AuthError::TokenInvalidToken,
        AuthError::TokenExpiredRefreshToken,
        AuthError::TokenExpiredRegistrationToken,
        AuthError::TokenInvalidScope,
        AuthError::TokenInvalidJti,
        AuthError::RequestInvalidToken,
        AuthError::RequestExpiredToken,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AuthError::AuthInvalidClientId => "auth_invalid_client_id",
            AuthError::AuthInvalidRedirectUri => "auth_invalid_redirect_uri",
            AuthError::AuthInvalidScope => "auth_invalid_scope",
            AuthError::AuthInvalidClientSecret => "auth_invalid_client_secret",
            AuthError::TokenInvalidToken => "token_invalid_token",
            AuthError::TokenExpiredRefreshToken => "token_expired_refresh_token",
            AuthError::TokenExpiredRegistrationToken => "token_expired_registration_token",
            AuthError::TokenInvalidScope => "token_invalid_scope",
            AuthError::TokenInvalidJti => "token_invalid_jti",
            AuthError::RequestInvalidToken => "request_invalid_token",
            AuthError::RequestExpiredToken => "request_expired_token",
        }
    }

    pub fn parse(s: &str) -> Option<AuthError> {
        AuthError::ALL.into_iter().find(|e| e.as_str() == s)
    }

    /// Where the injection fires, for the launch page.
    pub fn fires_at(self) -> &'static str {
        match self {
            AuthError::AuthInvalidClientId | AuthError::AuthInvalidRedirectUri | AuthError::AuthInvalidScope => {
                "authorize"
            }
            AuthError::TokenExpiredRefreshToken => "refresh",
            AuthError::RequestInvalidToken | AuthError::RequestExpiredToken => "FHIR requests",
            _ => "code exchange",
        }
    }
}

/// What a `launch` value stands for (kept in the kv store, single-use).
#[derive(Serialize, Deserialize)]
pub(super) struct LaunchRecord {
    pub tenant: String,
    pub client_id: String,
    pub ctx: LaunchContext,
}

#[derive(Serialize, Deserialize)]
struct CodeRecord {
    tenant: String,
    client_id: String,
    redirect_uri: String,
    code_challenge: String,
    scopes: Vec<String>,
    ctx: LaunchContext,
    nonce: Option<String>,
    auth_time: i64,
}

/// What an access token grants; read by the FHIR API.
#[derive(Serialize, Deserialize)]
pub(super) struct AccessRecord {
    pub tenant: String,
    pub client_id: String,
    pub scopes: Vec<String>,
    pub ctx: LaunchContext,
    pub expires_at: i64,
}

#[derive(Serialize, Deserialize)]
struct RefreshRecord {
    tenant: String,
    client_id: String,
    scopes: Vec<String>,
    ctx: LaunchContext,
    auth_time: i64,
}

/// Storage key for a bearer value: its SHA-256, so the kv store never holds usable tokens.
pub(super) fn digest(value: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(value.as_bytes()))
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

pub(super) async fn handle(sb: &Sandbox, tenant: &Tenant, req: &Request<'_>) -> Response {
    match (req.method, req.path) {
        ("GET", "/.well-known/openid-configuration") => Response::json(200, openid_configuration(sb, tenant)),
        ("GET", "/jwks") => {
            let rotated = sb.rotated.load(std::sync::atomic::Ordering::SeqCst);
            let keys = if rotated { vec![&sb.signing, &sb.rotation] } else { vec![&sb.signing] };
            Response::json(200, serde_json::to_value(crate::keys::jwks(&keys)).unwrap_or_default())
                .with_header("cache-control", "public, max-age=300")
        }
        ("GET" | "POST", "/authorize") => authorize(sb, tenant, req).await,
        ("POST", "/token") => token(sb, tenant, req).await,
        (_, "/authorize" | "/token" | "/jwks") => {
            Response::json(405, json!({"error": "invalid_request", "error_description": "method not allowed"}))
                .with_header("allow", if req.path == "/token" { "POST" } else { "GET, POST" })
        }
        _ => Response::json(404, json!({"error": "not_found"})),
    }
}

pub(super) fn smart_configuration(sb: &Sandbox, tenant: &Tenant) -> Value {
    let issuer = tenant.issuer(&sb.public);
    let mut scopes = vec![
        "openid",
        "fhirUser",
        "profile",
        "launch",
        "launch/patient",
        "launch/encounter",
        "offline_access",
        "online_access",
        "patient/*.rs",
        "user/*.rs",
        "patient/*.read",
        "user/*.read",
    ];
    if tenant.vendor == Vendor::Meditech {
        scopes.push("launch/location");
    }
    let mut doc = json!({
        "issuer": issuer,
        "jwks_uri": format!("{issuer}/jwks"),
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "token_endpoint_auth_methods_supported":
            tenant.auth_methods().into_iter().filter(|m| *m != "none").collect::<Vec<_>>(),
        "grant_types_supported": tenant.grant_types(),
        "scopes_supported": scopes,
        "response_types_supported": ["code"],
        "capabilities": tenant.capabilities(),
        "code_challenge_methods_supported": ["S256"],
    });
    if tenant.auth_methods().contains(&"private_key_jwt") {
        doc["token_endpoint_auth_signing_alg_values_supported"] = json!(["RS384", "ES384"]);
    }
    doc
}

pub(super) fn openid_configuration(sb: &Sandbox, tenant: &Tenant) -> Value {
    let issuer = tenant.issuer(&sb.public);
    json!({
        "issuer": issuer,
        "authorization_endpoint": format!("{issuer}/authorize"),
        "token_endpoint": format!("{issuer}/token"),
        "jwks_uri": format!("{issuer}/jwks"),
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": ["openid", "fhirUser", "profile"],
        "claims_supported": ["iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "fhirUser", "profile", "name", "preferred_username"],
        "token_endpoint_auth_methods_supported":
            tenant.auth_methods().into_iter().filter(|m| *m != "none").collect::<Vec<_>>(),
        "grant_types_supported": tenant.grant_types(),
        "code_challenge_methods_supported": ["S256"],
    })
}

/// Parse a form or query string, refusing repeated parameters (RFC 6749 § 3.1).
fn single_params(raw: &[u8]) -> Result<HashMap<String, String>, String> {
    let mut map = HashMap::new();
    for (k, v) in url::form_urlencoded::parse(raw) {
        if map.insert(k.to_string(), v.into_owned()).is_some() {
            return Err(k.into_owned());
        }
    }
    Ok(map)
}

fn is_form(content_type: Option<&str>) -> bool {
    content_type.is_some_and(|c| {
        c.split(';').next().is_some_and(|m| m.trim().eq_ignore_ascii_case("application/x-www-form-urlencoded"))
    })
}

// ----------------------------------------------------------------------------- authorize

async fn authorize(sb: &Sandbox, tenant: &Tenant, req: &Request<'_>) -> Response {
    let raw: &[u8] = if req.method == "POST" {
        if !is_form(req.content_type) {
            return pages::error(
                400,
                "Authorization request not understood",
                "A POST to authorize must be a form (application/x-www-form-urlencoded).",
            );
        }
        req.body
    } else {
        req.query.as_bytes()
    };
    let params = match single_params(raw) {
        Ok(p) => p,
        Err(dup) => {
            return pages::error(
                400,
                "Authorization request refused",
                &format!("The parameter `{dup}` appears more than once."),
            );
        }
    };
    let p = |k: &str| params.get(k).map(String::as_str).filter(|v| !v.is_empty());

    // Until client and redirect URI are trusted, errors are shown here, never redirected.
    let Some(client_id) = p("client_id") else {
        return pages::error(400, "Authorization request refused", "The request has no client_id.");
    };
    let Some(client) = sb.clients.get(tenant.id, client_id) else {
        return pages::error(400, "Unknown application", "This application is not registered with this EHR.");
    };
    let Some(redirect_uri) = p("redirect_uri").filter(|r| client.redirect_uris.iter().any(|u| u == r)) else {
        return pages::error(
            400,
            "Authorization request refused",
            "The redirect_uri is missing or not registered for this application.",
        );
    };
    let state = p("state");
    let fail = |error: &str, description: &str| error_redirect(sb, tenant, redirect_uri, state, error, description);

    if p("response_type") != Some("code") {
        return fail("unsupported_response_type", "response_type must be code");
    }
    if state.is_none() {
        return fail("invalid_request", "state is required");
    }
    match (p("code_challenge"), p("code_challenge_method")) {
        (None, _) => return fail("invalid_request", "PKCE is required: code_challenge is missing"),
        (Some(_), Some("S256")) => {}
        (Some(_), Some(m)) => {
            return fail("invalid_request", &format!("code_challenge_method {m} is not supported; use S256"));
        }
        (Some(_), None) => return fail("invalid_request", "code_challenge_method is required (S256)"),
    }
    let challenge = p("code_challenge").unwrap_or_default();
    if challenge.len() != 43 || !challenge.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
        return fail("invalid_request", "code_challenge is not a base64url SHA-256 value");
    }
    let base = tenant.fhir_base(&sb.public);
    match p("aud") {
        Some(aud) if aud.trim_end_matches('/') == base => {}
        Some(_) => return fail("invalid_request", "aud does not match this FHIR server"),
        None => return fail("invalid_request", "aud is required"),
    }
    let Some(scope) = p("scope") else {
        return fail("invalid_scope", "scope is required");
    };
    let (requested, _unknown) = parse_list(scope);
    let wants_launch = requested.contains(&Scope::Launch);

    let ctx = match p("launch") {
        Some(launch) => {
            if !wants_launch {
                return fail("invalid_scope", "the launch scope is required with a launch parameter");
            }
            let record: Option<LaunchRecord> = match kv::take_json(sb.kv.as_ref(), NS_LAUNCH, &digest(launch)).await {
                Ok(r) => r,
                Err(_) => return fail("temporarily_unavailable", "the EHR cannot complete this launch now"),
            };
            let Some(record) = record else {
                return fail("invalid_request", "launch is unknown, expired or already used");
            };
            if record.tenant != tenant.id || record.client_id != client.client_id {
                return fail("invalid_request", "launch was issued for another application or EHR");
            }
            match record.ctx.auth_error {
                Some(AuthError::AuthInvalidClientId) => {
                    return fail("invalid_client", "Invalid client_id (injected by the sandbox)");
                }
                Some(AuthError::AuthInvalidRedirectUri) => {
                    return fail("invalid_request", "Invalid redirect_uri (injected by the sandbox)");
                }
                Some(AuthError::AuthInvalidScope) => {
                    return fail("invalid_scope", "Invalid scope (injected by the sandbox)");
                }
                _ => {}
            }
            record.ctx
        }
        None if wants_launch => return fail("invalid_scope", "the launch scope needs a launch parameter (EHR launch)"),
        None => {
            // Standalone launch: the user signs in to the EHR (and picks a patient if asked).
            let wants_patient = requested.contains(&Scope::LaunchContext("patient".into()));
            let user = p("sandbox_user").and_then(|u| sb.data.get("Practitioner", u).map(|_| u));
            let patient = p("sandbox_patient").and_then(|id| sb.data.get("Patient", id).map(|_| id));
            match (user, patient) {
                (Some(user), patient) if patient.is_some() || !wants_patient => standalone_context(sb, user, patient),
                _ => return pages::login(sb, tenant, &params, wants_patient),
            }
        }
    };

    let scopes = grant(tenant, client, &requested, &ctx);
    let code = random_token(32);
    let record = CodeRecord {
        tenant: tenant.id.to_string(),
        client_id: client.client_id.clone(),
        redirect_uri: redirect_uri.to_string(),
        code_challenge: challenge.to_string(),
        scopes,
        ctx,
        nonce: p("nonce").map(String::from),
        auth_time: now(),
    };
    if kv::put_json(sb.kv.as_ref(), NS_CODE, &digest(&code), &record, Some(CODE_LIFETIME)).await.is_err() {
        return fail("temporarily_unavailable", "the EHR cannot complete this launch now");
    }
    let mut url = match Url::parse(redirect_uri) {
        Ok(u) => u,
        Err(_) => return pages::error(400, "Authorization request refused", "The redirect_uri is not a URL."),
    };
    url.query_pairs_mut()
        .append_pair("code", &code)
        .append_pair("state", state.unwrap_or_default())
        .append_pair("iss", &tenant.issuer(&sb.public));
    Response::redirect(url.to_string())
}

fn standalone_context(sb: &Sandbox, user: &str, patient: Option<&str>) -> LaunchContext {
    let department = sb.data.role_of(user).and_then(|r| reference_id(&r["location"][0]["reference"]));
    let encounter =
        patient.and_then(|pid| sb.data.encounters_of(pid).first().and_then(|e| e["id"].as_str().map(String::from)));
    LaunchContext {
        practitioner: user.to_string(),
        patient: patient.map(String::from),
        encounter,
        location: department.clone(),
        login_department: department,
        need_patient_banner: true,
        auth_error: None,
        id_token_fault: None,
    }
}

pub(super) fn reference_id(v: &Value) -> Option<String> {
    v.as_str().and_then(|r| r.rsplit('/').next()).map(String::from)
}

/// Which of the requested scopes this EHR grants.
fn grant(tenant: &Tenant, client: &Client, requested: &[Scope], ctx: &LaunchContext) -> Vec<String> {
    let mut granted: Vec<String> = requested
        .iter()
        .filter(|s| match s {
            // No patient in context (a toolbar launch): patient scopes cannot be honoured.
            Scope::Resource(r) => {
                r.context != Context::System && (r.context != Context::Patient || ctx.patient.is_some())
            }
            Scope::Other(_) => false,
            _ => true,
        })
        .map(ToString::to_string)
        .collect();
    if tenant.trims_scopes() {
        let allowed = client.allowed_scopes.as_deref().unwrap_or(&[]);
        granted.retain(|s| allowed.contains(s));
    }
    granted.dedup();
    granted
}

fn error_redirect(
    sb: &Sandbox,
    tenant: &Tenant,
    redirect_uri: &str,
    state: Option<&str>,
    error: &str,
    description: &str,
) -> Response {
    let Ok(mut url) = Url::parse(redirect_uri) else {
        return pages::error(400, "Authorization request refused", description);
    };
    {
        let mut q = url.query_pairs_mut();
        q.append_pair("error", error).append_pair("error_description", description);
        if let Some(s) = state {
            q.append_pair("state", s);
        }
        if let Some(uri) = tenant.error_uri(&sb.public) {
            q.append_pair("error_uri", &uri);
        }
        q.append_pair("iss", &tenant.issuer(&sb.public));
    }
    Response::redirect(url.to_string())
}

// --------------------------------------------------------------------------------- token

fn oauth_error(sb: &Sandbox, tenant: &Tenant, status: u16, error: &str, description: &str) -> Response {
    let mut body = json!({ "error": error, "error_description": description });
    if let Some(uri) = tenant.error_uri(&sb.public) {
        body["error_uri"] = json!(uri);
    }
    Response::json(status, body).no_store()
}

async fn token(sb: &Sandbox, tenant: &Tenant, req: &Request<'_>) -> Response {
    if !is_form(req.content_type) {
        return oauth_error(
            sb,
            tenant,
            400,
            "invalid_request",
            "the token request must be application/x-www-form-urlencoded",
        );
    }
    let params = match single_params(req.body) {
        Ok(p) => p,
        Err(dup) => return oauth_error(sb, tenant, 400, "invalid_request", &format!("parameter {dup} is repeated")),
    };
    let client = match authenticate(sb, tenant, req, &params).await {
        Ok(c) => c,
        Err(resp) => return resp,
    };
    match params.get("grant_type").map(String::as_str) {
        Some("authorization_code") => code_grant(sb, tenant, &client, &params).await,
        Some("refresh_token") => refresh_grant(sb, tenant, &client, &params).await,
        Some(other) => {
            oauth_error(sb, tenant, 400, "unsupported_grant_type", &format!("grant_type {other} is not supported"))
        }
        None => oauth_error(sb, tenant, 400, "invalid_request", "grant_type is required"),
    }
}

async fn authenticate(
    sb: &Sandbox,
    tenant: &Tenant,
    req: &Request<'_>,
    params: &HashMap<String, String>,
) -> Result<Arc<Client>, Response> {
    let invalid = |d: &str| oauth_error(sb, tenant, 401, "invalid_client", d);
    let basic = req
        .authorization
        .and_then(|h| h.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("basic"))
        .map(|(_, v)| v.trim());

    if let Some(encoded) = basic {
        let decoded = STANDARD
            .decode(encoded)
            .ok()
            .and_then(|b| String::from_utf8(b).ok())
            .ok_or_else(|| invalid("malformed Basic credentials"))?;
        let (id, secret) = decoded.split_once(':').ok_or_else(|| invalid("malformed Basic credentials"))?;
        // RFC 6749 § 2.3.1: id and secret are form-urlencoded before base64.
        let id = form_decode(id);
        let secret = form_decode(secret);
        let client = sb.clients.get(tenant.id, &id).ok_or_else(|| invalid("unknown client"))?;
        if client.auth != ClientAuth::ClientSecretBasic {
            return Err(invalid("this client is not registered for client_secret_basic"));
        }
        if params.get("client_id").is_some_and(|c| *c != id) {
            return Err(oauth_error(
                sb,
                tenant,
                400,
                "invalid_request",
                "client_id does not match the Basic credentials",
            ));
        }
        let expected = client.secret.as_ref().map(|s| s.expose().as_bytes()).unwrap_or(&[]);
        if !bool::from(expected.ct_eq(secret.as_bytes())) || expected.is_empty() {
            return Err(
                invalid("client authentication failed").with_header("www-authenticate", "Basic realm=\"sandbox\"")
            );
        }
        return Ok(client.clone());
    }

    if let Some(kind) = params.get("client_assertion_type") {
        if kind != JWT_BEARER {
            return Err(invalid("unsupported client_assertion_type"));
        }
        let assertion = params.get("client_assertion").ok_or_else(|| invalid("client_assertion is missing"))?;
        return verify_assertion(sb, tenant, params, assertion).await;
    }

    let id = params.get("client_id").ok_or_else(|| invalid("client authentication is required"))?;
    let client = sb.clients.get(tenant.id, id).ok_or_else(|| invalid("unknown client"))?;
    if client.auth != ClientAuth::Public {
        return Err(invalid("confidential clients must authenticate"));
    }
    Ok(client.clone())
}

fn form_decode(s: &str) -> String {
    url::form_urlencoded::parse(format!("x={s}").as_bytes()).next().map(|(_, v)| v.into_owned()).unwrap_or_default()
}

#[derive(Deserialize)]
struct AssertionClaims {
    sub: String,
    exp: i64,
    jti: Option<Value>,
}

async fn verify_assertion(
    sb: &Sandbox,
    tenant: &Tenant,
    params: &HashMap<String, String>,
    assertion: &str,
) -> Result<Arc<Client>, Response> {
    let invalid = |d: &str| oauth_error(sb, tenant, 401, "invalid_client", d);
    let header = jsonwebtoken::decode_header(assertion).map_err(|_| invalid("the client assertion is not a JWT"))?;
    if !matches!(header.alg, Algorithm::RS384 | Algorithm::ES384) {
        return Err(invalid("client assertions must be signed with RS384 or ES384"));
    }
    if !header.typ.as_deref().is_some_and(|t| t.eq_ignore_ascii_case("JWT")) {
        return Err(invalid("the client assertion header must have typ JWT"));
    }
    if header.jku.is_some() {
        return Err(invalid("jku does not match a registered JWKS URL"));
    }
    let kid = header.kid.as_deref().ok_or_else(|| invalid("the client assertion header must have a kid"))?;
    let unverified: Value = jsonwebtoken::dangerous::insecure_decode_claims(assertion)
        .map_err(|_| invalid("the client assertion is not a JWT"))?;
    let id = params.get("client_id").map(String::as_str).or_else(|| unverified["iss"].as_str()).unwrap_or_default();
    let client = sb.clients.get(tenant.id, id).ok_or_else(|| invalid("unknown client"))?;
    if client.auth != ClientAuth::PrivateKeyJwt {
        return Err(invalid("this client is not registered for private_key_jwt"));
    }
    let jwk =
        client.jwks.as_ref().and_then(|set| set.find(kid)).ok_or_else(|| invalid("no registered key has this kid"))?;
    if jwk.common.key_algorithm.is_some_and(|a| Algorithm::try_from(a).ok() != Some(header.alg)) {
        return Err(invalid("the key registered under this kid is for another algorithm"));
    }
    let key = DecodingKey::from_jwk(jwk).map_err(|_| invalid("the registered key cannot be used"))?;
    let mut validation = Validation::new(header.alg);
    validation.set_audience(&[tenant.endpoint(&sb.public, "token")]);
    validation.set_issuer(&[&client.client_id]);
    validation.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
    validation.leeway = CLOCK_SKEW as u64;
    let claims = jsonwebtoken::decode::<AssertionClaims>(assertion, &key, &validation)
        .map_err(|e| invalid(&format!("client assertion rejected: {}", describe_jwt_error(&e))))?
        .claims;
    if claims.sub != client.client_id {
        return Err(invalid("client assertion sub must equal the client_id"));
    }
    if claims.exp > now() + ASSERTION_MAX_LIFETIME + CLOCK_SKEW {
        return Err(invalid("client assertion exp is more than five minutes ahead"));
    }
    let jti = match &claims.jti {
        Some(Value::String(j)) if !j.is_empty() && j.len() <= 255 => j.clone(),
        _ => return Err(invalid("client assertion jti must be a unique string")),
    };
    let ttl = Duration::from_secs(u64::try_from(claims.exp - now() + 2 * CLOCK_SKEW).unwrap_or(60).max(60));
    match sb.kv.put_if_absent(NS_JTI, &format!("{}:{jti}", client.client_id), b"1", Some(ttl)).await {
        Ok(true) => Ok(client.clone()),
        Ok(false) => Err(invalid("client assertion jti was already used")),
        Err(_) => Err(oauth_error(sb, tenant, 503, "temporarily_unavailable", "try again later")),
    }
}

fn describe_jwt_error(e: &jsonwebtoken::errors::Error) -> &'static str {
    use jsonwebtoken::errors::ErrorKind::*;
    match e.kind() {
        InvalidSignature => "bad signature",
        ExpiredSignature => "expired",
        InvalidAudience => "aud must be the token endpoint URL",
        InvalidIssuer => "iss must equal the client_id",
        ImmatureSignature => "not yet valid",
        MissingRequiredClaim(_) => "a required claim (iss, sub, aud, exp) is missing",
        _ => "invalid",
    }
}

pub(super) fn pkce_s256(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

fn valid_verifier(v: &str) -> bool {
    (43..=128).contains(&v.len()) && v.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

async fn code_grant(sb: &Sandbox, tenant: &Tenant, client: &Client, params: &HashMap<String, String>) -> Response {
    let bad_grant = |d: &str| oauth_error(sb, tenant, 400, "invalid_grant", d);
    let Some(code) = params.get("code") else {
        return oauth_error(sb, tenant, 400, "invalid_request", "code is required");
    };
    let record: Option<CodeRecord> = match kv::take_json(sb.kv.as_ref(), NS_CODE, &digest(code)).await {
        Ok(r) => r,
        Err(_) => return oauth_error(sb, tenant, 503, "temporarily_unavailable", "try again later"),
    };
    let Some(record) = record else {
        return bad_grant("the code is unknown, expired or already used");
    };
    if record.tenant != tenant.id || record.client_id != client.client_id {
        return bad_grant("the code was issued to another client");
    }
    if params.get("redirect_uri") != Some(&record.redirect_uri) {
        return bad_grant("redirect_uri does not match the authorization request");
    }
    match params.get("code_verifier") {
        Some(v) if valid_verifier(v) && bool::from(pkce_s256(v).as_bytes().ct_eq(record.code_challenge.as_bytes())) => {
        }
        Some(_) => return bad_grant("PKCE verification failed"),
        None => return oauth_error(sb, tenant, 400, "invalid_request", "code_verifier is required"),
    }
    let injected = |error: &str, d: &str| oauth_error(sb, tenant, 401, error, d);
    match record.ctx.auth_error {
        Some(AuthError::AuthInvalidClientSecret) => {
            return injected("invalid_client", "Invalid client secret (injected by the sandbox)");
        }
        Some(AuthError::TokenInvalidToken) => {
            return injected("invalid_client", "Invalid token (injected by the sandbox)");
        }
        Some(AuthError::TokenExpiredRegistrationToken) => {
            return injected("invalid_client", "Registration token expired (injected by the sandbox)");
        }
        Some(AuthError::TokenInvalidScope) => {
            return injected("invalid_scope", "Invalid scope (injected by the sandbox)");
        }
        Some(AuthError::TokenInvalidJti) => return injected("invalid_client", "Invalid jti (injected by the sandbox)"),
        _ => {}
    }
    issue(sb, tenant, client, record.scopes, record.ctx, record.nonce, record.auth_time, None).await
}

async fn refresh_grant(sb: &Sandbox, tenant: &Tenant, client: &Client, params: &HashMap<String, String>) -> Response {
    let Some(token) = params.get("refresh_token") else {
        return oauth_error(sb, tenant, 400, "invalid_request", "refresh_token is required");
    };
    let key = digest(token);
    // Rotating servers make refresh tokens single-use: take it, so a replay finds nothing.
    let fetched = if tenant.rotates_refresh_tokens() {
        kv::take_json::<RefreshRecord>(sb.kv.as_ref(), NS_REFRESH, &key).await
    } else {
        kv::get_json::<RefreshRecord>(sb.kv.as_ref(), NS_REFRESH, &key).await
    };
    let record = match fetched {
        Ok(Some(r)) => r,
        Ok(None) => {
            return oauth_error(
                sb,
                tenant,
                400,
                "invalid_grant",
                "the refresh token is unknown, expired or already used",
            );
        }
        Err(_) => return oauth_error(sb, tenant, 503, "temporarily_unavailable", "try again later"),
    };
    if record.tenant != tenant.id || record.client_id != client.client_id {
        return oauth_error(sb, tenant, 400, "invalid_grant", "the refresh token was issued to another client");
    }
    if record.ctx.auth_error == Some(AuthError::TokenExpiredRefreshToken) {
        return oauth_error(sb, tenant, 403, "invalid_grant", "Expired refresh token (injected by the sandbox)");
    }
    let scopes = match params.get("scope") {
        None => record.scopes.clone(),
        Some(s) => {
            let asked: Vec<String> = s.split_ascii_whitespace().map(String::from).collect();
            if asked.iter().any(|a| !record.scopes.contains(a)) {
                return oauth_error(sb, tenant, 400, "invalid_scope", "a refresh may only narrow the granted scopes");
            }
            asked
        }
    };
    let keep = (!tenant.rotates_refresh_tokens()).then_some(());
    issue(sb, tenant, client, scopes, record.ctx, None, record.auth_time, keep.map(|_| token.as_str())).await
}

#[derive(Serialize)]
struct IdClaims {
    iss: String,
    sub: String,
    aud: String,
    exp: i64,
    iat: i64,
    auth_time: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    nonce: Option<String>,
    #[serde(rename = "fhirUser")]
    fhir_user: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    profile: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    preferred_username: Option<String>,
}

/// Mint an access token (and refresh and id tokens as the grant allows) and build the token
/// response. `kept_refresh` is the refresh token a non-rotating vendor leaves in place.
#[allow(clippy::too_many_arguments)]
async fn issue(
    sb: &Sandbox,
    tenant: &Tenant,
    client: &Client,
    scopes: Vec<String>,
    ctx: LaunchContext,
    nonce: Option<String>,
    auth_time: i64,
    kept_refresh: Option<&str>,
) -> Response {
    let unavailable = || oauth_error(sb, tenant, 503, "temporarily_unavailable", "try again later");
    let lifetime = tenant.token_lifetime(sb.config.token_lifetime_secs);
    let access = random_token(32);
    let record = AccessRecord {
        tenant: tenant.id.to_string(),
        client_id: client.client_id.clone(),
        scopes: scopes.clone(),
        ctx: ctx.clone(),
        expires_at: now() + lifetime as i64,
    };
    if kv::put_json(sb.kv.as_ref(), NS_ACCESS, &digest(&access), &record, Some(Duration::from_secs(lifetime)))
        .await
        .is_err()
    {
        return unavailable();
    }
    let has = |s: &str| scopes.iter().any(|x| x == s);
    let wants_refresh = has("offline_access")
        || has("online_access")
        || (tenant.refresh_for_confidential_clients() && client.is_confidential());
    let new_refresh = if kept_refresh.is_none() && wants_refresh {
        let rt = random_token(32);
        let rr = RefreshRecord {
            tenant: tenant.id.to_string(),
            client_id: client.client_id.clone(),
            scopes: scopes.clone(),
            ctx: ctx.clone(),
            auth_time,
        };
        if kv::put_json(sb.kv.as_ref(), NS_REFRESH, &digest(&rt), &rr, Some(REFRESH_LIFETIME)).await.is_err() {
            return unavailable();
        }
        Some(rt)
    } else {
        None
    };

    let mut scope_text = scopes.join(" ");
    if tenant.vendor == Vendor::Epic {
        scope_text.push(' '); // Epic's responses end the scope list with a space
    }
    let mut body = json!({
        "access_token": access,
        "token_type": tenant.token_type(),
        "expires_in": lifetime,
        "scope": scope_text,
    });
    if let Some(rt) = new_refresh {
        body["refresh_token"] = json!(rt);
    }
    if has("openid") && (has("fhirUser") || has("profile")) {
        match id_token(sb, tenant, client, &ctx, nonce, auth_time, has("profile")) {
            Some(t) => body["id_token"] = json!(t),
            None => return unavailable(),
        }
    }
    let launch_granted = has("launch");
    if let Some(patient) = ctx.patient.as_ref().filter(|_| launch_granted || has("launch/patient")) {
        body["patient"] = json!(patient);
        if tenant.vendor == Vendor::Epic {
            body["__epic.dstu2.patient"] = json!(format!("T{}", patient.replace('-', "")));
        }
    }
    if let Some(enc) = ctx.encounter.as_ref().filter(|_| launch_granted || has("launch/encounter")) {
        body["encounter"] = json!(enc);
    }
    body["need_patient_banner"] = if tenant.banner_as_string() {
        json!(ctx.need_patient_banner.to_string())
    } else {
        json!(ctx.need_patient_banner)
    };
    body["smart_style_url"] = json!(sb.style_url());
    if let Some(t) = tenant.tenant_param() {
        body["tenant"] = json!(t);
    }
    if tenant.vendor == Vendor::Epic {
        if let Some(dep) = &ctx.login_department {
            body["loginDepartment"] = json!(dep);
        }
        if let Some(loc) = &ctx.location {
            body["location"] = json!(loc);
        }
    }
    if tenant.vendor == Vendor::Meditech
        && has("launch/location")
        && let Some(loc) = &ctx.location
    {
        body["fhirContext"] = json!([{ "reference": format!("Location/{loc}") }]);
    }
    if matches!(ctx.auth_error, Some(AuthError::RequestInvalidToken | AuthError::RequestExpiredToken)) {
        body["sim_error"] = json!(if ctx.auth_error == Some(AuthError::RequestExpiredToken) {
            "Access token expired (injected by the sandbox)"
        } else {
            "Invalid access token (injected by the sandbox)"
        });
    }
    Response::json(200, body).no_store()
}

fn id_token(
    sb: &Sandbox,
    tenant: &Tenant,
    client: &Client,
    ctx: &LaunchContext,
    nonce: Option<String>,
    auth_time: i64,
    profile_scope: bool,
) -> Option<String> {
    let reference = format!("Practitioner/{}", ctx.practitioner);
    let fhir_user = if tenant.absolute_fhir_user() {
        format!("{}/{reference}", tenant.fhir_base(&sb.public))
    } else {
        reference.clone()
    };
    let practitioner = sb.data.get("Practitioner", &ctx.practitioner);
    let sub = match tenant.vendor {
        Vendor::Epic => ctx.practitioner.clone(),
        Vendor::OracleHealth => ctx.practitioner.trim_start_matches("pr-").to_string(),
        _ => hex(&Sha256::digest(reference.as_bytes())),
    };
    let fault = ctx.id_token_fault;
    // An expired token: issued two hours ago, so it lapsed well beyond any clock skew.
    let t = if fault == Some(IdTokenFault::Expired) { now() - 7200 } else { now() };
    let claims = IdClaims {
        iss: if fault == Some(IdTokenFault::WrongIss) {
            "https://other-ehr.example/oauth2".into()
        } else {
            tenant.issuer(&sb.public)
        },
        sub,
        aud: if fault == Some(IdTokenFault::WrongAud) { "some-other-app".into() } else { client.client_id.clone() },
        exp: t + if tenant.vendor == Vendor::Epic { 300 } else { 3600 },
        iat: t,
        auth_time,
        nonce: if fault == Some(IdTokenFault::WrongNonce) { Some("not-the-nonce-you-sent".into()) } else { nonce },
        fhir_user: fhir_user.clone(),
        profile: (tenant.vendor == Vendor::Generic).then_some(fhir_user),
        name: (tenant.vendor == Vendor::OracleHealth).then(|| practitioner.map(data::display_name).unwrap_or_default()),
        preferred_username: (tenant.vendor == Vendor::Epic && profile_scope)
            .then(|| ctx.practitioner.trim_start_matches("pr-").to_uppercase()),
    };
    match fault {
        Some(IdTokenFault::RotatedKey) => sb.rotation.sign(&claims).ok(),
        Some(IdTokenFault::AlgNone) => {
            let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#);
            let payload = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).ok()?);
            Some(format!("{header}.{payload}."))
        }
        Some(IdTokenFault::BadSignature) => {
            let jwt = sb.signing.sign(&claims).ok()?;
            let (head, sig) = jwt.rsplit_once('.')?;
            let mut raw = URL_SAFE_NO_PAD.decode(sig).ok()?;
            raw[0] ^= 0x55;
            Some(format!("{head}.{}", URL_SAFE_NO_PAD.encode(raw)))
        }
        _ => sb.signing.sign(&claims).ok(),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Look up a bearer token for the FHIR API.
pub(super) async fn access_record(sb: &Sandbox, token: &str) -> Result<Option<AccessRecord>, crate::kv::KvError> {
    let record: Option<AccessRecord> = kv::get_json(sb.kv.as_ref(), NS_ACCESS, &digest(token)).await?;
    Ok(record.filter(|r| r.expires_at > now()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pkce_matches_rfc7636_appendix_b() {
        assert_eq!(
            pkce_s256("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        assert!(valid_verifier("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"));
        assert!(!valid_verifier("short"));
        assert!(!valid_verifier(&"a".repeat(129)));
        assert!(!valid_verifier(&format!("{}!", "a".repeat(50))));
    }

    #[test]
    fn repeated_parameters_are_refused() {
        assert_eq!(single_params(b"a=1&b=2&a=3").unwrap_err(), "a");
        assert_eq!(single_params(b"a=1&b=x%20y").unwrap()["b"], "x y");
    }

    #[test]
    fn basic_credentials_are_form_decoded() {
        assert_eq!(form_decode("a%2Fb+c"), "a/b c");
    }

    #[test]
    fn auth_errors_round_trip() {
        for e in AuthError::ALL {
            assert_eq!(AuthError::parse(e.as_str()), Some(e));
            assert_eq!(serde_json::to_value(e).unwrap(), json!(e.as_str()));
        }
    }
}
