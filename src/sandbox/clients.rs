//! Client registrations of the sandbox tenants (from `sandbox.clients` in the configuration).

use std::sync::Arc;

use jsonwebtoken::jwk::JwkSet;
use url::Url;

use super::tenant::Tenant;
use crate::config::{ClientAuth, SandboxClient, Secret};

#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error(
        "sandbox.clients: `{client}` names unknown tenant `{tenant}` (known: generic, epic, oracle-health, meditech)"
    )]
    UnknownTenant { client: String, tenant: String },
    #[error("sandbox.clients: `{client}` registered twice for tenant `{tenant}`")]
    Duplicate { client: String, tenant: String },
    #[error("sandbox.clients: `{client}`: tenant `{tenant}` does not offer {method} client authentication")]
    UnsupportedAuth { client: String, tenant: String, method: &'static str },
    #[error("sandbox.clients: `{client}`: jwks is neither \"chartdesk\" nor a JWKS JSON document")]
    BadJwks { client: String },
    #[error("sandbox.clients: `{client}`: `{uri}` is not a valid URI")]
    BadUri { client: String, uri: String },
}

pub struct Client {
    pub tenant: String,
    pub client_id: String,
    pub auth: ClientAuth,
    pub secret: Option<Secret>,
    pub jwks: Option<JwkSet>,
    /// Absolute redirect URIs.
    pub redirect_uris: Vec<String>,
    /// Absolute launch URL.
    pub launch_uri: String,
    /// Absolute launch URL of the toolbar (no patient) launch point, if registered.
    pub toolbar_launch_uri: Option<String>,
    pub allowed_scopes: Option<Vec<String>>,
}

impl Client {
    pub fn is_confidential(&self) -> bool {
        self.auth != ClientAuth::Public
    }
}

pub struct Registry {
    clients: Vec<Arc<Client>>,
}

impl Registry {
    pub fn new(
        configured: &[SandboxClient],
        tenants: &[Arc<Tenant>],
        public: &Url,
        app_jwks: &JwkSet,
    ) -> Result<Registry, RegistryError> {
        let mut clients: Vec<Arc<Client>> = Vec::new();
        for c in configured {
            let tenant = tenants.iter().find(|t| t.id == c.tenant).ok_or_else(|| RegistryError::UnknownTenant {
                client: c.client_id.clone(),
                tenant: c.tenant.clone(),
            })?;
            if clients.iter().any(|x| x.tenant == c.tenant && x.client_id == c.client_id) {
                return Err(RegistryError::Duplicate { client: c.client_id.clone(), tenant: c.tenant.clone() });
            }
            let method = match c.auth {
                ClientAuth::Public => "none",
                ClientAuth::ClientSecretBasic => "client_secret_basic",
                ClientAuth::PrivateKeyJwt => "private_key_jwt",
            };
            if !tenant.auth_methods().contains(&method) {
                return Err(RegistryError::UnsupportedAuth {
                    client: c.client_id.clone(),
                    tenant: c.tenant.clone(),
                    method,
                });
            }
            let jwks = match c.jwks.as_deref() {
                None => None,
                Some("chartdesk") => Some(app_jwks.clone()),
                Some(inline) => Some(
                    serde_json::from_str::<JwkSet>(inline)
                        .map_err(|_| RegistryError::BadJwks { client: c.client_id.clone() })?,
                ),
            };
            let absolute = |uri: &str| -> Result<String, RegistryError> {
                public
                    .join(uri)
                    .map(|u| u.to_string())
                    .map_err(|_| RegistryError::BadUri { client: c.client_id.clone(), uri: uri.to_string() })
            };
            clients.push(Arc::new(Client {
                tenant: c.tenant.clone(),
                client_id: c.client_id.clone(),
                auth: c.auth,
                secret: c.client_secret.clone(),
                jwks,
                redirect_uris: c.redirect_uris.iter().map(|u| absolute(u)).collect::<Result<_, _>>()?,
                launch_uri: absolute(&c.launch_uri)?,
                toolbar_launch_uri: c.toolbar_launch_uri.as_deref().map(absolute).transpose()?,
                allowed_scopes: c.allowed_scopes.clone(),
            }));
        }
        Ok(Registry { clients })
    }

    pub fn get(&self, tenant: &str, client_id: &str) -> Option<&Arc<Client>> {
        self.clients.iter().find(|c| c.tenant == tenant && c.client_id == client_id)
    }

    /// The first registration for a tenant (the default client for `/sandbox/ehr-launch`).
    pub fn default_for(&self, tenant: &str) -> Option<&Arc<Client>> {
        self.clients.iter().find(|c| c.tenant == tenant)
    }

    pub fn for_tenant<'a>(&'a self, tenant: &'a str) -> impl Iterator<Item = &'a Arc<Client>> + 'a {
        self.clients.iter().filter(move |c| c.tenant == tenant)
    }
}
