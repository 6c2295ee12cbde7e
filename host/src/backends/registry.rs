//! The databases cistern knows, one line each. Everything else about a
//! database lives in its folder under `backends/`, behind [`Backend`].

use std::path::Path;

use async_trait::async_trait;

use super::pool::AnyPool;
use crate::config::{BackendConfig, ConfigError, HookConfig, PoolEntry};
use crate::control::ControlSlot;

/// Every database, by the name of its `backend.<name>.*` keys.
pub static BACKENDS: &[&dyn Backend] = &[
    &super::sqlite::Sqlite,
    &super::mysql::Mysql,
    &super::pgsql::Pgsql,
    &super::pgsql::Timescale,
    &super::redis::Redis,
    &super::influxdb::Influxdb,
    &super::opentsdb::Opentsdb,
    &super::dynamo::Dynamo,
    &super::mongo::Mongo,
    &super::cassa::Cassa,
];

/// Checks a template file's text.
pub type TemplateCheck = fn(&str) -> Result<(), String>;

/// What a pool is built from.
pub struct Connect<'a> {
    pub entry: &'a PoolEntry,
    pub backend: &'a BackendConfig,
    /// The directory of the top configuration file, for relative paths.
    pub base_dir: &'a Path,
    /// For pools that take requests to the broker (Redis's control channel).
    pub control: &'a ControlSlot,
    /// A configuration check (`cistern --check`): check the keys, build the
    /// pool, but touch nothing (no file made, no connection opened).
    pub check_only: bool,
}

/// One database: its configuration keys, its stock guest, and its pools.
#[async_trait]
pub trait Backend: Send + Sync + 'static {
    /// `backend.<name>.*`.
    fn name(&self) -> &'static str;

    /// Other names its keys may use (Cassandra's pools are `backend.ecql.*`).
    fn aliases(&self) -> &'static [&'static str] {
        &[]
    }

    /// Backend-wide keys (`backend.<name>.<key>`) other than pools and hooks.
    fn backend_keys(&self) -> &'static [&'static str] {
        &["max_returned_count", "time_range"]
    }

    /// Backend-wide keys a pool is built from: it is rebuilt when they change.
    fn pool_wide_keys(&self) -> &'static [&'static str] {
        &[]
    }

    /// Fields a hook entry may have besides the common ones (MongoDB's
    /// `payload_format`), and the check of their values.
    fn hook_fields(&self) -> &'static [&'static str] {
        &[]
    }
    fn check_hook(&self, hook: &HookConfig) -> Result<(), String> {
        let _ = hook;
        Ok(())
    }

    /// The stock guest serving its `{"function": ...}` actions.
    fn stock_guest(&self) -> &'static str;

    /// The check of its template file (`emqx_backend_<name>.tmpl`), if its
    /// `on_message_publish` is written by one.
    fn template(&self) -> Option<TemplateCheck> {
        None
    }

    async fn connect(&self, cx: Connect<'_>) -> Result<AnyPool, ConfigError>;
}

/// The backend whose keys use `name`.
pub fn find(name: &str) -> Option<&'static dyn Backend> {
    BACKENDS.iter().copied().find(|b| b.name() == name || b.aliases().contains(&name))
}
