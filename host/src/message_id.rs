//! Message ids made by the host: unique, and ordered by time, so "after the
//! acknowledged position" is a plain comparison in every database.
//!
//! An id is 20 hex digits: 16 for a microsecond clock that never goes
//! backwards in this process (a burst within one microsecond takes the next
//! values), then 4 for the node, so two nodes never make the same id.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

pub struct MessageIds {
    last_micros: AtomicU64,
    node: u16,
}

impl MessageIds {
    pub fn new(node_name: &str) -> Self {
        let hash = fnv1a(node_name.as_bytes());
        MessageIds { last_micros: AtomicU64::new(0), node: (hash ^ (hash >> 16) ^ (hash >> 32) ^ (hash >> 48)) as u16 }
    }

    pub fn next(&self) -> String {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros() as u64);
        let mut last = self.last_micros.load(Ordering::Relaxed);
        let stamp = loop {
            let candidate = now.max(last + 1);
            match self.last_micros.compare_exchange_weak(last, candidate, Ordering::Relaxed, Ordering::Relaxed) {
                Ok(_) => break candidate,
                Err(seen) => last = seen,
            }
        };
        format!("{stamp:016X}{:04X}", self.node)
    }
}

/// FNV-1a: a stable, dependency-free 64-bit hash, for naming, not security.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| (h ^ *b as u64).wrapping_mul(0x100_0000_01b3))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Ids made in a burst are distinct and sort in the order they were made.
    #[test]
    fn ids_are_unique_and_ordered() {
        let ids = MessageIds::new("cistern@127.0.0.1");
        let made: Vec<String> = (0..10_000).map(|_| ids.next()).collect();
        let mut sorted = made.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(made, sorted);
        assert!(made.iter().all(|id| id.len() == 20));
    }
}
