//! The plain functions over an OpenTSDB pool that the `opentsdb` host
//! interface and the outbox's health check call.

use super::pool::OpentsdbPool;
use crate::backends::batch::WriteError;

/// Writes data points (JSON objects); done when the requests holding them were answered.
pub async fn put(pool: &OpentsdbPool, points: Vec<String>) -> Result<(), WriteError> {
    for p in &points {
        if !serde_json::from_str::<serde_json::Value>(p).is_ok_and(|j| j.is_object()) {
            return Err(WriteError::Refused(format!("a data point is not a JSON object: {p:?}")));
        }
    }
    pool.batcher.write(points).await.map_err(|e| match e {
        WriteError::Unavailable(m) => WriteError::Unavailable(format!("{}: {m}", pool.name)),
        WriteError::Refused(m) => WriteError::Refused(format!("{}: {m}", pool.name)),
    })
}

/// A health check: the server answers HTTP at all (`/api/version`; any
/// answer below 500 will do, as stand-ins such as InfluxDB's listener
/// serve `/api/put` alone).
pub async fn ping(pool: &OpentsdbPool) -> Result<(), String> {
    let answer = pool.client.get(format!("{}/api/version", pool.base)).send().await.map_err(|e| e.to_string())?;
    if answer.status().is_server_error() {
        return Err(format!("{}: /api/version answered {}", pool.name, answer.status()));
    }
    Ok(())
}
