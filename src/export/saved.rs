//! A dead export resumed from the plan it saved, without planning again.
//!
//! The index-driven writer saves its byte layout beside the staged file
//! (`remux::resume::SavedPlan`) under a key this module makes from
//! everything the layout is made from: this engine's version, the request,
//! the settings that shape a plan, the catalogue rows read (recordings,
//! unreadable rows, review items, metadata, the cut) and the segments as
//! located (paths checked against the media folders, and each file's
//! identity: device, inode, size, modification time). The writer is
//! deterministic, so the same key means the same plan: a resume whose
//! inputs make the key its dead run saved takes the runs from the saved
//! plan and copies what is missing, with no segment header read and no
//! layout pass (on an hour, ~15 ms of a ~90 ms resume). With the plan goes
//! what the export knew before its writer ran ([`Summary`]: duration,
//! skipped rows, warnings, chapters, manifest sources), so the resumed
//! export reports what a whole run reports.
//!
//! Only the exports whose plans the writer saves take this path: one
//! camera, recordings or previews (no cached frames), stream copy.
//! Any other, and any whose key differs, plans again; the journal's plan
//! identity then decides what of the file is kept.

use sha2::{Digest, Sha256};

use crate::error::{SkippedSegment, Warning};
use crate::source::Segment;

use super::manifest;
use super::reads::{Purpose, Reads};
use super::request::{ExportRequest, Layout, Source};
use super::settings::Settings;

/// What an export knew before its writer ran, saved with its plan.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub(super) struct Summary {
    pub duration_s: f64,
    pub skipped: Vec<SkippedSegment>,
    pub warnings: Vec<Warning>,
    pub chapters: usize,
    /// The sources a manifest describes (when one is asked for).
    pub sources: Option<Vec<manifest::Source>>,
}

/// A file-source export's segments, located before anything is probed,
/// and the key of the inputs its plan is made from.
pub(super) struct Located {
    pub segments: Vec<Segment>,
    pub refused: Vec<SkippedSegment>,
    pub key: String,
}

/// The located segments and inputs' key of an export whose plan the
/// writer saves (see the module doc); `None` for any other.
pub(super) fn locate(
    layout: &Layout,
    settings: &Settings,
    req: &ExportRequest,
    reads: &Reads,
) -> Option<Located> {
    let saves = reads.purpose == Purpose::Export
        && !req.is_multi()
        && matches!(req.source, Source::Recordings | Source::Preview)
        && reads.frames.is_empty()
        && reads.encode.is_none();
    if !saves {
        return None;
    }
    let (segments, refused) = super::footage::locate(layout, reads);
    let key = key(settings, req, reads, &segments, &refused);
    Some(Located {
        segments,
        refused,
        key,
    })
}

/// The key of a plan's inputs: a SHA-256 over this engine's version and
/// the inputs as it renders them (see the module doc). The request is
/// taken with its export id (a recovered request carries the id its first
/// run was given).
fn key(
    settings: &Settings,
    req: &ExportRequest,
    reads: &Reads,
    segments: &[Segment],
    refused: &[SkippedSegment],
) -> String {
    let mut req = req.clone();
    req.id = Some(reads.row.id.clone());
    let mut h = Sha256::new();
    h.update(concat!(
        "nvr-export plan inputs 1 ",
        env!("CARGO_PKG_VERSION")
    ));
    h.update(serde_json::to_vec(&req).unwrap_or_default());
    let shaping = (
        settings.writer,
        settings.max_samples,
        settings.probe_template,
    );
    h.update(format!("{shaping:?}"));
    let rows = (&reads.recordings, &reads.bad_rows, &reads.reviews);
    h.update(format!("{rows:?}"));
    let named = (&reads.trim, &reads.metadata, &reads.video_path);
    h.update(format!("{named:?}"));
    h.update(format!("{:?}", (segments, refused)));
    crate::output::hex(&h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_summary_round_trips_with_its_typed_warnings() {
        let s = Summary {
            duration_s: 3600.0,
            skipped: vec![SkippedSegment {
                path: "/m/a.mp4".into(),
                reason: "missing".into(),
            }],
            warnings: vec![
                Warning::AudioDropped {
                    reason: "no audio".into(),
                },
                Warning::CatalogueMismatch {
                    id: "r1".into(),
                    location: "/m/b.mp4".into(),
                    row_s: 10.0,
                    file_s: 9.5,
                    exported_s: 9.5,
                },
            ],
            chapters: 2,
            sources: Some(vec![manifest::Source {
                id: "r1".into(),
                start_s: 1.0,
                end_s: 11.0,
                path: "/m/b.mp4".into(),
            }]),
        };
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["warnings"][1]["kind"], "catalogue_mismatch");
        let back: Summary = serde_json::from_value(v).unwrap();
        assert_eq!(back, s);
    }
}
