//! The read-only FHIR client.
//!
//! [`ReadOnlyFhir`] offers `read` and `search`, nothing else: no method, builder or escape
//! hatch can express create, update, patch, delete, a transaction or an operation. Below it,
//! [`GetOnly`] refuses any request whose method is not GET before it reaches the network,
//! sends the bearer token only to the tenant's own FHIR base (same origin, below the base
//! path), follows no redirects, and has timeouts.

use std::time::Duration;

use reqwest::Method;
use serde_json::Value;
use url::Url;

use super::http::{HttpError, MAX_RESPONSE_BYTES, read_limited};
use crate::smart::request::ResourceType;

#[derive(Debug, thiserror::Error)]
pub enum FhirError {
    #[error("the EHR refused the access token (401)")]
    Unauthorized,
    #[error("the EHR denied access (403)")]
    Forbidden,
    #[error("not found at the EHR (404)")]
    NotFound,
    #[error("the EHR asked us to slow down (429)")]
    RateLimited { retry_after: Option<Duration> },
    #[error("the EHR failed (HTTP {0})")]
    Server(u16),
    #[error("the EHR answered HTTP {0}")]
    Status(u16),
    #[error("the EHR did not answer in time")]
    Timeout,
    #[error("the EHR could not be reached")]
    Unreachable,
    #[error("the EHR's answer is not valid FHIR JSON")]
    Malformed,
    #[error("the EHR's answer is larger than {MAX_RESPONSE_BYTES} bytes")]
    TooLarge,
    #[error("expected {expected}, the EHR sent {got}")]
    UnexpectedType { expected: &'static str, got: String },
    #[error("`{0}` is not a valid FHIR id")]
    BadId(String),
    #[error("refusing to send the token outside the tenant's FHIR base")]
    ForeignUrl,
    #[error("refusing a non-GET request: chartdesk only reads")]
    NotRead,
}

impl From<HttpError> for FhirError {
    fn from(e: HttpError) -> Self {
        match e {
            HttpError::Timeout => FhirError::Timeout,
            HttpError::Connect | HttpError::Request(_) => FhirError::Unreachable,
            HttpError::TooLarge => FhirError::TooLarge,
            HttpError::NotRead(_) => FhirError::NotRead,
            _ => FhirError::Malformed,
        }
    }
}

/// The HTTP layer under the FHIR client: GET only, bearer token only to one base.
pub struct GetOnly<'a> {
    client: &'a reqwest::Client,
    base: Url,
    token: &'a str,
}

impl<'a> GetOnly<'a> {
    pub fn new(client: &'a reqwest::Client, base: &str, token: &'a str) -> Result<GetOnly<'a>, FhirError> {
        let base = Url::parse(&format!("{}/", base.trim_end_matches('/'))).map_err(|_| FhirError::ForeignUrl)?;
        Ok(GetOnly { client, base, token })
    }

    /// Is `url` below the base (same scheme, host, port; path under the base path)?
    fn inside(&self, url: &Url) -> bool {
        url.origin() == self.base.origin() && url.path().starts_with(self.base.path())
    }

    /// Execute a request built by the caller. Anything but GET is refused here.
    pub async fn execute(&self, method: Method, url: Url) -> Result<Value, FhirError> {
        if method != Method::GET {
            return Err(FhirError::NotRead);
        }
        if !self.inside(&url) {
            return Err(FhirError::ForeignUrl);
        }
        let resp = self
            .client
            .request(method, url)
            .header(reqwest::header::ACCEPT, "application/fhir+json")
            .bearer_auth(self.token)
            .send()
            .await
            .map_err(HttpError::from)?;
        let status = resp.status().as_u16();
        match status {
            200..=299 => {}
            401 => return Err(FhirError::Unauthorized),
            403 => return Err(FhirError::Forbidden),
            404 | 410 => return Err(FhirError::NotFound),
            429 => {
                let retry_after = resp
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<u64>().ok())
                    .map(Duration::from_secs);
                return Err(FhirError::RateLimited { retry_after });
            }
            500..=599 => return Err(FhirError::Server(status)),
            other => return Err(FhirError::Status(other)),
        }
        let body = read_limited(resp).await?;
        serde_json::from_slice::<Value>(&body)
            .map_err(|_| FhirError::Malformed)
            .and_then(|v| if v.is_object() { Ok(v) } else { Err(FhirError::Malformed) })
    }

    fn url(&self, path: &str, query: &[(&str, &str)]) -> Result<Url, FhirError> {
        let mut url = self.base.join(path).map_err(|_| FhirError::ForeignUrl)?;
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query.iter());
        }
        Ok(url)
    }
}

/// FHIR ids: `[A-Za-z0-9\-\.]{1,64}` (so an id can never change the path).
pub fn valid_id(id: &str) -> bool {
    (1..=64).contains(&id.len())
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        && id.bytes().any(|b| b.is_ascii_alphanumeric())
}

/// Read and search. There is deliberately nothing else.
pub struct ReadOnlyFhir<'a> {
    http: GetOnly<'a>,
}

impl<'a> ReadOnlyFhir<'a> {
    pub fn new(client: &'a reqwest::Client, base: &str, token: &'a str) -> Result<ReadOnlyFhir<'a>, FhirError> {
        Ok(ReadOnlyFhir { http: GetOnly::new(client, base, token)? })
    }

    /// `GET [base]/[type]/[id]`, asking only for `elements` (empty: the whole resource).
    pub async fn read(&self, rtype: ResourceType, id: &str, elements: &[&str]) -> Result<Value, FhirError> {
        if !valid_id(id) {
            return Err(FhirError::BadId(id.to_string()));
        }
        let joined = elements.join(",");
        let query: Vec<(&str, &str)> = if elements.is_empty() { vec![] } else { vec![("_elements", joined.as_str())] };
        let url = self.http.url(&format!("{}/{id}", rtype.as_str()), &query)?;
        let v = self.http.execute(Method::GET, url).await?;
        expect_type(&v, rtype.as_str())?;
        if v["id"].as_str().is_some_and(|got| got != id) {
            return Err(FhirError::UnexpectedType { expected: "the requested id", got: "another id".into() });
        }
        Ok(v)
    }

    /// `GET [base]/[type]?params` → the searchset Bundle's `match` resources of that type.
    pub async fn search(&self, rtype: ResourceType, params: &[(&str, &str)]) -> Result<Vec<Value>, FhirError> {
        let url = self.http.url(rtype.as_str(), params)?;
        let bundle = self.http.execute(Method::GET, url).await?;
        expect_type(&bundle, "Bundle")?;
        Ok(bundle["entry"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|e| e["search"]["mode"].as_str().is_none_or(|m| m == "match"))
            .map(|e| e["resource"].clone())
            .filter(|r| r["resourceType"] == rtype.as_str())
            .collect())
    }
}

fn expect_type(v: &Value, expected: &'static str) -> Result<(), FhirError> {
    match v["resourceType"].as_str() {
        Some(t) if t == expected => Ok(()),
        Some(t) => Err(FhirError::UnexpectedType { expected, got: t.to_string() }),
        None => Err(FhirError::Malformed),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn non_get_and_foreign_urls_never_reach_the_network() {
        crate::startup::install_crypto_provider();
        let client = reqwest::Client::new();
        let http = GetOnly::new(&client, "https://ehr.example/fhir/R4", "token").unwrap();
        let inside = Url::parse("https://ehr.example/fhir/R4/Patient/1").unwrap();
        for m in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
            assert!(matches!(http.execute(m, inside.clone()).await, Err(FhirError::NotRead)));
        }
        for foreign in [
            "https://evil.example/fhir/R4/Patient/1",
            "http://ehr.example/fhir/R4/Patient/1",
            "https://ehr.example:8443/fhir/R4/Patient/1",
            "https://ehr.example/other/Patient/1",
        ] {
            let url = Url::parse(foreign).unwrap();
            assert!(matches!(http.execute(Method::GET, url).await, Err(FhirError::ForeignUrl)), "{foreign}");
        }
        assert!(valid_id("pat-01") && valid_id("eXb.12-3"));
        assert!(!valid_id("../Patient") && !valid_id("a/b") && !valid_id("") && !valid_id("a?b=c") && !valid_id(".."));
    }
}
