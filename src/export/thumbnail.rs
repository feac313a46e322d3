//! Export thumbnails: which picture, and writing it with the video's care.
//!
//! Every export gets `<media>/clips/export/<id>.webp`, 180 px high, from the
//! first of:
//!
//! 1. the user's image (`ExportRequest::thumbnail`), only from under the
//!    media or cache folder: any other path is refused before anything is
//!    opened ([`check_user_image`]);
//! 2. the hourly preview overlapping the range, one frame decoded at
//!    `start - preview.start`;
//! 3. the cached preview frames (current hour): the first inside the range,
//!    else the last one before it;
//! 4. none: `thumb_path` stays empty and a warning says why.
//!
//! A user's image that is already WebP is copied as it is (as the NVR does:
//! its review thumbnails are WebP); any other picture is decoded and encoded
//! again, so what lands in the folder is always a WebP, whatever came in. It is written under a temporary name, synced and
//! renamed. A thumbnail that cannot be made never fails the export.

use std::path::{Path, PathBuf};

use super::request::Layout;
use crate::catalogue::Recording;
use crate::error::{Error, Result};
use crate::media::image::{self, ImageFormat};
use crate::output::StagedFile;
use crate::progress::CancelToken;
use crate::source::previews;

/// Where an export's thumbnail comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum ThumbSource {
    /// The user's image (checked to be under an allowed folder).
    User(PathBuf),
    /// A frame of an hourly preview, `at_s` seconds in.
    Preview { path: PathBuf, at_s: f64 },
    /// A cached preview frame.
    Cached(PathBuf),
    /// Nothing to make one from, and why.
    None(String),
}

/// `<clips>/export` (`<media>/clips/export` by default).
pub fn thumb_dir(layout: &Layout) -> PathBuf {
    layout.clips_dir().join("export")
}

/// The folders a user's thumbnail may come from: the media, clips and cache
/// folders.
fn allowed_roots(layout: &Layout) -> Vec<PathBuf> {
    [&layout.media_dir, &layout.clips_dir(), &layout.cache_dir]
        .into_iter()
        .map(|r| std::fs::canonicalize(r).unwrap_or_else(|_| r.to_path_buf()))
        .collect()
}

/// The user's image, if its real path (symlinks resolved) is a file under
/// the media or cache folder; else [`Error::ForbiddenPath`] (nothing is
/// opened) or, for a missing file, [`Error::InvalidName`].
pub fn check_user_image(layout: &Layout, path: &Path) -> Result<PathBuf> {
    let roots = allowed_roots(layout);
    let real = std::fs::canonicalize(path).map_err(|_| Error::InvalidName {
        what: "thumbnail",
        value: path.display().to_string(),
        reason: "does not exist",
    })?;
    if !roots.iter().any(|r| real.starts_with(r)) {
        return Err(Error::ForbiddenPath {
            what: "thumbnail",
            path: path.to_path_buf(),
            roots,
        });
    }
    if !real.is_file() {
        return Err(Error::InvalidName {
            what: "thumbnail",
            value: path.display().to_string(),
            reason: "is not a regular file",
        });
    }
    Ok(real)
}

/// Chooses the picture for an export of `camera` over `[start_s, end_s]`
/// (see the module doc); `user` was checked by [`check_user_image`],
/// `preview_rows` are the previews overlapping the range and `frames` the
/// camera's cached frames (not read when a user image or a preview decides).
pub fn choose(
    layout: &Layout,
    camera: &str,
    start_s: f64,
    end_s: f64,
    user: Option<PathBuf>,
    preview_rows: &[Recording],
    frames: &[previews::CachedFrame],
) -> ThumbSource {
    if let Some(p) = user {
        return ThumbSource::User(p);
    }
    let (segments, _) =
        previews::segments(preview_rows, &layout.media_dir, &layout.recording_roots);
    if let Some(seg) = segments.first() {
        let crate::source::Locator::File(path) = &seg.locator;
        return ThumbSource::Preview {
            path: path.clone(),
            at_s: (start_s - seg.start_s).max(0.0),
        };
    }
    let inside = previews::frames_in(frames, start_s, end_s).first();
    let before = frames.iter().rev().find(|f| f.ts_s < start_s);
    match inside.or(before) {
        Some(f) => ThumbSource::Cached(f.path.clone()),
        None => ThumbSource::None(format!(
            "no preview overlaps the range and {} holds no preview frame of {camera} \
             at or before its end",
            previews::frames_dir(&layout.cache_dir).display()
        )),
    }
}

/// Makes the thumbnail at `target` (a `.webp` path) from `source`; the
/// error says why there is none.
pub fn make(
    source: &ThumbSource,
    target: &Path,
    owner: &str,
    cancel: &CancelToken,
) -> std::result::Result<PathBuf, String> {
    if let ThumbSource::User(p) = source {
        if let Some(bytes) = webp_as_is(p) {
            return write_image(target, owner, &bytes).map_err(|e| e.to_string());
        }
    }
    let (path, at_s) = match source {
        ThumbSource::User(p) | ThumbSource::Cached(p) => (p, 0.0),
        ThumbSource::Preview { path, at_s } => (path, *at_s),
        ThumbSource::None(why) => return Err(why.clone()),
    };
    let picture = image::frame_at(path, at_s, cancel)?;
    let bytes = image::thumbnail(&picture, ImageFormat::WebP)?;
    write_image(target, owner, &bytes).map_err(|e| e.to_string())
}

/// Largest user image kept as it is (a thumbnail, not a poster).
const MAX_USER_WEBP: u64 = 8 << 20;

/// The bytes of a user's image that is already a WebP (`RIFF....WEBP`) of
/// a thumbnail's size: copied as it is, as the NVR does (its review
/// thumbnails are WebP). Anything else is decoded and encoded again.
fn webp_as_is(path: &Path) -> Option<Vec<u8>> {
    let file = crate::output::confine::open_regular(path).ok()?;
    if file.metadata().ok()?.len() > MAX_USER_WEBP {
        return None;
    }
    use std::io::Read;
    let mut bytes = Vec::new();
    (&file).take(MAX_USER_WEBP).read_to_end(&mut bytes).ok()?;
    (bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP").then_some(bytes)
}

/// Writes `bytes` to `target` under a temporary name, synced, renamed
/// (never replacing a file).
pub fn write_image(target: &Path, owner: &str, bytes: &[u8]) -> Result<PathBuf> {
    if let Some(dir) = target.parent() {
        crate::output::ensure_dir(dir)?;
    }
    let staged = StagedFile::create(target, owner)?;
    std::fs::write(staged.temp_path(), bytes).map_err(|e| {
        crate::output::classify_write_error(target.parent().unwrap_or(Path::new(".")), e)
    })?;
    staged.commit()
}
