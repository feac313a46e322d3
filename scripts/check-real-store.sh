#!/usr/bin/env bash
# Integration check on a store recorded by the NVR's real pipeline
# (../shared/tools/nvr-recorder: cameras.sh + maintain.py).
#
#   scripts/check-real-store.sh STORE_ROOT [NVR_EXPORT_BINARY]
#
# For every camera: a whole-range export and a mid-range export with
# nvr-export (both writers), compared with `ffmpeg -f concat -c copy` of the
# same segment files: video packet counts, and for the whole range whether
# the exported packets are exactly the segments' packets (framemd5 of the
# stream copy), plus decode errors.
set -euo pipefail
ROOT=$(cd "${1:?store root}" && pwd)
BIN=${2:-target/release/nvr-export}
DB=$ROOT/frigate.db
OUT=$(mktemp -d); trap 'rm -rf "$OUT"' EXIT
hashes() { ffmpeg -nostdin -v error -i "$1" -map 0:v:0 -c copy -f framemd5 - | grep -v '^#' | awk -F, '{print $NF}'; }

printf '%-22s %-6s %-6s %8s %8s %8s %8s %6s %s\n' camera range writer frames concat source same errors packets_as_libav
for cam in $(sqlite3 "$DB" "select distinct camera from recordings order by camera"); do
  first=$(sqlite3 "$DB" "select min(start_time) from recordings where camera='$cam'")
  last=$(sqlite3 "$DB" "select max(end_time) from recordings where camera='$cam'")
  for range in whole mid; do
    if [ $range = whole ]; then s=$(python3 -c "print(int($first)-1)"); e=$(python3 -c "print(int($last)+2)");
    else s=$(python3 -c "print($first+33.3)"); e=$(python3 -c "print($first+97.9)"); fi
    # the segment files the catalogue selects for the range, in start order
    sqlite3 "$DB" "select path from recordings where camera='$cam' and end_time > $s and start_time < $e order by start_time" > "$OUT/files"
    : > "$OUT/src.md5"; while read -r f; do hashes "$f" >> "$OUT/src.md5"; done < "$OUT/files"
    sed "s/.*/file '&'/" "$OUT/files" > "$OUT/list.txt"
    ffmpeg -nostdin -v error -y -f concat -safe 0 -i "$OUT/list.txt" -c copy -movflags +faststart "$OUT/concat.mp4"
    concat=$(hashes "$OUT/concat.mp4" | wc -l)
    for writer in auto libav; do
      rm -rf "$OUT/media"; mkdir -p "$OUT/media"
      flag=""; [ $writer = libav ] && flag="--writer libav"
      "$BIN" export --db "$DB" --media-dir "$OUT/media" --recordings-root "$ROOT/media" --camera "$cam" --start "$s" --end "$e" --json $flag > "$OUT/ev.json"
      f=$(ls "$OUT"/media/exports/*.mp4)
      used=$(grep '"event":"done"' "$OUT/ev.json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["writer"])')
      hashes "$f" > "$OUT/out.md5"
      # whole: exactly the sources' packets; mid: one contiguous run of them
      same=$(python3 - "$OUT/out.md5" "$OUT/src.md5" $range <<'PY'
import sys
out, src = (open(p).read().split() for p in sys.argv[1:3])
if sys.argv[3] == "whole":
    print("yes" if out == src else "no")
else:
    i = src.index(out[0]) if out and out[0] in src else -1
    print("run" if i >= 0 and src[i:i + len(out)] == out else "no")
PY
)
      # decode every frame; passthrough so the CLI's own frame-rate conversion
      # does not report the wall-clock timestamps' jitter as errors
      errs=$(ffmpeg -nostdin -v error -i "$f" -fps_mode passthrough -f null - 2>&1 | grep -v "non monotonically increasing dts to muxer" | grep -vc "Last message repeated" || true)
      # both writers must write the same packets (timestamps, sizes, flags),
      # stream by stream (the fast writer keeps each clip's own interleaving)
      ffprobe -v error -show_entries packet=codec_type,pts,dts,duration,size,flags -of csv=p=0 "$f" > "$OUT/all.$writer"
      { grep '^video' "$OUT/all.$writer"; grep '^audio' "$OUT/all.$writer" || true; } > "$OUT/packets.$writer"
      agree=-; [ $writer = libav ] && { cmp -s "$OUT/packets.auto" "$OUT/packets.libav" && agree=yes || agree=no; }
      printf '%-22s %-6s %-6s %8s %8s %8s %8s %6s %s\n' "$cam" $range "$used" "$(wc -l < "$OUT/out.md5")" "$concat" "$(wc -l < "$OUT/src.md5")" $same "$errs" $agree
      # sqlite3 cleanup of the export row is not needed: each run uses its own media dir,
      # but the row goes into the shared catalogue; remove it
      id=$(grep '"event":"done"' "$OUT/ev.json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
      sqlite3 "$DB" "delete from export where id='$id'"
    done
  done
done

# Every camera in one file (`--camera` repeated): each track's packets are
# exactly its camera's segments' packets, and its first frame sits at its
# first row's offset from the earliest camera's.
cams=$(sqlite3 "$DB" "select distinct camera from recordings order by camera")
first=$(sqlite3 "$DB" "select min(start_time) from recordings")
last=$(sqlite3 "$DB" "select max(end_time) from recordings")
s=$(python3 -c "print(int($first)-1)"); e=$(python3 -c "print(int($last)+2)")
rm -rf "$OUT/media"; mkdir -p "$OUT/media"
args=(); for c in $cams; do args+=(--camera "$c"); done
"$BIN" export --db "$DB" --media-dir "$OUT/media" --recordings-root "$ROOT/media" "${args[@]}" --start "$s" --end "$e" --json > "$OUT/ev.json"
f=$(ls "$OUT"/media/exports/*.mp4)
echo
printf '%-22s %8s %8s %6s %10s %10s\n' "all cameras: track" frames source same first_s row_s
n=0
for cam in $cams; do
  sqlite3 "$DB" "select path from recordings where camera='$cam' and end_time > $s and start_time < $e order by start_time" > "$OUT/files"
  : > "$OUT/src.md5"; while read -r g; do hashes "$g" >> "$OUT/src.md5"; done < "$OUT/files"
  ffmpeg -nostdin -v error -i "$f" -map 0:v:$n -c copy -f framemd5 - | grep -v '^#' | awk -F, '{print $NF}' > "$OUT/out.md5"
  same=no; cmp -s "$OUT/out.md5" "$OUT/src.md5" && same=yes
  firstpts=$(ffprobe -v error -select_streams v:$n -show_entries packet=pts_time,flags -of csv=p=0 "$f" | grep -v D | cut -d, -f1 | sort -g | sed -n 1p)
  row=$(sqlite3 "$DB" "select min(start_time) from recordings where camera='$cam' and end_time > $s") 
  printf '%-22s %8s %8s %6s %10s %10s\n' "$cam" "$(wc -l < "$OUT/out.md5")" "$(wc -l < "$OUT/src.md5")" $same "$firstpts" "$(python3 -c "print(round($row - $first, 3))")"
  n=$((n + 1))
done
errs=$(ffmpeg -nostdin -v error -i "$f" -map 0:v -fps_mode passthrough -f null - 2>&1 | grep -v "non monotonically increasing dts to muxer" | grep -vc "Last message repeated" || true)
echo "decode errors (all tracks): $errs"
id=$(grep '"event":"done"' "$OUT/ev.json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')
sqlite3 "$DB" "delete from export where id='$id'"
