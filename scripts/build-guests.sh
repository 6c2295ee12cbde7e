#!/usr/bin/env bash
# Builds every guest under guests/ into a wasm component in guests/dist/.
# Uses a rustup toolchain with the wasm32-unknown-unknown target where there
# is one; otherwise Debian's rustc-web with -Zbuild-std (see DESIGN.md).
set -euo pipefail
source "$(dirname "$0")/common.sh"

cd "$CISTERN_ROOT"
guest_target="$CARGO_TARGET_DIR/wasm-guests"
mkdir -p guests/dist

scripts/patch-crates.sh
say "building the componentize tool"
cargo build --quiet -p cistern-componentize
componentize="$CARGO_TARGET_DIR/debug/cistern-componentize"

say "building guests"
if rustup target list --installed 2>/dev/null | grep -qx wasm32-unknown-unknown; then
  (cd guests && CARGO_TARGET_DIR="$guest_target" cargo build --quiet --release --target wasm32-unknown-unknown)
else
  [ -x /usr/bin/cargo ] && [ -d /usr/lib/rustlib/src ] ||
    die "no wasm32 toolchain: run scripts/install-deps.sh (Debian's rustc-web, cargo-web, rust-web-src, lld-22)"
  # rustc links wasm32 with a program called `rust-lld`, which only rustup ships; no Debian package
  # provides it. Name lld's wasm front end (from lld-22) instead, so nothing made by hand is needed.
  wasm_ld=$(wasm_linker) || die "no wasm linker: run scripts/install-deps.sh (Debian's lld-22 gives wasm-ld)"
  (cd guests && env -u RUSTUP_TOOLCHAIN RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1 CARGO_TARGET_DIR="$guest_target" \
    CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER="$wasm_ld" \
    /usr/bin/cargo build --quiet --release --target wasm32-unknown-unknown -Zbuild-std=std,panic_abort)
fi

for core in "$guest_target"/wasm32-unknown-unknown/release/cistern_*_guest.wasm; do
  name=$(basename "$core" .wasm)
  name=${name#cistern_}
  name=${name%_guest}
  "$componentize" "$core" "guests/dist/$name.wasm.tmp"
  # Replace only when changed, so the host (which embeds the stock guests) rebuilds only then.
  if cmp -s "guests/dist/$name.wasm.tmp" "guests/dist/$name.wasm"; then
    rm "guests/dist/$name.wasm.tmp"
  else
    mv "guests/dist/$name.wasm.tmp" "guests/dist/$name.wasm"
  fi
  say "guests/dist/$name.wasm ($(stat -c %s "guests/dist/$name.wasm") bytes)"
done
