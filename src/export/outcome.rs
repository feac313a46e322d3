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
    #[serde(serialize_with = "crate::error::as_messages")]
    pub warnings: Vec<Warning>,
    pub chapters: usize,
    pub stats: RemuxStats,
    pub timings: Timings,
    /// `<export>.manifest.json`, when one was asked for.
    pub manifest_path: Option<PathBuf>,
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

/// A finished export as one flat record: the CLI's JSON `done` event and
/// the Python module's `ExportOutcome` are this, serialised.
#[derive(Debug, serde::Serialize)]
pub struct DoneRecord<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub video_path: &'a std::path::Path,
    pub thumb_path: &'a str,
    /// Seconds, to the hundredth.
    pub duration_s: f64,
    pub chapters: usize,
    pub skipped: &'a [SkippedSegment],
    #[serde(serialize_with = "crate::error::as_messages")]
    pub warnings: &'a [Warning],
    pub writer: crate::remux::WriterKind,
    /// Why the index-driven writer did not take the export, if it did not.
    pub fast_declined: Option<&'a str>,
    pub timings: Timings,
    pub packets: Packets,
    /// Audio packets of the source left out, by reason.
    pub audio_packets_dropped: crate::remux::cut::AudioDrops,
    pub bytes: Bytes,
    /// The manifest written beside the export, when asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manifest_path: Option<&'a std::path::Path>,
}

/// Sample bytes the filesystem shared (extent sharing) and those written.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Bytes {
    pub shared: u64,
    pub copied: u64,
}

/// Packets written, by track kind.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Packets {
    pub video: u64,
    pub audio: u64,
}

impl ExportOutcome {
    /// This outcome as the flat `done` record.
    pub fn record(&self) -> DoneRecord<'_> {
        DoneRecord {
            id: &self.id,
            name: &self.name,
            video_path: &self.video_path,
            thumb_path: &self.thumb_path,
            duration_s: (self.duration_s * 100.0).round() / 100.0,
            chapters: self.chapters,
            skipped: &self.skipped,
            warnings: &self.warnings,
            writer: self.stats.writer,
            fast_declined: self.stats.fast_declined.as_deref(),
            timings: self.timings,
            packets: Packets {
                video: self.stats.video_packets,
                audio: self.stats.audio_packets,
            },
            audio_packets_dropped: self.stats.audio_dropped,
            manifest_path: self.manifest_path.as_deref(),
            bytes: Bytes {
                shared: self.stats.shared_bytes,
                copied: self.stats.copied_bytes,
            },
        }
    }
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
            manifest_path: None,
        }
    }
}
