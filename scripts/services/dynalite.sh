#!/usr/bin/env bash
# A private DynamoDB-API server (dynalite) for the tests, on 127.0.0.1 only.
#   scripts/services/dynalite.sh start   install if missing, start, wait until it answers ListTables
#   scripts/services/dynalite.sh stop    stop the server started here (by its PID file)
#   scripts/services/dynalite.sh status  exit 0 if running and answering, 3 if stopped, 1 if not answering
#   scripts/services/dynalite.sh env     print `export` lines for the tests
# Port: CISTERN_DYNAMO_PORT (default 18000). dynalite 4.0.0 (npm; LevelDB on
# disk) installed once into "$CISTERN_CACHE/tools/dynalite/" and run on
# Debian's node; tables are CREATING/DELETING/UPDATING for 0 ms. Data, log
# and PID file under "$CISTERN_RUN/dynalite/". DynamoDB Local is under its
# vendor's own licence: not used.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

VERSION=4.0.0
PORT=${CISTERN_DYNAMO_PORT:-18000}
DIR="$CISTERN_RUN/dynalite"
DATA="$DIR/data"
PIDFILE="$DIR/dynalite.pid"
LOG="$DIR/dynalite.log"
# The server runs as node through a link named `dynalite`, so that its
# command name (what pid_is checks) is `dynalite`, not any node's.
COMM=dynalite
TOOLS="$CISTERN_CACHE/tools/dynalite"
CLI="$TOOLS/node_modules/dynalite/cli.js"
STAMP="$TOOLS/installed-$VERSION"   # written once the npm install is complete
LAUNCHER="$TOOLS/bin/dynalite"

server_pid() { read_pid "$PIDFILE"; }
running() { pid_is "$(server_pid)" "$COMM"; }

# A DynamoDB ListTables call (dynalite checks the Authorization header's
# shape, not its signature).
answers() {
  local code
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 -X POST \
    -H 'Content-Type: application/x-amz-json-1.0' \
    -H 'X-Amz-Target: DynamoDB_20120810.ListTables' \
    -H 'X-Amz-Date: 20200101T000000Z' \
    -H 'Authorization: AWS4-HMAC-SHA256 Credential=cistern/20200101/us-east-1/dynamodb/aws4_request, SignedHeaders=host;x-amz-date;x-amz-target, Signature=0' \
    --data '{}' "http://127.0.0.1:$PORT/") || return 1
  [ "$code" = 200 ]
}

install() {
  local need=()
  command -v node >/dev/null 2>&1 || need+=(nodejs)
  command -v npm >/dev/null 2>&1 || need+=(npm)
  command -v curl >/dev/null 2>&1 || need+=(curl)
  ((${#need[@]} == 0)) || ensure_packages "${need[@]}"
  need_cmd node nodejs
  need_cmd npm npm
  need_cmd curl curl
  mkdir -p "$TOOLS/bin"
  # The link follows the node found now.
  ln -sfn "$(readlink -f "$(command -v node)")" "$LAUNCHER"
  [ -e "$STAMP" ] && [ -f "$CLI" ] && return 0
  say "installing dynalite $VERSION from npm into $TOOLS (once)"
  rm -f "$STAMP"
  if ! npm install --prefix "$TOOLS" --no-audit --no-fund --omit=dev --no-save \
      "dynalite@$VERSION" >"$TOOLS/npm.log" 2>&1; then
    show_log "$TOOLS/npm.log"
    die "npm install dynalite@$VERSION failed; log: $TOOLS/npm.log"
  fi
  [ -f "$CLI" ] || die "npm install gave no $CLI"
  touch "$STAMP"
}

start() {
  lock_service "$DIR"
  if running; then
    wait_ready "dynalite" "$LOG" server_pid answers
    say "dynalite already running (pid $(server_pid)) on 127.0.0.1:$PORT"
    return 0
  fi
  install
  check_port CISTERN_DYNAMO_PORT "$PORT"
  mkdir -p "$DATA"
  rm -f "$PIDFILE"
  say "starting dynalite $VERSION on 127.0.0.1:$PORT (log: $LOG)"
  # --host: without it dynalite listens on every interface.
  # setsid: its own session, so the caller's process group ending (a test
  # runner's timeout, a closed terminal) does not take the server down; it
  # execs, so $! is the server's own PID.
  (cd "$DIR" && exec setsid "$LAUNCHER" "$CLI" --host 127.0.0.1 --port "$PORT" --path "$DATA" \
     --createTableMs 0 --deleteTableMs 0 --updateTableMs 0) </dev/null >>"$LOG" 2>&1 9>&- &
  echo $! >"$PIDFILE"
  wait_ready "dynalite" "$LOG" server_pid answers
  say "dynalite ready (pid $(server_pid)) at http://127.0.0.1:$PORT"
}

stop() {
  stop_service "dynalite" TERM
}

status() { service_status dynalite; }

env_lines() {
  echo "export CISTERN_DYNAMO_PORT=$PORT"
  echo "export CISTERN_DYNAMO_URL=http://127.0.0.1:$PORT"
}

service_main "$@"
