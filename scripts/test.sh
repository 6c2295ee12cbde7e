#!/usr/bin/env bash
# The test command: installs what is missing, builds the guests, and runs
# every test (unit, integration and end to end, against real MQTT clients
# and real databases). Extra arguments go to `cargo test`.
set -euo pipefail
source "$(dirname "$0")/common.sh"
cd "$CISTERN_ROOT"

scripts/install-deps.sh
scripts/build-guests.sh
# The real servers the tests use; each test takes its own database in them.
scripts/services.sh up redis
eval "$(scripts/services.sh env redis)"
say "running the tests"
cargo test --workspace "$@"
