//! What the `*_publish` benchmarks share: the published events, the paths
//! they run through, the loop that keeps a fixed number of them in flight,
//! interleaved rounds and their medians, and the runtime's counters.
//!
//! Each benchmark measures cistern against a plain program doing the same
//! writes in the same process and run, so that the machine's noise falls on
//! both alike and the ratio is what it reports.

// Each benchmark uses the part of this it needs.
#![allow(dead_code)]

pub mod group;

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cistern::model::{Client, Event, Message};
use cistern::runtime::Runtime;

/// One way of handling a published event (cistern, or a plain program).
pub type Handler = Arc<dyn Fn(Event) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

pub fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// `n` QoS `qos` publishes from 8 clients on 16 topics (`bench/<k>` then
/// `suffix`), JSON payloads numbered from `first`, ids from the runtime.
pub fn publishes(runtime: &Runtime, n: usize, qos: u8, suffix: &str, first: usize) -> Vec<Event> {
    (0..n)
        .map(|i| Event::MessagePublish {
            client: Client {
                clientid: format!("bench-pub-{}", i % 8),
                username: None,
                peerhost: Some("127.0.0.1".into()),
                node: "cistern@127.0.0.1".into(),
                clean_start: true,
                persistent: false,
            },
            message: Message {
                id: runtime.ids.next(),
                topic: format!("bench/{}{suffix}", i % 16),
                payload: bytes::Bytes::from(format!("{{\"seq\": {}, \"temperature\": 21.5}}", first + i)),
                qos,
                retain: false,
                sender: format!("bench-pub-{}", i % 8),
                timestamp_ms: 1_700_000_000_000 + i as u64,
            },
        })
        .collect()
}

/// The publish's message; a benchmark only sends publishes.
pub fn message(e: Event) -> (Client, Message) {
    match e {
        Event::MessagePublish { client, message } => (client, message),
        other => panic!("a benchmark sent {other:?}"),
    }
}

/// A handler from an async function of the published message.
pub fn handler<F, Fut>(f: F) -> Handler
where
    F: Fn(Client, Message) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let f = Arc::new(f);
    Arc::new(move |e| {
        let (client, m) = message(e);
        Box::pin(f(client, m))
    })
}

/// The whole of cistern: the event through the runtime and its guests.
pub fn through_cistern(runtime: Arc<Runtime>) -> Handler {
    Arc::new(move |e| {
        let runtime = runtime.clone();
        Box::pin(async move {
            runtime.handle(e).await;
        })
    })
}

/// Runs `events` with `in_flight` workers taking the next event each;
/// returns events per second.
pub async fn run(events: Vec<Event>, in_flight: usize, handle: &Handler) -> f64 {
    let n = events.len();
    let events: Arc<Vec<Mutex<Option<Event>>>> = Arc::new(events.into_iter().map(|e| Mutex::new(Some(e))).collect());
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..in_flight)
        .map(|_| {
            let (events, next, handle) = (events.clone(), next.clone(), handle.clone());
            tokio::spawn(async move {
                while let Some(slot) = events.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let e = slot.lock().unwrap().take().expect("each event once");
                    handle(e).await;
                }
            })
        })
        .collect();
    for w in workers {
        w.await.unwrap();
    }
    n as f64 / started.elapsed().as_secs_f64()
}

/// For a profiler: `CISTERN_BENCH_ONLY_PATH=<index>` has [`interleaved`] run
/// that path's rounds alone (the others' rates read 0; warm-ups run all).
fn only_path() -> Option<usize> {
    std::env::var("CISTERN_BENCH_ONLY_PATH").ok().and_then(|v| v.parse().ok())
}

/// How many path rounds [`interleaved`] runs for `paths` paths of `rounds` rounds.
pub fn path_rounds(paths: usize, rounds: usize) -> usize {
    if only_path().is_some() {
        rounds
    } else {
        paths * rounds
    }
}

/// A warm-up, then `rounds` rounds in which each path in turn handles the
/// events `events(path, round)` makes; the rates per path, in round order.
pub async fn interleaved(
    paths: &[(&str, Handler)],
    rounds: usize,
    in_flight: usize,
    mut events: impl FnMut(usize, usize) -> Vec<Event>,
    warm_up: Vec<Vec<Event>>,
) -> Vec<Vec<f64>> {
    for ((_, handle), events) in paths.iter().zip(warm_up) {
        run(events, in_flight, handle).await;
    }
    let mut rates = vec![Vec::new(); paths.len()];
    CPU_PER_EVENT.lock().unwrap().clear();
    let only = only_path();
    for round in 0..rounds {
        // Each round starts with the next path, so none always runs last,
        // after the others have grown the database's tables and caches.
        for k in 0..paths.len() {
            let i = (round + k) % paths.len();
            if only.is_some_and(|o| o != i) {
                rates[i].push(0.0);
                continue;
            }
            let cpu = process_cpu();
            let events = events(i, round);
            let n = events.len() as f64;
            let rate = run(events, in_flight, &paths[i].1).await;
            rates[i].push(rate);
            let mut per_event = CPU_PER_EVENT.lock().unwrap();
            per_event.resize(paths.len(), Vec::new());
            per_event[i].push((process_cpu() - cpu).as_secs_f64() * 1e6 / n);
        }
        // A breath between rounds, so one round's stragglers (a flush, a
        // compaction) fall less on the next path's.
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    rates
}

/// This process's CPU time per event in each path's rounds (µs), as
/// [`interleaved`] measured it: where a path is slower for want of CPU
/// (the machine's two cores are shared with the database), this says how
/// much more of it the path spends on each event.
static CPU_PER_EVENT: Mutex<Vec<Vec<f64>>> = Mutex::new(Vec::new());

/// CPU time this process has used, user and system, from `/proc/self/stat`
/// (in clock ticks of 10 ms: a round of half a second is measured to 2%).
fn process_cpu() -> Duration {
    cistern_tests::broker::process_cpu_time("self").unwrap_or_default()
}

/// The median CPU time per event of each path of the last [`interleaved`] run (µs).
pub fn cpu_per_event() -> Vec<f64> {
    CPU_PER_EVENT.lock().unwrap().iter().map(|c| if c.is_empty() { 0.0 } else { median(c) }).collect()
}

pub fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// The sum of a counter over all its labels on the runtime's `/metrics`.
pub fn metric(runtime: &Runtime, name: &str) -> u64 {
    runtime
        .metrics
        .render()
        .lines()
        .filter(|l| l.starts_with(name))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

/// Fails the benchmark if cistern failed or deferred a write: a rate of
/// writes that did not happen would be no rate at all.
pub fn assert_all_stored(runtime: &Runtime) {
    assert_eq!(metric(runtime, "cistern_action_failures_total"), 0, "cistern failed to store some messages");
    assert_eq!(metric(runtime, "cistern_action_deferred_total"), 0, "cistern deferred some messages to its outbox");
}

/// A runtime on the configuration `text`, its outbox in `dir`.
pub async fn runtime(text: &str, dir: &std::path::Path) -> Arc<Runtime> {
    let text = format!("cistern.outbox.dir = {}\n{text}", dir.join("outbox").display());
    let config = cistern::config::Config::from_text("bench.conf", &text, dir).expect("config");
    Runtime::with_config(config, None).await.expect("runtime")
}

/// What a three-path benchmark prints: `head`, then cistern against the
/// plain program and cistern's pool with no guest against it, medians and
/// ratios, then each path's rounds. `paths` are plain, pool alone, cistern.
pub fn report(head: &str, paths: &[(&str, Handler); 3], rates: &[Vec<f64>]) {
    let (plain, host, cistern) = (median(&rates[0]), median(&rates[1]), median(&rates[2]));
    println!(
        "{head}, median msg/s: through cistern {cistern:.0}, {} {plain:.0}, ratio cistern/plain {:.2} \
         (cistern's pool with no guest: {host:.0}, ratio {:.2})",
        paths[0].0,
        cistern / plain,
        host / plain
    );
    print_rounds(paths, rates);
}

/// The per-path lines: the median and each round's rate.
pub fn print_rounds(paths: &[(&str, Handler)], rates: &[Vec<f64>]) {
    let cpu = CPU_PER_EVENT.lock().unwrap().clone();
    for (i, ((name, _), r)) in paths.iter().zip(rates).enumerate() {
        let cpu = cpu
            .get(i)
            .filter(|c| !c.is_empty())
            .map_or(String::new(), |c| format!(", this process's CPU {:.1} us/event (median)", median(c)));
        println!(
            "  {name}: median {:.0}/s, rounds {:?}{cpu}",
            median(r),
            r.iter().map(|x| x.round()).collect::<Vec<_>>()
        );
    }
}
