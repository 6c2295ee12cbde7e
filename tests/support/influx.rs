//! The InfluxDB server the scripts start (`scripts/services.sh up influxdb`):
//! its HTTP API, UDP and `[[opentsdb]]` listeners, a look into what it
//! stored (`/query`), and two stand-ins of the tests' own: a TCP proxy that
//! can play a server gone away, and a tiny OpenTSDB responder.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value as Json;

fn port(var: &str, default: u16) -> u16 {
    std::env::var(var).ok().and_then(|p| p.parse().ok()).unwrap_or(default)
}

/// InfluxDB's HTTP port (`CISTERN_INFLUX_PORT`).
pub fn http_port() -> u16 {
    port("CISTERN_INFLUX_PORT", 18086)
}

/// InfluxDB's UDP port, writing into database `mqtt` (`CISTERN_INFLUX_UDP_PORT`).
pub fn udp_port() -> u16 {
    port("CISTERN_INFLUX_UDP_PORT", 18089)
}

/// The `[[opentsdb]]` listener, writing into database `opentsdb` (`CISTERN_OPENTSDB_PORT`).
pub fn opentsdb_port() -> u16 {
    port("CISTERN_OPENTSDB_PORT", 14242)
}

/// A name no other test or run uses.
pub fn unique(prefix: &str) -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("{prefix}_{}_{}", std::process::id(), nanos % 1_000_000_000)
}

/// Runs an InfluxQL statement; the answer's JSON.
pub async fn query(db: &str, q: &str) -> Json {
    let url = format!("http://127.0.0.1:{}/query", http_port());
    let answer = reqwest::Client::new()
        .post(url)
        .form(&[("db", db), ("q", q), ("epoch", "ns")])
        .send()
        .await
        .expect("InfluxDB answers /query (scripts/services.sh up influxdb)");
    serde_json::from_str(&answer.text().await.expect("an answer")).expect("a JSON answer")
}

/// A fresh database for one test.
pub async fn create_database(prefix: &str) -> String {
    let db = unique(prefix);
    query("", &format!("CREATE DATABASE {db}")).await;
    db
}

/// The rows of a query, each a map of column to value (one series assumed).
pub async fn rows(db: &str, q: &str) -> Vec<serde_json::Map<String, Json>> {
    let answer = query(db, q).await;
    let Some(series) = answer["results"][0]["series"].as_array() else { return Vec::new() };
    series_rows(series)
}

/// Waits until the query's rows satisfy `done`, and returns them.
pub async fn eventually(
    db: &str,
    q: &str,
    limit: Duration,
    done: impl Fn(&[serde_json::Map<String, Json>]) -> bool,
) -> Vec<serde_json::Map<String, Json>> {
    let started = Instant::now();
    loop {
        let r = rows(db, q).await;
        if done(&r) {
            return r;
        }
        assert!(started.elapsed() < limit, "{q} on {db}: still {r:?} after {limit:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A TCP proxy to a server; while down it closes every connection at
/// once, as a server that went away (its port answers nothing usable).
pub struct Proxy {
    pub port: u16,
    down: Arc<AtomicBool>,
    generation: Arc<Mutex<u64>>,
}

impl Proxy {
    pub fn start(target_port: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let down = Arc::new(AtomicBool::new(false));
        let generation = Arc::new(Mutex::new(0));
        let (d, g) = (down.clone(), generation.clone());
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                if d.load(Ordering::SeqCst) {
                    continue;
                }
                let Ok(server) = TcpStream::connect(("127.0.0.1", target_port)) else { continue };
                let born = *g.lock().unwrap();
                for (mut from, mut to) in [(client.try_clone().unwrap(), server.try_clone().unwrap()), (server, client)]
                {
                    let (d, g) = (d.clone(), g.clone());
                    from.set_read_timeout(Some(Duration::from_millis(100))).unwrap();
                    std::thread::spawn(move || {
                        let mut buf = [0u8; 16 * 1024];
                        loop {
                            if d.load(Ordering::SeqCst) || *g.lock().unwrap() != born {
                                let _ = from.shutdown(std::net::Shutdown::Both);
                                let _ = to.shutdown(std::net::Shutdown::Both);
                                return;
                            }
                            match from.read(&mut buf) {
                                Ok(0) => {
                                    let _ = to.shutdown(std::net::Shutdown::Write);
                                    return;
                                }
                                Ok(n) => {
                                    if to.write_all(&buf[..n]).is_err() {
                                        return;
                                    }
                                }
                                Err(e)
                                    if matches!(
                                        e.kind(),
                                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                                    ) => {}
                                Err(_) => return,
                            }
                        }
                    });
                }
            }
        });
        Proxy { port, down, generation }
    }

    /// The server goes away: open connections are cut, new ones closed.
    pub fn down(&self) {
        self.down.store(true, Ordering::SeqCst);
        *self.generation.lock().unwrap() += 1;
    }

    pub fn up(&self) {
        self.down.store(false, Ordering::SeqCst);
    }
}

/// A tiny HTTP server answering every request with `answer(path, body)`
/// (status and body); it keeps the paths and bodies it was sent.
pub struct Responder {
    pub port: u16,
    pub requests: Arc<Mutex<Vec<(String, String)>>>,
}

impl Responder {
    pub fn start(answer: impl Fn(&str, &str) -> (u16, String) + Send + Sync + 'static) -> Responder {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let (seen, answer) = (requests.clone(), Arc::new(answer));
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (seen, answer) = (seen.clone(), answer.clone());
                std::thread::spawn(move || serve(stream, &seen, &*answer));
            }
        });
        Responder { port, requests }
    }
}

fn serve(mut stream: TcpStream, seen: &Mutex<Vec<(String, String)>>, answer: &dyn Fn(&str, &str) -> (u16, String)) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        // One request at a time on a kept-alive connection.
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            match stream.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
        let length: usize = head
            .lines()
            .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().unwrap_or(0)))
            .unwrap_or(0);
        while buf.len() < head_end + length {
            match stream.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        let path = head.split_whitespace().nth(1).unwrap_or_default().to_string();
        let body = String::from_utf8_lossy(&buf[head_end..head_end + length]).to_string();
        buf.drain(..head_end + length);
        let (status, reply) = answer(&path, &body);
        seen.lock().unwrap().push((path, body));
        let text = format!(
            "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{reply}",
            reply.len()
        );
        if stream.write_all(text.as_bytes()).is_err() {
            return;
        }
    }
}

/// An InfluxDB of the test's own (`scripts/services/influxdb.sh` on its own
/// ports and data directory) whose HTTP API asks for credentials: `user`,
/// an admin with `password`. Stopped when dropped.
pub struct PrivateInflux {
    run_dir: tempfile::TempDir,
    pub http_port: u16,
    ports: [u16; 4],
    user: String,
    password: String,
}

impl PrivateInflux {
    pub fn start_with_admin(user: &str, password: &str) -> PrivateInflux {
        let ports = crate::broker::free_ports::<4>();
        let p = PrivateInflux {
            run_dir: tempfile::tempdir().unwrap(),
            http_port: ports[0],
            ports,
            user: user.into(),
            password: password.into(),
        };
        p.script("start");
        p
    }

    fn script(&self, action: &str) {
        let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/services/influxdb.sh");
        let [http, rpc, udp, tsdb] = self.ports.map(|p| p.to_string());
        let out = std::process::Command::new("bash")
            .arg(script)
            .arg(action)
            .env("CISTERN_RUN", self.run_dir.path())
            .envs([
                ("CISTERN_INFLUX_PORT", http),
                ("CISTERN_INFLUX_RPC_PORT", rpc),
                ("CISTERN_INFLUX_UDP_PORT", udp),
                ("CISTERN_OPENTSDB_PORT", tsdb),
            ])
            .env("CISTERN_INFLUX_ADMIN_USER", &self.user)
            .env("CISTERN_INFLUX_ADMIN_PASSWORD", &self.password)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        assert!(out.status.success(), "influxdb.sh {action}: {}", String::from_utf8_lossy(&out.stderr));
    }

    /// The rows of a query, asked with the admin's credentials.
    pub async fn rows(&self, db: &str, q: &str) -> Vec<serde_json::Map<String, Json>> {
        let answer = reqwest::Client::new()
            .post(format!("http://127.0.0.1:{}/query", self.http_port))
            .basic_auth(&self.user, Some(&self.password))
            .form(&[("db", db), ("q", q), ("epoch", "ns")])
            .send()
            .await
            .expect("the private InfluxDB answers /query");
        let answer: Json = serde_json::from_str(&answer.text().await.unwrap()).expect("a JSON answer");
        let Some(series) = answer["results"][0]["series"].as_array() else { return Vec::new() };
        series_rows(series)
    }
}

impl Drop for PrivateInflux {
    fn drop(&mut self) {
        self.script("stop");
    }
}

fn series_rows(series: &[Json]) -> Vec<serde_json::Map<String, Json>> {
    let mut out = Vec::new();
    for s in series {
        let columns: Vec<String> =
            s["columns"].as_array().unwrap().iter().map(|c| c.as_str().unwrap().to_string()).collect();
        for v in s["values"].as_array().unwrap() {
            out.push(columns.iter().cloned().zip(v.as_array().unwrap().iter().cloned()).collect());
        }
    }
    out
}
