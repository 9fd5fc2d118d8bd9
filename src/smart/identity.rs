//! id_token verification (OIDC Core § 3.1.3.7) and `fhirUser` normalisation.

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use openidconnect::core::{
    CoreGenderClaim, CoreIdTokenVerifier, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm,
    CoreProviderMetadata,
};
use openidconnect::{
    AdditionalClaims, ClaimsVerificationError, ClientId, IdToken, IssuerUrl, Nonce, SignatureVerificationError,
};
use serde::{Deserialize, Serialize};

use super::session::{FhirUser, User};
use super::tenant::Tenant;
use super::{LaunchError, Smart};
use crate::fhir::discovery::Discovered;
use crate::fhir::http::OAuthHttp;

const OIDC_TTL: Duration = Duration::from_secs(3600);
const CLOCK_SKEW: chrono::TimeDelta = chrono::TimeDelta::seconds(60);
const USER_TYPES: &[&str] = &["Practitioner", "PractitionerRole", "Patient", "RelatedPerson", "Person"];

#[derive(Debug, Clone, Serialize, Deserialize)]
struct SmartClaims {
    #[serde(rename = "fhirUser", default)]
    fhir_user: Option<String>,
    /// Legacy (SMART 1.0) name of `fhirUser`.
    #[serde(default)]
    profile: Option<String>,
}
impl AdditionalClaims for SmartClaims {}

type SmartIdToken = IdToken<SmartClaims, CoreGenderClaim, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm>;

enum Failure {
    UnknownKey,
    Invalid(String),
}

impl Smart {
    async fn oidc_metadata(
        &self,
        tenant: &Tenant,
        issuer: &str,
        fresh: bool,
    ) -> Result<Arc<CoreProviderMetadata>, LaunchError> {
        if !fresh
            && let Some((at, m)) = self.oidc.read().await.get(issuer)
            && at.elapsed() < OIDC_TTL
        {
            return Ok(m.clone());
        }
        let url =
            IssuerUrl::new(issuer.to_string()).map_err(|_| LaunchError::IdentityInvalid("bad issuer URL".into()))?;
        let http = OAuthHttp::with_headers(self.http.clone(), tenant.extra_headers.clone());
        let meta = CoreProviderMetadata::discover_async(url, &http)
            .await
            .map_err(|_| LaunchError::EhrUnavailable("the EHR's OpenID configuration could not be read".into()))?;
        let meta = Arc::new(meta);
        self.oidc.write().await.insert(issuer.to_string(), (Instant::now(), meta.clone()));
        Ok(meta)
    }

    /// Verify an id_token; one JWKS refetch when its key id is unknown (key rotation).
    pub(super) async fn verify_id_token(
        &self,
        tenant: &Tenant,
        discovered: &Discovered,
        raw: &str,
        nonce: Option<&str>,
    ) -> Result<User, LaunchError> {
        let issuer = discovered
            .issuer
            .clone()
            .ok_or_else(|| LaunchError::IdentityInvalid("the EHR advertises no OpenID issuer".into()))?;
        let meta = self.oidc_metadata(tenant, &issuer, false).await?;
        let user = match verify(&meta, tenant, raw, nonce) {
            Err(Failure::UnknownKey) => {
                let meta = self.oidc_metadata(tenant, &issuer, true).await?;
                verify(&meta, tenant, raw, nonce)
            }
            other => other,
        };
        match user {
            Ok(u) => Ok(u),
            Err(Failure::UnknownKey) => Err(LaunchError::IdentityInvalid("signed with an unknown key".into())),
            Err(Failure::Invalid(why)) => {
                tracing::warn!(tenant = %tenant.id, reason = %why, "id_token rejected");
                Err(LaunchError::IdentityInvalid(why))
            }
        }
    }
}

fn verify(meta: &CoreProviderMetadata, tenant: &Tenant, raw: &str, nonce: Option<&str>) -> Result<User, Failure> {
    use CoreJwsSigningAlgorithm as A;
    let token = SmartIdToken::from_str(raw).map_err(|_| Failure::Invalid("not a signed JWT".into()))?;
    let verifier = CoreIdTokenVerifier::new_public_client(
        ClientId::new(tenant.client_id.clone()),
        meta.issuer().clone(),
        meta.jwks().clone(),
    )
    .set_allowed_algs([
        A::RsaSsaPkcs1V15Sha256,
        A::RsaSsaPkcs1V15Sha384,
        A::RsaSsaPkcs1V15Sha512,
        A::EcdsaP256Sha256,
        A::EcdsaP384Sha384,
    ])
    .set_time_fn(|| chrono::Utc::now() - CLOCK_SKEW);
    let expected = nonce.map(|n| Nonce::new(n.to_string()));
    let claims = match &expected {
        Some(n) => token.claims(&verifier, n),
        None => token.claims(&verifier, |_: Option<&Nonce>| Ok(())),
    }
    .map_err(|e| match e {
        ClaimsVerificationError::SignatureVerification(SignatureVerificationError::NoMatchingKey) => {
            Failure::UnknownKey
        }
        ClaimsVerificationError::SignatureVerification(_) => Failure::Invalid("bad signature or algorithm".into()),
        ClaimsVerificationError::Expired(_) => Failure::Invalid("expired".into()),
        ClaimsVerificationError::InvalidAudience(_) => Failure::Invalid("issued to another client".into()),
        ClaimsVerificationError::InvalidIssuer(_) => Failure::Invalid("issued by another server".into()),
        ClaimsVerificationError::InvalidNonce(_) => Failure::Invalid("nonce mismatch".into()),
        _ => Failure::Invalid("invalid claims".into()),
    })?;
    let extra = claims.additional_claims();
    let fhir_user =
        extra.fhir_user.as_deref().or(extra.profile.as_deref()).and_then(|f| normalise_fhir_user(f, &tenant.issuer));
    Ok(User {
        iss: Some(claims.issuer().to_string()),
        sub: Some(claims.subject().to_string()),
        fhir_user,
        name: claims.name().and_then(|n| n.get(None)).map(|n| n.to_string()),
        preferred_username: claims.preferred_username().map(|u| u.to_string()),
        verified: true,
    })
}

/// `fhirUser` may be relative to the FHIR base or absolute. Only a reference below the
/// tenant's own base is marked `on_tenant` (and ever dereferenced with our token).
pub(crate) fn normalise_fhir_user(raw: &str, base: &str) -> Option<FhirUser> {
    let base = base.trim_end_matches('/');
    let (url, on_tenant) = if raw.starts_with("http://") || raw.starts_with("https://") {
        (raw.to_string(), raw.starts_with(&format!("{base}/")))
    } else {
        (format!("{base}/{}", raw.trim_start_matches('/')), true)
    };
    let mut parts = url.trim_end_matches('/').rsplit('/');
    let id = parts.next()?.to_string();
    let resource_type = parts.next()?.to_string();
    if !USER_TYPES.contains(&resource_type.as_str()) || !crate::fhir::client::valid_id(&id) {
        return None;
    }
    // Anything between the base and Type/id (e.g. `/_history/1`) makes it not ours to read.
    let on_tenant = on_tenant && url == format!("{base}/{resource_type}/{id}");
    Some(FhirUser { resource_type, id, url, on_tenant })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fhir_user_forms() {
        let base = "https://ehr.example/fhir/R4";
        let rel = normalise_fhir_user("Practitioner/pr-1", base).unwrap();
        assert_eq!((rel.resource_type.as_str(), rel.id.as_str(), rel.on_tenant), ("Practitioner", "pr-1", true));
        assert_eq!(rel.url, "https://ehr.example/fhir/R4/Practitioner/pr-1");
        let abs = normalise_fhir_user("https://ehr.example/fhir/R4/Practitioner/pr-1", base).unwrap();
        assert!(abs.on_tenant);
        let foreign = normalise_fhir_user("https://evil.example/fhir/R4/Practitioner/pr-1", base).unwrap();
        assert!(!foreign.on_tenant, "never dereferenced on another origin");
        let sneaky = normalise_fhir_user("https://ehr.example/fhir/R4.evil/Practitioner/pr-1", base).unwrap();
        assert!(!sneaky.on_tenant);
        assert!(normalise_fhir_user("Observation/1", base).is_none());
        assert!(normalise_fhir_user("Practitioner/..", base).is_none());
    }
}
