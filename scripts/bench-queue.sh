#!/usr/bin/env bash
# The export queue under load, with real corpora (from `make bench-corpus`):
#   1. throughput: the hour corpus cut in three 20-minute ranges, run by
#      `batch` with --max-concurrent 3 and with --max-concurrent 1 (same
#      run, alternating); the ratio is what concurrency buys on this disk;
#   2. memory: three day-long exports at once (--max-concurrent 3) against
#      one, peak RSS of the whole process;
#   3. cancellation: SIGINT to a batch of three running day-long exports,
#      time until the process has exited with every partial file and row gone.
# Every export ends on disk, fsynced (the engine syncs before renaming).
#
# usage: scripts/bench-queue.sh HOUR_CORPUS DAY_CORPUS [RUNS]
set -euo pipefail
HOUR=$(cd "${1:?hour corpus}" && pwd)
DAY=$(cd "${2:?day corpus}" && pwd)
RUNS=${3:-3}
BIN=${NVR_EXPORT:-target/release/nvr-export}
OUT=$(mktemp -d "${TMPDIR:-/tmp}/nvr-bench-queue.XXXXXX")
trap 'rm -rf "$OUT"' EXIT

batch_file() { # corpus-dir n-parts -> prints a batch JSON of n equal ranges
  ( . "$1/corpus.env"; python3 - "$CAMERA" "$START" "$END" "$2" <<'PY'
import json, sys
cam, a, b, n = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
step = (b - a) / n
print(json.dumps([{"camera": cam, "start": a + i * step, "end": a + (i + 1) * step, "chapters": "none"} for i in range(n)]))
PY
  )
}
same_range() { # corpus-dir n -> n requests for the whole range
  ( . "$1/corpus.env"; python3 -c "import json,sys; print(json.dumps([{'camera': '$CAMERA', 'start': $START, 'end': $END, 'chapters': 'none'}]*$2))" )
}
run_batch() { # name corpus file max-concurrent
  local name=$1 corpus=$2 file=$3 n=$4
  rm -rf "$OUT/media"; mkdir -p "$OUT/media"
  /usr/bin/time -f "%e %M" -o "$OUT/time.txt" "$BIN" batch "$file" --db "$corpus/frigate.db" \
    --media-dir "$OUT/media" --recordings-root "$corpus/media" --max-concurrent "$n" --json > "$OUT/events.txt"
  read -r wall rss < "$OUT/time.txt"
  local ok; ok=$(grep -c '"event":"success"' "$OUT/events.txt" || true)
  echo "$name $wall $rss $ok" >> "$OUT/results.txt"
}

batch_file "$HOUR" 3 > "$OUT/thirds.json"
for i in $(seq "$RUNS"); do
  run_batch concurrent3 "$HOUR" "$OUT/thirds.json" 3
  run_batch sequential "$HOUR" "$OUT/thirds.json" 1
done
same_range "$DAY" 1 > "$OUT/day1.json"
same_range "$DAY" 3 > "$OUT/day3.json"
run_batch day_x1 "$DAY" "$OUT/day1.json" 1
run_batch day_x3 "$DAY" "$OUT/day3.json" 3

echo "queue benchmark: $(basename "$HOUR") thirds, $(basename "$DAY") whole; $RUNS runs"
python3 - "$OUT/results.txt" <<'PY'
import sys, statistics as st
rows = {}
for line in open(sys.argv[1]):
    name, wall, rss, ok = line.split()
    rows.setdefault(name, []).append((float(wall), int(rss), int(ok)))
for name, v in rows.items():
    walls = [w for w, _, _ in v]
    print(f"  {name:12} median {st.median(walls):7.2f} s  min {min(walls):7.2f}  peak RSS {max(r for _, r, _ in v)/1024:7.1f} MiB  succeeded {min(o for _, _, o in v)}")
c, s = st.median(w for w, _, _ in rows["concurrent3"]), st.median(w for w, _, _ in rows["sequential"])
print(f"  concurrent3/sequential wall: {c/s:.2f}")
print(f"  three day-long exports at once / one: RSS {max(r for _,r,_ in rows['day_x3'])/max(r for _,r,_ in rows['day_x1']):.2f}x")
PY

# 3. Cancellation of running jobs.
rm -rf "$OUT/media"; mkdir -p "$OUT/media"
"$BIN" batch "$OUT/day3.json" --db "$DAY/frigate.db" --media-dir "$OUT/media" \
  --recordings-root "$DAY/media" --max-concurrent 3 --max-rate 5M --json > "$OUT/cancel.txt" &
pid=$!
for _ in $(seq 600); do
  [ "$(grep '"step":"copying"' "$OUT/cancel.txt" | grep -o '"job":"[^"]*"' | sort -u | wc -l)" -ge 3 ] && break; sleep 0.05
done
t0=$(date +%s.%N); kill -INT "$pid"; wait "$pid" || true; t1=$(date +%s.%N)
left=$(find "$OUT/media/exports" -type f | wc -l)
python3 - "$OUT/cancel.txt" "$t0" "$t1" "$left" <<'PY'
import json, sys
t0, t1, left = float(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
ends = [json.loads(l)["at"] for l in open(sys.argv[1]) if '"event":"cancelled"' in l]
per_job = ", ".join(f"{(e - t0) * 1000:.0f}" for e in sorted(ends))
print(f"  SIGINT with 3 running jobs: each job cancelled (partial file and row gone) after {per_job} ms; "
      f"process exited after {(t1-t0)*1000:.0f} ms; files left: {left}")
PY
