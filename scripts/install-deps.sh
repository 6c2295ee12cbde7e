#!/usr/bin/env bash
# Installs what building and testing cistern needs on a Debian 12 machine:
# the wasm toolchain for guests and the real MQTT clients the tests drive.
# Idempotent: installs only what is missing.
set -euo pipefail
source "$(dirname "$0")/common.sh"

packages=(
  mosquitto-clients  # mosquitto_pub / mosquitto_sub, the MQTT clients the tests use
  python3-paho-mqtt  # paho-mqtt, a client that sends control characters in client ids and topics
  sqlite3            # to look into the store by hand
  pkg-config
  curl patch         # to fetch and patch the crates in patches/ (scripts/patch-crates.sh)
)
# The wasm32 target: from rustup where it has it, else Debian's rustc-web route.
if ! rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  packages+=(rustc-web cargo-web rust-web-src lld-22)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  say "installing ${missing[*]}"
  sudo_cmd=""
  [ "$(id -u)" -eq 0 ] || sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# The crates cistern builds with a patch of its own.
scripts/patch-crates.sh
