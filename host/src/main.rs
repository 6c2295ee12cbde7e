//! `cistern`: the standalone broker. It loads the configuration (by default
//! `etc/cistern.conf`), opens the pools, loads the guests, and serves MQTT.

use std::path::PathBuf;
use std::process::ExitCode;

use cistern::runtime::Runtime;

/// The broker allocates and frees a few small and middling blocks for every
/// message (the events, the hook futures rmqtt boxes, the guest's values);
/// glibc's malloc spent 15% of a stored message's CPU on them, consolidating
/// and unlinking free chunks. mimalloc's per-thread free lists do not.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const USAGE: &str = "usage: cistern [--config FILE] [--check]

  --config FILE  the configuration to load (default: etc/cistern.conf)
  --check        load and check the configuration, then exit
";

fn main() -> ExitCode {
    let mut config = PathBuf::from("etc/cistern.conf");
    let mut check_only = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--config" | "-c" => match args.next() {
                Some(path) => config = PathBuf::from(path),
                None => return usage("--config needs a file"),
            },
            "--check" => check_only = true,
            "--help" | "-h" => {
                print!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            other => return usage(&format!("unknown argument `{other}`")),
        }
    }

    cistern::logging::init();

    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    rt.block_on(run(config, check_only))
}

async fn run(config: PathBuf, check_only: bool) -> ExitCode {
    if check_only {
        return match Runtime::check(&config).await {
            Ok(()) => {
                println!("{}: ok", config.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let runtime = match Runtime::load(&config).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    let settings = runtime.loaded().config.cistern.clone();
    let _watch = if settings.reload {
        match cistern::reload::watch(runtime.clone()) {
            Ok(w) => Some(w),
            Err(e) => {
                tracing::warn!("cannot watch the configuration for changes, reload is off: {e}");
                None
            }
        }
    } else {
        None
    };
    if let Some(addr) = settings.http_listener {
        if let Err(e) = cistern::http::serve(addr, runtime.clone()).await {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    }
    let stop = tokio::select! {
        result = cistern::brokers::rmqtt::serve(runtime.clone(), &settings) => match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::FAILURE;
            }
        },
        signal = stop_signal() => {
            tracing::info!("{signal}: stopping");
            ExitCode::SUCCESS
        }
    };
    // What was acknowledged is in its database or in the outbox already;
    // let the events being handled now finish, within a bound.
    if !runtime.settle(SHUTDOWN_BOUND).await {
        tracing::warn!("events still being handled after {SHUTDOWN_BOUND:?}; stopping anyway (none was acknowledged)");
    }
    runtime.keep_id_clock().await;
    let waiting: usize = runtime.outbox.lanes().iter().map(|l| l.depth()).sum();
    if waiting > 0 {
        tracing::info!(entries = waiting, "the outbox keeps writes for the next start");
    }
    stop
}

/// How long a stop waits for the events being handled.
const SHUTDOWN_BOUND: std::time::Duration = std::time::Duration::from_secs(10);

/// SIGINT or SIGTERM, whichever comes first; its name.
async fn stop_signal() -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!("cannot watch for SIGTERM: {e}");
            let _ = tokio::signal::ctrl_c().await;
            return "SIGINT";
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => "SIGINT",
        _ = term.recv() => "SIGTERM",
    }
}

fn usage(problem: &str) -> ExitCode {
    eprintln!("error: {problem}\n{USAGE}");
    ExitCode::from(2)
}
