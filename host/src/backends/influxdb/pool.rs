//! An InfluxDB pool: a [`Batcher`] in front of the server. Over HTTP a
//! batch is one `POST /write` (lines joined by newlines) and its callers
//! are answered by InfluxDB's status; over UDP a batch is as few datagrams
//! as its lines fit in, and its callers are answered once they are sent.
//!
//! A server that is down at start does not stop cistern: a pool connects
//! per request (HTTP keeps connections alive) or sends blindly (UDP).

use std::sync::Arc;
use std::time::Duration;

use tokio::net::UdpSocket;

use super::config::{InfluxConfig, Protocol};
use crate::backends::batch::{http_error, status_error, Batcher, Limits, Sink, WriteError};
use crate::config::{ConfigError, PoolEntry, Secret};

/// How long a request may take before its callers' writes are unavailable.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// The most bytes of lines one UDP datagram carries (a longer line goes alone).
const MAX_DATAGRAM: usize = 32 * 1024;
/// The longest line UDP can carry at all: an IPv4 datagram's payload (65,507
/// bytes) less its newline. A longer one could never be sent, so it is
/// refused rather than deferred to the outbox for ever.
const MAX_UDP_LINE: usize = 65_507 - 1;

/// A pool, shared by every action that names it. Cloning shares it.
#[derive(Clone)]
pub struct InfluxPool {
    /// `influxdb.<pool>`, for logs and errors.
    pub name: Arc<str>,
    pub(super) batcher: Batcher,
    pub(super) target: Arc<Target>,
    settings: Arc<Vec<(String, String)>>,
}

pub(super) enum Target {
    Http { client: reqwest::Client, base: String },
    Udp,
}

pub fn connect(entry: &PoolEntry) -> Result<InfluxPool, ConfigError> {
    let (config, address) = InfluxConfig::load(entry)?;
    let name: Arc<str> = Arc::from(format!("influxdb.{}", entry.name));
    let limits =
        Limits { max_points: config.batch_size, max_wait: config.batch_time, workers: config.pool_size as usize };
    let (sink, target): (Arc<dyn Sink>, Target) = match config.protocol {
        Protocol::Http => {
            let client = reqwest::Client::builder()
                .timeout(REQUEST_TIMEOUT)
                .connect_timeout(Duration::from_secs(2))
                .build()
                .map_err(|e| ConfigError::at(&entry.at, format!("{name}: {e}")))?;
            let base = format!("http://{address}");
            let sink = HttpSink {
                client: client.clone(),
                url: format!("{base}/write"),
                query: vec![("db", config.database.clone()), ("precision", config.precision.clone())],
                auth: config.username.clone().map(|u| (u, config.password.clone())),
            };
            (Arc::new(sink), Target::Http { client, base })
        }
        Protocol::Udp => (Arc::new(UdpSink::new(address)), Target::Udp),
    };
    Ok(InfluxPool {
        name,
        batcher: Batcher::start(sink, limits),
        target: Arc::new(target),
        settings: Arc::new(config.guest_settings()),
    })
}

impl InfluxPool {
    /// What the stock guest needs to know of the pool (`set_timestamp`, `precision`).
    pub fn settings(&self) -> Vec<(String, String)> {
        self.settings.to_vec()
    }
}

struct HttpSink {
    client: reqwest::Client,
    url: String,
    query: Vec<(&'static str, String)>,
    auth: Option<(String, Option<Secret>)>,
}

impl HttpSink {
    async fn post(&self, body: String) -> Result<(), WriteError> {
        let mut request = self.client.post(&self.url).query(&self.query).body(body);
        if let Some((user, password)) = &self.auth {
            request = request.basic_auth(user, password.as_ref().map(Secret::expose));
        }
        let answer = request.send().await.map_err(|e| http_error(&e))?;
        let status = answer.status();
        if status.is_success() {
            return Ok(());
        }
        Err(status_error(status, &answer.text().await.unwrap_or_default()))
    }
}

fn body<'a>(lines: impl Iterator<Item = &'a String>) -> String {
    let mut body = String::new();
    for line in lines {
        body.push_str(line);
        body.push('\n');
    }
    body
}

#[async_trait::async_trait]
impl Sink for HttpSink {
    async fn flush(&self, batch: &[Vec<String>]) -> Vec<Result<(), WriteError>> {
        match self.post(body(batch.iter().flatten())).await {
            // InfluxDB refused something of the batch (and may have written
            // the rest): each caller's lines again on their own, so only the
            // caller whose lines are bad fails. Writing a point twice stores
            // it once (same series, same time).
            Err(WriteError::Refused(_)) if batch.len() > 1 => {
                let mut results = Vec::with_capacity(batch.len());
                for lines in batch {
                    results.push(self.post(body(lines.iter())).await);
                }
                results
            }
            result => vec![result; batch.len()],
        }
    }
}

struct UdpSink {
    address: String,
    socket: tokio::sync::OnceCell<UdpSocket>,
}

impl UdpSink {
    fn new(address: String) -> UdpSink {
        UdpSink { address, socket: tokio::sync::OnceCell::new() }
    }

    /// Sends every caller's lines that UDP can carry, as few datagrams as
    /// fit; a caller with a line too long for any datagram is refused alone.
    async fn flush_udp(&self, batch: &[Vec<String>]) -> Vec<Result<(), WriteError>> {
        let results: Vec<Result<(), WriteError>> = batch.iter().map(|lines| fits_udp(lines)).collect();
        let sendable = batch.iter().zip(&results).filter(|(_, r)| r.is_ok()).flat_map(|(lines, _)| lines);
        match self.send(sendable).await {
            Ok(()) => results,
            Err(e) => results.into_iter().map(|r| r.and(Err(e.clone()))).collect(),
        }
    }

    async fn send<'a>(&self, lines: impl Iterator<Item = &'a String>) -> Result<(), WriteError> {
        let unavailable = |e: std::io::Error| WriteError::Unavailable(format!("UDP to {}: {e}", self.address));
        let socket = self
            .socket
            .get_or_try_init(|| async {
                let socket = UdpSocket::bind("0.0.0.0:0").await?;
                socket.connect(&self.address).await?;
                Ok(socket)
            })
            .await
            .map_err(unavailable)?;
        let mut datagram = String::new();
        for line in lines {
            if !datagram.is_empty() && datagram.len() + line.len() + 1 > MAX_DATAGRAM {
                socket.send(datagram.as_bytes()).await.map_err(unavailable)?;
                datagram.clear();
            }
            datagram.push_str(line);
            datagram.push('\n');
        }
        if !datagram.is_empty() {
            socket.send(datagram.as_bytes()).await.map_err(unavailable)?;
        }
        Ok(())
    }
}

/// Whether each of a caller's lines fits in one UDP datagram.
fn fits_udp(lines: &[String]) -> Result<(), WriteError> {
    match lines.iter().find(|l| l.len() > MAX_UDP_LINE) {
        Some(long) => Err(WriteError::Refused(format!(
            "a point of {} bytes is longer than one UDP datagram carries ({MAX_UDP_LINE}); \
             protocol = http writes it",
            long.len()
        ))),
        None => Ok(()),
    }
}

#[async_trait::async_trait]
impl Sink for UdpSink {
    async fn flush(&self, batch: &[Vec<String>]) -> Vec<Result<(), WriteError>> {
        self.flush_udp(batch).await
    }
}
