//! `influx`: line protocol written to the action's own InfluxDB pool.

use tracing::Instrument;

use super::{denied, write_error};
use crate::backends::influxdb::{operations, InfluxPool};
use crate::backends::AnyPool;
use crate::engine::bindings::{influx as wit, types};
use crate::engine::HostState;

impl HostState {
    /// The action's InfluxDB pool, if `asked` names it.
    fn influx_pool(&self, asked: &str) -> Result<InfluxPool, types::Error> {
        let scope = self
            .scope()
            .filter(|s| s.pool_name == asked)
            .ok_or_else(|| denied(asked, self.scope().map(|s| s.pool_name.as_str())))?;
        match &scope.pool {
            AnyPool::Influx(pool) => Ok(pool.clone()),
            _ => Err(types::Error::Denied(format!("pool `{asked}` is not an InfluxDB pool"))),
        }
    }
}

impl wit::Host for HostState {
    async fn write(&mut self, pool: String, lines: Vec<String>) -> Result<(), types::Error> {
        let p = self.influx_pool(&pool)?;
        let (action, pool) = self.scope().map_or(("", ""), |s| (&*s.action, s.pool_name.as_str()));
        let span = tracing::debug_span!("cistern.influx.write", action, pool, lines = lines.len());
        self.in_host(operations::write(&p, lines).instrument(span)).await.map_err(write_error)
    }
}
