//! A MongoDB pool: one driver `Client` (which keeps up to `c_pool_size`
//! connections per server and finds the servers of a replica set or
//! sharded cluster itself) on the pool's database, with the write concern
//! of `w_mode` and the read preference of `r_mode`; and a keeper task that
//! pings it, says when the server goes and comes back, and lets calls fail
//! at once while it is away.
//!
//! A server that is down at start does not stop cistern: the pool is built,
//! calls fail as unavailable, and the keeper sees the server when it comes.

use std::path::PathBuf;
use std::sync::{Arc, Weak};
use std::time::Duration;

use mongodb::options::{
    Acknowledgment, ClientOptions, Credential, ReadPreference, SelectionCriteria, ServerAddress, Tls, TlsOptions,
    WriteConcern,
};
use mongodb::{Client, Database};

use super::config::{Kind, Loaded, MongoConfig, RMode, Topology, WMode};
use crate::backends::pool::{AnyPool, Pool};
use crate::backends::reachability::Reachability;
use crate::backends::registry::Connect;
use crate::config::ConfigError;

/// The driver's waits, where the topology options leave them unset: short,
/// because the outbox takes a write the database does not answer soon.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const SERVER_SELECTION_TIMEOUT: Duration = Duration::from_secs(2);
/// How long one operation may take before it fails as unavailable
/// (`topology.socket_timeout_ms` sets it).
const OPERATION_TIMEOUT: Duration = Duration::from_secs(5);
/// How often the keeper pings a pool that is up.
const CHECK_EVERY: Duration = Duration::from_secs(1);
/// The keeper's retry delay while the server is away grows up to this.
const MAX_RETRY_DELAY: Duration = Duration::from_secs(2);

/// A pool, shared by every action that names it. Cloning shares it.
#[derive(Clone)]
pub struct MongoPool {
    pub(super) inner: Arc<Inner>,
    _keeper: Arc<Keeper>,
}

pub(super) struct Inner {
    /// `mongo.<pool>`, for logs and errors.
    pub(super) name: String,
    /// The servers, as configured, for logs.
    pub(super) target: String,
    /// None in a pool built for `cistern --check`, which opens no connection.
    db: Option<Database>,
    pub(super) operation_timeout: Duration,
    /// Why the pool is not reachable, while it is not.
    reachability: Reachability,
    /// A certificate and key joined into the one file the driver reads, removed with the pool.
    joined_pem: Option<PathBuf>,
}

struct Keeper(Option<tokio::task::AbortHandle>);

impl Drop for Keeper {
    fn drop(&mut self) {
        if let Some(task) = &self.0 {
            task.abort();
        }
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if let Some(p) = &self.joined_pem {
            let _ = std::fs::remove_file(p);
        }
    }
}

impl std::fmt::Debug for MongoPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "MongoPool({} at {})", self.inner.name, self.inner.target)
    }
}

pub async fn connect(cx: Connect<'_>) -> Result<AnyPool, ConfigError> {
    let entry = cx.entry;
    let loaded = MongoConfig::load(entry, cx.backend, cx.base_dir)?;
    let name = format!("mongo.{}", entry.name);
    let target = loaded.servers.iter().map(|(h, p)| format!("{h}:{p}")).collect::<Vec<_>>().join(",");
    if cx.check_only {
        // The keys are checked; a client would start connecting at once.
        let inner = Arc::new(Inner {
            name,
            target,
            db: None,
            operation_timeout: OPERATION_TIMEOUT,
            reachability: Reachability::down("built for a configuration check"),
            joined_pem: None,
        });
        return Ok(AnyPool::new(MongoPool { inner, _keeper: Arc::new(Keeper(None)) }));
    }
    let (options, joined_pem) = client_options(&loaded, &name).map_err(|m| ConfigError::at(&entry.at, m))?;
    let client = Client::with_options(options).map_err(|e| ConfigError::at(&entry.at, format!("pool {name}: {e}")))?;
    let inner = Arc::new(Inner {
        name,
        target,
        db: Some(client.database(&loaded.config.database)),
        operation_timeout: Topology::ms(loaded.topology.socket_timeout_ms).unwrap_or(OPERATION_TIMEOUT),
        reachability: Reachability::up(),
        joined_pem,
    });
    match super::operations::ping_inner(&inner).await {
        Ok(()) => tracing::info!(
            pool = %inner.name,
            server = %inner.target,
            database = %loaded.config.database,
            kind = %loaded.config.kind,
            "mongo pool open"
        ),
        Err(e) => {
            tracing::warn!(
                "pool {} is not reachable yet ({}: {e}); cistern goes on without it, and connects when it comes",
                inner.name,
                inner.target
            );
            inner.note(Err(e.to_string()));
        }
    }
    let keeper = tokio::spawn(keep(Arc::downgrade(&inner))).abort_handle();
    Ok(AnyPool::new(MongoPool { inner, _keeper: Arc::new(Keeper(Some(keeper))) }))
}

/// The driver's options from the pool's keys and the topology options
/// (README, "MongoDB": which of those the driver has, and which it has not).
fn client_options(loaded: &Loaded, name: &str) -> Result<(ClientOptions, Option<PathBuf>), String> {
    let c = &loaded.config;
    let t = &loaded.topology;
    let mut o = ClientOptions::default();
    o.app_name = Some("cistern".into());
    o.hosts = loaded
        .servers
        .iter()
        .map(|(host, port)| ServerAddress::Tcp { host: host.clone(), port: Some(*port) })
        .collect();
    match c.kind {
        Kind::Single => o.direct_connection = Some(true),
        Kind::Rs => o.repl_set_name = c.rs_set_name.clone(),
        Kind::Unknown | Kind::Sharded => {}
    }
    o.max_pool_size = Some(c.c_pool_size);
    o.min_pool_size = t.pool_size.map(|n| (n.min(u64::from(c.c_pool_size))) as u32);
    o.max_idle_time = Topology::ms(t.overflow_ttl);
    o.local_threshold = Topology::ms(t.local_threshold_ms);
    o.connect_timeout = Some(Topology::ms(t.connect_timeout_ms).unwrap_or(CONNECT_TIMEOUT));
    o.server_selection_timeout = Some(Topology::ms(t.server_selection_timeout_ms).unwrap_or(SERVER_SELECTION_TIMEOUT));
    o.heartbeat_freq = Topology::ms(t.heartbeat_frequency_ms);
    o.write_concern = Some(match c.w_mode {
        WMode::Safe => {
            let mut w = WriteConcern::default();
            w.w = Some(Acknowledgment::Nodes(1));
            w.journal = Some(true);
            w
        }
        WMode::Unsafe => {
            let mut w = WriteConcern::default();
            w.w = Some(Acknowledgment::Nodes(1));
            w.journal = Some(false);
            w
        }
    });
    o.selection_criteria = Some(SelectionCriteria::ReadPreference(match c.r_mode {
        RMode::Master => ReadPreference::Primary,
        RMode::SlaveOk => ReadPreference::SecondaryPreferred { options: None },
    }));
    if let Some(login) = &c.login {
        let mut cred = Credential::default();
        cred.username = Some(login.clone());
        cred.password = c.password.as_ref().map(|p| p.expose().to_string());
        cred.source = Some(c.auth_source.clone().unwrap_or_else(|| c.database.clone()));
        o.credential = Some(cred);
    }
    let mut joined_pem = None;
    if let Some(files) = &loaded.tls {
        let mut tls = TlsOptions::default();
        tls.ca_file_path = files.cacertfile.clone();
        tls.cert_key_file_path = match (&files.certfile, &files.keyfile) {
            (Some(cert), Some(key)) if cert != key => {
                // The driver reads one PEM file holding both.
                let joined = join_pem(cert, key, name)?;
                joined_pem = Some(joined.clone());
                Some(joined)
            }
            (Some(cert), _) => Some(cert.clone()),
            (None, _) => None,
        };
        o.tls = Some(Tls::Enabled(tls));
    }
    Ok((o, joined_pem))
}

/// The certificate and the key in one private file (mode 0600).
fn join_pem(cert: &std::path::Path, key: &std::path::Path, name: &str) -> Result<PathBuf, String> {
    use std::io::Write;
    let read = |p: &std::path::Path| std::fs::read(p).map_err(|e| format!("pool {name}: {}: {e}", p.display()));
    let mut joined = read(cert)?;
    joined.push(b'\n');
    joined.extend(read(key)?);
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = std::env::temp_dir().join(format!("cistern-{}-{name}-{n}.pem", std::process::id()));
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f = options.open(&path).map_err(|e| format!("pool {name}: {}: {e}", path.display()))?;
    f.write_all(&joined).map_err(|e| format!("pool {name}: {}: {e}", path.display()))?;
    Ok(path)
}

#[async_trait::async_trait]
impl Pool for MongoPool {
    async fn ping(&self) -> Result<(), String> {
        super::operations::ping(self).await.map_err(|e| e.to_string())
    }
}

impl Inner {
    /// The pool's database; none in a pool built for a configuration check.
    pub(super) fn db(&self) -> Result<&Database, super::operations::MongoError> {
        self.db.as_ref().ok_or_else(|| {
            super::operations::MongoError::Unavailable(format!(
                "pool {} was built for a configuration check",
                self.name
            ))
        })
    }

    /// Why the pool is away, if it is.
    pub(super) fn down(&self) -> Option<String> {
        self.reachability.why_down()
    }

    /// Notes what a ping or an operation found, and says when the pool goes
    /// or comes back. True when it is up.
    pub(super) fn note(&self, result: Result<(), String>) -> bool {
        self.reachability.note(&self.name, &self.target, result)
    }
}

/// The keeper: pings every second while the pool is up, and sooner at
/// first while it is away. Ends when the pool is dropped.
async fn keep(pool: Weak<Inner>) {
    let mut delay = Duration::from_millis(100);
    loop {
        let wait = {
            let Some(inner) = pool.upgrade() else { return };
            let result = super::operations::ping_inner(&inner).await.map_err(|e| e.to_string());
            if inner.note(result) {
                delay = Duration::from_millis(100);
                CHECK_EVERY
            } else {
                delay = (delay * 2).min(MAX_RETRY_DELAY);
                delay
            }
        };
        tokio::time::sleep(wait).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    fn options(lines: &str) -> ClientOptions {
        let dir = std::env::temp_dir();
        let config = Config::from_text("t.conf", lines, &dir).expect("config");
        let backend = &config.backends[0];
        let entry = backend.pools.values().next().expect("a pool");
        let loaded = MongoConfig::load(entry, backend, &dir).expect("keys");
        client_options(&loaded, "mongo.pool1").expect("options").0
    }

    /// The seed's keys and topology options land on the driver's options.
    #[test]
    fn keys_map_onto_the_driver() {
        let o = options(
            "backend.mongo.pool1.type = rs\nbackend.mongo.pool1.rs_set_name = testrs\n\
             backend.mongo.pool1.server = a:1,b\nbackend.mongo.pool1.c_pool_size = 4\n\
             backend.mongo.pool1.login = u\nbackend.mongo.pool1.password = p\n\
             backend.mongo.pool1.r_mode = slave_ok\nbackend.mongo.pool1.w_mode = safe\n\
             backend.mongo.topology.pool_size = 9\nbackend.mongo.topology.overflow_ttl = 1500\n\
             backend.mongo.topology.connect_timeout_ms = 700\nbackend.mongo.topology.heartbeat_frequency_ms = 800\n",
        );
        assert_eq!(o.repl_set_name.as_deref(), Some("testrs"));
        assert_eq!(o.direct_connection, None);
        assert_eq!(o.hosts.iter().map(|h| h.to_string()).collect::<Vec<_>>(), ["a:1", "b:27017"]);
        assert_eq!((o.max_pool_size, o.min_pool_size), (Some(4), Some(4)), "pool_size is capped by c_pool_size");
        assert_eq!(o.max_idle_time, Some(Duration::from_millis(1500)));
        assert_eq!(o.connect_timeout, Some(Duration::from_millis(700)));
        assert_eq!(o.heartbeat_freq, Some(Duration::from_millis(800)));
        assert_eq!(o.server_selection_timeout, Some(SERVER_SELECTION_TIMEOUT));
        let w = o.write_concern.unwrap();
        assert_eq!((w.w, w.journal), (Some(Acknowledgment::Nodes(1)), Some(true)));
        assert!(matches!(
            o.selection_criteria,
            Some(SelectionCriteria::ReadPreference(ReadPreference::SecondaryPreferred { .. }))
        ));
        let cred = o.credential.unwrap();
        assert_eq!((cred.username.as_deref(), cred.source.as_deref()), (Some("u"), Some("mqtt")));
    }

    /// A pool's configuration, printed, hides its password.
    #[test]
    fn the_password_is_never_printed() {
        let dir = std::env::temp_dir();
        let text =
            "backend.mongo.pool1.server = h\nbackend.mongo.pool1.login = u\nbackend.mongo.pool1.password = hunter2\n";
        let config = Config::from_text("t.conf", text, &dir).expect("config");
        let backend = &config.backends[0];
        let loaded = MongoConfig::load(&backend.pools["pool1"], backend, &dir).expect("keys");
        let printed = format!("{loaded:?}");
        assert!(printed.contains("login: Some(\"u\")") && !printed.contains("hunter2"), "{printed}");
    }

    /// `single` connects directly to its one server; `unsafe` is unjournaled.
    #[test]
    fn single_and_unsafe() {
        let o = options("backend.mongo.pool1.server = h:2\nbackend.mongo.pool1.w_mode = unsafe\n");
        assert_eq!(o.direct_connection, Some(true));
        let w = o.write_concern.unwrap();
        assert_eq!((w.w, w.journal), (Some(Acknowledgment::Nodes(1)), Some(false)));
        assert!(matches!(o.selection_criteria, Some(SelectionCriteria::ReadPreference(ReadPreference::Primary))));
        assert!(o.credential.is_none());
    }
}
