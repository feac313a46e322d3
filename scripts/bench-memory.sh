#!/usr/bin/env bash
# Peak RSS of a 1-hour and a 4-hour export of a low-bit-rate camera:
# memory must grow with the number of samples, not with the bytes copied.
# usage: scripts/bench-memory.sh [WORK_DIR]
set -euo pipefail
BIN=${NVR_EXPORT:-target/release/nvr-export}
WORK=${1:-$(mktemp -d "${TMPDIR:-/tmp}/nvr-mem.XXXXXX")}
for hours in 1 4; do
  dir="$WORK/${hours}h"
  n=$((hours * 360))
  [ -f "$dir/frigate.db" ] || "$BIN" bench-corpus --dir "$dir" --segments "$n" --distinct 4 \
      --width 640 --height 360 --fps 30 --bitrate 300000 > /dev/null
  base=$("$BIN" export --db "$dir/frigate.db" --media-dir "$dir/media" --camera bench_cam \
      --start 1735689600 --end $((1735689600 + n * 10)) --json 2>/dev/null | tail -n 1)
  /usr/bin/time -f "%M" -o "$WORK/rss" "$BIN" export --db "$dir/frigate.db" --media-dir "$dir/media" \
      --camera bench_cam --start 1735689600 --end $((1735689600 + n * 10)) --json > "$WORK/out.jsonl"
  rss=$(cat "$WORK/rss")
  pk=$(tail -n 1 "$WORK/out.jsonl" | grep -o '"packets":{[^}]*}')
  bytes=$(du -sb "$dir/media/recordings" | cut -f1)
  echo "${hours} h: $((bytes / 1000000)) MB of segments, $pk, peak RSS $((rss / 1024)) MiB"
  rm -rf "$dir/media/exports"
  : "$base"
done
