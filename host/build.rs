//! Embeds the stock guest components from `guests/dist/` (built by
//! `scripts/build-guests.sh`) so the binary finds them without configuration.

use std::fmt::Write;
use std::path::PathBuf;

/// The stock guests: test guests in `guests/dist/` are loaded from disk instead.
const STOCK: &[&str] = &["sql", "redis", "tsdb", "mongo"];

fn main() {
    let dist = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap()).join("../guests/dist");
    let mut code = String::from("/// (name, component) of each stock guest built into this binary.\npub static STOCK_GUESTS: &[(&str, &[u8])] = &[\n");
    for name in STOCK {
        let path = dist.join(format!("{name}.wasm"));
        println!("cargo:rerun-if-changed={}", path.display());
        if path.exists() {
            let _ = writeln!(code, "    ({name:?}, include_bytes!({:?})),", path.canonicalize().unwrap());
        } else {
            println!("cargo:warning=stock guest {name} is not built ({}); run scripts/build-guests.sh", path.display());
        }
    }
    code.push_str("];\n");
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("stock_guests.rs");
    std::fs::write(out, code).unwrap();
}
