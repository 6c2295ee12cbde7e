//! `cistern`: the standalone broker. It loads the configuration (by default
//! `etc/cistern.conf`), opens the pools, loads the guests, and serves MQTT.

use std::path::PathBuf;
use std::process::ExitCode;

use cistern::runtime::Runtime;

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

    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CISTERN_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,rmqtt=warn,rmqtt_net=warn,sqlx=warn")),
        )
        .with_writer(std::io::stderr)
        .init();

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
    let runtime = match Runtime::load(&config).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::FAILURE;
        }
    };
    if check_only {
        println!("{}: ok", config.display());
        return ExitCode::SUCCESS;
    }
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
    tokio::select! {
        result = cistern::brokers::rmqtt::serve(runtime, &settings) => match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
        _ = tokio::signal::ctrl_c() => {
            tracing::info!("interrupted; stopping");
            ExitCode::SUCCESS
        }
    }
}

fn usage(problem: &str) -> ExitCode {
    eprintln!("error: {problem}\n{USAGE}");
    ExitCode::from(2)
}
