//! Server-side sessions, one per launch.
//!
//! A session is stored under its launch id (in Redis when configured, otherwise the
//! database) and bound to the browser by a random cookie (only the cookie's digest is
//! stored). Every page carries the launch id, so two launches in one browser (two patients,
//! Hyperspace-style) have two sessions that never see each other. Access and refresh tokens
//! are sealed with AES-256-GCM, bound to the launch id; they never reach the browser.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use subtle::ConstantTimeEq;

use crate::crypto::{CryptoError, DataClass, KeyRing};
use crate::kv::{Kv, KvError};

pub const NS_PENDING: &str = "smart-pending";
pub const NS_SESSION: &str = "session";
/// A session's last activity, kept apart from the record so that marking activity never
/// rewrites (and so never rolls back) a record another request has just updated.
pub const NS_SEEN: &str = "session-seen";

/// An authorization request in flight, stored under the digest of its `state`.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Pending {
    pub tenant: String,
    /// Digest of the browser-binding cookie the request was started with.
    pub binding: String,
    /// The PKCE verifier, sealed.
    pub verifier: String,
    pub nonce: String,
    pub kind: String,
    pub scope: String,
    pub created_at: i64,
}

/// The signed-in user.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct User {
    /// The OIDC issuer and subject: together the user key.
    pub iss: Option<String>,
    pub sub: Option<String>,
    pub fhir_user: Option<FhirUser>,
    /// `name` / `preferred_username` claims, when the id_token carries them.
    pub name: Option<String>,
    pub preferred_username: Option<String>,
    /// false when the EHR returned no id_token although `openid` was requested.
    pub verified: bool,
}

/// `fhirUser`, normalised against the tenant's FHIR base.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FhirUser {
    pub resource_type: String,
    pub id: String,
    pub url: String,
    /// Only a reference on the tenant's own FHIR server is ever dereferenced.
    pub on_tenant: bool,
}

/// Launch context from the token response.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Context {
    pub patient: Option<String>,
    pub encounter: Option<String>,
    pub need_patient_banner: bool,
    pub smart_style_url: Option<String>,
    pub tenant: Option<String>,
    pub location: Option<String>,
    pub login_department: Option<String>,
    pub intent: Option<String>,
    pub fhir_context: Vec<Value>,
    /// Every other member of the token response (never the tokens themselves).
    pub extra: Map<String, Value>,
}

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Session {
    pub launch_id: String,
    pub binding: String,
    pub tenant: String,
    pub kind: String,
    pub user: User,
    pub granted_scopes: Vec<String>,
    pub dropped_scopes: Vec<String>,
    pub context: Context,
    /// Sealed [`Tokens`].
    pub tokens: String,
    pub token_issued_at: i64,
    pub token_expires_at: i64,
    pub can_refresh: bool,
    pub created_at: i64,
    pub last_seen: i64,
    /// The chart context, fetched once per launch (see `context`).
    pub chart: Option<crate::context::ChartData>,
}

impl Session {
    /// The user's place from the token response: (Location id, which parameter named it).
    pub fn place(&self) -> Option<(String, &'static str)> {
        match (&self.context.login_department, &self.context.location) {
            (Some(d), _) => Some((d.clone(), "loginDepartment")),
            (None, Some(l)) => Some((l.clone(), "location")),
            _ => None,
        }
    }
}

/// The secrets of a session; only ever held sealed.
#[derive(Serialize, Deserialize)]
pub struct Tokens {
    pub access_token: String,
    pub refresh_token: Option<String>,
}

pub enum Loaded {
    Active(Box<Session>),
    /// The session existed but its idle or absolute time ran out (now deleted).
    Expired(Box<Session>),
    Missing,
}

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(transparent)]
    Kv(#[from] KvError),
    #[error(transparent)]
    Crypto(#[from] CryptoError),
}

pub struct Sessions {
    kv: Arc<dyn Kv>,
    keys: Arc<KeyRing>,
    idle: Duration,
    absolute: Duration,
}

pub(crate) fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

impl Sessions {
    pub fn new(kv: Arc<dyn Kv>, keys: Arc<KeyRing>, idle: Duration, absolute: Duration) -> Sessions {
        Sessions { kv, keys, idle, absolute }
    }

    pub fn idle_timeout(&self) -> Duration {
        self.idle
    }

    fn aad(launch_id: &str) -> String {
        format!("session:{launch_id}")
    }

    pub async fn seal_tokens(&self, launch_id: &str, tokens: &Tokens) -> Result<String, SessionError> {
        let json = serde_json::to_vec(tokens).expect("tokens serialise");
        Ok(self.keys.seal(DataClass::Token, &Self::aad(launch_id), &json).await?)
    }

    pub async fn tokens(&self, s: &Session) -> Result<Tokens, SessionError> {
        let json = self.keys.open(&Self::aad(&s.launch_id), &s.tokens).await?;
        serde_json::from_slice(&json).map_err(|_| SessionError::Crypto(CryptoError::Malformed))
    }

    pub async fn seal(&self, aad: &str, value: &str) -> Result<String, SessionError> {
        Ok(self.keys.seal(DataClass::Token, aad, value.as_bytes()).await?)
    }

    pub async fn open(&self, aad: &str, sealed: &str) -> Result<String, SessionError> {
        let bytes = self.keys.open(aad, sealed).await?;
        String::from_utf8(bytes).map_err(|_| SessionError::Crypto(CryptoError::Malformed))
    }

    /// Store the session (and mark it active); it lives until its absolute end, and ends
    /// earlier when no activity is marked for the idle timeout. The whole record is sealed (it
    /// holds the user, the patient in context and the cached chart context), bound to its
    /// launch id.
    pub async fn save(&self, s: &Session) -> Result<(), SessionError> {
        let remaining = (s.created_at + self.absolute.as_secs() as i64 - now()).max(1) as u64;
        let json = serde_json::to_vec(s).expect("sessions serialise");
        let sealed = self.keys.seal(DataClass::Token, &format!("session-record:{}", s.launch_id), &json).await?;
        self.kv.put(NS_SESSION, &s.launch_id, sealed.as_bytes(), Some(Duration::from_secs(remaining))).await?;
        self.touch(&s.launch_id).await
    }

    async fn touch(&self, launch_id: &str) -> Result<(), SessionError> {
        self.kv.put(NS_SEEN, launch_id, now().to_string().as_bytes(), Some(self.idle + Duration::from_secs(1))).await?;
        Ok(())
    }

    async fn last_seen(&self, launch_id: &str) -> Result<Option<i64>, SessionError> {
        Ok(self.kv.get(NS_SEEN, launch_id).await?.and_then(|b| String::from_utf8(b).ok()).and_then(|v| v.parse().ok()))
    }

    async fn fetch(&self, launch_id: &str) -> Result<Option<Session>, SessionError> {
        let Some(bytes) = self.kv.get(NS_SESSION, launch_id).await? else { return Ok(None) };
        let sealed = String::from_utf8(bytes).map_err(|_| SessionError::Crypto(CryptoError::Malformed))?;
        match self.keys.open(&format!("session-record:{launch_id}"), &sealed).await {
            Ok(json) => Ok(serde_json::from_slice(&json).ok()),
            // A session sealed with a destroyed key is simply gone.
            Err(CryptoError::Shredded(_)) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Load the session of `launch_id` for the browser whose binding digest is `binding`,
    /// refreshing its idle timer.
    pub async fn load(&self, launch_id: &str, binding: &str) -> Result<Loaded, SessionError> {
        let Some(mut s) = self.fetch(launch_id).await? else {
            return Ok(Loaded::Missing);
        };
        if !bool::from(s.binding.as_bytes().ct_eq(binding.as_bytes())) {
            return Ok(Loaded::Missing);
        }
        let t = now();
        let last_seen = self.last_seen(launch_id).await?.unwrap_or(i64::MIN / 2);
        if t - last_seen > self.idle.as_secs() as i64 || t - s.created_at > self.absolute.as_secs() as i64 {
            self.delete(launch_id).await?;
            return Ok(Loaded::Expired(Box::new(s)));
        }
        s.last_seen = t;
        self.touch(launch_id).await?;
        Ok(Loaded::Active(Box::new(s)))
    }

    /// Load without touching the idle timer or checking the browser (refresh single-flight).
    pub async fn reload(&self, launch_id: &str) -> Result<Option<Session>, SessionError> {
        self.fetch(launch_id).await
    }

    pub async fn delete(&self, launch_id: &str) -> Result<(), SessionError> {
        self.kv.delete(NS_SESSION, launch_id).await?;
        self.kv.delete(NS_SEEN, launch_id).await?;
        Ok(())
    }
}
