//! `redis`: commands against the action's own Redis pool, every argument a
//! separate binary-safe value; replies flattened into the WIT's pre-order
//! list of values.

use crate::backends::redis::{operations, RedisError, RedisPool};
use crate::engine::bindings::{redis as wit, types};
use crate::engine::HostState;

impl HostState {
    fn redis_span(&self, op: &'static str) -> tracing::Span {
        let (action, pool) = self.scope().map_or(("", ""), |s| (&*s.action, s.pool_name.as_str()));
        tracing::debug_span!("cistern.redis", op, action, pool)
    }
}

impl wit::Host for HostState {
    async fn execute(&mut self, pool: String, command: Vec<Vec<u8>>) -> Result<Vec<wit::Value>, types::Error> {
        let p = self.pool::<RedisPool>(&pool, "a Redis pool")?;
        let span = self.redis_span("execute");
        let reply = self.in_host(span, operations::execute(&p, &command)).await.map_err(to_wit)?;
        let mut out = Vec::new();
        flatten(reply, &mut out);
        Ok(out)
    }

    async fn pipeline(
        &mut self,
        pool: String,
        commands: Vec<Vec<Vec<u8>>>,
        atomic: bool,
    ) -> Result<Vec<Vec<wit::Value>>, types::Error> {
        let p = self.pool::<RedisPool>(&pool, "a Redis pool")?;
        let span = self.redis_span("pipeline");
        let replies = self.in_host(span, operations::pipeline(&p, &commands, atomic)).await.map_err(to_wit)?;
        Ok(replies
            .into_iter()
            .map(|r| {
                let mut out = Vec::new();
                flatten(r, &mut out);
                out
            })
            .collect())
    }

    async fn exec(&mut self, pool: String, commands: Vec<Vec<Vec<u8>>>, atomic: bool) -> Result<(), types::Error> {
        let p = self.pool::<RedisPool>(&pool, "a Redis pool")?;
        let span = self.redis_span("exec");
        self.in_host(span, operations::exec(&p, &commands, atomic)).await.map_err(to_wit)
    }
}

/// A reply in pre-order: an array is its length, then its elements.
pub fn flatten(v: redis::Value, out: &mut Vec<wit::Value>) {
    use redis::Value as V;
    match v {
        V::Nil => out.push(wit::Value::Nil),
        V::Int(i) => out.push(wit::Value::Int(i)),
        V::BulkString(b) => out.push(wit::Value::Data(b)),
        V::SimpleString(s) => out.push(wit::Value::Status(s)),
        V::Okay => out.push(wit::Value::Status("OK".into())),
        V::Double(d) => out.push(wit::Value::Double(d)),
        V::Boolean(b) => out.push(wit::Value::Boolean(b)),
        V::BigNumber(n) => out.push(wit::Value::Data(n.to_string().into_bytes())),
        V::VerbatimString { text, .. } => out.push(wit::Value::Data(text.into_bytes())),
        V::Array(items) | V::Set(items) | V::Push { data: items, .. } => {
            out.push(wit::Value::Array(items.len() as u32));
            for i in items {
                flatten(i, out);
            }
        }
        V::Map(pairs) => {
            out.push(wit::Value::Array(pairs.len() as u32 * 2));
            for (k, v) in pairs {
                flatten(k, out);
                flatten(v, out);
            }
        }
        V::Attribute { data, .. } => flatten(*data, out),
        e @ V::ServerError(_) => out.push(wit::Value::Error(operations::server_error(&e).unwrap_or_default())),
    }
}

/// The one place Redis errors become WIT errors.
fn to_wit(e: RedisError) -> types::Error {
    match e {
        RedisError::Unavailable(m) => types::Error::Unavailable(m),
        other => types::Error::Other(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Nested arrays flatten in pre-order, as SCAN's answer does.
    #[test]
    fn flattens_in_pre_order() {
        use redis::Value as V;
        let scan = V::Array(vec![
            V::BulkString(b"0".to_vec()),
            V::Array(vec![V::BulkString(b"k1".to_vec()), V::BulkString(b"k2".to_vec())]),
        ]);
        let mut out = Vec::new();
        flatten(scan, &mut out);
        // The generated type has no PartialEq; its Debug form says the same.
        let expected = [
            wit::Value::Array(2),
            wit::Value::Data(b"0".to_vec()),
            wit::Value::Array(2),
            wit::Value::Data(b"k1".to_vec()),
            wit::Value::Data(b"k2".to_vec()),
        ];
        assert_eq!(format!("{out:?}"), format!("{expected:?}"));
    }
}
