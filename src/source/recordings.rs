//! The NVR's recordings: catalogue rows of one camera overlapping the range,
//! each a local MP4 file under the media folder.

use std::path::Path;

use super::{Locator, Segment};
use crate::catalogue::Recording;

/// Segments of `rows` (in start order). Paths in the catalogue are absolute
/// on the NVR; relative ones are taken relative to `media_dir`.
pub fn segments(rows: &[Recording], media_dir: &Path) -> Vec<Segment> {
    rows.iter()
        .map(|r| Segment {
            id: r.id.clone(),
            start_s: r.start_s,
            end_s: r.end_s,
            locator: Locator::File(if r.path.is_absolute() {
                r.path.clone()
            } else {
                media_dir.join(&r.path)
            }),
        })
        .collect()
}
