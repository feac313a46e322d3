//! What an export gives back: the [`ExportOutcome`] built from what the
//! writer reports ([`Written`]) and where the row stands.

use std::path::PathBuf;
use std::time::Instant;

use crate::error::{SkippedSegment, Warning};
use crate::remux::RemuxStats;

use super::reads::Reads;

/// A finished export.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ExportOutcome {
    pub id: String,
    pub name: String,
    pub video_path: PathBuf,
    /// Empty when there is no thumbnail (the catalogue's convention).
    pub thumb_path: String,
    /// Output duration (seconds), from the clip plan.
    pub duration_s: f64,
    /// Recordings in range that were left out, and why.
    pub skipped: Vec<SkippedSegment>,
    /// Things the user should know (audio dropped, ...).
    pub warnings: Vec<Warning>,
    pub chapters: usize,
    pub stats: RemuxStats,
    pub timings: Timings,
}

/// Where an export's time went (seconds from the call).
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct Timings {
    /// Catalogue read and segment headers probed.
    pub probed_s: f64,
    /// First sample's bytes written to the output (start-up latency).
    pub first_sample_s: f64,
    /// Done, file renamed and row updated.
    pub total_s: f64,
}

/// What a writer produced.
pub(super) struct Written {
    pub duration_s: f64,
    pub skipped: Vec<SkippedSegment>,
    pub warnings: Vec<Warning>,
    pub chapters: usize,
    pub stats: RemuxStats,
}

impl ExportOutcome {
    /// The outcome of the export `reads` describes, committed at
    /// `video_path`; `started`: when the call began, `probed_s`: when its
    /// input was read (seconds from `started`).
    pub(super) fn new(
        reads: &Reads,
        video_path: PathBuf,
        w: Written,
        started: Instant,
        probed_s: f64,
    ) -> ExportOutcome {
        ExportOutcome {
            id: reads.row.id.clone(),
            name: reads.row.name.clone(),
            video_path,
            thumb_path: reads.row.thumb_path.clone(),
            duration_s: w.duration_s,
            skipped: w.skipped,
            warnings: w.warnings,
            chapters: w.chapters,
            timings: Timings {
                probed_s,
                first_sample_s: w
                    .stats
                    .first_sample_at
                    .map(|t| t.duration_since(started).as_secs_f64())
                    .unwrap_or(0.0),
                total_s: started.elapsed().as_secs_f64(),
            },
            stats: w.stats,
        }
    }
}
