//! The production backend: PostgreSQL.

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};

use super::{Backend, StoreError, migrator, sql_store};

pub struct PgStore {
    pub(crate) pool: PgPool,
}

impl PgStore {
    /// Connect and apply migrations. A `?options=-c search_path=…` URL parameter selects a
    /// schema (the tests give each run its own).
    pub async fn open(url: &str, max_connections: u32, timeout: Duration) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url).map_err(StoreError::Unavailable)?;
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(timeout)
            .connect_with(options)
            .await
            .map_err(StoreError::Unavailable)?;
        migrator(Backend::Postgres).run(&pool).await?;
        Ok(PgStore { pool })
    }
}

sql_store!(PgStore, Backend::Postgres);
