//! The JSON lines of `export --json`: one object per line, serialised from
//! library types.

use std::io::Write;

use nvr_export::{
    Error, ExportOutcome, MigrationReport, Progress, RecoveryReport, SkippedSegment, Step, Warning,
    WriterKind,
};
use serde::Serialize;

/// One line of `--json` output.
#[derive(Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event<'a> {
    Progress {
        step: Step,
        percent: f64,
    },
    Done(Done<'a>),
    Error {
        kind: &'static str,
        message: String,
        /// Whether running the same export again may succeed.
        retryable: bool,
    },
    /// What crash recovery did before the command ran (only when it acted).
    Recovered(&'a RecoveryReport),
    /// What `migrate` added and skipped.
    Migrated(&'a MigrationReport),
}

#[derive(Serialize)]
pub struct Done<'a> {
    id: &'a str,
    name: &'a str,
    video_path: &'a std::path::Path,
    thumb_path: &'a str,
    duration_s: f64,
    chapters: usize,
    skipped: &'a [SkippedSegment],
    warnings: &'a [Warning],
    writer: WriterKind,
    /// Why the index-driven writer did not take the export, if it did not.
    fast_declined: Option<&'a str>,
    timings: nvr_export::Timings,
    packets: Packets,
    /// Audio packets of the source left out, by reason.
    audio_packets_dropped: nvr_export::AudioDrops,
    bytes: Bytes,
}

/// Sample bytes the filesystem shared (extent sharing) and those written.
#[derive(Serialize)]
struct Bytes {
    shared: u64,
    copied: u64,
}

#[derive(Serialize)]
struct Packets {
    video: u64,
    audio: u64,
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

impl Event<'_> {
    pub fn progress(p: Progress) -> Event<'static> {
        Event::Progress {
            step: p.step,
            percent: round2(p.percent),
        }
    }

    pub fn done(o: &ExportOutcome) -> Event<'_> {
        Event::Done(Done {
            id: &o.id,
            name: &o.name,
            video_path: &o.video_path,
            thumb_path: &o.thumb_path,
            duration_s: round2(o.duration_s),
            chapters: o.chapters,
            skipped: &o.skipped,
            warnings: &o.warnings,
            writer: o.stats.writer,
            fast_declined: o.stats.fast_declined.as_deref(),
            timings: o.timings,
            packets: Packets {
                video: o.stats.video_packets,
                audio: o.stats.audio_packets,
            },
            audio_packets_dropped: o.stats.audio_dropped,
            bytes: Bytes {
                shared: o.stats.shared_bytes,
                copied: o.stats.copied_bytes,
            },
        })
    }

    pub fn error(e: &Error) -> Event<'static> {
        Event::Error {
            kind: e.kind().as_str(),
            message: e.to_string(),
            retryable: e.retryable(),
        }
    }

    /// Writes the event as one line on stdout. `false` when stdout is gone
    /// (closed or full): the caller decides what that means for the exit code.
    pub fn emit(&self) -> bool {
        let Ok(line) = serde_json::to_string(self) else {
            return false;
        };
        let mut out = std::io::stdout().lock();
        writeln!(out, "{line}").and_then(|_| out.flush()).is_ok()
    }
}
