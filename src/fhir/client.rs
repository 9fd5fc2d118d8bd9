//! The read-only FHIR client.
//!
//! [`ReadOnlyFhir`] offers `read`, `search`, `capabilities` and `batch` of GETs, nothing
//! else: no method, builder or escape hatch can express create, update, patch, delete, a
//! transaction or an operation. Below it, [`GetOnly`] refuses any request whose method is not
//! GET before it reaches the network, sends the bearer token only to the tenant's own FHIR
//! base (same origin, below the base path), follows no redirects, and has timeouts.
//!
//! The one request that is not a GET on the wire is a FHIR `batch`: a POST of a Bundle whose
//! entries are built by [`GetBatch`], a type that can only hold GET entries (`Type/id` reads
//! and `Type?query` searches of the closed [`ResourceType`] list). It lets chartdesk fetch the
//! whole chart context in one round trip where the EHR supports it.
//!
//! A write does not compile:
//!
//! ```compile_fail,E0599
//! # async fn f(fhir: chartdesk::fhir::client::ReadOnlyFhir<'_>) {
//! use chartdesk::smart::request::ResourceType;
//! let _ = fhir.update(ResourceType::Patient, "p1", serde_json::json!({})).await;
//! # }
//! ```
//!
//! nor does reaching for the raw HTTP layer underneath (it is private):
//!
//! ```compile_fail,E0616
//! # fn f(fhir: chartdesk::fhir::client::ReadOnlyFhir<'_>) {
//! let _raw = fhir.http;
//! # }
//! ```
//!
//! nor a batch entry with another method (there is no such constructor):
//!
//! ```compile_fail,E0599
//! use chartdesk::fhir::client::GetBatch;
//! use chartdesk::smart::request::ResourceType;
//! let mut b = GetBatch::default();
//! b.delete(ResourceType::Patient, "p1");
//! ```
//!
//! while the reads it does offer compile:
//!
//! ```
//! # async fn f(fhir: chartdesk::fhir::client::ReadOnlyFhir<'_>) {
//! use chartdesk::fhir::client::GetBatch;
//! use chartdesk::smart::request::ResourceType;
//! let _ = fhir.read(ResourceType::Patient, "p1", &["name"]).await;
//! let mut b = GetBatch::default();
//! b.read(ResourceType::Patient, "p1", &["name"]).unwrap();
//! b.search(ResourceType::Encounter, &[("patient", "Patient/p1")]);
//! let _ = fhir.batch(&b).await;
//! # }
//! ```

use std::time::Duration;

use reqwest::Method;
use serde_json::Value;
use url::Url;

use super::http::{HttpError, MAX_RESPONSE_BYTES, read_limited};
use crate::smart::request::ResourceType;

#[derive(Clone, Debug, thiserror::Error)]
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

    /// Execute a request. Anything but GET is refused here, before the network.
    async fn execute(&self, method: Method, url: Url) -> Result<Value, FhirError> {
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
        Self::answer(resp).await
    }

    /// POST a batch Bundle whose entries are all GETs (the only body [`GetBatch`] can build)
    /// to the base itself.
    async fn post_batch(&self, batch: &GetBatch) -> Result<Value, FhirError> {
        let bundle = batch.bundle();
        debug_assert!(bundle["entry"].as_array().into_iter().flatten().all(|e| e["request"]["method"] == "GET"));
        let resp = self
            .client
            .post(self.base.clone())
            .header(reqwest::header::ACCEPT, "application/fhir+json")
            .header(reqwest::header::CONTENT_TYPE, "application/fhir+json")
            .bearer_auth(self.token)
            .body(bundle.to_string())
            .send()
            .await
            .map_err(HttpError::from)?;
        Self::answer(resp).await
    }

    async fn answer(resp: reqwest::Response) -> Result<Value, FhirError> {
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
        if path.contains("..") || path.starts_with('/') {
            return Err(FhirError::ForeignUrl);
        }
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

/// One GET inside a [`GetBatch`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchGet {
    pub rtype: ResourceType,
    /// `Some(id)` for a read, `None` for a search.
    pub id: Option<String>,
    /// `Type/id?…` or `Type?…`, relative to the base.
    url: String,
}

/// A batch of GETs. It has no way to hold any other method.
#[derive(Clone, Debug, Default)]
pub struct GetBatch {
    entries: Vec<BatchGet>,
}

impl GetBatch {
    /// Add `GET Type/id[?_elements=…]`.
    pub fn read(&mut self, rtype: ResourceType, id: &str, elements: &[&str]) -> Result<usize, FhirError> {
        if !valid_id(id) {
            return Err(FhirError::BadId(id.to_string()));
        }
        let mut url = format!("{}/{id}", rtype.as_str());
        if !elements.is_empty() {
            let q = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("_elements", &elements.join(","))
                .finish();
            url = format!("{url}?{q}");
        }
        self.entries.push(BatchGet { rtype, id: Some(id.to_string()), url });
        Ok(self.entries.len() - 1)
    }

    /// Add `GET Type?params`.
    pub fn search(&mut self, rtype: ResourceType, params: &[(&str, &str)]) -> usize {
        let q = url::form_urlencoded::Serializer::new(String::new()).extend_pairs(params.iter()).finish();
        let url = if q.is_empty() { rtype.as_str().to_string() } else { format!("{}?{q}", rtype.as_str()) };
        self.entries.push(BatchGet { rtype, id: None, url });
        self.entries.len() - 1
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn entries(&self) -> &[BatchGet] {
        &self.entries
    }

    fn bundle(&self) -> Value {
        serde_json::json!({
            "resourceType": "Bundle",
            "type": "batch",
            "entry": self.entries.iter().map(|e| serde_json::json!({ "request": { "method": "GET", "url": e.url } })).collect::<Vec<_>>()
        })
    }
}

/// The answer to one batch entry: a resource for a read, the matches for a search.
#[derive(Clone, Debug)]
pub enum Fetched {
    Resource(Value),
    Matches(Vec<Value>),
}

/// What the server's CapabilityStatement says chartdesk may use.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Capabilities {
    pub batch: bool,
    /// Resource types with `search-type`.
    pub search: Vec<String>,
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
        matches(&bundle, rtype)
    }

    /// `GET [base]/metadata`, reduced to what chartdesk uses.
    pub async fn capabilities(&self) -> Result<Capabilities, FhirError> {
        let url = self.http.url("metadata", &[])?;
        let v = self.http.execute(Method::GET, url).await?;
        expect_type(&v, "CapabilityStatement")?;
        let rest =
            v["rest"].as_array().and_then(|r| r.iter().find(|r| r["mode"] == "server")).cloned().unwrap_or_default();
        let batch = rest["interaction"].as_array().into_iter().flatten().any(|i| i["code"] == "batch");
        let search = rest["resource"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|r| r["interaction"].as_array().into_iter().flatten().any(|i| i["code"] == "search-type"))
            .filter_map(|r| r["type"].as_str().map(String::from))
            .collect();
        Ok(Capabilities { batch, search })
    }

    /// One `batch` round trip: the answer of every entry, in order. An entry's failure is
    /// that entry's error; the batch's own failure is the error of the whole call.
    pub async fn batch(&self, batch: &GetBatch) -> Result<Vec<Result<Fetched, FhirError>>, FhirError> {
        let v = self.http.post_batch(batch).await?;
        expect_type(&v, "Bundle")?;
        if v["type"] != "batch-response" {
            return Err(FhirError::UnexpectedType { expected: "batch-response", got: v["type"].to_string() });
        }
        let entries = v["entry"].as_array().cloned().unwrap_or_default();
        if entries.len() != batch.len() {
            return Err(FhirError::Malformed);
        }
        Ok(batch
            .entries()
            .iter()
            .zip(entries)
            .map(|(get, entry)| {
                let status: u16 = entry["response"]["status"]
                    .as_str()
                    .and_then(|s| s.split_whitespace().next())
                    .and_then(|s| s.parse().ok())
                    .ok_or(FhirError::Malformed)?;
                match status {
                    200..=299 => {}
                    401 => return Err(FhirError::Unauthorized),
                    403 => return Err(FhirError::Forbidden),
                    404 | 410 => return Err(FhirError::NotFound),
                    429 => return Err(FhirError::RateLimited { retry_after: None }),
                    500..=599 => return Err(FhirError::Server(status)),
                    other => return Err(FhirError::Status(other)),
                }
                let resource = &entry["resource"];
                match &get.id {
                    Some(id) => {
                        expect_type(resource, get.rtype.as_str())?;
                        if resource["id"].as_str().is_some_and(|got| got != id) {
                            return Err(FhirError::UnexpectedType {
                                expected: "the requested id",
                                got: "another id".into(),
                            });
                        }
                        Ok(Fetched::Resource(resource.clone()))
                    }
                    None => Ok(Fetched::Matches(matches(resource, get.rtype)?)),
                }
            })
            .collect())
    }
}

/// A searchset Bundle's `match` resources of `rtype`.
fn matches(bundle: &Value, rtype: ResourceType) -> Result<Vec<Value>, FhirError> {
    expect_type(bundle, "Bundle")?;
    Ok(bundle["entry"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["search"]["mode"].as_str().is_none_or(|m| m == "match"))
        .map(|e| e["resource"].clone())
        .filter(|r| r["resourceType"] == rtype.as_str())
        .collect())
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
        let mut b = GetBatch::default();
        assert!(b.read(ResourceType::Patient, "../x", &[]).is_err());
        b.read(ResourceType::Patient, "p1", &["name", "gender"]).unwrap();
        b.search(ResourceType::Encounter, &[("patient", "Patient/p1"), ("_count", "1")]);
        let bundle = b.bundle();
        assert_eq!(bundle["type"], "batch");
        assert_eq!(
            bundle["entry"][0]["request"],
            serde_json::json!({"method": "GET", "url": "Patient/p1?_elements=name%2Cgender"})
        );
        assert_eq!(bundle["entry"][1]["request"]["url"], "Encounter?patient=Patient%2Fp1&_count=1");
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
