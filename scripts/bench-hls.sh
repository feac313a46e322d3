#!/usr/bin/env bash
# The HLS source against the NVR's own VOD server (../shared/peers/nginx-vod,
# built by its build.sh) serving a benchmark corpus on loopback. Alternating,
# in one run:
#   fetch    every playlist, init and fragment fetched over one keep-alive
#            connection and discarded (the server's own floor; nothing written)
#   ffmpeg   ffmpeg -i <master.m3u8> -c copy -movflags +faststart, then sync
#   vod      nvr-export --vod-url .../vod/... (one init; it fsyncs)
#   clip     nvr-export --vod-base (the /vod/clip/ form: an init per clip)
# Prints median wall time and peak RSS of each, and the ratios.
#
# usage: scripts/bench-hls.sh CORPUS_DIR [RUNS] [PORT]
set -euo pipefail
CORPUS=$(cd "${1:?corpus dir}" && pwd)
RUNS=${2:-3}
PORT=${3:-$((18100 + $$ % 800))}
BIN=${NVR_EXPORT:-target/release/nvr-export}
PEER=${NVR_VOD_PEER_DIR:-$(cd "$(dirname "$0")/../.." && pwd)/shared/peers/nginx-vod}
. "$CORPUS/corpus.env"
OUT=$(mktemp -d "${TMPDIR:-/tmp}/nvr-bench-hls.XXXXXX")
python3 "$PEER/serve.py" start "$CORPUS/frigate.db" "$PORT" > /dev/null
trap 'python3 "$PEER/serve.py" stop "$PORT" > /dev/null 2>&1; rm -rf "$OUT"' EXIT
BASE="http://127.0.0.1:$PORT"
VOD="$BASE/vod/$CAMERA/start/$START/end/$END"

measure() { # name command...
  local name=$1; shift
  /usr/bin/time -f "%e %M" -o "$OUT/time.txt" "$@" > "$OUT/stdout.txt" 2> "$OUT/stderr.txt" || {
    echo "$name failed:" >&2; cat "$OUT/stderr.txt" "$OUT/stdout.txt" >&2 | tail -5; exit 1; }
  read -r wall rss < "$OUT/time.txt"
  echo "$name $wall $rss" >> "$OUT/results.txt"
  rm -rf "$OUT/media" "$OUT/ff.mp4"
}
cat > "$OUT/fetch_all.py" <<'PY'
import http.client, sys, urllib.parse
u = urllib.parse.urlparse(sys.argv[1]); base = u.path.rsplit("/", 1)[0] + "/"
c = http.client.HTTPConnection(u.hostname, u.port)
def get(p):
    c.request("GET", p); r = c.getresponse(); b = r.read(); assert r.status == 200, (p, r.status); return b
body = get(base + "index.m3u8").decode()
for line in body.splitlines():
    if line.startswith("#EXT-X-MAP:URI="): get(base + line.split('"')[1])
    elif line and not line.startswith("#"): get(base + line)
PY
fetch_all() { python3 "$OUT/fetch_all.py" "$1"; }
nvr_args=(--db "$CORPUS/frigate.db" --media-dir "$OUT/media" --camera "$CAMERA"
  --start "$START" --end "$END" --chapters none --json)

# Warm the server's mapping and the page cache once.
fetch_all "$VOD/master.m3u8"
for i in $(seq "$RUNS"); do
  measure fetch python3 "$OUT/fetch_all.py" "$VOD/master.m3u8"
  measure ffmpeg sh -c 'ffmpeg -nostdin -v error -y -i "$1" -c copy -movflags +faststart "$2" && sync "$2"' _ "$VOD/master.m3u8" "$OUT/ff.mp4"
  measure vod "$BIN" export "${nvr_args[@]}" --vod-url "$VOD/master.m3u8"
  measure clip "$BIN" export "${nvr_args[@]}" --vod-base "$BASE"
done
echo "HLS from the NVR's VOD server ($(basename "$CORPUS"), $(du -sh "$CORPUS/media" | cut -f1) of recordings), $RUNS runs"
python3 - "$OUT/results.txt" <<'PY'
import sys, statistics as st
rows = {}
for line in open(sys.argv[1]):
    n, w, r = line.split(); rows.setdefault(n, []).append((float(w), int(r)))
med = {n: st.median(w for w, _ in v) for n, v in rows.items()}
for n, v in rows.items():
    print(f"  {n:7} median {med[n]:6.2f} s  (min {min(w for w, _ in v):.2f})  peak RSS {max(r for _, r in v)/1024:6.1f} MiB")
print(f"  ffmpeg/vod {med['ffmpeg']/med['vod']:.2f}x   ffmpeg/clip {med['ffmpeg']/med['clip']:.2f}x   vod/fetch {med['vod']/med['fetch']:.2f}x")
PY

# Cancellation: SIGINT half a second into the export, time to process exit
# (its partial file and row removed).
for i in 1 2 3; do
  "$BIN" export "${nvr_args[@]}" --vod-url "$VOD/master.m3u8" > /dev/null 2>&1 &
  pid=$!; sleep 0.5
  t0=$(date +%s%N); kill -INT "$pid"; wait "$pid" || true; t1=$(date +%s%N)
  left=$(find "$OUT/media/exports" -type f 2>/dev/null | wc -l)
  echo "  cancel: SIGINT to exit $(( (t1 - t0) / 1000000 )) ms, files left: $left"
  rm -rf "$OUT/media"
done
