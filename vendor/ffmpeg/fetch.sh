#!/usr/bin/env bash
# Fetches the pinned sources through Debian's source packages and verifies
# them: `apt-get source -d` with a private sources list (only `deb-src` for
# the suite in recipe.env) and private state folders, so the system's apt
# configuration is never touched. Only the upstream tarball (the .orig) is
# used, and only with the SHA256 pinned in recipe.env.
#
#   vendor/ffmpeg/fetch.sh DEST_DIR   -> DEST_DIR/$FFMPEG_ORIG, DEST_DIR/$NVCODEC_ORIG
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/recipe.env"
dest=${1:?destination folder}
mkdir -p "$dest"
verify() { echo "$2  $1" | sha256sum -c --status; }
apt=
fetch() { # PACKAGE DEBIAN_VERSION ORIG SHA256
  local pkg=$1 version=$2 orig=$3 sha=$4
  if [ -f "$dest/$orig" ] && verify "$dest/$orig" "$sha"; then
    return 0
  fi
  if [ -z "$apt" ]; then
    apt=$(mktemp -d); trap 'rm -rf "$apt"' EXIT
    mkdir -p "$apt"/{lists/partial,cache/archives/partial,etc/sources.list.d,etc/preferences.d}
    echo "deb-src http://deb.debian.org/debian $FFMPEG_DEBIAN_SUITE main" > "$apt/etc/sources.list"
    opts=(-o "Dir::Etc::SourceList=$apt/etc/sources.list" -o "Dir::Etc::SourceParts=$apt/etc/sources.list.d"
          -o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache"
          -o "Dir::Etc::Preferences=$apt/etc/preferences" -o "Dir::Etc::PreferencesParts=$apt/etc/preferences.d"
          -o "APT::Sandbox::User=root" -qq)
    apt-get "${opts[@]}" update >/dev/null
  fi
  # The .orig is all we use: a missing Debian patch tarball does not matter.
  (cd "$apt" && apt-get "${opts[@]}" source -d "$pkg=$version" >/dev/null 2>&1) || true
  if [ ! -f "$apt/$orig" ]; then
    echo "error: cannot fetch $orig from Debian's source package $pkg=$version ($FFMPEG_DEBIAN_SUITE);" \
         "the sources come only from Debian's package registry: check that deb.debian.org is reachable" >&2
    exit 1
  fi
  if ! verify "$apt/$orig" "$sha"; then
    echo "error: $orig from Debian does not have the pinned SHA256 $sha: refusing to build it" >&2
    exit 1
  fi
  mv "$apt/$orig" "$dest/$orig"
}
fetch ffmpeg "$FFMPEG_DEBIAN_VERSION" "$FFMPEG_ORIG" "$FFMPEG_ORIG_SHA256"
fetch nv-codec-headers "$NVCODEC_DEBIAN_VERSION" "$NVCODEC_ORIG" "$NVCODEC_ORIG_SHA256"
