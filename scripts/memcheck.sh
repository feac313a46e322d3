#!/usr/bin/env bash
# Memory safety of the FFI under valgrind memcheck: a short export (both
# writers), a cancelled export and a failed export of the demo store. Fails on
# any invalid read/write or definite leak.
#
#   scripts/memcheck.sh [NVR_EXPORT_BINARY]
set -euo pipefail
BIN=${1:-target/release/nvr-export}
WORK=$(mktemp -d); trap 'rm -rf "$WORK"' EXIT
"$BIN" demo --dir "$WORK/store" > /dev/null
START=1735732800; END=1735732875
VG=(valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite
    --show-leak-kinds=definite --track-origins=no)
args=(export --db "$WORK/store/frigate.db" --media-dir "$WORK/store/media" --camera front_door --json)
run() { # name expected-exit valgrind-args...
  local name=$1 want=$2; shift 2
  set +e; "$@" > "$WORK/out.json" 2> "$WORK/vg.txt"; local rc=$?; set -e
  if [ $rc -eq 99 ] || grep -q "Invalid \|definitely lost" "$WORK/vg.txt"; then
    echo "$name: MEMCHECK ERRORS"; cat "$WORK/vg.txt"; exit 1
  fi
  [ "$rc" = "$want" ] || { echo "$name: exit $rc, expected $want"; tail -3 "$WORK/out.json"; cat "$WORK/vg.txt"; exit 1; }
  echo "$name: clean (exit $rc)"
}
run "export, index-driven writer" 0 "${VG[@]}" "$BIN" "${args[@]}" --start $START --end $END
run "export, libav writer" 0 "${VG[@]}" "$BIN" "${args[@]}" --start $START --end $END --writer libav
# failed: a segment truncated to garbage halfway, and a range with nothing in it
f=$(find "$WORK/store/media/recordings" -name '*.mp4' | sort | sed -n 3p)
head -c 2000 /dev/urandom > "$f"
run "export with a garbage segment" 0 "${VG[@]}" "$BIN" "${args[@]}" --start $START --end $END
run "failed export (no recordings)" 1 "${VG[@]}" "$BIN" "${args[@]}" --start 1735700000 --end 1735700060
# cancelled: SIGINT while it runs under valgrind (slow enough to be mid-export)
set +e
"${VG[@]}" "$BIN" "${args[@]}" --start $START --end $END --writer libav > "$WORK/out.json" 2> "$WORK/vg.txt" &
pid=$!; sleep 3; kill -INT $pid; wait $pid; rc=$?
set -e
if [ $rc -eq 99 ] || grep -q "Invalid \|definitely lost" "$WORK/vg.txt"; then echo "cancelled: MEMCHECK ERRORS"; cat "$WORK/vg.txt"; exit 1; fi
echo "cancelled export: clean (exit $rc, last event: $(tail -n 1 "$WORK/out.json" | cut -c1-60))"
# A timelapse (decode, filter graph, encoder, GOP-parallel decode).
run "timelapse (transcode)" 0 "${VG[@]}" "$BIN" "${args[@]}" --start $START --end $END --timelapse
# The HLS source (custom AVIO context, prefetch threads), from the captured
# responses of the NVR's VOD server when ../shared has them.
CAPTURE=$(dirname "$0")/../../shared/fixtures/nginx-vod-capture
if [ -f "$CAPTURE/mid/index.m3u8" ] && command -v python3 > /dev/null; then
  port=$((19000 + $$ % 500))
  (cd "$CAPTURE" && exec python3 -m http.server "$port" --bind 127.0.0.1 > /dev/null 2>&1) &
  srv=$!; sleep 1
  run "HLS export (captured /vod/clip/)" 0 "${VG[@]}" "$BIN" "${args[@]}" --start $START --end $END \
    --vod-url "http://127.0.0.1:$port/clip_full/index.m3u8"
  kill $srv
else
  echo "HLS export: SKIPPED (no capture at $CAPTURE)"
fi
