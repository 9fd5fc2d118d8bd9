//! Sandbox tenants: one simulated EHR per vendor mode, each with its own issuer and FHIR
//! base, so several "EHRs" run side by side. The quirks are those documented in
//! ../shared/guide/smart-launch.md § 2 (vendor matrix).

use serde::Serialize;
use url::Url;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Vendor {
    Generic,
    Epic,
    OracleHealth,
    Meditech,
}

impl Vendor {
    pub fn as_str(self) -> &'static str {
        match self {
            Vendor::Generic => "generic",
            Vendor::Epic => "epic",
            Vendor::OracleHealth => "oracle-health",
            Vendor::Meditech => "meditech",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Vendor::Generic => "Generic SMART EHR",
            Vendor::Epic => "Epic",
            Vendor::OracleHealth => "Oracle Health (Cerner)",
            Vendor::Meditech => "MEDITECH",
        }
    }
}

/// The Oracle Health tenant's made-up Millennium tenant GUID (it appears in the base URL).
pub const ORACLE_TENANT_GUID: &str = "5c1e7b52-8f3d-4c1a-9e6b-2d7f0a93c4e1";

#[derive(Clone, Debug, Serialize)]
pub struct Tenant {
    /// Stable id, also the vendor mode name: `generic`, `epic`, `oracle-health`, `meditech`.
    pub id: &'static str,
    pub vendor: Vendor,
    /// Path of the FHIR base (the `iss` / `aud`), below the server root.
    pub fhir_path: String,
    /// Path of the authorization server (the OIDC issuer).
    pub auth_path: String,
}

impl Tenant {
    pub fn all() -> Vec<Tenant> {
        let t =
            |id, vendor, fhir: &str, auth: &str| Tenant { id, vendor, fhir_path: fhir.into(), auth_path: auth.into() };
        vec![
            t("generic", Vendor::Generic, "/sandbox/generic/fhir", "/sandbox/generic/auth"),
            t(
                "epic",
                Vendor::Epic,
                "/sandbox/epic/interconnect-fhir-oauth/api/FHIR/R4",
                "/sandbox/epic/interconnect-fhir-oauth/oauth2",
            ),
            t(
                "oracle-health",
                Vendor::OracleHealth,
                &format!("/sandbox/oracle-health/r4/{ORACLE_TENANT_GUID}"),
                &format!("/sandbox/oracle-health/tenants/{ORACLE_TENANT_GUID}/protocols/oauth2/profiles/smart-v1"),
            ),
            t("meditech", Vendor::Meditech, "/sandbox/meditech/v2/uscore/STU6", "/sandbox/meditech/oauth"),
        ]
    }

    pub fn fhir_base(&self, public: &Url) -> String {
        join(public, &self.fhir_path)
    }

    pub fn issuer(&self, public: &Url) -> String {
        join(public, &self.auth_path)
    }

    pub fn endpoint(&self, public: &Url, name: &str) -> String {
        format!("{}/{name}", self.issuer(public))
    }

    /// Access-token lifetime in seconds.
    pub fn token_lifetime(&self, configured: u64) -> u64 {
        match self.vendor {
            Vendor::OracleHealth => 570,
            _ => configured,
        }
    }

    /// `token_type` as the vendor spells it (Epic and Oracle send lowercase).
    pub fn token_type(&self) -> &'static str {
        match self.vendor {
            Vendor::Epic | Vendor::OracleHealth => "bearer",
            _ => "Bearer",
        }
    }

    /// Does a refresh return a new refresh token (and revoke the old one)?
    pub fn rotates_refresh_tokens(&self) -> bool {
        self.vendor != Vendor::OracleHealth
    }

    /// Epic issues refresh tokens to confidential clients without `offline_access` in `scope`.
    pub fn refresh_for_confidential_clients(&self) -> bool {
        self.vendor == Vendor::Epic
    }

    /// Is `fhirUser` in the id_token an absolute URL?
    pub fn absolute_fhir_user(&self) -> bool {
        matches!(self.vendor, Vendor::Epic | Vendor::OracleHealth)
    }

    /// Epic's sandbox sends `need_patient_banner` as a string.
    pub fn banner_as_string(&self) -> bool {
        self.vendor == Vendor::Epic
    }

    /// Oracle trims granted scopes to what the client registration allows.
    pub fn trims_scopes(&self) -> bool {
        self.vendor == Vendor::OracleHealth
    }

    /// Oracle adds `error_uri` to OAuth errors.
    pub fn error_uri(&self, public: &Url) -> Option<String> {
        (self.vendor == Vendor::OracleHealth).then(|| join(public, "/sandbox/help/oauth-errors"))
    }

    /// The `tenant` token-response member (Oracle: the Millennium tenant GUID).
    pub fn tenant_param(&self) -> Option<&'static str> {
        match self.vendor {
            Vendor::OracleHealth => Some(ORACLE_TENANT_GUID),
            Vendor::Generic => Some("generic"),
            _ => None,
        }
    }

    /// MEDITECH Greenfield serves US Core; resources carry US Core `meta.profile`.
    pub fn us_core_profiles(&self) -> bool {
        self.vendor == Vendor::Meditech
    }

    pub fn capabilities(&self) -> Vec<&'static str> {
        let mut caps = vec![
            "launch-ehr",
            "launch-standalone",
            "client-public",
            "client-confidential-symmetric",
            "sso-openid-connect",
            "context-banner",
            "context-style",
            "context-ehr-patient",
            "context-ehr-encounter",
            "context-standalone-patient",
            "permission-offline",
            "permission-patient",
            "permission-user",
            "permission-v1",
            "authorize-post",
        ];
        match self.vendor {
            Vendor::Generic | Vendor::Epic => caps.extend(["client-confidential-asymmetric", "permission-v2"]),
            Vendor::OracleHealth => caps.push("permission-online"),
            Vendor::Meditech => caps.extend([
                "client-confidential-asymmetric",
                "permission-v2",
                "permission-online",
                "context-standalone-encounter",
            ]),
        }
        caps
    }

    pub fn grant_types(&self) -> Vec<&'static str> {
        vec!["authorization_code", "refresh_token"]
    }

    pub fn auth_methods(&self) -> Vec<&'static str> {
        match self.vendor {
            Vendor::OracleHealth => vec!["client_secret_basic", "none"],
            _ => vec!["client_secret_basic", "private_key_jwt", "none"],
        }
    }
}

fn join(public: &Url, path: &str) -> String {
    format!("{}{path}", public.as_str().trim_end_matches('/'))
}
