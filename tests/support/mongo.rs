//! MongoDB for the tests: a database of a test's own on the FerretDB server
//! that `scripts/services.sh up ferretdb` runs, made the way the README
//! tells users to (`sql/mongo.js`, applied here line by line through the
//! driver, since mongosh is in no registry this machine reaches); a private
//! FerretDB a test can stop and start; and a look at the documents.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mongodb::bson::{doc, Document};
use mongodb::options::{ClientOptions, IndexOptions};
use mongodb::{Client, Database, IndexModel};

/// The schema file users apply with mongosh.
pub fn schema() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../sql/mongo.js")
}

/// The shared server's port.
pub fn port() -> u16 {
    std::env::var("CISTERN_MONGO_PORT")
        .unwrap_or_else(|_| {
            panic!(
                "CISTERN_MONGO_PORT is not set: run the tests with scripts/test.sh, or start FerretDB with \
                 `scripts/services.sh up ferretdb` and `eval \"$(scripts/services.sh env ferretdb)\"`"
            )
        })
        .parse()
        .expect("CISTERN_MONGO_PORT is a port")
}

/// A name no other test uses.
fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_micros();
    format!("{prefix}_{}_{}_{}", std::process::id(), t % 1_000_000_000, N.fetch_add(1, Ordering::Relaxed))
}

/// A client that gives up quickly, for a server that may be away.
async fn client(port: u16) -> Client {
    let mut options =
        ClientOptions::parse(format!("mongodb://127.0.0.1:{port}/?directConnection=true")).await.expect("a client URL");
    options.server_selection_timeout = Some(Duration::from_secs(10));
    Client::with_options(options).expect("a client")
}

/// A database of one test's own.
pub struct Mongo {
    pub port: u16,
    pub name: String,
    client: Client,
}

impl Mongo {
    /// A fresh database on the shared server, with `sql/mongo.js` applied.
    pub async fn for_test(prefix: &str) -> Mongo {
        Mongo::on(port(), prefix).await
    }

    /// A fresh database on the server at `port`, with `sql/mongo.js` applied.
    pub async fn on(port: u16, prefix: &str) -> Mongo {
        let m = Mongo::named(port, prefix).await;
        apply_schema(&m.db(), &schema()).await;
        m
    }

    /// A database name on the server at `port`, nothing made in it yet
    /// (the server need not be running).
    pub async fn named(port: u16, prefix: &str) -> Mongo {
        Mongo { port, name: unique(prefix), client: client(port).await }
    }

    pub fn db(&self) -> Database {
        self.client.database(&self.name)
    }

    /// `backend.mongo.<pool>.*` lines for this database.
    pub fn pool_lines(&self, pool: &str) -> String {
        format!(
            "backend.mongo.{pool}.type = single\nbackend.mongo.{pool}.server = 127.0.0.1:{}\n\
             backend.mongo.{pool}.c_pool_size = 4\nbackend.mongo.{pool}.database = {}\n",
            self.port, self.name
        )
    }

    /// The documents of `collection` that `filter` matches, in `_id` order.
    pub async fn find(&self, collection: &str, filter: Document) -> Vec<Document> {
        let mut cursor = self
            .db()
            .collection::<Document>(collection)
            .find(filter)
            .sort(doc! {"_id": 1})
            .await
            .unwrap_or_else(|e| panic!("find in {collection}: {e}"));
        let mut docs = Vec::new();
        while cursor.advance().await.expect("the next document") {
            docs.push(cursor.deserialize_current().expect("a document"));
        }
        docs
    }

    /// Waits up to `limit` until `probe` gives a value, reading `collection`
    /// with `filter` each time.
    pub async fn eventually<T>(
        &self,
        what: &str,
        limit: Duration,
        collection: &str,
        filter: Document,
        mut probe: impl FnMut(&[Document]) -> Option<T>,
    ) -> T {
        let started = Instant::now();
        loop {
            let docs = self.find(collection, filter.clone()).await;
            if let Some(v) = probe(&docs) {
                return v;
            }
            assert!(started.elapsed() < limit, "{what}: not within {limit:?}; {collection} holds {docs:#?}");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    pub async fn insert(&self, collection: &str, d: Document) {
        self.db().collection::<Document>(collection).insert_one(d).await.expect("insert");
    }
}

/// Applies a mongosh script of the shape `sql/mongo.js` has: comments, and
/// `db.createCollection(...)` and `db.<collection>.createIndex(...)` lines
/// with JSON arguments. Any other line fails the test, so the file cannot
/// grow something the tests would silently skip.
pub async fn apply_schema(db: &Database, file: &Path) {
    let text = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{}: {e}", file.display()));
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with("//") {
            continue;
        }
        let at = format!("{}:{}", file.display(), n + 1);
        let call = line.strip_prefix("db.").and_then(|l| l.strip_suffix(')')).and_then(|l| l.split_once('('));
        let Some((target, args)) = call else { panic!("{at}: not a db.<...>(...) call: {line}") };
        let args: Vec<serde_json::Value> =
            serde_json::from_str(&format!("[{args}]")).unwrap_or_else(|e| panic!("{at}: arguments are not JSON: {e}"));
        let document = |i: usize| -> Document {
            let v = args.get(i).unwrap_or_else(|| panic!("{at}: argument {} is missing", i + 1));
            mongodb::bson::to_document(v).unwrap_or_else(|e| panic!("{at}: argument {} is not a document: {e}", i + 1))
        };
        match target.split_once('.') {
            None if target == "createCollection" => {
                let name = args.first().and_then(|v| v.as_str()).unwrap_or_else(|| panic!("{at}: no collection name"));
                db.create_collection(name).await.unwrap_or_else(|e| panic!("{at}: {e}"));
            }
            Some((collection, "createIndex")) => {
                let mut options = IndexOptions::default();
                if args.len() > 1 {
                    for (key, value) in document(1) {
                        match (key.as_str(), value) {
                            ("unique", mongodb::bson::Bson::Boolean(u)) => options.unique = Some(u),
                            ("name", mongodb::bson::Bson::String(s)) => options.name = Some(s),
                            (other, _) => panic!("{at}: index option {other} is not known to this runner"),
                        }
                    }
                }
                let index = IndexModel::builder().keys(document(0)).options(options).build();
                db.collection::<Document>(collection).create_index(index).await.unwrap_or_else(|e| panic!("{at}: {e}"));
            }
            _ => panic!("{at}: this runner knows createCollection and createIndex only: {line}"),
        }
    }
}

/// A FerretDB server of a test's own (its own port and data directory), so
/// the test can stop and start it without disturbing the others.
pub struct FerretServer {
    run_dir: tempfile::TempDir,
    pub port: u16,
}

impl FerretServer {
    /// Starts one and waits until it answers.
    pub fn start() -> FerretServer {
        let s = FerretServer::not_started();
        s.start_again();
        s
    }

    /// One that is not running yet, on a port nobody listens on.
    pub fn not_started() -> FerretServer {
        let [port] = crate::broker::free_ports();
        FerretServer { run_dir: tempfile::tempdir().expect("a temp dir"), port }
    }

    fn script(&self, action: &str) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/services/ferretdb.sh");
        let out = Command::new("bash")
            .arg(script)
            .arg(action)
            .env("CISTERN_RUN", self.run_dir.path())
            .env("CISTERN_MONGO_PORT", self.port.to_string())
            .stdin(Stdio::null())
            .output()
            .expect("bash runs");
        assert!(out.status.success(), "ferretdb.sh {action}: {}", String::from_utf8_lossy(&out.stderr));
    }

    pub fn start_again(&self) {
        self.script("start");
    }

    pub fn stop(&self) {
        self.script("stop");
    }
}

impl Drop for FerretServer {
    fn drop(&mut self) {
        self.script("stop");
    }
}
