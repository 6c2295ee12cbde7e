#!/usr/bin/env bash
# The test command: installs what is missing, builds the guests, and runs
# every test (unit, integration and end to end, against real MQTT clients
# and real databases). Extra arguments go to `cargo test`.
set -euo pipefail
source "$(dirname "$0")/common.sh"
cd "$CISTERN_ROOT"

scripts/install-deps.sh
scripts/build-guests.sh
# The example actions in JavaScript, Python and C (and their toolchains),
# built once here rather than per test.
scripts/build-examples.sh
# The real database servers the tests talk to, on loopback ports of their
# own; each test takes a database of its own in them.
scripts/services.sh up mariadb postgres redis influxdb dynalite ferretdb cassandra
eval "$(scripts/services.sh env mariadb postgres redis influxdb dynalite ferretdb cassandra)"
say "running the tests"
cargo test --workspace "$@"
# The guests' own unit tests, on the host's target.
(cd guests && CARGO_TARGET_DIR="$CARGO_TARGET_DIR/guests-host" cargo test --quiet)
