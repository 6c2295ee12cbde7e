//! Finding keys by prefix with SCAN, for topic filters with wildcards: the
//! filter's literal start narrows the keys, the guest matches the rest.

use cistern_guest::redis::{cmd, glob_prefix, run, Reply};
use cistern_guest::Error;

/// Keys SCAN looks at per round trip.
const COUNT: u32 = 1000;

/// Every key that starts with `prefix` and holds a value of `kind`
/// (`hash`, `zset`), sorted. SCAN may name a key twice; it is named once here.
pub fn keys(pool: &str, prefix: &[u8], kind: &str) -> Result<Vec<Vec<u8>>, Error> {
    let pattern = glob_prefix(prefix);
    let mut cursor = b"0".to_vec();
    let mut keys = Vec::new();
    loop {
        let reply = run(
            pool,
            cmd("SCAN").arg(&cursor).arg("MATCH").arg(&pattern).arg("COUNT").num(COUNT).arg("TYPE").arg(kind),
        )?;
        let mut parts = reply.into_array().into_iter();
        cursor = parts
            .next()
            .and_then(Reply::into_bytes)
            .ok_or_else(|| Error::Other("SCAN answered without a cursor".into()))?;
        keys.extend(parts.next().map(Reply::into_array).unwrap_or_default().into_iter().filter_map(Reply::into_bytes));
        if cursor == b"0" {
            break;
        }
    }
    keys.sort();
    keys.dedup();
    Ok(keys)
}
