//! An OpenTSDB pool: a [`Batcher`] in front of `POST /api/put`. A batch
//! holds at most `max_batch_size` points unless one call brings more, in
//! which case it goes as several requests of at most `max_batch_size`.
//!
//! The answer: `204` stores every point; a summary or details body (`200`,
//! or `400` when some failed) tells how many were refused. With details,
//! each refused point is matched to the call that sent it, and only that
//! call fails; with a summary alone, every call of the request fails, as
//! nothing says which of its points were refused. No answer, a timeout or a
//! 5xx is unavailable (the delivery contract defers the calls); any other
//! answer refuses the request's points.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value as Json;

use super::config::OpentsdbConfig;
use crate::backends::batch::{http_error, status_error, Batcher, Limits, Sink, WriteError};
use crate::config::{ConfigError, PoolEntry};

/// How long a request may take before its callers' writes are unavailable.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);

/// A pool, shared by every action that names it. Cloning shares it.
#[derive(Clone)]
pub struct OpentsdbPool {
    /// `opentsdb.<pool>`, for logs and errors.
    pub name: Arc<str>,
    pub(super) batcher: Batcher,
    pub(super) client: reqwest::Client,
    /// `http://host:port`, for the health check.
    pub(super) base: String,
}

pub fn connect(entry: &PoolEntry) -> Result<OpentsdbPool, ConfigError> {
    let (config, url) = OpentsdbConfig::load(entry)?;
    let name: Arc<str> = Arc::from(format!("opentsdb.{}", entry.name));
    let client = reqwest::Client::builder()
        .timeout(REQUEST_TIMEOUT)
        .connect_timeout(Duration::from_secs(2))
        .build()
        .map_err(|e| ConfigError::at(&entry.at, format!("{name}: {e}")))?;
    let base = url.split("/api/put").next().unwrap_or_default().to_string();
    let max_batch_size = config.max_batch_size.max(1);
    let sink = PutSink { client: client.clone(), url, max_batch_size };
    let limits = Limits { max_points: max_batch_size, max_wait: config.batch_time, workers: config.pool_size as usize };
    Ok(OpentsdbPool { name, batcher: Batcher::start(Arc::new(sink), limits), client, base })
}

struct PutSink {
    client: reqwest::Client,
    url: String,
    max_batch_size: usize,
}

/// A point of a batch and the call (its index in the batch) that sent it.
type Owned<'a> = (usize, &'a String);

impl PutSink {
    /// Sends one request; `Ok` holds the callers (by index) whose points were refused, and why.
    async fn put(&self, points: &[Owned<'_>]) -> Result<Vec<(usize, String)>, WriteError> {
        let mut body = String::from("[");
        for (i, (_, p)) in points.iter().enumerate() {
            if i > 0 {
                body.push(',');
            }
            body.push_str(p);
        }
        body.push(']');
        let answer = self
            .client
            .post(&self.url)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await
            .map_err(|e| http_error(&e))?;
        let status = answer.status();
        let text = answer.text().await.unwrap_or_default();
        if status.is_server_error() {
            return Err(status_error(status, &text));
        }
        let answer =
            cistern_template::opentsdb::answer(status.as_u16(), &text, points.len()).map_err(WriteError::Refused)?;
        if answer.failed == 0 {
            return Ok(Vec::new());
        }
        let mut refused = Vec::new();
        let mut unmatched = answer.failed as usize;
        for e in &answer.errors {
            if let Some((owner, _)) = points.iter().find(|(_, p)| same_point(p, &e.datapoint)) {
                refused.push((*owner, format!("OpenTSDB refused data point {}: {}", e.datapoint, e.error)));
                unmatched = unmatched.saturating_sub(1);
            }
        }
        if unmatched > 0 {
            let why = format!(
                "OpenTSDB stored {} and refused {} of the {} data points of the request that held this call's",
                answer.success,
                answer.failed,
                points.len()
            );
            refused.extend(points.iter().map(|(owner, _)| (*owner, why.clone())));
        }
        Ok(refused)
    }
}

/// Whether the point sent (JSON text) is the one OpenTSDB echoes back:
/// the same metric, timestamp and tags (the value may come back as text).
fn same_point(sent: &str, echoed: &Json) -> bool {
    let Ok(sent) = serde_json::from_str::<Json>(sent) else { return false };
    ["metric", "timestamp", "tags"].iter().all(|k| sent.get(k) == echoed.get(k))
}

#[async_trait::async_trait]
impl Sink for PutSink {
    async fn flush(&self, batch: &[Vec<String>]) -> Vec<Result<(), WriteError>> {
        let points: Vec<Owned> = batch.iter().enumerate().flat_map(|(i, ps)| ps.iter().map(move |p| (i, p))).collect();
        let mut results: Vec<Result<(), WriteError>> = vec![Ok(()); batch.len()];
        for chunk in points.chunks(self.max_batch_size) {
            match self.put(chunk).await {
                Ok(refused) => {
                    for (owner, why) in refused {
                        if results[owner].is_ok() {
                            results[owner] = Err(WriteError::Refused(why));
                        }
                    }
                }
                Err(e) => {
                    for (owner, _) in chunk {
                        // Unavailable wins over refused: the call is deferred and tried again whole.
                        if !matches!(results[*owner], Err(WriteError::Unavailable(_))) {
                            results[*owner] = Err(e.clone());
                        }
                    }
                }
            }
        }
        results
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// A point matches its echo by metric, timestamp and tags, whatever the value became.
    #[test]
    fn matches_echoed_points() {
        let sent = r#"{"metric":"m","timestamp":5,"value":1,"tags":{"host":"a"}}"#;
        assert!(same_point(sent, &json!({"metric": "m", "timestamp": 5, "value": "1", "tags": {"host": "a"}})));
        assert!(!same_point(sent, &json!({"metric": "m", "timestamp": 5, "value": 1, "tags": {"host": "b"}})));
    }
}
