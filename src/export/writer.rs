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
    /// Reads the input of `req`: probes the files and lays them out, or
    /// fetches the playlist.
    pub fn read(
        layout: &Layout,
        settings: &Settings,
        min_free_bytes: u64,
        req: &ExportRequest,
        reads: &Reads,
        reporter: &Reporter<'_>,
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
        let mut footage = footage::gather(layout, settings, &req.source, reads, cancel)?;
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
        let of = |s: &crate::source::Segment| {
            let crate::source::Locator::File(path) = &s.locator;
            manifest::Source {
                id: s.id.clone(),
                start_s: s.start_s,
                end_s: s.end_s,
                path: path.clone(),
            }
        };
        match self {
            Input::Files { footage, .. } => footage.segments[..footage.files]
                .iter()
                .map(|ps| of(&ps.segment))
                .collect(),
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

    /// Writes the input to `out` (a staged file the caller owns).
    pub fn write(
        self,
        settings: &Settings,
        req: &ExportRequest,
        reads: &Reads,
        out: &Path,
        reporter: &mut Reporter<'_>,
    ) -> Result<Written> {
        match self {
            Input::Vod(vod) => hls::write(vod, settings, req, reads, out, reporter),
            Input::Cameras(c) => c.write(settings, req, reads, out, reporter),
            Input::Files { footage, timeline } => match &reads.encode {
                Some(options) => {
                    let on = (options, settings.parallel_decode);
                    transcode(on, req, reads, footage, timeline, out, reporter)
                }
                None => copy(settings, req, reads, footage, timeline, out, reporter),
            },
        }
    }
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
    }
}

/// Stream copy.
fn copy(
    settings: &Settings,
    req: &ExportRequest,
    reads: &Reads,
    footage: Footage,
    timeline: Timeline,
    out: &Path,
    reporter: &mut Reporter<'_>,
) -> Result<Written> {
    reporter.step(Step::Copying, 0.0)?;
    if let Some(rate) = settings.max_rate {
        reporter.pace(rate, timeline.needed_bytes);
    }
    let job = remux_job(req, reads, &footage, &timeline, settings.max_rate);
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
