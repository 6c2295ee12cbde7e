//! Whether a pool's server answers, as its keeper last found, and the two
//! log lines an operator needs: when it is lost, and when it is back (not
//! one per failed check while it stays away).

use std::sync::Mutex;

pub struct Reachability {
    /// Why the server is away, while it is.
    down: Mutex<Option<String>>,
}

impl Reachability {
    pub fn up() -> Reachability {
        Reachability { down: Mutex::new(None) }
    }

    pub fn down(why: impl Into<String>) -> Reachability {
        Reachability { down: Mutex::new(Some(why.into())) }
    }

    /// Why the server is away, if it is.
    pub fn why_down(&self) -> Option<String> {
        self.down.lock().expect("reachability").clone()
    }

    /// Notes what a check of pool `name` on `target` found, logging when
    /// the server goes or comes back. True when it is up.
    pub fn note(&self, name: &str, target: &dyn std::fmt::Display, result: Result<(), String>) -> bool {
        let mut down = self.down.lock().expect("reachability");
        match (result, down.is_some()) {
            (Ok(()), true) => {
                tracing::info!(pool = %name, "pool {name} is connected to {target}");
                *down = None;
                true
            }
            (Ok(()), false) => true,
            (Err(e), was_down) => {
                if !was_down {
                    tracing::warn!(pool = %name, "pool {name} lost {target} ({e}); reconnecting");
                }
                *down = Some(e);
                false
            }
        }
    }

    /// Sets the state without a word (at start, where the caller logs).
    pub fn set(&self, why_down: Option<String>) {
        *self.down.lock().expect("reachability") = why_down;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn goes_and_comes_back() {
        let r = Reachability::up();
        assert!(r.note("p", &"t", Ok(())));
        assert!(!r.note("p", &"t", Err("refused".into())));
        assert_eq!(r.why_down().as_deref(), Some("refused"));
        assert!(r.note("p", &"t", Ok(())));
        assert_eq!(r.why_down(), None);
    }
}
