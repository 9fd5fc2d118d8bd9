//! The outbound HTTP client for EHR authorization servers, and the adapter that lets the
//! `oauth2` / `openidconnect` crates (which expect reqwest 0.12) use our reqwest 0.13.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

/// Errors of an outbound EHR call. Never carries request or response bodies.
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error("EHR request failed")]
    Request(#[from] reqwest::Error),
    #[error("EHR response could not be assembled")]
    Http(#[from] http::Error),
}

/// A reqwest client fit for talking to an EHR: no redirects (RFC 9700: never follow an
/// authorization server's redirect), bounded connect and total time.
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

/// `oauth2::AsyncHttpClient` over reqwest 0.13.
#[derive(Clone)]
pub struct OAuthHttp(pub reqwest::Client);

impl<'c> oauth2::AsyncHttpClient<'c> for OAuthHttp {
    type Error = HttpError;
    type Future = Pin<Box<dyn Future<Output = Result<oauth2::HttpResponse, HttpError>> + Send + 'c>>;

    fn call(&'c self, request: oauth2::HttpRequest) -> Self::Future {
        Box::pin(async move {
            let (parts, body) = request.into_parts();
            let response =
                self.0.request(parts.method, parts.uri.to_string()).headers(parts.headers).body(body).send().await?;
            let mut builder = http::Response::builder().status(response.status());
            for (name, value) in response.headers() {
                builder = builder.header(name, value);
            }
            Ok(builder.body(response.bytes().await?.to_vec())?)
        })
    }
}
