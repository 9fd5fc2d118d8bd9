//! Interop with an independent authorization server: panva/oidc-provider (OpenID Certified)
//! configured as a SMART EHR by tests/oidc-provider/server.mjs. Runs when
//! CHARTDESK_TEST_OIDC_PROVIDER_DIR names that directory with its npm packages installed
//! (.ci/run does `npm ci` there and sets it); when set, it must pass.

use std::process::Stdio;
use std::time::Duration;

use chartdesk::config::{ClientAuth, TenantConfig};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use crate::helpers::*;

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[tokio::test]
async fn ehr_launch_against_oidc_provider_verifies_its_id_token() {
    let Some(dir) = service_url("CHARTDESK_TEST_OIDC_PROVIDER_DIR") else { return };
    assert!(
        std::path::Path::new(&dir).join("node_modules/oidc-provider").exists(),
        "CHARTDESK_TEST_OIDC_PROVIDER_DIR is set but oidc-provider is not installed there (run npm ci)"
    );
    let port = free_port();
    let tenant = TenantConfig {
        id: "oidc-provider".into(),
        issuer: format!("http://127.0.0.1:{port}/fhir"),
        vendor: "generic".into(),
        client_id: "chartdesk-interop".into(),
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
    };
    let app = spawn_with(move |c| c.tenants.push(tenant)).await;
    let mut node = Command::new("node")
        .arg("server.mjs")
        .current_dir(&dir)
        .env("PORT", port.to_string())
        .env("APP_BASE", &app.base)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("node runs");
    let mut lines = BufReader::new(node.stdout.take().unwrap()).lines();
    tokio::time::timeout(Duration::from_secs(20), async {
        while let Ok(Some(line)) = lines.next_line().await {
            if line.contains("ready on") {
                return;
            }
        }
        panic!("oidc-provider exited before it was ready");
    })
    .await
    .expect("oidc-provider starts within 20 s");

    let b = Browser::new();
    let (page, visited) =
        b.follow(&format!("http://127.0.0.1:{port}/launch-app?practitioner=ip-nurse&patient=ip-patient")).await;
    assert_eq!(page.status(), 200, "{visited:#?}");
    assert!(
        visited.iter().any(|u| u.contains(&format!("127.0.0.1:{port}/auth"))),
        "authorized at oidc-provider: {visited:#?}"
    );
    assert!(visited.iter().any(|u| u.contains("/callback?code=")));
    let html = page.text().await.unwrap();
    assert!(
        h1(&html).starts_with("Iris Interop"),
        "fhirUser from the verified id_token led to the Practitioner: {html}"
    );
    assert!(html.contains("Otto Oidcprovider"), "patient from the token response");
    node.start_kill().ok();
}
