# shellcheck shell=bash
# Shared by scripts/services/*.sh: installing Debian packages, PID files,
# waiting for a server to answer. Sourced, not run.
#
# Every server runs on 127.0.0.1 only, keeps its data, log, socket and PID
# file under "$CISTERN_RUN/<service>/", and is stopped only through the PID
# file that this service's script owns: nothing else is ever signalled.

source "$(dirname "${BASH_SOURCE[0]}")/../common.sh"

# How long to wait for a server to answer, or to exit after a stop.
CISTERN_SERVICE_TIMEOUT=${CISTERN_SERVICE_TIMEOUT:-60}
# Debian keeps the server binaries in sbin, which a non-login PATH may lack.
case ":$PATH:" in *:/usr/sbin:*) ;; *) PATH=$PATH:/usr/sbin:/sbin ;; esac

# ensure_packages PKG...: apt-get install whatever of PKG is not installed.
# Runs `apt-get update` first unless this script already did within the hour.
# While installing, services are kept from starting on their default ports
# (a policy-rc.d that refuses, put in place only if the machine has none).
ensure_packages() {
  local p missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  ((${#missing[@]})) || return 0

  local sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  local stamp="$CISTERN_RUN/.apt-updated" added_policy=""
  mkdir -p "$CISTERN_RUN"
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\n# put here by cistern scripts/services while installing\nexit 101\n' \
      | $sudo_cmd tee /usr/sbin/policy-rc.d >/dev/null
    $sudo_cmd chmod 755 /usr/sbin/policy-rc.d
    added_policy=1
  fi
  local rc=0
  {
    if [ -z "$(find "$stamp" -mmin -60 2>/dev/null)" ]; then
      say "apt-get update"
      $sudo_cmd apt-get update -qq && touch "$stamp"
    fi &&
    say "installing ${missing[*]}" &&
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends \
      -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold \
      "${missing[@]}" >"$CISTERN_RUN/apt-install.log" 2>&1
  } || rc=$?
  [ -z "$added_policy" ] || $sudo_cmd rm -f /usr/sbin/policy-rc.d
  if [ "$rc" -ne 0 ]; then
    tail -n 30 "$CISTERN_RUN/apt-install.log" >&2 2>/dev/null || true
    die "installing ${missing[*]} failed (apt-get exit $rc); log: $CISTERN_RUN/apt-install.log"
  fi
}

# need_cmd NAME PACKAGE: die unless NAME is on PATH after installing.
need_cmd() {
  command -v "$1" >/dev/null 2>&1 || die "'$1' not found even after installing Debian package '$2'"
}

# read_pid FILE: print the PID in FILE (its first line), or nothing.
read_pid() {
  local pid=""
  [ -r "$1" ] && read -r pid <"$1" 2>/dev/null || true
  [[ $pid =~ ^[0-9]+$ ]] && printf '%s\n' "$pid" || true
}

# pid_is PID COMM: true if PID is alive (not a zombie) and its command name is COMM,
# so that a stale PID file whose PID was reused by another program is
# never taken for our server.
pid_is() {
  local pid=$1 want=$2 comm=""
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 1
  read -r comm <"/proc/$pid/comm" 2>/dev/null || return 1
  [ "$comm" = "$want" ] || return 1
  # An exited server whose parent has not reaped it yet (a zombie) is gone,
  # unless other threads of it are still exiting: the main thread of a
  # killed multi-threaded server (a JVM) turns zombie first, while the rest
  # still hold its files and ports.
  local stat state tasks
  stat=$(<"/proc/$pid/stat") 2>/dev/null || return 1
  state=${stat##*) }
  [ "${state%% *}" != Z ] && return 0
  tasks=("/proc/$pid/task/"*)
  ((${#tasks[@]} > 1))
}

# port_open PORT: true if something accepts TCP connections on 127.0.0.1:PORT.
port_open() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# check_port VAR PORT: die unless PORT is a number and nothing listens on it.
check_port() {
  local var=$1 port=$2
  [[ $port =~ ^[0-9]+$ ]] && ((port > 0 && port < 65536)) || die "$var=$port is not a TCP port"
  if port_open "$port"; then
    die "port $port on 127.0.0.1 is already taken by a process these scripts did not start; set $var to another port"
  fi
}

# show_log FILE: the last lines of a server log, on stderr.
show_log() {
  if [ -s "$1" ]; then
    printf -- '--- last lines of %s ---\n' "$1" >&2
    tail -n 30 "$1" >&2
    printf -- '---\n' >&2
  else
    printf -- '(log %s is empty or missing)\n' "$1" >&2
  fi
}

# wait_ready NAME LOG PIDFN CHECK...: wait until CHECK succeeds. PIDFN is a
# function printing the server's PID (empty while unknown); fail early if it
# died. Dies with the log's tail on failure or after CISTERN_SERVICE_TIMEOUT.
wait_ready() {
  local name=$1 log=$2 pidfn=$3; shift 3
  local deadline=$((SECONDS + CISTERN_SERVICE_TIMEOUT)) seen_pid="" pid
  while :; do
    if "$@" >/dev/null 2>&1; then return 0; fi
    pid=$($pidfn)
    [ -z "$pid" ] || seen_pid=$pid
    if [ -n "$seen_pid" ] && ! kill -0 "$seen_pid" 2>/dev/null; then
      show_log "$log"
      die "$name exited during startup (pid $seen_pid); log: $log"
    fi
    if ((SECONDS >= deadline)); then
      show_log "$log"
      die "$name did not answer within ${CISTERN_SERVICE_TIMEOUT}s${seen_pid:+ (pid $seen_pid still running: stop it with the stop action)}; log: $log"
    fi
    sleep 0.2
  done
}

# wait_gone PID COMM SECONDS: wait until PID is no longer COMM (exited, or
# a zombie); false if it still is after SECONDS.
wait_gone() {
  local pid=$1 comm=$2 deadline=$((SECONDS + $3))
  while pid_is "$pid" "$comm"; do
    ((SECONDS < deadline)) || return 1
    sleep 0.1
  done
}

# stop_pid NAME PID COMM SIGNAL LOG: send SIGNAL to PID (only if it is
# still COMM) and wait for it to exit; after the timeout send SIGKILL.
stop_pid() {
  local name=$1 pid=$2 comm=$3 sig=$4 log=$5
  pid_is "$pid" "$comm" || return 0
  say "stopping $name (pid $pid)"
  kill -s "$sig" "$pid" 2>/dev/null || true
  local deadline=$((SECONDS + CISTERN_SERVICE_TIMEOUT))
  while pid_is "$pid" "$comm"; do
    if ((SECONDS >= deadline)); then
      say "$name (pid $pid) still running after ${CISTERN_SERVICE_TIMEOUT}s; sending SIGKILL"
      kill -s KILL "$pid" 2>/dev/null || true
      # A killed process with a large heap takes a moment to unmap it; its
      # ports stay bound until it is gone.
      if ! wait_gone "$pid" "$comm" 10; then
        show_log "$log"
        die "$name (pid $pid) would not exit; log: $log"
      fi
      break
    fi
    sleep 0.1
  done
}

# lock_service DIR: hold an exclusive lock on DIR/lock (on fd 9) for the rest
# of the script, so two starts or stops of one service never race. Servers
# must be launched with `9>&-`, or they would hold the lock for their life.
lock_service() {
  mkdir -p "$1"
  exec 9>"$1/lock"
  flock -w "$CISTERN_SERVICE_TIMEOUT" 9 || die "another start/stop of $(basename "$1") holds $1/lock"
}

# check_socket_path PATH: Unix socket paths are limited to 107 bytes.
check_socket_path() {
  ((${#1} <= 100)) || die "socket path too long for a Unix socket (${#1} bytes): $1; set CISTERN_RUN to a shorter directory"
}

# What every service script shares, once it has defined DIR, PIDFILE, COMM,
# LOG, PORT and the functions server_pid, running, answers, start, env_lines
# and install.

# stop_service LABEL SIGNAL: stops the server named by this service's own pid
# file with SIGNAL (nothing else is ever signalled); a stale pid file goes.
stop_service() {
  local label=$1 signal=$2 pid
  lock_service "$DIR"
  pid=$(server_pid)
  if pid_is "$pid" "$COMM"; then
    stop_pid "$label" "$pid" "$COMM" "$signal" "$LOG"
  else
    say "$label not running${pid:+ (stale pid file, pid $pid)}"
  fi
  rm -f "$PIDFILE"
}

# service_status NAME: exit 0 if running and answering, 3 if stopped, 1 if
# alive but not answering.
service_status() {
  local name=$1
  if ! running; then echo "$name: stopped"; return 3; fi
  if answers; then echo "$name: running (pid $(server_pid)) on 127.0.0.1:$PORT"; return 0; fi
  echo "$name: pid $(server_pid) alive but not answering on 127.0.0.1:$PORT (log: $LOG)"; return 1
}

# service_main ACTION: runs start, stop, status, env or install.
service_main() {
  case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status) status ;;
    env) env_lines ;;
    install) install ;;
    *) die "usage: $0 {start|stop|status|env|install}" ;;
  esac
}
