#!/usr/bin/env bash
# Timelapse (25x, 30 fps, libx264 ultrafast) of a corpus, side by side in
# one run, alternating, every output synced:
#   ffmpeg   the NVR's command: concat of the segments, -vf setpts=0.04*PTS -r 30
#            -c:v libx264 -preset ultrafast -tune zerolatency -an, then sync
#   nvr      nvr-export export --timelapse (GOP-parallel decode; it fsyncs)
#   nokey    nvr-export with --input-args "-skip_frame nokey" (keyframes only:
#            one distinct picture per GOP, choppy; an explicit trade)
# Prints median wall time, peak RSS, output size and frame count of each.
#
# usage: scripts/bench-timelapse.sh CORPUS_DIR [RUNS]
set -euo pipefail
CORPUS=$(cd "${1:?corpus dir}" && pwd)
RUNS=${2:-3}
BIN=${NVR_EXPORT:-target/release/nvr-export}
. "$CORPUS/corpus.env"
OUT=$(mktemp -d "${TMPDIR:-/tmp}/nvr-bench-tl.XXXXXX")
trap 'rm -rf "$OUT"' EXIT
find "$CORPUS/media/recordings" -name '*.mp4' | sort | sed "s/'/'\\\\''/g; s|^|file '|; s|\$|'|" > "$OUT/concat.txt"

measure() { # name output command...
  local name=$1 file=$2; shift 2
  /usr/bin/time -f "%e %M" -o "$OUT/time.txt" "$@" > "$OUT/stdout.txt" 2> "$OUT/stderr.txt" || {
    echo "$name failed:" >&2; tail -5 "$OUT/stderr.txt" "$OUT/stdout.txt" >&2; exit 1; }
  [ -n "$file" ] || file=$(find "$OUT/media/exports" -name '*.mp4' | head -1)
  read -r wall rss < "$OUT/time.txt"
  frames=$(ffprobe -v error -select_streams v -show_entries stream=nb_frames -of csv=p=0 "$file")
  echo "$name $wall $rss $(stat -c %s "$file") $frames" >> "$OUT/results.txt"
  rm -rf "$OUT/media" "$OUT/ff.mp4"
}
nvr_args=(export --db "$CORPUS/frigate.db" --media-dir "$OUT/media" --recordings-root "$CORPUS/media"
  --camera "$CAMERA" --start "$START" --end "$END" --chapters none --timelapse --json)
for i in $(seq "$RUNS"); do
  measure ffmpeg "$OUT/ff.mp4" sh -c 'ffmpeg -nostdin -v error -y -f concat -safe 0 -i "$1" -an -vf setpts=0.04*PTS -r 30 -c:v libx264 -preset ultrafast -tune zerolatency "$2" && sync "$2"' _ "$OUT/concat.txt" "$OUT/ff.mp4"
  measure nvr "" "$BIN" "${nvr_args[@]}"
  measure nokey "" "$BIN" "${nvr_args[@]}" --input-args "-skip_frame nokey"
done
hours=$(python3 -c "print(($END - $START) / 3600)")
echo "timelapse 25x of $(basename "$CORPUS") ($(du -sh "$CORPUS/media" | cut -f1), $(nproc) cores), $RUNS runs"
python3 - "$OUT/results.txt" "$hours" <<'PY'
import sys, statistics as st
rows = {}
for line in open(sys.argv[1]):
    n, w, r, size, frames = line.split(); rows.setdefault(n, []).append((float(w), int(r), int(size), frames))
hours = float(sys.argv[2])
med = {n: st.median(x[0] for x in v) for n, v in rows.items()}
for n, v in rows.items():
    size = v[-1][2]
    print(f"  {n:7} median {med[n]:6.2f} s  peak RSS {max(x[1] for x in v)/1024:6.1f} MiB  "
          f"output {size/1e6:6.2f} MB ({size/1e6/hours:6.1f} MB per input hour)  frames {v[-1][3]}")
print(f"  ffmpeg/nvr {med['ffmpeg']/med['nvr']:.2f}x   ffmpeg/nokey {med['ffmpeg']/med['nokey']:.2f}x")
PY
