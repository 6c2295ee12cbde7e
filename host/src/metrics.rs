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

/// Counters of one action, kept across reloads by the action's key.
#[derive(Default)]
pub struct ActionCounters {
    pub calls: AtomicU64,
    pub failures: AtomicU64,
    pub traps: AtomicU64,
    pub timeouts: AtomicU64,
    /// Failures because the database could not be reached: for a message,
    /// what could not be stored.
    pub unavailable: AtomicU64,
}

#[derive(Default)]
pub struct Metrics {
    actions: DashMap<Arc<str>, Arc<ActionCounters>>,
    events: [AtomicU64; HookPoint::ALL.len()],
    delivered: AtomicU64,
    subscribed: AtomicU64,
    reloads: AtomicU64,
    reload_failures: AtomicU64,
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
            ActionError::Call(CallError::Timeout(_)) => c.timeouts.fetch_add(1, Ordering::Relaxed),
            _ => 0,
        };
        if error.is_unavailable() {
            c.unavailable.fetch_add(1, Ordering::Relaxed);
        }
        let client = &event.client().clientid;
        match event.message() {
            Some(m) => tracing::warn!(
                action = %action.name, at = %action.at, hook = %event.hook_point(), client, msgid = %m.id, topic = %m.topic,
                %error, "action failed"
            ),
            None => tracing::warn!(
                action = %action.name, at = %action.at, hook = %event.hook_point(), client, topic = event.topic(),
                %error, "action failed"
            ),
        }
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
            actions.iter().map(|(k, c)| (format!("{{action=\"{k}\"}}"), f(c).load(Ordering::Relaxed))).collect()
        };
        put("cistern_action_calls_total", "Calls of each action.", per_action(|c| &c.calls));
        put("cistern_action_failures_total", "Calls that failed, of each action.", per_action(|c| &c.failures));
        put("cistern_action_traps_total", "Calls whose guest trapped.", per_action(|c| &c.traps));
        put("cistern_action_timeouts_total", "Calls that took too long.", per_action(|c| &c.timeouts));
        put(
            "cistern_action_unavailable_total",
            "Calls that failed because the database could not be reached.",
            per_action(|c| &c.unavailable),
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
