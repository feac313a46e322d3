//! The writer stage: the export's input, read, written into the staged
//! file by the writer that suits it. Probed files on a timeline are copied
//! (`remux`: the index-driven writer or the libav packet loop) or, with
//! encode options, re-encoded (`transcode`); the VOD server's playlist goes
//! through its own writer ([`hls`](super::hls)).

use std::path::Path;

use crate::error::Result;
use crate::progress::{Reporter, Step};
use crate::remux::{self, RemuxJob};
use crate::transcode::args::EncodeOptions;
use crate::transcode::{preset, writer::TranscodeJob};

use super::cameras::{self, Cameras};
use super::footage::{self, Footage};
use super::hls::{self, Vod};
use super::manifest;
use super::outcome::Written;
use super::reads::Reads;
use super::request::{ExportRequest, Layout, Source};
use super::saved::{Located, Summary};
use super::settings::Settings;
use super::timeline::{self, Timeline};

/// An export's input, read and planned; nothing written yet.
pub(super) enum Input {
    /// Segment files (recordings, or previews and cached frames).
    Files {
        footage: Footage,
        timeline: Timeline,
    },
    /// The NVR's HLS VOD server: a playlist the server already planned.
    Vod(Vod),
    /// Several cameras' recordings on one timeline.
    Cameras(Cameras),
}

impl Input {
    /// Reads the input of `req`: probes the files (`located` already, or
    /// here) and lays them out, or fetches the playlist.
    pub fn read(
        layout: &Layout,
        settings: &Settings,
        min_free_bytes: u64,
        req: &ExportRequest,
        reads: &Reads,
        reporter: &Reporter<'_>,
        located: Option<Located>,
    ) -> Result<Input> {
        let cancel = reporter.cancel_token();
        if req.is_multi() {
            let c = cameras::read(layout, settings, min_free_bytes, req, reads, reporter)?;
            return Ok(Input::Cameras(c));
        }
        if let Source::Hls(source) = &req.source {
            return Ok(Input::Vod(hls::open(settings, req, source, cancel)?));
        }
        let t0 = std::time::Instant::now();
        let located = located.map(|l| (l.segments, l.refused));
        let mut footage = footage::gather(layout, settings, &req.source, reads, located, cancel)?;
        let t_footage = t0.elapsed();
        let timeline = timeline::lay_out(req, reads, &mut footage, min_free_bytes)?;
        tracing::debug!(
            footage_ms = t_footage.as_secs_f64() * 1000.0,
            timeline_ms = (t0.elapsed() - t_footage).as_secs_f64() * 1000.0,
            segments = footage.segments.len(),
            "input read"
        );
        Ok(Input::Files { footage, timeline })
    }

    /// The source segments a manifest describes: the segment files read
    /// (not the cached preview frames, encoded for the export), or for the
    /// VOD server the catalogue's recordings in range, those under the
    /// media folders.
    pub fn sources(&self, layout: &Layout, reads: &Reads) -> Vec<manifest::Source> {
        let of = source_of;
        match self {
            Input::Files { footage, .. } => file_sources(footage),
            Input::Cameras(c) => c.sources(),
            Input::Vod(_) => {
                let (segments, _) = crate::source::recordings::segments(
                    &reads.vod_rows,
                    &layout.media_dir,
                    &layout.recording_roots,
                );
                segments.iter().map(of).collect()
            }
        }
    }

    /// Writes the input to `out` (a staged file the caller owns); a stream
    /// copy's plan is saved for a resume under `key` (see `saved`).
    pub fn write(
        self,
        settings: &Settings,
        req: &ExportRequest,
        reads: &Reads,
        out: &Path,
        reporter: &mut Reporter<'_>,
        key: Option<&str>,
    ) -> Result<Written> {
        match self {
            Input::Vod(vod) => hls::write(vod, settings, req, reads, out, reporter),
            Input::Cameras(c) => c.write(settings, req, reads, out, reporter),
            Input::Files { footage, timeline } => match &reads.encode {
                Some(options) => {
                    let on = (options, settings.parallel_decode);
                    transcode(on, req, reads, footage, timeline, out, reporter)
                }
                None => {
                    let input = (footage, timeline);
                    copy(settings, req, reads, input, out, reporter, key)
                }
            },
        }
    }
}

/// The segment files of `footage` as a manifest describes them (not the
/// cached preview frames, encoded for the export).
fn file_sources(footage: &Footage) -> Vec<manifest::Source> {
    footage.segments[..footage.files]
        .iter()
        .map(|ps| source_of(&ps.segment))
        .collect()
}

/// A segment as a manifest describes it.
fn source_of(s: &crate::source::Segment) -> manifest::Source {
    let crate::source::Locator::File(path) = &s.locator;
    manifest::Source {
        id: s.id.clone(),
        start_s: s.start_s,
        end_s: s.end_s,
        path: path.clone(),
    }
}

/// A dead export resumed from the plan it saved for the inputs `located`
/// names (see `saved`): what it wrote, and the sources its manifest
/// describes (when one was asked for). `None`: there is no such plan, or
/// nothing of the file it can keep (the caller plans again).
pub(super) fn resume_saved(
    settings: &Settings,
    located: &Located,
    out: &Path,
    reporter: &mut Reporter<'_>,
) -> Result<Option<(Written, Option<Vec<manifest::Source>>)>> {
    let (key, segments, rate) = (&located.key, &located.segments, settings.max_rate);
    let summary = |v| serde_json::from_value::<Summary>(v).ok();
    let resumed = remux::fast::resume_saved(out, key, segments, rate, summary, reporter)?;
    let Some((stats, summary)) = resumed else {
        return Ok(None);
    };
    tracing::info!(
        stage = "write",
        writer = %stats.writer,
        bytes = stats.bytes_written,
        kept = stats.resumed_bytes,
        "resumed from the saved plan"
    );
    let written = Written {
        duration_s: summary.duration_s,
        skipped: summary.skipped,
        warnings: summary.warnings,
        chapters: summary.chapters,
        stats,
    };
    Ok(Some((written, summary.sources)))
}

/// The stream copy of `footage` on `timeline` (`max_rate`: bytes a second
/// at most, `None`: unlimited).
pub(super) fn remux_job<'a>(
    req: &ExportRequest,
    reads: &'a Reads,
    footage: &'a Footage,
    timeline: &'a Timeline,
    max_rate: Option<u64>,
) -> RemuxJob<'a> {
    RemuxJob {
        plan: &timeline.plan,
        segments: &footage.segments,
        audio: timeline.audio,
        chapters: &timeline.chapters,
        timestamps: &timeline.timestamps,
        metadata: &reads.metadata,
        creation_s: req.start_s,
        max_rate,
        resume: None,
    }
}

/// Stream copy (its plan saved under `key`, when given).
fn copy(
    settings: &Settings,
    req: &ExportRequest,
    reads: &Reads,
    (footage, timeline): (Footage, Timeline),
    out: &Path,
    reporter: &mut Reporter<'_>,
    key: Option<&str>,
) -> Result<Written> {
    reporter.step(Step::Copying, 0.0)?;
    if let Some(rate) = settings.max_rate {
        reporter.pace(rate, timeline.needed_bytes);
    }
    let inputs = key.map(|key| {
        let summary = Summary {
            duration_s: timeline.plan.duration_s(),
            skipped: footage.skipped.clone(),
            warnings: footage.warnings.clone(),
            chapters: timeline.chapters.len(),
            sources: (req.manifest || req.sign_key.is_some()).then(|| file_sources(&footage)),
        };
        remux::resume::Inputs {
            key: key.to_string(),
            summary: serde_json::to_value(summary).unwrap_or_default(),
        }
    });
    let mut job = remux_job(req, reads, &footage, &timeline, settings.max_rate);
    job.resume = inputs.as_ref();
    let stats = remux::remux(&job, settings.writer, out, reporter)?;
    drop(footage.frames_file);
    tracing::info!(
        stage = "write",
        writer = %stats.writer,
        declined = stats.fast_declined.as_deref().unwrap_or(""),
        bytes = stats.bytes_written,
        video_packets = stats.video_packets,
        audio_packets = stats.audio_packets,
        "written"
    );
    Ok(Written {
        duration_s: timeline.plan.duration_s(),
        skipped: footage.skipped,
        warnings: footage.warnings,
        chapters: timeline.chapters.len(),
        stats,
    })
}

/// Decode, filter, encode: the same plan and chapters (scaled by a
/// timelapse's factor), on the preset the request names.
fn transcode(
    (options, parallel): (&EncodeOptions, bool),
    req: &ExportRequest,
    reads: &Reads,
    footage: Footage,
    timeline: Timeline,
    out: &Path,
    reporter: &mut Reporter<'_>,
) -> Result<Written> {
    reporter.step(Step::Encoding, 0.0)?;
    let args = req.encode.clone().unwrap_or_default();
    let chosen = preset::chosen(args.hwaccel.as_deref());
    let job = TranscodeJob {
        plan: &timeline.plan,
        segments: &footage.segments,
        options,
        chapters: &timeline.chapters,
        timestamps: &timeline.timestamps,
        metadata: &reads.metadata,
        preset: chosen,
        cpu_fallback: args.cpu_fallback,
        parallel,
    };
    let (stats, fell_back) = crate::transcode::writer::write(&job, out, reporter)?;
    drop(footage.frames_file);
    let mut warnings = footage.warnings;
    warnings.extend(fell_back);
    Ok(Written {
        duration_s: stats.video_duration_s,
        skipped: footage.skipped,
        warnings,
        chapters: timeline.chapters.len(),
        stats,
    })
}
