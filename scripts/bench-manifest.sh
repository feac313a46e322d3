#!/usr/bin/env bash
# What a manifest costs (`export --manifest`: SHA-256 of the export and of
# every source segment, read back): an export of CORPUS's range with and
# without it, alternating, RUNS times each, each output fsynced by the
# engine and removed after. Prints the medians, their ratio and the bytes
# hashed. On a filesystem that shares extents (btrfs, XFS) the plain export
# reads no sample bytes at all; the manifest reads them all.
#
#   scripts/bench-manifest.sh CORPUS_DIR [RUNS]
set -euo pipefail
CORPUS=$(cd "${1:?corpus dir}" && pwd)
RUNS=${2:-5}
BIN=${NVR_EXPORT:-target/release/nvr-export}
. "$CORPUS/corpus.env"
OUT=$(mktemp -d "${TMPDIR:-/tmp}/nvr-bench-manifest.XXXXXX")
trap 'rm -rf "$OUT"' EXIT
run() { # flags...
  local t0 t1
  t0=$(date +%s.%N)
  "$BIN" export --db "$CORPUS/frigate.db" --media-dir "$CORPUS/media" --camera "$CAMERA" \
    --start "$START" --end "$END" --chapters none --json "$@" > "$OUT/ev.json"
  t1=$(date +%s.%N)
  python3 -c "print($t1 - $t0)"
  local f; f=$(python3 -c 'import json,sys; print([json.loads(l) for l in open(sys.argv[1])][-1]["video_path"])' "$OUT/ev.json")
  [ -f "$f.manifest.json" ] && python3 -c 'import json,sys; m=json.load(open(sys.argv[1])); print("bytes", m["export"]["size"] + sum(s["size"] for s in m["sources"]))' "$f.manifest.json" >> "$OUT/bytes"
  rm -f "$f" "$f.manifest.json"
  sqlite3 "$CORPUS/frigate.db" "delete from export" 2>/dev/null || true
}
for i in $(seq "$RUNS"); do
  echo "plain $(run)" >> "$OUT/times"
  echo "manifest $(run --manifest)" >> "$OUT/times"
done
python3 - "$OUT/times" "$OUT/bytes" <<'PY'
import statistics, sys
t = {}
for line in open(sys.argv[1]):
    k, v = line.split(); t.setdefault(k, []).append(float(v))
b = [int(l.split()[1]) for l in open(sys.argv[2])]
p, m = statistics.median(t["plain"]), statistics.median(t["manifest"])
print(f"plain export      {p*1000:8.1f} ms (median of {len(t['plain'])})")
print(f"with --manifest   {m*1000:8.1f} ms")
print(f"ratio             {m/p:8.2f}x; hashed {b[0]/2**20:.0f} MiB, {b[0]/2**20/(m-p):.0f} MiB/s of extra time")
PY
