//! A DynamoDB pool: one SDK client on the configured endpoint (HTTP
//! connections kept alive, `pool_size` of them idle at most) and
//! `pool_size` permits for requests in flight. Nothing is sent at start, so
//! a server that is down then does not stop cistern: its writes go to the
//! outbox until it answers.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::config::timeout::TimeoutConfig;
use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
use tokio::sync::Semaphore;

use super::config::DynamoConfig;
use super::operations;
use crate::backends::pool::Pool;

/// How long one request may take, retries included, before its write is
/// unavailable (and goes to the outbox).
const OPERATION_TIMEOUT: Duration = Duration::from_secs(5);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// A pool, shared by every action that names it. Cloning shares it.
#[derive(Clone)]
pub struct DynamoPool {
    /// `dynamo.<pool>`, for logs and errors.
    pub name: Arc<str>,
    pub(super) client: aws_sdk_dynamodb::Client,
    pub(super) permits: Arc<Semaphore>,
}

pub fn connect(name: &str, config: &DynamoConfig) -> DynamoPool {
    let mut http = aws_smithy_http_client::Builder::new();
    http.set_pool_max_idle_per_host(Some(config.pool_size as usize));
    let http = http.tls_provider(Provider::Rustls(CryptoMode::Ring)).build_https();
    let credentials = Credentials::new(
        &config.aws_access_key_id,
        config.aws_secret_access_key.expose(),
        None,
        None,
        "backend.dynamo",
    );
    let sdk = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(config.region.clone()))
        .endpoint_url(&config.server)
        .credentials_provider(credentials)
        .http_client(http)
        .timeout_config(
            TimeoutConfig::builder().connect_timeout(CONNECT_TIMEOUT).operation_timeout(OPERATION_TIMEOUT).build(),
        )
        // One retry of a throttled or dropped request; past that the
        // outbox keeps the write and replays it once the server answers.
        .retry_config(RetryConfig::standard().with_max_attempts(2).with_initial_backoff(Duration::from_millis(50)))
        .build();
    DynamoPool {
        name: Arc::from(format!("dynamo.{name}")),
        client: aws_sdk_dynamodb::Client::from_conf(sdk),
        permits: Arc::new(Semaphore::new(config.pool_size as usize)),
    }
}

#[async_trait]
impl Pool for DynamoPool {
    async fn ping(&self) -> Result<(), String> {
        operations::ping(self).await.map_err(|e| e.to_string())
    }
}
