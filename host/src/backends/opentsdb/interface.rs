//! `opentsdb`: data points put to the action's own OpenTSDB pool.

use crate::backends::opentsdb::{operations, OpentsdbPool};
use crate::engine::bindings::{opentsdb as wit, types};
use crate::engine::HostState;
use crate::interfaces::write_error;

impl wit::Host for HostState {
    async fn put(&mut self, pool: String, points: Vec<String>) -> Result<(), types::Error> {
        let p = self.pool::<OpentsdbPool>(&pool, "an OpenTSDB pool")?;
        let (action, pool) = self.scope().map_or(("", ""), |s| (&*s.action, s.pool_name.as_str()));
        let span = tracing::debug_span!("cistern.opentsdb.put", action, pool, points = points.len());
        self.in_host(span, operations::put(&p, points)).await.map_err(write_error)
    }
}
