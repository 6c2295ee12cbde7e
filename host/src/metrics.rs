//! Counters, and the events that both log and count, so metric names and
//! log fields live in one place. Served as Prometheus text on `/metrics`
//! when `cistern.http.listener` is set.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use dashmap::DashMap;

use crate::actions::{Action, ActionError};
use crate::engine::CallError;
use crate::model::{Event, HookPoint};
use crate::outbox::{Outbox, OutboxError};

/// Counters of one action, kept across reloads by the action's key.
///
/// Every event an action matches ends in exactly one of: succeeded (stored at
/// once, or replayed from the outbox later), failed (the database refused
/// it, a read could not be answered, or it could not even be deferred),
/// dropped (its action was gone when the outbox replayed it), or it is still
/// waiting in the outbox: `calls = succeeded + failed + dropped + pending`.
#[derive(Default)]
pub struct ActionCounters {
    /// Events the action matched (with those recovered from the outbox at start).
    pub calls: AtomicU64,
    pub succeeded: AtomicU64,
    /// Writes put in the outbox because their database was unavailable.
    pub deferred: AtomicU64,
    /// Deferred writes replayed into their database (counted in `succeeded` too).
    pub replayed: AtomicU64,
    pub dropped: AtomicU64,
    pub failures: AtomicU64,
    pub traps: AtomicU64,
    pub timeouts: AtomicU64,
    /// Failures because the database could not be reached: for a message,
    /// what could not be stored.
    pub unavailable: AtomicU64,
    /// Host calls the action's guest made naming a pool other than its own, refused.
    pub denied: AtomicU64,
    /// Events its guest took several at a time, in `handle-batch` calls.
    pub batched: AtomicU64,
}

#[derive(Default)]
pub struct Metrics {
    actions: DashMap<Arc<str>, Arc<ActionCounters>>,
    events: [AtomicU64; HookPoint::ALL.len()],
    delivered: AtomicU64,
    subscribed: AtomicU64,
    reloads: AtomicU64,
    reload_failures: AtomicU64,
    publishes_refused: AtomicU64,
    deliveries_refused: AtomicU64,
    queue_dropped: AtomicU64,
}

impl Metrics {
    pub fn action(&self, name: &Arc<str>) -> Arc<ActionCounters> {
        self.actions.entry(name.clone()).or_default().clone()
    }

    pub fn event(&self, point: HookPoint) {
        self.events[point as usize].fetch_add(1, Ordering::Relaxed);
    }

    pub fn delivered(&self, n: usize) {
        self.delivered.fetch_add(n as u64, Ordering::Relaxed);
    }

    pub fn subscribed(&self, n: usize) {
        self.subscribed.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// Messages a guest handed back for a client that had no subscription for them.
    pub fn deliveries_refused(&self, n: usize) {
        self.deliveries_refused.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// A message the broker dropped from a full session queue (`cistern.mqtt.max_mqueue_len`).
    pub fn queue_dropped(&self) {
        self.queue_dropped.fetch_add(1, Ordering::Relaxed);
    }

    /// A publish the broker did not acknowledge, because it could not be kept.
    pub fn publish_refused(&self) {
        self.publishes_refused.fetch_add(1, Ordering::Relaxed);
    }

    pub fn reloaded(&self) {
        self.reloads.fetch_add(1, Ordering::Relaxed);
        tracing::info!("configuration reloaded");
    }

    pub fn reload_failed(&self, error: &dyn std::fmt::Display) {
        self.reload_failures.fetch_add(1, Ordering::Relaxed);
        tracing::error!(%error, "configuration not reloaded; the running one stays");
    }

    /// One action failed for one event: logged with the action's name and
    /// where it is configured, and counted. For a message, what could not be
    /// stored is named (id and topic, never the payload).
    pub fn action_failed(&self, action: &Action, event: &Event, error: &ActionError) {
        let c = &action.counters;
        c.failures.fetch_add(1, Ordering::Relaxed);
        match error {
            ActionError::Call(CallError::Trap(_)) => c.traps.fetch_add(1, Ordering::Relaxed),
            ActionError::Call(CallError::Timeout(_)) | ActionError::Deadline(_) => {
                c.timeouts.fetch_add(1, Ordering::Relaxed)
            }
            _ => 0,
        };
        if error.is_unavailable() {
            c.unavailable.fetch_add(1, Ordering::Relaxed);
        }
        let client = &event.client().clientid;
        match event.message() {
            Some(m) => tracing::warn!(
                action = %action.name, at = %action.at, hook = %event.hook_point(), ?client, msgid = %m.id, topic = ?m.topic,
                %error, "action failed"
            ),
            None => tracing::warn!(
                action = %action.name, at = %action.at, hook = %event.hook_point(), ?client, topic = ?event.topic(),
                %error, "action failed"
            ),
        }
    }

    /// A read was not tried: its database is unavailable, so it fails at
    /// once rather than waiting out a timeout.
    pub fn read_skipped(&self, action: &Action, event: &Event, lane: &str) {
        let c = &action.counters;
        c.failures.fetch_add(1, Ordering::Relaxed);
        c.unavailable.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(action = %action.name, client = ?event.client().clientid, pool = lane, "read skipped: database unavailable");
    }

    /// A write could neither be stored nor deferred: the broker will not
    /// acknowledge the message.
    pub fn refused(&self, action: &Action, event: &Event, error: &OutboxError) {
        action.counters.failures.fetch_add(1, Ordering::Relaxed);
        tracing::error!(
            action = %action.name, client = ?event.client().clientid, msgid = event.message().map(|m| m.id.as_str()),
            topic = ?event.topic(), %error, "write refused: its database is unavailable and the outbox cannot take it"
        );
    }

    /// A deferred write was given up on (its action is gone from the configuration).
    pub fn dropped(&self, action: &str, event: &Event, why: &str) {
        self.action(&Arc::from(action)).dropped.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(
            action, client = ?event.client().clientid, msgid = event.message().map(|m| m.id.as_str()),
            topic = ?event.topic(), "deferred write dropped: {why}"
        );
    }

    /// The counters as Prometheus text.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let mut put = |name: &str, help: &str, rows: Vec<(String, u64)>| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
            for (labels, v) in rows {
                let _ = writeln!(out, "{name}{labels} {v}");
            }
        };
        let mut actions: Vec<_> = self.actions.iter().map(|e| (e.key().clone(), e.value().clone())).collect();
        actions.sort_by(|a, b| a.0.cmp(&b.0));
        let per_action = |f: fn(&ActionCounters) -> &AtomicU64| {
            actions
                .iter()
                .map(|(k, c)| (format!("{{action=\"{}\"}}", label(k)), f(c).load(Ordering::Relaxed)))
                .collect()
        };
        put("cistern_action_calls_total", "Events each action matched.", per_action(|c| &c.calls));
        put("cistern_action_succeeded_total", "Events each action stored or answered.", per_action(|c| &c.succeeded));
        put("cistern_action_deferred_total", "Writes put in the outbox.", per_action(|c| &c.deferred));
        put("cistern_action_replayed_total", "Writes replayed from the outbox.", per_action(|c| &c.replayed));
        put("cistern_action_dropped_total", "Deferred writes given up on.", per_action(|c| &c.dropped));
        put("cistern_action_failures_total", "Calls that failed, of each action.", per_action(|c| &c.failures));
        put("cistern_action_traps_total", "Calls whose guest trapped.", per_action(|c| &c.traps));
        put("cistern_action_timeouts_total", "Calls that took too long.", per_action(|c| &c.timeouts));
        put(
            "cistern_action_unavailable_total",
            "Calls that failed because the database could not be reached.",
            per_action(|c| &c.unavailable),
        );
        put(
            "cistern_action_batched_total",
            "Events each action's guest took several at a call (handle-batch).",
            per_action(|c| &c.batched),
        );
        put(
            "cistern_guest_denied_total",
            "Host calls refused because the guest named a pool its action may not use.",
            per_action(|c| &c.denied),
        );
        put(
            "cistern_events_total",
            "Events received from the broker, by hook point.",
            HookPoint::ALL
                .iter()
                .map(|p| (format!("{{hook=\"{p}\"}}"), self.events[*p as usize].load(Ordering::Relaxed)))
                .collect(),
        );
        put(
            "cistern_delivered_total",
            "Messages delivered to a client from storage.",
            vec![(String::new(), self.delivered.load(Ordering::Relaxed))],
        );
        put(
            "cistern_subscribed_total",
            "Subscriptions added by the broker from storage.",
            vec![(String::new(), self.subscribed.load(Ordering::Relaxed))],
        );
        put(
            "cistern_deliveries_refused_total",
            "Messages an action returned for a client none of whose subscriptions they match; not delivered.",
            vec![(String::new(), self.deliveries_refused.load(Ordering::Relaxed))],
        );
        put(
            "cistern_queue_dropped_total",
            "Messages the broker dropped from a client's full session queue (cistern.mqtt.max_mqueue_len).",
            vec![(String::new(), self.queue_dropped.load(Ordering::Relaxed))],
        );
        put(
            "cistern_publishes_refused_total",
            "Publishes not acknowledged because they could be neither stored nor deferred.",
            vec![(String::new(), self.publishes_refused.load(Ordering::Relaxed))],
        );
        put(
            "cistern_reloads_total",
            "Configuration reloads applied.",
            vec![(String::new(), self.reloads.load(Ordering::Relaxed))],
        );
        put(
            "cistern_reload_failures_total",
            "Configuration reloads refused.",
            vec![(String::new(), self.reload_failures.load(Ordering::Relaxed))],
        );
        out
    }
}

/// The outbox as Prometheus gauges: per lane (pool) its depth in entries and
/// bytes, the age of its oldest entry and whether its database answers; per
/// action the writes waiting.
pub fn render_outbox(outbox: &Outbox) -> String {
    let mut lanes = outbox.lanes();
    lanes.sort_by(|a, b| a.name.cmp(&b.name));
    let now_ms = crate::model::now_ms();
    let mut out = String::new();
    let mut gauge = |name: &str, help: &str, rows: Vec<(String, f64)>| {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} gauge");
        for (labels, v) in rows {
            let _ = writeln!(out, "{name}{labels} {v}");
        }
    };
    let stats: Vec<_> =
        lanes.iter().map(|l| (format!("{{pool=\"{}\"}}", l.name), l.stats(), l.is_available())).collect();
    gauge(
        "cistern_outbox_entries",
        "Writes waiting in the outbox.",
        stats.iter().map(|(l, s, _)| (l.clone(), s.0 as f64)).collect(),
    );
    gauge(
        "cistern_outbox_bytes",
        "Bytes waiting in the outbox.",
        stats.iter().map(|(l, s, _)| (l.clone(), s.1 as f64)).collect(),
    );
    gauge(
        "cistern_outbox_oldest_age_seconds",
        "Age of the oldest write waiting in the outbox.",
        stats
            .iter()
            .map(|(l, s, _)| (l.clone(), s.2.map_or(0.0, |at| now_ms.saturating_sub(at) as f64 / 1000.0)))
            .collect(),
    );
    gauge(
        "cistern_pool_available",
        "1 while the pool's database answers, 0 while its writes go to the outbox.",
        stats.iter().map(|(l, _, up)| (l.clone(), if *up { 1.0 } else { 0.0 })).collect(),
    );
    let mut per_action: Vec<(String, f64)> = lanes
        .iter()
        .flat_map(|l| l.per_action())
        .map(|(a, n)| (format!("{{action=\"{}\"}}", label(&a)), n as f64))
        .collect();
    per_action.sort_by(|a, b| a.0.cmp(&b.0));
    gauge("cistern_action_pending", "Writes of each action waiting in the outbox.", per_action);
    gauge(
        "cistern_outbox_capacity_bytes",
        "The most the outbox may hold (cistern.outbox.max_bytes).",
        vec![(String::new(), outbox.max_bytes() as f64)],
    );
    out
}

/// A label value as Prometheus text writes it: backslash, double quote and
/// line feed escaped, as the format asks (an action's name is a configuration
/// key, which holds none of them today; the escape keeps it so if keys grow).
fn label(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod label_tests {
    /// A quote, backslash or line feed in an action's name cannot end its label or line.
    #[test]
    fn label_values_are_escaped() {
        assert_eq!(super::label("a\"b\\c\nd"), "a\\\"b\\\\c\\nd");
        assert_eq!(super::label("backend.mysql.hook.client.connected.1"), "backend.mysql.hook.client.connected.1");
    }
}
