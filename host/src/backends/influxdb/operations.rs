//! The plain functions over an InfluxDB pool that the `influx` host
//! interface and the outbox's health check call.

use super::pool::{InfluxPool, Target};
use crate::backends::batch::WriteError;

/// Writes lines of line protocol; done when the batch holding them was
/// stored (HTTP) or sent (UDP).
pub async fn write(pool: &InfluxPool, lines: Vec<String>) -> Result<(), WriteError> {
    if let Some(bad) = lines.iter().find(|l| l.contains(['\n', '\r'])) {
        return Err(WriteError::Refused(format!("a line holds a line break: {bad:?}")));
    }
    pool.batcher.write(lines).await.map_err(|e| match e {
        WriteError::Unavailable(m) => WriteError::Unavailable(format!("{}: {m}", pool.name)),
        WriteError::Refused(m) => WriteError::Refused(format!("{}: {m}", pool.name)),
    })
}

/// A health check: `GET /ping` answers 204 (HTTP); UDP has nothing to ask.
pub async fn ping(pool: &InfluxPool) -> Result<(), String> {
    match &*pool.target {
        Target::Http { client, base } => {
            let answer = client.get(format!("{base}/ping")).send().await.map_err(|e| e.to_string())?;
            if answer.status().is_success() {
                Ok(())
            } else {
                Err(format!("{}: /ping answered {}", pool.name, answer.status()))
            }
        }
        Target::Udp => Ok(()),
    }
}
