#!/usr/bin/env bash
# A private PostgreSQL server for the tests, on 127.0.0.1 only.
#   scripts/services/postgres.sh start   install if missing, initdb, start, wait, ensure role and database
#   scripts/services/postgres.sh stop    fast shutdown of the server started here (PID from its postmaster.pid)
#   scripts/services/postgres.sh status  exit 0 if running and answering, 3 if stopped, 1 if not answering
#   scripts/services/postgres.sh env     print `export` lines for the tests
# Port: CISTERN_PG_PORT (default 15432). Cluster, log and socket under
# "$CISTERN_RUN/postgres/"; not Debian's cluster (pg_ctlcluster) nor systemd.
# PostgreSQL refuses to run as root, so when run as root the server runs as
# CISTERN_PG_USER (default: Debian's `postgres` account), which owns the
# cluster; the directories above it are made traversable (o+x) for it.
# Role cistern/cistern (superuser: the tests' admin, which creates databases
# and imports schemas) owning database mqtt; role cistern_app/cistern_app
# (LOGIN and nothing else: each test database grants it what cistern needs,
# see README.md "Least privilege"), the login the tests' brokers use.
# Password (scram) authentication over TCP, trust over the private Unix socket.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

PORT=${CISTERN_PG_PORT:-15432}
DIR="$CISTERN_RUN/postgres"
DATA="$DIR/data"
SOCKDIR="$DIR/sock"
LOG="$DIR/postgres.log"
PIDFILE="$DATA/postmaster.pid"   # written by postgres itself; first line is its PID
INITIALIZED="$DIR/initialized"
COMM=postgres
PG_USER=${CISTERN_PG_USER:-postgres}

server_pid() { read_pid "$PIDFILE"; }
running() { pid_is "$(server_pid)" "$COMM"; }

bindir() {
  if [ -n "${CISTERN_PG_BINDIR:-}" ]; then echo "$CISTERN_PG_BINDIR"; return; fi
  if [ -x /usr/lib/postgresql/15/bin/postgres ]; then echo /usr/lib/postgresql/15/bin; return; fi
  # Any other installed major version, the newest first.
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [ -n "$d" ] && [ -x "$d/postgres" ] || die "no PostgreSQL server binaries under /usr/lib/postgresql/*/bin"
  echo "$d"
}

# Run a command as the server's user (root cannot run initdb or postgres).
# setpriv execs, so a PID taken of it is the command's own.
as_pg_prefix() {
  RUNAS=()
  [ "$(id -u)" -eq 0 ] || return 0
  RUNAS=(setpriv --reuid="$PG_USER" --regid="$(id -g "$PG_USER")" --init-groups --)
}
as_pg() { as_pg_prefix; "${RUNAS[@]}" "$@"; }

answers() {
  PGCONNECT_TIMEOUT=2 PGPASSWORD=cistern psql -X -q -w -h 127.0.0.1 -p "$PORT" -U cistern -d mqtt \
    -tAc 'select 1' >/dev/null 2>&1
}
ready_socket() { "$BIN/pg_isready" -q -h "$SOCKDIR" -p "$PORT" -U postgres -d postgres; }
super_sql() {
  psql -X -q -w -v ON_ERROR_STOP=1 -h "$SOCKDIR" -p "$PORT" -U postgres -d postgres -tAc "$1"
}

install() {
  if ! ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 || ! command -v psql >/dev/null 2>&1; then
    ensure_packages postgresql postgresql-client
  fi
  BIN=$(bindir)
  need_cmd psql postgresql-client
  [ -x "$BIN/initdb" ] && [ -x "$BIN/pg_isready" ] || die "initdb/pg_isready missing in $BIN"
  if [ "$(id -u)" -eq 0 ]; then
    id "$PG_USER" >/dev/null 2>&1 || die "user $PG_USER (to run PostgreSQL as) does not exist; the Debian package postgresql creates it, or set CISTERN_PG_USER"
  else
    PG_USER=$(id -un)
  fi
}

# The server's user must be able to reach $DIR: add o+x to each directory
# above it that it cannot traverse (e.g. /root, mode 700), and say so.
make_traversable() {
  [ "$(id -u)" -eq 0 ] || return 0
  local d=$DIR parents=()
  while [ "$d" != / ]; do d=$(dirname "$d"); parents=("$d" "${parents[@]}"); done
  for d in "${parents[@]}"; do
    if ! setpriv --reuid="$PG_USER" --regid="$(id -g "$PG_USER")" --clear-groups test -x "$d" 2>/dev/null; then
      say "chmod o+x $d (so that $PG_USER can reach $DIR)"
      chmod o+x "$d"
    fi
  done
}

init_cluster() {
  mkdir -p "$DIR"
  chmod 755 "$DIR"
  make_traversable
  mkdir -p "$SOCKDIR"
  chown "$PG_USER:" "$SOCKDIR"
  [ -e "$INITIALIZED" ] && [ -s "$DATA/PG_VERSION" ] && return 0
  rm -rf "$DATA" "$INITIALIZED"
  mkdir -p "$DATA"
  chown "$PG_USER:" "$DATA"
  chmod 700 "$DATA"
  say "initializing PostgreSQL cluster $DATA (as $PG_USER)"
  if ! (cd / && as_pg "$BIN/initdb" -D "$DATA" -U postgres --encoding=UTF8 --locale=C \
      --auth-local=trust --auth-host=scram-sha-256 >"$DIR/initdb.log" 2>&1); then
    show_log "$DIR/initdb.log"
    die "initdb failed (as $PG_USER into $DATA); log: $DIR/initdb.log"
  fi
  touch "$INITIALIZED"
}

ensure_role_and_db() {
  local out
  if ! out=$(super_sql "DO \$\$ BEGIN
      IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'cistern') THEN
        CREATE ROLE cistern LOGIN SUPERUSER CREATEDB PASSWORD 'cistern';
      ELSE
        ALTER ROLE cistern LOGIN SUPERUSER CREATEDB PASSWORD 'cistern';
      END IF;
      IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'cistern_app') THEN
        CREATE ROLE cistern_app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
          PASSWORD 'cistern_app';
      ELSE
        ALTER ROLE cistern_app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS
          PASSWORD 'cistern_app';
      END IF;
    END \$\$;" 2>&1) ||
     ! out=$(super_sql "SELECT 1 FROM pg_database WHERE datname = 'mqtt'" 2>&1); then
    printf '%s\n' "$out" >&2
    die "creating PostgreSQL roles cistern, cistern_app failed (as postgres over $SOCKDIR); server log: $LOG"
  fi
  if [ "$out" != 1 ] && ! out=$(super_sql "CREATE DATABASE mqtt OWNER cistern" 2>&1); then
    printf '%s\n' "$out" >&2
    die "creating PostgreSQL database mqtt failed; server log: $LOG"
  fi
}

start() {
  lock_service "$DIR"
  if running; then
    BIN=$(bindir)
    wait_ready "PostgreSQL" "$LOG" server_pid ready_socket
    ensure_role_and_db
    answers || die "PostgreSQL (pid $(server_pid)) is running but not answering on 127.0.0.1:$PORT (started with another CISTERN_PG_PORT?); run '$0 stop' first; log: $LOG"
    say "PostgreSQL already running (pid $(server_pid)) on 127.0.0.1:$PORT"
    return 0
  fi
  install
  check_port CISTERN_PG_PORT "$PORT"
  check_socket_path "$SOCKDIR/.s.PGSQL.$PORT"
  init_cluster
  # A postmaster.pid left by a crash is removed by postgres itself when its
  # PID is dead; one whose PID was reused would block the start, so drop it.
  rm -f "$PIDFILE"
  say "starting PostgreSQL on 127.0.0.1:$PORT (log: $LOG)"
  # setsid: its own session, so the caller's process group ending (a test
  # runner's timeout, a closed terminal) does not take the server down.
  as_pg_prefix
  (cd / && exec setsid "${RUNAS[@]}" "$BIN/postgres" -D "$DATA" -p "$PORT" -k "$SOCKDIR" \
     -c listen_addresses=127.0.0.1 -c max_connections=200) </dev/null >>"$LOG" 2>&1 9>&- &
  local launched=$!
  launched_pid() { local p; p=$(server_pid); echo "${p:-$launched}"; }
  wait_ready "PostgreSQL" "$LOG" launched_pid ready_socket
  ensure_role_and_db
  answers || { show_log "$LOG"; die "PostgreSQL answers on $SOCKDIR but not to cistern over TCP 127.0.0.1:$PORT; log: $LOG"; }
  say "PostgreSQL ready (pid $(server_pid)) at postgres://cistern:cistern@127.0.0.1:$PORT/mqtt"
}

stop() {
  # SIGINT is PostgreSQL's fast shutdown (what `pg_ctl stop -m fast` sends).
  stop_service "PostgreSQL" INT
}

status() { service_status postgres; }

env_lines() {
  echo "export CISTERN_PG_PORT=$PORT"
  echo "export CISTERN_PG_URL=postgres://cistern:cistern@127.0.0.1:$PORT/mqtt"
}

service_main "$@"
