//! Message ids made by the host: unique across nodes and restarts, and
//! ordered by time, so "after the acknowledged position" is a plain
//! comparison in every database.
//!
//! An id is 32 hex digits: 16 for a microsecond clock that never goes
//! backwards (a burst within one microsecond takes the next values), then 8
//! for the node's name and 8 drawn at random when the process starts. Two
//! nodes, or two runs of one node, make the same id only if they draw the
//! same microsecond and the same 64-bit suffix. The clock never goes
//! backwards across restarts either: the runtime keeps the last microsecond
//! it gave out in `id_clock` beside the outbox ([`IdClock`]) and starts after
//! it, so a clock stepped back while the broker was down does not make new
//! ids sort before old ones.

use std::hash::{BuildHasher, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

pub struct MessageIds {
    last_micros: AtomicU64,
    /// The node's 32 bits, then the process's.
    suffix: u64,
}

impl MessageIds {
    pub fn new(node_name: &str) -> Self {
        let hash = fnv1a(node_name.as_bytes());
        let node = (hash ^ (hash >> 32)) as u32;
        // RandomState is seeded from the operating system's randomness once per process.
        let process = std::collections::hash_map::RandomState::new().build_hasher().finish() as u32;
        MessageIds { last_micros: AtomicU64::new(0), suffix: (u64::from(node) << 32) | u64::from(process) }
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
        format!("{stamp:016X}{:016X}", self.suffix)
    }

    /// Makes every later id come after microsecond `micros` (the last one
    /// an earlier run gave out).
    pub fn resume_after(&self, micros: u64) {
        self.last_micros.fetch_max(micros, Ordering::Relaxed);
    }

    /// The last microsecond given out.
    pub fn last_micros(&self) -> u64 {
        self.last_micros.load(Ordering::Relaxed)
    }
}

/// Where a runtime keeps the last microsecond its ids used, across restarts.
pub struct IdClock {
    path: PathBuf,
}

impl IdClock {
    pub fn new(dir: &Path) -> IdClock {
        IdClock { path: dir.join("id_clock") }
    }

    /// The last microsecond an earlier run kept; 0 when none did. A file
    /// that does not hold a number is an error naming it.
    pub fn read(&self) -> Result<u64, String> {
        match std::fs::read_to_string(&self.path) {
            Ok(text) => text
                .trim()
                .parse()
                .map_err(|_| format!("{} does not hold a number of microseconds: {text:?}", self.path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(0),
            Err(e) => Err(format!("cannot read {}: {e}", self.path.display())),
        }
    }

    /// Keeps `micros` durably: written beside, synced, then renamed over the
    /// old value, so a crash leaves the old value or the new, never half.
    pub fn keep(&self, micros: u64) -> std::io::Result<()> {
        use std::io::Write;
        let fresh = self.path.with_extension("new");
        let mut file = std::fs::File::create(&fresh)?;
        file.write_all(micros.to_string().as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&fresh, &self.path)
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
        assert!(made.iter().all(|id| id.len() == 32));
    }

    /// Two nodes, and two runs of one node, made in the same microsecond,
    /// still differ: by the node's part, by the process's part.
    #[test]
    fn nodes_and_runs_make_different_ids() {
        let (a, b, again) = (MessageIds::new("a@h"), MessageIds::new("b@h"), MessageIds::new("a@h"));
        // A microsecond ahead of the clock, so that each takes the one after it.
        for ids in [&a, &b, &again] {
            ids.resume_after(4_000_000_000_000_000);
        }
        let (ia, ib, iagain) = (a.next(), b.next(), again.next());
        assert_eq!(ia[..16], ib[..16], "the same microsecond");
        assert_ne!(ia, ib);
        assert_eq!(ia[16..24], iagain[16..24], "one node's part");
        assert_ne!(ia[24..], iagain[24..], "each run's own part");
    }

    /// After a run that gave out ids up to a microsecond ahead of the clock
    /// (the clock stepped back since), the next run's ids still come after
    /// them, through the kept value.
    #[test]
    fn ids_stay_ordered_across_a_restart_with_the_clock_stepped_back() {
        let dir = tempfile::tempdir().unwrap();
        let clock = IdClock::new(dir.path());
        assert_eq!(clock.read().unwrap(), 0, "nothing kept yet");
        let ahead = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_micros() as u64 + 3_600_000_000;
        let before = MessageIds::new("n@h");
        before.resume_after(ahead);
        let last_id = before.next();
        clock.keep(before.last_micros()).unwrap();

        let after = MessageIds::new("n@h");
        after.resume_after(IdClock::new(dir.path()).read().unwrap());
        assert!(after.next() > last_id, "a new run's id sorts after the last one");

        std::fs::write(dir.path().join("id_clock"), "garbage").unwrap();
        let e = IdClock::new(dir.path()).read().unwrap_err();
        assert!(e.contains("id_clock") && e.contains("garbage"), "{e}");
    }
}
