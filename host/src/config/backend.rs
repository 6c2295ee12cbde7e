//! `backend.<db>.*` keys: which database, its pools, its backend-wide
//! options, and its hooks.

use std::collections::BTreeMap;
use std::fmt;

use super::error::{ConfigError, Location};
use super::hook::{self, HookConfig, OfflineOpts};
use super::parse::Entry;
use super::values;
use crate::backends::registry::{self, Backend};

/// A database of the registry ([`crate::backends::registry`]), by the name
/// its keys use.
#[derive(Clone, Copy)]
pub struct BackendKind(&'static dyn Backend);

impl BackendKind {
    pub fn name(self) -> &'static str {
        self.0.name()
    }

    /// What the registry knows of this database.
    pub fn backend(self) -> &'static dyn Backend {
        self.0
    }

    /// The backend a key's second part names. Cassandra's pools are
    /// `backend.ecql.*` while its hooks are `backend.cassa.*`, as in the seed.
    pub fn from_config_name(name: &str) -> Option<BackendKind> {
        registry::find(name).map(BackendKind)
    }

    pub fn config_names() -> Vec<&'static str> {
        registry::BACKENDS.iter().map(|b| b.name()).collect()
    }

    /// Backend-wide keys (`backend.<db>.<key>`) other than pools and hooks.
    fn backend_keys(self) -> &'static [&'static str] {
        self.0.backend_keys()
    }
}

impl PartialEq for BackendKind {
    fn eq(&self, other: &Self) -> bool {
        self.name() == other.name()
    }
}

impl Eq for BackendKind {}

impl std::hash::Hash for BackendKind {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.name().hash(state)
    }
}

impl PartialOrd for BackendKind {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for BackendKind {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.name().cmp(other.name())
    }
}

impl fmt::Debug for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One pool's keys, `backend.<db>.<pool>.<option>`, as written.
#[derive(Debug, Clone)]
pub struct PoolEntry {
    pub name: String,
    /// Where the pool is first mentioned.
    pub at: Location,
    /// `(option, entry)` in file order.
    pub options: Vec<(String, Entry)>,
}

/// Everything configured for one database.
#[derive(Debug, Clone)]
pub struct BackendConfig {
    pub kind: BackendKind,
    pub pools: BTreeMap<String, PoolEntry>,
    /// Backend-wide keys such as `msg.expired_after`, by key.
    pub options: BTreeMap<String, Entry>,
    /// Hooks in the order of their numbers per hook point, hook points in file order.
    pub hooks: Vec<HookConfig>,
}

impl BackendConfig {
    pub(super) fn from_entries(kind: BackendKind, entries: Vec<Entry>) -> Result<BackendConfig, ConfigError> {
        let mut pools: BTreeMap<String, PoolEntry> = BTreeMap::new();
        let mut options = BTreeMap::new();
        let mut hook_entries = Vec::new();

        for entry in entries {
            let mut parts = entry.key.splitn(3, '.');
            let _backend = parts.next();
            let _db = parts.next();
            let rest = parts.next().unwrap_or_default().to_string();
            if rest.is_empty() {
                return Err(ConfigError::at(&entry.at, format!("`{}` names no option", entry.key)));
            }
            if let Some(hook) = rest.strip_prefix("hook.") {
                hook_entries.push((hook.to_string(), entry));
            } else if kind.backend_keys().contains(&rest.as_str()) {
                options.insert(rest, entry);
            } else if let Some((pool, option)) = rest.split_once('.').filter(|(_, o)| !o.contains('.')) {
                pools
                    .entry(pool.to_string())
                    .or_insert_with(|| PoolEntry { name: pool.to_string(), at: entry.at.clone(), options: Vec::new() })
                    .options
                    .push((option.to_string(), entry));
            } else {
                return Err(ConfigError::at(
                    &entry.at,
                    format!(
                        "unknown key `{}`: expected backend.{kind}.<pool>.<option>, backend.{kind}.hook.<hook point>.<n>, \
                         or one of {}",
                        entry.key,
                        kind.backend_keys().iter().map(|k| format!("backend.{kind}.{k}")).collect::<Vec<_>>().join(", ")
                    ),
                ));
            }
        }

        let defaults = offline_defaults(&options)?;
        let mut hooks = Vec::new();
        for (suffix, entry) in hook_entries {
            hooks.push(hook::parse(kind, &suffix, &entry, &defaults, &pools)?);
        }
        // Per hook point, in the order of the hook numbers; hook points keep the order they first appear in.
        let mut point_order = Vec::new();
        for h in &hooks {
            if !point_order.contains(&h.point) {
                point_order.push(h.point);
            }
        }
        hooks.sort_by_key(|h| (point_order.iter().position(|p| *p == h.point), h.number));
        Ok(BackendConfig { kind, pools, options, hooks })
    }

    /// A backend-wide option's text, if set.
    pub fn option(&self, key: &str) -> Option<&Entry> {
        self.options.get(key)
    }
}

/// `backend.<db>.max_returned_count` and `time_range`: defaults for every hook's `offline_opts`.
fn offline_defaults(options: &BTreeMap<String, Entry>) -> Result<OfflineOpts, ConfigError> {
    let mut d = OfflineOpts::default();
    if let Some(e) = options.get("max_returned_count") {
        d.max_returned_count = values::parse_limit(&e.value).map_err(|m| ConfigError::at(&e.at, m))?;
    }
    if let Some(e) = options.get("time_range") {
        d.time_range = match e.value.trim() {
            "infinity" => None,
            v => Some(values::parse_duration(v).map_err(|m| ConfigError::at(&e.at, m))?),
        };
    }
    Ok(d)
}
