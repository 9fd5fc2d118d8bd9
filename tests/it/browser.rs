//! A real browser: headless Chromium driven over WebDriver (chromedriver). Runs when
//! CHARTDESK_TEST_CHROMEDRIVER (and optionally CHARTDESK_TEST_CHROMIUM) are set; .ci/run
//! installs Debian's chromium and chromium-driver and sets them. When set, it must pass.

use std::time::Duration;

use serde_json::{Value, json};
use tokio::process::Command;

use crate::helpers::*;
use crate::interop::free_port;

pub struct WebDriver {
    http: reqwest::Client,
    base: String,
    session: String,
    _driver: tokio::process::Child,
    _profile: tempfile::TempDir,
}

impl WebDriver {
    pub async fn start() -> Option<WebDriver> {
        let driver_bin = service_url("CHARTDESK_TEST_CHROMEDRIVER")?;
        let chromium = service_url("CHARTDESK_TEST_CHROMIUM").unwrap_or_else(|| "/usr/bin/chromium".into());
        let port = free_port();
        let driver = Command::new(&driver_bin)
            .arg(format!("--port={port}"))
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver runs");
        let http = http_client();
        let base = format!("http://127.0.0.1:{port}");
        for _ in 0..100 {
            if let Ok(r) = http.get(format!("{base}/status")).send().await
                && r.json::<Value>().await.is_ok_and(|v| v["value"]["ready"] == true)
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = tempfile::tempdir().unwrap();
        let caps = json!({"capabilities": {"alwaysMatch": {"browserName": "chrome", "goog:chromeOptions": {
            "binary": chromium,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                     "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
                     "--window-size=400,900", format!("--user-data-dir={}", profile.path().display())]
        }}}});
        let r: Value = http.post(format!("{base}/session")).json(&caps).send().await.unwrap().json().await.unwrap();
        let session =
            r["value"]["sessionId"].as_str().unwrap_or_else(|| panic!("no WebDriver session: {r}")).to_string();
        Some(WebDriver { http, base, session, _driver: driver, _profile: profile })
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let url = format!("{}/session/{}{path}", self.base, self.session);
        let mut req = self.http.request(method, url);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let v: Value = req.send().await.unwrap().json().await.unwrap();
        assert!(v["value"].get("error").is_none(), "WebDriver {path}: {v}");
        v["value"].clone()
    }

    pub async fn goto(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({"url": url}))).await;
    }

    pub async fn url(&self) -> String {
        self.call(reqwest::Method::GET, "/url", None).await.as_str().unwrap().to_string()
    }

    pub async fn source(&self) -> String {
        self.call(reqwest::Method::GET, "/source", None).await.as_str().unwrap().to_string()
    }

    pub async fn click(&self, css: &str) {
        let el =
            self.call(reqwest::Method::POST, "/element", Some(json!({"using": "css selector", "value": css}))).await;
        let id = el.as_object().unwrap().values().next().unwrap().as_str().unwrap().to_string();
        self.call(reqwest::Method::POST, &format!("/element/{id}/click"), Some(json!({}))).await;
    }

    pub async fn text(&self, css: &str) -> String {
        let el =
            self.call(reqwest::Method::POST, "/element", Some(json!({"using": "css selector", "value": css}))).await;
        let id = el.as_object().unwrap().values().next().unwrap().as_str().unwrap().to_string();
        self.call(reqwest::Method::GET, &format!("/element/{id}/text"), None).await.as_str().unwrap().to_string()
    }

    async fn element(&self, css: &str) -> String {
        let el =
            self.call(reqwest::Method::POST, "/element", Some(json!({"using": "css selector", "value": css}))).await;
        el.as_object().unwrap().values().next().unwrap().as_str().unwrap().to_string()
    }

    /// Type `text` into the element at `css`.
    pub async fn type_into(&self, css: &str, text: &str) {
        let id = self.element(css).await;
        self.call(reqwest::Method::POST, &format!("/element/{id}/value"), Some(json!({"text": text}))).await;
    }

    /// Wait until the element at `css` exists and its text contains `needle` (20 s).
    pub async fn wait_for_text(&self, css: &str, needle: &str) {
        for _ in 0..200 {
            let url = format!("{}/session/{}/element", self.base, self.session);
            let found: Value = self
                .http
                .post(url)
                .json(&json!({"using": "css selector", "value": css}))
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            if found["value"].get("error").is_none() && self.text(css).await.contains(needle) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("`{css}` never showed `{needle}`; page:\n{}", self.source().await);
    }

    /// Wait until the current URL contains `part`.
    pub async fn wait_for_url(&self, part: &str) -> String {
        for _ in 0..100 {
            let u = self.url().await;
            if u.contains(part) {
                return u;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("never reached {part}; at {} with\n{}", self.url().await, self.source().await);
    }

    pub async fn new_tab(&self) -> String {
        let v = self.call(reqwest::Method::POST, "/window/new", Some(json!({"type": "tab"}))).await;
        v["handle"].as_str().unwrap().to_string()
    }

    pub async fn window(&self) -> String {
        self.call(reqwest::Method::GET, "/window", None).await.as_str().unwrap().to_string()
    }

    pub async fn switch_to(&self, handle: &str) {
        self.call(reqwest::Method::POST, "/window", Some(json!({"handle": handle}))).await;
    }

    pub async fn quit(self) {
        let _ = self.http.delete(format!("{}/session/{}", self.base, self.session)).send().await;
    }
}

#[tokio::test]
async fn chromium_launches_from_the_sandbox_and_keeps_tabs_apart() {
    // Epic's POST authorize, so the browser also runs the auto-submitted form.
    let app =
        spawn_with(|c| tenant_mut(c, "sandbox-epic").authorize_method = Some(chartdesk::config::AuthorizeMethod::Post))
            .await;
    let Some(wd) = WebDriver::start().await else { return };
    wd.goto(&app.url("/sandbox")).await;
    assert!(wd.source().await.contains("SANDBOX — synthetic data"));
    // The first quick launch: Epic, RN Jordan Pike on 4 West, patient Rosalind Quillfeather.
    wd.click("ul.quick li:first-child a").await;
    let first = wd.wait_for_url("/app/").await;
    assert!(wd.text("h1").await.starts_with("Jordan Pike"), "{}", wd.source().await);
    assert!(wd.text(".patient-banner").await.contains("Rosalind Mae Quillfeather"));
    let tab_one = wd.window().await;

    // A second tab, launched for another patient, shows its own patient.
    let tab_two = wd.new_tab().await;
    wd.switch_to(&tab_two).await;
    wd.goto(&app.url("/sandbox/ehr-launch?vendor=epic&practitioner=pr-jpike&patient=pat-03")).await;
    let second = wd.wait_for_url("/app/").await;
    assert_ne!(first, second);
    assert!(wd.text(".patient-banner").await.contains("Imogen Larkspur"));

    // The first tab still shows its own patient after a reload.
    wd.switch_to(&tab_one).await;
    wd.goto(&first).await;
    assert!(wd.text(".patient-banner").await.contains("Rosalind Mae Quillfeather"));
    wd.quit().await;
}
