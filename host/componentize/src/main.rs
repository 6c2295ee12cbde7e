//! `cistern-componentize IN.wasm OUT.wasm [--wasi-reactor]`: wraps a core
//! module that carries wit-bindgen's component-type section into a component,
//! validated. With `--wasi-reactor`, the module's WASI preview1 imports (C
//! built against wasi-libc) are adapted to WASI 0.2 with the reactor adapter
//! of the wasmtime release the host runs.
//!
//! The same job as `wasm-tools component new [--adapt]`, kept as a small tool
//! so the guest build needs nothing beyond crates.io and pins the encoder's
//! version to the one wasmtime's parser reads.

use anyhow::Context;
use wasi_preview1_component_adapter_provider::WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (input, output, adapt) = match args.as_slice() {
        [input, output] => (input, output, false),
        [input, output, flag] if flag == "--wasi-reactor" => (input, output, true),
        _ => anyhow::bail!("usage: cistern-componentize IN.wasm OUT.wasm [--wasi-reactor]"),
    };
    let module = std::fs::read(input).with_context(|| format!("reading {input}"))?;
    let mut encoder = wit_component::ComponentEncoder::default()
        .module(&module)
        .with_context(|| format!("{input} is not a core module with component type information"))?
        .validate(true);
    if adapt {
        encoder = encoder
            .adapter("wasi_snapshot_preview1", WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER)
            .context("loading the WASI preview1 reactor adapter")?;
    }
    let component = encoder.encode().with_context(|| format!("encoding {input} as a component"))?;
    std::fs::write(output, component).with_context(|| format!("writing {output}"))?;
    Ok(())
}
