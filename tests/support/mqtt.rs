//! Real MQTT clients: `mosquitto_sub` and `mosquitto_pub` from Debian's
//! mosquitto-clients, driven as processes.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

/// A message a subscriber printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    pub topic: String,
    pub retained: bool,
    pub qos: u8,
    pub payload: String,
}

#[derive(Debug, Clone)]
pub struct SubscriberOptions {
    pub client_id: String,
    pub topics: Vec<String>,
    pub qos: u8,
    /// `-c`: keep the session when disconnected (clean session off).
    pub persistent: bool,
    /// `-C`: exit after this many messages.
    pub count: Option<usize>,
    /// `-W`: exit after this many seconds.
    pub timeout_secs: u64,
}

impl SubscriberOptions {
    pub fn new(client_id: &str, topic: &str) -> Self {
        SubscriberOptions {
            client_id: client_id.into(),
            topics: vec![topic.into()],
            qos: 1,
            persistent: false,
            count: None,
            timeout_secs: 10,
        }
    }

    pub fn persistent(mut self) -> Self {
        self.persistent = true;
        self
    }

    pub fn count(mut self, n: usize) -> Self {
        self.count = Some(n);
        self
    }

    pub fn timeout(mut self, secs: u64) -> Self {
        self.timeout_secs = secs;
        self
    }
}

/// A running `mosquitto_sub`.
pub struct Subscriber {
    child: Child,
    lines: Receiver<String>,
    subscribed: bool,
    received: Vec<Received>,
    /// Every line the client printed, for the message of a failed test.
    transcript: Vec<String>,
}

const MARK: &str = "MSG\t";

impl Subscriber {
    /// Starts `mosquitto_sub` and waits until the broker acknowledged its
    /// subscriptions, or (a resumed session) has already delivered to it.
    pub fn start(port: u16, o: &SubscriberOptions) -> Subscriber {
        Subscriber::start_with(port, o, &[])
    }

    /// [`Subscriber::start`] with more `mosquitto_sub` arguments.
    pub fn start_with(port: u16, o: &SubscriberOptions, extra: &[&str]) -> Subscriber {
        // Line-buffered, so each line arrives as it is printed, not when a pipe buffer fills.
        let mut cmd = Command::new("stdbuf");
        cmd.args([
            "-oL",
            "mosquitto_sub",
            "-h",
            "127.0.0.1",
            "-p",
            &port.to_string(),
            "-i",
            &o.client_id,
            "-q",
            &o.qos.to_string(),
            "-d",
        ])
        .args(["-F", "MSG\t%t\t%r\t%q\t%p"])
        .args(["-W", &o.timeout_secs.to_string()]);
        for t in &o.topics {
            cmd.args(["-t", t]);
        }
        if o.persistent {
            cmd.arg("-c");
        }
        if let Some(n) = o.count {
            cmd.args(["-C", &n.to_string()]);
        }
        cmd.args(extra);
        let mut child = cmd.stdout(Stdio::piped()).stderr(Stdio::null()).spawn().expect("mosquitto_sub runs");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let mut s = Subscriber { child, lines, subscribed: false, received: Vec::new(), transcript: Vec::new() };
        s.wait_until(Duration::from_secs(15), |s| s.subscribed || !s.received.is_empty());
        assert!(
            s.subscribed || !s.received.is_empty(),
            "mosquitto_sub {} got no SUBACK; it printed:\n{}",
            o.client_id,
            s.transcript.join("\n")
        );
        s
    }

    fn take_line(&mut self, line: String) {
        self.transcript.push(line.clone());
        if let Some(rest) = line.strip_prefix(MARK) {
            let mut f = rest.splitn(4, '\t');
            let topic = f.next().unwrap_or_default().to_string();
            let retained = f.next() == Some("1");
            let qos = f.next().and_then(|q| q.parse().ok()).unwrap_or(0);
            let payload = f.next().unwrap_or_default().to_string();
            self.received.push(Received { topic, retained, qos, payload });
        } else if line.contains("received SUBACK") {
            self.subscribed = true;
        }
    }

    fn wait_until(&mut self, limit: Duration, done: impl Fn(&Self) -> bool) {
        let started = Instant::now();
        while !done(self) {
            let left = limit.saturating_sub(started.elapsed());
            match self.lines.recv_timeout(left) {
                Ok(line) => self.take_line(line),
                Err(RecvTimeoutError::Timeout) | Err(RecvTimeoutError::Disconnected) => return,
            }
        }
    }

    /// Waits up to `limit` for `n` messages in all; returns what came.
    pub fn expect(&mut self, n: usize, limit: Duration) -> Vec<Received> {
        self.wait_until(limit, |s| s.received.len() >= n);
        self.received.clone()
    }

    /// Collects whatever arrives within `span`.
    pub fn collect_for(&mut self, span: Duration) -> Vec<Received> {
        let started = Instant::now();
        while let Some(left) = span.checked_sub(started.elapsed()) {
            match self.lines.recv_timeout(left) {
                Ok(line) => self.take_line(line),
                Err(_) => break,
            }
        }
        self.received.clone()
    }

    /// Waits for the process to exit by itself (after `-C` or `-W`); returns all it received.
    pub fn finish(mut self) -> Vec<Received> {
        let _ = self.child.wait();
        while let Ok(line) = self.lines.recv_timeout(Duration::from_millis(500)) {
            self.take_line(line);
        }
        self.received.clone()
    }

    /// Disconnects at once (the client process is killed; no DISCONNECT is sent).
    pub fn kill(mut self) -> Vec<Received> {
        let _ = self.child.kill();
        let _ = self.child.wait();
        while let Ok(line) = self.lines.try_recv() {
            self.take_line(line);
        }
        self.received.clone()
    }
}

impl Drop for Subscriber {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Publishes one message with `mosquitto_pub` and waits for it to finish
/// (for QoS 1 and 2, until the broker acknowledged it).
///
/// A refusal with "server unavailable" (MQTT's transient CONNACK code 3) is
/// retried, as MQTT clients do: rmqtt gives it when a client id reconnects
/// while its previous session is still closing, which tests that publish
/// with one id in a tight loop, on a loaded machine, can meet.
pub fn publish(port: u16, client_id: &str, topic: &str, payload: &[u8], qos: u8, retain: bool) {
    let mut attempt = 0;
    loop {
        attempt += 1;
        match try_publish(port, client_id, topic, payload, qos, retain) {
            Ok(()) => return,
            Err(e) if attempt < 5 && e.contains("unavailable") => std::thread::sleep(Duration::from_millis(100)),
            Err(e) => panic!("mosquitto_pub failed: {e}"),
        }
    }
}

fn try_publish(port: u16, client_id: &str, topic: &str, payload: &[u8], qos: u8, retain: bool) -> Result<(), String> {
    let mut cmd = Command::new("mosquitto_pub");
    cmd.args(["-h", "127.0.0.1", "-p", &port.to_string(), "-i", client_id, "-q", &qos.to_string(), "-t", topic]);
    if retain {
        cmd.arg("-r");
    }
    if payload.is_empty() {
        cmd.arg("-n");
    } else {
        cmd.arg("-s");
    }
    let mut child =
        cmd.stdin(Stdio::piped()).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().expect("mosquitto_pub runs");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(payload).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    if out.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// Publishes one message with paho-mqtt (Debian's python3-paho-mqtt): unlike
/// mosquitto_pub, it sends a client id or topic holding control characters
/// (`\r\n`) as it is. Waits until the broker acknowledged a QoS 1 or 2 message.
pub fn publish_paho(port: u16, client_id: &str, topic: &str, payload: &[u8], qos: u8) {
    const SCRIPT: &str = r#"
import sys
import paho.mqtt.client as mqtt
port, client_id, topic, qos = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4])
payload = sys.stdin.buffer.read()
c = mqtt.Client(client_id=client_id, clean_session=True)
c.connect("127.0.0.1", port)
c.loop_start()
sent = c.publish(topic, payload, qos=qos)
sent.wait_for_publish(timeout=10)
ok = sent.is_published()
c.disconnect()
c.loop_stop()
sys.exit(0 if ok else 3)
"#;
    // Debian's interpreter, which has Debian's paho (a pyenv shim may come first on PATH).
    let mut child = Command::new("/usr/bin/python3")
        .args(["-c", SCRIPT, &port.to_string(), client_id, topic, &qos.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("/usr/bin/python3 runs (scripts/install-deps.sh installs python3-paho-mqtt)");
    {
        use std::io::Write;
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(payload).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "paho publish failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr));
}

/// Publishes `count` QoS 1 messages of `size` bytes to `topic` with
/// paho-mqtt, from `clients` connections at once, and waits until the broker
/// acknowledged every one. Message `i` (from 0) starts with `{i:08}` and is
/// padded with `x`; connection `c` sends the messages with `i % clients == c`,
/// in order, so each connection's are stored in order, and all of them in
/// the order of `i` only when `clients` is 1.
pub fn publish_many(port: u16, prefix: &str, topic: &str, count: usize, size: usize, clients: usize) {
    const SCRIPT: &str = r#"
import sys, threading
import paho.mqtt.client as mqtt
port, prefix, topic = int(sys.argv[1]), sys.argv[2], sys.argv[3]
count, size, clients = int(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6])
failed = []
def run(n):
    c = mqtt.Client(client_id="%s-%d" % (prefix, n), clean_session=True)
    c.max_inflight_messages_set(64)
    c.connect("127.0.0.1", port, keepalive=60)
    c.loop_start()
    sent = []
    for i in range(n, count, clients):
        head = "%08d" % i
        sent.append(c.publish(topic, head + "x" * max(0, size - len(head)), qos=1))
    for s in sent:
        s.wait_for_publish(timeout=120)
        if not s.is_published():
            failed.append(s.mid)
    c.disconnect()
    c.loop_stop()
threads = [threading.Thread(target=run, args=(n,)) for n in range(clients)]
for t in threads: t.start()
for t in threads: t.join()
sys.exit(3 if failed else 0)
"#;
    let out = Command::new("/usr/bin/python3")
        .args(["-c", SCRIPT, &port.to_string(), prefix, topic])
        .args([count.to_string(), size.to_string(), clients.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .output()
        .expect("/usr/bin/python3 runs (scripts/install-deps.sh installs python3-paho-mqtt)");
    assert!(out.status.success(), "paho publishes failed ({}): {}", out.status, String::from_utf8_lossy(&out.stderr));
}

/// Publishes a backlog of `count` QoS 1 messages of `size` bytes on `topic`
/// from one connection (see [`publish_many`]), then asserts that a new
/// subscriber `client` gets all of it from the store: every message once,
/// in the order published, and nothing more.
pub fn backlog_arrives_whole(port: u16, topic: &str, client: &str, count: usize, size: usize) {
    publish_many(port, &format!("{client}-pub"), topic, count, size, 1);
    let mut sub = Subscriber::start(port, &SubscriberOptions::new(client, topic).timeout(300));
    let got = sub.expect(count, Duration::from_secs(120));
    let heads: Vec<String> = got.iter().map(|r| r.payload.chars().take(8).collect()).collect();
    let sent: Vec<String> = (0..count).map(|i| format!("{i:08}")).collect();
    assert_eq!(heads.len(), count, "the whole backlog on {topic} arrives");
    if let Some(at) = heads.iter().zip(&sent).position(|(got, want)| got != want) {
        let around = &heads[at.saturating_sub(3)..(at + 5).min(heads.len())];
        panic!(
            "{topic}: not in order, once each: message {at} is {}, not {} (around it: {around:?})",
            heads[at], sent[at]
        );
    }
    assert!(got.iter().all(|r| r.payload.len() == size), "{topic}: each payload whole");
    assert_eq!(sub.collect_for(Duration::from_secs(2)).len(), count, "nothing more after the backlog on {topic}");
}
