//! Hook entries: `backend.<db>.hook.<hook point>.<n> = {JSON}`.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use super::backend::{BackendKind, PoolEntry};
use super::error::{ConfigError, Location};
use super::parse::Entry;
use super::values;
use crate::model::HookPoint;

/// One configured hook.
#[derive(Debug, Clone)]
pub struct HookConfig {
    pub point: HookPoint,
    /// The `<n>` of the key; hooks of one point run in its order.
    pub number: u32,
    /// The full key, used to name the action in logs and metrics.
    pub key: String,
    /// The topic filter events must match; `#` when not given.
    pub topic: String,
    pub action: ActionSpec,
    pub pool: String,
    /// `offline_opts`, over the backend's defaults.
    pub offline: OfflineOpts,
    /// The entry's JSON as written, handed to custom guests.
    pub json: String,
    /// The fields only this database's hooks have, by name.
    pub extra: BTreeMap<String, serde_json::Value>,
    pub at: Location,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionSpec {
    /// A function of the backend's stock guest, or of a custom guest (`module`).
    Function { module: Option<String>, function: String },
    /// Raw SQL statements with `${name}` parameters.
    Sql(Vec<String>),
    /// Raw Redis commands with `${name}` parameters.
    Commands(Vec<String>),
    /// Raw CQL statements with `${name}` parameters.
    Cql(Vec<String>),
}

impl ActionSpec {
    /// Why a database that has no raw action of this kind refuses it.
    pub fn not_for(&self, backend: &str) -> String {
        match self {
            ActionSpec::Function { .. } => format!("{backend} has no functions"),
            ActionSpec::Sql(_) => format!("raw \"sql\" is for SQL databases; {backend} cannot run it"),
            ActionSpec::Commands(_) => format!("raw \"commands\" are Redis commands; {backend} cannot run them"),
            ActionSpec::Cql(_) => format!("raw \"cql\" is for Cassandra; {backend} cannot run it"),
        }
    }
}

/// How much an offline fetch returns.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OfflineOpts {
    /// At most this many messages; `None` is no limit (`infinity`).
    pub max_returned_count: Option<u64>,
    /// Only messages younger than this; `None` is no limit.
    pub time_range: Option<Duration>,
}

#[derive(Deserialize)]
struct RawHook {
    topic: Option<String>,
    action: RawAction,
    pool: Option<String>,
    offline_opts: Option<RawOffline>,
    /// Free-form options for custom guests.
    #[allow(dead_code)]
    options: Option<serde_json::Value>,
    /// Fields of one database's hooks (MongoDB's `payload_format`), which its
    /// backend checks; any other field is an error.
    #[serde(flatten)]
    extra: BTreeMap<String, serde_json::Value>,
}

const COMMON_FIELDS: [&str; 5] = ["topic", "action", "pool", "offline_opts", "options"];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAction {
    function: Option<String>,
    module: Option<String>,
    sql: Option<OneOrMany>,
    commands: Option<OneOrMany>,
    cql: Option<OneOrMany>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s],
            OneOrMany::Many(v) => v,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawOffline {
    max_returned_count: Option<NumberOrText>,
    time_range: Option<NumberOrText>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum NumberOrText {
    Number(u64),
    Text(String),
}

/// Parses the hook whose key ends in `suffix` (`<a>.<b>.<n>`).
pub(super) fn parse(
    kind: BackendKind,
    suffix: &str,
    entry: &Entry,
    defaults: &OfflineOpts,
    pools: &BTreeMap<String, PoolEntry>,
) -> Result<HookConfig, ConfigError> {
    let err = |m: String| ConfigError::at(&entry.at, m);
    let (point_name, number) = suffix
        .rsplit_once('.')
        .ok_or_else(|| err(format!("`{}`: expected backend.{kind}.hook.<hook point>.<n>", entry.key)))?;
    let point = HookPoint::parse(point_name).ok_or_else(|| {
        err(format!(
            "unknown hook point `{point_name}` (known: {})",
            HookPoint::ALL.iter().map(|p| p.name()).collect::<Vec<_>>().join(", ")
        ))
    })?;
    let number: u32 =
        number.parse().map_err(|_| err(format!("`{}`: the hook number `{number}` is not a number", entry.key)))?;

    let raw: RawHook =
        serde_json::from_str(&entry.value).map_err(|e| err(format!("bad JSON in `{}`: {e}", entry.key)))?;

    let topic = raw.topic.unwrap_or_else(|| "#".to_string());
    if let Some(problem) = cistern_topic::filter_error(&topic) {
        return Err(err(format!("topic filter {topic:?}: {problem}")));
    }

    let action = action_spec(raw.action).map_err(err)?;

    let pool = match raw.pool {
        Some(p) if pools.contains_key(&p) => p,
        Some(p) => return Err(err(format!("pool `{p}` is not configured for {kind} (configured: {})", names(pools)))),
        None if pools.len() == 1 => pools.keys().next().cloned().unwrap_or_default(),
        None => return Err(err(format!("no \"pool\" given, and {kind} has {} pools: {}", pools.len(), names(pools)))),
    };

    let mut offline = defaults.clone();
    if let Some(o) = raw.offline_opts {
        if let Some(count) = o.max_returned_count {
            offline.max_returned_count = match count {
                NumberOrText::Number(n) => Some(n),
                NumberOrText::Text(t) => values::parse_limit(&t).map_err(&err)?,
            };
        }
        if let Some(range) = o.time_range {
            offline.time_range = match range {
                NumberOrText::Number(secs) => Some(Duration::from_secs(secs)),
                NumberOrText::Text(t) if t.trim() == "infinity" => None,
                NumberOrText::Text(t) => Some(values::parse_duration(&t).map_err(&err)?),
            };
        }
    }
    let backend_fields = kind.backend().hook_fields();
    if let Some(field) = raw.extra.keys().find(|f| !backend_fields.contains(&f.as_str())) {
        let known: Vec<String> = COMMON_FIELDS.iter().chain(backend_fields).map(|f| format!("`{f}`")).collect();
        return Err(err(format!(
            "bad JSON in `{}`: unknown field `{field}`, expected one of {}",
            entry.key,
            known.join(", ")
        )));
    }

    let hook = HookConfig {
        point,
        number,
        key: entry.key.clone(),
        topic,
        action,
        pool,
        offline,
        json: entry.value.clone(),
        extra: raw.extra,
        at: entry.at.clone(),
    };
    kind.backend().check_hook(&hook).map_err(err)?;
    Ok(hook)
}

fn action_spec(raw: RawAction) -> Result<ActionSpec, String> {
    let given = [raw.function.is_some(), raw.sql.is_some(), raw.commands.is_some(), raw.cql.is_some()];
    if given.iter().filter(|g| **g).count() != 1 {
        return Err("\"action\" needs exactly one of \"function\", \"sql\", \"commands\" or \"cql\"".into());
    }
    if raw.module.is_some() && raw.function.is_none() {
        return Err("\"module\" names a guest; it needs a \"function\" too".into());
    }
    if let Some(m) = &raw.module {
        if m.is_empty() || !m.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-') {
            return Err(format!(
                "module name {m:?}: use letters, digits, `_` and `-` (it names guests.dir/<module>.wasm)"
            ));
        }
    }
    let nonempty = |what: &str, v: Vec<String>| {
        if v.is_empty() || v.iter().any(|s| s.trim().is_empty()) {
            Err(format!("\"{what}\" needs at least one statement, and no empty ones"))
        } else {
            Ok(v)
        }
    };
    Ok(match (raw.function, raw.sql, raw.commands, raw.cql) {
        (Some(function), ..) => ActionSpec::Function { module: raw.module, function },
        (_, Some(sql), ..) => ActionSpec::Sql(nonempty("sql", sql.into_vec())?),
        (_, _, Some(c), _) => ActionSpec::Commands(nonempty("commands", c.into_vec())?),
        (_, _, _, Some(c)) => ActionSpec::Cql(nonempty("cql", c.into_vec())?),
        _ => unreachable!("exactly one is set"),
    })
}

fn names(pools: &BTreeMap<String, PoolEntry>) -> String {
    if pools.is_empty() {
        return "none".into();
    }
    pools.keys().cloned().collect::<Vec<_>>().join(", ")
}
