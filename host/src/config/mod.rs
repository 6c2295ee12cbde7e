//! The configuration: the seed's `key = value` files (EMQX 4 `emqx_backend_*.conf`
//! files load unchanged) plus our own keys under `cistern.`.
//!
//! Loading is all or nothing: every problem is reported with the file and the
//! line it comes from, and no partial configuration is ever used.

mod backend;
mod cistern;
mod error;
#[cfg(test)]
mod fuzz;
mod hook;
mod parse;
mod secret;
mod typed;
pub mod values;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use backend::{BackendConfig, BackendKind, PoolEntry};
pub use cistern::{CisternConfig, Limits, OutboxSettings};
pub use error::{ConfigError, Location};
pub use hook::{ActionSpec, HookConfig, OfflineOpts};
pub use parse::Entry;
pub use secret::Secret;

/// A whole, validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub cistern: CisternConfig,
    /// Backends in the order they first appear in the files.
    pub backends: Vec<BackendConfig>,
    /// Every file read, for the reload watcher.
    pub files: Vec<PathBuf>,
    /// The directory of the top-level file; relative paths are resolved against it.
    pub base_dir: PathBuf,
}

impl Config {
    /// Reads `path` and the files it includes, and checks every key.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let (entries, files) = parse::read(path)?;
        let base_dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Config::from_entries(entries, files, base_dir)
    }

    /// Builds a configuration from text, as if read from a file named `name`.
    pub fn from_text(name: &str, text: &str, base_dir: &Path) -> Result<Config, ConfigError> {
        let entries = parse::parse_text(Path::new(name), text)?;
        Config::from_entries(entries, vec![], base_dir.to_path_buf())
    }

    fn from_entries(entries: Vec<Entry>, files: Vec<PathBuf>, base_dir: PathBuf) -> Result<Config, ConfigError> {
        let mut ours = Vec::new();
        let mut by_backend: BTreeMap<usize, (BackendKind, Vec<Entry>)> = BTreeMap::new();
        let mut order: Vec<BackendKind> = Vec::new();
        let mut seen: BTreeMap<String, Location> = BTreeMap::new();

        for entry in entries {
            if let Some(first) = seen.get(&entry.key) {
                return Err(ConfigError::at(
                    &entry.at,
                    format!("`{}` is set again; it was first set at {first}", entry.key),
                ));
            }
            seen.insert(entry.key.clone(), entry.at.clone());

            if let Some(rest) = entry.key.strip_prefix("cistern.") {
                ours.push((rest.to_string(), entry));
            } else if let Some(rest) = entry.key.strip_prefix("backend.") {
                let name = rest.split('.').next().unwrap_or_default();
                let Some(kind) = BackendKind::from_config_name(name) else {
                    return Err(ConfigError::at(
                        &entry.at,
                        format!(
                            "unknown backend `{name}` in `{}` (known: {})",
                            entry.key,
                            BackendKind::config_names().join(", ")
                        ),
                    ));
                };
                let slot = match order.iter().position(|k| *k == kind) {
                    Some(i) => i,
                    None => {
                        order.push(kind);
                        order.len() - 1
                    }
                };
                by_backend.entry(slot).or_insert_with(|| (kind, Vec::new())).1.push(entry);
            } else {
                return Err(ConfigError::at(
                    &entry.at,
                    format!("unknown key `{}`: keys start with `backend.` or `cistern.`", entry.key),
                ));
            }
        }

        let cistern = CisternConfig::from_entries(ours, &base_dir)?;
        let mut backends = Vec::new();
        for (_, (kind, entries)) in by_backend {
            backends.push(BackendConfig::from_entries(kind, entries)?);
        }
        Ok(Config { cistern, backends, files, base_dir })
    }

    /// Every hook of every backend, in configuration order.
    pub fn hooks(&self) -> impl Iterator<Item = (&BackendConfig, &HookConfig)> {
        self.backends.iter().flat_map(|b| b.hooks.iter().map(move |h| (b, h)))
    }
}

/// A pool's keys as the database's typed config struct (`deny_unknown_fields`).
pub fn pool_config<T: serde::de::DeserializeOwned>(entry: &PoolEntry, backend: &str) -> Result<T, ConfigError> {
    typed::deserialize_entries(&entry.options, &format!("backend.{backend}.{}.", entry.name), Some(&entry.at))
}
