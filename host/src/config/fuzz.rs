//! No configuration text makes the loader panic: the seed's example files,
//! mutated many thousand times over (bytes changed, dropped and doubled,
//! numbers blown up, values emptied), each load either succeeds or returns
//! an error. A panic here would kill a reload's watcher and stop hot reload.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

use super::Config;

/// A small deterministic generator (xorshift64*): the same mutations every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Pieces that tend to reach unusual paths of the parsers.
const PIECES: &[&str] = &[
    "=",
    ".",
    "{",
    "}",
    "\"",
    ":",
    ",",
    "[",
    "]",
    "\n",
    "\\",
    "\0",
    "é",
    "${",
    "$",
    "#",
    "include ",
    "0",
    "-1",
    "99999999999999999999",
    "d",
    "ms",
    "GB",
    "infinity",
    "1e999",
    " ",
    "hook.",
    "pool1.",
    "\"function\"",
];

fn mutate(rng: &mut Rng, text: &str) -> String {
    let mut s: Vec<char> = text.chars().collect();
    for _ in 0..1 + rng.below(4) {
        let at = rng.below(s.len() + 1);
        match rng.below(4) {
            0 if at < s.len() => {
                let end = (at + 1 + rng.below(8)).min(s.len());
                s.drain(at..end);
            }
            1 => {
                let piece = PIECES[rng.below(PIECES.len())];
                s.splice(at..at, piece.chars());
            }
            2 if at < s.len() => {
                // Double a stretch: repeated keys, nested braces.
                let end = (at + rng.below(40)).min(s.len());
                let copy: Vec<char> = s[at..end].to_vec();
                s.splice(at..at, copy);
            }
            _ if at < s.len() => s[at] = PIECES[rng.below(PIECES.len())].chars().next().unwrap_or('x'),
            _ => {}
        }
    }
    s.into_iter().collect()
}

#[test]
fn mutated_configurations_never_panic() {
    let etc = Path::new(env!("CARGO_MANIFEST_DIR")).join("../etc");
    let mut files: Vec<_> = std::fs::read_dir(etc.join("plugins")).unwrap().map(|e| e.unwrap().path()).collect();
    files.push(etc.join("cistern.conf"));
    files.sort();
    let dir = tempfile::tempdir().unwrap();
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let (mut loaded, mut refused) = (0, 0);
    for file in &files {
        // Only the seed's keys: `include` lines and our own file's paths stay out of the temp dir.
        let text = std::fs::read_to_string(file).unwrap();
        for _ in 0..2000 {
            let mutated = mutate(&mut rng, &text);
            match catch_unwind(AssertUnwindSafe(|| Config::from_text("fuzz.conf", &mutated, dir.path()))) {
                Ok(Ok(_)) => loaded += 1,
                Ok(Err(_)) => refused += 1,
                Err(_) => panic!("loading this text panicked ({}):\n{mutated}", file.display()),
            }
        }
    }
    // Both outcomes happen: the mutations are neither all harmless nor all fatal.
    assert!(loaded > 0 && refused > 0, "loaded {loaded}, refused {refused}");
}
