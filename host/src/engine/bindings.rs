//! The one `bindgen!` for the whole host: the `action` world of `wit/`.

wasmtime::component::bindgen!({
    world: "action",
    path: "../wit",
    imports: { default: async },
    exports: { default: async },
});

pub use self::cistern::hooks::{clock, dynamo, influx, log, mongo, opentsdb, paging, redis, sql, types};
