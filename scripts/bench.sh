#!/usr/bin/env bash
# Side-by-side benchmark of one export, in one run, alternating:
#   cp      the segment bytes concatenated into one file, synced (the floor)
#   ffmpeg  concat demuxer, stream copy, +faststart (what the Python exporter runs), synced
#   nvr     nvr-export export (the writer it picks; it fsyncs)
#   libav   the same export forced through the libav packet-loop writer
#   base    (only with NVR_EXPORT_BASE=BINARY) another build's export, e.g. the
#           previous commit's, for a regression check in the same run
# Every method ends with its output on disk. Prints min/median/max wall time
# and peak RSS of each, the median ratios, the writer nvr-export chose (and
# why not the fast one, if so), its start-up latency (first sample written)
# and its cancel latency (SIGINT to exit, files cleaned up).
#
# usage: scripts/bench.sh CORPUS_DIR [RUNS]   (corpus from `nvr-export bench-corpus`)
set -euo pipefail
CORPUS=${1:?corpus dir}
RUNS=${2:-3}
BIN=${NVR_EXPORT:-target/release/nvr-export}
[ -f "$CORPUS/corpus.env" ] || { echo "no corpus in $CORPUS: run 'make bench-corpus'" >&2; exit 1; }
CORPUS=$(cd "$CORPUS" && pwd)
# CAMERA, START, END, VARIANT
. "$CORPUS/corpus.env"
OUT=$(mktemp -d "${TMPDIR:-/tmp}/nvr-bench.XXXXXX")
trap 'rm -rf "$OUT"' EXIT

find "$CORPUS/media/recordings" -name '*.mp4' | sort > "$OUT/segments.txt"
sed "s/'/'\\\\''/g; s|^|file '|; s|\$|'|" "$OUT/segments.txt" > "$OUT/concat.txt"
NSEG=$(wc -l < "$OUT/segments.txt")

measure() { # name command...
  local name=$1; shift
  /usr/bin/time -f "%e %M" -o "$OUT/time.txt" "$@" > "$OUT/stdout.txt" 2> "$OUT/stderr.txt" || {
    echo "$name failed:" >&2; cat "$OUT/stderr.txt" >&2; exit 1; }
  read -r wall rss < "$OUT/time.txt"
  echo "$name $wall $rss" >> "$OUT/results.txt"
}

export_args=(export --db "$CORPUS/frigate.db" --media-dir "$OUT/media" --recordings-root "$CORPUS/media" --camera "$CAMERA"
  --start "$START" --end "$END" --chapters review-items --json)
run_cp() { measure cp sh -c 'xargs -d "\n" cat < "$1" > "$2" && sync "$2"' _ "$OUT/segments.txt" "$OUT/cp.bin"; rm -f "$OUT/cp.bin"; }
run_ffmpeg() {
  measure ffmpeg sh -c 'ffmpeg -nostdin -hide_banner -v error -y -f concat -safe 0 -i "$1" -c copy -movflags +faststart "$2" && sync "$2"' \
    _ "$OUT/concat.txt" "$OUT/ffmpeg.mp4"
  rm -f "$OUT/ffmpeg.mp4"
}
run_libav() { measure libav "$BIN" "${export_args[@]}" --writer libav; rm -rf "$OUT/media/exports"; }
run_base() {
  [ -n "${NVR_EXPORT_BASE:-}" ] || return 0
  measure base "$NVR_EXPORT_BASE" "${export_args[@]}"; rm -rf "$OUT/media/exports"
}
run_nvr() {
  measure nvr "$BIN" "${export_args[@]}"
  tail -n 1 "$OUT/stdout.txt" >> "$OUT/nvr-done.jsonl"
  rm -rf "$OUT/media/exports"
}

mkdir -p "$OUT/media"
echo "corpus $VARIANT: $NSEG segments, $(du -sh "$CORPUS/media/recordings" | cut -f1), $RUNS runs each (after one warm-up round)"
run_cp; run_ffmpeg; run_nvr; run_libav; run_base; : > "$OUT/results.txt"; : > "$OUT/nvr-done.jsonl"
for i in $(seq "$RUNS"); do run_cp; run_ffmpeg; run_nvr; run_libav; run_base; done

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
  split("cp ffmpeg nvr libav base", names, " ")
  for (k = 1; k <= 5; k++) {
    nm = names[k]; if (!(nm in w)) continue
    stats(w[nm], W); stats(r[nm], R); med[nm] = W["med"]
    printf "%-8s %8.3f / %8.3f / %8.3f   %8.1f / %8.1f / %8.1f\n", nm, W["min"], W["med"], W["max"], R["min"]/1024, R["med"]/1024, R["max"]/1024
  }
  printf "\nmedian ratios: nvr/cp = %.2f   ffmpeg/cp = %.2f   ffmpeg/nvr = %.2f   libav/cp = %.2f\n", med["nvr"]/med["cp"], med["ffmpeg"]/med["cp"], med["ffmpeg"]/med["nvr"], med["libav"]/med["cp"]
  if ("base" in med) printf "regression check: nvr/base = %.2f\n", med["nvr"]/med["base"]
}' "$OUT/results.txt"
last=$(tail -n 1 "$OUT/nvr-done.jsonl")
echo "nvr-export (last run): writer $(echo "$last" | grep -o '"writer":"[a-z]*"'), $(echo "$last" | grep -o '"fast_declined":"[^"]*"' || echo 'fast path taken'), $(echo "$last" | grep -o '"timings":{[^}]*}')"

# Cancel latency: SIGINT 0.3 s into an export, time until the process is gone.
for i in 1 2 3; do
  "$BIN" "${export_args[@]}" > /dev/null 2>&1 & pid=$!
  sleep 0.3
  t0=$(date +%s%N); kill -INT $pid 2>/dev/null || true; wait $pid || true; t1=$(date +%s%N)
  left=$(find "$OUT/media/exports" -type f 2>/dev/null | wc -l)
  echo "cancel $i: SIGINT to exit $(( (t1 - t0) / 1000000 )) ms, $left file(s) left"
  rm -rf "$OUT/media/exports"
done
