#!/usr/bin/env bash
# Peak RSS of whole-corpus exports (one hour, one day): memory must be
# bounded, not follow the number of samples.
# usage: scripts/bench-memory.sh CORPUS_DIR...   (corpora from `nvr-export bench-corpus`)
set -euo pipefail
BIN=${NVR_EXPORT:-target/release/nvr-export}
OUT=$(mktemp -d "${TMPDIR:-/tmp}/nvr-mem.XXXXXX")
trap 'rm -rf "$OUT"' EXIT
base=$( { /usr/bin/time -f "%M" "$BIN" info > /dev/null; } 2>&1 | tail -n 1)
echo "process with libav loaded (nvr-export info): $((base / 1024)) MiB"
for dir in "$@"; do
  . "$dir/corpus.env"
  /usr/bin/time -f "%M %e" -o "$OUT/rss" "$BIN" export --db "$dir/frigate.db" --media-dir "$OUT/media" --recordings-root "$dir/media" \
      --camera "$CAMERA" --start "$START" --end "$END" --json > "$OUT/out.jsonl"
  read -r rss wall < "$OUT/rss"
  done=$(tail -n 1 "$OUT/out.jsonl")
  pk=$(echo "$done" | grep -o '"packets":{[^}]*}')
  writer=$(echo "$done" | grep -o '"writer":"[a-z]*"')
  hours=$(( (END - START + 1800) / 3600 ))
  echo "$(basename "$dir"): ${hours} h, $(du -sh "$dir/media/recordings" | cut -f1) of segments, $pk, $writer, peak RSS $((rss / 1024)) MiB, $wall s"
  rm -rf "$OUT/media/exports"
done
