#!/usr/bin/env bash
# Runs the cargo-fuzz targets of fuzz/ (fuzz/README.md says what each
# checks), one after another, each for FUZZ_SECONDS. Not part of CI.
#   scripts/fuzz.sh                   every target: config topic template raw_statement
#   scripts/fuzz.sh topic config      only these
#   nice -n 10 scripts/fuzz.sh        beside other work: one process, one core
# The first build of config and raw_statement (the cistern crate and all its
# dependencies, instrumented) takes 30 to 60 minutes on two busy cores.
# Environment:
#   FUZZ_SECONDS    how long each target runs (default 300)
#   FUZZ_SANITIZER  address (default) or none: see fuzz/README.md
#   FUZZ_ARGS       more libFuzzer flags, e.g. "-max_len=512 -seed=1"
#   CISTERN_FUZZ_TARGET_DIR  the build directory (default $CISTERN_CACHE/fuzz/target)
# Installs cargo-fuzz into $CISTERN_CACHE/tools first (idempotent). Builds
# go to $CISTERN_CACHE/fuzz/target, never the main build's directory, and
# corpora to $CISTERN_CACHE/fuzz/corpus/<target>; an input that crashes is
# kept in fuzz/artifacts/<target>/ (ignored by git) and the run log in
# $CISTERN_CACHE/fuzz/logs/<target>.log. Exits non-zero when a target crashed.
set -euo pipefail
source "$(dirname "$0")/common.sh"
cd "$CISTERN_ROOT"

CARGO_FUZZ_VERSION=0.13.2
ALL_TARGETS=(config topic template raw_statement)
FUZZ_SECONDS=${FUZZ_SECONDS:-300}
FUZZ_SANITIZER=${FUZZ_SANITIZER:-address}
read -r -a extra_args <<<"${FUZZ_ARGS:-}"

tools="$CISTERN_CACHE/tools"
fuzz_home="$CISTERN_CACHE/fuzz"
fuzz_target_dir=${CISTERN_FUZZ_TARGET_DIR:-$fuzz_home/target}
[ "$fuzz_target_dir" != "$CARGO_TARGET_DIR" ] || die "the fuzz build must not share $CARGO_TARGET_DIR"
mkdir -p "$tools" "$fuzz_home/logs"

targets=("$@")
((${#targets[@]})) || targets=("${ALL_TARGETS[@]}")
for t in "${targets[@]}"; do
  [ -f "fuzz/fuzz_targets/$t.rs" ] || die "no fuzz target $t (known: ${ALL_TARGETS[*]})"
done

# --- cargo-fuzz -------------------------------------------------------------

export PATH="$tools/bin:$PATH"
if ! cargo-fuzz --version 2>/dev/null | grep -q " $CARGO_FUZZ_VERSION\$"; then
  say "installing cargo-fuzz $CARGO_FUZZ_VERSION into $tools"
  cargo install --quiet --locked cargo-fuzz --version "$CARGO_FUZZ_VERSION" --root "$tools" \
    --target-dir "$fuzz_home/install"
fi

# cargo-fuzz passes -Z flags (sanitizers, coverage instrumentation): the
# stable toolchain takes them with RUSTC_BOOTSTRAP, so no nightly is needed.
export RUSTC_BOOTSTRAP=1

scripts/patch-crates.sh
# The fuzz crate is its own workspace; its lock file starts as the main one,
# so that it builds the same versions of cistern's dependencies.
if [ ! -f fuzz/Cargo.lock ] || [ Cargo.lock -nt fuzz/Cargo.lock ]; then
  cp Cargo.lock fuzz/Cargo.lock
fi

# 16 codegen units, not cargo-fuzz's 1: a much shorter first build on two
# cores, at a small cost in speed.
build_flags=(--sanitizer "$FUZZ_SANITIZER" --target-dir "$fuzz_target_dir" --codegen-units 16)

# --- seeds, made at run time from the example files -------------------------

seeds="$fuzz_home/seeds"
rm -rf "$seeds"
mkdir -p "$seeds"/{config,topic,template,raw_statement}
cp etc/plugins/*.conf etc/cistern.conf "$seeds/config/"
# template: a kind byte (0 Timescale, 1 InfluxDB, 2 OpenTSDB), two number
# bytes, then the template, NUL, a payload, NUL, a topic.
payload='{"data": [{"location": "bedroom", "temperature": 21.5, "humidity": 40, "host": "serverA"}], "temp": 1, "host": "a b", "location": "x", "temperature": 2, "humidity": 3}'
for kind in timescale:0 influxdb:1 opentsdb:2; do
  { printf "\\x${kind#*:}\\xcc\\x00"; cat "etc/emqx_backend_${kind%:*}.tmpl"; printf '\0%s\0sensor_data' "$payload"; } \
    >"$seeds/template/${kind%:*}"
done
printf '\x03\x00\x00["$payload", "$topic", ["$payload", "data", "$0", "temperature"], 42]\0%s\0t/1' "$payload" \
  >"$seeds/template/values"
printf '\x04\xc8\x00\0{"success": 1, "failed": 1, "errors": [{"datapoint": {}, "error": "no"}]}' >"$seeds/template/answer"
n=0
for pair in 'sport/tennis/player1/#' 'sport/#' '+/+' '$SYS/#' 'a/+/c'; do
  printf '%s\0%s' "$pair" "${pair//[+#]/x}" >"$seeds/topic/$((n += 1))"
done
# raw_statement: a hook point byte (5: message.publish), the template, then
# client id, username, topic and payload, NUL between each.
n=0
for template in \
  "insert into mqtt_msg(msgid, topic, payload, arrived) values (\${msgid}, '\${topic}', \${payload}, \${timestamp})" \
  "update mqtt_client set online = 1 where clientid = '\${clientid}' and username = \${username}" \
  'HMSET mqtt:msg:${msgid} topic ${topic} qos ${qos} payload ${payload} ts ${timestamp}' \
  'SET conn:${clientid} clientid' \
  "INSERT INTO t (a) VALUES ('it''s', '\${clientid}') -- \${node}"; do
  printf '\x05%s\0c 1\0u\0t/1\0hello' "$template" >"$seeds/raw_statement/$((n += 1))"
done

# topic and template need only cistern-topic and cistern-template, not the
# cistern crate: without the `host` feature they build in a minute or two.
features() {
  case "$1" in
    topic | template) echo --no-default-features ;;
    *) echo --features=host ;;
  esac
}

# --- build, then run each target --------------------------------------------

say "building the fuzz targets (sanitizer: $FUZZ_SANITIZER) into $fuzz_target_dir"
for t in "${targets[@]}"; do
  (cd fuzz && cargo fuzz build "${build_flags[@]}" "$(features "$t")" "$t")
done
crashed=()
for t in "${targets[@]}"; do
  corpus="$fuzz_home/corpus/$t"
  mkdir -p "$corpus" "fuzz/artifacts/$t"
  log="$fuzz_home/logs/$t.log"
  say "fuzzing $t for ${FUZZ_SECONDS}s (corpus $corpus, log $log)"
  status=0
  (cd fuzz && cargo fuzz run "${build_flags[@]}" "$(features "$t")" --jobs 1 "$t" "$corpus" "$seeds/$t" -- \
    -max_total_time="$FUZZ_SECONDS" -timeout=10 -print_final_stats=1 "${extra_args[@]}") 2>&1 | tee "$log" ||
    status=$?
  if [ "$status" -ne 0 ]; then
    crashed+=("$t")
    say "$t failed (exit $status); the input is in fuzz/artifacts/$t/, minimise it with:"
    say "  RUSTC_BOOTSTRAP=1 cargo fuzz tmin ${build_flags[*]} $(features "$t") $t fuzz/artifacts/$t/<file>   (from fuzz/)"
  fi
  grep -E '^stat::number_of_executed_units|^Done [0-9]+ runs' "$log" >&2 || true
done

if ((${#crashed[@]})); then
  die "crashed: ${crashed[*]}"
fi
say "no crash in: ${targets[*]}"
