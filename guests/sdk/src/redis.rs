//! The host's `redis` interface, with commands built from parts and replies
//! read back as a tree ([`Reply`]) instead of the flat pre-order list the
//! interface carries.

use crate::bindings::cistern::hooks::redis as host;
use crate::Error;

pub use host::Value;

/// A command under construction; each argument is sent as one value, as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cmd(Vec<Vec<u8>>);

/// Starts a command: `cmd("HSET").arg(key).arg("qos").arg("1")`.
pub fn cmd(name: &str) -> Cmd {
    // Room for an HSET of a whole message without growing.
    let mut args = Vec::with_capacity(16);
    args.push(name.as_bytes().to_vec());
    Cmd(args)
}

impl Cmd {
    /// Adds one argument: text, bytes, anything that is bytes.
    pub fn arg(mut self, a: impl AsRef<[u8]>) -> Cmd {
        self.0.push(a.as_ref().to_vec());
        self
    }

    /// Adds one argument built from pieces, e.g. a key prefix and a client id.
    pub fn joined(mut self, pieces: &[&[u8]]) -> Cmd {
        self.0.push(pieces.concat());
        self
    }

    /// Adds a number as its decimal text.
    pub fn num(mut self, n: impl Into<u64>) -> Cmd {
        self.0.push(decimal(n.into()));
        self
    }
}

/// A number's decimal text, without `format!` (whose machinery costs in wasm).
pub fn decimal(mut n: u64) -> Vec<u8> {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    digits[at..].to_vec()
}

/// A reply as a tree.
#[derive(Debug, Clone, PartialEq)]
pub enum Reply {
    Nil,
    Int(i64),
    Data(Vec<u8>),
    Status(String),
    Double(f64),
    Boolean(bool),
    Array(Vec<Reply>),
    /// Redis refused this command of a pipeline.
    Error(String),
}

impl Reply {
    /// Rebuilds the tree from the interface's pre-order nodes.
    pub fn from_nodes(nodes: Vec<Value>) -> Result<Reply, Error> {
        let mut it = nodes.into_iter();
        let reply = Self::take(&mut it)?;
        if it.next().is_some() {
            return Err(Error::Other("redis reply has values after its end".into()));
        }
        Ok(reply)
    }

    fn take(it: &mut std::vec::IntoIter<Value>) -> Result<Reply, Error> {
        let node = it.next().ok_or_else(|| Error::Other("redis reply ended inside an array".into()))?;
        Ok(match node {
            Value::Nil => Reply::Nil,
            Value::Int(i) => Reply::Int(i),
            Value::Data(d) => Reply::Data(d),
            Value::Status(s) => Reply::Status(s),
            Value::Double(d) => Reply::Double(d),
            Value::Boolean(b) => Reply::Boolean(b),
            Value::Error(e) => Reply::Error(e),
            Value::Array(n) => {
                let mut items = Vec::with_capacity((n as usize).min(it.len()));
                for _ in 0..n {
                    items.push(Self::take(it)?);
                }
                Reply::Array(items)
            }
        })
    }

    /// The reply, or the error Redis gave for this one command.
    pub fn ok(self) -> Result<Reply, Error> {
        match self {
            Reply::Error(e) => Err(Error::Other(e)),
            r => Ok(r),
        }
    }

    /// An array's elements; nil is an empty array.
    pub fn into_array(self) -> Vec<Reply> {
        match self {
            Reply::Array(items) => items,
            _ => Vec::new(),
        }
    }

    /// A bulk string's bytes (a status's text too); `None` for nil.
    pub fn into_bytes(self) -> Option<Vec<u8>> {
        match self {
            Reply::Data(d) => Some(d),
            Reply::Status(s) => Some(s.into_bytes()),
            Reply::Int(i) => Some(i.to_string().into_bytes()),
            _ => None,
        }
    }

    /// A number, whether Redis sent it as a number or as text.
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Reply::Int(i) => Some(*i),
            Reply::Data(d) => std::str::from_utf8(d).ok()?.trim().parse().ok(),
            _ => None,
        }
    }

    /// A field-value array (HGETALL) as pairs.
    pub fn into_pairs(self) -> Vec<(Vec<u8>, Reply)> {
        let mut items = self.into_array().into_iter();
        let mut pairs = Vec::new();
        while let (Some(k), Some(v)) = (items.next(), items.next()) {
            if let Some(k) = k.into_bytes() {
                pairs.push((k, v));
            }
        }
        pairs
    }
}

/// Runs one command on `pool`.
pub fn run(pool: &str, command: Cmd) -> Result<Reply, Error> {
    Reply::from_nodes(host::execute(pool, &command.0)?)
}

/// Runs commands on `pool` in one round trip (in MULTI/EXEC when `atomic`);
/// each reply may be an [`Reply::Error`] of its own.
pub fn run_all(pool: &str, commands: Vec<Cmd>, atomic: bool) -> Result<Vec<Reply>, Error> {
    if commands.is_empty() {
        return Ok(Vec::new());
    }
    let commands: Vec<Vec<Vec<u8>>> = commands.into_iter().map(|c| c.0).collect();
    host::pipeline(pool, &commands, atomic)?.into_iter().map(Reply::from_nodes).collect()
}

/// Runs commands on `pool` in one round trip when no answers are needed
/// (storing); fails naming the first command Redis refused.
pub fn exec(pool: &str, commands: Vec<Cmd>, atomic: bool) -> Result<(), Error> {
    if commands.is_empty() {
        return Ok(());
    }
    let commands: Vec<Vec<Vec<u8>>> = commands.into_iter().map(|c| c.0).collect();
    host::exec(pool, &commands, atomic)
}

/// [`run_all`], failing if Redis refused any of the commands.
pub fn run_all_ok(pool: &str, commands: Vec<Cmd>, atomic: bool) -> Result<Vec<Reply>, Error> {
    run_all(pool, commands, atomic)?.into_iter().map(Reply::ok).collect()
}

/// A `SCAN ... MATCH` pattern matching keys that start with `prefix`, taken literally.
pub fn glob_prefix(prefix: &[u8]) -> Vec<u8> {
    let mut pattern = Vec::with_capacity(prefix.len() + 2);
    for b in prefix {
        if matches!(b, b'*' | b'?' | b'[' | b']' | b'\\') {
            pattern.push(b'\\');
        }
        pattern.push(*b);
    }
    pattern.push(b'*');
    pattern
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Pre-order nodes become the tree they describe; a short list is an error.
    #[test]
    fn rebuilds_trees() {
        let scan = vec![
            Value::Array(2),
            Value::Data(b"0".to_vec()),
            Value::Array(2),
            Value::Data(b"k1".to_vec()),
            Value::Data(b"k2".to_vec()),
        ];
        assert_eq!(
            Reply::from_nodes(scan).unwrap(),
            Reply::Array(vec![
                Reply::Data(b"0".to_vec()),
                Reply::Array(vec![Reply::Data(b"k1".to_vec()), Reply::Data(b"k2".to_vec())]),
            ])
        );
        assert!(Reply::from_nodes(vec![Value::Array(2), Value::Nil]).is_err());
        assert!(Reply::from_nodes(vec![Value::Nil, Value::Nil]).is_err());
    }

    /// Numbers are written as their decimal text.
    #[test]
    fn numbers() {
        let c = cmd("X").num(0u8).num(7u32).num(u64::MAX);
        assert_eq!(c.0[1..], [b"0".to_vec(), b"7".to_vec(), u64::MAX.to_string().into_bytes()]);
    }

    /// Glob metacharacters in a prefix are matched literally.
    #[test]
    fn escapes_glob() {
        assert_eq!(glob_prefix(b"a*b?[c]\\/"), b"a\\*b\\?\\[c\\]\\\\/*".to_vec());
    }
}
