#!/usr/bin/env bash
# Builds the pinned libav (static, PIC) with only what the engine uses.
#
#   vendor/ffmpeg/build.sh [lgpl|gpl]     prints the install prefix
#
# The build goes to target/vendor/ffmpeg/<variant>-<recipe hash>/ and is
# reused while this recipe (recipe.env, fetch.sh, build.sh) is unchanged.
# `lgpl` (the default, what is shipped): no GPL code; H.264 is encoded
# with OpenH264 (BSD). `gpl` adds libx264 and libx265: the synthetic stores
# of the tests and benchmarks are encoded like camera firmware (B-frames,
# HEVC), which OpenH264 cannot do; a binary built so is GPL.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
. "$here/recipe.env"
variant=${1:-lgpl}
case $variant in lgpl|gpl) ;; *) echo "usage: $0 [lgpl|gpl]" >&2; exit 2 ;; esac
target=${CARGO_TARGET_DIR:-$root/target}
hash=$(cat "$here/recipe.env" "$here/fetch.sh" "$here/build.sh" | sha256sum | cut -c1-12)
prefix=$target/vendor/ffmpeg/$variant-$hash
if [ -f "$prefix/.built" ]; then echo "$prefix"; exit 0; fi

"$here/fetch.sh" "$target/vendor/ffmpeg/src" >&2
work=$target/vendor/ffmpeg/build-$variant-$hash
rm -rf "$work" "$prefix"; mkdir -p "$work"
tar -xJf "$target/vendor/ffmpeg/src/$FFMPEG_ORIG" -C "$work" --strip-components=1
# NVIDIA's headers into the build folder (headers and a .pc file only).
mkdir -p "$work/nvcodec"
tar -xJf "$target/vendor/ffmpeg/src/$NVCODEC_ORIG" -C "$work/nvcodec" --strip-components=1
make -C "$work/nvcodec" PREFIX="$work/nvcodec-install" install >/dev/null
export PKG_CONFIG_PATH="$work/nvcodec-install/lib/pkgconfig${PKG_CONFIG_PATH:+:$PKG_CONFIG_PATH}"

flags=(
  --prefix="$prefix" --enable-static --disable-shared --enable-pic
  --disable-programs --disable-doc --disable-network --disable-autodetect
  --disable-everything --disable-debug
  --enable-avcodec --enable-avformat --enable-avfilter --enable-swscale --enable-swresample
  --disable-avdevice --disable-postproc
  # I/O: files only (the HLS source fetches with reqwest and feeds libav from memory).
  --enable-protocol=file
  # Demuxers: segments and exports (mov: MP4/MOV), thumbnails and cached
  # preview frames (image sniff: webp/jpeg/png pipes).
  --enable-demuxer=mov,image_webp_pipe,image_jpeg_pipe,image_png_pipe
  # Muxers: exports through libav (mp4), the sample stores' segment muxer
  # (segment, the NVR's recorder), mov for tests that write it.
  --enable-muxer=mp4,mov,segment
  # Decoders: camera video and audio, preview frames and images, MPEG-4
  # part 2 (previews the NVR does not write, refused by name).
  --enable-decoder=h264,hevc,aac,webp,mjpeg,png,mpeg4
  # Parsers and bitstream filters the demuxer and the writers use.
  --enable-parser=h264,hevc,aac,mjpeg,png,webp,mpeg4video
  --enable-bsf=h264_mp4toannexb,hevc_mp4toannexb,extract_extradata,dump_extra,aac_adtstoasc,h264_metadata,hevc_metadata
  # Encoders: AAC (sample stores), MJPEG (migrated exports' thumbnails),
  # WebP (thumbnails, libwebp: BSD), H.264 (timelapse, slideshow: OpenH264),
  # MPEG-4 part 2 (tests' unusable previews).
  --enable-encoder=aac,mjpeg,mpeg4,libwebp,libopenh264
  --enable-libwebp --enable-libopenh264
  # Filters: the graph's ends, the allowlist of transcode::args, and the
  # device upload/download of the hardware presets.
  --enable-filter=buffer,buffersink,abuffer,abuffersink,null,anull,setpts,settb,fps,scale,format,transpose,hflip,vflip,crop,pad,setsar,setdar,hwupload,hwdownload,scale_vaapi
  # Hardware: VAAPI (the system's libva, which the NVR's image has) and
  # V4L2 memory-to-memory encoders (Raspberry Pi and other SoCs).
  --enable-vaapi --enable-hwaccel=h264_vaapi,hevc_vaapi --enable-encoder=h264_vaapi,hevc_vaapi
  --enable-v4l2-m2m --enable-encoder=h264_v4l2m2m,hevc_v4l2m2m
  # NVIDIA (preset-nvidia*): NVENC encoders on a CUDA device, NVDEC decode;
  # the driver's libcuda/libnvidia-encode are opened at run time (dlopen),
  # so the build links nothing of NVIDIA's and runs without a GPU.
  --enable-ffnvcodec --enable-cuda --enable-nvenc --enable-nvdec
  --enable-encoder=h264_nvenc,hevc_nvenc --enable-hwaccel=h264_nvdec,hevc_nvdec
  --enable-filter=hwupload_cuda
)
if [ "$variant" = gpl ]; then
  # The tests' camera-like encoders (B-frames, HEVC).
  flags+=(--enable-gpl --enable-libx264 --enable-libx265 --enable-encoder=libx264,libx265)
fi
echo "building libav $FFMPEG_VERSION ($variant) in $work (a few minutes, once)" >&2
(cd "$work" && ./configure "${flags[@]}" >configure.log 2>&1) || {
  echo "error: FFmpeg's configure failed; see $work/configure.log (and its ffbuild/config.log)" >&2
  exit 1
}
(cd "$work" && make -j"$(nproc)" >build.log 2>&1 && make install >>build.log 2>&1) || {
  echo "error: building FFmpeg failed; see $work/build.log" >&2
  exit 1
}
rm -rf "$work"
touch "$prefix/.built"
echo "$prefix"
