#!/usr/bin/env bash
# Side-by-side benchmark of one hour's export, in one run, alternating:
#   (a) cp  : the segment bytes concatenated into one file (the floor)
#   (b) ffmpeg: concat demuxer, stream copy, +faststart (what the Python exporter runs)
#   (c) nvr-export export (stream copy, chapters on): the index-driven writer
#   (d) the same export forced through the libav packet-loop writer
# Prints min/median/max wall time and peak RSS of each, and the median ratios.
#
# usage: scripts/bench.sh [CORPUS_DIR] [RUNS]     (corpus from `make bench-corpus`)
set -euo pipefail
CORPUS=${1:-bench-corpus}
RUNS=${2:-5}
BIN=${NVR_EXPORT:-target/release/nvr-export}
[ -f "$CORPUS/frigate.db" ] || { echo "no corpus in $CORPUS: run 'make bench-corpus'" >&2; exit 1; }
CORPUS=$(cd "$CORPUS" && pwd)
OUT=$(mktemp -d "${TMPDIR:-/tmp}/nvr-bench.XXXXXX")
trap 'rm -rf "$OUT"' EXIT

# The range and the segment list, straight from the catalogue (via the CLI's
# own view of it: every recording of the camera).
find "$CORPUS/media/recordings" -name '*.mp4' | sort > "$OUT/segments.txt"
sed "s/'/'\\\\''/g; s|^|file '|; s|\$|'|" "$OUT/segments.txt" > "$OUT/concat.txt"
START=1735689600
NSEG=$(wc -l < "$OUT/segments.txt")
END=$((START + NSEG * 10))
CAM=bench_cam

measure() { # name command...
  local name=$1; shift
  /usr/bin/time -f "%e %M" -o "$OUT/time.txt" "$@" > "$OUT/stdout.txt" 2> "$OUT/stderr.txt" || {
    echo "$name failed:" >&2; cat "$OUT/stderr.txt" >&2; exit 1; }
  read -r wall rss < "$OUT/time.txt"
  echo "$name $wall $rss" >> "$OUT/results.txt"
}

run_cp() { measure cp sh -c 'xargs -d "\n" cat < "$1" > "$2" && sync "$2"' _ "$OUT/segments.txt" "$OUT/cp.bin"; rm -f "$OUT/cp.bin"; }
run_ffmpeg() {
  measure ffmpeg ffmpeg -nostdin -hide_banner -v error -y -f concat -safe 0 -i "$OUT/concat.txt" \
    -c copy -movflags +faststart "$OUT/ffmpeg.mp4"
  rm -f "$OUT/ffmpeg.mp4"
}
run_libav() {
  measure libav "$BIN" export --writer libav --db "$CORPUS/frigate.db" --media-dir "$OUT/media" --camera "$CAM" \
    --start "$START" --end "$END" --json
  rm -rf "$OUT/media/exports"
}
run_nvr() {
  measure nvr "$BIN" export --db "$CORPUS/frigate.db" --media-dir "$OUT/media" --camera "$CAM" \
    --start "$START" --end "$END" --json
  tail -n 1 "$OUT/stdout.txt" >> "$OUT/nvr-done.jsonl"
  rm -rf "$OUT/media/exports"
}

mkdir -p "$OUT/media"
echo "corpus: $NSEG segments, $(du -sh "$CORPUS/media/recordings" | cut -f1), $RUNS runs each (after one warm-up round)"
run_cp; run_ffmpeg; run_nvr; run_libav; : > "$OUT/results.txt"; : > "$OUT/nvr-done.jsonl"
for i in $(seq "$RUNS"); do run_cp; run_ffmpeg; run_nvr; run_libav; done

awk '
{ w[$1] = w[$1] " " $2; r[$1] = r[$1] " " $3 }
function stats(list, out,   n, a, i, j, t) {
  n = split(list, a, " ")
  for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (a[j] + 0 < a[i] + 0) { t = a[i]; a[i] = a[j]; a[j] = t }
  out["min"] = a[1]; out["max"] = a[n]
  out["med"] = (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
}
END {
  printf "%-8s %28s %30s\n", "", "wall s (min / median / max)", "peak RSS MiB (min / med / max)"
  split("cp ffmpeg nvr libav", names, " ")
  for (k = 1; k <= 4; k++) {
    nm = names[k]; stats(w[nm], W); stats(r[nm], R); med[nm] = W["med"]
    printf "%-8s %8.3f / %8.3f / %8.3f   %8.1f / %8.1f / %8.1f\n", nm, W["min"], W["med"], W["max"], R["min"]/1024, R["med"]/1024, R["max"]/1024
  }
  printf "\nmedian ratios: nvr/cp = %.2f   ffmpeg/cp = %.2f   ffmpeg/nvr = %.2f   libav/cp = %.2f\n", med["nvr"]/med["cp"], med["ffmpeg"]/med["cp"], med["ffmpeg"]/med["nvr"], med["libav"]/med["cp"]
}' "$OUT/results.txt"
echo "nvr-export (last run): $(tail -n 1 "$OUT/nvr-done.jsonl" | grep -o '"timings":{[^}]*}'), writer $(tail -n 1 "$OUT/nvr-done.jsonl" | grep -o '"writer":"[a-z]*"'), chapters $(tail -n 1 "$OUT/nvr-done.jsonl" | grep -o '"chapters":[0-9]*')"
