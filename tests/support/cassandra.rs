//! Keyspaces on the Cassandra server `scripts/services.sh up cassandra`
//! runs, one per test, made from `sql/cassandra.cql` (the seed's tables)
//! with the keyspace named for the test, the way the file's header tells
//! users to; and, for the outage test, a Cassandra of the test's own
//! (`scripts/services/cassandra.sh` on its own ports and data directory),
//! so stopping it leaves the other tests' server alone. Rows are read back
//! with the scylla driver.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use scylla::client::session::Session;
use scylla::client::session_builder::SessionBuilder;
use scylla::value::{CqlValue, Row};

/// The shared server's native port, from `scripts/services.sh env`.
pub fn shared_nodes() -> String {
    std::env::var("CISTERN_CASSANDRA_NODES").unwrap_or_else(|_| {
        panic!(
            "CISTERN_CASSANDRA_NODES is not set: run the tests with scripts/test.sh, or \
             `scripts/services.sh up cassandra` and `eval \"$(scripts/services.sh env cassandra)\"`"
        )
    })
}

/// A keyspace with the seed's tables, dropped when the test ends.
pub struct Keyspace {
    pub name: String,
    pub nodes: String,
    rt: tokio::runtime::Runtime,
    session: std::sync::Mutex<Session>,
}

fn unique() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_micros();
    format!("t_{}_{}_{}", std::process::id(), t % 1_000_000_000, N.fetch_add(1, Ordering::Relaxed))
}

/// The statements of `sql/cassandra.cql` for keyspace `name`.
pub fn schema_statements(name: &str) -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sql/cassandra.cql");
    let text = std::fs::read_to_string(&path).expect("sql/cassandra.cql");
    let text: String = text.lines().filter(|l| !l.trim_start().starts_with("--")).map(|l| format!("{l}\n")).collect();
    text.split(';')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.replace("EXISTS mqtt ", &format!("EXISTS {name} ")).replace("mqtt.", &format!("{name}.")))
        .collect()
}

impl Keyspace {
    /// A keyspace on the shared server.
    pub fn create() -> Keyspace {
        Keyspace::create_on(&shared_nodes())
    }

    pub fn create_on(nodes: &str) -> Keyspace {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let session = connect(&rt, nodes).unwrap_or_else(|e| panic!("connecting to Cassandra at {nodes}: {e}"));
        let k = Keyspace { name: unique(), nodes: nodes.to_string(), rt, session: std::sync::Mutex::new(session) };
        for statement in schema_statements(&k.name) {
            k.run(&statement, ());
        }
        k
    }

    /// Runs a statement, panicking on failure.
    pub fn run(&self, statement: &str, values: impl scylla::serialize::row::SerializeRow) {
        let session = self.session.lock().unwrap();
        self.rt.block_on(session.query_unpaged(statement, values)).unwrap_or_else(|e| panic!("{statement}: {e}"));
    }

    /// The rows of a SELECT on this keyspace's tables (`{ks}` stands for its name).
    pub fn rows(
        &self,
        statement: &str,
        values: impl scylla::serialize::row::SerializeRow,
    ) -> Vec<Vec<Option<CqlValue>>> {
        let statement = statement.replace("{ks}", &self.name);
        // After a server restart (the outage test) a new session is quicker
        // than waiting out the driver's reconnection backoff.
        let started = Instant::now();
        let mut session = self.session.lock().unwrap();
        let result = loop {
            match self.rt.block_on(session.query_unpaged(statement.as_str(), &values)) {
                Ok(r) => break r,
                Err(e) if started.elapsed() > Duration::from_secs(30) => panic!("{statement}: {e}"),
                Err(_) => {
                    std::thread::sleep(Duration::from_millis(500));
                    if let Ok(fresh) = connect(&self.rt, &self.nodes) {
                        *session = fresh;
                    }
                }
            }
        };
        let rows = result.into_rows_result().unwrap_or_else(|e| panic!("{statement}: {e}"));
        rows.rows::<Row>().unwrap().map(|r| r.unwrap().columns).collect()
    }

    /// Polls `f` until it gives something, for at most `limit`.
    pub fn eventually<T>(&self, what: &str, limit: Duration, mut f: impl FnMut(&Keyspace) -> Option<T>) -> T {
        let started = Instant::now();
        loop {
            if let Some(t) = f(self) {
                return t;
            }
            assert!(started.elapsed() < limit, "{what}: not within {limit:?}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// The seed's example configuration (`etc/plugins/emqx_backend_cassa.conf`)
    /// with its nodes and keyspace changed to this keyspace's, after `base`
    /// (the listener lines).
    pub fn example_config(&self, base: &str) -> String {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../etc/plugins/emqx_backend_cassa.conf");
        let mut text = std::fs::read_to_string(path).expect("etc/plugins/emqx_backend_cassa.conf");
        for (from, to) in [
            ("backend.ecql.pool1.nodes = 127.0.0.1:9042", format!("backend.ecql.pool1.nodes = {}", self.nodes)),
            ("backend.ecql.pool1.keyspace = mqtt", format!("backend.ecql.pool1.keyspace = {}", self.name)),
        ] {
            assert!(text.contains(from), "the example configuration has no line {from:?}");
            text = text.replace(from, &to);
        }
        format!("{base}{text}")
    }
}

impl Drop for Keyspace {
    fn drop(&mut self) {
        let drop = format!("DROP KEYSPACE IF EXISTS {}", self.name);
        if let Ok(session) = self.session.lock() {
            let _ = self.rt.block_on(session.query_unpaged(drop, ()));
        }
    }
}

fn connect(rt: &tokio::runtime::Runtime, nodes: &str) -> Result<Session, String> {
    rt.block_on(SessionBuilder::new().known_node(nodes).build()).map_err(|e| e.to_string())
}

/// A column as text.
pub fn text(v: &Option<CqlValue>) -> Option<String> {
    match v {
        Some(CqlValue::Text(t)) => Some(t.clone()),
        _ => None,
    }
}

/// A column as a whole number (int, bigint, or timestamp in milliseconds).
pub fn int(v: &Option<CqlValue>) -> Option<i64> {
    match v {
        Some(CqlValue::Int(i)) => Some((*i).into()),
        Some(CqlValue::BigInt(i)) => Some(*i),
        Some(CqlValue::Timestamp(t)) => Some(t.0),
        _ => None,
    }
}

/// A Cassandra of a test's own, for stopping and starting (a small heap;
/// about 20 s to start).
pub struct PrivateCassandra {
    run_dir: tempfile::TempDir,
    pub port: u16,
    storage_port: u16,
}

impl PrivateCassandra {
    pub fn start() -> PrivateCassandra {
        let [port, storage_port] = crate::broker::free_ports();
        let c = PrivateCassandra { run_dir: tempfile::tempdir().unwrap(), port, storage_port };
        c.script("start");
        c
    }

    pub fn nodes(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn command(&self, action: &str) -> Command {
        let mut cmd = Command::new("bash");
        cmd.arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/services/cassandra.sh"))
            .arg(action)
            .env("CISTERN_RUN", self.run_dir.path())
            .env("CISTERN_CASSANDRA_PORT", self.port.to_string())
            .env("CISTERN_CASSANDRA_STORAGE_PORT", self.storage_port.to_string())
            .env("CISTERN_SERVICE_TIMEOUT", "180")
            .stdin(Stdio::null());
        cmd
    }

    fn script(&self, action: &str) {
        let out = self.command(action).output().unwrap();
        assert!(out.status.success(), "cassandra.sh {action}: {}", String::from_utf8_lossy(&out.stderr));
    }

    pub fn stop(&self) {
        self.script("stop");
    }

    /// Starts the stopped server again, on the same data.
    pub fn start_again(&self) {
        self.script("start");
    }
}

impl Drop for PrivateCassandra {
    fn drop(&mut self) {
        let _ = self.command("stop").output();
    }
}
