//! A Cassandra pool: one driver session (`size` connections to each node,
//! in the configured keyspace), opened on first use rather than at start,
//! so a cluster that is down then does not stop cistern: its writes go to
//! the outbox until it answers. Once open, the driver reconnects by itself.

use std::num::NonZeroUsize;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use scylla::client::caching_session::CachingSession;
use scylla::client::execution_profile::ExecutionProfile;
use scylla::client::session_builder::SessionBuilder;
use scylla::client::PoolSize;
use tokio::sync::OnceCell;

use super::config::CassaConfig;
use super::operations::{self, CassaError};
use crate::backends::pool::{Pool, RawAction};
use crate::config::ActionSpec;
use crate::model::HookPoint;

/// How long one request may take before its write is unavailable (and goes
/// to the outbox); the outbox's own write timeout is shorter by default.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Prepared statements kept per pool: the stock guest's and raw actions'.
const STATEMENT_CACHE: usize = 256;

/// A pool, shared by every action that names it. Cloning shares it.
#[derive(Clone)]
pub struct CassaPool {
    /// `ecql.<pool>`, for logs and errors.
    pub name: Arc<str>,
    config: Arc<CassaConfig>,
    session: Arc<OnceCell<Arc<CachingSession>>>,
}

pub fn new(name: &str, config: CassaConfig) -> CassaPool {
    CassaPool { name: Arc::from(format!("ecql.{name}")), config: Arc::new(config), session: Arc::default() }
}

impl CassaPool {
    /// The session, opened now if it is not yet; a failed open is tried
    /// again by the next call.
    pub(super) async fn session(&self) -> Result<Arc<CachingSession>, CassaError> {
        self.session.get_or_try_init(|| self.open()).await.cloned()
    }

    async fn open(&self) -> Result<Arc<CachingSession>, CassaError> {
        let c = &self.config;
        let profile = ExecutionProfile::builder().request_timeout(Some(REQUEST_TIMEOUT)).build();
        let size = NonZeroUsize::new(c.size).unwrap_or(NonZeroUsize::MIN);
        let mut builder = SessionBuilder::new()
            .known_nodes(&c.nodes.0)
            .connection_timeout(CONNECT_TIMEOUT)
            .pool_size(PoolSize::PerHost(size))
            .default_execution_profile_handle(profile.into_handle())
            .use_keyspace(&c.keyspace, false);
        if !c.username.is_empty() {
            builder = builder.user(&c.username, c.password.expose());
        }
        match builder.build().await {
            Ok(session) => Ok(Arc::new(CachingSession::from(session, STATEMENT_CACHE))),
            Err(e) if operations::session_unavailable(&e) => {
                Err(CassaError::Unavailable(format!("{}: connecting to {}: {e}", self.name, c.nodes.0.join(","))))
            }
            Err(e) => Err(CassaError::Refused(format!("{}: connecting to {}: {e}", self.name, c.nodes.0.join(",")))),
        }
    }
}

#[async_trait]
impl Pool for CassaPool {
    async fn ping(&self) -> Result<(), String> {
        operations::ping(self).await.map_err(|e| e.to_string())
    }

    fn raw_action(&self, spec: &ActionSpec, point: HookPoint) -> Option<Result<Box<dyn RawAction>, String>> {
        let ActionSpec::Cql(statements) = spec else { return None };
        Some(super::raw::compile_all(self, statements, point).map(|a| Box::new(a) as Box<dyn RawAction>))
    }
}
