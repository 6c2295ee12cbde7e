#!/usr/bin/env bash
# A private MariaDB server for the tests, on 127.0.0.1 only.
#   scripts/services/mariadb.sh start   install if missing, start, wait, ensure user and database
#   scripts/services/mariadb.sh stop    stop the server started here (by its PID file)
#   scripts/services/mariadb.sh status  exit 0 if running and answering, 3 if stopped, 1 if not answering
#   scripts/services/mariadb.sh env     print `export` lines for the tests
# Port: CISTERN_MYSQL_PORT (default 13306). Data, log, socket and PID file
# under "$CISTERN_RUN/mariadb/". Not systemd's server, nor its datadir: the
# server runs as root (--user=root) with --no-defaults, so no /etc/mysql
# setting applies. User cistern/cistern (all privileges: the tests' admin,
# which creates databases and imports schemas) and database mqtt; user
# cistern_app/cistern_app (no privileges of its own: each test database grants
# it what cistern needs, see README.md "Least privilege"), the login the
# tests' brokers use.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

PORT=${CISTERN_MYSQL_PORT:-13306}
DIR="$CISTERN_RUN/mariadb"
DATA="$DIR/data"
SOCK="$DIR/mariadb.sock"
PIDFILE="$DIR/mariadb.pid"
LOG="$DIR/mariadb.log"
INITIALIZED="$DIR/initialized"   # written once the datadir is complete
COMM=mariadbd

server_pid() { read_pid "$PIDFILE"; }
running() { pid_is "$(server_pid)" "$COMM"; }
answers() {
  mariadb-admin --no-defaults --protocol=tcp -h127.0.0.1 -P"$PORT" \
    --connect-timeout=2 -ucistern -pcistern ping >/dev/null 2>&1
}
root_sql() {
  mariadb --no-defaults --protocol=socket --socket="$SOCK" -uroot --batch -e "$1"
}
ping_socket() {
  mariadb-admin --no-defaults --protocol=socket --socket="$SOCK" --connect-timeout=2 -uroot ping
}

install() {
  ensure_packages mariadb-server mariadb-client
  need_cmd mariadbd mariadb-server
  need_cmd mariadb-install-db mariadb-server
  need_cmd mariadb-admin mariadb-client
  need_cmd mariadb mariadb-client
}

init_datadir() {
  [ -e "$INITIALIZED" ] && [ -d "$DATA/mysql" ] && return 0
  # A datadir without the marker is from an interrupted init: ours to redo.
  rm -rf "$DATA" "$INITIALIZED"
  mkdir -p "$DATA"
  say "initializing MariaDB datadir $DATA"
  if ! mariadb-install-db --no-defaults --user=root --datadir="$DATA" \
      --auth-root-authentication-method=normal --skip-test-db >"$DIR/install-db.log" 2>&1; then
    show_log "$DIR/install-db.log"
    die "mariadb-install-db failed; log: $DIR/install-db.log"
  fi
  touch "$INITIALIZED"
}

ensure_user_and_db() {
  local sql="
    CREATE USER IF NOT EXISTS 'cistern'@'127.0.0.1' IDENTIFIED BY 'cistern';
    CREATE USER IF NOT EXISTS 'cistern'@'localhost' IDENTIFIED BY 'cistern';
    ALTER USER 'cistern'@'127.0.0.1' IDENTIFIED BY 'cistern';
    ALTER USER 'cistern'@'localhost' IDENTIFIED BY 'cistern';
    GRANT ALL PRIVILEGES ON *.* TO 'cistern'@'127.0.0.1' WITH GRANT OPTION;
    GRANT ALL PRIVILEGES ON *.* TO 'cistern'@'localhost' WITH GRANT OPTION;
    CREATE USER IF NOT EXISTS 'cistern_app'@'127.0.0.1' IDENTIFIED BY 'cistern_app';
    CREATE USER IF NOT EXISTS 'cistern_app'@'localhost' IDENTIFIED BY 'cistern_app';
    ALTER USER 'cistern_app'@'127.0.0.1' IDENTIFIED BY 'cistern_app';
    ALTER USER 'cistern_app'@'localhost' IDENTIFIED BY 'cistern_app';
    REVOKE ALL PRIVILEGES ON *.* FROM 'cistern_app'@'127.0.0.1', 'cistern_app'@'localhost';
    CREATE DATABASE IF NOT EXISTS mqtt;
    FLUSH PRIVILEGES;"
  local out
  if ! out=$(root_sql "$sql" 2>&1); then
    printf '%s\n' "$out" >&2
    die "creating MariaDB users cistern, cistern_app / database mqtt failed (as root over $SOCK); server log: $LOG"
  fi
}

start() {
  lock_service "$DIR"
  if running; then
    wait_ready "MariaDB" "$LOG" server_pid ping_socket
    ensure_user_and_db
    answers || die "MariaDB (pid $(server_pid)) is running but not answering on 127.0.0.1:$PORT (started with another CISTERN_MYSQL_PORT?); run '$0 stop' first; log: $LOG"
    say "MariaDB already running (pid $(server_pid)) on 127.0.0.1:$PORT"
    return 0
  fi
  install
  check_port CISTERN_MYSQL_PORT "$PORT"
  check_socket_path "$SOCK"
  init_datadir
  rm -f "$PIDFILE" "$SOCK" "$SOCK.lock"
  say "starting MariaDB on 127.0.0.1:$PORT (log: $LOG)"
  # setsid: its own session, so the caller's process group ending (a test
  # runner's timeout, a closed terminal) does not take the server down.
  setsid mariadbd --no-defaults --user=root --datadir="$DATA" \
    --port="$PORT" --bind-address=127.0.0.1 --skip-name-resolve \
    --socket="$SOCK" --pid-file="$PIDFILE" \
    --innodb-buffer-pool-size=64M --max-connections=500 \
    --character-set-server=utf8mb4 --collation-server=utf8mb4_unicode_ci \
    </dev/null >>"$LOG" 2>&1 9>&- &
  local launched=$!
  launched_pid() { local p; p=$(server_pid); echo "${p:-$launched}"; }
  wait_ready "MariaDB" "$LOG" launched_pid ping_socket
  ensure_user_and_db
  answers || { show_log "$LOG"; die "MariaDB answers on $SOCK but not to cistern over TCP 127.0.0.1:$PORT; log: $LOG"; }
  say "MariaDB ready (pid $(server_pid)) at mysql://cistern:cistern@127.0.0.1:$PORT/mqtt"
}

stop() {
  stop_service "MariaDB" TERM
}

status() { service_status mariadb; }

env_lines() {
  echo "export CISTERN_MYSQL_PORT=$PORT"
  echo "export CISTERN_MYSQL_URL=mysql://cistern:cistern@127.0.0.1:$PORT/mqtt"
}

service_main "$@"
