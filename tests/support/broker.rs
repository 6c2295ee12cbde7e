//! A cistern broker process for one test.

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// How long a broker may take to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// For configurations whose guests take long to compile (the JavaScript and
/// Python examples: 13 and 18 MB of wasm) on a loaded machine.
pub const SLOW_START_TIMEOUT: Duration = Duration::from_secs(300);

pub struct Broker {
    child: Option<Child>,
    pub port: u16,
    pub http_port: u16,
    pub dir: tempfile::TempDir,
    bin: PathBuf,
    config: PathBuf,
    /// How long a start may take before the broker listens.
    start_timeout: Duration,
}

/// The CPU time process `pid` (`self` for this one) has used so far, user
/// and system, all its threads, from `/proc/<pid>/stat`, in clock ticks of
/// 10 ms; `None` where that cannot be read.
pub fn process_cpu_time(pid: &str) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    // utime and stime, fields 14 and 15 of proc(5); what follows the name starts at field 3.
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(Duration::from_millis(ticks * 10))
}

/// A port nobody listens on now.
pub fn free_port() -> u16 {
    free_ports::<1>()[0]
}

/// `N` distinct ports nobody listens on now (held together while chosen, so
/// they differ). They come from below Linux's ephemeral range (32768 and up),
/// so the clients' own connections do not take them before the broker binds.
pub fn free_ports<const N: usize>() -> [u16; N] {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let seed = std::process::id().wrapping_mul(7919)
        ^ std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
    let mut held: Vec<TcpListener> = Vec::new();
    while held.len() < N {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = 20000 + (seed.wrapping_add(n.wrapping_mul(104_729)) % 12000) as u16;
        if let Ok(l) = TcpListener::bind(("127.0.0.1", port)) {
            held.push(l);
        }
    }
    std::array::from_fn(|i| held[i].local_addr().expect("bound").port())
}

impl Broker {
    /// Writes `config` (with `{port}`, `{http_port}` and `{dir}` filled in)
    /// into a fresh directory and starts `bin` on it.
    pub fn start(bin: &str, config: &str) -> Broker {
        Broker::start_within(bin, config, START_TIMEOUT)
    }

    /// [`Broker::start`], waiting up to `limit` for the broker to listen.
    pub fn start_within(bin: &str, config: &str, limit: Duration) -> Broker {
        let dir = tempfile::tempdir().expect("a temp dir");
        let path = dir.path().join("cistern.conf");
        let mut broker = Broker {
            child: None,
            port: 0,
            http_port: 0,
            dir,
            bin: PathBuf::from(bin),
            config: path,
            start_timeout: limit,
        };
        for attempt in 1.. {
            let [port, http_port] = free_ports();
            (broker.port, broker.http_port) = (port, http_port);
            let _ = std::fs::remove_file(broker.log_path());
            std::fs::write(&broker.config, fill(config, port, http_port, broker.dir.path())).expect("config written");
            match broker.spawn() {
                Ok(()) => break,
                // Another process took a port between choosing and binding: choose again.
                Err(log) if attempt < 5 && log.contains("Address already in use") => {}
                Err(log) => panic!("cistern did not start:\n{log}"),
            }
        }
        broker
    }

    /// Starts a broker in its directory; the log, if it did not come up.
    fn spawn(&mut self) -> Result<(), String> {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.log_path()).expect("log file");
        let child = Command::new(&self.bin)
            .arg("--config")
            .arg(&self.config)
            .env("CISTERN_LOG", "info,cistern=debug,rmqtt=warn")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("cistern starts");
        self.child = Some(child);
        let started = Instant::now();
        loop {
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return Ok(());
            }
            if let Some(status) = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten()) {
                self.child = None;
                return Err(format!("cistern exited with {status} before listening:\n{}", self.log()));
            }
            if started.elapsed() > self.start_timeout {
                return Err(format!("cistern did not listen within {:?}:\n{}", self.start_timeout, self.log()));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("cistern.log")
    }

    /// Everything the broker logged so far.
    pub fn log(&self) -> String {
        let mut text = String::new();
        if let Ok(mut f) = std::fs::File::open(self.log_path()) {
            let _ = f.read_to_string(&mut text);
        }
        text
    }

    pub fn config_path(&self) -> &Path {
        &self.config
    }

    /// Stops the broker (SIGKILL: nothing it has not yet stored may survive).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Kills the broker and starts it again on the same configuration and store.
    pub fn restart(&mut self) {
        self.kill();
        if let Err(log) = self.spawn() {
            panic!("cistern did not restart:\n{log}");
        }
    }

    /// The CPU time the broker's process has used so far (user and system,
    /// all its threads), from `/proc`; `None` where that cannot be read.
    pub fn cpu_time(&self) -> Option<Duration> {
        process_cpu_time(&self.child.as_ref()?.id().to_string())
    }

    /// Whether the process is still running.
    pub fn is_running(&mut self) -> bool {
        self.child.as_mut().is_some_and(|c| c.try_wait().ok().flatten().is_none())
    }

    /// `GET path` on the broker's HTTP listener (when the config sets one).
    pub fn http_get(&self, path: &str) -> String {
        use std::io::Write;
        let mut s = TcpStream::connect(("127.0.0.1", self.http_port)).expect("HTTP listener");
        s.write_all(format!("GET {path} HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n\r\n").as_bytes()).unwrap();
        let mut body = String::new();
        s.read_to_string(&mut body).unwrap();
        body
    }

    /// The value of a counter or a whole gauge in `/metrics` (0 when absent).
    pub fn metric(&self, name_and_labels: &str) -> u64 {
        self.metric_f64(name_and_labels) as u64
    }

    /// The value of a metric in `/metrics` (0 when absent).
    pub fn metric_f64(&self, name_and_labels: &str) -> f64 {
        self.http_get("/metrics")
            .lines()
            .find_map(|l| {
                l.strip_prefix(name_and_labels).and_then(|v| v.strip_prefix(' ')).map(|v| v.trim().parse().unwrap())
            })
            .unwrap_or(0.0)
    }

    /// Stops the broker as an operator would (SIGTERM) and waits for it to
    /// exit, at most `limit`; its exit status, or `None` if it did not exit.
    pub fn terminate(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let child = self.child.as_mut()?;
        let _ = Command::new("kill").arg("-TERM").arg(child.id().to_string()).status();
        let started = Instant::now();
        while started.elapsed() < limit {
            if let Ok(Some(status)) = child.try_wait() {
                self.child = None;
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }

    /// Starts the broker again on the same configuration and store, after a
    /// [`Broker::terminate`] or [`Broker::kill`].
    pub fn start_again(&mut self) {
        assert!(self.child.is_none(), "the broker is running");
        if let Err(log) = self.spawn() {
            panic!("cistern did not start again:\n{log}");
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.kill();
        if std::thread::panicking() {
            let log = self.log();
            let tail: Vec<&str> = log.lines().rev().take(80).collect();
            eprintln!("--- the last lines cistern logged ---");
            for line in tail.iter().rev() {
                eprintln!("{line}");
            }
        }
    }
}

fn fill(config: &str, port: u16, http_port: u16, dir: &Path) -> String {
    config
        .replace("{port}", &port.to_string())
        .replace("{http_port}", &http_port.to_string())
        .replace("{dir}", &dir.display().to_string())
}

/// Runs `bin --check --config FILE` on `config` written to `file_name` in a
/// fresh directory; returns what the process did.
pub fn check_config(bin: &str, file_name: &str, config: &str) -> (Output, PathBuf, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("a temp dir");
    let path = dir.path().join(file_name);
    let [port, http_port] = free_ports();
    std::fs::write(&path, fill(config, port, http_port, dir.path())).unwrap();
    let out = Command::new(bin)
        .arg("--check")
        .arg("--config")
        .arg(&path)
        .env("NO_COLOR", "1")
        .output()
        .expect("cistern runs");
    (out, path, dir)
}

/// Asserts that `bin --check` refuses `config` (written as `bad.conf`) with
/// a message naming the file and `line`, and saying `words`.
pub fn assert_refused(bin: &str, what: &str, config: &str, line: usize, words: &str) {
    let (out, path, _dir) = check_config(bin, "bad.conf", config);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{what}: accepted\n{config}");
    let at = format!("{}:{line}:", path.display());
    assert!(stderr.contains(&at), "{what}: the message does not name {at}\n{stderr}");
    assert!(stderr.contains(words), "{what}: the message does not say {words:?}\n{stderr}");
}
