#!/usr/bin/env bash
# A private FerretDB server (MongoDB wire protocol) for the tests, on 127.0.0.1 only.
#   scripts/services/ferretdb.sh start   install if missing, start, wait until it answers a ping
#   scripts/services/ferretdb.sh stop    stop the server started here (by its PID file)
#   scripts/services/ferretdb.sh status  exit 0 if running and answering, 3 if stopped, 1 if not answering
#   scripts/services/ferretdb.sh env     print `export` lines for the tests
# Port: CISTERN_MONGO_PORT (default 17017). FerretDB v1.24.2 with its SQLite
# handler; data, state, log and PID file under "$CISTERN_RUN/ferretdb/".
# MongoDB itself is in no registry reached here. FerretDB is built once from
# the Go module proxy into "$CISTERN_CACHE/tools/ferretdb/" (a few minutes):
# `go install ...@v1.24.2` would build a binary that panics, because the
# module lacks its generated build/version/version.txt, so the module is
# copied, that file written, and `go build ./cmd/ferretdb` run in the copy.
# Needs a Go toolchain as new as FerretDB's go.mod asks (Debian's is too old).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

VERSION=v1.24.2
PORT=${CISTERN_MONGO_PORT:-17017}
DIR="$CISTERN_RUN/ferretdb"
DATA="$DIR/data"
PIDFILE="$DIR/ferretdb.pid"
LOG="$DIR/ferretdb.log"
COMM=ferretdb
TOOLS="$CISTERN_CACHE/tools/ferretdb"
BIN="$TOOLS/bin/ferretdb"
STAMP="$TOOLS/bin/ferretdb.version"   # written once $BIN is a working build of $VERSION

server_pid() { read_pid "$PIDFILE"; }
running() { pid_is "$(server_pid)" "$COMM"; }

# A real MongoDB `ping` (OP_MSG {ping: 1, $db: "admin"}) that must answer
# ok: 1. Without python3, only that the port accepts TCP connections.
answers() {
  command -v python3 >/dev/null 2>&1 || { port_open "$PORT"; return; }
  python3 - "$PORT" 2>/dev/null <<'EOF'
import socket, struct, sys
def cstr(s): return s.encode() + b"\0"
body = (b"\x10" + cstr("ping") + struct.pack("<i", 1)
        + b"\x02" + cstr("$db") + struct.pack("<i", 6) + cstr("admin"))
doc = struct.pack("<i", len(body) + 5) + body + b"\0"
msg = struct.pack("<I", 0) + b"\0" + doc
sock = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=2)
sock.sendall(struct.pack("<iiii", 16 + len(msg), 1, 0, 2013) + msg)
data = b""
while len(data) < 4 or len(data) < struct.unpack("<i", data[:4])[0]:
    chunk = sock.recv(65536)
    if not chunk:
        sys.exit(1)
    data += chunk
sys.exit(0 if b"\x01ok\0" + struct.pack("<d", 1.0) in data else 1)
EOF
}

# The Go FerretDB's go.mod asks for at least, and the toolchain fetched from
# the Go module proxy (as `GOTOOLCHAIN` would) when the machine has no Go that
# new; its h1 hash (Go's dirhash of the module zip) was recorded when this
# line was written and is checked on every download.
GO_MIN=1.24
GO_TOOLCHAIN=go1.26.8
GO_TOOLCHAIN_H1="h1:ZOmGe1OnfREDMIdb1Qi4G9JSuDPBLGExZMQ4nis1RXM="
GO_DIR="$CISTERN_CACHE/tools/go/$GO_TOOLCHAIN"

go_new_enough() {
  local v
  v=$("$1" env GOVERSION 2>/dev/null) || return 1
  v=${v#go}
  [ "$(printf '%s\n%s\n' "$GO_MIN" "$v" | sort -V | head -1)" = "$GO_MIN" ]
}

# fetch_go: the Go module proxy's golang.org/toolchain module, unpacked into
# $GO_DIR after its hash is checked. Idempotent.
fetch_go() {
  [ -x "$GO_DIR/bin/go" ] && return 0
  [ "$(uname -m)" = x86_64 ] || die "no Go $GO_MIN or newer on this machine, and only linux-amd64's toolchain hash is recorded here"
  command -v curl >/dev/null 2>&1 || ensure_packages curl
  command -v python3 >/dev/null 2>&1 || ensure_packages python3
  local proxy=${GOPROXY:-https://proxy.golang.org}
  proxy=${proxy%%,*}
  [ "$proxy" = direct ] || [ "$proxy" = off ] && proxy=https://proxy.golang.org
  local url="$proxy/golang.org/toolchain/@v/v0.0.1-$GO_TOOLCHAIN.linux-amd64.zip"
  local tmp
  tmp=$(mktemp -d)
  say "fetching Go $GO_TOOLCHAIN from the Go module proxy ($url)"
  curl -sSf --retry 3 -o "$tmp/go.zip" "$url" || { rm -rf "$tmp"; die "cannot fetch $url"; }
  python3 - "$tmp/go.zip" "$GO_TOOLCHAIN_H1" "$tmp/unpacked" <<'PY' || { rm -rf "$tmp"; die "the Go toolchain from $url does not have the recorded hash"; }
import base64, hashlib, os, sys, zipfile
zip_path, want, out = sys.argv[1:]
z = zipfile.ZipFile(zip_path)
names = sorted(n for n in z.namelist() if not n.endswith("/"))
summary = "".join("%s  %s\n" % (hashlib.sha256(z.read(n)).hexdigest(), n) for n in names)
got = "h1:" + base64.b64encode(hashlib.sha256(summary.encode()).digest()).decode()
if got != want:
    sys.exit("hash %s, recorded %s" % (got, want))
for info in z.infolist():
    path = z.extract(info, out)
    mode = (info.external_attr >> 16) & 0o777
    if mode:
        os.chmod(path, mode)
PY
  mkdir -p "$(dirname "$GO_DIR")"
  rm -rf "$GO_DIR"
  mv "$tmp/unpacked/golang.org/toolchain@v0.0.1-$GO_TOOLCHAIN.linux-amd64" "$GO_DIR"
  rm -rf "$tmp"
}

# find_go: put a Go toolchain new enough on PATH: the machine's own (on PATH
# or in /usr/local/go), or else the one fetched from the Go module proxy.
find_go() {
  local candidate
  for candidate in "$(command -v go 2>/dev/null)" /usr/local/go/bin/go "$GO_DIR/bin/go"; do
    if [ -n "$candidate" ] && [ -x "$candidate" ] && go_new_enough "$candidate"; then
      PATH=$(dirname "$candidate"):$PATH
      return 0
    fi
  done
  fetch_go
  go_new_enough "$GO_DIR/bin/go" || die "the fetched Go $GO_TOOLCHAIN does not run"
  PATH=$GO_DIR/bin:$PATH
}

install() {
  if [ -x "$BIN" ] && [ "$(cat "$STAMP" 2>/dev/null)" = "$VERSION" ]; then return 0; fi
  find_go
  mkdir -p "$TOOLS/bin"
  say "building FerretDB $VERSION from the Go module proxy into $TOOLS (once; a few minutes)"
  local json moddir src="$TOOLS/src-$VERSION" buildlog="$TOOLS/build.log"
  # The module cache stays where Go keeps it (GOMODCACHE); only the copy is ours.
  if ! json=$(go mod download -json "github.com/FerretDB/FerretDB@$VERSION" 2>&1); then
    printf '%s\n' "$json" >&2
    die "go mod download github.com/FerretDB/FerretDB@$VERSION failed"
  fi
  moddir=$(printf '%s\n' "$json" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')
  [ -n "$moddir" ] && [ -d "$moddir/cmd/ferretdb" ] || die "go mod download gave no usable Dir for FerretDB $VERSION: $json"
  # Files in the module cache are read-only: the copy is made writable.
  [ ! -e "$src" ] || { chmod -R u+w "$src"; rm -rf "$src"; }
  cp -r "$moddir" "$src"
  chmod -R u+w "$src"
  printf '%s\n' "$VERSION" >"$src/build/version/version.txt"
  if ! (cd "$src" && go build -trimpath -o "$BIN.tmp" ./cmd/ferretdb) >"$buildlog" 2>&1; then
    show_log "$buildlog"
    die "building FerretDB $VERSION failed; log: $buildlog"
  fi
  "$BIN.tmp" --version >"$TOOLS/version.out" 2>&1 || { show_log "$TOOLS/version.out"; die "the FerretDB build does not run: $BIN.tmp --version failed"; }
  mv -f "$BIN.tmp" "$BIN"
  printf '%s\n' "$VERSION" >"$STAMP"
}

start() {
  lock_service "$DIR"
  if running; then
    wait_ready "FerretDB" "$LOG" server_pid answers
    say "FerretDB already running (pid $(server_pid)) on 127.0.0.1:$PORT"
    return 0
  fi
  install
  check_port CISTERN_MONGO_PORT "$PORT"
  mkdir -p "$DATA"
  rm -f "$PIDFILE"
  say "starting FerretDB on 127.0.0.1:$PORT (log: $LOG)"
  # --debug-addr=-: no second listener (it would take 8088);
  # --telemetry=disable: it would report to its vendor after an hour;
  # --state-dir: it defaults to the working directory.
  # setsid: its own session, so the caller's process group ending (a test
  # runner's timeout, a closed terminal) does not take the server down; it
  # execs, so $! is the server's own PID.
  (cd "$DIR" && exec setsid "$BIN" --handler=sqlite --sqlite-url="file:$DATA/" \
     --listen-addr="127.0.0.1:$PORT" --state-dir="$DIR" \
     --debug-addr=- --telemetry=disable) </dev/null >>"$LOG" 2>&1 9>&- &
  echo $! >"$PIDFILE"
  wait_ready "FerretDB" "$LOG" server_pid answers
  say "FerretDB ready (pid $(server_pid)) at mongodb://127.0.0.1:$PORT"
}

stop() {
  stop_service "FerretDB" TERM
}

status() { service_status ferretdb; }

env_lines() {
  echo "export CISTERN_MONGO_PORT=$PORT"
  echo "export CISTERN_MONGO_URL=mongodb://127.0.0.1:$PORT"
}

service_main "$@"
