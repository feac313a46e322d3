#!/usr/bin/env bash
# ffmpeg-sys-next bundles the static libav into its own rlib and never
# reruns its build script when FFMPEG_DIR changes: after the vendored
# build changes (a new recipe), its package is cleaned so that the next
# cargo build links the new one.
#
#   vendor/ffmpeg/relink.sh PREFIX
set -euo pipefail
prefix=${1:?prefix}
root=$(cd "$(dirname "$0")/../.." && pwd)
target=${CARGO_TARGET_DIR:-$root/target}
stamp=$target/vendor/ffmpeg/linked
if [ "$(cat "$stamp" 2>/dev/null)" != "$prefix" ]; then
  # `clean -p` cleans one profile at a time: both.
  ${CARGO:-cargo} clean -q -p ffmpeg-sys-next --manifest-path "$root/Cargo.toml" 2>/dev/null || true
  ${CARGO:-cargo} clean -q -p ffmpeg-sys-next --release --manifest-path "$root/Cargo.toml" 2>/dev/null || true
  mkdir -p "$(dirname "$stamp")"
  echo "$prefix" > "$stamp"
fi
