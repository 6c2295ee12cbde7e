//! `cistern-componentize IN.wasm OUT.wasm`: wraps a core module that carries
//! wit-bindgen's component-type section into a component, validated.
//!
//! The same job as `wasm-tools component new`, kept as a ten-line tool so the
//! guest build needs nothing beyond crates.io and pins the encoder's version
//! to the one wasmtime's parser reads.

use anyhow::Context;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [input, output] = args.as_slice() else {
        anyhow::bail!("usage: cistern-componentize IN.wasm OUT.wasm");
    };
    let module = std::fs::read(input).with_context(|| format!("reading {input}"))?;
    let component = wit_component::ComponentEncoder::default()
        .module(&module)
        .with_context(|| format!("{input} is not a core module with component type information"))?
        .validate(true)
        .encode()
        .with_context(|| format!("encoding {input} as a component"))?;
    std::fs::write(output, component).with_context(|| format!("writing {output}"))?;
    Ok(())
}
