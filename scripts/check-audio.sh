#!/usr/bin/env bash
# Every audio packet kept: for each camera of a store, a whole-range export
# (both stream-copy writers), and the audio packets of its segment files
# against the export's, by content (MD5 of each packet, as a multiset).
#
#   scripts/check-audio.sh STORE_ROOT [NVR_EXPORT_BINARY]
#
# Prints per camera and writer: source packets, exported packets, source
# packets missing from the export, packets the export reported dropped.
set -euo pipefail
ROOT=$(cd "${1:?store root}" && pwd)
BIN=$(realpath "${2:-target/release/nvr-export}")
DB=$ROOT/frigate.db
OUT=$(mktemp -d); trap 'rm -rf "$OUT"' EXIT
amd5() { ffmpeg -nostdin -v error -i "$1" -map 0:a:0 -c copy -f framemd5 - 2>/dev/null | grep -v '^#' | awk -F, '{print $6}'; }
printf '%-24s %-6s %8s %8s %8s %8s %8s\n' camera writer source export missing extra dropped
for cam in $(sqlite3 "$DB" "select distinct camera from recordings order by camera"); do
  first=$(sqlite3 "$DB" "select min(start_time) from recordings where camera='$cam'")
  last=$(sqlite3 "$DB" "select max(end_time) from recordings where camera='$cam'")
  : > "$OUT/src"
  for f in $(sqlite3 "$DB" "select path from recordings where camera='$cam' order by start_time"); do amd5 "$f" >> "$OUT/src" || true; done
  [ -s "$OUT/src" ] || continue
  for writer in auto libav; do
    rm -rf "$OUT/media"; mkdir -p "$OUT/media"
    "$BIN" export --db "$DB" --media-dir "$OUT/media" --recordings-root "$ROOT/media" --camera "$cam" \
      --start "$(python3 -c "print(int($first) - 1)")" --end "$(python3 -c "print(int($last) + 2)")" \
      --writer $writer --id "audiocheck" --json > "$OUT/ev.json"
    sqlite3 "$DB" "delete from export where id = 'audiocheck'"
    amd5 "$OUT"/media/exports/*.mp4 > "$OUT/exp"
    missing=$(python3 - "$OUT/src" "$OUT/exp" <<'PY'
import sys, collections
src = collections.Counter(open(sys.argv[1]).read().split())
exp = collections.Counter(open(sys.argv[2]).read().split())
print(sum((src - exp).values()), sum((exp - src).values()))
PY
)
    dropped=$(grep '"event":"done"' "$OUT/ev.json" | python3 -c 'import json,sys; d=json.load(sys.stdin); a=d.get("audio_packets_dropped"); print(sum(a.values()) if a else "?")')
    printf '%-24s %-6s %8s %8s %8s %8s %8s\n' "$cam" $writer "$(wc -l < "$OUT/src")" "$(wc -l < "$OUT/exp")" $missing "$dropped"
  done
done
