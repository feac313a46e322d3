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
use crate::output::confine::Roots;

/// Segments of `rows` (in start order), and the rows refused. Paths in the
/// catalogue are absolute on the NVR; relative ones are taken relative to
/// `media_dir`.
pub fn segments(
    rows: &[Recording],
    media_dir: &Path,
    roots: &[PathBuf],
) -> (Vec<Segment>, Vec<SkippedSegment>) {
    let mut allowed = Roots::new(
        "the media folder",
        std::iter::once(media_dir).chain(roots.iter().map(PathBuf::as_path)),
    );
    let mut segments = Vec::with_capacity(rows.len());
    let mut refused = Vec::new();
    let paths: Vec<PathBuf> = rows
        .iter()
        .map(|r| {
            if r.path.is_absolute() {
                r.path.clone()
            } else {
                media_dir.join(&r.path)
            }
        })
        .collect();
    let checks = allowed.check_all(&paths);
    for ((r, path), check) in rows.iter().zip(paths).zip(checks) {
        // A missing file is the probe's to report ("missing"); an existing
        // one must really be under a root.
        if let Err(why) = check.verdict {
            refused.push(SkippedSegment {
                path,
                reason: format!("{why}: not read"),
            });
            continue;
        }
        segments.push(Segment {
            id: r.id.clone(),
            start_s: r.start_s,
            end_s: r.end_s,
            locator: Locator::File(path),
            stamp: check.meta.as_ref().and_then(super::FileStamp::of),
        });
    }
    (segments, refused)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(path: &Path) -> Recording {
        Recording {
            id: path.display().to_string(),
            camera: "c".into(),
            path: path.to_path_buf(),
            start_s: 0.0,
            end_s: 1.0,
            duration_s: 1.0,
        }
    }

    #[test]
    fn symlinks_out_of_the_media_folder_are_refused_file_or_folder() {
        let dir = tempfile::tempdir().unwrap();
        let media = dir.path().join("media");
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(media.join("recordings/h")).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::fs::write(outside.join("secret.mp4"), b"x").unwrap();
        std::fs::write(media.join("recordings/h/ok.mp4"), b"x").unwrap();
        std::os::unix::fs::symlink(
            outside.join("secret.mp4"),
            media.join("recordings/h/link.mp4"),
        )
        .unwrap();
        std::os::unix::fs::symlink(&outside, media.join("recordings/out")).unwrap();
        let rows = [
            row(&media.join("recordings/h/ok.mp4")),
            row(&media.join("recordings/h/link.mp4")),
            row(&media.join("recordings/out/secret.mp4")),
            row(&media.join("recordings/h/../h/ok.mp4")),
            row(&media.join("recordings/h/missing.mp4")),
        ];
        let (segs, refused) = segments(&rows, &media, &[]);
        let kept: Vec<String> = segs.iter().map(|s| s.id.clone()).collect();
        assert_eq!(kept.len(), 3, "{kept:?}");
        assert!(kept[0].ends_with("h/ok.mp4"));
        assert!(kept[1].ends_with("h/../h/ok.mp4"));
        assert!(
            kept[2].ends_with("missing.mp4"),
            "the probe names it missing"
        );
        assert_eq!(refused.len(), 2, "{refused:?}");
        assert!(refused
            .iter()
            .all(|r| r.reason.contains("outside the media folder")));
    }
}
