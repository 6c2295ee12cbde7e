#!/usr/bin/env bash
# Prepares the crates cistern builds with a patch of its own (see
# patches/README.md): for each patches/<crate>-<version>/, fetches that
# version from crates.io, checks it against the checksum kept beside the
# patches (crates.io's own, as Cargo.lock had it), and applies the patches
# in name order into .patched/<crate>-<version>/, which Cargo.toml's
# [patch.crates-io] names. Idempotent: a crate whose patches have not
# changed since it was prepared is left as it is.
set -euo pipefail
source "$(dirname "$0")/common.sh"

for dir in "$CISTERN_ROOT"/patches/*/; do
  name=$(basename "$dir")
  crate=${name%-*}
  want=$(tr -d '[:space:]' <"$dir/checksum")
  target="$CISTERN_ROOT/.patched/$name"
  stamp=$(cat "$dir/checksum" "$dir"/*.patch | sha256sum | cut -d' ' -f1)
  if [ "$(cat "$target/.cistern-patches" 2>/dev/null)" = "$stamp" ]; then
    continue
  fi
  archive="$CISTERN_CACHE/crates/$name.crate"
  if [ ! -f "$archive" ] || [ "$(sha256sum <"$archive" | cut -d' ' -f1)" != "$want" ]; then
    say "fetching $name from crates.io"
    mkdir -p "$CISTERN_CACHE/crates"
    curl -fsSL --retry 3 -o "$archive.part" "https://static.crates.io/crates/$crate/$name.crate" ||
      die "cannot fetch $name from static.crates.io"
    got=$(sha256sum <"$archive.part" | cut -d' ' -f1)
    [ "$got" = "$want" ] || die "$name.crate from crates.io has checksum $got, not $want (patches/$name/checksum)"
    mv "$archive.part" "$archive"
  fi
  say "patching $name"
  work="$CISTERN_ROOT/.patched/.$name.part"
  rm -rf "$work" && mkdir -p "$work"
  tar -xzf "$archive" -C "$work" --strip-components=1
  for p in "$dir"/*.patch; do
    patch -d "$work" -p1 --quiet --forward <"$p" || die "patches/$name/$(basename "$p") does not apply to $name"
  done
  echo "$stamp" >"$work/.cistern-patches"
  rm -rf "$target" && mv "$work" "$target"
done
