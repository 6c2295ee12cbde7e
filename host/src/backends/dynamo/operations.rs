//! Plain async functions over a [`DynamoPool`]: the item operations the
//! `dynamo` interface offers, each value a typed attribute value and each
//! expression's values bound by placeholder. Errors say whether the server
//! could not be reached (the write may be replayed) or refused the request.

use std::collections::HashMap;
use std::time::Duration;

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::{AttributeValue, KeysAndAttributes};

use super::DynamoPool;

pub type Item = HashMap<String, AttributeValue>;

/// An expression with what its `#name` and `:value` placeholders stand for.
#[derive(Debug, Clone, Default)]
pub struct Expr {
    pub text: String,
    pub names: HashMap<String, String>,
    pub values: Item,
}

/// Items of a query or scan and where the next page starts.
#[derive(Debug, Default)]
pub struct Page {
    pub items: Vec<Item>,
    pub last_key: Option<Item>,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum DynamoError {
    /// Not reached, timed out, throttled, or failing on its side (5xx).
    #[error("{0}")]
    Unavailable(String),
    /// It answered and refused the request (validation, a missing table).
    #[error("{0}")]
    Refused(String),
}

/// Keys per BatchGetItem, DynamoDB's limit.
const BATCH_GET: usize = 100;
/// Rounds of unprocessed keys a batch get retries before giving up.
const BATCH_ROUNDS: u32 = 8;

/// The error codes DynamoDB answers when it is busy rather than refusing.
const TRANSIENT: &[&str] = &[
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "LimitExceededException",
];

fn classify<E: ProvideErrorMetadata + std::error::Error + 'static>(
    pool: &DynamoPool,
    what: &str,
    e: SdkError<E>,
) -> DynamoError {
    let unavailable = |m: String| DynamoError::Unavailable(format!("{}: {what}: {m}", pool.name));
    match &e {
        SdkError::TimeoutError(_) => unavailable("timed out".into()),
        SdkError::DispatchFailure(d) => unavailable(format!("{:?}", d.as_connector_error().map(|c| c.to_string()))),
        SdkError::ResponseError(_) => unavailable("no valid answer".into()),
        SdkError::ServiceError(s) => {
            let code = s.err().code().unwrap_or_default().to_string();
            let message = s.err().message().unwrap_or_default().to_string();
            let status = s.raw().status().as_u16();
            if TRANSIENT.contains(&code.as_str()) || status >= 500 {
                unavailable(format!("{code} {message}"))
            } else {
                DynamoError::Refused(format!("{}: {what}: {code}: {message}", pool.name))
            }
        }
        _ => {
            DynamoError::Refused(format!("{}: {what}: {}", pool.name, aws_sdk_dynamodb::error::DisplayErrorContext(&e)))
        }
    }
}

fn non_empty<K, V>(map: HashMap<K, V>) -> Option<HashMap<K, V>> {
    (!map.is_empty()).then_some(map)
}

/// The server answers (ListTables, one name at most).
pub async fn ping(pool: &DynamoPool) -> Result<(), DynamoError> {
    let _permit = pool.permits.acquire().await.map_err(|e| DynamoError::Unavailable(e.to_string()))?;
    pool.client.list_tables().limit(1).send().await.map(drop).map_err(|e| classify(pool, "ListTables", e))
}

/// PutItem; with a condition, `false` when it does not hold (nothing stored).
pub async fn put_item(
    pool: &DynamoPool,
    table: &str,
    item: Item,
    condition: Option<Expr>,
) -> Result<bool, DynamoError> {
    let _permit = pool.permits.acquire().await.map_err(|e| DynamoError::Unavailable(e.to_string()))?;
    let mut request = pool.client.put_item().table_name(table).set_item(Some(item));
    if let Some(c) = condition {
        request = request
            .condition_expression(c.text)
            .set_expression_attribute_names(non_empty(c.names))
            .set_expression_attribute_values(non_empty(c.values));
    }
    match request.send().await {
        Ok(_) => Ok(true),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_conditional_check_failed_exception()) => Ok(false),
        Err(e) => Err(classify(pool, &format!("PutItem on {table}"), e)),
    }
}

/// UpdateItem by an update expression.
pub async fn update_item(pool: &DynamoPool, table: &str, key: Item, update: Expr) -> Result<(), DynamoError> {
    let _permit = pool.permits.acquire().await.map_err(|e| DynamoError::Unavailable(e.to_string()))?;
    pool.client
        .update_item()
        .table_name(table)
        .set_key(Some(key))
        .update_expression(update.text)
        .set_expression_attribute_names(non_empty(update.names))
        .set_expression_attribute_values(non_empty(update.values))
        .send()
        .await
        .map(drop)
        .map_err(|e| classify(pool, &format!("UpdateItem on {table}"), e))
}

pub async fn delete_item(pool: &DynamoPool, table: &str, key: Item) -> Result<(), DynamoError> {
    let _permit = pool.permits.acquire().await.map_err(|e| DynamoError::Unavailable(e.to_string()))?;
    pool.client
        .delete_item()
        .table_name(table)
        .set_key(Some(key))
        .send()
        .await
        .map(drop)
        .map_err(|e| classify(pool, &format!("DeleteItem on {table}"), e))
}

/// GetItem, strongly consistent.
pub async fn get_item(pool: &DynamoPool, table: &str, key: Item) -> Result<Option<Item>, DynamoError> {
    let _permit = pool.permits.acquire().await.map_err(|e| DynamoError::Unavailable(e.to_string()))?;
    let out = pool
        .client
        .get_item()
        .table_name(table)
        .set_key(Some(key))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| classify(pool, &format!("GetItem on {table}"), e))?;
    Ok(out.item)
}

/// BatchGetItem for any number of keys: 100 a request, unprocessed keys
/// asked again after a short pause.
pub async fn batch_get(pool: &DynamoPool, table: &str, keys: Vec<Item>) -> Result<Vec<Item>, DynamoError> {
    let mut found = Vec::with_capacity(keys.len());
    for chunk in keys.chunks(BATCH_GET) {
        let mut pending = Some(chunk.to_vec());
        let mut round = 0;
        while let Some(keys) = pending.take().filter(|k| !k.is_empty()) {
            if round == BATCH_ROUNDS {
                return Err(DynamoError::Unavailable(format!(
                    "{}: BatchGetItem on {table}: keys still unprocessed after {BATCH_ROUNDS} rounds",
                    pool.name
                )));
            }
            if round > 0 {
                tokio::time::sleep(Duration::from_millis(20 << round.min(5))).await;
            }
            round += 1;
            let request = KeysAndAttributes::builder()
                .set_keys(Some(keys))
                .consistent_read(true)
                .build()
                .map_err(|e| DynamoError::Refused(format!("{}: BatchGetItem on {table}: {e}", pool.name)))?;
            let _permit = pool.permits.acquire().await.map_err(|e| DynamoError::Unavailable(e.to_string()))?;
            let mut out = pool
                .client
                .batch_get_item()
                .request_items(table, request)
                .send()
                .await
                .map_err(|e| classify(pool, &format!("BatchGetItem on {table}"), e))?;
            found.extend(out.responses.as_mut().and_then(|r| r.remove(table)).unwrap_or_default());
            pending = out.unprocessed_keys.and_then(|mut u| u.remove(table)).map(|k| k.keys);
        }
    }
    Ok(found)
}

/// Query by a key condition, one page.
pub async fn query(
    pool: &DynamoPool,
    table: &str,
    condition: Expr,
    limit: Option<u32>,
    forward: bool,
    start: Option<Item>,
) -> Result<Page, DynamoError> {
    let _permit = pool.permits.acquire().await.map_err(|e| DynamoError::Unavailable(e.to_string()))?;
    let out = pool
        .client
        .query()
        .table_name(table)
        .key_condition_expression(condition.text)
        .set_expression_attribute_names(non_empty(condition.names))
        .set_expression_attribute_values(non_empty(condition.values))
        .set_limit(limit.map(|l| l.clamp(1, i32::MAX as u32) as i32))
        .scan_index_forward(forward)
        .set_exclusive_start_key(start)
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| classify(pool, &format!("Query on {table}"), e))?;
    Ok(Page { items: out.items.unwrap_or_default(), last_key: out.last_evaluated_key.and_then(non_empty) })
}

/// Scan with an optional filter, one page.
pub async fn scan(
    pool: &DynamoPool,
    table: &str,
    filter: Option<Expr>,
    start: Option<Item>,
) -> Result<Page, DynamoError> {
    let _permit = pool.permits.acquire().await.map_err(|e| DynamoError::Unavailable(e.to_string()))?;
    let mut request = pool.client.scan().table_name(table).set_exclusive_start_key(start).consistent_read(true);
    if let Some(f) = filter {
        request = request
            .filter_expression(f.text)
            .set_expression_attribute_names(non_empty(f.names))
            .set_expression_attribute_values(non_empty(f.values));
    }
    let out = request.send().await.map_err(|e| classify(pool, &format!("Scan on {table}"), e))?;
    Ok(Page { items: out.items.unwrap_or_default(), last_key: out.last_evaluated_key.and_then(non_empty) })
}
