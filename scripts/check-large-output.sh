#!/usr/bin/env bash
# An export larger than 4 GiB: 64-bit chunk offsets (`co64`) and a 64-bit
# `mdat` size, read back by ffprobe and decoded at its end by ffmpeg.
#
#   scripts/check-large-output.sh WORK_DIR   (needs ~10 GB free there)
set -euo pipefail
WORK=${1:?work dir}
BIN=${NVR_EXPORT:-target/release/nvr-export}
mkdir -p "$WORK"
[ -f "$WORK/big/corpus.env" ] || "$BIN" bench-corpus --dir "$WORK/big" --minutes 45 --bitrate 14000000 >/dev/null
. "$WORK/big/corpus.env"
rm -rf "$WORK/out"
"$BIN" export --db "$WORK/big/frigate.db" --media-dir "$WORK/out" --recordings-root "$WORK/big/media" --camera "$CAMERA" --start "$START" --end "$END" --json | tail -n 1 > "$WORK/done.json"
f=$(ls "$WORK"/out/exports/*.mp4)
size=$(stat -c %s "$f")
echo "output: $size bytes ($(( size / 1024 / 1024 )) MiB), writer $(grep -o '"writer":"[a-z]*"' "$WORK/done.json")"
python3 - "$f" <<'PY'
import struct, sys
f = open(sys.argv[1], "rb"); data = f.read(64 << 20)
kinds = []
p = 0
while p + 8 <= len(data):
    size, kind = struct.unpack(">I4s", data[p:p + 8]); kinds.append(kind.decode())
    if size == 1: size = struct.unpack(">Q", data[p + 8:p + 16])[0]
    if kind == b"mdat": print("mdat size field:", "64-bit" if struct.unpack(">I", data[p:p+4])[0] == 1 else "32-bit", size); break
    p += size
print("top level:", kinds)
print("co64 boxes:", data.count(b"co64"), "stco boxes:", data.count(b"stco"))
PY
dur=$(ffprobe -v error -show_entries format=duration -of csv=p=0 "$f")
echo "ffprobe duration: $dur s"
tail_from=$(python3 -c "print(max(0, float('$dur') - 20))")
errs=$(ffmpeg -nostdin -v error -ss "$tail_from" -i "$f" -f null - 2>&1 | wc -l)
frames=$(ffprobe -v error -select_streams v -count_packets -show_entries stream=nb_read_packets -of csv=p=0 "$f")
echo "video packets read: $frames; decode errors in the last 20 s: $errs"
