//! Startup: open storage, load keys, wire the sandbox (when enabled) and start HTTP.
//! This is the only place that decides which implementations run.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use url::Url;

use crate::audit::{Audit, AuditError, AuditSettings, Signer};
use crate::config::{Config, Profile};
use crate::crypto::KeyRing;
use crate::keys::{AppKeys, KeyError};
use crate::kv::{Kv, KvError, RedisKv, StoreKv};
use crate::sandbox::{Sandbox, SandboxError};
use crate::smart::Smart;
use crate::smart::tenant::Tenants;
use crate::store::{self, Store, StoreError};
use crate::web;

#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: String, source: std::io::Error },
    #[error("cannot create the data directory {path}: {source}")]
    DataDir { path: String, source: std::io::Error },
    #[error("database: {0}")]
    Store(#[from] StoreError),
    #[error("redis is configured but unreachable: {0}")]
    Redis(KvError),
    #[error("keys: {0}")]
    Keys(#[from] KeyError),
    #[error("sandbox: {0}")]
    Sandbox(#[from] SandboxError),
    #[error("http server: {0}")]
    Serve(std::io::Error),
    #[error("keys: {0}")]
    Crypto(crate::crypto::CryptoError),
    #[error("audit: {0}")]
    Audit(#[from] AuditError),
    #[error("{0}")]
    Tenant(#[from] crate::smart::tenant::TenantError),
    #[error("access policy: {0}")]
    Policy(String),
    #[error("service desk: {0}")]
    Desk(#[from] crate::desk::DeskError),
}

/// The audit settings of a configuration.
pub fn audit_settings(config: &Config) -> AuditSettings {
    AuditSettings {
        origin: config.audit.origin.clone(),
        key_name: config.audit.key_name.clone(),
        checkpoint_dir: config.checkpoint_dir(),
        checkpoint_every: config.audit.checkpoint_every,
        checkpoint_interval: Duration::from_secs(config.audit.checkpoint_interval_secs),
        signing_key: config.audit.signing_key.as_ref().map(|k| k.expose().to_string()),
    }
}

/// The audit signer and service of a configuration (also used by the `audit` commands).
pub async fn open_audit(
    config: &Config,
    store: Arc<dyn Store>,
    keys: Arc<KeyRing>,
) -> Result<Arc<Audit>, StartupError> {
    let signer = Arc::new(Signer::load(audit_settings(config), &config.server.data_dir)?);
    Ok(Audit::start(store, keys, signer).await?)
}

/// Install the process-wide rustls crypto provider (ring). Safe to call more than once.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A built, not yet running, application.
pub struct Application {
    pub addr: SocketAddr,
    pub public_url: Url,
    pub store: Arc<dyn Store>,
    pub kv: Arc<dyn Kv>,
    pub keys: Arc<KeyRing>,
    pub audit: Arc<Audit>,
    pub config: Arc<Config>,
    pub sandbox_enabled: bool,
    pub handoffs: Arc<crate::handoff::Handoffs>,
    /// The service-desk relay (delivers nothing when no sink is configured).
    pub desk: Arc<crate::desk::Relay>,
    server: web::Server,
}

impl Application {
    pub async fn build(config: Config) -> Result<Application, StartupError> {
        install_crypto_provider();
        let config = Arc::new(config);
        let data_dir = config.server.data_dir.clone();
        std::fs::create_dir_all(&data_dir)
            .map_err(|source| StartupError::DataDir { path: data_dir.display().to_string(), source })?;
        let listener = TcpListener::bind(&config.server.bind)
            .map_err(|source| StartupError::Bind { addr: config.server.bind.clone(), source })?;
        let addr = listener.local_addr().map_err(StartupError::Serve)?;
        let public_url = config.public_url(addr);

        let store = store::open(
            &config.database_url(),
            config.database.max_connections,
            Duration::from_secs(config.database.connect_timeout_secs),
        )
        .await?;
        let redis: Option<Arc<dyn Kv>> = match &config.redis.url {
            None => None,
            Some(url) => {
                let r = RedisKv::new(url.expose(), &config.redis.key_prefix).map_err(StartupError::Redis)?;
                r.ping().await.map_err(StartupError::Redis)?;
                Some(Arc::new(r))
            }
        };
        let kv: Arc<dyn Kv> = match &redis {
            Some(r) => r.clone(),
            None => Arc::new(StoreKv(store.clone())),
        };
        let app_keys = Arc::new(AppKeys::load_or_create(&data_dir)?);
        let sandbox = if config.sandbox_enabled() {
            tracing::warn!(
                "SANDBOX EHR ENABLED: synthetic data and test credentials are served under /sandbox; never enable it in production"
            );
            if config.server.profile == Profile::Production {
                tracing::warn!("the sandbox EHR is explicitly enabled in the production profile");
            }
            let sb = Sandbox::new(
                &config.sandbox,
                public_url.clone(),
                &data_dir,
                app_keys.jwks(),
                kv.clone(),
                store.clone(),
            )?;
            Some(Arc::new(sb))
        } else {
            None
        };
        let sandbox_enabled = sandbox.is_some();
        let keys = Arc::new(
            KeyRing::load(config.security.master_key.as_ref().map(|k| k.expose()), &data_dir, store.clone())
                .map_err(StartupError::Crypto)?,
        );
        let audit = open_audit(&config, store.clone(), keys.clone()).await?;
        let production = config.server.profile == Profile::Production;
        let tenants = Tenants::resolve(&config.tenants, &public_url, production, sandbox_enabled)?;
        let tenant_ids: Vec<String> = tenants.all().iter().map(|t| t.id.clone()).collect();
        let compiled =
            crate::policy::admin::load_active(store.as_ref(), &tenant_ids).await.map_err(StartupError::Policy)?;
        tracing::info!(version = compiled.version, "access policy loaded");
        let engine = Arc::new(crate::policy::PolicyEngine::new(compiled));
        let policy_admin =
            Arc::new(crate::policy::admin::PolicyAdmin::new(store.clone(), engine.clone(), audit.clone(), tenant_ids));
        let smart = Arc::new(Smart::new(
            tenants,
            kv.clone(),
            keys.clone(),
            audit.clone(),
            app_keys.clone(),
            Duration::from_secs(config.sessions.idle_timeout_secs),
            Duration::from_secs(config.sessions.absolute_timeout_secs),
            engine,
            store.clone(),
        ));
        let handoffs =
            Arc::new(crate::handoff::Handoffs::new(store.clone(), keys.clone(), audit.clone(), config.handoff.clone()));
        // Desks first: the first sink's reference is the ticket number the clinician sees.
        let mut sinks = crate::desk::http_sinks(&config.desk, public_url.as_str(), production)?;
        if let (true, Some(url)) =
            (config.desk.redis_stream, config.desk.redis_url.as_ref().or(config.redis.url.as_ref()))
        {
            let sink =
                crate::desk::RedisStreamSink::new(url.expose(), &config.redis.key_prefix, &config.desk.stream_key)
                    .map_err(|e| StartupError::Redis(KvError::Redis(e)))?;
            sinks.push(Arc::new(sink));
        }
        let desk = Arc::new(crate::desk::Relay::new(
            store.clone(),
            keys.clone(),
            audit.clone(),
            sinks,
            crate::desk::RelaySettings {
                batch: config.desk.batch.max(1),
                lease: Duration::from_secs(config.desk.lease_secs.max(1)),
                max_attempts: config.desk.max_attempts.max(1),
                retry_base: Duration::from_millis(config.desk.retry_base_ms.max(1)),
                retry_max: Duration::from_secs(config.desk.retry_max_secs.max(1)),
            },
        ));
        handoffs.set_desk_configured(desk.has_sinks());
        let config_handle = config.clone();
        let state = web::AppState::new(
            config,
            public_url.clone(),
            store.clone(),
            kv.clone(),
            redis,
            app_keys,
            sandbox,
            smart,
            policy_admin,
            handoffs.clone(),
            desk.clone(),
        );
        if !state.cookie.secure {
            tracing::warn!(
                "serving over plain HTTP on a loopback address: the session cookie is not Secure and has no __Host- prefix (development only)"
            );
        }
        let server = web::serve(state, listener).map_err(StartupError::Serve)?;
        Ok(Application {
            addr,
            public_url,
            store,
            kv,
            keys,
            audit,
            config: config_handle,
            sandbox_enabled,
            handoffs,
            desk,
            server,
        })
    }

    pub fn stopper(&self) -> web::Stopper {
        self.server.stopper()
    }

    /// Run until stopped. Expired key/value entries are purged in the background.
    pub async fn run(self) -> std::io::Result<()> {
        let (config, store, keys, audit) =
            (self.config.clone(), self.store.clone(), self.keys.clone(), self.audit.clone());
        let purge = tokio::spawn(async move {
            let mut tick = tokio::time::interval(crate::retention::interval(&config));
            loop {
                tick.tick().await;
                if let Err(e) = crate::retention::purge(&config, store.as_ref(), &keys, &audit).await {
                    tracing::warn!(error = %e, "retention purge failed");
                }
            }
        });
        let (handoffs, every) =
            (self.handoffs.clone(), Duration::from_secs(self.config.handoff.sweep_interval_secs.max(1)));
        let sweep = tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                if let Err(e) = handoffs.sweep().await {
                    tracing::warn!(error = %e, "handoff SLA sweep failed");
                }
            }
        });
        let (desk, every) = (self.desk.clone(), Duration::from_millis(self.config.desk.relay_interval_ms.max(10)));
        let relay = tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                // Deliver until the queue is drained, then wait for the next tick.
                loop {
                    match desk.run_once().await {
                        Ok(0) => break,
                        Ok(_) => continue,
                        Err(e) => {
                            tracing::warn!(error = %e, "desk relay pass failed");
                            break;
                        }
                    }
                }
            }
        });
        let (mut delivered, handoffs) = (self.desk.subscribe(), self.handoffs.clone());
        let forward = tokio::spawn(async move {
            loop {
                match delivered.recv().await {
                    Ok(d) => handoffs.notify(d.tenant, d.message_id),
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                }
            }
        });
        let result = self.server.run().await;
        purge.abort();
        sweep.abort();
        relay.abort();
        forward.abort();
        self.store.close().await;
        result
    }
}
