//! `influx`: line protocol written to the action's own InfluxDB pool.

use crate::backends::influxdb::{operations, InfluxPool};
use crate::engine::bindings::{influx as wit, types};
use crate::engine::HostState;
use crate::interfaces::write_error;

impl wit::Host for HostState {
    async fn write(&mut self, pool: String, lines: Vec<String>) -> Result<(), types::Error> {
        let p = self.pool::<InfluxPool>(&pool, "an InfluxDB pool")?;
        let (action, pool) = self.scope().map_or(("", ""), |s| (&*s.action, s.pool_name.as_str()));
        let span = tracing::debug_span!("cistern.influx.write", action, pool, lines = lines.len());
        self.in_host(span, operations::write(&p, lines)).await.map_err(write_error)
    }
}
