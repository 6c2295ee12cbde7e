//! The template files of the time-series backends (`emqx_backend_timescale.tmpl`,
//! `emqx_backend_influxdb.tmpl`, `emqx_backend_opentsdb.tmpl`),
//! read and checked when the configuration loads, and handed to the stock
//! guest, which expands them for each message.

use std::path::PathBuf;

use crate::config::{BackendConfig, Config, ConfigError, HookConfig};

/// The template text a stock function needs, if it needs one: TimescaleDB's,
/// InfluxDB's and OpenTSDB's `on_message_publish`. Looked for at `backend.<db>.template`, or else as
/// `emqx_backend_<db>.tmpl` beside the top configuration file.
pub fn for_stock_function(
    backend: &BackendConfig,
    hook: &HookConfig,
    config: &Config,
) -> Result<Option<String>, ConfigError> {
    let Some(check) = backend.kind.backend().template() else { return Ok(None) };
    if !matches!(&hook.action, crate::config::ActionSpec::Function { function, .. } if function == "on_message_publish")
    {
        return Ok(None);
    }
    let (path, at): (PathBuf, _) = match backend.option("template") {
        Some(entry) => (config.base_dir.join(entry.value.trim()), entry.at.clone()),
        None => (config.base_dir.join(format!("emqx_backend_{}.tmpl", backend.kind)), hook.at.clone()),
    };
    let text = std::fs::read_to_string(&path).map_err(|e| {
        ConfigError::at(
            &at,
            format!(
                "{} needs its template file {}: {e} (set backend.{}.template to another file)",
                hook.key,
                path.display(),
                backend.kind
            ),
        )
    })?;
    check(&text).map_err(|e| ConfigError::at(&at, format!("{}: {e}", path.display())))?;
    Ok(Some(text))
}
