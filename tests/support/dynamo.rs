//! DynamoDB servers (dynalite) of a test's own, started by
//! `scripts/services/dynalite.sh` on their own port and data directory, with
//! the seed's tables created the way the README tells users to:
//! `sql/dynamodb/create-tables.sh`. DynamoDB has no databases to keep tests
//! apart and the seed fixes the table names, so each test gets a server.
//! Items are read back with the AWS SDK.

use std::collections::HashMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_dynamodb::types::AttributeValue;

pub type Item = HashMap<String, AttributeValue>;

pub const REGION: &str = "us-west-2";
pub const ACCESS_KEY_ID: &str = "AKIACISTERNTEST";
/// A secret the tests look for in logs and metrics, where it must never be.
pub const SECRET: &str = "cIsTeRn+SeCrEt/never-shown";

pub struct Dynalite {
    run_dir: tempfile::TempDir,
    pub port: u16,
    rt: tokio::runtime::Runtime,
    client: aws_sdk_dynamodb::Client,
}

impl Dynalite {
    /// A server with the seed's tables.
    pub fn start() -> Dynalite {
        let d = Dynalite::start_without_tables();
        d.create_tables();
        d
    }

    /// A server with no tables yet.
    pub fn start_without_tables() -> Dynalite {
        let run_dir = tempfile::tempdir().unwrap();
        let [port] = crate::broker::free_ports();
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let http = aws_smithy_http_client::Builder::new().build_http();
        let config = aws_sdk_dynamodb::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .endpoint_url(format!("http://127.0.0.1:{port}"))
            .credentials_provider(Credentials::new(ACCESS_KEY_ID, SECRET, None, None, "tests"))
            .http_client(http)
            .build();
        let d = Dynalite { run_dir, port, rt, client: aws_sdk_dynamodb::Client::from_conf(config) };
        d.script("start");
        d
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn script(&self, action: &str) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/services/dynalite.sh");
        let out = Command::new("bash")
            .arg(script)
            .arg(action)
            .env("CISTERN_RUN", self.run_dir.path())
            .env("CISTERN_DYNAMO_PORT", self.port.to_string())
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(out.status.success(), "dynalite.sh {action}: {}", String::from_utf8_lossy(&out.stderr));
    }

    pub fn stop(&self) {
        self.script("stop");
    }

    /// Starts the stopped server again, on the same data.
    pub fn start_again(&self) {
        self.script("start");
    }

    /// `sql/dynamodb/create-tables.sh <endpoint>`, as the README says.
    pub fn create_tables(&self) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../sql/dynamodb/create-tables.sh");
        let out = Command::new("bash")
            .arg(script)
            .arg(self.url())
            .env("AWS_REGION", REGION)
            .env("AWS_ACCESS_KEY_ID", ACCESS_KEY_ID)
            .env("AWS_SECRET_ACCESS_KEY", SECRET)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(out.status.success(), "create-tables.sh: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// The seed's example configuration (`etc/plugins/emqx_backend_dynamo.conf`)
    /// with its server and credentials changed to this server's, after
    /// `base` (the listener lines).
    pub fn example_config(&self, base: &str) -> String {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../etc/plugins/emqx_backend_dynamo.conf");
        let mut text = std::fs::read_to_string(path).expect("etc/plugins/emqx_backend_dynamo.conf");
        for (from, to) in [
            (
                "backend.dynamo.pool1.server = http://localhost:8000",
                format!("backend.dynamo.pool1.server = {}", self.url()),
            ),
            (
                "backend.dynamo.pool1.aws_access_key_id = AKIAU5IM2XOC7AQWG7HK",
                format!("backend.dynamo.pool1.aws_access_key_id = {ACCESS_KEY_ID}"),
            ),
            (
                "backend.dynamo.pool1.aws_secret_access_key = TZt7XoRi+vtCJYQ9YsAinh19jR1rngm/hxZMWR2P",
                format!("backend.dynamo.pool1.aws_secret_access_key = {SECRET}"),
            ),
        ] {
            assert!(text.contains(from), "the example configuration has no line {from:?}");
            text = text.replace(from, &to);
        }
        format!("{base}{text}")
    }

    /// Every item of a table.
    pub fn scan(&self, table: &str) -> Vec<Item> {
        self.rt.block_on(async {
            let mut items = Vec::new();
            let mut start = None;
            loop {
                let out = self
                    .client
                    .scan()
                    .table_name(table)
                    .consistent_read(true)
                    .set_exclusive_start_key(start)
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("scan {table}: {e:?}"));
                items.extend(out.items.unwrap_or_default());
                match out.last_evaluated_key.filter(|k| !k.is_empty()) {
                    Some(k) => start = Some(k),
                    None => return items,
                }
            }
        })
    }

    /// The item of `table` with this key (attributes of type S).
    pub fn get(&self, table: &str, key: &[(&str, &str)]) -> Option<Item> {
        let key: Item = key.iter().map(|(k, v)| (k.to_string(), AttributeValue::S(v.to_string()))).collect();
        self.rt.block_on(async {
            let out = self
                .client
                .get_item()
                .table_name(table)
                .set_key(Some(key))
                .consistent_read(true)
                .send()
                .await
                .unwrap_or_else(|e| panic!("get from {table}: {e:?}"));
            out.item
        })
    }

    pub fn put(&self, table: &str, item: Item) {
        self.rt.block_on(async {
            self.client
                .put_item()
                .table_name(table)
                .set_item(Some(item))
                .send()
                .await
                .unwrap_or_else(|e| panic!("put into {table}: {e:?}"));
        });
    }

    /// Polls `f` until it gives something, for at most `limit`.
    pub fn eventually<T>(&self, what: &str, limit: Duration, mut f: impl FnMut(&Dynalite) -> Option<T>) -> T {
        let started = Instant::now();
        loop {
            if let Some(t) = f(self) {
                return t;
            }
            assert!(started.elapsed() < limit, "{what}: not within {limit:?}");
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Dynalite {
    fn drop(&mut self) {
        let _ = Command::new("bash")
            .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/services/dynalite.sh"))
            .arg("stop")
            .env("CISTERN_RUN", self.run_dir.path())
            .env("CISTERN_DYNAMO_PORT", self.port.to_string())
            .stdin(Stdio::null())
            .output();
    }
}

/// An item from `(attribute, value)` pairs.
pub fn item(pairs: &[(&str, AttributeValue)]) -> Item {
    pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect()
}

/// An attribute of type S.
pub fn s(item: &Item, name: &str) -> Option<String> {
    item.get(name)?.as_s().ok().cloned()
}

/// An attribute of type N, as a whole number.
pub fn n(item: &Item, name: &str) -> Option<i64> {
    item.get(name)?.as_n().ok()?.parse().ok()
}

/// An attribute of type SS, sorted.
pub fn ss(item: &Item, name: &str) -> Vec<String> {
    let mut set = item.get(name).and_then(|v| v.as_ss().ok().cloned()).unwrap_or_default();
    set.sort();
    set
}

/// The payload as stored: S (text) or B (bytes), absent when empty.
pub fn payload(item: &Item) -> Vec<u8> {
    match item.get("payload") {
        Some(AttributeValue::S(text)) => text.clone().into_bytes(),
        Some(AttributeValue::B(bytes)) => bytes.clone().into_inner(),
        _ => Vec::new(),
    }
}
