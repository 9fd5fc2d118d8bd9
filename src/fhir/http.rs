//! The outbound HTTP client for EHRs, a GET-only JSON fetch, and the adapter that lets the
//! `oauth2` / `openidconnect` crates (which expect reqwest 0.12) use our reqwest 0.13.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};

/// Largest EHR response chartdesk will read (discovery documents, tokens, resources).
pub const MAX_RESPONSE_BYTES: usize = 2 * 1024 * 1024;

/// Errors of an outbound EHR call. Never carries request or response bodies.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("the EHR did not answer in time")]
    Timeout,
    #[error("the EHR could not be reached")]
    Connect,
    #[error("EHR request failed")]
    Request(#[source] reqwest::Error),
    #[error("EHR response could not be assembled")]
    Http(#[from] http::Error),
    #[error("the EHR answered HTTP {0}")]
    Status(u16),
    #[error("the EHR's response is larger than {MAX_RESPONSE_BYTES} bytes")]
    TooLarge,
    #[error("the EHR's response is not valid JSON")]
    Json,
    #[error("refusing to send {0} to an EHR: chartdesk only reads")]
    NotRead(String),
    #[error("invalid header {0}")]
    Header(String),
}

impl From<reqwest::Error> for HttpError {
    fn from(e: reqwest::Error) -> Self {
        if e.is_timeout() {
            HttpError::Timeout
        } else if e.is_connect() {
            HttpError::Connect
        } else {
            HttpError::Request(e)
        }
    }
}

/// The HTTP client type for EHR calls (so other modules never name reqwest).
pub type EhrClient = reqwest::Client;

/// A reqwest client fit for talking to an EHR: no redirects (RFC 9700: never follow an
/// authorization server's or FHIR server's redirect), bounded connect and total time.
pub fn ehr_client(timeout: Duration) -> reqwest::Client {
    crate::startup::install_crypto_provider();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(Duration::from_secs(5).min(timeout))
        .timeout(timeout)
        .user_agent(concat!("chartdesk/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("a client with these static settings builds")
}

pub(crate) fn header_map(headers: &[(String, String)]) -> Result<HeaderMap, HttpError> {
    let mut map = HeaderMap::new();
    for (k, v) in headers {
        let name = HeaderName::from_bytes(k.as_bytes()).map_err(|_| HttpError::Header(k.clone()))?;
        let value = HeaderValue::from_str(v).map_err(|_| HttpError::Header(k.clone()))?;
        map.insert(name, value);
    }
    Ok(map)
}

/// Read a response body up to [`MAX_RESPONSE_BYTES`].
pub(crate) async fn read_limited(mut resp: reqwest::Response) -> Result<Vec<u8>, HttpError> {
    if resp.content_length().is_some_and(|n| n as usize > MAX_RESPONSE_BYTES) {
        return Err(HttpError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await? {
        if body.len() + chunk.len() > MAX_RESPONSE_BYTES {
            return Err(HttpError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// GET a JSON document. Returns the status and the parsed body (for 2xx only).
pub async fn get_json(
    client: &reqwest::Client,
    url: &str,
    accept: &'static str,
    headers: &[(String, String)],
) -> Result<serde_json::Value, HttpError> {
    let resp = client.get(url).header(reqwest::header::ACCEPT, accept).headers(header_map(headers)?).send().await?;
    let status = resp.status();
    if !status.is_success() {
        return Err(HttpError::Status(status.as_u16()));
    }
    serde_json::from_slice(&read_limited(resp).await?).map_err(|_| HttpError::Json)
}

/// `oauth2::AsyncHttpClient` over reqwest 0.13, adding a tenant's extra headers
/// (e.g. `Epic-Client-ID`) to every call. Used for token, discovery and JWKS requests.
#[derive(Clone)]
pub struct OAuthHttp {
    pub client: reqwest::Client,
    pub headers: Vec<(String, String)>,
}

impl OAuthHttp {
    pub fn new(client: reqwest::Client) -> OAuthHttp {
        OAuthHttp { client, headers: Vec::new() }
    }

    pub fn with_headers(client: reqwest::Client, headers: Vec<(String, String)>) -> OAuthHttp {
        OAuthHttp { client, headers }
    }
}

impl<'c> oauth2::AsyncHttpClient<'c> for OAuthHttp {
    type Error = HttpError;
    type Future = Pin<Box<dyn Future<Output = Result<oauth2::HttpResponse, HttpError>> + Send + 'c>>;

    fn call(&'c self, request: oauth2::HttpRequest) -> Self::Future {
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let response = self
                .client
                .request(parts.method, parts.uri.to_string())
                .headers(parts.headers)
                .headers(header_map(&self.headers)?)
                .body(body)
                .send()
                .await?;
            let mut builder = http::Response::builder().status(response.status());
            for (name, value) in response.headers() {
                builder = builder.header(name, value);
            }
            Ok(builder.body(read_limited(response).await?)?)
        })
    }
}
