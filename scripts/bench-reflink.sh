#!/usr/bin/env bash
# An hour of recordings exported on an XFS (reflink) loop filesystem,
# alternating in one run, every output synced:
#   cp        the segments concatenated into one file (plain copy), then sync
#   reflink   cp --reflink=always of the raw segments (the filesystem's floor)
#   nvr       nvr-export (block-aligned runs, shared by the filesystem; it fsyncs)
#   nvr_libav_probe  the same with every segment header opened by libav
#             (what it did before it read them itself)
# Prints median times, ratios, and the output's newly allocated (unshared)
# bytes. Root only (mkfs.xfs + loop mount).
#
# usage: [COLD=1] [FS=xfs|btrfs] scripts/bench-reflink.sh CORPUS_DIR [RUNS]
#   COLD=1 drops the page cache before every command; FS=btrfs measures
#   on btrfs instead of XFS.
set -euo pipefail
CORPUS=$(cd "${1:?corpus dir}" && pwd)
RUNS=${2:-3}
BIN=$(cd "$(dirname "${NVR_EXPORT:-target/release/nvr-export}")" && pwd)/$(basename "${NVR_EXPORT:-target/release/nvr-export}")
[ "$(id -u)" = 0 ] || { echo "bench-reflink: root only (loop mount)"; exit 0; }
WORK=$(mktemp -d "${TMPDIR:-/tmp}/nvr-bench-reflink.XXXXXX")
size=$(( $(du -sb "$CORPUS/media" | cut -f1) * 3 + (512 << 20) ))
truncate -s "$size" "$WORK/fs.img"
case "${FS:-xfs}" in
  xfs) mkfs.xfs -q -m reflink=1 "$WORK/fs.img" ;;
  btrfs) mkfs.btrfs -q "$WORK/fs.img" ;;
  *) echo "bench-reflink: FS=xfs or FS=btrfs" >&2; exit 2 ;;
esac
mkdir "$WORK/mnt"; mount -o loop "$WORK/fs.img" "$WORK/mnt"
trap 'umount "$WORK/mnt"; rm -rf "$WORK"' EXIT
M=$WORK/mnt
cp -r "$CORPUS/." "$M/c/" 2>/dev/null || { mkdir -p "$M/c"; cp -r "$CORPUS/." "$M/c/"; }
python3 - "$M/c/frigate.db" "$CORPUS" "$M/c" <<'PY'
import sqlite3, sys
c = sqlite3.connect(sys.argv[1]); c.execute("update recordings set path = replace(path, ?, ?)", (sys.argv[2], sys.argv[3])); c.commit()
PY
. "$M/c/corpus.env"
find "$M/c/media/recordings" -name '*.mp4' | sort > "$WORK/segs.txt"
sync
unshared() { filefrag -v -b4096 "$1" | awk -F: '/^ *[0-9]+:/ && !/shared/ { split($4, a, " "); n += a[1] } END { print n * 4096 }'; }
measure() { # name output command...
  local name=$1 out=$2; shift 2
  # COLD=1: nothing in the page cache (an export of last week's footage).
  if [ "${COLD:-0}" = 1 ]; then sync; echo 3 > /proc/sys/vm/drop_caches; fi
  # Microseconds (bash's clock; /usr/bin/time rounds to 10 ms).
  local t0=$EPOCHREALTIME
  "$@" > "$WORK/out.txt" 2> "$WORK/err.txt" || { cat "$WORK/err.txt" >&2; exit 1; }
  local t1=$EPOCHREALTIME
  python3 -c 'import sys; print(f"{float(sys.argv[2]) - float(sys.argv[1]):.6f}")' "$t0" "$t1" > "$WORK/time.txt"
  [ -n "$out" ] || out=$(find "$M/c/media/exports" -name '*.mp4' | head -1)
  # nvr-export's own figure, in process (no process start): timings.total_s.
  inproc=$(python3 -c 'import json,sys
try: print(json.loads(open(sys.argv[1]).read().splitlines()[-1])["timings"]["total_s"])
except Exception: print("-")' "$WORK/out.txt")
  echo "$name $(cat "$WORK/time.txt") $(du -sb "$out" | cut -f1) $(unshared "$out") $inproc" >> "$WORK/results.txt"
  rm -rf "$out" "$M/c/media/exports" "$M/rl"
}
for i in $(seq "$RUNS"); do
  measure cp "$M/cp.bin" sh -c 'xargs -d "\n" cat < "$1" > "$2" && sync "$2"' _ "$WORK/segs.txt" "$M/cp.bin"
  measure reflink "$M/rl" sh -c 'mkdir -p "$2" && xargs -d "\n" cp --reflink=always -t "$2" < "$1" && sync -f "$2"' _ "$WORK/segs.txt" "$M/rl"
  measure nvr "" "$BIN" export --db "$M/c/frigate.db" --media-dir "$M/c/media" --camera "$CAMERA" --start "$START" --end "$END" --chapters none --json
  measure nvr_libav_probe "" "$BIN" export --db "$M/c/frigate.db" --media-dir "$M/c/media" --camera "$CAMERA" --start "$START" --end "$END" --chapters none --json --libav-probe
done
echo "hour on ${FS:-xfs} (extent sharing), $RUNS runs$([ "${COLD:-0}" = 1 ] && echo ", page cache dropped before each")"
python3 - "$WORK/results.txt" <<'PY'
import sys, statistics as st
rows = {}
for l in open(sys.argv[1]):
    n, t, size, new, inproc = l.split(); rows.setdefault(n, []).append((float(t), int(size), int(new), inproc))
med = {n: st.median(x[0] for x in v) for n, v in rows.items()}
for n, v in rows.items():
    size, new = v[-1][1], v[-1][2]
    ip = [float(x[3]) for x in v if x[3] != "-"]
    extra = f"   in process {st.median(ip):.3f} s" if ip else ""
    print(f"  {n:8} median {med[n]:8.4f} s   output {size/1e6:8.1f} MB, not shared {new/1e6:8.2f} MB ({100*new/max(size,1):.2f} %){extra}")
print(f"  nvr/cp {med['nvr']/med['cp']:.3f}x   nvr_libav_probe/cp {med['nvr_libav_probe']/med['cp']:.3f}x")
# The library's own figure (an NVR backend calls it in process): no
# process start, no dynamic linking of libav's ~170 libraries.
ip = [float(x[3]) for x in rows['nvr'] if x[3] != "-"]
if ip:
    print(f"  nvr in process/cp {st.median(ip)/med['cp']:.3f}x   (process start and exit: {med['nvr'] - st.median(ip):.3f} s)")
PY
