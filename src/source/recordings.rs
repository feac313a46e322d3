//! The NVR's recordings: catalogue rows of one camera overlapping the range,
//! each a local MP4 file under the media folder.
//!
//! Paths come from the catalogue, which is not trusted to point only at
//! recordings: a row may name `/etc/passwd` or `../../elsewhere`. Only files
//! whose real path (symlinks resolved) is inside one of the allowed roots
//! (the media folder, plus any configured) are segments; the others are
//! skipped and named.

use std::path::{Path, PathBuf};

use super::{Locator, Segment};
use crate::catalogue::Recording;
use crate::error::SkippedSegment;

/// Segments of `rows` (in start order), and the rows refused. Paths in the
/// catalogue are absolute on the NVR; relative ones are taken relative to
/// `media_dir`.
pub fn segments(
    rows: &[Recording],
    media_dir: &Path,
    roots: &[PathBuf],
) -> (Vec<Segment>, Vec<SkippedSegment>) {
    let roots: Vec<PathBuf> = std::iter::once(media_dir.to_path_buf())
        .chain(roots.iter().cloned())
        .map(|r| std::fs::canonicalize(&r).unwrap_or(r))
        .collect();
    let mut segments = Vec::with_capacity(rows.len());
    let mut refused = Vec::new();
    for r in rows {
        let path = if r.path.is_absolute() {
            r.path.clone()
        } else {
            media_dir.join(&r.path)
        };
        // A missing file is the probe's to report ("missing"); an existing
        // one must really be under a root.
        if let Ok(real) = std::fs::canonicalize(&path) {
            if !roots.iter().any(|root| real.starts_with(root)) {
                refused.push(SkippedSegment {
                    path,
                    reason: format!("outside the media folder ({}): not read", real.display()),
                });
                continue;
            }
        }
        segments.push(Segment {
            id: r.id.clone(),
            start_s: r.start_s,
            end_s: r.end_s,
            locator: Locator::File(path),
        });
    }
    (segments, refused)
}
