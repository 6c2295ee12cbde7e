//! The outbox: where a write goes when its database is unavailable, so that
//! what the broker acknowledges is kept. An entry (the action's name and the
//! event) is on disk, fsynced, before the call that deferred it returns; a
//! drainer per pool replays the entries in order once the database answers
//! again (see [`crate::delivery`]), and removes them.
//!
//! The store is redb: an embedded, crash-safe key-value store in pure Rust
//! (copy-on-write B-trees, a commit is durable when it returns), so that a
//! `kill -9` loses nothing that was acknowledged.

mod lane;
mod store;

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use dashmap::DashMap;
use serde::{Deserialize, Serialize};

pub use lane::{Lane, Pending};

use crate::model::{now_ms, Event};

#[derive(Debug, Clone, thiserror::Error)]
pub enum OutboxError {
    #[error("the outbox is full ({used} of {max} bytes used)")]
    Full { used: u64, max: u64 },
    #[error("the outbox cannot write: {0}")]
    Disk(String),
}

/// One deferred write.
#[derive(Debug, Serialize, Deserialize)]
pub struct Entry {
    /// The pool's lane, `backend.pool`.
    pub lane: String,
    /// The action's configuration key, e.g. `backend.pgsql.hook.message.publish.1`.
    pub action: String,
    pub event: Event,
    pub at_ms: u64,
}

pub struct Outbox {
    store: store::Store,
    lanes: DashMap<Arc<str>, Arc<Lane>>,
    max_bytes: u64,
    used: AtomicU64,
    next_seq: AtomicU64,
}

impl Outbox {
    /// Opens the outbox in `dir`, with what a previous run left in it put
    /// back in its lanes (in order), ready to be replayed.
    pub fn open(dir: &Path, max_bytes: u64) -> Result<Outbox, OutboxError> {
        let store = store::Store::open(dir)?;
        let outbox =
            Outbox { store, lanes: DashMap::new(), max_bytes, used: AtomicU64::new(0), next_seq: AtomicU64::new(1) };
        let mut recovered = 0;
        for (seq, bytes) in outbox.store.all()? {
            let size = bytes.len() as u64;
            let entry: Entry = match postcard::from_bytes(&bytes) {
                Ok(e) => e,
                Err(e) => {
                    tracing::error!(seq, "an outbox entry cannot be read, left in place: {e}");
                    continue;
                }
            };
            outbox.next_seq.fetch_max(seq + 1, Ordering::Relaxed);
            outbox.used.fetch_add(size, Ordering::Relaxed);
            let lane = outbox.lane(&entry.lane);
            lane.push(Pending { seq, bytes: size, at_ms: entry.at_ms, action: Arc::from(entry.action.as_str()) });
            recovered += 1;
        }
        if recovered > 0 {
            tracing::info!(entries = recovered, dir = %dir.display(), "outbox holds writes from an earlier run; replaying them");
        }
        Ok(outbox)
    }

    /// The lane of a pool (`backend.pool`), made on first use.
    pub fn lane(&self, name: &str) -> Arc<Lane> {
        if let Some(lane) = self.lanes.get(name) {
            return lane.clone();
        }
        let name: Arc<str> = Arc::from(name);
        self.lanes.entry(name.clone()).or_insert_with(|| Arc::new(Lane::new(name))).clone()
    }

    pub fn lanes(&self) -> Vec<Arc<Lane>> {
        self.lanes.iter().map(|l| l.value().clone()).collect()
    }

    /// Writes the event for `action` to the lane durably; returns once it is
    /// on disk. Refused when the outbox is full or cannot write.
    pub async fn push(&self, lane: &Lane, action: &Arc<str>, event: &Event) -> Result<(), OutboxError> {
        let at_ms = now_ms();
        let entry = Entry { lane: lane.name.to_string(), action: action.to_string(), event: event.clone(), at_ms };
        let bytes = postcard::to_allocvec(&entry).map_err(|e| OutboxError::Disk(format!("cannot encode: {e}")))?;
        let size = bytes.len() as u64;
        let used = self.used.fetch_add(size, Ordering::AcqRel);
        if used + size > self.max_bytes {
            self.used.fetch_sub(size, Ordering::AcqRel);
            return Err(OutboxError::Full { used, max: self.max_bytes });
        }
        let seq = self.next_seq.fetch_add(1, Ordering::Relaxed);
        if let Err(e) = self.store.put(seq, bytes).await {
            self.used.fetch_sub(size, Ordering::AcqRel);
            return Err(e);
        }
        lane.push(Pending { seq, bytes: size, at_ms, action: action.clone() });
        Ok(())
    }

    /// The entries of `pending`, read back from disk (those still there).
    pub fn load(&self, pending: &[Pending]) -> Result<Vec<(u64, Entry)>, OutboxError> {
        let seqs: Vec<u64> = pending.iter().map(|p| p.seq).collect();
        let mut out = Vec::with_capacity(seqs.len());
        for (seq, bytes) in self.store.get(&seqs)? {
            match postcard::from_bytes(&bytes) {
                Ok(entry) => out.push((seq, entry)),
                Err(e) => tracing::error!(seq, "an outbox entry cannot be read: {e}"),
            }
        }
        Ok(out)
    }

    /// Entries that are done with (replayed, or given up on): out of the lane and off the disk.
    pub async fn complete(&self, lane: &Lane, seqs: Vec<u64>) -> Result<(), OutboxError> {
        if seqs.is_empty() {
            return Ok(());
        }
        let bytes = lane.take(&seqs);
        self.used.fetch_sub(bytes, Ordering::AcqRel);
        self.store.remove(seqs).await
    }

    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }
}
