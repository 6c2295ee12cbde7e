//! The template files of the time-series backends (`emqx_backend_timescale.tmpl`,
//! `emqx_backend_influxdb.tmpl`, `emqx_backend_opentsdb.tmpl`),
//! read and checked when the configuration loads, and handed to the stock
//! guest, which expands them for each message.

use std::path::PathBuf;

use crate::config::{BackendConfig, BackendKind, Config, ConfigError, HookConfig};

/// The template text a stock function needs, if it needs one: TimescaleDB's,
/// InfluxDB's and OpenTSDB's `on_message_publish`. Looked for at `backend.<db>.template`, or else as
/// `emqx_backend_<db>.tmpl` beside the top configuration file.
pub fn for_stock_function(
    backend: &BackendConfig,
    hook: &HookConfig,
    config: &Config,
) -> Result<Option<String>, ConfigError> {
    let is_template_function = matches!(
        (&backend.kind, &hook.action),
        (BackendKind::Timescale | BackendKind::Influxdb | BackendKind::Opentsdb,
         crate::config::ActionSpec::Function { function, .. }) if function == "on_message_publish"
    );
    if !is_template_function {
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
    crate::templates::check(backend.kind, &text)
        .map_err(|e| ConfigError::at(&at, format!("{}: {e}", path.display())))?;
    Ok(Some(text))
}

/// Checks a template file's text for the backend it is for.
pub fn check(kind: BackendKind, text: &str) -> Result<(), String> {
    match kind {
        BackendKind::Timescale => cistern_template::timescale::parse(text).map(|_| ()),
        BackendKind::Influxdb => cistern_template::influxdb::parse(text).map(|_| ()),
        BackendKind::Opentsdb => cistern_template::opentsdb::parse(text).map(|_| ()),
        other => Err(format!("{other} has no template files")),
    }
}
