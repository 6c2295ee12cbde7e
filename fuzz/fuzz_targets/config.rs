//! Any text as a configuration file: `Config::from_text` either loads it or
//! returns an error, and never panics (a panic would kill a reload's
//! watcher). In what it loads, every hook's topic filter is valid, and each
//! raw action goes through its database's statement compiler.

#![no_main]

use std::path::Path;

use cistern::backends::{cassa, redis, sql};
use cistern::config::{ActionSpec, Config};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    // The loader reads no file for text; a directory that is not there makes sure.
    let Ok(config) = Config::from_text("fuzz.conf", &text, Path::new("/nonexistent/cistern-fuzz")) else {
        return;
    };
    for (_, hook) in config.hooks() {
        if let Some(problem) = cistern_topic::filter_error(&hook.topic) {
            panic!("{} loaded with the topic filter {:?}: {problem}", hook.key, hook.topic);
        }
        match &hook.action {
            ActionSpec::Function { .. } => {}
            ActionSpec::Sql(statements) => {
                for s in statements {
                    for dialect in [sql::Dialect::Sqlite, sql::Dialect::Mysql, sql::Dialect::Postgres] {
                        let _ = sql::raw::compile(s, dialect, hook.point);
                    }
                }
            }
            ActionSpec::Commands(commands) => {
                for c in commands {
                    let _ = redis::raw::compile(c, hook.point);
                }
            }
            ActionSpec::Cql(statements) => {
                for s in statements {
                    let _ = cassa::raw::compile(s, hook.point);
                }
            }
        }
    }
});
