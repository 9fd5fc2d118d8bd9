//! SMART discovery: `{iss}/.well-known/smart-configuration` first, the CapabilityStatement's
//! OAuth URIs (`{iss}/metadata`) as the fallback. Relative endpoint URLs are resolved against
//! the FHIR base; unknown or legacy capability names are kept, never fatal.

use serde_json::Value;
use url::Url;

use super::http::{HttpError, get_json};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    WellKnown,
    Metadata,
}

#[derive(Clone, Debug)]
pub struct Discovered {
    pub authorization_endpoint: Url,
    pub token_endpoint: Url,
    /// The OIDC issuer, when the server advertises one (needed to verify id_tokens).
    pub issuer: Option<String>,
    pub capabilities: Vec<String>,
    pub code_challenge_methods: Vec<String>,
    pub source: Source,
}

#[derive(Debug, thiserror::Error)]
pub enum DiscoveryError {
    #[error("the EHR's SMART configuration could not be read ({well_known}; metadata: {metadata})")]
    Unavailable { well_known: HttpError, metadata: HttpError },
    #[error("the EHR's SMART configuration names no usable {0}")]
    Incomplete(&'static str),
}

/// `base` + `/` + `rel` when relative; an absolute URL as is.
fn resolve(base: &str, value: &str) -> Option<Url> {
    let dir = Url::parse(&format!("{}/", base.trim_end_matches('/'))).ok()?;
    dir.join(value).ok().filter(|u| matches!(u.scheme(), "https" | "http"))
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array().map(|a| a.iter().filter_map(|s| s.as_str().map(String::from)).collect()).unwrap_or_default()
}

pub async fn discover(
    client: &reqwest::Client,
    iss: &str,
    headers: &[(String, String)],
) -> Result<Discovered, DiscoveryError> {
    let base = iss.trim_end_matches('/');
    let well_known =
        match get_json(client, &format!("{base}/.well-known/smart-configuration"), "application/json", headers).await {
            Ok(doc) => match from_well_known(base, &doc) {
                Ok(d) => return Ok(d),
                Err(_) => HttpError::Json,
            },
            Err(e) => e,
        };
    match get_json(client, &format!("{base}/metadata"), "application/fhir+json", headers).await {
        Ok(cs) => from_capability_statement(base, &cs),
        Err(metadata) => Err(DiscoveryError::Unavailable { well_known, metadata }),
    }
}

fn from_well_known(base: &str, doc: &Value) -> Result<Discovered, DiscoveryError> {
    let endpoint =
        |k: &'static str| doc[k].as_str().and_then(|v| resolve(base, v)).ok_or(DiscoveryError::Incomplete(k));
    Ok(Discovered {
        authorization_endpoint: endpoint("authorization_endpoint")?,
        token_endpoint: endpoint("token_endpoint")?,
        issuer: doc["issuer"].as_str().map(|s| s.trim_end_matches('/').to_string()),
        capabilities: strings(&doc["capabilities"]),
        code_challenge_methods: strings(&doc["code_challenge_methods_supported"]),
        source: Source::WellKnown,
    })
}

fn from_capability_statement(base: &str, cs: &Value) -> Result<Discovered, DiscoveryError> {
    const OAUTH_URIS: &str = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris";
    let uris = cs["rest"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|r| r["security"]["extension"].as_array().cloned().unwrap_or_default())
        .find(|e| e["url"] == OAUTH_URIS)
        .ok_or(DiscoveryError::Incomplete("oauth-uris extension"))?;
    let find = |name: &'static str| {
        uris["extension"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|e| e["url"] == name)
            .and_then(|e| e["valueUri"].as_str().or(e["valueUrl"].as_str()))
            .and_then(|v| resolve(base, v))
            .ok_or(DiscoveryError::Incomplete(name))
    };
    Ok(Discovered {
        authorization_endpoint: find("authorize")?,
        token_endpoint: find("token")?,
        issuer: None,
        capabilities: Vec::new(),
        code_challenge_methods: Vec::new(),
        source: Source::Metadata,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn relative_endpoints_resolve_against_the_fhir_base() {
        let d = from_well_known(
            "https://ehr.example/fhir/r4",
            &json!({"authorization_endpoint": "../oauth/authorize", "token_endpoint": "token",
                    "capabilities": ["launch-ehr", "context-passthrough-banner"]}),
        )
        .unwrap();
        assert_eq!(d.authorization_endpoint.as_str(), "https://ehr.example/fhir/oauth/authorize");
        assert_eq!(d.token_endpoint.as_str(), "https://ehr.example/fhir/r4/token");
        assert!(d.capabilities.contains(&"context-passthrough-banner".to_string()), "legacy names are kept");
        assert!(d.code_challenge_methods.is_empty(), "a missing PKCE field is not fatal");
        assert!(from_well_known("https://e/f", &json!({"token_endpoint": "t"})).is_err());
        assert!(
            from_well_known("https://e/f", &json!({"authorization_endpoint": "javascript:x", "token_endpoint": "t"}))
                .is_err()
        );
    }

    #[test]
    fn capability_statement_fallback() {
        let cs = json!({"rest": [{"security": {"extension": [{"url": "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris",
            "extension": [{"url": "authorize", "valueUri": "https://auth.example/authorize"}, {"url": "token", "valueUri": "/oauth/token"}]}]}}]});
        let d = from_capability_statement("https://ehr.example/fhir", &cs).unwrap();
        assert_eq!(d.authorization_endpoint.as_str(), "https://auth.example/authorize");
        assert_eq!(d.token_endpoint.as_str(), "https://ehr.example/oauth/token");
        assert_eq!(d.source, Source::Metadata);
    }
}
