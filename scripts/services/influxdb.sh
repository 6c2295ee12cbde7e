#!/usr/bin/env bash
# A private InfluxDB 1.x server for the tests, on 127.0.0.1 only; its
# [[opentsdb]] listener also serves the OpenTSDB ingest API (telnet `put`
# and HTTP POST /api/put).
#   scripts/services/influxdb.sh start   install if missing, start, wait for /ping, create databases mqtt and opentsdb
#   scripts/services/influxdb.sh stop    stop the server started here (by its PID file)
#   scripts/services/influxdb.sh status  exit 0 if running and answering, 3 if stopped, 1 if not answering
#   scripts/services/influxdb.sh env     print `export` lines for the tests
# Ports: CISTERN_INFLUX_PORT (HTTP API, default 18086), CISTERN_INFLUX_RPC_PORT
# (backup/restore RPC, default 18088), CISTERN_INFLUX_UDP_PORT (UDP line
# protocol into database mqtt, default 18089), CISTERN_OPENTSDB_PORT (OpenTSDB
# telnet and HTTP into database opentsdb, default 14242).
# With CISTERN_INFLUX_ADMIN_USER and CISTERN_INFLUX_ADMIN_PASSWORD set, the
# HTTP API asks for credentials (auth-enabled) and that admin is created.
# Debian's `influxdb` (1.6; influxd only, no `influx` client), kept from
# starting as a system service when installed; run with a config this script
# writes. Meta, data, WAL, config, log and PID file under "$CISTERN_RUN/influxdb/".
set -euo pipefail
source "$(dirname "$0")/lib.sh"

PORT=${CISTERN_INFLUX_PORT:-18086}
RPC_PORT=${CISTERN_INFLUX_RPC_PORT:-18088}
UDP_PORT=${CISTERN_INFLUX_UDP_PORT:-18089}
OPENTSDB_PORT=${CISTERN_OPENTSDB_PORT:-14242}
DIR="$CISTERN_RUN/influxdb"
CONF="$DIR/influxdb.conf"
PIDFILE="$DIR/influxdb.pid"
LOG="$DIR/influxdb.log"
COMM=influxd
ADMIN_USER=${CISTERN_INFLUX_ADMIN_USER:-}
ADMIN_PASSWORD=${CISTERN_INFLUX_ADMIN_PASSWORD:-}
AUTH=false
[ -n "$ADMIN_USER" ] && AUTH=true

server_pid() { read_pid "$PIDFILE"; }
running() { pid_is "$(server_pid)" "$COMM"; }
answers() {
  [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$PORT/ping")" = 204 ]
}

install() {
  local need=()
  command -v influxd >/dev/null 2>&1 || need+=(influxdb)
  command -v curl >/dev/null 2>&1 || need+=(curl)
  ((${#need[@]} == 0)) || ensure_packages "${need[@]}"
  need_cmd influxd influxdb
  need_cmd curl curl
}

write_config() {
  mkdir -p "$DIR/meta" "$DIR/data" "$DIR/wal"
  cat >"$CONF" <<EOF
# Written by cistern scripts/services/influxdb.sh at each start.
# Debian's influxd spells it reporting-enabled (upstream's 1.x says
# reporting-disabled); it ignores unknown keys without a word.
reporting-enabled = false
bind-address = "127.0.0.1:$RPC_PORT"

[meta]
  dir = "$DIR/meta"

[data]
  dir = "$DIR/data"
  wal-dir = "$DIR/wal"
  query-log-enabled = false

[monitor]
  store-enabled = false

[http]
  enabled = true
  bind-address = "127.0.0.1:$PORT"
  auth-enabled = $AUTH

[[udp]]
  enabled = true
  bind-address = "127.0.0.1:$UDP_PORT"
  database = "mqtt"

[[opentsdb]]
  enabled = true
  bind-address = "127.0.0.1:$OPENTSDB_PORT"
  database = "opentsdb"
EOF
}

# HTTP /api/put on the opentsdb port answers 500 "database not found" until
# its database exists (telnet and UDP writes create theirs; HTTP does not).
influx_query() {
  local credentials=()
  $AUTH && credentials=(-u "$ADMIN_USER:$ADMIN_PASSWORD")
  curl -sS --max-time 10 "${credentials[@]}" -XPOST "http://127.0.0.1:$PORT/query" --data-urlencode "q=$1" 2>&1
}

create_databases() {
  local db out
  if $AUTH; then
    # Allowed without credentials while no admin exists; the same statement
    # again, with them, once it does (a restart).
    out=$(influx_query "CREATE USER \"$ADMIN_USER\" WITH PASSWORD '$ADMIN_PASSWORD' WITH ALL PRIVILEGES") &&
      [[ $out != *'"error"'* ]] || die "creating InfluxDB admin $ADMIN_USER failed: $out; server log: $LOG"
  fi
  for db in mqtt opentsdb; do
    if ! out=$(influx_query "CREATE DATABASE \"$db\"") || [[ $out == *'"error"'* ]]; then
      printf '%s\n' "$out" >&2
      die "creating InfluxDB database $db failed; server log: $LOG"
    fi
  done
}

start() {
  lock_service "$DIR"
  if running; then
    wait_ready "InfluxDB" "$LOG" server_pid answers
    create_databases
    say "InfluxDB already running (pid $(server_pid)) on 127.0.0.1:$PORT"
    return 0
  fi
  install
  check_port CISTERN_INFLUX_PORT "$PORT"
  check_port CISTERN_INFLUX_RPC_PORT "$RPC_PORT"
  check_port CISTERN_OPENTSDB_PORT "$OPENTSDB_PORT"
  write_config
  rm -f "$PIDFILE"
  say "starting InfluxDB on 127.0.0.1:$PORT (UDP $UDP_PORT, OpenTSDB $OPENTSDB_PORT; log: $LOG)"
  # setsid: its own session, so the caller's process group ending (a test
  # runner's timeout, a closed terminal) does not take the server down; it
  # execs, so $! is the server's own PID.
  (cd "$DIR" && exec setsid influxd run -config "$CONF") </dev/null >>"$LOG" 2>&1 9>&- &
  echo $! >"$PIDFILE"
  wait_ready "InfluxDB" "$LOG" server_pid answers
  create_databases
  say "InfluxDB ready (pid $(server_pid)) at http://127.0.0.1:$PORT (OpenTSDB at http://127.0.0.1:$OPENTSDB_PORT)"
}

stop() {
  stop_service "InfluxDB" TERM
}

status() { service_status influxdb; }

env_lines() {
  echo "export CISTERN_INFLUX_PORT=$PORT"
  echo "export CISTERN_INFLUX_URL=http://127.0.0.1:$PORT"
  echo "export CISTERN_INFLUX_UDP_PORT=$UDP_PORT"
  echo "export CISTERN_OPENTSDB_PORT=$OPENTSDB_PORT"
  echo "export CISTERN_OPENTSDB_URL=http://127.0.0.1:$OPENTSDB_PORT"
}

service_main "$@"
