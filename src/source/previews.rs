//! The NVR's previews: what a preview export and the thumbnails read.
//!
//! * Hourly preview MP4s (`previews` table, `<media>/clips/previews/<camera>/
//!   <start>-<end>.mp4`): ~180 px high, a frame or two a second while there
//!   is activity and as few as one every ~30 s otherwise (variable frame
//!   rate), a keyframe every 40 frames, no audio. Their rows have the
//!   recordings' columns, so they become [`Segment`]s by the recordings'
//!   rules (paths checked against the media roots). A preview's first frame
//!   is at its row's start.
//! * Cached preview frames (`<cache>/preview_frames/preview_<camera>-<unix
//!   ts>.webp`): the frames of the current hour, not yet in a preview MP4.
//!   The file name is the only record of a frame's time.

use std::path::{Path, PathBuf};

use super::Segment;
use crate::catalogue::Recording;
use crate::error::SkippedSegment;
use crate::output::confine::{require_regular, Roots};

/// The NVR's cached preview frames are WebP images.
pub const FRAME_EXTENSION: &str = "webp";

/// How long each cached frame is shown in a preview export (the NVR's
/// exporter writes `duration 0.12` per frame).
pub const FRAME_SHOWN_S: f64 = 0.12;

/// Segments of preview rows (in start order), and the rows refused.
pub fn segments(
    rows: &[Recording],
    media_dir: &Path,
    roots: &[PathBuf],
) -> (Vec<Segment>, Vec<SkippedSegment>) {
    super::recordings::segments(rows, media_dir, roots)
}

/// `<cache>/preview_frames`.
pub fn frames_dir(cache_dir: &Path) -> PathBuf {
    cache_dir.join("preview_frames")
}

/// One cached preview frame.
#[derive(Debug, Clone, PartialEq)]
pub struct CachedFrame {
    /// When it was taken (from its file name), unix seconds.
    pub ts_s: f64,
    pub path: PathBuf,
}

/// Every cached frame of `camera` in `frames_dir`, by time, and the
/// frames refused. A missing folder has none; names that are not
/// `preview_<camera>-<ts>.webp` (other cameras, partial writes) are
/// ignored. A frame that is a symlink out of the folder, or not a regular
/// file (a FIFO would block its reader), is refused and named, never
/// opened.
pub fn cached_frames(frames_dir: &Path, camera: &str) -> (Vec<CachedFrame>, Vec<SkippedSegment>) {
    let Ok(entries) = std::fs::read_dir(frames_dir) else {
        return (Vec::new(), Vec::new());
    };
    let prefix = format!("preview_{camera}-");
    let suffix = format!(".{FRAME_EXTENSION}");
    let mut inside = Roots::new("the preview frames folder", [frames_dir]);
    let mut refused = Vec::new();
    let mut frames: Vec<CachedFrame> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name();
            let name = name.to_str()?;
            let ts = name.strip_prefix(&prefix)?.strip_suffix(&suffix)?;
            let ts_s: f64 = ts.parse().ok().filter(|t: &f64| t.is_finite())?;
            let path = e.path();
            let why = match inside.check(&path) {
                Err(why) => Some(format!("{why}: not read")),
                Ok(_) => require_regular(&path).err().map(|e| e.to_string()),
            };
            if let Some(reason) = why {
                refused.push(SkippedSegment { path, reason });
                return None;
            }
            Some(CachedFrame { ts_s, path })
        })
        .collect();
    frames.sort_by(|a, b| a.ts_s.total_cmp(&b.ts_s));
    refused.sort_by(|a, b| a.path.cmp(&b.path));
    (frames, refused)
}

/// The frames in `[from_s, to_s]`.
pub fn frames_in(frames: &[CachedFrame], from_s: f64, to_s: f64) -> &[CachedFrame] {
    let a = frames.partition_point(|f| f.ts_s < from_s);
    let b = frames.partition_point(|f| f.ts_s <= to_s);
    &frames[a..b.max(a)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_are_found_by_camera_and_time() {
        let dir = tempfile::tempdir().unwrap();
        for name in [
            "preview_front-1000.5.webp",
            "preview_front-999.webp",
            "preview_front-door-1001.webp",
            "preview_front-1002.webp.tmp",
            "preview_front-abc.webp",
            "preview_back-1000.webp",
            "preview_front-1003.webp",
        ] {
            std::fs::write(dir.path().join(name), b"x").unwrap();
        }
        let (f, refused) = cached_frames(dir.path(), "front");
        assert!(refused.is_empty());
        let ts: Vec<f64> = f.iter().map(|f| f.ts_s).collect();
        assert_eq!(ts, vec![999.0, 1000.5, 1003.0]);
        let mid: Vec<f64> = frames_in(&f, 1000.0, 1003.0)
            .iter()
            .map(|f| f.ts_s)
            .collect();
        assert_eq!(mid, vec![1000.5, 1003.0]);
        assert!(frames_in(&f, 1004.0, 1005.0).is_empty());
        assert!(cached_frames(&dir.path().join("missing"), "front")
            .0
            .is_empty());
    }
}
