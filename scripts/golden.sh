#!/usr/bin/env bash
# Refactoring guard: exports a fixed set of requests and prints each output's
# MD5, so that two builds can be compared byte for byte.
#
#   scripts/golden.sh BINARY STORES_DIR [NVR_STORE] > list
#   diff <(scripts/golden.sh old ...) <(scripts/golden.sh new ...)
#
# STORES_DIR holds (and gets, when missing) small generated stores: the
# bench-corpus variants (audio, B-frames, a restart) of 3 minutes and a
# preview store. NVR_STORE is a store recorded by ../shared/tools/nvr-recorder.
# Every export gets a fixed id and a fresh media folder; the time zone is fixed.
set -euo pipefail
BIN=$(realpath "${1:?binary}")
STORES=$(mkdir -p "${2:?stores dir}" && cd "$2" && pwd)
NVR=${3:-}
export TZ=UTC
OUT=$(mktemp -d); trap 'rm -rf "$OUT"' EXIT

for v in audio bframes restart; do
  [ -f "$STORES/$v/corpus.env" ] || "$BIN" bench-corpus --dir "$STORES/$v" --variant "$v" --minutes 3 >/dev/null
done
[ -f "$STORES/previews/corpus.env" ] || "$BIN" preview-corpus --dir "$STORES/previews" --hours 2 --frames 30 >/dev/null

n=0
# run LABEL DB RECORDINGS_ROOT ARGS...: one export, its file's MD5 (or the error kind)
run() {
  local label=$1 db=$2 root=$3; shift 3
  n=$((n + 1))
  rm -rf "$OUT/media"; mkdir -p "$OUT/media"
  if "$BIN" export --db "$db" --media-dir "$OUT/media" --recordings-root "$root" --id "golden_$n" --json "$@" > "$OUT/ev.json" 2>/dev/null; then
    local f; f=$(ls "$OUT"/media/exports/*.mp4)
    if [ -n "${PACKETS:-}" ]; then  # not byte-stable (the encoder's threads): packet count and duration
      echo "$(ffprobe -v error -count_packets -show_entries stream=nb_read_packets:format=duration -of csv=p=0 "$f" | tr '\n' ' ')$(basename "$f") $label"
    else
      echo "$(md5sum < "$f" | cut -c1-32) $(basename "$f") $label"
    fi
  else
    echo "error $(grep -o '"kind":"[a-z_]*"' "$OUT/ev.json" | head -1) $label"
  fi
  sqlite3 "$db" "delete from export where id = 'golden_$n'"
}

for v in audio bframes restart; do
  # CAMERA, START, END
  . "$STORES/$v/corpus.env"
  db=$STORES/$v/frigate.db; root=$STORES/$v/media
  mid_s=$(python3 -c "print($START + 41.3)"); mid_e=$(python3 -c "print($START + 127.9)")
  for w in auto libav; do
    run "$v whole $w" "$db" "$root" --camera "$CAMERA" --start "$START" --end "$END" --writer $w
    run "$v mid $w" "$db" "$root" --camera "$CAMERA" --start "$mid_s" --end "$mid_e" --writer $w
    run "$v segments-chapters $w" "$db" "$root" --camera "$CAMERA" --start "$mid_s" --end "$mid_e" --writer $w \
      --chapters recording-segments --timezone Europe/Berlin
  done
  run "$v no-chapters" "$db" "$root" --camera "$CAMERA" --start "$START" --end "$END" --chapters none
done
. "$STORES/audio/corpus.env"
PACKETS=1 run "audio timelapse" "$STORES/audio/frigate.db" "$STORES/audio/media" --camera "$CAMERA" --start "$START" \
  --end "$(python3 -c "print($START + 60)")" --timelapse --sequential-decode
run "audio unknown-camera" "$STORES/audio/frigate.db" "$STORES/audio/media" --camera nope --start "$START" --end "$END"

. "$STORES/previews/corpus.env"
run "previews whole" "$DB" "$MEDIA" --source preview --cache-dir "$CACHE" --camera "$CAMERA" --start "$START" --end "$END"
run "previews mid" "$DB" "$MEDIA" --source preview --cache-dir "$CACHE" --camera "$CAMERA" \
  --start "$(python3 -c "print($START + 1800.5)")" --end "$(python3 -c "print($START + 5000)")"

if [ -n "$NVR" ]; then
  DB=$NVR/frigate.db
  for cam in $(sqlite3 "$DB" "select distinct camera from recordings order by camera"); do
    first=$(sqlite3 "$DB" "select min(start_time) from recordings where camera='$cam'")
    last=$(sqlite3 "$DB" "select max(end_time) from recordings where camera='$cam'")
    for w in auto libav; do
      run "nvr $cam whole $w" "$DB" "$NVR/media" --camera "$cam" --start "$(python3 -c "print(int($first) - 1)")" \
        --end "$(python3 -c "print(int($last) + 2)")" --writer $w
      run "nvr $cam mid $w" "$DB" "$NVR/media" --camera "$cam" --start "$(python3 -c "print($first + 33.3)")" \
        --end "$(python3 -c "print($first + 97.9)")" --writer $w
    done
  done
fi
