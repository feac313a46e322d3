#!/usr/bin/env bash
# Installs the wheel in DIST into a fresh venv and checks that it needs
# nothing from the system but glibc: `ldd` of the extension resolves every
# library either inside the wheel or to glibc's own (libc, libm, libdl,
# libpthread, librt, the loader), libz, libgcc_s and libstdc++ (the
# compiler runtimes every manylinux policy counts as the system's; OpenH264
# is C++); no libav of the system is loaded (/proc/self/maps
# after an export). Then it imports the module with an empty library path,
# exports the demo store and prints the wheel's size and import time.
#
#   scripts/check-wheel.sh dist
set -euo pipefail
dist=${1:?dist folder}
wheel=$(ls "$dist"/*.whl | head -1)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install -q "$wheel"
site=$("$work/venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["platlib"])')
ext=$(ls "$site"/nvr_export/_native*.so)
echo "wheel: $(basename "$wheel") $(du -k "$wheel" | cut -f1) KiB (installed: $(du -sk "$site"/nvr_export* | awk '{s+=$1} END {print s}') KiB)"
bad=0
while read -r lib arrow path rest; do
  case "$lib" in linux-vdso.so.*|/lib64/ld-linux*|ld-linux*) continue ;; esac
  case "$lib" in
    libc.so.*|libm.so.*|libdl.so.*|libpthread.so.*|librt.so.*|libz.so.*|libgcc_s.so.*|libstdc++.so.*) continue ;;
  esac
  case "$path" in "$site"/*) echo "  bundled: $lib" ; continue ;; esac
  echo "  OUTSIDE THE WHEEL: $lib => $path" >&2
  bad=1
done < <(ldd "$ext")
[ "$bad" = 0 ] || { echo "check-wheel: the extension needs libraries outside the wheel" >&2; exit 1; }
LD_LIBRARY_PATH= "$work/venv/bin/python" - "$work" <<'PY'
import json, sys, time
t = time.perf_counter()
import nvr_export
from nvr_export import _native
import_ms = (time.perf_counter() - t) * 1000
info = nvr_export.libav_info()
assert "LGPL" in info["license"], info
store = json.loads(_native.sample_store("demo", sys.argv[1] + "/store"))
out = nvr_export.Exporter(store["db"], store["media_dir"]).export(store["camera"], store["start"], store["end"])
# NVR users' custom arguments name libx264; this build has OpenH264 instead.
assert nvr_export.validate_ffmpeg_args("-c:v libx264 -crf 23") == (True, ""), "libx264 refused"
tl = nvr_export.Exporter(store["db"], store["media_dir"]).export(
    store["camera"], store["start"], store["end"], output_args="-c:v libx264 -vf setpts=0.04*PTS -r 30")
assert [w.kind for w in tl.warnings] == ["encoder_substituted"], tl.warnings
assert tl.writer == "transcode" and 2.0 < tl.duration_s < 3.0, tl
maps = open("/proc/self/maps").read()
loaded = sorted({l.split()[-1] for l in maps.splitlines() if "/libav" in l or "/libsw" in l})
assert not loaded, f"system libav loaded: {loaded}"
print(f"import: {import_ms:.1f} ms; libav: {info['version']}, {info['license']}")
print(f"exported the demo store: {out.duration_s} s by {out.writer}; a libx264 timelapse: "
      f"{tl.duration_s} s by {tl.writer}, warning {tl.warnings[0].kind}")
PY
for f in "$work"/store/media/exports/*.mp4; do
  echo "  $(basename "$f"): $(ffprobe -v error -show_entries format=duration -of csv=p=0 "$f") s (ffprobe)"
done
echo "check-wheel: ok"
