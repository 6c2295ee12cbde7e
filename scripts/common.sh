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
