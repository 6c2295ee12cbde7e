//! WASI 0.2 for custom guests, and nothing more: no arguments, no
//! environment, no preopened directory, no network; stdout and stderr go to
//! the log (see `stdio`); clocks and randomness are the host's. Which WASI
//! interfaces a guest may import at all is `imports`' business.

use wasmtime::component::{Linker, ResourceTable};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::state::HostState;
use super::stdio::Output;

/// The WASI state of one custom guest's instance.
pub(crate) struct Wasi {
    ctx: WasiCtx,
    table: ResourceTable,
    pub(crate) output: Output,
}

impl Wasi {
    pub(crate) fn new(label: &str) -> Wasi {
        let output = Output::new(label);
        let ctx = WasiCtx::builder()
            .stdout(output.stdout())
            .stderr(output.stderr())
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        Wasi { ctx, table: ResourceTable::new(), output }
    }
}

impl WasiView for HostState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        // A stock guest's store has no WASI state, and its linker no WASI
        // either, so this is reached for custom guests only; an empty,
        // unlabelled context keeps it total all the same.
        let wasi = self.wasi.get_or_insert_with(|| Wasi::new("(stock guest)"));
        WasiCtxView { ctx: &mut wasi.ctx, table: &mut wasi.table }
    }
}

/// Adds WASI 0.2 to a linker for custom guests.
pub(crate) fn add_to_linker(linker: &mut Linker<HostState>) -> wasmtime::Result<()> {
    wasmtime_wasi::p2::add_to_linker_async(linker)
}
