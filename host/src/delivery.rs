//! The delivery contract: what the broker acknowledges is kept.
//!
//! A write (a stock function whose kind is `write`, or a raw `sql` or
//! `commands` action) either commits in its database within
//! `cistern.outbox.write_timeout`, or is written durably to the outbox
//! ([`crate::outbox`]) and replayed later; only when neither is possible is
//! it refused ([`Outcome::refused`]), and the broker then does not
//! acknowledge the message. A database that fails or stops answering is
//! marked unavailable at once, and its writes go straight to the outbox until
//! a health check sees it back, so no publisher waits on it. Reads (fetches
//! and lookups) are never deferred: while their database is away they fail
//! at once, counted. A read answers in pages ([`read`]), so that an offline
//! backlog reaches its client as the client takes it.
//!
//! Each pool has a lane in the outbox and one drainer task, which checks the
//! database's health while it is away and replays the lane's entries when
//! it is back: each client's in order, several clients' at once, and the
//! stored messages of an action whose guest takes batches together. While a lane holds entries, new writes for that
//! pool queue behind them, so each client's writes keep their order.

use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Duration;

use crate::actions::{Action, ActionError};
use crate::engine::bindings::types;
use crate::engine::Page;
use crate::model::{Event, Outcome};
use crate::outbox::Lane;
use crate::runtime::{Loaded, Runtime};

/// How one action ended for one event.
pub enum Ran {
    Done(Outcome),
    /// In the outbox, to be replayed.
    Deferred,
    /// Failed, logged and counted; the event's other actions still ran.
    Failed,
    /// Neither stored nor deferred: the message must not be acknowledged.
    Refused(String),
}

/// Entries read from the outbox, with their sequence numbers, in the lane's order.
type Entries = Vec<(u64, crate::outbox::Entry)>;

/// Entries a drainer replays between two removals from disk.
const REPLAY_BATCH: usize = 256;
/// Clients whose entries a drainer replays at once (each client's in order).
const REPLAY_CLIENTS: usize = 16;
/// How long a health check may wait for an answer.
const PING_TIMEOUT: Duration = Duration::from_secs(1);
/// Health checks of an unavailable database back off from the first pause to the last.
const FIRST_PAUSE: Duration = Duration::from_millis(200);
const LAST_PAUSE: Duration = Duration::from_secs(2);

/// Runs one action for one event under the contract.
pub async fn run(
    rt: &Runtime,
    loaded: &Loaded,
    action: &Arc<Action>,
    event: &Event,
    wit_event: &mut Option<Arc<types::Event>>,
) -> Ran {
    let lane = rt.outbox.lane(&action.lane);
    let settings = &loaded.config.cistern;
    if action.writes {
        if lane.defers() {
            return defer(rt, &lane, action, event).await;
        }
        match call(action, event, wit_event, settings.outbox.write_timeout, false).await {
            Ok(outcome) => {
                action.counters.succeeded.fetch_add(1, Ordering::Relaxed);
                Ran::Done(outcome)
            }
            Err(e) if e.is_unavailable() => {
                lane.mark_unavailable(&e.to_string());
                defer(rt, &lane, action, event).await
            }
            Err(e) => {
                rt.metrics.action_failed(action, event, &e);
                Ran::Failed
            }
        }
    } else {
        read(rt, loaded, action, event, wit_event, None).await
    }
}

/// The most messages one page of a read holds: a quarter of what a broker
/// session queues, so that the page being delivered and the next one fit in
/// the session's queue beside live traffic (see `brokers::rmqtt::feed`).
pub fn page_limit(max_mqueue_len: usize) -> u32 {
    (max_mqueue_len / 4).clamp(1, MAX_PAGE) as u32
}

/// The most messages a page holds, however long the session's queue.
const MAX_PAGE: usize = 256;

/// Runs a read for one page of its answer: the first (`after` none) or the
/// one after a cursor the guest gave ([`crate::model::NextPage`]). A read
/// fails at once, counted, while its database is away.
pub async fn read(
    rt: &Runtime,
    loaded: &Loaded,
    action: &Arc<Action>,
    event: &Event,
    wit_event: &mut Option<Arc<types::Event>>,
    after: Option<String>,
) -> Ran {
    let lane = rt.outbox.lane(&action.lane);
    let settings = &loaded.config.cistern;
    if !lane.is_available() {
        rt.metrics.read_skipped(action, event, &lane.name);
        return Ran::Failed;
    }
    let page = Page { limit: page_limit(settings.max_mqueue_len), after };
    let deadline = settings.limits.call_timeout;
    let answer = tokio::time::timeout(deadline, action.read(event, wit_event, page))
        .await
        .unwrap_or(Err(ActionError::Deadline(deadline)));
    match answer {
        Ok(outcome) => {
            action.counters.succeeded.fetch_add(1, Ordering::Relaxed);
            Ran::Done(outcome)
        }
        Err(e) => {
            if e.is_unavailable() {
                lane.mark_unavailable(&e.to_string());
                ensure_drainer(rt, &lane);
            }
            rt.metrics.action_failed(action, event, &e);
            Ran::Failed
        }
    }
}

/// The action's call under one deadline, which covers waiting for a guest
/// instance or a connection too; `replay` when it replays the outbox.
async fn call(
    action: &Action,
    event: &Event,
    wit_event: &mut Option<Arc<types::Event>>,
    deadline: Duration,
    replay: bool,
) -> Result<Outcome, ActionError> {
    tokio::time::timeout(deadline, action.run(event, wit_event, replay))
        .await
        .unwrap_or(Err(ActionError::Deadline(deadline)))
}

async fn defer(rt: &Runtime, lane: &Arc<Lane>, action: &Arc<Action>, event: &Event) -> Ran {
    match rt.outbox.push(lane, &action.name, event).await {
        Ok(()) => {
            action.counters.deferred.fetch_add(1, Ordering::Relaxed);
            ensure_drainer(rt, lane);
            Ran::Deferred
        }
        Err(e) => {
            rt.metrics.refused(action, event, &e);
            Ran::Refused(e.to_string())
        }
    }
}

/// Starts the lane's drainer unless it runs already.
pub(crate) fn ensure_drainer(rt: &Runtime, lane: &Arc<Lane>) {
    if !lane.drainer.swap(true, Ordering::AcqRel) {
        tokio::spawn(drain(rt.weak(), lane.clone()));
    }
}

/// The lane's drainer: while the database is away, checks its health with
/// a backoff; while entries wait and it answers, replays them in order.
/// Ends with the runtime.
async fn drain(runtime: Weak<Runtime>, lane: Arc<Lane>) {
    let mut pause = FIRST_PAUSE;
    loop {
        // Registered before looking, so a wake between the look and the wait is not lost.
        let woken = lane.wake.notified();
        let Some(rt) = runtime.upgrade() else { return };
        if !lane.is_available() {
            if healthy(&rt, &lane).await {
                lane.mark_available();
                pause = FIRST_PAUSE;
            } else {
                drop(rt);
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(LAST_PAUSE);
            }
            continue;
        }
        if !lane.has_pending() {
            drop(rt);
            woken.await;
            continue;
        }
        replay_batch(&rt, &lane).await;
    }
}

/// Whether the lane's pool answers a health check now.
async fn healthy(rt: &Runtime, lane: &Lane) -> bool {
    let Some(pool) = rt.loaded().pool_by_lane(&lane.name) else {
        // The pool is no longer configured: nothing to wait for; its entries are dropped on replay.
        return true;
    };
    matches!(tokio::time::timeout(PING_TIMEOUT, pool.ping()).await, Ok(Ok(())))
}

/// Replays the lane's oldest entries and removes those that are done with.
/// The entries of an action whose guest takes batches (the stock
/// `on_message_publish`: each message stored under its own id, so their
/// order does not matter) go to it together, in the lane's order, in calls of
/// up to 64. Each client's other entries run in order, one after another,
/// and stop at the first that finds the database away again; different
/// clients' entries run side by side (at most [`REPLAY_CLIENTS`] at once), so
/// a drain after an outage is not one round trip per message.
async fn replay_batch(rt: &Runtime, lane: &Arc<Lane>) {
    use futures_util::StreamExt;
    let pending = lane.front(REPLAY_BATCH);
    let entries = match rt.outbox.load(&pending) {
        Ok(e) => e,
        Err(e) => {
            tracing::error!(pool = %lane.name, "cannot read the outbox: {e}");
            tokio::time::sleep(LAST_PAUSE).await;
            return;
        }
    };
    let loaded = rt.loaded();
    let mut done: Vec<u64> =
        pending.iter().map(|p| p.seq).filter(|s| !entries.iter().any(|(seq, _)| seq == s)).collect();
    // The entries of each action that batches, and each client's others, in the lane's order.
    let mut batching: Vec<(Arc<Action>, Entries)> = Vec::new();
    let mut clients: Vec<(String, Entries)> = Vec::new();
    for (seq, entry) in entries {
        if let Some(action) = loaded.action_named(&entry.action).filter(|a| a.batches()) {
            match batching.iter_mut().find(|(a, _)| Arc::ptr_eq(a, &action)) {
                Some((_, list)) => list.push((seq, entry)),
                None => batching.push((action, vec![(seq, entry)])),
            }
            continue;
        }
        let id = entry.event.client().clientid.clone();
        match clients.iter_mut().find(|(c, _)| *c == id) {
            Some((_, list)) => list.push((seq, entry)),
            None => clients.push((id, vec![(seq, entry)])),
        }
    }
    for (action, list) in batching {
        done.extend(replay_together(rt, &loaded, lane, &action, list).await);
    }
    let replayed: Vec<Vec<u64>> = futures_util::stream::iter(clients)
        .map(|(_, list)| replay_client(rt, &loaded, lane, list))
        .buffer_unordered(REPLAY_CLIENTS)
        .collect()
        .await;
    done.extend(replayed.into_iter().flatten());
    if let Err(e) = rt.outbox.complete(lane, done).await {
        tracing::error!(pool = %lane.name, "cannot remove replayed entries from the outbox (they will be replayed again): {e}");
    }
}

/// One action's entries, in calls of up to 64 events, until a call finds
/// the database away; the sequence numbers of those done with.
async fn replay_together(
    rt: &Runtime,
    loaded: &Loaded,
    lane: &Arc<Lane>,
    action: &Arc<Action>,
    entries: Entries,
) -> Vec<u64> {
    let deadline = loaded.config.cistern.outbox.write_timeout;
    let mut done = Vec::with_capacity(entries.len());
    for chunk in entries.chunks(crate::engine::batch::MAX_EVENTS) {
        let events: Vec<&Event> = chunk.iter().map(|(_, e)| &e.event).collect();
        let answers = match tokio::time::timeout(deadline, action.replay_many(&events)).await {
            Ok(answers) => answers,
            Err(_) => {
                lane.mark_unavailable(&ActionError::Deadline(deadline).to_string());
                break;
            }
        };
        let mut away = false;
        for ((seq, entry), answer) in chunk.iter().zip(answers) {
            if settle(rt, lane, action, &entry.event, answer) {
                done.push(*seq);
            } else {
                away = true;
            }
        }
        if away {
            break;
        }
    }
    done
}

/// One client's entries, in order, until one finds the database away; the
/// sequence numbers of those done with.
async fn replay_client(rt: &Runtime, loaded: &Loaded, lane: &Arc<Lane>, entries: Entries) -> Vec<u64> {
    let mut done = Vec::with_capacity(entries.len());
    for (seq, entry) in entries {
        let Some(action) = loaded.action_named(&entry.action) else {
            rt.metrics.dropped(&entry.action, &entry.event, "its action is no longer configured");
            done.push(seq);
            continue;
        };
        let deadline = loaded.config.cistern.outbox.write_timeout;
        let answer = call(&action, &entry.event, &mut None, deadline, true).await;
        if !settle(rt, lane, &action, &entry.event, answer) {
            break;
        }
        done.push(seq);
    }
    done
}

/// Counts how one replayed entry ended; whether it is done with (false: its
/// database is away again, and the entry stays in the outbox).
fn settle(rt: &Runtime, lane: &Lane, action: &Action, event: &Event, answer: Result<Outcome, ActionError>) -> bool {
    match answer {
        Ok(_) => {
            action.counters.succeeded.fetch_add(1, Ordering::Relaxed);
            action.counters.replayed.fetch_add(1, Ordering::Relaxed);
            true
        }
        Err(e) if e.is_unavailable() => {
            lane.mark_unavailable(&e.to_string());
            false
        }
        Err(e) => {
            // Refused by the database: retrying would not help, and it must not hold up the rest.
            rt.metrics.action_failed(action, event, &e);
            true
        }
    }
}
