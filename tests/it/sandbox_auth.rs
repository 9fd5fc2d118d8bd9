//! The sandbox EHR's SMART authorization server, exercised as a client would: discovery,
//! EHR and standalone launch, PKCE, `aud`, each client-authentication method, refresh,
//! vendor quirks and every injected launcher error.

use std::str::FromStr;

use chartdesk::fhir::http::OAuthHttp;
use oauth2::basic::{
    BasicErrorResponse, BasicRevocationErrorResponse, BasicTokenIntrospectionResponse, BasicTokenType,
};
use oauth2::{
    AuthUrl, AuthorizationCode, ClientId, ClientSecret, CsrfToken, EndpointNotSet, EndpointSet, PkceCodeChallenge,
    RedirectUrl, RefreshToken, Scope as OScope, StandardRevocableToken, StandardTokenResponse, TokenResponse, TokenUrl,
};
use openidconnect::core::{
    CoreGenderClaim, CoreIdTokenVerifier, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm,
    CoreProviderMetadata,
};
use openidconnect::{AdditionalClaims, IdToken, IssuerUrl, Nonce};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::helpers::*;

#[derive(Debug, Clone, Serialize, Deserialize)]
struct SmartClaims {
    #[serde(rename = "fhirUser")]
    fhir_user: String,
}
impl AdditionalClaims for SmartClaims {}
type SmartIdToken = IdToken<SmartClaims, CoreGenderClaim, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm>;

/// SMART launch context arrives as extra token-response members; keep them all.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct SmartFields {
    #[serde(flatten)]
    extra: serde_json::Map<String, Value>,
}
impl oauth2::ExtraTokenFields for SmartFields {}
type SmartToken = StandardTokenResponse<SmartFields, BasicTokenType>;
type SmartClient = oauth2::Client<
    BasicErrorResponse,
    SmartToken,
    BasicTokenIntrospectionResponse,
    StandardRevocableToken,
    BasicRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointSet,
>;

#[derive(Clone, Copy)]
enum Auth {
    Public,
    Basic,
    JwtRs384,
    JwtEs384,
}

struct Launched {
    token: SmartToken,
    fhir_user: String,
    client: SmartClient,
}

/// A complete EHR launch driven by the `oauth2` and `openidconnect` crates.
async fn crate_launch(
    app: &TestApp,
    tenant: &Tenant,
    client_id: &str,
    auth: Auth,
    query: &str,
    scope: &str,
) -> Launched {
    let http = OAuthHttp::new(http_client());
    let provider = CoreProviderMetadata::discover_async(IssuerUrl::new(tenant.issuer.clone()).unwrap(), &http)
        .await
        .expect("OIDC discovery against the sandbox issuer");
    let smart: Value = app
        .http
        .get(format!("{}/.well-known/smart-configuration", tenant.fhir))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(smart["token_endpoint"], provider.token_endpoint().unwrap().as_str());

    let mut client: SmartClient = oauth2::Client::new(ClientId::new(client_id.into()))
        .set_auth_uri(AuthUrl::from_url(provider.authorization_endpoint().url().clone()))
        .set_token_uri(TokenUrl::new(smart["token_endpoint"].as_str().unwrap().into()).unwrap())
        .set_redirect_uri(RedirectUrl::new(app.redirect_uri()).unwrap());
    if let Auth::Basic = auth {
        client = client.set_client_secret(ClientSecret::new(SECRET.into()));
    }

    let (iss, launch) = app.ehr_launch(&format!("vendor={}&client={client_id}&{query}", tenant.id)).await;
    let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
    let nonce = Nonce::new_random();
    let (url, csrf) = client
        .authorize_url(CsrfToken::new_random)
        .add_scopes(scope.split(' ').map(|s| OScope::new(s.into())))
        .add_extra_param("aud", iss)
        .add_extra_param("launch", launch)
        .add_extra_param("nonce", nonce.secret())
        .set_pkce_challenge(challenge)
        .url();
    let resp = app.http.get(url.as_str()).send().await.unwrap();
    assert_eq!(resp.status(), 302, "{}", resp.text().await.unwrap_or_default());
    let q = query_map(&location(&resp));
    assert_eq!(q["state"], *csrf.secret());
    assert_eq!(q["iss"], tenant.issuer, "RFC 9207 iss in the authorization response");

    let mut exchange = client.exchange_code(AuthorizationCode::new(q["code"].clone())).set_pkce_verifier(verifier);
    if let Auth::JwtRs384 | Auth::JwtEs384 = auth {
        let key = if let Auth::JwtRs384 = auth { &keys().rs384 } else { &keys().es384 };
        exchange = exchange
            .add_extra_param("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
            .add_extra_param(
                "client_assertion",
                assertion(key, client_id, &tenant.token(), 120, &uuid::Uuid::new_v4().to_string()),
            );
    }
    let token = exchange.request_async(&http).await.unwrap_or_else(|e| panic!("code exchange for {client_id}: {e:?}"));

    let jwks = provider.jwks().clone();
    let verifier =
        CoreIdTokenVerifier::new_public_client(ClientId::new(client_id.into()), provider.issuer().clone(), jwks);
    let raw = token.extra_fields().extra["id_token"].as_str().expect("an id_token").to_string();
    let id_token = SmartIdToken::from_str(&raw).unwrap();
    let claims = id_token.claims(&verifier, &nonce).expect("the id_token verifies: signature, iss, aud, exp, nonce");
    Launched { token, fhir_user: claims.additional_claims().fhir_user.clone(), client }
}

#[tokio::test]
async fn discovery_documents_carry_every_required_field() {
    let app = spawn_app().await;
    for id in ["generic", "epic", "oracle-health", "meditech"] {
        let t = app.tenant(id);
        let r = app.http.get(format!("{}/.well-known/smart-configuration", t.fhir)).send().await.unwrap();
        assert_eq!(r.status(), 200);
        assert!(r.headers()["content-type"].to_str().unwrap().starts_with("application/json"));
        let doc: Value = r.json().await.unwrap();
        for field in [
            "issuer",
            "jwks_uri",
            "authorization_endpoint",
            "token_endpoint",
            "grant_types_supported",
            "capabilities",
            "code_challenge_methods_supported",
            "response_types_supported",
            "scopes_supported",
        ] {
            assert!(doc.get(field).is_some(), "{id}: smart-configuration lacks {field}");
        }
        assert_eq!(doc["code_challenge_methods_supported"], json!(["S256"]), "{id}: S256 only, never plain");
        let caps: Vec<&str> = doc["capabilities"].as_array().unwrap().iter().map(|c| c.as_str().unwrap()).collect();
        for cap in [
            "launch-ehr",
            "launch-standalone",
            "context-ehr-patient",
            "context-ehr-encounter",
            "permission-user",
            "permission-patient",
            "sso-openid-connect",
            "client-public",
        ] {
            assert!(caps.contains(&cap), "{id}: capability {cap}");
        }
        assert_eq!(doc["issuer"], t.issuer.as_str());
        // The CapabilityStatement's OAuth URIs agree (legacy discovery).
        let cs: Value = app.http.get(format!("{}/metadata", t.fhir)).send().await.unwrap().json().await.unwrap();
        assert_eq!(cs["fhirVersion"], "4.0.1");
        let uris = &cs["rest"][0]["security"]["extension"][0]["extension"];
        assert_eq!(uris[0]["valueUri"], doc["authorization_endpoint"]);
        assert_eq!(uris[1]["valueUri"], doc["token_endpoint"]);
        // OIDC discovery works through the openidconnect crate at the issuer (and Epic-style at the FHIR base).
        let http = OAuthHttp::new(http_client());
        CoreProviderMetadata::discover_async(IssuerUrl::new(t.issuer.clone()).unwrap(), &http).await.unwrap();
        let at_base: Value = app
            .http
            .get(format!("{}/.well-known/openid-configuration", t.fhir))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(at_base["issuer"], t.issuer.as_str());
    }
    let epic: Value = app
        .http
        .get(format!("{}/.well-known/smart-configuration", app.tenant("epic").fhir))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    insta::with_settings!({ filters => vec![(r"http://127\.0\.0\.1:\d+", "http://[host]")] }, {
        insta::assert_json_snapshot!("epic_smart_configuration", epic);
    });
}

#[tokio::test]
async fn ehr_launch_with_the_oauth2_crates_in_every_vendor_mode_and_client_auth() {
    let app = spawn_app().await;
    let cases = [
        ("generic", "test-public", Auth::Public, "practitioner=pr-jpike&patient=pat-01"),
        ("generic", "test-basic", Auth::Basic, "practitioner=pr-gokafor&patient=pat-02"),
        ("generic", "test-jwt", Auth::JwtRs384, "practitioner=pr-tfenn&patient=pat-03"),
        ("generic", "test-jwt", Auth::JwtEs384, "practitioner=pr-tfenn&patient=pat-04"),
        ("epic", "test-epic-public", Auth::Public, "practitioner=pr-jpike&patient=pat-01"),
        ("epic", "test-epic-jwt", Auth::JwtEs384, "practitioner=pr-hmarsh&patient=pat-05"),
        ("oracle-health", "test-oracle-basic", Auth::Basic, "practitioner=pr-hmarsh&patient=pat-06"),
        ("meditech", "test-meditech-public", Auth::Public, "practitioner=pr-planning&patient=pat-08"),
    ];
    for (tenant_id, client_id, auth, query) in cases {
        let tenant = app.tenant(tenant_id);
        let scope = if tenant_id == "oracle-health" {
            "launch openid fhirUser patient/Patient.read user/Practitioner.read"
        } else {
            LAUNCH_SCOPE
        };
        let l = crate_launch(&app, &tenant, client_id, auth, query, scope).await;
        let patient = query.split("patient=").nth(1).unwrap();
        let practitioner = query.split("practitioner=").nth(1).unwrap().split('&').next().unwrap();
        assert_eq!(l.token.extra_fields().extra["patient"], patient, "{tenant_id}/{client_id}");
        assert!(l.fhir_user.ends_with(&format!("Practitioner/{practitioner}")), "{}", l.fhir_user);
        // The token reads the launch patient and the user's own Practitioner.
        let access = l.token.access_token().secret();
        assert_eq!(fhir_get(&app, &tenant, access, &format!("/Patient/{patient}")).await.0, 200, "{tenant_id}");
        assert_eq!(
            fhir_get(&app, &tenant, access, &format!("/Practitioner/{practitioner}")).await.0,
            200,
            "{tenant_id}"
        );
        assert_eq!(
            fhir_get(&app, &tenant, access, "/Patient/pat-12").await.0,
            403,
            "{tenant_id}: outside the patient compartment"
        );
        let _ = l.client;
    }
}

#[tokio::test]
async fn pkce_is_required_s256_only_and_verified() {
    let app = spawn_app().await;
    let t = app.tenant("generic");
    let scope = "launch openid fhirUser patient/Patient.rs";
    for (change, expect) in [("drop", "PKCE is required"), ("plain", "not supported"), ("garbage", "not a base64url")] {
        let (_, launch) =
            app.ehr_launch("vendor=generic&client=test-public&practitioner=pr-jpike&patient=pat-01").await;
        let mut a = Authorize::new(&app, &t, "test-public", scope).set("launch", &launch);
        a = match change {
            "drop" => a.without("code_challenge").without("code_challenge_method"),
            "plain" => a.set("code_challenge_method", "plain"),
            _ => a.set("code_challenge", "not-a-challenge"),
        };
        let q = a.redirect(&app, &t).await;
        assert_eq!(q["error"], "invalid_request", "{change}");
        assert!(q["error_description"].contains(expect), "{change}: {}", q["error_description"]);
        assert!(!q.contains_key("code"));
    }
    // A wrong verifier at the token endpoint is refused, and the code is then spent.
    let (code, verifier) = launch_code(&app, &t, "test-public", "practitioner=pr-jpike&patient=pat-01", scope).await;
    let wrong = pkce().verifier;
    let form = |v: &str| {
        vec![
            ("grant_type", "authorization_code".to_string()),
            ("code", code.clone()),
            ("redirect_uri", app.redirect_uri()),
            ("code_verifier", v.to_string()),
        ]
    };
    let f = form(&wrong);
    let refs: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, body) = token(&app, &t, Cred::Public("test-public"), &refs).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "{body}");
    let f = form(&verifier);
    let refs: Vec<(&str, &str)> = f.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let (status, body) = token(&app, &t, Cred::Public("test-public"), &refs).await;
    assert_eq!((status, body["error"].as_str()), (400, Some("invalid_grant")), "codes are single-use: {body}");
    // And a code cannot be exchanged twice.
    let (code, verifier) = launch_code(&app, &t, "test-public", "practitioner=pr-jpike&patient=pat-01", scope).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", &app.redirect_uri()),
        ("code_verifier", verifier.as_str()),
    ];
    assert_eq!(token(&app, &t, Cred::Public("test-public"), &form).await.0, 200);
    assert_eq!(token(&app, &t, Cred::Public("test-public"), &form).await.1["error"], "invalid_grant");
}

#[tokio::test]
async fn aud_must_be_the_fhir_base() {
    let app = spawn_app().await;
    let t = app.tenant("generic");
    for aud in [Some(app.tenant("epic").fhir), Some(format!("{}/other", t.fhir)), None] {
        let (_, launch) =
            app.ehr_launch("vendor=generic&client=test-public&practitioner=pr-jpike&patient=pat-01").await;
        let mut a = Authorize::new(&app, &t, "test-public", LAUNCH_SCOPE).set("launch", &launch);
        a = match &aud {
            Some(v) => a.set("aud", v),
            None => a.without("aud"),
        };
        let q = a.redirect(&app, &t).await;
        assert_eq!(q["error"], "invalid_request", "{aud:?}");
        assert!(q["error_description"].contains("aud"));
    }
}

#[tokio::test]
async fn unknown_client_or_redirect_uri_gets_an_error_page_never_a_redirect() {
    let app = spawn_app().await;
    let t = app.tenant("generic");
    for a in [
        Authorize::new(&app, &t, "no-such-client", LAUNCH_SCOPE),
        Authorize::new(&app, &t, "test-public", LAUNCH_SCOPE).set("redirect_uri", "https://attacker.example/cb"),
        Authorize::new(&app, &t, "test-public", LAUNCH_SCOPE).without("redirect_uri"),
        Authorize::new(&app, &t, "chartdesk-epic", LAUNCH_SCOPE),
    ] {
        let r = app.http.get(a.url(&t)).send().await.unwrap();
        assert_eq!(r.status(), 400);
        assert!(r.headers().get("location").is_none());
        let html = r.text().await.unwrap();
        assert!(html.contains("SANDBOX — synthetic data"), "banner on every sandbox page");
    }
    // Repeated parameters are refused too.
    let a = Authorize::new(&app, &t, "test-public", LAUNCH_SCOPE);
    let r = app.http.get(format!("{}&client_id=test-public", a.url(&t))).send().await.unwrap();
    assert_eq!(r.status(), 400);
}

#[tokio::test]
async fn launch_values_are_single_use_and_bound_to_client_and_tenant() {
    let app = spawn_app().await;
    let t = app.tenant("generic");
    let (_, launch) = app.ehr_launch("vendor=generic&client=test-public&practitioner=pr-jpike&patient=pat-01").await;
    let q = Authorize::new(&app, &t, "test-public", LAUNCH_SCOPE).set("launch", &launch).redirect(&app, &t).await;
    assert!(q.contains_key("code"));
    let q = Authorize::new(&app, &t, "test-public", LAUNCH_SCOPE).set("launch", &launch).redirect(&app, &t).await;
    assert_eq!(q["error"], "invalid_request");
    assert!(q["error_description"].contains("already used"));
    // A launch minted for another app is refused.
    let (_, launch) = app.ehr_launch("vendor=generic&client=test-basic&practitioner=pr-jpike&patient=pat-01").await;
    let q = Authorize::new(&app, &t, "test-public", LAUNCH_SCOPE).set("launch", &launch).redirect(&app, &t).await;
    assert_eq!(q["error"], "invalid_request");
    // `launch` scope without a launch value, and a launch value without the `launch` scope.
    let q = Authorize::new(&app, &t, "test-public", LAUNCH_SCOPE).redirect(&app, &t).await;
    assert_eq!(q["error"], "invalid_scope");
    let (_, launch) = app.ehr_launch("vendor=generic&client=test-public&practitioner=pr-jpike&patient=pat-01").await;
    let q = Authorize::new(&app, &t, "test-public", "openid fhirUser").set("launch", &launch).redirect(&app, &t).await;
    assert_eq!(q["error"], "invalid_scope");
}

#[tokio::test]
async fn client_secret_basic_is_checked() {
    let app = spawn_app().await;
    let t = app.tenant("generic");
    let scope = "launch openid fhirUser patient/Patient.rs";
    let q = "practitioner=pr-jpike&patient=pat-01";
    for (cred, want) in [
        (Cred::Basic("test-basic", "wrong"), 401),
        (Cred::Basic("test-public", SECRET), 401),
        (Cred::Public("test-basic"), 401),
        (Cred::Basic("test-basic", SECRET), 200),
    ] {
        let (code, verifier) = launch_code(&app, &t, "test-basic", q, scope).await;
        let (status, body) = token(
            &app,
            &t,
            cred,
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", &app.redirect_uri()),
                ("code_verifier", &verifier),
            ],
        )
        .await;
        assert_eq!(status, want, "{body}");
        if want == 401 {
            assert_eq!(body["error"], "invalid_client");
        }
    }
}

#[tokio::test]
async fn private_key_jwt_assertions_are_verified() {
    let app = spawn_app().await;
    let t = app.tenant("generic");
    let k = keys();
    let scope = "launch openid fhirUser patient/Patient.rs";
    let now = chrono::Utc::now().timestamp();
    let token_url = t.token();
    let replayed = assertion(&k.rs384, "test-jwt", &token_url, 120, "jti-replay-1");
    let mut hs256_header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
    hs256_header.kid = Some(k.rs384.kid.clone());
    let hs256 = jsonwebtoken::encode(
        &hs256_header,
        &json!({"iss": "test-jwt", "sub": "test-jwt", "aud": token_url, "exp": now + 60, "jti": "h"}),
        &jsonwebtoken::EncodingKey::from_secret(b"k"),
    )
    .unwrap();
    // The rogue key signs, but claims the registered key's kid.
    let mut rogue_header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS384);
    rogue_header.kid = Some(k.rs384.kid.clone());
    rogue_header.typ = Some("JWT".into());
    let rogue_pem = chartdesk::keys::generate_pem(jsonwebtoken::Algorithm::RS384).unwrap();
    let rogue = jsonwebtoken::encode(
        &rogue_header,
        &json!({"iss": "test-jwt", "sub": "test-jwt", "aud": token_url, "exp": now + 60, "jti": "r"}),
        &jsonwebtoken::EncodingKey::from_rsa_pem(rogue_pem.as_bytes()).unwrap(),
    )
    .unwrap();
    let unknown_kid = k
        .rogue
        .sign(&json!({"iss": "test-jwt", "sub": "test-jwt", "aud": token_url, "exp": now + 60, "jti": "u"}))
        .unwrap();
    let cases: Vec<(&str, String, u16)> = vec![
        ("valid RS384", assertion(&k.rs384, "test-jwt", &token_url, 120, "jti-a"), 200),
        ("valid ES384", assertion(&k.es384, "test-jwt", &token_url, 120, "jti-b"), 200),
        ("first use", replayed.clone(), 200),
        ("replayed jti", replayed, 401),
        ("aud is the issuer, not the token URL", assertion(&k.rs384, "test-jwt", &t.issuer, 120, "jti-c"), 401),
        ("exp ten minutes ahead", assertion(&k.rs384, "test-jwt", &token_url, 600, "jti-d"), 401),
        ("expired", assertion(&k.rs384, "test-jwt", &token_url, -120, "jti-e"), 401),
        ("HS256", hs256, 401),
        ("signed by another key under the registered kid", rogue, 401),
        ("unregistered kid", unknown_kid, 401),
        ("another client's iss", assertion(&k.rs384, "test-epic-jwt", &token_url, 120, "jti-f"), 401),
    ];
    for (name, jwt, want) in cases {
        let (code, verifier) = launch_code(&app, &t, "test-jwt", "practitioner=pr-tfenn&patient=pat-03", scope).await;
        let form = [
            ("grant_type", "authorization_code"),
            ("code", code.as_str()),
            ("redirect_uri", &app.redirect_uri()),
            ("code_verifier", verifier.as_str()),
            ("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"),
            ("client_assertion", jwt.as_str()),
        ];
        let resp = app.http.post(t.token()).form(&form).send().await.unwrap();
        let status = resp.status().as_u16();
        let body: Value = resp.json().await.unwrap();
        assert_eq!(status, want, "{name}: {body}");
        if want == 401 {
            assert_eq!(body["error"], "invalid_client", "{name}");
        }
    }
}

#[tokio::test]
async fn refresh_rotates_tokens_except_in_oracle_mode() {
    let app = spawn_app().await;
    // Generic: offline_access → refresh token; a refresh rotates it and the old one dies.
    let t = app.tenant("generic");
    let body = public_launch(
        &app,
        &t,
        "test-public",
        "practitioner=pr-jpike&patient=pat-01",
        &format!("{LAUNCH_SCOPE} offline_access"),
    )
    .await;
    let rt1 = body["refresh_token"].as_str().expect("offline_access yields a refresh token").to_string();
    let (status, r2) =
        token(&app, &t, Cred::Public("test-public"), &[("grant_type", "refresh_token"), ("refresh_token", &rt1)]).await;
    assert_eq!(status, 200, "{r2}");
    let rt2 = r2["refresh_token"].as_str().expect("rotated").to_string();
    assert_ne!(rt1, rt2);
    assert_eq!(r2["patient"], "pat-01", "context survives a refresh");
    assert_eq!(fhir_get(&app, &t, r2["access_token"].as_str().unwrap(), "/Patient/pat-01").await.0, 200);
    let (status, reuse) =
        token(&app, &t, Cred::Public("test-public"), &[("grant_type", "refresh_token"), ("refresh_token", &rt1)]).await;
    assert_eq!((status, reuse["error"].as_str()), (400, Some("invalid_grant")), "a rotated refresh token is dead");
    // Narrowing is allowed, widening is not.
    let (status, _) = token(
        &app,
        &t,
        Cred::Public("test-public"),
        &[
            ("grant_type", "refresh_token"),
            ("refresh_token", &rt2),
            ("scope", "patient/Patient.rs patient/Observation.rs"),
        ],
    )
    .await;
    assert_eq!(status, 400);
    // No offline/online access → no refresh token.
    let body = public_launch(&app, &t, "test-public", "practitioner=pr-jpike&patient=pat-01", LAUNCH_SCOPE).await;
    assert!(body.get("refresh_token").is_none());

    // Oracle Health: refresh answers carry no new refresh token; the original stays valid.
    let o = app.tenant("oracle-health");
    let (code, verifier) = launch_code(
        &app,
        &o,
        "test-oracle-basic",
        "practitioner=pr-hmarsh&patient=pat-05",
        "launch openid fhirUser online_access patient/Patient.read",
    )
    .await;
    let (status, first) = token(
        &app,
        &o,
        Cred::Basic("test-oracle-basic", SECRET),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &app.redirect_uri()),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(status, 200, "{first}");
    let rt = first["refresh_token"].as_str().unwrap().to_string();
    for _ in 0..2 {
        let (status, again) = token(
            &app,
            &o,
            Cred::Basic("test-oracle-basic", SECRET),
            &[("grant_type", "refresh_token"), ("refresh_token", &rt)],
        )
        .await;
        assert_eq!(status, 200, "{again}");
        assert!(again.get("refresh_token").is_none(), "Oracle does not rotate");
    }

    // Epic: a confidential client gets a refresh token without offline_access in scope.
    let e = app.tenant("epic");
    let l =
        crate_launch(&app, &e, "test-epic-jwt", Auth::JwtRs384, "practitioner=pr-jpike&patient=pat-01", LAUNCH_SCOPE)
            .await;
    let rt = l.token.refresh_token().expect("Epic issues a refresh token to confidential clients");
    assert!(!l.token.scopes().into_iter().flatten().any(|s| s.as_str() == "offline_access"));
    let refreshed = l
        .client
        .exchange_refresh_token(&RefreshToken::new(rt.secret().clone()))
        .add_extra_param("client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:jwt-bearer")
        .add_extra_param(
            "client_assertion",
            assertion(&keys().rs384, "test-epic-jwt", &e.token(), 120, &uuid::Uuid::new_v4().to_string()),
        )
        .request_async(&OAuthHttp::new(http_client()))
        .await
        .expect("refresh through the oauth2 crate");
    assert!(refreshed.refresh_token().is_some());
}

#[tokio::test]
async fn standalone_launch_signs_in_through_the_ehr_login_page() {
    let app = spawn_app().await;
    let t = app.tenant("generic");
    let a = Authorize::new(
        &app,
        &t,
        "test-public",
        "openid fhirUser launch/patient patient/Patient.rs user/Practitioner.rs",
    );
    let r = app.http.get(a.url(&t)).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    assert!(
        html.contains("SANDBOX — synthetic data") && html.contains("sandbox_user") && html.contains("sandbox_patient"),
        "{html}"
    );
    // Submitting the form (a POST to authorize) completes the authorization.
    let mut form = a.params.clone();
    form.push(("sandbox_user".into(), "pr-lbrandt".into()));
    form.push(("sandbox_patient".into(), "pat-07".into()));
    let r = app.http.post(t.authorize()).form(&form).send().await.unwrap();
    assert_eq!(r.status(), 302);
    let q = query_map(&location(&r));
    let (status, body) = token(
        &app,
        &t,
        Cred::Public("test-public"),
        &[
            ("grant_type", "authorization_code"),
            ("code", &q["code"]),
            ("redirect_uri", &app.redirect_uri()),
            ("code_verifier", &a.pkce.verifier),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["patient"], "pat-07");
    assert_eq!(fhir_get(&app, &t, body["access_token"].as_str().unwrap(), "/Practitioner/pr-lbrandt").await.0, 200);
}

#[tokio::test]
async fn authorize_accepts_post_forms() {
    let app = spawn_app().await;
    let t = app.tenant("epic");
    let (_, launch) = app.ehr_launch("vendor=epic&client=test-epic-public&practitioner=pr-jpike&patient=pat-01").await;
    let a = Authorize::new(&app, &t, "test-epic-public", LAUNCH_SCOPE).set("launch", &launch);
    let r = app.http.post(t.authorize()).form(&a.params).send().await.unwrap();
    assert_eq!(r.status(), 302);
    assert!(query_map(&location(&r)).contains_key("code"));
}

#[tokio::test]
async fn vendor_quirks_show_in_token_responses() {
    let app = spawn_app().await;
    // Epic.
    let e = app.tenant("epic");
    let body = public_launch(
        &app,
        &e,
        "test-epic-public",
        "practitioner=pr-jpike&patient=pat-01&need_patient_banner=false",
        &format!("{LAUNCH_SCOPE} profile"),
    )
    .await;
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["need_patient_banner"], "false", "Epic sends the banner flag as a string");
    assert_eq!(body["loginDepartment"], "loc-4w");
    assert_eq!(body["location"], "loc-4w-412a");
    assert!(body["__epic.dstu2.patient"].is_string());
    assert!(body["scope"].as_str().unwrap().ends_with(' '), "Epic's scope list ends with a space");
    assert!(body.get("tenant").is_none());
    let claims: Value = jsonwebtoken::dangerous::insecure_decode_claims(body["id_token"].as_str().unwrap()).unwrap();
    assert_eq!(claims["fhirUser"], format!("{}/Practitioner/pr-jpike", e.fhir), "absolute fhirUser");
    assert_eq!(claims["sub"], "pr-jpike");
    assert_eq!(claims["preferred_username"], "JPIKE");
    assert!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap() <= 300,
        "Epic id_tokens live five minutes"
    );

    // Oracle Health: GUID in the base, 570 s tokens, tenant, trimmed scopes, error_uri.
    let o = app.tenant("oracle-health");
    assert!(o.fhir.contains(ORACLE_GUID));
    let (code, verifier) = launch_code(
        &app,
        &o,
        "test-oracle-public",
        "practitioner=pr-hmarsh&patient=pat-05",
        "launch openid fhirUser patient/Patient.read",
    )
    .await;
    let (status, body) = token(
        &app,
        &o,
        Cred::Public("test-oracle-public"),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &app.redirect_uri()),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(status, 200, "{body}");
    // test-oracle-public has no allowed_scopes, so everything is trimmed away.
    assert_eq!(body["scope"], "");
    let (code, verifier) = launch_code(
        &app,
        &o,
        "test-oracle-basic",
        "practitioner=pr-hmarsh&patient=pat-05",
        "launch openid fhirUser patient/Patient.read patient/Observation.read user/Location.read",
    )
    .await;
    let (_, body) = token(
        &app,
        &o,
        Cred::Basic("test-oracle-basic", SECRET),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &app.redirect_uri()),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(body["expires_in"], 570);
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["tenant"], ORACLE_GUID);
    assert_eq!(body["scope"], "launch openid fhirUser patient/Patient.read", "trimmed to the registration");
    let claims: Value = jsonwebtoken::dangerous::insecure_decode_claims(body["id_token"].as_str().unwrap()).unwrap();
    assert!(claims["fhirUser"].as_str().unwrap().starts_with("http"), "absolute fhirUser");
    assert_eq!(claims["name"], "Dr. Helena Marsh, MD");
    let (status, err) = token(
        &app,
        &o,
        Cred::Public("test-oracle-public"),
        &[
            ("grant_type", "authorization_code"),
            ("code", "nope"),
            ("redirect_uri", &app.redirect_uri()),
            ("code_verifier", &verifier),
        ],
    )
    .await;
    assert_eq!(status, 400);
    assert!(err["error_uri"].as_str().unwrap().ends_with("/sandbox/help/oauth-errors"));
    let q = Authorize::new(&app, &o, "test-oracle-public", "launch").redirect(&app, &o).await;
    assert!(q.contains_key("error_uri"), "authorize errors carry error_uri too: {q:?}");

    // MEDITECH: launch/location → fhirContext; US Core profiles on resources.
    let m = app.tenant("meditech");
    let body = public_launch(
        &app,
        &m,
        "test-meditech-public",
        "practitioner=pr-planning&patient=pat-08",
        &format!("{LAUNCH_SCOPE} launch/location"),
    )
    .await;
    assert_eq!(body["fhirContext"], json!([{ "reference": "Location/loc-ed-9a" }]));
    assert_eq!(body["token_type"], "Bearer");
    let (_, patient) = fhir_get(&app, &m, body["access_token"].as_str().unwrap(), "/Patient/pat-08").await;
    assert_eq!(patient["meta"]["profile"][0], "http://hl7.org/fhir/us/core/StructureDefinition/us-core-patient");

    // Generic: relative fhirUser, boolean banner.
    let g = app.tenant("generic");
    let body = public_launch(&app, &g, "test-public", "practitioner=pr-jpike&patient=pat-01", LAUNCH_SCOPE).await;
    assert_eq!(body["need_patient_banner"], true);
    let claims: Value = jsonwebtoken::dangerous::insecure_decode_claims(body["id_token"].as_str().unwrap()).unwrap();
    assert_eq!(claims["fhirUser"], "Practitioner/pr-jpike");
    assert_eq!(body["encounter"], "enc-01-a", "the latest encounter comes with the launch");
    assert_eq!(body["smart_style_url"], app.url("/sandbox/smart-style.json"));
}

#[tokio::test]
async fn toolbar_launch_has_no_patient_and_drops_patient_scopes() {
    let app = spawn_app().await;
    let t = app.tenant("generic");
    let body = public_launch(&app, &t, "test-public", "practitioner=pr-mwebb", LAUNCH_SCOPE).await;
    assert!(body.get("patient").is_none() && body.get("encounter").is_none());
    assert!(!body["scope"].as_str().unwrap().contains("patient/"), "{}", body["scope"]);
    assert_eq!(fhir_get(&app, &t, body["access_token"].as_str().unwrap(), "/Practitioner/pr-mwebb").await.0, 200);
}

#[tokio::test]
async fn every_injected_launcher_error_fires_where_documented() {
    let app = spawn_app().await;
    let t = app.tenant("generic");
    let q = |e: &str| format!("vendor=generic&client=test-public&practitioner=pr-jpike&patient=pat-01&auth_error={e}");
    // At authorize: a redirect with the error.
    for (inject, error) in [
        ("auth_invalid_client_id", "invalid_client"),
        ("auth_invalid_redirect_uri", "invalid_request"),
        ("auth_invalid_scope", "invalid_scope"),
    ] {
        let (_, launch) = app.ehr_launch(&q(inject)).await;
        let a = Authorize::new(&app, &t, "test-public", LAUNCH_SCOPE).set("launch", &launch);
        let r = a.redirect(&app, &t).await;
        assert_eq!(r["error"], error, "{inject}");
        assert_eq!(r["state"], a.state, "{inject}: state is echoed on errors");
        assert!(r["error_description"].contains("injected"));
    }
    // At the code exchange: JSON errors.
    for (inject, status, error) in [
        ("auth_invalid_client_secret", 401, "invalid_client"),
        ("token_invalid_token", 401, "invalid_client"),
        ("token_expired_registration_token", 401, "invalid_client"),
        ("token_invalid_scope", 401, "invalid_scope"),
        ("token_invalid_jti", 401, "invalid_client"),
    ] {
        let (_, launch) = app.ehr_launch(&q(inject)).await;
        let a = Authorize::new(&app, &t, "test-public", LAUNCH_SCOPE).set("launch", &launch);
        let code = a.redirect(&app, &t).await["code"].clone();
        let (s, body) = token(
            &app,
            &t,
            Cred::Public("test-public"),
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", &app.redirect_uri()),
                ("code_verifier", &a.pkce.verifier),
            ],
        )
        .await;
        assert_eq!((s, body["error"].as_str()), (status, Some(error)), "{inject}: {body}");
    }
    // At refresh.
    let (_, launch) = app.ehr_launch(&q("token_expired_refresh_token")).await;
    let a = Authorize::new(&app, &t, "test-public", &format!("{LAUNCH_SCOPE} offline_access")).set("launch", &launch);
    let code = a.redirect(&app, &t).await["code"].clone();
    let (s, body) = token(
        &app,
        &t,
        Cred::Public("test-public"),
        &[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", &app.redirect_uri()),
            ("code_verifier", &a.pkce.verifier),
        ],
    )
    .await;
    assert_eq!(s, 200);
    let (s, err) = token(
        &app,
        &t,
        Cred::Public("test-public"),
        &[("grant_type", "refresh_token"), ("refresh_token", body["refresh_token"].as_str().unwrap())],
    )
    .await;
    assert_eq!((s, err["error"].as_str()), (403, Some("invalid_grant")));
    // On FHIR requests: the token response carries sim_error and every read is 401.
    for inject in ["request_invalid_token", "request_expired_token"] {
        let body = public_launch(
            &app,
            &t,
            "test-public",
            &format!("practitioner=pr-jpike&patient=pat-01&auth_error={inject}"),
            LAUNCH_SCOPE,
        )
        .await;
        assert!(body["sim_error"].is_string(), "{inject}");
        let (s, oo) = fhir_get(&app, &t, body["access_token"].as_str().unwrap(), "/Patient/pat-01").await;
        assert_eq!(s, 401, "{inject}");
        assert_eq!(oo["resourceType"], "OperationOutcome");
    }
}
