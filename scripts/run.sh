#!/usr/bin/env bash
# The run command: cistern's standalone broker on 127.0.0.1:1883, storing
# clients, subscriptions and messages in data/cistern.db (SQLite).
# Installs what is missing and builds first. Arguments go to cistern
# (e.g. --config my.conf).
set -euo pipefail
source "$(dirname "$0")/common.sh"
cd "$CISTERN_ROOT"

scripts/install-deps.sh
scripts/build-guests.sh
say "building cistern"
cargo build --quiet -p cistern
say "starting: MQTT on 127.0.0.1:1883, store in data/cistern.db (Ctrl-C stops)"
if [ $# -eq 0 ]; then
  set -- --config etc/cistern.conf
fi
exec "$CARGO_TARGET_DIR/debug/cistern" "$@"
