//! Tenants: the EHRs chartdesk is registered with. Each tenant is a vendor profile
//! (fhir-profiles/vendors/<vendor>.toml) overridden by its `[[tenants]]` entry.
//!
//! The set of tenants is the issuer allow-list: a launch whose `iss` is not one of them is
//! refused before any outbound request.

use std::collections::BTreeMap;

use serde::Deserialize;
use url::Url;

use super::request::{ReadScope, ReadScopeError, RequestScope, ScopeRequest, ScopeStyle};
use crate::config::{AuthorizeMethod, ClientAuth, Secret, SigningAlg, TenantConfig};

const PROFILES: &[(&str, &str)] = &[
    ("generic", include_str!("../../fhir-profiles/vendors/generic.toml")),
    ("epic", include_str!("../../fhir-profiles/vendors/epic.toml")),
    ("oracle-health", include_str!("../../fhir-profiles/vendors/oracle-health.toml")),
    ("meditech", include_str!("../../fhir-profiles/vendors/meditech.toml")),
];

/// Vendor defaults, as written in the profile file.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VendorProfile {
    pub vendor: String,
    pub label: String,
    pub scope_style: ScopeStyle,
    pub authorize_method: AuthorizeMethod,
    #[serde(default)]
    pub client_id_header: Option<String>,
    pub user_scopes: Vec<String>,
    pub patient_scopes: Vec<String>,
    #[serde(default)]
    pub launch_location: bool,
    pub offline_access: bool,
    pub online_access: bool,
    pub frame_ancestors: Vec<String>,
}

pub fn vendor_profile(vendor: &str) -> Option<VendorProfile> {
    PROFILES
        .iter()
        .find(|(name, _)| *name == vendor)
        .map(|(_, text)| toml::from_str(text).expect("embedded vendor profiles are valid (tested)"))
}

/// How chartdesk authenticates at a tenant's token endpoint.
#[derive(Clone, Debug)]
pub enum ClientCredentials {
    Public,
    SecretBasic(Secret),
    PrivateKeyJwt(SigningAlg),
}

/// A resolved tenant.
#[derive(Clone, Debug)]
pub struct Tenant {
    pub id: String,
    /// The FHIR base: the launch `iss` and the `aud`. No trailing slash.
    pub issuer: String,
    pub vendor: String,
    pub label: String,
    pub client_id: String,
    pub credentials: ClientCredentials,
    pub redirect_uri: String,
    pub scope_style: ScopeStyle,
    pub authorize_method: AuthorizeMethod,
    /// Headers sent on discovery and token calls (e.g. `Epic-Client-ID`).
    pub extra_headers: Vec<(String, String)>,
    pub frame_ancestors: Vec<String>,
    pub user_scopes: Vec<ReadScope>,
    pub patient_scopes: Vec<ReadScope>,
    pub launch_location: bool,
    pub offline_access: bool,
    pub online_access: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum TenantError {
    #[error("tenants[{0}]: unknown vendor `{1}` (generic, epic, oracle-health, meditech)")]
    UnknownVendor(String, String),
    #[error("tenants[{0}]: {1}")]
    Scope(String, ReadScopeError),
    #[error("tenants[{0}]: `{1}` is not a valid URL")]
    BadUrl(String, String),
    #[error("tenants[{0}]: client_secret_basic needs client_secret")]
    MissingSecret(String),
    #[error("tenants[{0}]: issuer {1} is registered twice")]
    Duplicate(String, String),
    #[error("tenants[{0}]: in production the issuer must be an https URL")]
    InsecureIssuer(String),
}

/// What kind of launch a scope request is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LaunchKind {
    /// EHR launch from a patient chart (patient scopes requested).
    Ehr,
    /// EHR launch from a toolbar or dashboard: no patient expected, no patient scopes.
    EhrToolbar,
    /// Standalone launch, asking for a patient picker.
    Standalone,
}

impl Tenant {
    pub fn resolve(c: &TenantConfig, public: &Url, production: bool) -> Result<Tenant, TenantError> {
        let p = vendor_profile(&c.vendor).ok_or_else(|| TenantError::UnknownVendor(c.id.clone(), c.vendor.clone()))?;
        let absolute = |u: &str| -> Result<String, TenantError> {
            public
                .join(u)
                .map(|u| u.as_str().trim_end_matches('/').to_string())
                .map_err(|_| TenantError::BadUrl(c.id.clone(), u.to_string()))
        };
        let issuer = absolute(&c.issuer)?;
        if production && Url::parse(&c.issuer).is_ok() && !issuer.starts_with("https://") {
            return Err(TenantError::InsecureIssuer(c.id.clone()));
        }
        let scopes = |list: &[String]| -> Result<Vec<ReadScope>, TenantError> {
            list.iter().map(|s| s.parse().map_err(|e| TenantError::Scope(c.id.clone(), e))).collect()
        };
        let credentials = match c.client_auth {
            ClientAuth::Public => ClientCredentials::Public,
            ClientAuth::ClientSecretBasic => ClientCredentials::SecretBasic(
                c.client_secret.clone().ok_or_else(|| TenantError::MissingSecret(c.id.clone()))?,
            ),
            ClientAuth::PrivateKeyJwt => ClientCredentials::PrivateKeyJwt(c.signing_alg.unwrap_or(SigningAlg::RS384)),
        };
        let mut extra_headers: BTreeMap<String, String> = BTreeMap::new();
        if let Some(h) = &p.client_id_header {
            extra_headers.insert(h.clone(), c.client_id.clone());
        }
        if let Some(h) = &c.extra_headers {
            extra_headers.extend(h.clone());
        }
        Ok(Tenant {
            id: c.id.clone(),
            issuer,
            vendor: p.vendor.clone(),
            label: p.label.clone(),
            client_id: c.client_id.clone(),
            credentials,
            redirect_uri: public
                .join(&c.redirect_uri)
                .map(|u| u.to_string())
                .map_err(|_| TenantError::BadUrl(c.id.clone(), c.redirect_uri.clone()))?,
            scope_style: c.scope_style.unwrap_or(p.scope_style),
            authorize_method: c.authorize_method.unwrap_or(p.authorize_method),
            extra_headers: extra_headers.into_iter().collect(),
            frame_ancestors: c.frame_ancestors.clone().unwrap_or(p.frame_ancestors),
            user_scopes: scopes(c.user_scopes.as_deref().unwrap_or(&p.user_scopes))?,
            patient_scopes: scopes(c.patient_scopes.as_deref().unwrap_or(&p.patient_scopes))?,
            launch_location: c.launch_location.unwrap_or(p.launch_location),
            offline_access: c.offline_access.unwrap_or(p.offline_access),
            online_access: c.online_access.unwrap_or(p.online_access),
        })
    }

    /// The scope request for a launch of this kind. Read-only by construction.
    pub fn scopes(&self, kind: LaunchKind) -> ScopeRequest {
        let mut q = ScopeRequest::default();
        match kind {
            LaunchKind::Ehr | LaunchKind::EhrToolbar => q.push(RequestScope::Launch),
            LaunchKind::Standalone => q.push(RequestScope::LaunchPatient),
        }
        q.push(RequestScope::OpenId);
        q.push(RequestScope::FhirUser);
        if self.launch_location && kind != LaunchKind::Standalone {
            q.push(RequestScope::LaunchLocation);
        }
        for s in &self.user_scopes {
            q.push(RequestScope::Read(*s));
        }
        if kind != LaunchKind::EhrToolbar {
            for s in &self.patient_scopes {
                q.push(RequestScope::Read(*s));
            }
        }
        if self.online_access {
            q.push(RequestScope::OnlineAccess);
        }
        if self.offline_access {
            q.push(RequestScope::OfflineAccess);
        }
        q
    }
}

/// The allow-list: tenants by issuer.
#[derive(Clone, Debug, Default)]
pub struct Tenants(Vec<Tenant>);

impl Tenants {
    /// Resolve the configured tenants. A relative issuer means "the sandbox on this server":
    /// such tenants exist only while the sandbox is enabled.
    pub fn resolve(
        configs: &[TenantConfig],
        public: &Url,
        production: bool,
        sandbox: bool,
    ) -> Result<Tenants, TenantError> {
        let mut out: Vec<Tenant> = Vec::new();
        for c in configs {
            let relative = Url::parse(&c.issuer).is_err();
            if relative && !sandbox {
                tracing::info!(tenant = %c.id, "tenant skipped: its issuer is the sandbox, which is off");
                continue;
            }
            let t = Tenant::resolve(c, public, production)?;
            if out.iter().any(|x| x.issuer == t.issuer || x.id == t.id) {
                return Err(TenantError::Duplicate(t.id, t.issuer));
            }
            out.push(t);
        }
        Ok(Tenants(out))
    }

    /// Exact match on the FHIR base (a trailing slash is ignored).
    pub fn by_issuer(&self, iss: &str) -> Option<&Tenant> {
        let iss = iss.trim_end_matches('/');
        self.0.iter().find(|t| t.issuer == iss)
    }

    pub fn by_id(&self, id: &str) -> Option<&Tenant> {
        self.0.iter().find(|t| t.id == id)
    }

    pub fn all(&self) -> &[Tenant] {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_vendor_profile_parses_and_is_read_only() {
        for (name, _) in PROFILES {
            let p = vendor_profile(name).unwrap();
            assert_eq!(p.vendor, *name);
            for s in p.user_scopes.iter().chain(&p.patient_scopes) {
                s.parse::<ReadScope>().unwrap_or_else(|e| panic!("{name}: {e}"));
            }
        }
    }

    fn cfg(vendor: &str) -> TenantConfig {
        TenantConfig {
            id: "t".into(),
            issuer: "/fhir".into(),
            vendor: vendor.into(),
            client_id: "c".into(),
            client_auth: ClientAuth::Public,
            client_secret: None,
            signing_alg: None,
            redirect_uri: "/callback".into(),
            scope_style: None,
            authorize_method: None,
            extra_headers: None,
            frame_ancestors: None,
            user_scopes: None,
            patient_scopes: None,
            launch_location: None,
            offline_access: None,
            online_access: None,
        }
    }

    #[test]
    fn profiles_supply_defaults_and_tenants_override() {
        let public = Url::parse("http://127.0.0.1:8080").unwrap();
        let t = Tenant::resolve(&cfg("epic"), &public, false).unwrap();
        assert_eq!(t.issuer, "http://127.0.0.1:8080/fhir");
        assert_eq!(t.authorize_method, AuthorizeMethod::Post);
        assert_eq!(t.extra_headers, vec![("Epic-Client-ID".to_string(), "c".to_string())]);
        assert_eq!(
            t.scopes(LaunchKind::Ehr).render(t.scope_style),
            "launch openid fhirUser user/Practitioner.rs user/PractitionerRole.rs user/Location.r patient/Patient.r patient/Encounter.rs"
        );
        assert!(!t.scopes(LaunchKind::EhrToolbar).render(t.scope_style).contains("patient/"));
        let o = Tenant::resolve(&cfg("oracle-health"), &public, false).unwrap();
        assert!(o.scopes(LaunchKind::Ehr).render(o.scope_style).ends_with("patient/Encounter.read online_access"));
        let mut c = cfg("oracle-health");
        c.scope_style = Some(ScopeStyle::V2);
        c.patient_scopes = Some(vec!["patient/Patient.rs".into()]);
        let o = Tenant::resolve(&c, &public, false).unwrap();
        assert!(o.scopes(LaunchKind::Ehr).render(o.scope_style).contains("user/Practitioner.rs"));
        let mut bad = cfg("generic");
        bad.patient_scopes = Some(vec!["patient/Patient.write".into()]);
        assert!(matches!(Tenant::resolve(&bad, &public, false), Err(TenantError::Scope(..))));
        assert!(matches!(Tenant::resolve(&cfg("cerner"), &public, false), Err(TenantError::UnknownVendor(..))));
        let mut plain = cfg("generic");
        plain.issuer = "http://ehr.example/fhir".into();
        assert!(matches!(Tenant::resolve(&plain, &public, true), Err(TenantError::InsecureIssuer(..))));
        let all = Tenants::resolve(&[cfg("generic"), plain.clone()], &public, false, false).unwrap();
        assert_eq!(all.all().len(), 1, "the sandbox tenant is skipped when the sandbox is off");
    }
}
