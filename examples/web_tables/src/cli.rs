//! What web_tables and axum_tables share on their command line: the database, its pool's size
//! and wait, and the address to listen on.

use crate::app::demo_database;
use nimue::{BoxConnector, PoolBuilder};
use std::time::Duration;

#[derive(clap::Args, Debug)]
pub struct ServeArgs {
    /// Database URL (sqlite:PATH, postgres://…, mysql://…, odbc:…); default: a demo SQLite
    /// database in the temp directory.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,
    /// Connections the pool keeps open even when idle.
    #[arg(long, default_value_t = 1)]
    pub min: usize,
    /// Most connections the pool opens.
    #[arg(long, default_value_t = 8)]
    pub max: usize,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:8080")]
    pub bind: String,
    /// How long a request waits for a database connection before its 503, in milliseconds.
    #[arg(long, default_value_t = 1000)]
    pub wait_ms: u64,
}

impl ServeArgs {
    /// The database's URL (the demo database's when none was given), and a builder of its
    /// pool, named `name`, sized and timed by these arguments.
    #[allow(dead_code)] // (each of the two programs uses one of them)
    pub fn pool_builder(&self, name: &str) -> Result<(String, PoolBuilder<BoxConnector>), String> {
        self.pool_builder_of(name, |connector| connector)
    }

    /// [`pool_builder`](Self::pool_builder) of the connector `wrap` makes of the URL's.
    #[allow(dead_code)] // (each of the two programs uses one of them)
    pub fn pool_builder_of<K: nimue::Connect>(
        &self,
        name: &str,
        wrap: impl FnOnce(BoxConnector) -> K,
    ) -> Result<(String, PoolBuilder<K>), String> {
        let url = match &self.database_url {
            Some(url) => url.clone(),
            None => demo_database().map_err(|e| format!("creating the demo database: {e}"))?,
        };
        let connector = nimue::any::connector(&url).map_err(|e| e.to_string())?;
        let builder = nimue::Pool::builder(wrap(connector))
            .name(name)
            .min_idle(self.min)
            .max_size(self.max)
            .connection_timeout(Duration::from_millis(self.wait_ms));
        Ok((url, builder))
    }
}
