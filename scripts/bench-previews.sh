#!/usr/bin/env bash
# Preview-source export of a day (24 hourly previews, variable frame rate,
# each its own picture) trimmed mid-preview at both ends, side by side in one
# run, alternating, every output synced:
#   cp       the preview files' bytes copied (the floor), then sync
#   ffmpeg   the NVR's command: concat demuxer with inpoint/outpoint (the
#            out-point computed correctly, unlike the NVR's), -c copy
#            -movflags +faststart, then sync
#   nvr      nvr-export export --source preview (it fsyncs)
# Prints median wall time, peak RSS, output duration of each, and ratios.
#
# usage: scripts/bench-previews.sh [CORPUS_DIR] [RUNS]
set -euo pipefail
BIN=${NVR_EXPORT:-target/release/nvr-export}
CORPUS=${1:-bench-corpus/previews}
RUNS=${2:-5}
[ -f "$CORPUS/corpus.env" ] || "$BIN" preview-corpus --dir "$CORPUS" --hours 24 --frames 0
CORPUS=$(cd "$CORPUS" && pwd)
. "$CORPUS/corpus.env"
OUT=$(mktemp -d "${TMPDIR:-/tmp}/nvr-bench-pv.XXXXXX")
trap 'rm -rf "$OUT"' EXIT
FROM=$(python3 -c "print($START + 1234.5)")
TO=$(python3 -c "print($END - 3600 + 2345.25)")
# The NVR's playlist, with the out-point as the issue defines it.
python3 - "$DB" "$CAMERA" "$FROM" "$TO" > "$OUT/concat.txt" <<'PY'
import sqlite3, sys
db, cam, a, b = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
rows = sqlite3.connect(db).execute(
    "SELECT path, start_time, end_time FROM previews WHERE camera = ? AND "
    "(start_time BETWEEN ? AND ? OR end_time BETWEEN ? AND ? OR (? > start_time AND ? < end_time)) "
    "ORDER BY start_time", (cam, a, b, a, b, a, b)).fetchall()
for path, s, e in rows:
    print(f"file '{path}'")
    if s < a: print(f"inpoint {a - s}")
    if e > b: print(f"outpoint {b - s}")
PY
files=$(sed -n "s/^file '\(.*\)'$/\1/p" "$OUT/concat.txt")

measure() { # name output command...
  local name=$1 file=$2; shift 2
  sync; echo 3 > /proc/sys/vm/drop_caches 2>/dev/null || true
  /usr/bin/time -f "%e %M" -o "$OUT/time.txt" "$@" > "$OUT/stdout.txt" 2> "$OUT/stderr.txt" || {
    echo "$name failed:" >&2; tail -5 "$OUT/stderr.txt" "$OUT/stdout.txt" >&2; exit 1; }
  [ -n "$file" ] || file=$(find "$OUT/media/exports" -name '*.mp4' | head -1)
  read -r wall rss < "$OUT/time.txt"
  dur=$(ffprobe -v error -show_entries format=duration -of csv=p=0 "$file" 2>/dev/null || echo -)
  echo "$name $wall $rss $dur" >> "$OUT/results.txt"
  rm -rf "$OUT/media" "$OUT/ff.mp4" "$OUT/cp"
}
nvr_args=(export --db "$DB" --media-dir "$OUT/media" --recordings-root "$MEDIA"
  --camera "$CAMERA" --start "$FROM" --end "$TO" --source preview --json)
for i in $(seq "$RUNS"); do
  # shellcheck disable=SC2086
  measure cp "$OUT/cp/last" sh -c 'mkdir -p "$1/cp"; d=$1; shift; cat "$@" > "$d/cp/last" && sync "$d/cp/last"' _ "$OUT" $files
  measure ffmpeg "$OUT/ff.mp4" sh -c 'ffmpeg -nostdin -v error -y -f concat -safe 0 -i "$1" -c copy -movflags +faststart "$2" && sync "$2"' _ "$OUT/concat.txt" "$OUT/ff.mp4"
  measure nvr "" "$BIN" "${nvr_args[@]}"
done
echo "preview export $FROM..$TO ($(python3 -c "print(round(($TO - $FROM) / 3600, 2))") h requested) of $(du -sh "$MEDIA/clips/previews" | cut -f1) previews, $(nproc) cores, $RUNS runs"
python3 - "$OUT/results.txt" "$(python3 -c "print($TO - $FROM)")" <<'PY'
import sys, statistics as st
rows = {}
for line in open(sys.argv[1]):
    n, w, r, d = line.split(); rows.setdefault(n, []).append((float(w), int(r), d))
want = float(sys.argv[2])
med = {n: st.median(x[0] for x in v) for n, v in rows.items()}
for n, v in rows.items():
    print(f"  {n:7} median {med[n]:6.3f} s  peak RSS {max(x[1] for x in v)/1024:6.1f} MiB  duration {v[-1][2]} (requested {want})")
print(f"  nvr/cp {med['nvr']/med['cp']:.2f}x   ffmpeg/nvr {med['ffmpeg']/med['nvr']:.2f}x")
PY
