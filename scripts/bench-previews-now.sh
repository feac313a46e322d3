#!/usr/bin/env bash
# Preview export that reaches into the current hour: the last 2.5 hours of
# previews plus 600 cached frames (5 minutes at two a second), side by side
# in one run, alternating, every output synced:
#   ffmpeg   the NVR's command for this case: concat of the preview files
#            (in-point) and the frames (`duration 0.12` each, the last one
#            repeated), re-encoded whole with `-c:v libx264` (its default
#            preset), +faststart, then sync
#   nvr      nvr-export --source preview: previews stream-copied, only the
#            frames encoded (libx264 ultrafast), appended
# Prints median wall time, peak RSS, output duration and size of each.
#
# usage: scripts/bench-previews-now.sh [CORPUS_DIR] [RUNS]
set -euo pipefail
BIN=${NVR_EXPORT:-target/release/nvr-export}
CORPUS=${1:-bench-corpus/previews-now}
RUNS=${2:-3}
[ -f "$CORPUS/corpus.env" ] || "$BIN" preview-corpus --dir "$CORPUS" --hours 3 --frames 600
CORPUS=$(cd "$CORPUS" && pwd)
. "$CORPUS/corpus.env"
OUT=$(mktemp -d "${TMPDIR:-/tmp}/nvr-bench-pvn.XXXXXX")
trap 'rm -rf "$OUT"' EXIT
FROM=$(python3 -c "print($START + 1800.5)")
TO=$END
python3 - "$DB" "$CAMERA" "$FROM" "$TO" "$CACHE/preview_frames" > "$OUT/concat.txt" <<'PY'
import os, sqlite3, sys
db, cam, a, b, frames = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4]), sys.argv[5]
rows = sqlite3.connect(db).execute(
    "SELECT path, start_time, end_time FROM previews WHERE camera = ? AND "
    "(start_time BETWEEN ? AND ? OR end_time BETWEEN ? AND ? OR (? > start_time AND ? < end_time)) "
    "ORDER BY start_time", (cam, a, b, a, b, a, b)).fetchall()
last_end = a
for path, s, e in rows:
    print(f"file '{path}'")
    if s < a: print(f"inpoint {a - s}")
    if e > b: print(f"outpoint {b - s}")
    last_end = max(last_end, e)
prefix = f"preview_{cam}-"
names = sorted((float(n[len(prefix):-5]), n) for n in os.listdir(frames) if n.startswith(prefix) and n.endswith(".webp"))
picked = [n for t, n in names if last_end <= t <= b]
for n in picked:
    print(f"file '{os.path.join(frames, n)}'"); print("duration 0.12")
if picked: print(f"file '{os.path.join(frames, picked[-1])}'")
PY

measure() { # name output command...
  local name=$1 file=$2; shift 2
  /usr/bin/time -f "%e %M" -o "$OUT/time.txt" "$@" > "$OUT/stdout.txt" 2> "$OUT/stderr.txt" || {
    echo "$name failed:" >&2; tail -5 "$OUT/stderr.txt" "$OUT/stdout.txt" >&2; exit 1; }
  [ -n "$file" ] || file=$(find "$OUT/media/exports" -name '*.mp4' | head -1)
  read -r wall rss < "$OUT/time.txt"
  dur=$(ffprobe -v error -show_entries format=duration -of csv=p=0 "$file")
  echo "$name $wall $rss $dur $(stat -c %s "$file")" >> "$OUT/results.txt"
  rm -rf "$OUT/media" "$OUT/ff.mp4"
}
nvr_args=(export --db "$DB" --media-dir "$OUT/media" --recordings-root "$MEDIA" --cache-dir "$CACHE"
  --camera "$CAMERA" --start "$FROM" --end "$TO" --source preview --json)
for i in $(seq "$RUNS"); do
  measure ffmpeg "$OUT/ff.mp4" sh -c 'ffmpeg -nostdin -v error -y -f concat -safe 0 -i "$1" -c:v libx264 -movflags +faststart "$2" && sync "$2"' _ "$OUT/concat.txt" "$OUT/ff.mp4"
  measure nvr "" "$BIN" "${nvr_args[@]}"
done
echo "preview export into the current hour: $(python3 -c "print(round(($TO - $FROM) / 3600, 2))") h requested ($(grep -c duration "$OUT/concat.txt") cached frames), $(nproc) cores, $RUNS runs"
python3 - "$OUT/results.txt" <<'PY'
import sys, statistics as st
rows = {}
for line in open(sys.argv[1]):
    n, w, r, d, size = line.split(); rows.setdefault(n, []).append((float(w), int(r), d, int(size)))
med = {n: st.median(x[0] for x in v) for n, v in rows.items()}
for n, v in rows.items():
    print(f"  {n:7} median {med[n]:7.2f} s  peak RSS {max(x[1] for x in v)/1024:6.1f} MiB  duration {v[-1][2]} s  size {v[-1][3]/1e6:.1f} MB")
print(f"  ffmpeg/nvr {med['ffmpeg']/med['nvr']:.1f}x")
PY
