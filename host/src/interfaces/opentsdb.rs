//! `opentsdb`: data points put to the action's own OpenTSDB pool.

use tracing::Instrument;

use super::{denied, write_error};
use crate::backends::opentsdb::{operations, OpentsdbPool};
use crate::backends::AnyPool;
use crate::engine::bindings::{opentsdb as wit, types};
use crate::engine::HostState;

impl HostState {
    /// The action's OpenTSDB pool, if `asked` names it.
    fn opentsdb_pool(&self, asked: &str) -> Result<OpentsdbPool, types::Error> {
        let scope = self
            .scope()
            .filter(|s| s.pool_name == asked)
            .ok_or_else(|| denied(asked, self.scope().map(|s| s.pool_name.as_str())))?;
        match &scope.pool {
            AnyPool::Opentsdb(pool) => Ok(pool.clone()),
            _ => Err(types::Error::Denied(format!("pool `{asked}` is not an OpenTSDB pool"))),
        }
    }
}

impl wit::Host for HostState {
    async fn put(&mut self, pool: String, points: Vec<String>) -> Result<(), types::Error> {
        let p = self.opentsdb_pool(&pool)?;
        let (action, pool) = self.scope().map_or(("", ""), |s| (&*s.action, s.pool_name.as_str()));
        let span = tracing::debug_span!("cistern.opentsdb.put", action, pool, points = points.len());
        self.in_host(operations::put(&p, points).instrument(span)).await.map_err(write_error)
    }
}
