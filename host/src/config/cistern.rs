//! Our own keys, under `cistern.`: the listener, the node name, where custom
//! guests live, and the limits every guest call runs under.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use super::error::ConfigError;
use super::parse::Entry;
use super::typed::deserialize_entries;
use super::values;

/// Everything under `cistern.`.
#[derive(Debug, Clone)]
pub struct CisternConfig {
    pub listener: SocketAddr,
    pub http_listener: Option<SocketAddr>,
    pub node: String,
    pub guests_dir: Option<PathBuf>,
    pub reload: bool,
    pub max_mqueue_len: usize,
    pub max_packet_size: u32,
    pub publishes_in_flight: u16,
    pub session_expiry: Duration,
    pub limits: Limits,
    pub outbox: OutboxSettings,
}

/// Where writes go while their database is away (see `crate::outbox`).
#[derive(Debug, Clone, PartialEq)]
pub struct OutboxSettings {
    pub dir: PathBuf,
    pub max_bytes: u64,
    /// How long a write may take before it is taken for unavailable and deferred.
    pub write_timeout: Duration,
}

/// The limits every guest call runs under.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    pub memory: u64,
    pub cpu_time: Duration,
    pub call_timeout: Duration,
    pub instances: u32,
}

/// The keys as written (without the `cistern.` prefix).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Keys {
    /// `cistern.listener.tcp`: where the standalone broker accepts MQTT clients.
    #[serde(rename = "listener.tcp", default = "default_listener", deserialize_with = "values::parsed")]
    listener: SocketAddr,
    /// `cistern.http.listener`: where `/metrics` is served; off when unset.
    #[serde(rename = "http.listener", default, deserialize_with = "optional_addr")]
    http_listener: Option<SocketAddr>,
    /// `cistern.node`: this node's name, stored with clients and messages.
    #[serde(rename = "node", default = "default_node")]
    node: String,
    /// `cistern.guests.dir`: where custom guests (`{"module": "name"}`) are found, as `name.wasm`.
    #[serde(rename = "guests.dir", default)]
    guests_dir: Option<PathBuf>,
    /// `cistern.reload`: watch the configuration and guest files and apply changes while running.
    #[serde(rename = "reload", default = "default_true", deserialize_with = "values::boolean")]
    reload: bool,
    /// `cistern.mqtt.max_mqueue_len`: messages a broker session queues for an offline client.
    #[serde(rename = "mqtt.max_mqueue_len", default = "default_mqueue", deserialize_with = "values::parsed")]
    max_mqueue_len: usize,
    /// `cistern.mqtt.max_packet_size` (EMQX's `mqtt.max_packet_size`): the
    /// largest MQTT packet a client may send; a larger one closes its connection.
    #[serde(rename = "mqtt.max_packet_size", default = "default_max_packet", deserialize_with = "values::size")]
    max_packet_size: u64,
    /// `cistern.mqtt.publishes_in_flight`: QoS 1 publishes of one connection
    /// the broker stores at once (each still acknowledged in order).
    #[serde(
        rename = "mqtt.publishes_in_flight",
        default = "default_publishes_in_flight",
        deserialize_with = "values::parsed"
    )]
    publishes_in_flight: u16,
    /// `cistern.mqtt.session_expiry_interval`: how long the broker keeps a persistent session.
    #[serde(
        rename = "mqtt.session_expiry_interval",
        default = "default_session_expiry",
        deserialize_with = "values::duration"
    )]
    session_expiry: Duration,
    /// `cistern.limits.memory`: a guest instance's linear memory cap.
    #[serde(rename = "limits.memory", default = "default_memory", deserialize_with = "values::size")]
    memory: u64,
    /// `cistern.limits.cpu_time`: time a call may spend running guest code (host calls excluded).
    #[serde(rename = "limits.cpu_time", default = "default_cpu_time", deserialize_with = "values::duration")]
    cpu_time: Duration,
    /// `cistern.limits.call_timeout`: time a whole call may take, database round trips included.
    #[serde(rename = "limits.call_timeout", default = "default_call_timeout", deserialize_with = "values::duration")]
    call_timeout: Duration,
    /// `cistern.limits.instances`: instances of one guest that may run at once for one pool.
    #[serde(rename = "limits.instances", default = "default_instances", deserialize_with = "values::parsed")]
    instances: u32,
    /// `cistern.outbox.dir`: where writes wait while their database is away (default `data/outbox`
    /// beside this file).
    #[serde(rename = "outbox.dir", default)]
    outbox_dir: Option<PathBuf>,
    /// `cistern.outbox.max_bytes`: the most the outbox may hold; past it, publishes are refused.
    #[serde(rename = "outbox.max_bytes", default = "default_outbox_bytes", deserialize_with = "values::size")]
    outbox_max_bytes: u64,
    /// `cistern.outbox.write_timeout`: how long a storing call may take before its database is
    /// taken for unavailable and the write goes to the outbox.
    #[serde(rename = "outbox.write_timeout", default = "default_write_timeout", deserialize_with = "values::duration")]
    write_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            memory: default_memory(),
            cpu_time: default_cpu_time(),
            call_timeout: default_call_timeout(),
            instances: default_instances(),
        }
    }
}

fn default_listener() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 1883))
}
fn default_node() -> String {
    "cistern@127.0.0.1".into()
}
/// The largest packet MQTT can frame: a remaining length of 268,435,455 bytes.
const MAX_MQTT_PACKET: u64 = 268_435_455;

const fn default_true() -> bool {
    true
}
const fn default_mqueue() -> usize {
    1000
}
const fn default_max_packet() -> u64 {
    1 << 20
}
const fn default_session_expiry() -> Duration {
    Duration::from_secs(2 * 3600)
}
const fn default_memory() -> u64 {
    64 << 20
}
const fn default_cpu_time() -> Duration {
    Duration::from_millis(200)
}
const fn default_call_timeout() -> Duration {
    Duration::from_secs(10)
}
/// rmqtt's inbound window: more could never be in flight.
const MAX_PUBLISHES_IN_FLIGHT: u16 = 16;
const fn default_publishes_in_flight() -> u16 {
    MAX_PUBLISHES_IN_FLIGHT
}
const fn default_instances() -> u32 {
    64
}
const fn default_outbox_bytes() -> u64 {
    1 << 30
}
const fn default_write_timeout() -> Duration {
    Duration::from_secs(2)
}

fn optional_addr<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<SocketAddr>, D::Error> {
    values::parsed(d).map(Some)
}

impl CisternConfig {
    pub(super) fn from_entries(entries: Vec<(String, Entry)>, base_dir: &Path) -> Result<CisternConfig, ConfigError> {
        let k: Keys = deserialize_entries(&entries, "cistern.", None)?;
        if k.write_timeout.is_zero() {
            let at = &entries.iter().find(|(k, _)| k == "outbox.write_timeout").expect("set").1.at;
            return Err(ConfigError::at(at, "cistern.outbox.write_timeout must be more than 0"));
        }
        if k.instances == 0 {
            let at = &entries.iter().find(|(k, _)| k == "limits.instances").expect("set").1.at;
            return Err(ConfigError::at(at, "cistern.limits.instances must be at least 1"));
        }
        // MQTT's remaining length tops out just under 256 MB; `256MB` means that.
        if !(1..=MAX_MQTT_PACKET + 1).contains(&k.max_packet_size) {
            let at = &entries.iter().find(|(k, _)| k == "mqtt.max_packet_size").expect("set").1.at;
            return Err(ConfigError::at(at, "cistern.mqtt.max_packet_size must be from 1 byte to 256MB"));
        }
        if !(1..=MAX_PUBLISHES_IN_FLIGHT).contains(&k.publishes_in_flight) {
            let at = &entries.iter().find(|(k, _)| k == "mqtt.publishes_in_flight").expect("set").1.at;
            return Err(ConfigError::at(
                at,
                format!("cistern.mqtt.publishes_in_flight must be from 1 to {MAX_PUBLISHES_IN_FLIGHT}"),
            ));
        }
        Ok(CisternConfig {
            listener: k.listener,
            http_listener: k.http_listener,
            node: k.node,
            guests_dir: k.guests_dir.map(|dir| base_dir.join(dir)),
            reload: k.reload,
            max_mqueue_len: k.max_mqueue_len,
            max_packet_size: k.max_packet_size.min(MAX_MQTT_PACKET) as u32,
            publishes_in_flight: k.publishes_in_flight,
            session_expiry: k.session_expiry,
            limits: Limits {
                memory: k.memory,
                cpu_time: k.cpu_time,
                call_timeout: k.call_timeout,
                instances: k.instances,
            },
            outbox: OutboxSettings {
                dir: base_dir.join(k.outbox_dir.unwrap_or_else(|| PathBuf::from("data/outbox"))),
                max_bytes: k.outbox_max_bytes,
                write_timeout: k.write_timeout,
            },
        })
    }
}

impl Default for CisternConfig {
    fn default() -> Self {
        CisternConfig::from_entries(Vec::new(), Path::new(".")).expect("defaults are valid")
    }
}
