//! Which commands guests and raw `commands` actions may send. Every action
//! shares the pool's connections, so a command that changes a connection's
//! state (`SELECT 3`, `MULTI`, `CLIENT REPLY OFF`), blocks it (`BLPOP k 0`),
//! turns it into a subscriber, or acts on the server rather than on data
//! (`FLUSHALL`, `CONFIG SET dir`, `SHUTDOWN`, scripts that may call any of
//! these) would reach every other action, or beyond Redis. Data commands are
//! allowed, by name; anything else is refused, saying why.

/// The data commands: strings, keys, hashes, lists, sets, sorted sets,
/// streams, HyperLogLog, bitmaps, geo; `PUBLISH`; `PING`, `ECHO`, `TIME`.
const ALLOWED: &[&str] = &[
    // strings
    "GET",
    "SET",
    "SETNX",
    "SETEX",
    "PSETEX",
    "MGET",
    "MSET",
    "MSETNX",
    "GETSET",
    "GETDEL",
    "GETEX",
    "GETRANGE",
    "SETRANGE",
    "STRLEN",
    "APPEND",
    "INCR",
    "INCRBY",
    "INCRBYFLOAT",
    "DECR",
    "DECRBY",
    "LCS",
    // keys
    "DEL",
    "UNLINK",
    "EXISTS",
    "EXPIRE",
    "PEXPIRE",
    "EXPIREAT",
    "PEXPIREAT",
    "EXPIRETIME",
    "PEXPIRETIME",
    "TTL",
    "PTTL",
    "PERSIST",
    "TYPE",
    "RENAME",
    "RENAMENX",
    "COPY",
    "TOUCH",
    "SCAN",
    "RANDOMKEY",
    // hashes
    "HSET",
    "HSETNX",
    "HMSET",
    "HGET",
    "HMGET",
    "HGETALL",
    "HDEL",
    "HEXISTS",
    "HKEYS",
    "HVALS",
    "HLEN",
    "HINCRBY",
    "HINCRBYFLOAT",
    "HSCAN",
    "HSTRLEN",
    "HRANDFIELD",
    // lists
    "LPUSH",
    "RPUSH",
    "LPUSHX",
    "RPUSHX",
    "LPOP",
    "RPOP",
    "LRANGE",
    "LLEN",
    "LINDEX",
    "LSET",
    "LREM",
    "LTRIM",
    "LINSERT",
    "LPOS",
    "LMOVE",
    "RPOPLPUSH",
    "LMPOP",
    // sets
    "SADD",
    "SREM",
    "SMEMBERS",
    "SISMEMBER",
    "SMISMEMBER",
    "SCARD",
    "SPOP",
    "SRANDMEMBER",
    "SMOVE",
    "SINTER",
    "SUNION",
    "SDIFF",
    "SINTERSTORE",
    "SUNIONSTORE",
    "SDIFFSTORE",
    "SINTERCARD",
    "SSCAN",
    // sorted sets
    "ZADD",
    "ZREM",
    "ZRANGE",
    "ZRANGEBYSCORE",
    "ZREVRANGE",
    "ZREVRANGEBYSCORE",
    "ZRANGEBYLEX",
    "ZREVRANGEBYLEX",
    "ZRANK",
    "ZREVRANK",
    "ZSCORE",
    "ZMSCORE",
    "ZCARD",
    "ZCOUNT",
    "ZLEXCOUNT",
    "ZINCRBY",
    "ZREMRANGEBYSCORE",
    "ZREMRANGEBYRANK",
    "ZREMRANGEBYLEX",
    "ZPOPMIN",
    "ZPOPMAX",
    "ZMPOP",
    "ZSCAN",
    "ZRANGESTORE",
    "ZUNIONSTORE",
    "ZINTERSTORE",
    "ZDIFFSTORE",
    "ZUNION",
    "ZINTER",
    "ZDIFF",
    "ZRANDMEMBER",
    // streams (XREAD and XREADGROUP without BLOCK, below)
    "XADD",
    "XLEN",
    "XRANGE",
    "XREVRANGE",
    "XDEL",
    "XTRIM",
    "XACK",
    "XCLAIM",
    "XAUTOCLAIM",
    "XPENDING",
    "XINFO",
    "XREAD",
    "XREADGROUP",
    // HyperLogLog, bitmaps, geo
    "PFADD",
    "PFCOUNT",
    "PFMERGE",
    "SETBIT",
    "GETBIT",
    "BITCOUNT",
    "BITPOS",
    "BITOP",
    "BITFIELD",
    "BITFIELD_RO",
    "GEOADD",
    "GEOPOS",
    "GEODIST",
    "GEOSEARCH",
    "GEOSEARCHSTORE",
    "GEOHASH",
    // messages out, and harmless answers
    "PUBLISH",
    "SPUBLISH",
    "PING",
    "ECHO",
    "TIME",
];

/// Why the commands that are not allowed are not, by class.
const REFUSED: &[(&str, &[&str])] = &[
    (
        "it changes the state of a connection every action shares",
        &["SELECT", "AUTH", "HELLO", "CLIENT", "RESET", "QUIT", "READONLY", "READWRITE", "ASKING", "SWAPDB"],
    ),
    (
        "transactions are the host's: ask for an atomic pipeline instead",
        &["MULTI", "EXEC", "DISCARD", "WATCH", "UNWATCH"],
    ),
    (
        "it would turn a shared connection into a subscriber (the control channel subscribes)",
        &["SUBSCRIBE", "PSUBSCRIBE", "SSUBSCRIBE", "UNSUBSCRIBE", "PUNSUBSCRIBE", "SUNSUBSCRIBE", "MONITOR"],
    ),
    (
        "it blocks, holding a connection every action shares",
        &["BLPOP", "BRPOP", "BLMOVE", "BRPOPLPUSH", "BLMPOP", "BZPOPMIN", "BZPOPMAX", "BZMPOP", "WAIT", "WAITAOF"],
    ),
    (
        "it administers the server, not data",
        &[
            "CONFIG",
            "SAVE",
            "BGSAVE",
            "BGREWRITEAOF",
            "FLUSHALL",
            "FLUSHDB",
            "SHUTDOWN",
            "DEBUG",
            "SLAVEOF",
            "REPLICAOF",
            "MODULE",
            "ACL",
            "CLUSTER",
            "FAILOVER",
            "SYNC",
            "PSYNC",
            "LASTSAVE",
            "MIGRATE",
            "MOVE",
            "LATENCY",
            "MEMORY",
            "SLOWLOG",
            "INFO",
            "COMMAND",
            "DBSIZE",
            "OBJECT",
            "RESTORE",
            "DUMP",
        ],
    ),
    (
        "a script may run any command",
        &["EVAL", "EVALSHA", "EVAL_RO", "EVALSHA_RO", "SCRIPT", "FUNCTION", "FCALL", "FCALL_RO"],
    ),
    ("it walks every key and stalls the server: use SCAN", &["KEYS"]),
];

/// Whether a command (its name and arguments, as sent) may be sent.
pub fn check(args: &[Vec<u8>]) -> Result<(), String> {
    let Some(name) = args.first() else {
        return Err("a command needs at least its name".into());
    };
    let name = String::from_utf8_lossy(name).to_ascii_uppercase();
    if ALLOWED.contains(&name.as_str()) {
        let blocking = matches!(name.as_str(), "XREAD" | "XREADGROUP")
            && args[1..].iter().any(|a| a.eq_ignore_ascii_case(b"BLOCK"));
        if blocking {
            return Err(format!("`{name} BLOCK` is refused: it blocks, holding a connection every action shares"));
        }
        return Ok(());
    }
    let why = REFUSED
        .iter()
        .find(|(_, names)| names.contains(&name.as_str()))
        .map_or("it is not a data command cistern knows", |(why, _)| why);
    Err(format!("`{name}` is refused: {why}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(line: &str) -> Vec<Vec<u8>> {
        line.split(' ').map(|a| a.as_bytes().to_vec()).collect()
    }

    /// One command of each refused class, in any case, is refused and says why.
    #[test]
    fn each_refused_class() {
        for (line, why) in [
            ("select 3", "state of a connection"),
            ("CLIENT REPLY OFF", "state of a connection"),
            ("MULTI", "transactions are the host's"),
            ("SUBSCRIBE x", "subscriber"),
            ("BLPOP k 0", "blocks"),
            ("XREAD BLOCK 0 STREAMS s $", "blocks"),
            ("xreadgroup GROUP g c block 0 STREAMS s >", "blocks"),
            ("FLUSHALL", "administers the server"),
            ("CONFIG SET dir /tmp", "administers the server"),
            ("SHUTDOWN", "administers the server"),
            ("EVAL return 1 0", "script"),
            ("KEYS *", "SCAN"),
            ("NOSUCHCOMMAND", "not a data command"),
        ] {
            let e = check(&args(line)).unwrap_err();
            assert!(e.contains(why), "{line}: {e}");
        }
        assert!(check(&[]).is_err());
    }

    /// What the stock guest and the seed's raw commands send is allowed.
    #[test]
    fn data_commands_pass() {
        for line in [
            "HSET mqtt:client:c state 1",
            "hgetall k",
            "ZADD k 1 m",
            "ZRANGEBYSCORE k 0 1",
            "SCAN 0 MATCH mqtt:* COUNT 100",
            "EXPIRE k 10",
            "XREAD COUNT 1 STREAMS s 0",
            "PUBLISH ch m",
            "PING",
        ] {
            assert_eq!(check(&args(line)), Ok(()), "{line}");
        }
    }
}
