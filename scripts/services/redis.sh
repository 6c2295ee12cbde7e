#!/usr/bin/env bash
# A private Redis server for the tests, on 127.0.0.1 only.
#   scripts/services/redis.sh start   install if missing, start, wait until it answers PING
#   scripts/services/redis.sh stop    stop the server started here (by its PID file)
#   scripts/services/redis.sh status  exit 0 if running and answering, 3 if stopped, 1 if not answering
#   scripts/services/redis.sh env     print `export` lines for the tests
# Port: CISTERN_REDIS_PORT (default 16379). Working dir, log and PID file
# under "$CISTERN_RUN/redis/". No persistence (--save "" --appendonly no).
# Also installs redis-sentinel (not started here) for Sentinel tests.
# The default user (no password, every command) is the tests' admin; ACL user
# cistern_app/cistern_app may run only what cistern sends (README.md, "Least
# privilege"): set with ACL SETUSER on every start, so a server started before
# this user existed gets it too.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

PORT=${CISTERN_REDIS_PORT:-16379}
DIR="$CISTERN_RUN/redis"
PIDFILE="$DIR/redis.pid"
LOG="$DIR/redis.log"
COMM=redis-server

server_pid() { read_pid "$PIDFILE"; }
running() { pid_is "$(server_pid)" "$COMM"; }
answers() { [ "$(redis-cli -h 127.0.0.1 -p "$PORT" ping 2>/dev/null)" = PONG ]; }

# What cistern sends: the data commands its stock guests, the guest SDK and raw
# `commands` actions may use (host/src/backends/redis/policy.rs), and, from the
# host, SELECT (a pool's `database`), PING, MULTI/EXEC (atomic pipelines),
# SUBSCRIBE (a pool's `channel`), CLIENT SETINFO (redis-rs, on connecting) and
# ROLE (behind Sentinel). No server administration, no KEYS/FLUSHDB/SORT/...
# (@dangerous), no scripts.
APP_ACL=(on '>cistern_app' '~*' '&*' -@all +@read +@write +@transaction +@connection +@pubsub
  -@dangerous -@admin -@scripting +time +role)

ensure_app_user() {
  local out
  if ! out=$(redis-cli -h 127.0.0.1 -p "$PORT" ACL SETUSER cistern_app reset "${APP_ACL[@]}" 2>&1) || [ "$out" != OK ]; then
    printf '%s\n' "$out" >&2
    die "creating Redis ACL user cistern_app failed; log: $LOG"
  fi
}

install() {
  ensure_packages redis-server redis-tools redis-sentinel
  need_cmd redis-server redis-server
  need_cmd redis-cli redis-tools
  need_cmd redis-sentinel redis-sentinel
}

start() {
  lock_service "$DIR"
  if running; then
    wait_ready "Redis" "$LOG" server_pid answers
    ensure_app_user
    say "Redis already running (pid $(server_pid)) on 127.0.0.1:$PORT"
    return 0
  fi
  install
  check_port CISTERN_REDIS_PORT "$PORT"
  rm -f "$PIDFILE"
  say "starting Redis on 127.0.0.1:$PORT (log: $LOG)"
  # No config file: Debian's /etc/redis/redis.conf does not apply.
  # --daemonize yes: redis forks into its own session and writes the PID file.
  if ! (cd "$DIR" && redis-server --port "$PORT" --bind 127.0.0.1 --protected-mode yes \
      --save "" --appendonly no --daemonize yes --databases 32 \
      --pidfile "$PIDFILE" --logfile "$LOG" --dir "$DIR") </dev/null >>"$LOG" 2>&1 9>&-; then
    show_log "$LOG"
    die "redis-server failed to start; log: $LOG"
  fi
  wait_ready "Redis" "$LOG" server_pid answers
  ensure_app_user
  say "Redis ready (pid $(server_pid)) at redis://127.0.0.1:$PORT/"
}

stop() {
  stop_service "Redis" TERM
}

status() { service_status redis; }

env_lines() {
  echo "export CISTERN_REDIS_PORT=$PORT"
  echo "export CISTERN_REDIS_URL=redis://127.0.0.1:$PORT/"
}

service_main "$@"
