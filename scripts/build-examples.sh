#!/usr/bin/env bash
# Builds the example actions in guests/examples/ into components in
# guests/examples/dist/ (ignored by git), where the tests and the hook_cost
# benchmark read them:
#   js_enrich.wasm      JavaScript, with componentize-js (npm)
#   py_rolling.wasm     Python, with componentize-py (PyPI)
#   py_sockets.wasm     the same built importing WASI sockets, which cistern refuses
#   c_json_filter.wasm  C, with clang and wasi-libc (Debian), bindings from
#                       wit-bindgen's C generator (crates.io), adapted to WASI 0.2
#   c_version_v1..5.wasm, c_version_gone.wasm, c_wrong_world.wasm
#                       C, the hot-swap test's versions of one guest
# Installs the toolchains first, idempotently, under $CISTERN_CACHE/tools
# (apt for clang and wasi-libc). A component is rebuilt only when its inputs
# or its toolchain changed.
set -euo pipefail
source "$(dirname "$0")/common.sh"
cd "$CISTERN_ROOT"

tools="$CISTERN_CACHE/tools"
examples="$CISTERN_ROOT/guests/examples"
dist="$examples/dist"
mkdir -p "$tools" "$dist"

COMPONENTIZE_JS_VERSION=0.23.0
COMPONENTIZE_PY_VERSION=0.25.1
WIT_BINDGEN_VERSION=0.63.0
CLANG=clang-22

# --- toolchains -------------------------------------------------------------

missing=()
for p in $CLANG libclang-rt-22-dev-wasm32 wasi-libc nodejs npm python3-venv; do
  # nodejs from another source than Debian's (NodeSource) serves as well.
  if [ "$p" = npm ] || [ "$p" = nodejs ]; then command -v "$p" >/dev/null && continue; fi
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  say "installing ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

componentize_js="$tools/js/node_modules/.bin/componentize-js"
if ! grep -qs "\"version\": \"$COMPONENTIZE_JS_VERSION\"" \
  "$tools/js/node_modules/@bytecodealliance/componentize-js/package.json"; then
  say "installing componentize-js $COMPONENTIZE_JS_VERSION into $tools/js"
  mkdir -p "$tools/js"
  npm install --silent --no-audit --no-fund --prefix "$tools/js" \
    "@bytecodealliance/componentize-js@$COMPONENTIZE_JS_VERSION" >/dev/null
fi

componentize_py="$tools/py/bin/componentize-py"
if ! "$componentize_py" --version 2>/dev/null | grep -qx "componentize-py $COMPONENTIZE_PY_VERSION"; then
  say "installing componentize-py $COMPONENTIZE_PY_VERSION into $tools/py"
  python3 -m venv "$tools/py"
  "$tools/py/bin/pip" install --quiet "componentize-py==$COMPONENTIZE_PY_VERSION"
fi

wit_bindgen="$tools/bin/wit-bindgen"
if ! "$wit_bindgen" --version 2>/dev/null | grep -q " $WIT_BINDGEN_VERSION"; then
  say "installing wit-bindgen-cli $WIT_BINDGEN_VERSION into $tools"
  cargo install --quiet --locked wit-bindgen-cli --version "$WIT_BINDGEN_VERSION" --root "$tools"
fi

say "building the componentize tool"
cargo build --quiet -p cistern-componentize
componentize="$CARGO_TARGET_DIR/debug/cistern-componentize"

# --- building ---------------------------------------------------------------

# Runs `build OUT` unless OUT exists and was made from the same inputs
# (the files and words given after it); then records them.
fresh() {
  local out=$1
  shift
  local sum
  sum=$(cat "$@" 2>/dev/null | sha256sum | cut -d' ' -f1)
  [ -f "$dist/$out" ] && [ "$(cat "$dist/$out.inputs" 2>/dev/null)" = "$sum" ]
}
record() {
  local out=$1
  shift
  cat "$@" | sha256sum | cut -d' ' -f1 >"$dist/$out.inputs"
  say "guests/examples/dist/$out ($(stat -c %s "$dist/$out") bytes)"
}
wit_files=(wit/*.wit)
stamp="$tools/.toolchain-$COMPONENTIZE_JS_VERSION-$COMPONENTIZE_PY_VERSION-$WIT_BINDGEN_VERSION"
[ -f "$stamp" ] || echo "$COMPONENTIZE_JS_VERSION $COMPONENTIZE_PY_VERSION $WIT_BINDGEN_VERSION $($CLANG --version | head -1)" >"$stamp"

# JavaScript: StarlingMonkey with the `http` and `fetch-event` features off,
# so the component imports no WASI HTTP.
build_js() {
  local out=$1 src=$2
  fresh "$out" "$src" "${wit_files[@]}" "$stamp" && return 0
  say "componentize-js $src"
  (cd "$(dirname "$src")" && "$componentize_js" "$(basename "$src")" --wit "$CISTERN_ROOT/wit" -n action \
    -d http fetch-event -o "$dist/$out.tmp" >/dev/null)
  mv "$dist/$out.tmp" "$dist/$out"
  record "$out" "$src" "${wit_files[@]}" "$stamp"
}

# Python: --stub-wasi, because CPython's wasi-libc imports WASI sockets,
# which cistern refuses; the example logs through the `log` interface.
# `build_py OUT DIR MODULE sockets` builds without it: the component cistern
# must refuse at load, naming the socket import.
build_py() {
  local out=$1 dir=$2 module=$3 stub=--stub-wasi
  [ "${4:-}" = sockets ] && stub=
  fresh "$out" "$dir/$module.py" "${wit_files[@]}" "$stamp" <(echo "$stub") && return 0
  say "componentize-py $dir/$module.py $stub"
  (cd "$dir" && "$componentize_py" -d "$CISTERN_ROOT/wit" -w action componentize $stub "$module" \
    -o "$dist/$out.tmp" >/dev/null)
  rm -rf "$dir/__pycache__"
  mv "$dist/$out.tmp" "$dist/$out"
  record "$out" "$dir/$module.py" "${wit_files[@]}" "$stamp" <(echo "$stub")
}

# C: wit-bindgen's bindings for a world, clang against Debian's wasi-libc as a
# reactor (no main), then a component with the WASI preview1 adapter.
c_bindings="$CISTERN_CACHE/examples-c"
bindings_c() {
  local world=$1 wit=$2
  mkdir -p "$c_bindings/$world"
  "$wit_bindgen" c --world "$world" --out-dir "$c_bindings/$world" "$wit" >/dev/null 2>&1 ||
    die "wit-bindgen c --world $world $wit failed"
}
build_c() {
  local out=$1 world=$2 src=$3
  shift 3
  fresh "$out" "$src" "$examples/c/"*.h "${wit_files[@]}" "$stamp" <(echo "$world $*") && return 0
  say "clang $src $*"
  local core="$c_bindings/$out.core.wasm"
  $CLANG --target=wasm32-wasi -Wno-deprecated --sysroot=/usr -O2 -mexec-model=reactor -Wall -Werror \
    -I "$c_bindings/$world" -I "$examples/c" "$@" \
    -o "$core" "$src" "$c_bindings/$world/$world.c" "$c_bindings/$world/${world}_component_type.o"
  "$componentize" "$core" "$dist/$out.tmp" --wasi-reactor
  mv "$dist/$out.tmp" "$dist/$out"
  record "$out" "$src" "$examples/c/"*.h "${wit_files[@]}" "$stamp" <(echo "$world $*")
}

bindings_c action wit
bindings_c wrong "$examples/c/wrong.wit"

build_c c_json_filter.wasm action "$examples/c/json_filter.c"
for v in 1 2 3 4 5; do
  build_c "c_version_v$v.wasm" action "$examples/c/version.c" -DVERSION="$v"
done
build_c c_version_gone.wasm action "$examples/c/version.c" -DVERSION=9 -DFUNCTION='"renamed"'
build_c c_wrong_world.wasm wrong "$examples/c/wrong.c"
build_py py_rolling.wasm "$examples/python" app
build_py py_sockets.wasm "$examples/python" app sockets
build_js js_enrich.wasm "$examples/javascript/enrich.js"
