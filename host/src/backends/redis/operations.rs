//! Commands against a Redis pool: one command, or several in one round
//! trip. Every argument is sent as its own binary-safe bulk string.

use redis::aio::ConnectionLike;
use redis::{Cmd, Pipeline, Value};

use super::{RedisError, RedisPool, MAX_REPLY_BYTES, MAX_REPLY_NODES};

/// Runs one command; a command Redis refuses is an error.
pub async fn execute(pool: &RedisPool, args: &[Vec<u8>]) -> Result<Value, RedisError> {
    let cmd = command(args)?;
    let mut con = pool.connection()?;
    let reply = con.req_packed_command(&cmd).await?;
    if let Some(e) = server_error(&reply) {
        return Err(RedisError::Command(e));
    }
    check_size(std::iter::once(&reply))?;
    Ok(reply)
}

/// Runs commands in one round trip (inside MULTI/EXEC when `atomic`) and
/// returns their replies in order. A command Redis refuses leaves its
/// error (`Value::ServerError`) in its place; the others ran.
pub async fn pipeline(pool: &RedisPool, commands: &[Vec<Vec<u8>>], atomic: bool) -> Result<Vec<Value>, RedisError> {
    if commands.is_empty() {
        return Ok(Vec::new());
    }
    let mut pipe = Pipeline::with_capacity(commands.len());
    for args in commands {
        pipe.add_command(command(args)?);
    }
    let mut con = pool.connection()?;
    let replies = if atomic {
        pipe.atomic();
        // MULTI and the QUEUED answers come first; EXEC's array holds the replies.
        let mut exec = con.req_packed_commands(&pipe, commands.len() + 1, 1).await?;
        match exec.pop() {
            Some(Value::Array(replies)) => replies,
            Some(Value::Nil) => return Err(RedisError::Command("the transaction was aborted".into())),
            Some(v @ Value::ServerError(_)) => return Err(RedisError::Command(server_error(&v).unwrap_or_default())),
            other => return Err(RedisError::Command(format!("unexpected answer to EXEC: {other:?}"))),
        }
    } else {
        con.req_packed_commands(&pipe, 0, commands.len()).await?
    };
    check_size(replies.iter())?;
    Ok(replies)
}

/// Runs commands as [`pipeline`] does, for when no replies are wanted:
/// fails naming the first command Redis refused (the others ran).
pub async fn exec(pool: &RedisPool, commands: &[Vec<Vec<u8>>], atomic: bool) -> Result<(), RedisError> {
    let replies = pipeline(pool, commands, atomic).await?;
    match replies.iter().enumerate().find_map(|(i, r)| server_error(r).map(|e| (i, e))) {
        Some((i, e)) => Err(RedisError::Command(format!("command {}: {e}", i + 1))),
        None => Ok(()),
    }
}

fn command(args: &[Vec<u8>]) -> Result<Cmd, RedisError> {
    super::policy::check(args).map_err(RedisError::Command)?;
    let mut cmd = Cmd::new();
    for a in args {
        cmd.arg(a.as_slice());
    }
    Ok(cmd)
}

/// A reply that is Redis refusing the command, as Redis said it:
/// `WRONGTYPE Operation against a key holding the wrong kind of value`.
pub fn server_error(reply: &Value) -> Option<String> {
    match reply {
        Value::ServerError(e) => Some(match e.details() {
            Some(d) => format!("{} {d}", e.code()),
            None => e.code().to_string(),
        }),
        _ => None,
    }
}

fn check_size<'a>(replies: impl Iterator<Item = &'a Value> + Clone) -> Result<(), RedisError> {
    let nodes: usize = replies.clone().map(count_nodes).sum();
    if nodes > MAX_REPLY_NODES {
        return Err(RedisError::TooLarge(format!(
            "the reply has more than {MAX_REPLY_NODES} values; page it (SCAN, LIMIT)"
        )));
    }
    let bytes: usize = replies.map(count_bytes).sum();
    if bytes > MAX_REPLY_BYTES {
        return Err(RedisError::TooLarge(format!(
            "the reply holds {bytes} bytes, more than {} MiB; read less at a time (GETRANGE, SCAN, LIMIT)",
            MAX_REPLY_BYTES >> 20
        )));
    }
    Ok(())
}

/// The bytes of the strings a reply holds.
pub fn count_bytes(v: &Value) -> usize {
    match v {
        Value::BulkString(b) => b.len(),
        Value::SimpleString(s) | Value::VerbatimString { text: s, .. } => s.len(),
        Value::Array(items) | Value::Set(items) => items.iter().map(count_bytes).sum(),
        Value::Map(pairs) => pairs.iter().map(|(k, v)| count_bytes(k) + count_bytes(v)).sum(),
        Value::Attribute { data, .. } => count_bytes(data),
        Value::Push { data, .. } => data.iter().map(count_bytes).sum(),
        _ => 8,
    }
}

/// The nodes a reply takes once flattened: one for each value and array.
pub fn count_nodes(v: &Value) -> usize {
    match v {
        Value::Array(items) | Value::Set(items) => 1 + items.iter().map(count_nodes).sum::<usize>(),
        Value::Map(pairs) => 1 + pairs.iter().map(|(k, v)| count_nodes(k) + count_nodes(v)).sum::<usize>(),
        Value::Attribute { data, .. } => count_nodes(data),
        Value::Push { data, .. } => 1 + data.iter().map(count_nodes).sum::<usize>(),
        _ => 1,
    }
}
