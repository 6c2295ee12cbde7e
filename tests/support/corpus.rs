//! An adversarial corpus, as data: text values that mean something to SQL,
//! CQL, MongoDB queries, Redis's wire protocol, InfluxDB's line protocol or
//! cistern's own templates, and payloads no text column can hold. Each value
//! has a short label, so a failure says which one. [`cases`] turns the corpus
//! into messages (a client id, a topic, a payload, the retain flag), which
//! [`publish_all`] sends through the bare MQTT client, byte for byte.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::raw::{Connect, Publish, RawClient};

/// A text value: usable as a client id, a topic level, a template value.
#[derive(Debug, Clone, Copy)]
pub struct Text {
    pub label: &'static str,
    pub value: &'static str,
}

/// The text values. `nul` holds U+0000, which MQTT forbids in strings, but
/// rmqtt takes in a client id and a topic (see `mongo.rs`), so the bare
/// client carries it there too.
pub const TEXTS: &[Text] = &[
    Text { label: "squote", value: "'" },
    Text { label: "two_squotes", value: "''" },
    Text { label: "dquote", value: "\"" },
    Text { label: "backslash", value: "\\" },
    Text { label: "escaped_quote", value: "\\'" },
    Text { label: "comment", value: ";--" },
    Text { label: "drop", value: "'); DROP TABLE mqtt_msg; --" },
    Text { label: "percent", value: "%" },
    Text { label: "underscore", value: "_" },
    Text { label: "star", value: "*" },
    Text { label: "question", value: "?" },
    Text { label: "dollar1", value: "$1" },
    Text { label: "colon_name", value: ":name" },
    Text { label: "template", value: "${clientid}" },
    Text { label: "mongo_ne", value: "{\"$ne\": null}" },
    Text { label: "mongo_where", value: "$where" },
    Text { label: "dotted", value: "a.b" },
    Text { label: "resp", value: "*3\r\n$3\r\nSET\r\n$1\r\nx\r\n" },
    Text { label: "line_protocol", value: "m,t=1 f=2 3" },
    Text { label: "line_break", value: "x\ny=1 2" },
    Text { label: "tab", value: "a\tb" },
    Text { label: "unicode", value: "é☃😀" },
    Text { label: "nul", value: "a\0b" },
];

/// 1 MiB.
pub const MIB: usize = 1 << 20;

/// The size of the "1 MiB" payloads: 1 MiB less 256 bytes. The broker takes
/// packets whose remaining length (topic, packet id and payload) is at most
/// `cistern.mqtt.max_packet_size`, 1 MiB by default, and closes the
/// connection on a larger one; this is the largest payload that leaves room
/// for any topic of the corpus under the default.
pub const BIG: usize = MIB - 256;

/// The payloads beyond the text values' own bytes.
pub fn extra_payloads() -> Vec<(&'static str, Vec<u8>)> {
    let text: Vec<u8> = "é'\"\\;--%_*?$1${clientid}\r\n\t☃😀 ".bytes().cycle().take(BIG).collect();
    // Whole characters only: cut at a character boundary, then pad with ASCII.
    let mut text = String::from_utf8_lossy(&text).into_owned();
    while text.len() > BIG || text.ends_with('\u{FFFD}') {
        text.pop();
    }
    let pad = BIG - text.len();
    text.push_str(&"x".repeat(pad));
    assert_eq!(text.len(), BIG);
    let binary: Vec<u8> = (0..=255u8).cycle().take(BIG).collect();
    vec![
        ("invalid_utf8", b"\xff\xfe\x00\x80".to_vec()),
        ("nuls", b"\0a\0\0b\0".to_vec()),
        ("big_text", text.into_bytes()),
        ("big_binary", binary),
    ]
}

/// One message of the corpus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Case {
    pub label: String,
    pub client_id: String,
    pub topic: String,
    pub payload: Vec<u8>,
    pub retain: bool,
}

impl Case {
    /// Whether the payload is UTF-8.
    pub fn text_payload(&self) -> bool {
        std::str::from_utf8(&self.payload).is_ok()
    }
}

/// The labels of the cases published retained.
pub const RETAINED: &[&str] = &[
    "squote",
    "drop",
    "percent",
    "underscore",
    "star",
    "template",
    "mongo_ne",
    "resp",
    "unicode",
    "invalid_utf8",
    "big_binary",
];

/// The corpus as messages under `prefix` (a topic level with no wildcard):
/// each text value is a client id, a topic level (`{prefix}/{value}/{label}`,
/// see [`level`]) and the payload; each extra
/// payload comes from `corpus-{label}` on `{prefix}/payload/{label}`.
pub fn cases(prefix: &str) -> Vec<Case> {
    let mut out = Vec::new();
    for t in TEXTS {
        out.push(Case {
            label: t.label.to_string(),
            client_id: t.value.to_string(),
            topic: format!("{prefix}/{}/{}", level(t.value), t.label),
            payload: t.value.as_bytes().to_vec(),
            retain: RETAINED.contains(&t.label),
        });
    }
    for (label, payload) in extra_payloads() {
        out.push(Case {
            label: label.to_string(),
            client_id: format!("corpus-{label}"),
            topic: format!("{prefix}/payload/{label}"),
            payload,
            retain: RETAINED.contains(&label),
        });
    }
    for c in &out {
        assert!(!c.topic.contains(['+', '#']) && c.topic.len() <= 65535, "{}: not a publish topic", c.label);
    }
    out
}

/// A text value as a topic level: as it is, but that rmqtt refuses a `$` at
/// the start of any level but the first, so such a value gets an `x` first.
pub fn level(value: &str) -> String {
    if value.starts_with('$') {
        format!("x{value}")
    } else {
        value.to_string()
    }
}

/// The case labelled `label`.
pub fn case<'a>(cases: &'a [Case], label: &str) -> &'a Case {
    cases.iter().find(|c| c.label == label).unwrap_or_else(|| panic!("no case {label}"))
}

/// Each case's client connects (clean session), publishes its message at
/// QoS 1, waits for the PUBACK, and disconnects.
pub fn publish_all(port: u16, cases: &[Case]) {
    for c in cases {
        let (mut client, _) = RawClient::connect(port, &c.client_id, Connect { clean: true, ..Connect::default() });
        client.publish(&c.topic, &c.payload, 1, c.retain);
        client.disconnect();
    }
}

/// A clean-session subscriber `client_id` on `filters` (QoS 1), acknowledging
/// what comes; returns what came once `expected` messages arrived and
/// `quiet` passed with nothing more (or `limit` passed).
pub fn fetch(port: u16, client_id: &str, filters: &[&str], expected: usize, limit: Duration) -> Vec<Publish> {
    let (mut sub, _) = RawClient::connect(port, client_id, Connect { clean: true, ..Connect::default() });
    let with_qos: Vec<(&str, u8)> = filters.iter().map(|f| (*f, 1)).collect();
    let codes = sub.subscribe(&with_qos);
    assert!(codes.iter().all(|c| *c <= 2), "{client_id}: subscription refused: {codes:?}");
    let started = Instant::now();
    let mut got = Vec::new();
    loop {
        let more = sub.collect(Duration::from_millis(1500));
        let none = more.is_empty();
        got.extend(more);
        if (got.len() >= expected && none) || started.elapsed() > limit {
            break;
        }
    }
    sub.disconnect();
    got
}

/// What a subscriber got, as (topic, retain flag) -> payloads, for comparing
/// with [`expected_deliveries`]; payloads compared whole, byte for byte.
pub type Deliveries = BTreeMap<(String, bool), Vec<Vec<u8>>>;

pub fn deliveries(got: &[Publish]) -> Deliveries {
    let mut out = Deliveries::new();
    for p in got {
        out.entry((p.topic.clone(), p.retain)).or_default().push(p.payload.clone());
    }
    out
}

/// What a new subscriber to filters matching `stored` gets from the store:
/// each stored message once, flagged retained as it was published (the
/// offline fetch keeps the flag, and the retained lookup's copy of a
/// message the fetch delivers is the same message, delivered once).
pub fn expected_deliveries<'a>(stored: impl IntoIterator<Item = &'a Case>) -> Deliveries {
    let mut out = Deliveries::new();
    for c in stored {
        out.entry((c.topic.clone(), c.retain)).or_default().push(c.payload.clone());
    }
    out
}

/// Deletes the retained message of `cases`' case `label` as MQTT does, with
/// an empty retained publish on its topic from a client of its own; that
/// publish, as a case.
pub fn delete_retained(port: u16, cases: &[Case], label: &str) -> Case {
    let deleting = Case { client_id: "corpus-delete".into(), payload: vec![], ..case(cases, label).clone() };
    let (mut client, _) = RawClient::connect(port, &deleting.client_id, Connect { clean: true, ..Connect::default() });
    client.publish(&deleting.topic, b"", 0, true);
    client.disconnect();
    deleting
}

/// A new subscriber `client_id` on `filters` fetches from the store exactly
/// the messages of `stored` (the ones the filters match), byte for byte:
/// each once, and nothing else.
pub fn fetch_exactly<'a>(
    port: u16,
    client_id: &str,
    filters: &[&str],
    stored: impl IntoIterator<Item = &'a Case>,
    limit: Duration,
) {
    let want = expected_deliveries(stored);
    let expected: usize = want.values().map(Vec::len).sum();
    assert!(expected > 0, "{filters:?}: a fetch of nothing proves nothing");
    let got = fetch(port, client_id, filters, expected, limit);
    assert_deliveries(&filters.join(" "), &deliveries(&got), &want);
}

/// Asserts that two delivery maps are equal, naming the topics that differ
/// (payloads shown by length and a short head, not 1 MiB of bytes).
pub fn assert_deliveries(what: &str, got: &Deliveries, want: &Deliveries) {
    let mut diffs = Vec::new();
    for key in got.keys().chain(want.keys()).collect::<std::collections::BTreeSet<_>>() {
        let (g, w) = (got.get(key), want.get(key));
        if g != w {
            diffs.push(format!("{key:?}: got {}, want {}", brief_all(g), brief_all(w)));
        }
    }
    assert!(diffs.is_empty(), "{what}: deliveries differ:\n{}", diffs.join("\n"));
}

fn brief_all(v: Option<&Vec<Vec<u8>>>) -> String {
    match v {
        None => "nothing".into(),
        Some(v) => format!("[{}]", v.iter().map(|p| brief(p)).collect::<Vec<_>>().join(", ")),
    }
}

/// A payload in a failure message: its length and its first bytes.
pub fn brief(p: &[u8]) -> String {
    let head: String = p.iter().take(16).map(|b| format!("{b:02x}")).collect();
    format!("{} bytes {head}{}", p.len(), if p.len() > 16 { "…" } else { "" })
}

/// Lower-case hex of bytes.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Every `name{labels} value` line of the broker's `/metrics` whose name is
/// `name`, as labels -> value (e.g. each action's failure count).
pub fn metric_family(broker: &crate::Broker, name: &str) -> BTreeMap<String, u64> {
    let prefix = format!("{name}{{");
    broker
        .http_get("/metrics")
        .lines()
        .filter_map(|l| l.strip_prefix(&prefix))
        .filter_map(|rest| {
            let (labels, value) = rest.rsplit_once("} ")?;
            Some((labels.to_string(), value.trim().parse::<f64>().ok()? as u64))
        })
        .filter(|(_, v)| *v > 0)
        .collect()
}
