//! The plain async operations the host interface calls, over a pool's
//! database. Each runs within the pool's operation timeout, fails at once
//! while the keeper knows the server is away, and says whether a failure
//! is the server being unreachable (the write may wait in the outbox) or
//! the server refusing what it was sent.

use std::future::IntoFuture;

use mongodb::bson::{doc, Document};
use mongodb::error::{ErrorKind, WriteFailure};

use super::pool::{Inner, MongoPool};
use crate::backends::pool::MAX_RESULT_BYTES;

#[derive(Debug, thiserror::Error)]
pub enum MongoError {
    /// The server could not be reached, or gave no answer in time.
    #[error("{0}")]
    Unavailable(String),
    /// The server refused the operation.
    #[error("{0}")]
    Refused(String),
    /// What the guest sent is not a document, or names no collection.
    #[error("{0}")]
    Invalid(String),
}

/// MongoDB's duplicate key error.
const DUPLICATE_KEY: i32 = 11000;
/// Server errors that say it cannot serve now (shutting down, not the
/// primary, unreachable, timed out): the same as the driver retries reads on.
const UNAVAILABLE_CODES: &[i32] = &[6, 7, 89, 91, 189, 262, 9001, 10107, 11600, 11602, 13435, 13436, 10058, 64];

pub async fn ping(pool: &MongoPool) -> Result<(), MongoError> {
    let result = ping_inner(&pool.inner).await;
    pool.inner.note(result.as_ref().map(drop).map_err(|e| e.to_string()));
    result
}

pub(super) async fn ping_inner(inner: &Inner) -> Result<(), MongoError> {
    timed(inner, inner.db()?.run_command(doc! {"ping": 1})).await.map(drop)
}

/// Inserts a document; false when its `_id` (or another unique key) is taken.
pub async fn insert_one(pool: &MongoPool, collection: &str, doc: Document) -> Result<bool, MongoError> {
    let c = pool.inner.db()?.collection::<Document>(checked(collection)?);
    match run(&pool.inner, c.insert_one(doc)).await {
        Ok(_) => Ok(true),
        Err(Duplicate) => Ok(false),
        Err(Failed(e)) => Err(e),
    }
}

pub async fn update_one(
    pool: &MongoPool,
    collection: &str,
    filter: Document,
    update: Document,
    upsert: bool,
) -> Result<u64, MongoError> {
    let c = pool.inner.db()?.collection::<Document>(checked(collection)?);
    let r = run(&pool.inner, c.update_one(filter, update).upsert(upsert)).await.map_err(Outcome::error)?;
    Ok(r.matched_count)
}

pub async fn replace_one(
    pool: &MongoPool,
    collection: &str,
    filter: Document,
    replacement: Document,
    upsert: bool,
) -> Result<u64, MongoError> {
    let c = pool.inner.db()?.collection::<Document>(checked(collection)?);
    let r = run(&pool.inner, c.replace_one(filter, replacement).upsert(upsert)).await.map_err(Outcome::error)?;
    Ok(r.matched_count)
}

pub async fn delete_many(pool: &MongoPool, collection: &str, filter: Document) -> Result<u64, MongoError> {
    let c = pool.inner.db()?.collection::<Document>(checked(collection)?);
    let r = run(&pool.inner, c.delete_many(filter)).await.map_err(Outcome::error)?;
    Ok(r.deleted_count)
}

/// The documents `filter` matches, in `sort` order, at most `limit` (0: all).
pub async fn find(
    pool: &MongoPool,
    collection: &str,
    filter: Document,
    sort: Document,
    limit: u32,
) -> Result<Vec<Document>, MongoError> {
    let c = pool.inner.db()?.collection::<Document>(checked(collection)?);
    let read = async {
        let mut find = c.find(filter);
        if !sort.is_empty() {
            find = find.sort(sort);
        }
        if limit > 0 {
            find = find.limit(i64::from(limit));
        }
        let mut cursor = find.await?;
        let mut docs = Vec::new();
        let mut bytes = 0;
        while cursor.advance().await? {
            bytes += cursor.current().as_bytes().len();
            if bytes > MAX_RESULT_BYTES {
                return Ok(Err(MongoError::Invalid(format!(
                    "the documents found in {collection} pass {} MiB after {}; find fewer at a time (limit)",
                    MAX_RESULT_BYTES >> 20,
                    docs.len()
                ))));
            }
            docs.push(Document::try_from(cursor.current())?);
        }
        Ok::<_, mongodb::error::Error>(Ok(docs))
    };
    run(&pool.inner, read).await.map_err(Outcome::error)?
}

fn checked(collection: &str) -> Result<&str, MongoError> {
    if collection.is_empty() || collection.contains('\0') || collection.starts_with("system.") {
        return Err(MongoError::Invalid(format!("{collection:?} is not a collection this pool may use")));
    }
    Ok(collection)
}

/// How an operation ended, when it did not succeed.
enum Outcome {
    Duplicate,
    Failed(MongoError),
}
use Outcome::{Duplicate, Failed};

impl Outcome {
    fn error(self) -> MongoError {
        match self {
            Duplicate => MongoError::Refused("duplicate key".into()),
            Failed(e) => e,
        }
    }
}

/// Runs an operation: at once unavailable while the server is known to be
/// away; otherwise within the timeout, noting a failure that says it went away.
async fn run<T>(inner: &Inner, op: impl IntoFuture<Output = mongodb::error::Result<T>>) -> Result<T, Outcome> {
    if let Some(why) = inner.down() {
        return Err(Failed(MongoError::Unavailable(format!(
            "pool {} is not connected to {}: {why}",
            inner.name, inner.target
        ))));
    }
    let result = match tokio::time::timeout(inner.operation_timeout, op.into_future()).await {
        Ok(Ok(v)) => return Ok(v),
        Ok(Err(e)) => classify(&e),
        Err(_) => Failed(MongoError::Unavailable(format!("no answer within {:?}", inner.operation_timeout))),
    };
    if let Failed(MongoError::Unavailable(why)) = &result {
        inner.note(Err(why.clone()));
    }
    Err(result)
}

/// A ping: never short-cut by the down flag, since it is what clears it.
async fn timed<T>(inner: &Inner, op: impl IntoFuture<Output = mongodb::error::Result<T>>) -> Result<T, MongoError> {
    match tokio::time::timeout(inner.operation_timeout, op.into_future()).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(classify(&e).error()),
        Err(_) => Err(MongoError::Unavailable(format!("no answer within {:?}", inner.operation_timeout))),
    }
}

fn classify(e: &mongodb::error::Error) -> Outcome {
    let unavailable = || Failed(MongoError::Unavailable(e.to_string()));
    match e.kind.as_ref() {
        ErrorKind::Io(_)
        | ErrorKind::ConnectionPoolCleared { .. }
        | ErrorKind::ServerSelection { .. }
        | ErrorKind::DnsResolve { .. } => unavailable(),
        ErrorKind::Write(WriteFailure::WriteError(w)) if w.code == DUPLICATE_KEY => Duplicate,
        ErrorKind::Write(WriteFailure::WriteConcernError(_)) => unavailable(),
        ErrorKind::Command(c) if UNAVAILABLE_CODES.contains(&c.code) => unavailable(),
        ErrorKind::Write(WriteFailure::WriteError(w)) if UNAVAILABLE_CODES.contains(&w.code) => unavailable(),
        _ if e.contains_label("RetryableWriteError") => unavailable(),
        ErrorKind::BsonSerialization(_) | ErrorKind::InvalidArgument { .. } => {
            Failed(MongoError::Invalid(e.to_string()))
        }
        _ => Failed(MongoError::Refused(e.to_string())),
    }
}
