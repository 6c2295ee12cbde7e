//! What MQTT 3.1.1 promises, with real clients, on the broker with no store
//! and on the default configuration (`etc/cistern.conf`): the store adds
//! durability and changes nothing a client sees. The behaviours are those
//! the Eclipse Paho interoperability suite checks.

use std::time::Duration;

use cistern_tests::raw::{Connect, RawClient};
use cistern_tests::{configs, Broker};

const BIN: &str = env!("CARGO_BIN_EXE_cistern");
/// How long a test waits for something that should happen.
const SOON: Duration = Duration::from_secs(5);
/// How long it listens to show that something does not happen.
const QUIET: Duration = Duration::from_millis(1500);

/// The broker with no store: rmqtt alone.
fn no_store() -> Broker {
    Broker::start(BIN, configs::base())
}

/// The broker on `etc/cistern.conf` as shipped, its database and outbox in the test's directory.
fn default_store() -> Broker {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../etc/cistern.conf");
    let text = std::fs::read_to_string(path).expect("etc/cistern.conf");
    let text = replace_line(&text, "cistern.listener.tcp = 127.0.0.1:1883", "");
    let text = replace_line(
        &text,
        "backend.sqlite.pool1.database = ../data/cistern.db",
        "backend.sqlite.pool1.database = {dir}/cistern.db",
    );
    let text = replace_line(&text, "cistern.outbox.dir = ../data/outbox", "cistern.outbox.dir = {dir}/outbox");
    Broker::start(BIN, &format!("{}{text}", configs::base()))
}

fn replace_line(text: &str, from: &str, to: &str) -> String {
    assert!(text.contains(from), "etc/cistern.conf has no line {from:?}");
    text.replace(from, to)
}

fn clean() -> Connect<'static> {
    Connect { clean: true, ..Connect::default() }
}

fn persistent() -> Connect<'static> {
    Connect { clean: false, ..Connect::default() }
}

fn payloads(got: &[cistern_tests::raw::Publish]) -> Vec<String> {
    got.iter().map(|p| String::from_utf8_lossy(&p.payload).into_owned()).collect()
}

/// A clean session starts with no subscriptions and no messages, even for a
/// client id whose persistent session had both; and it ends the persistent
/// one, so the next persistent session starts empty too.
fn clean_session_starts_empty(broker: &mut Broker) {
    let (mut c, _) = RawClient::connect(broker.port, "cs-client", persistent());
    c.subscribe(&[("cs/t", 1)]);
    c.disconnect();
    let (mut p, _) = RawClient::connect(broker.port, "cs-pub", clean());
    p.publish("cs/t", b"queued", 1, false);

    let (mut c, present) = RawClient::connect(broker.port, "cs-client", clean());
    assert!(!present, "a clean session is never present");
    p.publish("cs/t", b"live", 1, false);
    let got = c.collect(QUIET);
    assert!(got.is_empty(), "a clean session got messages: {got:?}");
    c.disconnect();

    let (mut c, present) = RawClient::connect(broker.port, "cs-client", persistent());
    assert!(!present, "the clean session ended the persistent one");
    p.publish("cs/t", b"later", 1, false);
    let got = c.collect(QUIET);
    assert!(got.is_empty(), "subscriptions came back: {got:?}");
    c.disconnect();
    p.disconnect();
}

/// A persistent session keeps its subscription while the client is away:
/// QoS 1 and 2 messages wait for it (QoS 0 may), in order, and the CONNACK
/// says the session is present.
fn offline_message_queueing(broker: &mut Broker) {
    let (mut c, _) = RawClient::connect(broker.port, "oq-client", persistent());
    c.subscribe(&[("oq/+", 2)]);
    c.disconnect();
    // Let the broker take the DISCONNECT first: messages that race a closing
    // connection are a different case (redelivery_on_reconnect).
    std::thread::sleep(Duration::from_millis(300));
    let (mut p, _) = RawClient::connect(broker.port, "oq-pub", clean());
    p.publish("oq/0", b"qos 0", 0, false);
    p.publish("oq/1", b"qos 1", 1, false);
    p.publish("oq/2", b"qos 2", 2, false);
    p.disconnect();

    let (mut c, present) = RawClient::connect(broker.port, "oq-client", persistent());
    assert!(present, "the persistent session is present");
    let got = payloads(&c.collect(QUIET));
    let without_qos0: Vec<&String> = got.iter().filter(|p| *p != "qos 0").collect();
    assert_eq!(without_qos0, ["qos 1", "qos 2"], "queued messages, once each: {got:?}");
    c.disconnect();
}

/// An unsubscribed filter gets nothing more; the other subscriptions go on.
fn unsubscribe(broker: &mut Broker) {
    let (mut c, _) = RawClient::connect(broker.port, "un-client", clean());
    c.subscribe(&[("un/a", 2), ("un/b", 2), ("un/c", 2)]);
    c.unsubscribe(&["un/a"]);
    let (mut p, _) = RawClient::connect(broker.port, "un-pub", clean());
    for t in ["un/a", "un/b", "un/c"] {
        p.publish(t, t.as_bytes(), 1, false);
    }
    let got = payloads(&c.collect(QUIET));
    assert_eq!(got, ["un/b", "un/c"]);
    c.disconnect();
    p.disconnect();
}

/// A message matching two of a client's subscriptions arrives once at the
/// higher QoS, or once per subscription at each one's QoS (MQTT allows both).
fn overlapping_subscriptions(broker: &mut Broker) {
    let (mut c, _) = RawClient::connect(broker.port, "ov-client", clean());
    c.subscribe(&[("ov/#", 2), ("ov/+", 1)]);
    c.publish("ov/x", b"overlap", 2, false);
    let got = c.collect(QUIET);
    let mut qos: Vec<u8> = got.iter().map(|p| p.qos).collect();
    qos.sort();
    assert!(qos == [2] || qos == [1, 2], "one message at QoS 2, or one per subscription: {got:?}");
    c.disconnect();
}

/// A client that goes silent past 1.5 times its keepalive is disconnected
/// by the broker, and its will is published.
fn keepalive_and_will(broker: &mut Broker) {
    let (mut watcher, _) = RawClient::connect(broker.port, "ka-watcher", clean());
    watcher.subscribe(&[("ka/will", 2)]);
    let will = Connect { clean: true, keepalive: 2, will: Some(("ka/will", b"gone")) };
    let (mut silent, _) = RawClient::connect(broker.port, "ka-silent", will);
    assert!(silent.closed_within(Duration::from_secs(6)), "the broker kept a silent client");
    let got = watcher.collect(SOON);
    assert_eq!(payloads(&got), ["gone"], "the will, once");
    watcher.disconnect();
}

/// A QoS 1 message that the client received but did not acknowledge before
/// its connection dropped comes again when its persistent session resumes,
/// marked as a duplicate.
fn redelivery_on_reconnect(broker: &mut Broker) {
    let (mut c, _) = RawClient::connect(broker.port, "rd-client", persistent());
    c.subscribe(&[("rd/t", 1)]);
    let (mut p, _) = RawClient::connect(broker.port, "rd-pub", clean());
    p.publish("rd/t", b"unacked", 1, false);
    let first = c.receive(SOON).expect("the message arrives");
    c.drop_connection();

    let (mut c, present) = RawClient::connect(broker.port, "rd-client", persistent());
    assert!(present, "the persistent session is present");
    let again = c.collect(QUIET);
    assert_eq!(payloads(&again), ["unacked"], "delivered again, once: {again:?}");
    assert!(again[0].dup, "marked as a duplicate: {again:?}");
    assert_eq!(first.payload, again[0].payload);
    c.disconnect();
    p.disconnect();
}

/// Retained messages at QoS 0, 1 and 2 reach a new subscription once each,
/// with the retain flag; a live message reaches an existing subscription
/// without it; an empty retained payload deletes.
fn retained_messages(broker: &mut Broker) {
    let (mut p, _) = RawClient::connect(broker.port, "rt-pub", clean());
    p.publish("rt/0", b"qos 0", 0, true);
    p.publish("rt/1", b"qos 1", 1, true);
    p.publish("rt/2", b"qos 2", 2, true);
    std::thread::sleep(Duration::from_millis(300));

    let (mut c, _) = RawClient::connect(broker.port, "rt-sub", clean());
    c.subscribe(&[("rt/+", 2)]);
    let mut got = c.collect(QUIET);
    got.sort_by(|a, b| a.topic.cmp(&b.topic));
    assert_eq!(payloads(&got), ["qos 0", "qos 1", "qos 2"], "each retained message once: {got:?}");
    assert!(got.iter().all(|m| m.retain), "with the retain flag: {got:?}");

    p.publish("rt/1", b"live", 1, true);
    let live = c.collect(QUIET);
    assert_eq!(payloads(&live), ["live"]);
    assert!(!live[0].retain, "an existing subscription gets the retain flag cleared: {live:?}");
    c.disconnect();

    for t in ["rt/0", "rt/1", "rt/2"] {
        p.publish(t, b"", 1, true);
    }
    std::thread::sleep(Duration::from_millis(300));
    let (mut c, _) = RawClient::connect(broker.port, "rt-sub", clean());
    c.subscribe(&[("rt/+", 2)]);
    let none = c.collect(QUIET);
    assert!(none.is_empty(), "deleted retained messages came: {none:?}");
    c.disconnect();
    p.disconnect();
}

/// With the store, a retained message survives a broker restart and comes
/// once; a clean session of a client that had subscriptions before the
/// restart starts empty after it.
fn store_across_restart(broker: &mut Broker) {
    let (mut p, _) = RawClient::connect(broker.port, "sr-pub", clean());
    p.publish("sr/kept", b"still here", 1, true);
    p.disconnect();
    let (mut c, _) = RawClient::connect(broker.port, "sr-client", clean());
    c.subscribe(&[("sr/live", 1)]);
    c.disconnect();

    broker.restart();
    let (mut c, present) = RawClient::connect(broker.port, "sr-client", clean());
    assert!(!present);
    let (mut p, _) = RawClient::connect(broker.port, "sr-pub", clean());
    p.publish("sr/live", b"not for a clean session", 1, false);
    assert!(c.collect(QUIET).is_empty(), "a clean session got a subscription back");
    c.subscribe(&[("sr/#", 1)]);
    let got = c.collect(QUIET);
    assert_eq!(payloads(&got), ["still here"], "the retained message, once: {got:?}");
    assert!(got[0].retain);
    c.disconnect();
    p.disconnect();
}

/// With the store, a persistent session survives a broker restart: the
/// CONNACK says it is present, its subscriptions come back (not one it
/// unsubscribed from), the QoS 1 and 2 messages queued for it while it was
/// away arrive once each, in order, and once acknowledged never again.
fn persistent_session_across_restart(broker: &mut Broker) {
    let (mut c, _) = RawClient::connect(broker.port, "ps-client", persistent());
    c.subscribe(&[("ps/t", 2), ("ps/gone", 1)]);
    c.unsubscribe(&["ps/gone"]);
    c.disconnect();
    std::thread::sleep(Duration::from_millis(300));
    let (mut p, _) = RawClient::connect(broker.port, "ps-pub", clean());
    p.publish("ps/t", b"one", 1, false);
    p.publish("ps/t", b"two", 2, false);
    p.publish("ps/gone", b"unsubscribed", 1, false);
    p.disconnect();

    broker.restart();
    let (mut c, present) = RawClient::connect(broker.port, "ps-client", persistent());
    assert!(present, "the persistent session is present after a restart");
    let got = c.collect(QUIET);
    assert_eq!(payloads(&got), ["one", "two"], "queued messages, once each, in order: {got:?}");
    assert_eq!(got.iter().map(|m| m.qos).collect::<Vec<_>>(), [1, 2]);
    let (mut p, _) = RawClient::connect(broker.port, "ps-pub", clean());
    p.publish("ps/t", b"live", 1, false);
    p.publish("ps/gone", b"unsubscribed", 1, false);
    assert_eq!(payloads(&c.collect(QUIET)), ["live"], "the subscription is back, the unsubscribed one is not");
    c.disconnect();
    p.disconnect();

    broker.restart();
    let (mut c, present) = RawClient::connect(broker.port, "ps-client", persistent());
    assert!(present, "still present after a second restart");
    let got = c.collect(QUIET);
    assert!(got.is_empty(), "acknowledged messages came again: {got:?}");
    c.disconnect();
}

/// A message acknowledged to its publisher is kept for a persistent session
/// whose client is away, even if the broker dies the moment after: it was
/// stored for that session before the PUBACK, not after it.
fn away_session_keeps_what_was_acknowledged(broker: &mut Broker) {
    let (mut c, _) = RawClient::connect(broker.port, "aw-client", persistent());
    c.subscribe(&[("aw/#", 1)]);
    c.disconnect();
    std::thread::sleep(Duration::from_millis(300));
    let (mut p, _) = RawClient::connect(broker.port, "aw-pub", clean());
    let sent: Vec<String> = (0..40).map(|i| format!("m{i}")).collect();
    for payload in &sent {
        p.publish("aw/t", payload.as_bytes(), 1, false);
    }
    broker.kill();

    broker.start_again();
    let (mut c, present) = RawClient::connect(broker.port, "aw-client", persistent());
    assert!(present, "the persistent session is present after the crash");
    let mut got = Vec::new();
    let deadline = std::time::Instant::now() + SOON;
    while got.len() < sent.len() && std::time::Instant::now() < deadline {
        got.extend(payloads(&c.collect(Duration::from_millis(300))));
    }
    assert_eq!(got, sent, "every acknowledged message, once, in order");
    c.disconnect();
}

/// With the store, a clean session ends a persistent one for good: after a
/// restart a clean connect gets nothing, and a persistent connect after it
/// finds no session.
fn clean_session_after_restart(broker: &mut Broker) {
    let (mut c, _) = RawClient::connect(broker.port, "cr-client", persistent());
    c.subscribe(&[("cr/t", 1)]);
    c.disconnect();
    std::thread::sleep(Duration::from_millis(300));
    let (mut p, _) = RawClient::connect(broker.port, "cr-pub", clean());
    p.publish("cr/t", b"queued", 1, false);
    p.disconnect();
    std::thread::sleep(Duration::from_millis(300));

    broker.restart();
    let (mut c, present) = RawClient::connect(broker.port, "cr-client", clean());
    assert!(!present, "a clean session is never present");
    let (mut p, _) = RawClient::connect(broker.port, "cr-pub", clean());
    p.publish("cr/t", b"live", 1, false);
    let got = c.collect(QUIET);
    assert!(got.is_empty(), "a clean session got the old session's messages: {got:?}");
    c.disconnect();
    std::thread::sleep(Duration::from_millis(300));

    broker.restart();
    let (mut c, present) = RawClient::connect(broker.port, "cr-client", persistent());
    assert!(!present, "the clean session ended the persistent one");
    p = RawClient::connect(broker.port, "cr-pub", clean()).0;
    p.publish("cr/t", b"later", 1, false);
    let got = c.collect(QUIET);
    assert!(got.is_empty(), "the old session came back: {got:?}");
    c.disconnect();
    p.disconnect();
}

/// `mosquitto_pub -V mqttv5` of a retained message with user properties,
/// a content type and a message expiry interval.
fn publish_v5_retained(port: u16, topic: &str, payload: &str, expiry: Option<u32>) {
    let mut args: Vec<String> =
        ["-h", "127.0.0.1", "-p", &port.to_string(), "-V", "mqttv5", "-q", "1", "-r"].map(String::from).to_vec();
    args.extend(["-t", topic, "-m", payload].map(String::from));
    for (k, v) in [("a", "2"), ("c", "3")] {
        args.extend(["-D", "publish", "user-property", k, v].map(String::from));
    }
    args.extend(["-D", "publish", "content-type", "text/x-test"].map(String::from));
    if let Some(secs) = expiry {
        args.extend(["-D", "publish", "message-expiry-interval", &secs.to_string()].map(String::from));
    }
    let out = std::process::Command::new("mosquitto_pub").args(&args).output().expect("mosquitto_pub runs");
    assert!(out.status.success(), "mosquitto_pub: {}", String::from_utf8_lossy(&out.stderr));
}

/// What a new MQTT 5 subscription to `filter` receives within 3 s: a line
/// per message, `topic|retain|user properties|content type|payload`.
fn subscribe_v5(port: u16, filter: &str) -> Vec<String> {
    let out = std::process::Command::new("mosquitto_sub")
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-V", "mqttv5", "-q", "1", "-t", filter, "-W", "3"])
        .args(["-F", "%t|%r|%P|%C|%p"])
        .output()
        .expect("mosquitto_sub runs");
    let mut lines: Vec<String> = String::from_utf8_lossy(&out.stdout).lines().map(String::from).collect();
    lines.sort();
    lines
}

/// MQTT 5: a retained message reaches a new subscription with the
/// properties it was published with (user properties in order, content
/// type), and one whose expiry interval has passed is not delivered.
fn retained_properties(broker: &mut Broker) {
    publish_v5_retained(broker.port, "rp/kept", "with properties", None);
    publish_v5_retained(broker.port, "rp/brief", "expires", Some(1));
    std::thread::sleep(Duration::from_millis(2200));
    assert_eq!(subscribe_v5(broker.port, "rp/#"), ["rp/kept|1|a:2 c:3|text/x-test|with properties"]);
}

/// With the store, a retained message's MQTT 5 properties survive a
/// restart with it; a retained message replaced without properties comes
/// without the old ones; an empty payload deletes both.
fn retained_properties_across_restart(broker: &mut Broker) {
    publish_v5_retained(broker.port, "rr/kept", "with properties", None);
    publish_v5_retained(broker.port, "rr/replaced", "old", None);
    let (mut p, _) = RawClient::connect(broker.port, "rr-pub", clean());
    p.publish("rr/replaced", b"new, plain", 1, true);
    p.disconnect();
    broker.restart();
    assert_eq!(
        subscribe_v5(broker.port, "rr/#"),
        ["rr/kept|1|a:2 c:3|text/x-test|with properties", "rr/replaced|1|||new, plain"]
    );
    let (mut p, _) = RawClient::connect(broker.port, "rr-pub", clean());
    p.publish("rr/kept", b"", 1, true);
    p.disconnect();
    assert_eq!(subscribe_v5(broker.port, "rr/#"), ["rr/replaced|1|||new, plain"]);
}

/// A client that reconnects as soon as it disconnected, as devices on a
/// flaky link do, is taken over every time, clean session or not: never
/// refused because its previous connection was still ending.
fn quick_reconnects(broker: &mut Broker) {
    for i in 0..200 {
        let c = if i % 2 == 0 { clean() } else { persistent() };
        match RawClient::try_connect(broker.port, "qr-client", &c) {
            Ok((client, _)) => client.disconnect(),
            Err(code) => panic!("reconnect {i} refused with CONNACK code {code}"),
        }
    }
}

/// A clean session ends with its connection even when the client id
/// connects again at once, asking to resume: the new session is not
/// present and holds none of the clean one's subscriptions (MQTT-3.1.2-6).
fn quick_resume_after_clean_session(broker: &mut Broker) {
    let (mut p, _) = RawClient::connect(broker.port, "qc-pub", clean());
    for i in 0..20 {
        let (mut c, _) = RawClient::connect(broker.port, "qc-client", clean());
        c.subscribe(&[("qc/t", 1)]);
        c.disconnect();
        let (mut c, present) = RawClient::connect(broker.port, "qc-client", persistent());
        assert!(!present, "round {i}: the clean session was handed on as present");
        p.publish("qc/t", format!("m{i}").as_bytes(), 1, false);
        let got = c.collect(Duration::from_millis(150));
        assert!(got.is_empty(), "round {i}: the clean session's subscription carried over: {got:?}");
        c.disconnect();
        // Its own session is persistent: end it, so the next round starts clean.
        let (c, _) = RawClient::connect(broker.port, "qc-client", clean());
        c.disconnect();
    }
    p.disconnect();
}

/// What a client sent before it disconnected is processed even when it
/// reconnects at once: the new connection takes the client id over only
/// after the old one has read what was already on its socket. Here each
/// connection publishes at QoS 0, sends DISCONNECT and the next one follows
/// straight away; every message reaches the subscriber.
fn quick_reconnects_keep_what_was_sent(broker: &mut Broker) {
    let (mut sub, _) = RawClient::connect(broker.port, "qk-sub", clean());
    sub.subscribe(&[("qk/t", 0)]);
    let sent: Vec<String> = (0..100).map(|i| format!("m{i}")).collect();
    for payload in &sent {
        let (mut c, _) = RawClient::connect(broker.port, "qk-client", clean());
        c.publish("qk/t", payload.as_bytes(), 0, false);
        c.disconnect();
    }
    let mut got = Vec::new();
    let deadline = std::time::Instant::now() + SOON;
    while got.len() < sent.len() && std::time::Instant::now() < deadline {
        got.extend(payloads(&sub.collect(Duration::from_millis(200))));
    }
    assert_eq!(got, sent, "messages sent before a quick reconnect were lost");
    sub.disconnect();
}

/// An MQTT 5 client (paho-mqtt, Debian's): connects with clean start 0 and
/// `expiry` as its session expiry interval, subscribes to `subscribe` at
/// QoS 1 if given, collects messages for `listen` seconds, disconnects.
/// Returns the CONNACK's session present flag and the payloads received.
fn session_v5(port: u16, client_id: &str, expiry: u32, subscribe: Option<&str>, listen: f64) -> (bool, Vec<String>) {
    const SCRIPT: &str = r#"
import sys, time, json
import paho.mqtt.client as mqtt
from paho.mqtt.properties import Properties
from paho.mqtt.packettypes import PacketTypes
port, cid, expiry, topic, listen = int(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4], float(sys.argv[5])
got, state = [], {}
c = mqtt.Client(client_id=cid, protocol=mqtt.MQTTv5)
c.on_connect = lambda c, u, flags, rc, p=None: state.update(present=bool(flags.get("session present")), rc=str(rc))
c.on_subscribe = lambda c, u, mid, rcs, p=None: state.update(subscribed=True)
c.on_message = lambda c, u, m: got.append(m.payload.decode())
props = Properties(PacketTypes.CONNECT)
props.SessionExpiryInterval = expiry
c.connect("127.0.0.1", port, keepalive=30, clean_start=False, properties=props)
c.loop_start()
deadline = time.time() + 10
while "rc" not in state and time.time() < deadline:
    time.sleep(0.01)
if topic:
    c.subscribe(topic, qos=1)
    while "subscribed" not in state and time.time() < deadline:
        time.sleep(0.01)
time.sleep(listen)
c.disconnect()
c.loop_stop()
print(json.dumps({"rc": state.get("rc"), "present": state.get("present"), "got": got}))
"#;
    let out = std::process::Command::new("/usr/bin/python3")
        .args([
            "-c",
            SCRIPT,
            &port.to_string(),
            client_id,
            &expiry.to_string(),
            subscribe.unwrap_or(""),
            &listen.to_string(),
        ])
        .output()
        .expect("/usr/bin/python3 runs (scripts/install-deps.sh installs python3-paho-mqtt)");
    let answer: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("the MQTT 5 client failed: {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(answer["rc"], "Success", "CONNACK: {answer}");
    let got = answer["got"].as_array().unwrap().iter().map(|v| v.as_str().unwrap().to_string()).collect();
    (answer["present"].as_bool().unwrap(), got)
}

/// An MQTT 5 session whose DISCONNECT sets its expiry to 0 ends there
/// [MQTT-3.1.2-23], even when the client id connects again at once asking
/// to resume: the CONNACK says session present 0 every time (paho v5, one
/// process, ten rounds, as Paho's `session_expiry` test does).
fn disconnect_with_expiry_zero_ends_the_session(broker: &mut Broker) {
    const SCRIPT: &str = r#"
import sys, time, json
import paho.mqtt.client as mqtt
from paho.mqtt.properties import Properties
from paho.mqtt.packettypes import PacketTypes
port, cid = int(sys.argv[1]), sys.argv[2]
state = {}
c = mqtt.Client(client_id=cid, protocol=mqtt.MQTTv5)
c.on_connect = lambda c, u, flags, rc, p=None: state.update(present=bool(flags.get("session present")), rc=str(rc))
c.on_subscribe = lambda c, u, mid, rcs, p=None: state.update(subscribed=True)
def connect():
    state.clear()
    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 60
    c.connect("127.0.0.1", port, keepalive=30, clean_start=False, properties=props)
    c.loop_start()
    deadline = time.time() + 10
    while "rc" not in state and time.time() < deadline:
        time.sleep(0.001)
    return state.get("present")
def disconnect_now():
    props = Properties(PacketTypes.DISCONNECT)
    props.SessionExpiryInterval = 0
    c.disconnect(properties=props)
    c.loop_stop()
flags = []
for i in range(10):
    connect()
    c.subscribe("dz/t", qos=1)
    deadline = time.time() + 10
    while "subscribed" not in state and time.time() < deadline:
        time.sleep(0.001)
    disconnect_now()
    flags.append(connect())
    disconnect_now()
print(json.dumps(flags))
"#;
    let out = std::process::Command::new("/usr/bin/python3")
        .args(["-c", SCRIPT, &broker.port.to_string(), "dz-client"])
        .output()
        .expect("/usr/bin/python3 runs");
    let flags: Vec<Option<bool>> = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|_| panic!("the MQTT 5 client failed: {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(flags, vec![Some(false); 10], "session present after a DISCONNECT that ended the session");
}

/// MQTT 5 session expiry [MQTT-3.1.2-23]: a session with an expiry
/// interval outlives its connection for that long, with its subscription
/// and the QoS 1 messages queued meanwhile; after it, the session is gone.
fn session_expiry_v5(broker: &mut Broker) {
    let (present, _) = session_v5(broker.port, "se-client", 2, Some("se/t"), 0.0);
    assert!(!present, "a new client id has no session");
    let (mut p, _) = RawClient::connect(broker.port, "se-pub", clean());
    p.publish("se/t", b"while away", 1, false);
    let (present, got) = session_v5(broker.port, "se-client", 2, None, 0.5);
    assert!(present, "the session is kept within its expiry interval");
    assert_eq!(got, ["while away"], "with what was queued for it");
    std::thread::sleep(Duration::from_millis(3500));
    p.publish("se/t", b"after expiry", 1, false);
    let (present, got) = session_v5(broker.port, "se-client", 2, None, 0.5);
    assert!(!present, "the session expired");
    assert!(got.is_empty(), "an expired session's subscription still delivered: {got:?}");
    p.disconnect();
}

/// With the store, an MQTT 5 session within its expiry interval survives
/// a broker restart with what was queued for it; one whose interval ran
/// out before the restart does not come back. The CONNACK says session
/// present for the restored one (rmqtt's MQTT 5 handshake takes the flag
/// from the takeover, which asks the store).
fn session_expiry_across_restart(broker: &mut Broker) {
    session_v5(broker.port, "sl-client", 600, Some("sl/t"), 0.0);
    session_v5(broker.port, "sb-client", 2, Some("sb/t"), 0.0);
    let (mut p, _) = RawClient::connect(broker.port, "sl-pub", clean());
    p.publish("sl/t", b"kept", 1, false);
    p.publish("sb/t", b"expires", 1, false);
    p.disconnect();
    std::thread::sleep(Duration::from_millis(3500));
    broker.restart();
    let (present, got) = session_v5(broker.port, "sl-client", 600, None, 0.5);
    assert!(present, "the MQTT 5 CONNACK says session present for a session restored from the store");
    assert_eq!(got, ["kept"], "a session within its expiry interval survives the restart");
    let (mut p, _) = RawClient::connect(broker.port, "sl-pub", clean());
    p.publish("sl/t", b"live", 1, false);
    p.disconnect();
    let (present, got) = session_v5(broker.port, "sl-client", 600, None, 0.5);
    assert!(present, "the restored session is the broker's now");
    assert_eq!(got, ["live"], "with its subscription");
    let (present, got) = session_v5(broker.port, "sb-client", 2, None, 0.5);
    assert!(!present, "a session that expired before the restart came back");
    assert!(got.is_empty(), "{got:?}");
}

macro_rules! mqtt_tests {
    ($config:ident: $($name:ident),* $(,)?) => {
        mod $config {
            $(
                /// The scenario of this name (its doc says what it proves), on this configuration.
                #[test]
                fn $name() {
                    let mut broker = super::$config();
                    super::$name(&mut broker);
                }
            )*
        }
    };
}

mqtt_tests!(no_store:
    clean_session_starts_empty,
    offline_message_queueing,
    unsubscribe,
    overlapping_subscriptions,
    keepalive_and_will,
    redelivery_on_reconnect,
    retained_messages,
    retained_properties,
    quick_reconnects,
    quick_resume_after_clean_session,
    quick_reconnects_keep_what_was_sent,
    session_expiry_v5,
    disconnect_with_expiry_zero_ends_the_session,
);

mqtt_tests!(default_store:
    clean_session_starts_empty,
    offline_message_queueing,
    unsubscribe,
    overlapping_subscriptions,
    keepalive_and_will,
    redelivery_on_reconnect,
    retained_messages,
    store_across_restart,
    persistent_session_across_restart,
    away_session_keeps_what_was_acknowledged,
    clean_session_after_restart,
    retained_properties,
    retained_properties_across_restart,
    quick_reconnects,
    quick_resume_after_clean_session,
    quick_reconnects_keep_what_was_sent,
    session_expiry_v5,
    disconnect_with_expiry_zero_ends_the_session,
    session_expiry_across_restart,
);
