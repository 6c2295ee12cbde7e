//! Typed configuration structs from `key = value` entries, through serde,
//! with every error mapped back to the line of the key it is about.

use std::path::Path;

use super::error::{ConfigError, Location};
use super::parse::Entry;

/// Deserializes `(key, entry)` pairs into a config struct, mapping any error
/// back to the line of the key it is about.
pub fn deserialize_entries<T: serde::de::DeserializeOwned>(
    entries: &[(String, Entry)],
    prefix: &str,
    fallback: Option<&Location>,
) -> Result<T, ConfigError> {
    // An empty value (`keyfile =`, as the seed's files write it) means unset.
    let map: serde_json::Map<String, serde_json::Value> = entries
        .iter()
        .filter(|(_, e)| !e.value.trim().is_empty())
        .map(|(k, e)| (k.clone(), serde_json::Value::String(e.value.clone())))
        .collect();
    serde_path_to_error::deserialize(serde_json::Value::Object(map)).map_err(|err| {
        let key = err.path().iter().next().map(|s| s.to_string()).unwrap_or_default();
        let inner = err.into_inner().to_string();
        // Unknown keys are reported by name in the message, not in the path.
        let named = inner.split('`').nth(1).unwrap_or_default().to_string();
        let entry = entries.iter().find(|(k, _)| *k == key).or_else(|| entries.iter().find(|(k, _)| *k == named));
        let at = entry
            .map(|(_, e)| e.at.clone())
            .or_else(|| fallback.cloned())
            .unwrap_or_else(|| Location { file: std::sync::Arc::from(Path::new("(configuration)")), line: 0 });
        let inner = inner.replace("unknown field", &format!("unknown key under `{prefix}`:"));
        ConfigError::at(&at, inner)
    })
}
