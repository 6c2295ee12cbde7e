//! What a guest may import, checked before it is linked: a stock guest the
//! `cistern:hooks` interfaces only; a custom guest also the parts of WASI 0.2
//! that reach nothing outside the sandbox. Anything else (HTTP, sockets, a
//! preopened directory's worth of files) is refused at load, naming the import,
//! rather than linked and left to fail on the first event.

use wasmtime::component::Component;

/// Whether a guest comes with the binary or from `cistern.guests.dir`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    Stock,
    Custom,
}

/// WASI interfaces a custom guest may import. The filesystem is there because
/// language runtimes (wasi-libc, the preview1 adapter) import it at start; no
/// directory is preopened, so it opens nothing. Sockets and HTTP are not.
const WASI: &[(&str, &[&str])] = &[
    ("wasi:io", &["error", "poll", "streams"]),
    ("wasi:clocks", &["wall-clock", "monotonic-clock"]),
    ("wasi:random", &["random", "insecure", "insecure-seed"]),
    (
        "wasi:cli",
        &[
            "stdin",
            "stdout",
            "stderr",
            "environment",
            "exit",
            "terminal-input",
            "terminal-output",
            "terminal-stdin",
            "terminal-stdout",
            "terminal-stderr",
        ],
    ),
    ("wasi:filesystem", &["types", "preopens"]),
];

/// Refuses a component that imports something its origin may not have.
pub fn check(name: &str, origin: Origin, engine: &wasmtime::Engine, component: &Component) -> Result<(), String> {
    for (import, _) in component.component_type().imports(engine) {
        if !allowed(origin, import) {
            return Err(match origin {
                Origin::Stock => {
                    format!("stock guest {name} imports `{import}`; a stock guest may import cistern:hooks only")
                }
                Origin::Custom => format!(
                    "guest {name} imports `{import}`, which cistern does not provide: a custom guest may import \
                     cistern:hooks and WASI's clocks, random, stdio (to the log) and an empty filesystem; \
                     no sockets, no HTTP"
                ),
            });
        }
    }
    Ok(())
}

fn allowed(origin: Origin, import: &str) -> bool {
    let unversioned = import.split('@').next().unwrap_or(import);
    let Some((package, interface)) = unversioned.split_once('/') else { return false };
    if package == "cistern:hooks" {
        return true;
    }
    origin == Origin::Custom && WASI.iter().any(|(p, interfaces)| *p == package && interfaces.contains(&interface))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stock_guests_get_the_contract_only() {
        assert!(allowed(Origin::Stock, "cistern:hooks/sql@0.2.0"));
        assert!(!allowed(Origin::Stock, "wasi:cli/stdout@0.2.0"));
    }

    #[test]
    fn custom_guests_get_sandboxed_wasi_only() {
        for ok in ["wasi:cli/stdout@0.2.3", "wasi:clocks/wall-clock@0.2.0", "wasi:filesystem/preopens@0.2.6"] {
            assert!(allowed(Origin::Custom, ok), "{ok}");
        }
        for refused in [
            "wasi:sockets/tcp@0.2.0",
            "wasi:http/outgoing-handler@0.2.0",
            "wasi:sockets/ip-name-lookup@0.2.3",
            "acme:evil/thing",
            "wasi:cli",
        ] {
            assert!(!allowed(Origin::Custom, refused), "{refused}");
        }
    }
}
