//! Embeds the stock guest components from `guests/dist/` (built by
//! `scripts/build-guests.sh`) so the binary finds them without configuration.

use std::fmt::Write;
use std::path::PathBuf;

/// Guests in `guests/dist/` that are there for the tests, loaded from disk
/// instead; every other component there is a stock guest.
const TEST_GUESTS: &[&str] = &["misbehave"];

fn main() {
    let dist = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap()).join("../guests/dist");
    let mut code = String::from("/// (name, component) of each stock guest built into this binary.\npub static STOCK_GUESTS: &[(&str, &[u8])] = &[\n");
    println!("cargo:rerun-if-changed={}", dist.display());
    let mut names: Vec<String> = std::fs::read_dir(&dist)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter_map(|f| f.strip_suffix(".wasm").map(str::to_string))
                .filter(|n| !TEST_GUESTS.contains(&n.as_str()))
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    if names.is_empty() {
        println!("cargo:warning=no stock guests in {}; run scripts/build-guests.sh", dist.display());
    }
    for name in names {
        let path = dist.join(format!("{name}.wasm"));
        println!("cargo:rerun-if-changed={}", path.display());
        let _ = writeln!(code, "    ({name:?}, include_bytes!({:?})),", path.canonicalize().unwrap());
    }
    code.push_str("];\n");
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("stock_guests.rs");
    std::fs::write(out, code).unwrap();
}
