# Shared by the scripts: where the project is, where builds go.
# Sourced, not run.

CISTERN_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# Builds are kept outside the clone so a fresh clone on the same machine reuses them.
CISTERN_CACHE=${CISTERN_CACHE:-$HOME/.cache/cistern}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$CISTERN_CACHE/target}
# Where scripts keep servers' data, logs and PIDs.
CISTERN_RUN=${CISTERN_RUN:-$CISTERN_CACHE/run}

say() { printf '==> %s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# lld's wasm linker from Debian's lld packages: the one the Debian guest route links with.
# An explicit CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER wins.
wasm_linker() {
  local candidate
  for candidate in "${CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER:-}" /usr/lib/llvm-22/bin/wasm-ld \
    $(ls -d /usr/lib/llvm-*/bin/wasm-ld 2>/dev/null | sort -rV) "$(command -v wasm-ld 2>/dev/null)"; do
    [ -n "$candidate" ] && [ -x "$candidate" ] && { echo "$candidate"; return 0; }
  done
  return 1
}
