//! `message.publish` persistence throughput into PostgreSQL and into MySQL
//! through cistern (`on_message_publish` in the wasm guest, through the host's
//! `sql` interface), against a plain sqlx program issuing the same inserts
//! over a pool of the same size, at the same concurrency, in one run.
//!
//! Cistern's stock guest writes the publishes that arrive while its earlier
//! calls are busy in one transaction (`handle-batch`); so the plain program
//! runs twice: one insert and commit per message, and with that same
//! batching (group commit, at most 4 transactions at once, each taking every
//! insert waiting for it, written as multi-row inserts of 64, 32 ... rows as
//! the guest writes them). The second is the fair baseline.
//!
//! Needs the database servers: `scripts/services.sh up mariadb postgres` and
//! `eval "$(scripts/services.sh env mariadb postgres)"`, then
//! `cargo bench -p cistern --bench sql_publish`.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use cistern::backends::{SqlPool, SqlValue};
use cistern::config::Config;
use cistern::model::{Client, Event, Message};
use cistern::runtime::Runtime;
use cistern_tests::databases::TestDb;
use common::group::GroupCommit;

const POOL_SIZE: u32 = 8;
const TASKS: usize = 32;
const PER_TASK: usize = 250;
const ROUNDS: usize = 3;

fn event(runtime: &Runtime, task: usize) -> (Client, Message) {
    let client = Client {
        clientid: format!("bench-{task}"),
        username: None,
        peerhost: Some("127.0.0.1".into()),
        node: "cistern@127.0.0.1".into(),
        clean_start: true,
        persistent: false,
    };
    let message = Message {
        id: runtime.ids.next(),
        topic: format!("bench/{task}/data"),
        payload: bytes::Bytes::from_static(b"{\"temperature\": 21.5, \"humidity\": 40.3}"),
        qos: 1,
        retain: false,
        sender: client.clientid.clone(),
        timestamp_ms: 1_700_000_000_000,
    };
    (client, message)
}

/// The plain program's insert: the statement the guest's `on_message_publish`
/// makes on `sql/*.sql`'s table for a live write (a replay from the outbox
/// inserts if absent instead).
fn insert(dialect_pg: bool) -> &'static str {
    if dialect_pg {
        "INSERT INTO mqtt_msg(msgid, topic, sender, node, qos, retain, payload, arrived) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
    } else {
        "INSERT INTO mqtt_msg(msgid, topic, sender, node, qos, retain, payload, arrived) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
    }
}

/// The same insert of `n` rows in one statement.
fn insert_rows(dialect_pg: bool, n: usize) -> String {
    let row = |r: usize| {
        let p: Vec<String> = (1..=8).map(|i| if dialect_pg { format!("${}", r * 8 + i) } else { "?".into() }).collect();
        format!("({})", p.join(", "))
    };
    let rows: Vec<String> = (0..n).map(row).collect();
    format!(
        "INSERT INTO mqtt_msg(msgid, topic, sender, node, qos, retain, payload, arrived) VALUES {}",
        rows.join(", ")
    )
}

async fn through_cistern(runtime: &Arc<Runtime>) -> Duration {
    let started = Instant::now();
    let tasks: Vec<_> = (0..TASKS)
        .map(|t| {
            let runtime = runtime.clone();
            tokio::spawn(async move {
                for _ in 0..PER_TASK {
                    let (client, message) = event(&runtime, t);
                    runtime.handle(Event::MessagePublish { client, message }).await;
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    started.elapsed()
}

/// The row of the plain program's insert.
fn params(client: Client, m: Message) -> Vec<SqlValue> {
    vec![
        SqlValue::Text(m.id),
        SqlValue::Text(m.topic),
        SqlValue::Text(m.sender),
        SqlValue::Text(client.node),
        SqlValue::Int(m.qos.into()),
        SqlValue::Int(m.retain.into()),
        SqlValue::Bytes(m.payload.to_vec()),
        SqlValue::Timestamp(m.timestamp_ms as i64),
    ]
}

async fn plain(
    runtime: &Arc<Runtime>,
    pool: &SqlPool,
    pg: bool,
    group: Option<&Arc<GroupCommit<Vec<SqlValue>>>>,
) -> Duration {
    let started = Instant::now();
    let tasks: Vec<_> = (0..TASKS)
        .map(|t| {
            let (runtime, pool, group) = (runtime.clone(), pool.clone(), group.cloned());
            tokio::spawn(async move {
                for _ in 0..PER_TASK {
                    let (client, m) = event(&runtime, t);
                    let row = params(client, m);
                    match &group {
                        // Group commit, the way cistern batches: one transaction for what waited.
                        Some(group) => group.add(row, |rows| plain_transaction(&pool, pg, rows)).await,
                        None => plain_insert(&pool, insert(pg), row).await,
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    started.elapsed()
}

macro_rules! bind_all {
    ($q:expr, $params:expr) => {{
        let mut q = $q;
        for p in $params {
            q = match p {
                SqlValue::Text(s) => q.bind(s),
                SqlValue::Int(i) => q.bind(i),
                SqlValue::Bytes(b) => q.bind(b),
                SqlValue::Timestamp(ms) => q.bind(SqlValue::naive_utc(ms)),
                other => panic!("not used here: {other:?}"),
            };
        }
        q
    }};
}

/// Rows inserted in one plain sqlx transaction, as multi-row inserts of
/// 64, 32 ... 1 rows, the largest first; run again when it loses to a
/// concurrent one, as [`plain_insert`] does.
async fn plain_transaction(pool: &SqlPool, pg: bool, rows: Vec<Vec<SqlValue>>) {
    let mut statements = Vec::new();
    let mut left = &rows[..];
    while !left.is_empty() {
        let n = 1 << left.len().min(64).ilog2();
        let params: Vec<SqlValue> = left[..n].iter().flatten().cloned().collect();
        statements.push((if n == 1 { insert(pg).to_string() } else { insert_rows(pg, n) }, params));
        left = &left[n..];
    }
    macro_rules! transaction {
        ($p:expr) => {{
            let mut t = $p.begin().await?;
            for (sql, params) in statements.clone() {
                bind_all!(sqlx::query(&sql), params).execute(&mut *t).await?;
            }
            t.commit().await
        }};
    }
    retried("transaction", || async {
        match pool {
            SqlPool::Postgres(p) => transaction!(p),
            SqlPool::Mysql(p) => transaction!(p),
            SqlPool::Sqlite(_) => unreachable!("servers only"),
        }
    })
    .await
}

/// A plain sqlx insert on the pool, no cistern code in between; run again
/// when it loses to a concurrent one (MariaDB's deadlock on this statement,
/// error 1467 or 1213), as any program writing this way must.
async fn plain_insert(pool: &SqlPool, sql: &str, params: Vec<SqlValue>) {
    retried("insert", || async {
        match pool {
            SqlPool::Postgres(p) => bind_all!(sqlx::query(sql), params.clone()).execute(p).await.map(drop),
            SqlPool::Mysql(p) => bind_all!(sqlx::query(sql), params.clone()).execute(p).await.map(drop),
            SqlPool::Sqlite(_) => unreachable!("servers only"),
        }
    })
    .await
}

/// Runs `attempt` until it does not lose to a concurrent write (at most 5
/// times, backing off); any other error ends the benchmark.
async fn retried<F, Fut>(what: &str, mut attempt: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<(), sqlx::Error>>,
{
    for n in 1.. {
        match attempt().await {
            Ok(()) => return,
            Err(sqlx::Error::Database(e)) if n < 6 && conflict(&*e) => {
                tokio::time::sleep(Duration::from_millis(2 << n)).await
            }
            Err(e) => panic!("{what}: {e}"),
        }
    }
}

fn conflict(e: &dyn sqlx::error::DatabaseError) -> bool {
    matches!(e.code().as_deref(), Some("40001" | "40P01"))
        || e.try_downcast_ref::<sqlx::mysql::MySqlDatabaseError>()
            .is_some_and(|m| [1205, 1213, 1467].contains(&m.number()))
}

async fn measure(backend: &str, db: TestDb) {
    let text = format!(
        "{}backend.{backend}.hook.message.publish.1 = {{\"topic\": \"#\", \"action\": {{\"function\": \"on_message_publish\"}}, \"pool\": \"pool1\"}}\n",
        db.pool_config_sized(backend, "pool1", POOL_SIZE)
    );
    let dir = tempfile::tempdir().unwrap();
    let config = Config::from_text("bench.conf", &text, dir.path()).expect("config");
    let runtime = Runtime::with_config(config, None).await.expect("runtime");
    let pool: SqlPool = runtime.loaded().pool_as(backend, "pool1").expect("the pool");
    let pg = backend == "pgsql";
    let group = Arc::new(GroupCommit::default());
    // Warm up: connections, prepared statements, guest instances.
    through_cistern(&runtime).await;
    plain(&runtime, &pool, pg, None).await;
    plain(&runtime, &pool, pg, Some(&group)).await;

    let (mut c, mut p, mut g) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        c.push(through_cistern(&runtime).await);
        p.push(plain(&runtime, &pool, pg, None).await);
        g.push(plain(&runtime, &pool, pg, Some(&group)).await);
    }
    let n = (TASKS * PER_TASK) as f64;
    let rate = |mut v: Vec<Duration>| {
        v.sort();
        n / v[v.len() / 2].as_secs_f64()
    };
    let (cistern_rate, plain_rate, group_rate) = (rate(c), rate(p), rate(g));
    common::assert_all_stored(&runtime);
    let stored = pool.query("SELECT COUNT(*) FROM mqtt_msg", Vec::new()).await.expect("a count");
    let expected = 3 * (ROUNDS + 1) * TASKS * PER_TASK;
    assert_eq!(stored[0][0], SqlValue::Int(expected as i64), "every message stored once by each path");
    println!(
        "sql_publish/{backend}: {TASKS} concurrent publishers, pool of {POOL_SIZE}, median of {ROUNDS} rounds of {n} inserts: \
         cistern {cistern_rate:.0} msg/s; plain sqlx with the same batching {group_rate:.0} msg/s, ratio cistern/plain {:.2}; \
         plain sqlx one commit a message {plain_rate:.0} msg/s, ratio {:.2}",
        cistern_rate / group_rate,
        cistern_rate / plain_rate
    );
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build().unwrap();
    rt.block_on(async {
        measure("pgsql", TestDb::postgres()).await;
        measure("mysql", TestDb::mysql()).await;
    });
}
