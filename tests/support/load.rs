//! A steady load of real MQTT publishers (paho-mqtt, one client each) that
//! records which messages the broker acknowledged, for the fault tests:
//! what was acknowledged must be in the database, exactly once.

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Publishers with ids `{prefix}-{n}`, each sending QoS 1 messages with
/// payloads `{prefix}-{n}-{seq}` to `{topic}/{n}` at `rate` a second for `secs` seconds.
const SCRIPT: &str = r#"
import sys, threading, time
import paho.mqtt.client as mqtt
port, prefix, topic = int(sys.argv[1]), sys.argv[2], sys.argv[3]
clients, rate, secs = int(sys.argv[4]), float(sys.argv[5]), float(sys.argv[6])
out = threading.Lock()
def say(line):
    with out:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

def run(n):
    cid = "%s-%d" % (prefix, n)
    # paho calls on_publish holding its own lock, which publish() takes too:
    # never hold ours across publish(), or the two threads deadlock.
    lock = threading.Lock()
    pending = {}
    early = set()
    def on_publish(c, userdata, mid):
        with lock:
            payload = pending.pop(mid, None)
            if payload is None:
                early.add(mid)
        if payload is not None:
            say("ACK " + payload)
    c = mqtt.Client(client_id=cid, clean_session=False)
    c.max_inflight_messages_set(100)
    c.on_publish = on_publish
    c.connect("127.0.0.1", port, keepalive=30)
    c.loop_start()
    start = time.monotonic()
    seq = 0
    while time.monotonic() - start < secs:
        payload = "%s-%d" % (cid, seq)
        info = c.publish("%s/%d" % (topic, n), payload, qos=1)
        with lock:
            acked = info.mid in early
            if acked:
                early.discard(info.mid)
            else:
                pending[info.mid] = payload
        say("SENT " + payload)
        if acked:
            say("ACK " + payload)
        seq += 1
        next_at = start + seq / rate
        time.sleep(max(0.0, next_at - time.monotonic()))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with lock:
            if not pending:
                break
        time.sleep(0.1)
    c.disconnect()
    c.loop_stop()

threads = [threading.Thread(target=run, args=(n,)) for n in range(clients)]
for t in threads:
    t.start()
for t in threads:
    t.join()
say("DONE")
"#;

pub struct Load {
    child: Child,
    /// Each line the publishers printed, with when it arrived (since the start).
    lines: std::sync::mpsc::Receiver<(Duration, String)>,
    pub sent: BTreeSet<String>,
    pub acked: BTreeSet<String>,
    /// When each acknowledgement arrived, since the load started.
    pub ack_times: Vec<Duration>,
    /// The publishers said they are done.
    done: bool,
}

impl Load {
    /// Starts `clients` publishers at `rate` messages a second each, for `secs` seconds.
    pub fn start(port: u16, prefix: &str, topic: &str, clients: u32, rate: f64, secs: f64) -> Load {
        let mut child = Command::new("/usr/bin/python3")
            .args(["-u", "-c", SCRIPT, &port.to_string(), prefix, topic])
            .args([clients.to_string(), rate.to_string(), secs.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("/usr/bin/python3 runs (scripts/install-deps.sh installs python3-paho-mqtt)");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        let started = Instant::now();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send((started.elapsed(), line)).is_err() {
                    break;
                }
            }
        });
        Load { child, lines, sent: BTreeSet::new(), acked: BTreeSet::new(), ack_times: Vec::new(), done: false }
    }

    /// Takes in what the publishers said so far.
    pub fn poll(&mut self) {
        while let Ok((at, line)) = self.lines.try_recv() {
            self.take(at, line);
        }
    }

    fn take(&mut self, at: Duration, line: String) {
        if let Some(p) = line.strip_prefix("ACK ") {
            self.acked.insert(p.to_string());
            self.ack_times.push(at);
        } else if let Some(p) = line.strip_prefix("SENT ") {
            self.sent.insert(p.to_string());
        } else if line == "DONE" {
            self.done = true;
        }
    }

    /// Acknowledgements that arrived between `from` and `to` after the start.
    pub fn acks_between(&self, from: Duration, to: Duration) -> usize {
        self.ack_times.iter().filter(|t| **t >= from && **t < to).count()
    }

    /// Waits until every publisher is done (at most `limit`).
    pub fn finish(mut self, limit: Duration) -> Load {
        let deadline = Instant::now() + limit;
        while !self.done {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok((at, line)) => self.take(at, line),
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                    panic!("the publishers did not finish within {limit:?}")
                }
                Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                    panic!("the publishers exited without finishing")
                }
            }
        }
        let _ = self.child.wait();
        self
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
