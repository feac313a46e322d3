#!/usr/bin/env bash
# Fetches the pinned FFmpeg source through Debian's source packages and
# verifies it: `apt-get source -d` with a private sources list (only
# `deb-src` for the suite in recipe.env) and private state folders, so the
# system's apt configuration is never touched.
#
#   vendor/ffmpeg/fetch.sh DEST_DIR     -> DEST_DIR/$FFMPEG_ORIG (verified)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/recipe.env"
dest=${1:?destination folder}
mkdir -p "$dest"
tarball=$dest/$FFMPEG_ORIG
verify() { echo "$FFMPEG_ORIG_SHA256  $1" | sha256sum -c --status; }
if [ -f "$tarball" ] && verify "$tarball"; then
  exit 0
fi
apt=$(mktemp -d); trap 'rm -rf "$apt"' EXIT
mkdir -p "$apt"/{lists/partial,cache/archives/partial,etc/sources.list.d,etc/preferences.d}
echo "deb-src http://deb.debian.org/debian $FFMPEG_DEBIAN_SUITE main" > "$apt/etc/sources.list"
opts=(-o "Dir::Etc::SourceList=$apt/etc/sources.list" -o "Dir::Etc::SourceParts=$apt/etc/sources.list.d"
      -o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache"
      -o "Dir::Etc::Preferences=$apt/etc/preferences" -o "Dir::Etc::PreferencesParts=$apt/etc/preferences.d"
      -o "APT::Sandbox::User=root" -qq)
apt-get "${opts[@]}" update >/dev/null
(cd "$apt" && apt-get "${opts[@]}" source -d "ffmpeg=$FFMPEG_DEBIAN_VERSION" >/dev/null 2>&1) || {
  echo "error: cannot fetch Debian's source package ffmpeg=$FFMPEG_DEBIAN_VERSION ($FFMPEG_DEBIAN_SUITE);" \
       "the FFmpeg source comes only from Debian's package registry: check that deb.debian.org is reachable" >&2
  exit 1
}
if ! verify "$apt/$FFMPEG_ORIG"; then
  echo "error: $FFMPEG_ORIG from Debian does not have the pinned SHA256 $FFMPEG_ORIG_SHA256: refusing to build it" >&2
  exit 1
fi
mv "$apt/$FFMPEG_ORIG" "$tarball"
