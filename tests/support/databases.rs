//! Fresh databases on the real MySQL (MariaDB) and PostgreSQL servers that
//! `scripts/services.sh` runs, one per test, created and filled the way the
//! README tells users to: the `mysql` and `psql` clients importing the
//! schema files in `sql/`, as the admin login `cistern`. The broker connects
//! as `cistern_app`, a login with no privileges of its own, which each
//! database grants only what cistern needs (README.md, "Least privilege").

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// A schema file: a name in the repository's `sql/` folder (`pgsql.sql`), or
/// a path from the repository's root (`tests/fixtures/seed-pgsql.sql`).
pub fn schema(file: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    if file.contains('/') {
        root.join(file)
    } else {
        root.join("sql").join(file)
    }
}

/// The seed's MySQL tables, verbatim (EMQX 4's own, with nothing mended).
pub const SEED_MYSQL: &str = "tests/fixtures/seed-mysql.sql";
/// The seed's PostgreSQL tables, verbatim: no `node` in `mqtt_msg` and `mqtt_retain`, a text payload.
pub const SEED_PGSQL: &str = "tests/fixtures/seed-pgsql.sql";

fn env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!(
            "{name} is not set: run the tests with scripts/test.sh, which starts the database servers, \
             or start them with `scripts/services.sh up` and `eval \"$(scripts/services.sh env)\"`"
        )
    })
}

/// A name no other test uses.
fn unique(prefix: &str) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_micros();
    format!("{prefix}_{}_{}_{}", std::process::id(), t % 1_000_000_000, N.fetch_add(1, Ordering::Relaxed))
}

fn run(cmd: &mut Command, what: &str) {
    let out = cmd.stdin(Stdio::null()).output().unwrap_or_else(|e| panic!("{what}: {e}"));
    assert!(out.status.success(), "{what} failed: {}", String::from_utf8_lossy(&out.stderr));
}

/// The login the broker uses: created by `scripts/services/mariadb.sh` and
/// `postgres.sh` with no privileges; each [`TestDb`] grants it what cistern needs.
pub const APP_USER: &str = "cistern_app";
pub const APP_PASSWORD: &str = "cistern_app";

/// A database made for one test, dropped when the test ends.
pub struct TestDb {
    pub name: String,
    pub port: u16,
    /// The admin login (`cistern`): creates the database, imports schemas,
    /// and is what the harness's own connections ([`TestDb::url`], `Store`) use.
    pub user: String,
    pub password: String,
    /// The broker's login (`cistern_app`), in [`TestDb::pool_config`]:
    /// SELECT, INSERT, UPDATE and DELETE on this database's tables (and on
    /// PostgreSQL what reaching them takes), nothing more.
    pub app_user: String,
    pub app_password: String,
    pub kind: Kind,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Mysql,
    Postgres,
}

impl TestDb {
    /// A MySQL database with `sql/mysql.sql` imported as `mysql ... db < sql/mysql.sql`.
    pub fn mysql() -> TestDb {
        TestDb::mysql_with(&["mysql.sql"])
    }

    /// A MySQL database with the given schema files imported (see [`schema`]).
    pub fn mysql_with(files: &[&str]) -> TestDb {
        let db = TestDb {
            name: unique("cistern"),
            port: env("CISTERN_MYSQL_PORT").parse().unwrap(),
            user: "cistern".into(),
            password: "cistern".into(),
            app_user: APP_USER.into(),
            app_password: APP_PASSWORD.into(),
            kind: Kind::Mysql,
        };
        run(db.mysql_cli().arg("-e").arg(format!("create database `{}`", db.name)), "create database");
        for f in files {
            db.import(f);
        }
        db.grant_app();
        db
    }

    /// A PostgreSQL database with `sql/pgsql.sql` imported (what `\i sql/pgsql.sql` does).
    pub fn postgres() -> TestDb {
        TestDb::postgres_with(&["pgsql.sql"])
    }

    /// A PostgreSQL database with the given schema files imported.
    pub fn postgres_with(files: &[&str]) -> TestDb {
        TestDb::postgres_on(env("CISTERN_PG_PORT").parse().unwrap(), files)
    }

    /// A database on the PostgreSQL server at `port`.
    pub fn postgres_on(port: u16, files: &[&str]) -> TestDb {
        let db = TestDb {
            name: unique("cistern"),
            port,
            user: "cistern".into(),
            password: "cistern".into(),
            app_user: APP_USER.into(),
            app_password: APP_PASSWORD.into(),
            kind: Kind::Postgres,
        };
        run(db.psql_cli("postgres").arg("-c").arg(format!("create database \"{}\"", db.name)), "createdb");
        for f in files {
            db.import(f);
        }
        db.grant_app();
        db
    }

    /// Grants the broker's login what cistern needs on this database, the
    /// statements README.md's "Least privilege" section shows: reading and
    /// writing rows, no DDL. On PostgreSQL also for tables (and sequences)
    /// the admin creates later (a test's own tables, [`TestDb::import`]),
    /// and nobody else may connect.
    fn grant_app(&self) {
        let (db, app) = (&self.name, &self.app_user);
        match self.kind {
            Kind::Mysql => run(
                self.mysql_cli().arg("-e").arg(format!(
                    "GRANT SELECT, INSERT, UPDATE, DELETE ON `{db}`.* TO '{app}'@'127.0.0.1', '{app}'@'localhost'"
                )),
                "granting the app login",
            ),
            Kind::Postgres => run(
                self.psql_cli(db).arg("-c").arg(format!(
                    "REVOKE ALL ON DATABASE \"{db}\" FROM PUBLIC;
                     GRANT CONNECT ON DATABASE \"{db}\" TO {app};
                     REVOKE CREATE ON SCHEMA public FROM PUBLIC;
                     GRANT USAGE ON SCHEMA public TO {app};
                     GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {app};
                     GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {app};
                     ALTER DEFAULT PRIVILEGES FOR ROLE {admin} IN SCHEMA public
                       GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {app};
                     ALTER DEFAULT PRIVILEGES FOR ROLE {admin} IN SCHEMA public
                       GRANT USAGE, SELECT ON SEQUENCES TO {app};",
                    admin = self.user
                )),
                "granting the app login",
            ),
        }
    }

    /// Imports a schema file (see [`schema`]) the way the README says to.
    pub fn import(&self, file: &str) {
        let path = schema(file);
        match self.kind {
            Kind::Mysql => {
                let f = std::fs::File::open(&path).unwrap();
                let mut cmd = self.mysql_cli();
                cmd.arg(&self.name);
                let out = cmd.stdin(f).output().unwrap();
                assert!(out.status.success(), "importing {file}: {}", String::from_utf8_lossy(&out.stderr));
            }
            Kind::Postgres => run(
                self.psql_cli(&self.name).arg("-c").arg(format!("\\i {}", path.display())),
                &format!("importing {file}"),
            ),
        }
    }

    fn mysql_cli(&self) -> Command {
        let mut c = Command::new("mysql");
        c.args(["-h", "127.0.0.1", "-P", &self.port.to_string(), "-u", &self.user]).arg(format!("-p{}", self.password));
        c
    }

    fn psql_cli(&self, database: &str) -> Command {
        let mut c = Command::new("psql");
        c.arg(format!("postgres://{}:{}@127.0.0.1:{}/{database}", self.user, self.password, self.port)).args([
            "-v",
            "ON_ERROR_STOP=1",
            "-q",
        ]);
        c
    }

    /// The URL the harness's own sqlx connections use (as the admin).
    pub fn url(&self) -> String {
        match self.kind {
            Kind::Mysql => format!("mysql://{}:{}@127.0.0.1:{}/{}", self.user, self.password, self.port, self.name),
            Kind::Postgres => {
                format!("postgres://{}:{}@127.0.0.1:{}/{}", self.user, self.password, self.port, self.name)
            }
        }
    }

    /// The `backend.<db>.<pool>.*` lines for a pool of 4 connections on this
    /// database, as the broker's login.
    pub fn pool_config(&self, backend: &str, pool: &str) -> String {
        self.pool_config_sized(backend, pool, 4)
    }

    /// The `backend.<db>.<pool>.*` lines for a pool of `size` connections on
    /// this database, as the broker's login.
    pub fn pool_config_sized(&self, backend: &str, pool: &str, size: u32) -> String {
        self.pool_config_as(backend, pool, size, &self.app_user, &self.app_password)
    }

    /// The `backend.<db>.<pool>.*` lines for a pool that logs in as the admin,
    /// for a test that needs the broker to do what cistern itself never
    /// needs to (no test does today).
    pub fn admin_pool_config(&self, backend: &str, pool: &str) -> String {
        self.pool_config_as(backend, pool, 4, &self.user, &self.password)
    }

    fn pool_config_as(&self, backend: &str, pool: &str, size: u32, user: &str, password: &str) -> String {
        let user_key = if self.kind == Kind::Mysql { "user" } else { "username" };
        format!(
            "backend.{backend}.{pool}.server = 127.0.0.1:{}\nbackend.{backend}.{pool}.{user_key} = {user}\n\
             backend.{backend}.{pool}.password = {password}\nbackend.{backend}.{pool}.database = {}\nbackend.{backend}.{pool}.pool_size = {size}\n",
            self.port, self.name
        )
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let _ = match self.kind {
            // MySQL keeps a database's grants when it is dropped: revoke them too.
            Kind::Mysql => self
                .mysql_cli()
                .arg("-e")
                .arg(format!(
                    "drop database if exists `{db}`; \
                     revoke all privileges on `{db}`.* from '{app}'@'127.0.0.1', '{app}'@'localhost'",
                    db = self.name,
                    app = self.app_user
                ))
                .output(),
            Kind::Postgres => self
                .psql_cli("postgres")
                .arg("-c")
                .arg(format!("drop database if exists \"{}\" with (force)", self.name))
                .output(),
        };
    }
}

/// A PostgreSQL server of a test's own (on its own port and data
/// directory), so the test can stop and start it without disturbing others.
pub struct PrivateServer {
    run_dir: tempfile::TempDir,
    pub port: u16,
}

impl PrivateServer {
    pub fn postgres() -> PrivateServer {
        let run_dir = tempfile::tempdir().unwrap();
        let [port] = crate::broker::free_ports();
        let s = PrivateServer { run_dir, port };
        s.start();
        s
    }

    fn script(&self, action: &str) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/services/postgres.sh");
        let out = Command::new("bash")
            .arg(script)
            .arg(action)
            .env("CISTERN_RUN", self.run_dir.path())
            .env("CISTERN_PG_PORT", self.port.to_string())
            .stdin(Stdio::null())
            .output()
            .unwrap();
        assert!(out.status.success(), "postgres.sh {action}: {}", String::from_utf8_lossy(&out.stderr));
    }

    pub fn start(&self) {
        self.script("start");
    }

    pub fn stop(&self) {
        self.script("stop");
    }

    /// Hangs the server (SIGSTOP to it and every process it started): it
    /// keeps its connections open and answers nothing.
    pub fn hang(&self) {
        self.signal_all("-STOP");
    }

    /// Lets a hung server go on (SIGCONT).
    pub fn resume(&self) {
        self.signal_all("-CONT");
    }

    fn signal_all(&self, signal: &str) {
        let pidfile = self.run_dir.path().join("postgres/data/postmaster.pid");
        let text = std::fs::read_to_string(&pidfile).expect("postmaster.pid");
        let main: u32 = text.lines().next().unwrap().trim().parse().unwrap();
        let mut pids = vec![main];
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else { continue };
            let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else { continue };
            // The parent's PID is the second field after the command's closing parenthesis.
            let after = &stat[stat.rfind(')').unwrap() + 2..];
            if after.split(' ').nth(1).and_then(|p| p.parse::<u32>().ok()) == Some(main) {
                pids.push(pid);
            }
        }
        let status = Command::new("kill").arg(signal).args(pids.iter().map(|p| p.to_string())).status().unwrap();
        assert!(status.success(), "kill {signal} {pids:?}");
    }

    /// A fresh database on this server with the given schema files imported.
    pub fn database(&self, files: &[&str]) -> TestDb {
        TestDb::postgres_on(self.port, files)
    }
}

impl Drop for PrivateServer {
    fn drop(&mut self) {
        self.script("stop");
    }
}
