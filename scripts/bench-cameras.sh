#!/usr/bin/env bash
# What a multi-camera export costs against the single exports it replaces:
# three cameras recorded the NVR's way (`bench-corpus`: `audio`, `bframes`
# and `restart`, each its own encode, so no two files are alike), put in one
# catalogue under three names; then, alternating, RUNS times each: one
# export of the three (`--camera` x3, a track each) and the three single
# exports one after the other. Every output is fsynced by the engine and
# removed after. Prints the medians and their ratio.
#
#   scripts/bench-cameras.sh [DIR] [MINUTES] [RUNS]
set -euo pipefail
DIR=${1:-target/bench-cameras}
MINUTES=${2:-10}
RUNS=${3:-5}
BIN=${NVR_EXPORT:-target/release/nvr-export}
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
CAMS=(audio bframes restart)
for v in "${CAMS[@]}"; do
  [ -f "$DIR/$v/corpus.env" ] || "$BIN" bench-corpus --dir "$DIR/$v" --variant "$v" --minutes "$MINUTES"
done
# One catalogue: each corpus's rows under the camera name cam_<variant>.
DB="$DIR/cameras.db"
if [ ! -f "$DB" ]; then
  cp "$DIR/audio/frigate.db" "$DB"
  sqlite3 "$DB" "DELETE FROM recordings; DELETE FROM export;"
  for v in "${CAMS[@]}"; do
    sqlite3 "$DB" "ATTACH '$DIR/$v/frigate.db' AS src;
      INSERT INTO recordings (id, camera, path, start_time, end_time, duration, objects, motion,
        segment_size, dBFS, regions, motion_heatmap)
      SELECT id || '-$v', 'cam_$v', path, start_time, end_time, duration, objects, motion,
        segment_size, dBFS, regions, motion_heatmap FROM src.recordings;"
  done
fi
START=$(sqlite3 "$DB" "SELECT MAX(s) FROM (SELECT MIN(start_time) s FROM recordings GROUP BY camera)")
END=$(sqlite3 "$DB" "SELECT MIN(e) FROM (SELECT MAX(end_time) e FROM recordings GROUP BY camera)")
MEDIA="$DIR/media"
mkdir -p "$MEDIA"
ROOTS=()
for v in "${CAMS[@]}"; do ROOTS+=(--recordings-root "$DIR/$v/media"); done
OUT=$(mktemp -d "${TMPDIR:-/tmp}/nvr-bench-cameras.XXXXXX")
trap 'rm -rf "$OUT"' EXIT
export_() { # cameras...
  local args=()
  for c in "$@"; do args+=(--camera "cam_$c"); done
  "$BIN" export --db "$DB" --media-dir "$MEDIA" "${ROOTS[@]}" "${args[@]}" \
    --start "$START" --end "$END" --chapters none --json > "$OUT/ev.json"
  python3 -c 'import json,sys; print([json.loads(l) for l in open(sys.argv[1])][-1]["video_path"])' "$OUT/ev.json"
}
clean() { rm -f "$MEDIA"/exports/*; sqlite3 "$DB" "DELETE FROM export"; }
now() { date +%s.%N; }
for i in $(seq "$RUNS"); do
  t0=$(now); f=$(export_ "${CAMS[@]}"); t1=$(now)
  size=$(stat -c %s "$f"); clean
  echo "multi $(python3 -c "print($t1 - $t0)") $size" >> "$OUT/times"
  t0=$(now); total=0
  for c in "${CAMS[@]}"; do f=$(export_ "$c"); total=$((total + $(stat -c %s "$f"))); done
  t1=$(now); clean
  echo "singles $(python3 -c "print($t1 - $t0)") $total" >> "$OUT/times"
done
python3 - "$OUT/times" "$MINUTES" <<'PY'
import statistics, sys
t, b = {}, {}
for line in open(sys.argv[1]):
    k, v, n = line.split(); t.setdefault(k, []).append(float(v)); b[k] = int(n)
m, s = statistics.median(t["multi"]), statistics.median(t["singles"])
print(f"3 cameras x {sys.argv[2]} min, {len(t['multi'])} runs each, alternating")
print(f"one multi-camera export   {m*1000:8.1f} ms  {b['multi']/1e6:8.1f} MB")
print(f"three single exports      {s*1000:8.1f} ms  {b['singles']/1e6:8.1f} MB")
print(f"ratio multi / sum          {m/s:8.2f}")
PY
