//! Redis for the tests: a look into the server the project's scripts start
//! (`CISTERN_REDIS_URL`, set by scripts/test.sh), one logical database per
//! test, emptied when the test begins; and a private `redis-server` a test
//! starts, stops and starts again itself, killed by its PID.

use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use ::redis::{Connection, Value};

use crate::broker::free_port;

/// One test's database on a Redis server.
pub struct Redis {
    pub host: String,
    pub port: u16,
    pub db: i64,
    /// The broker logs in as the restricted ACL user `cistern_app`, which
    /// `scripts/services/redis.sh` makes on the scripts' server (not on a
    /// test's own `redis-server`).
    app_login: bool,
    conn: Mutex<Connection>,
}

impl Redis {
    /// Database `db` of the scripts' server, emptied. Each test takes its own number.
    pub fn for_test(db: i64) -> Redis {
        let url = std::env::var("CISTERN_REDIS_URL").unwrap_or_else(|_| {
            panic!(
                "CISTERN_REDIS_URL is not set: run the tests with scripts/test.sh, or start Redis with \
                 `scripts/services.sh up redis` and `eval \"$(scripts/services.sh env redis)\"`"
            )
        });
        let rest = url.trim_start_matches("redis://").trim_end_matches('/');
        let (host, port) = rest.rsplit_once(':').expect("CISTERN_REDIS_URL is redis://host:port/");
        let mut r = Redis::open(host, port.parse().expect("a port"), db);
        r.cmd(&["FLUSHDB"]);
        r.app_login = true;
        r
    }

    /// Database `db` of the server at `host:port`, as it is.
    pub fn open(host: &str, port: u16, db: i64) -> Redis {
        let url = format!("redis://{host}:{port}/{db}");
        let conn = ::redis::Client::open(url.as_str())
            .and_then(|c| c.get_connection())
            .unwrap_or_else(|e| panic!("cannot reach Redis at {url}: {e}"));
        Redis { host: host.to_string(), port, db, app_login: false, conn: Mutex::new(conn) }
    }

    /// `host:port`.
    pub fn server(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }

    /// The configuration lines of a pool `name` on this database (as
    /// `cistern_app` on the scripts' server).
    pub fn pool_lines(&self, name: &str) -> String {
        let login = if self.app_login {
            format!("backend.redis.{name}.username = cistern_app\nbackend.redis.{name}.password = cistern_app\n")
        } else {
            String::new()
        };
        format!(
            "backend.redis.{name}.server = {}:{}\nbackend.redis.{name}.database = {}\n{login}",
            self.host, self.port, self.db
        )
    }

    /// Runs a command of text arguments.
    pub fn cmd(&self, args: &[&str]) -> Value {
        let bytes: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        self.cmd_bytes(&bytes)
    }

    /// Runs a command of binary arguments.
    pub fn cmd_bytes(&self, args: &[&[u8]]) -> Value {
        let mut cmd = ::redis::Cmd::new();
        for a in args {
            cmd.arg(*a);
        }
        let mut conn = self.conn.lock().expect("connection");
        cmd.query(&mut *conn).unwrap_or_else(|e| panic!("{:?}: {e}", String::from_utf8_lossy(args[0])))
    }

    /// HGETALL as (field, value) text pairs, in the order Redis keeps them.
    pub fn hgetall(&self, key: &[u8]) -> Vec<(String, String)> {
        let items = array(self.cmd_bytes(&[b"HGETALL", key]));
        items.chunks(2).map(|p| (lossy(&p[0]), lossy(&p[1]))).collect()
    }

    /// HGETALL as raw bytes, by field.
    pub fn hash_bytes(&self, key: &[u8]) -> std::collections::BTreeMap<String, Vec<u8>> {
        let items = array(self.cmd_bytes(&[b"HGETALL", key]));
        items.chunks(2).map(|p| (lossy(&p[0]), bytes(&p[1]))).collect()
    }

    /// A string value, if the key holds one.
    pub fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        match self.cmd_bytes(&[b"GET", key]) {
            Value::Nil => None,
            v => Some(bytes(&v)),
        }
    }

    /// A sorted set's members, lowest score first.
    pub fn zrange(&self, key: &[u8]) -> Vec<String> {
        array(self.cmd_bytes(&[b"ZRANGE", key, b"0", b"-1"])).iter().map(lossy).collect()
    }

    /// Every key of the database, sorted.
    pub fn keys(&self) -> Vec<Vec<u8>> {
        let mut keys: Vec<Vec<u8>> = array(self.cmd(&["KEYS", "*"])).iter().map(bytes).collect();
        keys.sort();
        keys
    }

    pub fn exists(&self, key: &[u8]) -> bool {
        self.cmd_bytes(&[b"EXISTS", key]) == Value::Int(1)
    }

    /// Seconds the key has left to live (-1: forever, -2: no such key).
    pub fn ttl(&self, key: &[u8]) -> i64 {
        match self.cmd_bytes(&[b"TTL", key]) {
            Value::Int(t) => t,
            other => panic!("TTL answered {other:?}"),
        }
    }

    /// Polls `probe` until it gives `Some`, or panics after `limit` with `what`.
    pub fn eventually<T>(&self, what: &str, limit: Duration, mut probe: impl FnMut(&Redis) -> Option<T>) -> T {
        let started = Instant::now();
        loop {
            if let Some(t) = probe(self) {
                return t;
            }
            if started.elapsed() > limit {
                panic!("{what}: not so after {limit:?}; the database holds {:?}", self.dump());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The keys, as text, for failure messages.
    pub fn dump(&self) -> Vec<String> {
        self.keys().iter().map(|k| lossy_bytes(k)).collect()
    }
}

/// A `redis-server` of a test's own, on a free port, with no persistence;
/// or a Sentinel.
pub struct RedisServer {
    pub port: u16,
    child: Option<Child>,
    dir: tempfile::TempDir,
    /// Arguments after the port's: a replica's `--replicaof`, a Sentinel's config file.
    args: Vec<String>,
}

impl RedisServer {
    /// Starts a server on a free port and waits until it answers.
    pub fn start() -> RedisServer {
        RedisServer::start_with(&[])
    }

    /// Starts a server with extra arguments (`--replicaof 127.0.0.1 6379`).
    pub fn start_with(args: &[&str]) -> RedisServer {
        let mut s = RedisServer::not_started();
        s.args = args.iter().map(|a| a.to_string()).collect();
        s.start_again();
        s
    }

    /// A Sentinel watching `master` (with a quorum of one, and a failover a
    /// second after the master stops answering).
    pub fn sentinel(master: &RedisServer, name: &str) -> RedisServer {
        let mut s = RedisServer::not_started();
        let conf = s.dir.path().join("sentinel.conf");
        std::fs::write(
            &conf,
            format!(
                "sentinel monitor {name} 127.0.0.1 {} 1
                 sentinel down-after-milliseconds {name} 1000
                 sentinel failover-timeout {name} 5000
",
                master.port
            ),
        )
        .expect("sentinel.conf written");
        // The file first: Sentinel rewrites it, so it must be its own.
        s.args = vec![conf.display().to_string(), "--sentinel".into()];
        s.start_again();
        s
    }

    /// A server that is not running yet, on a port nobody listens on.
    pub fn not_started() -> RedisServer {
        RedisServer { port: free_port(), child: None, dir: tempfile::tempdir().expect("a temp dir"), args: Vec::new() }
    }

    /// Starts the server (again) on its port.
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "the server is running");
        let mut cmd = Command::new("redis-server");
        // A config file must come first; options follow.
        let (file, options) = match self.args.first() {
            Some(f) if !f.starts_with("--") => (Some(f.clone()), &self.args[1..]),
            _ => (None, &self.args[..]),
        };
        cmd.args(file);
        cmd.args(["--port", &self.port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(["--dir", &self.dir.path().display().to_string()])
            .args(options);
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server runs (install it with scripts/services.sh up redis)");
        self.child = Some(child);
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(started.elapsed() < Duration::from_secs(20), "redis-server did not listen on {}", self.port);
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the server at once (SIGKILL, by its PID).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn client(&self, db: i64) -> Redis {
        Redis::open("127.0.0.1", self.port, db)
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

fn array(v: Value) -> Vec<Value> {
    match v {
        Value::Array(items) => items,
        Value::Nil => Vec::new(),
        other => panic!("expected an array, got {other:?}"),
    }
}

fn bytes(v: &Value) -> Vec<u8> {
    match v {
        Value::BulkString(b) => b.clone(),
        Value::SimpleString(s) => s.clone().into_bytes(),
        Value::Int(i) => i.to_string().into_bytes(),
        Value::Okay => b"OK".to_vec(),
        other => panic!("expected a string, got {other:?}"),
    }
}

fn lossy(v: &Value) -> String {
    lossy_bytes(&bytes(v))
}

fn lossy_bytes(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}
