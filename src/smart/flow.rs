//! The launch flow: start (EHR or standalone), callback, token exchange, refresh.

use std::collections::HashMap;
use std::sync::Arc;

use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse, BasicTokenType,
};
use oauth2::{
    AuthType, AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet, EndpointSet,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RefreshToken, RequestTokenError, Scope, StandardRevocableToken,
    StandardTokenResponse, TokenResponse, TokenUrl,
};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use subtle::ConstantTimeEq;
use url::Url;

use super::scope::{Scope as Parsed, parse_list};
use super::session::{Context, Pending, Session, Tokens, User, now};
use super::tenant::{ClientCredentials, LaunchKind, Tenant};
use super::{LaunchError, Smart};
use crate::audit::{Agent, AuditRecord, EntityRole, EventKind, Outcome};
use crate::config::{AuthorizeMethod, SigningAlg};
use crate::fhir::discovery::Discovered;
use crate::fhir::http::OAuthHttp;
use crate::keys::random_token;
use crate::kv;

const PENDING_LIFETIME_SECS: i64 = 600;
const ASSERTION_LIFETIME_SECS: i64 = 240;
/// When the EHR omits `expires_in`, assume the token is short-lived.
const DEFAULT_EXPIRES_IN: i64 = 300;
const MAX_LAUNCH_LEN: usize = 8192;

/// SMART launch context arrives as extra token-response members; keep them all.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SmartFields {
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}
impl oauth2::ExtraTokenFields for SmartFields {}

pub type SmartToken = StandardTokenResponse<SmartFields, BasicTokenType>;
type SmartClient = oauth2::Client<
    BasicErrorResponse,
    SmartToken,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

/// How the browser is sent to the EHR's authorize endpoint.
#[derive(Debug)]
pub enum Authorize {
    Redirect(Url),
    /// An auto-submitted form POST (Epic's recommendation for EHR launches).
    Post {
        action: Url,
        fields: Vec<(String, String)>,
    },
}

pub struct Started {
    pub authorize: Authorize,
    pub tenant: Tenant,
    /// A new browser-binding cookie value to set, when the browser had none.
    pub new_binding: Option<String>,
}

pub enum Callback {
    /// A session exists; show `/app/{launch_id}`.
    Done { launch_id: String, tenant: Tenant },
    /// The EHR redirected with `error=`: show the relaunch page.
    EhrError { error: String, description: Option<String>, error_uri: Option<String>, tenant: Tenant },
}

pub(crate) fn digest(value: &str) -> String {
    use base64::Engine;
    use sha2::Digest;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(value.as_bytes()))
}

/// A cookie value we issued: 43 base64url characters.
fn plausible_cookie(v: &str) -> bool {
    v.len() == 43 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl Smart {
    /// `GET|POST /launch?iss=…&launch=…`.
    pub async fn start_ehr(
        &self,
        iss: Option<&str>,
        launch: Option<&str>,
        toolbar: bool,
        cookie: Option<&str>,
    ) -> Result<Started, LaunchError> {
        let iss = iss.map(str::trim).filter(|s| !s.is_empty()).ok_or(LaunchError::MissingParameter("iss"))?;
        let launch = launch.filter(|s| !s.is_empty()).ok_or(LaunchError::MissingParameter("launch"))?;
        if launch.len() > MAX_LAUNCH_LEN {
            return Err(LaunchError::BadParameter("launch"));
        }
        // The allow-list check comes before any outbound request.
        let Some(tenant) = self.tenants.by_issuer(iss).cloned() else {
            let refusal = AuditRecord::new(EventKind::Refusal, Outcome::MinorFailure).reason("unknown_issuer");
            if let Err(e) = self.audit.record(refusal).await {
                tracing::error!(error = %e, "a refusal could not be recorded for audit");
            }
            return Err(LaunchError::UnknownIssuer);
        };
        let kind = if toolbar { LaunchKind::EhrToolbar } else { LaunchKind::Ehr };
        self.start(tenant, kind, Some(launch), iss, cookie).await
    }

    /// `GET /launch/standalone?tenant=…`.
    pub async fn start_standalone(&self, tenant_id: &str, cookie: Option<&str>) -> Result<Started, LaunchError> {
        let tenant = self.tenants.by_id(tenant_id).ok_or_else(|| LaunchError::UnknownTenant(tenant_id.into()))?.clone();
        let aud = tenant.issuer.clone();
        self.start(tenant, LaunchKind::Standalone, None, &aud, cookie).await
    }

    fn oauth_client(&self, tenant: &Tenant, d: &Discovered) -> Result<SmartClient, LaunchError> {
        let bad = |what: &str| LaunchError::EhrUnavailable(format!("unusable {what}"));
        let mut client = oauth2::Client::new(ClientId::new(tenant.client_id.clone()))
            .set_auth_uri(AuthUrl::from_url(d.authorization_endpoint.clone()))
            .set_token_uri(TokenUrl::from_url(d.token_endpoint.clone()))
            .set_redirect_uri(RedirectUrl::new(tenant.redirect_uri.clone()).map_err(|_| bad("redirect URI"))?);
        match &tenant.credentials {
            ClientCredentials::SecretBasic(secret) => {
                client = client
                    .set_client_secret(ClientSecret::new(secret.expose().to_string()))
                    .set_auth_type(AuthType::BasicAuth);
            }
            ClientCredentials::Public | ClientCredentials::PrivateKeyJwt(_) => {
                client = client.set_auth_type(AuthType::RequestBody);
            }
        }
        Ok(client)
    }

    fn http_for(&self, tenant: &Tenant) -> OAuthHttp {
        OAuthHttp::with_headers(self.http.clone(), tenant.extra_headers.clone())
    }

    async fn start(
        &self,
        tenant: Tenant,
        kind: LaunchKind,
        launch: Option<&str>,
        aud: &str,
        cookie: Option<&str>,
    ) -> Result<Started, LaunchError> {
        let tenant = self.tenant_with_overrides(&tenant);
        let discovered = self.discovery(&tenant).await?;
        let (cookie, new_binding) = match cookie.filter(|c| plausible_cookie(c)) {
            Some(c) => (c.to_string(), None),
            None => {
                let c = random_token(32);
                (c.clone(), Some(c))
            }
        };
        let state = random_token(32); // 256 bits from the OS-seeded CSPRNG
        let nonce = random_token(24);
        let verifier = PkceCodeVerifier::new(random_token(48)); // 64 characters
        let challenge = PkceCodeChallenge::from_code_verifier_sha256(&verifier);
        let scope = tenant.scopes(kind).render(tenant.scope_style);
        let key = digest(&state);
        let pending = Pending {
            tenant: tenant.id.clone(),
            binding: digest(&cookie),
            verifier: self.sessions.seal(&format!("pending:{key}"), verifier.secret()).await?,
            nonce: nonce.clone(),
            kind: format!("{kind:?}"),
            scope: scope.clone(),
            created_at: now(),
        };
        let ttl = std::time::Duration::from_secs(PENDING_LIFETIME_SECS as u64);
        kv::put_json(self.kv.as_ref(), super::session::NS_PENDING, &key, &pending, Some(ttl)).await?;

        let client = self.oauth_client(&tenant, &discovered)?;
        let mut request = client
            .authorize_url(|| CsrfToken::new(state.clone()))
            .add_scopes(scope.split(' ').map(|s| Scope::new(s.to_string())))
            .set_pkce_challenge(challenge)
            .add_extra_param("aud", aud)
            .add_extra_param("nonce", &nonce);
        if let Some(l) = launch {
            request = request.add_extra_param("launch", l);
        }
        let (url, _) = request.url();
        let authorize = match tenant.authorize_method {
            AuthorizeMethod::Get => Authorize::Redirect(url),
            AuthorizeMethod::Post => {
                let fields = url.query_pairs().into_owned().collect();
                let mut action = url;
                action.set_query(None);
                Authorize::Post { action, fields }
            }
        };
        tracing::info!(tenant = %tenant.id, kind = ?kind, "launch started");
        Ok(Started { authorize, tenant, new_binding })
    }

    /// `GET /callback`: `state` first, then either the EHR's error or the code exchange.
    /// Every failure is recorded for audit (with a reason code, never request text).
    pub async fn callback(
        &self,
        params: &HashMap<String, String>,
        cookie: Option<&str>,
    ) -> Result<Callback, LaunchError> {
        let result = self.callback_inner(params, cookie).await;
        let failure = match &result {
            Ok(Callback::EhrError { error, tenant, .. }) => Some((oauth_code(error), Some(tenant.id.clone()))),
            Err(e) => Some((failure_reason(e), None)),
            Ok(Callback::Done { .. }) => None,
        };
        if let Some((reason, tenant)) = failure {
            let record = AuditRecord::new(EventKind::LaunchFailed, Outcome::MinorFailure)
                .agent(Agent { tenant, ..Agent::default() })
                .reason(reason);
            if let Err(e) = self.audit.record(record).await {
                tracing::error!(error = %e, "a launch failure could not be recorded for audit");
            }
        }
        result
    }

    async fn callback_inner(
        &self,
        params: &HashMap<String, String>,
        cookie: Option<&str>,
    ) -> Result<Callback, LaunchError> {
        let state = params.get("state").filter(|s| !s.is_empty()).ok_or(LaunchError::StateInvalid)?;
        let key = digest(state);
        let pending: Pending = kv::take_json(self.kv.as_ref(), super::session::NS_PENDING, &key)
            .await?
            .ok_or(LaunchError::StateInvalid)?;
        if now() - pending.created_at > PENDING_LIFETIME_SECS {
            return Err(LaunchError::StateInvalid);
        }
        let cookie = cookie.ok_or(LaunchError::CookieMissing)?;
        if !bool::from(digest(cookie).as_bytes().ct_eq(pending.binding.as_bytes())) {
            return Err(LaunchError::StateInvalid);
        }
        let tenant = self.tenants.by_id(&pending.tenant).ok_or(LaunchError::StateInvalid)?.clone();

        if let Some(error) = params.get("error") {
            let error: String = error.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '_').take(64).collect();
            tracing::warn!(tenant = %tenant.id, error = %error, "the EHR answered the authorization request with an error");
            return Ok(Callback::EhrError {
                error,
                description: params.get("error_description").map(|d| d.chars().take(500).collect()),
                error_uri: params
                    .get("error_uri")
                    .filter(|u| u.starts_with("https://") && Url::parse(u).is_ok())
                    .cloned(),
                tenant,
            });
        }
        let code = params.get("code").filter(|c| !c.is_empty()).ok_or(LaunchError::MissingParameter("code"))?;
        let discovered = self.discovery(&tenant).await?;
        // RFC 9207 mix-up defence: an `iss` in the response must be the issuer we called.
        if let (Some(iss), Some(expected)) = (params.get("iss"), &discovered.issuer)
            && iss.trim_end_matches('/') != expected
        {
            return Err(LaunchError::IssuerMismatch);
        }
        let verifier = PkceCodeVerifier::new(self.sessions.open(&format!("pending:{key}"), &pending.verifier).await?);
        let client = self.oauth_client(&tenant, &discovered)?;
        let mut exchange = client.exchange_code(AuthorizationCode::new(code.clone())).set_pkce_verifier(verifier);
        if let ClientCredentials::PrivateKeyJwt(alg) = tenant.credentials {
            let assertion = self.client_assertion(&tenant, &discovered, alg)?;
            exchange = exchange
                .add_extra_param("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
                .add_extra_param("client_assertion", assertion);
        }
        let token = exchange.request_async(&self.http_for(&tenant)).await.map_err(token_error)?;

        let requested_openid = pending.scope.split(' ').any(|s| s == "openid");
        let id_token = token.extra_fields().extra.get("id_token").and_then(Value::as_str).map(String::from);
        let user = match (&id_token, requested_openid) {
            (Some(raw), _) => self.verify_id_token(&tenant, &discovered, raw, Some(&pending.nonce)).await?,
            (None, true) => {
                tracing::warn!(tenant = %tenant.id, "openid was requested but the EHR returned no id_token: unknown user");
                User::default()
            }
            (None, false) => User::default(),
        };
        let launch_id = random_token(32);
        let session = self.new_session(&launch_id, &tenant, &pending, user, &token).await?;
        self.sessions.save(&session).await?;
        // No audit, no session: a login that cannot be recorded does not happen.
        let agent = session_agent(&session, &tenant);
        self.audit
            .record(
                AuditRecord::new(EventKind::TokenGrant, Outcome::Success)
                    .agent(agent.clone())
                    .entity(EntityRole::Session, session_entity(&launch_id))
                    .number("granted_scopes", session.granted_scopes.len() as i64),
            )
            .await?;
        if !session.dropped_scopes.is_empty() {
            self.audit
                .record(
                    AuditRecord::new(EventKind::Refusal, Outcome::MinorFailure)
                        .agent(agent.clone())
                        .entity(EntityRole::Session, session_entity(&launch_id))
                        .reason("write_scope_dropped")
                        .number("dropped_scopes", session.dropped_scopes.len() as i64),
                )
                .await?;
        }
        let mut login = AuditRecord::new(EventKind::Login, Outcome::Success)
            .agent(agent)
            .entity(EntityRole::Session, session_entity(&launch_id))
            .reason(if pending.kind == "Standalone" { "standalone_launch" } else { "ehr_launch" });
        if let Some(p) = &session.context.patient {
            login = login.entity(EntityRole::Patient, format!("Patient/{p}"));
        }
        self.audit.record(login).await?;
        // chartdesk's own login history ("last login" where the EHR offers none).
        if let Some(key) = user_key(&session) {
            let row = crate::store::LoginRow {
                tenant: tenant.id.clone(),
                at_ms: session.created_at * 1000,
                location: session.context.login_department.clone().or(session.context.location.clone()),
            };
            if let Err(e) = self.store.login_insert(&key, &row).await {
                tracing::warn!(error = %e, "the login could not be added to chartdesk's login history");
            }
        }
        tracing::info!(tenant = %tenant.id, kind = %pending.kind, "launch completed");
        Ok(Callback::Done { launch_id, tenant })
    }

    /// A `private_key_jwt` client assertion (SMART asymmetric client authentication).
    fn client_assertion(&self, tenant: &Tenant, d: &Discovered, alg: SigningAlg) -> Result<String, LaunchError> {
        let key = match alg {
            SigningAlg::RS384 => &self.keys.rs384,
            SigningAlg::ES384 => &self.keys.es384,
        };
        let t = now();
        let claims = json!({
            "iss": tenant.client_id,
            "sub": tenant.client_id,
            "aud": d.token_endpoint.as_str(),
            "exp": t + ASSERTION_LIFETIME_SECS,
            "iat": t,
            "jti": uuid::Uuid::new_v4().to_string(),
        });
        key.sign(&claims).map_err(|_| LaunchError::EhrUnavailable("cannot sign the client assertion".into()))
    }

    async fn new_session(
        &self,
        launch_id: &str,
        tenant: &Tenant,
        pending: &Pending,
        user: User,
        token: &SmartToken,
    ) -> Result<Session, LaunchError> {
        let granted: Vec<String> = match token.scopes() {
            Some(s) => s.iter().map(|x| x.to_string()).filter(|x| !x.trim().is_empty()).collect(),
            None => pending.scope.split(' ').map(String::from).collect(),
        };
        let (granted_scopes, dropped_scopes) = split_writes(&granted);
        if !dropped_scopes.is_empty() {
            tracing::warn!(tenant = %tenant.id, dropped = ?dropped_scopes, "the EHR granted write scopes; they are dropped and never used");
        }
        let t = now();
        let tokens = Tokens {
            access_token: token.access_token().secret().clone(),
            refresh_token: token.refresh_token().map(|r| r.secret().clone()),
        };
        Ok(Session {
            launch_id: launch_id.to_string(),
            binding: pending.binding.clone(),
            tenant: tenant.id.clone(),
            kind: pending.kind.clone(),
            user,
            granted_scopes,
            dropped_scopes,
            context: context_from(&token.extra_fields().extra),
            tokens: self.sessions.seal_tokens(launch_id, &tokens).await?,
            token_issued_at: t,
            token_expires_at: t + token.expires_in().map(|d| d.as_secs() as i64).unwrap_or(DEFAULT_EXPIRES_IN),
            can_refresh: tokens.refresh_token.is_some(),
            created_at: t,
            last_seen: t,
            chart: None,
        })
    }

    fn refresh_lock(&self, launch_id: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.refresh_locks.lock().unwrap_or_else(|p| p.into_inner());
        locks.retain(|_, l| Arc::strong_count(l) > 1);
        locks.entry(launch_id.to_string()).or_default().clone()
    }

    /// Refresh the session's access token. Single-flight per launch: concurrent callers wait
    /// and reuse the first refresh. Only when a refresh token was issued; a response without a
    /// new refresh token keeps the old one.
    pub async fn refresh(&self, stale: &Session) -> Result<Session, LaunchError> {
        let lock = self.refresh_lock(&stale.launch_id);
        let _guard = lock.lock().await;
        let current = self.sessions.reload(&stale.launch_id).await?.ok_or(LaunchError::SessionEnded)?;
        if current.token_issued_at > stale.token_issued_at || current.tokens != stale.tokens {
            return Ok(current); // someone else refreshed while we waited
        }
        let tokens = self.sessions.tokens(&current).await?;
        let Some(refresh_token) = tokens.refresh_token.clone() else {
            return Err(LaunchError::SessionEnded);
        };
        let tenant = self.tenants.by_id(&current.tenant).ok_or(LaunchError::SessionEnded)?.clone();
        let discovered = self.discovery(&tenant).await?;
        let client = self.oauth_client(&tenant, &discovered)?;
        let presented = RefreshToken::new(refresh_token.clone());
        let mut request = client.exchange_refresh_token(&presented);
        if let ClientCredentials::PrivateKeyJwt(alg) = tenant.credentials {
            request = request
                .add_extra_param("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
                .add_extra_param("client_assertion", self.client_assertion(&tenant, &discovered, alg)?);
        }
        let agent = session_agent(&current, &tenant);
        let token = match request.request_async(&self.http_for(&tenant)).await {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(tenant = %tenant.id, "refresh refused: the clinician must relaunch");
                self.sessions.delete(&current.launch_id).await?;
                let record = AuditRecord::new(EventKind::TokenGrant, Outcome::SeriousFailure)
                    .agent(agent)
                    .entity(EntityRole::Session, session_entity(&current.launch_id))
                    .reason("refresh_refused");
                if let Err(e) = self.audit.record(record).await {
                    tracing::error!(error = %e, "a refused refresh could not be recorded for audit");
                }
                return Err(token_error(e));
            }
        };
        let mut next = current.clone();
        let renewed = Tokens {
            access_token: token.access_token().secret().clone(),
            // Keep the old refresh token when none comes back (Oracle Health does not rotate).
            refresh_token: Some(token.refresh_token().map(|r| r.secret().clone()).unwrap_or(refresh_token)),
        };
        next.tokens = self.sessions.seal_tokens(&next.launch_id, &renewed).await?;
        let t = now();
        next.token_issued_at = t.max(current.token_issued_at + 1);
        next.token_expires_at = t + token.expires_in().map(|d| d.as_secs() as i64).unwrap_or(DEFAULT_EXPIRES_IN);
        if let Some(scopes) = token.scopes() {
            let granted: Vec<String> = scopes.iter().map(|s| s.to_string()).filter(|s| !s.trim().is_empty()).collect();
            let (keep, dropped) = split_writes(&granted);
            next.granted_scopes = keep;
            next.dropped_scopes.extend(dropped);
        }
        self.sessions.save(&next).await?;
        self.audit
            .record(
                AuditRecord::new(EventKind::TokenGrant, Outcome::Success)
                    .agent(agent)
                    .entity(EntityRole::Session, session_entity(&next.launch_id))
                    .reason("refresh"),
            )
            .await?;
        tracing::info!(tenant = %tenant.id, "access token refreshed");
        Ok(next)
    }
}

/// The audit agent of a session: references and ids only.
pub(crate) fn session_agent(s: &Session, tenant: &Tenant) -> Agent {
    Agent {
        who: s.user.fhir_user.as_ref().map(|u| format!("{}/{}", u.resource_type, u.id)),
        user_key: user_key(s),
        tenant: Some(tenant.id.clone()),
        roles: s.chart.as_ref().map(|c| c.mapped_roles.clone()).unwrap_or_default(),
        client_id: Some(tenant.client_id.clone()),
    }
}

/// The opaque key of a session's user: a digest of the OIDC issuer and subject.
pub(crate) fn user_key(s: &Session) -> Option<String> {
    match (&s.user.iss, &s.user.sub) {
        (Some(iss), Some(sub)) => Some(digest(&format!("{iss}|{sub}"))),
        _ => None,
    }
}

/// A session's audit entity: a digest of the launch id (the id itself opens the session).
pub(crate) fn session_entity(launch_id: &str) -> String {
    format!("session:{}", &digest(launch_id)[..16])
}

/// The OAuth error codes of RFC 6749, as static audit reasons.
fn oauth_code(error: &str) -> &'static str {
    match error {
        "invalid_request" => "ehr_error:invalid_request",
        "invalid_client" => "ehr_error:invalid_client",
        "invalid_grant" => "ehr_error:invalid_grant",
        "unauthorized_client" => "ehr_error:unauthorized_client",
        "access_denied" => "ehr_error:access_denied",
        "unsupported_response_type" => "ehr_error:unsupported_response_type",
        "invalid_scope" => "ehr_error:invalid_scope",
        "server_error" => "ehr_error:server_error",
        "temporarily_unavailable" => "ehr_error:temporarily_unavailable",
        _ => "ehr_error:other",
    }
}

fn failure_reason(e: &LaunchError) -> &'static str {
    match e {
        LaunchError::MissingParameter(_) | LaunchError::BadParameter(_) => "bad_launch_parameters",
        LaunchError::UnknownIssuer | LaunchError::UnknownTenant(_) => "unknown_issuer",
        LaunchError::StateInvalid => "state_invalid",
        LaunchError::CookieMissing => "cookie_missing",
        LaunchError::IssuerMismatch => "issuer_mismatch",
        LaunchError::Discovery(_) | LaunchError::EhrUnavailable(_) => "ehr_unavailable",
        LaunchError::TokenRejected(_) => "token_rejected",
        LaunchError::IdentityInvalid(_) => "identity_invalid",
        LaunchError::SessionEnded => "session_ended",
        LaunchError::Storage(_) | LaunchError::Audit(_) => "storage_unavailable",
    }
}

/// Split granted scopes into the usable ones and the write scopes to drop.
pub(crate) fn split_writes(granted: &[String]) -> (Vec<String>, Vec<String>) {
    let mut keep = Vec::new();
    let mut dropped = Vec::new();
    for s in granted {
        match parse_list(s).0.first() {
            Some(Parsed::Resource(r)) if r.perms.is_write() => dropped.push(s.clone()),
            _ => keep.push(s.clone()),
        }
    }
    (keep, dropped)
}

fn token_error<E: std::error::Error + 'static>(e: RequestTokenError<E, BasicErrorResponse>) -> LaunchError {
    match e {
        RequestTokenError::ServerResponse(r) => {
            tracing::warn!(error = %r.error(), "the token endpoint refused the request");
            LaunchError::TokenRejected(r.error().to_string())
        }
        RequestTokenError::Request(_) => LaunchError::EhrUnavailable("token endpoint unreachable".into()),
        RequestTokenError::Parse(_, _) => LaunchError::EhrUnavailable("malformed token response".into()),
        RequestTokenError::Other(m) => LaunchError::EhrUnavailable(m),
    }
}

/// `need_patient_banner` as a boolean or a string; absent means show the banner.
fn banner(v: Option<&Value>) -> bool {
    match v {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => !s.trim().eq_ignore_ascii_case("false"),
        _ => true,
    }
}

/// Launch context from the token response members (the tokens themselves excluded).
pub(crate) fn context_from(extra: &Map<String, Value>) -> Context {
    let s = |k: &str| extra.get(k).and_then(Value::as_str).map(String::from).filter(|v| !v.is_empty());
    let fhir_context: Vec<Value> = extra.get("fhirContext").and_then(Value::as_array).cloned().unwrap_or_default();
    let context_location = fhir_context
        .iter()
        .filter_map(|c| c["reference"].as_str())
        .find_map(|r| r.strip_prefix("Location/").map(String::from));
    let known = [
        "patient",
        "encounter",
        "need_patient_banner",
        "smart_style_url",
        "tenant",
        "intent",
        "location",
        "loginDepartment",
        "fhirContext",
        "id_token",
    ];
    Context {
        patient: s("patient"),
        encounter: s("encounter"),
        need_patient_banner: banner(extra.get("need_patient_banner")),
        smart_style_url: s("smart_style_url"),
        tenant: s("tenant"),
        location: s("location").or(context_location),
        login_department: s("loginDepartment"),
        intent: s("intent"),
        fhir_context,
        extra: extra
            .iter()
            .filter(|(k, _)| !known.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_scopes_are_split_off() {
        let granted: Vec<String> =
            ["launch", "patient/Patient.rs", "patient/Patient.cruds", "user/*.write", "user/Location.read", "epic.x"]
                .map(String::from)
                .to_vec();
        let (keep, dropped) = split_writes(&granted);
        assert_eq!(keep, ["launch", "patient/Patient.rs", "user/Location.read", "epic.x"]);
        assert_eq!(dropped, ["patient/Patient.cruds", "user/*.write"]);
    }

    #[test]
    fn context_parsing_is_lenient() {
        let extra: Map<String, Value> = serde_json::from_value(json!({
            "patient": "p1", "encounter": "", "need_patient_banner": "FALSE", "loginDepartment": "d1",
            "fhirContext": [{"reference": "Location/l9"}], "custom": {"x": 1}, "id_token": "secret"
        }))
        .unwrap();
        let c = context_from(&extra);
        assert_eq!(c.patient.as_deref(), Some("p1"));
        assert_eq!(c.encounter, None, "empty strings count as absent");
        assert!(!c.need_patient_banner);
        assert_eq!(c.location.as_deref(), Some("l9"));
        assert_eq!(c.login_department.as_deref(), Some("d1"));
        assert!(c.extra.contains_key("custom") && !c.extra.contains_key("id_token"));
        assert!(
            banner(None) && banner(Some(&json!(true))) && banner(Some(&json!("true"))) && !banner(Some(&json!(false)))
        );
    }
}
