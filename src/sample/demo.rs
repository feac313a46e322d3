//! The store `make demo` exports: a minute of a camera with audio, two
//! review items and the hour's preview.

use std::path::Path;

use super::previews;
use super::{add_review, build_store, SampleStore, SegmentPlan, SegmentSpec};
use crate::error::Result;

/// The demo store: 12 segments of 5 s (one minute), a 10 s gap after the
/// sixth, two review items.
pub fn demo_store(root: &Path) -> Result<SampleStore> {
    let start_s = 1_735_732_800.0; // 2025-01-01 12:00:00 UTC
    let segments: Vec<SegmentPlan> = (0..12)
        .map(|i| SegmentPlan {
            spec: SegmentSpec {
                seed: i % 4,
                ..SegmentSpec::small(5.0)
            },
            gap_before_s: if i == 6 { 10.0 } else { 0.0 },
        })
        .collect();
    let store = build_store(root, "front_door", start_s, &segments)?;
    add_review(
        &store,
        "demo-r1",
        start_s + 7.0,
        Some(start_s + 19.0),
        "alert",
        r#"{"objects":["person","person-verified"]}"#,
    )?;
    add_review(
        &store,
        "demo-r2",
        start_s + 40.0,
        Some(start_s + 52.0),
        "detection",
        r#"{"objects":["car"]}"#,
    )?;
    // The hour's preview (1 fps), so the export gets its thumbnail.
    previews::add_preview(
        &store,
        start_s,
        start_s + 70.0,
        &previews::steady_times(70.0, 1.0),
        0,
    )?;
    Ok(store)
}
