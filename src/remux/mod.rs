//! Stream copy from the clip plan into one MP4, by one of two writers.
//!
//! * [`fast`]: the index-driven writer. Every sample's offset, size and
//!   timestamp is already known from the segments' headers (see `probe`), so
//!   it computes the whole `moov` first, writes it, then copies each clip's
//!   sample data as one byte run (`copy_file_range`, in kernel). It takes
//!   local MP4 segments that share one sample description and have no
//!   composition offsets (what NVR cameras record).
//! * [`libav`]: the general writer, a packet loop through libav's demuxer
//!   and mov muxer; it takes anything libav reads, in-band parameter-set
//!   changes included.
//!
//! [`remux`] picks the fast writer when [`fast::check`] accepts the job,
//! else the libav one, and says which in [`RemuxStats::writer`]. Both map
//! timestamps through [`cut`], so they write the same packets (a test
//! compares them with `ffprobe -show_packets`).

pub mod cut;
mod fail;
pub mod fast;
pub mod hls;
pub mod libav;
pub mod mp4;
pub mod select;
pub mod tracks;

use std::path::Path;

use crate::error::{Error, Result};
use crate::plan::chapters::Chapter;
use crate::plan::{Clip, Plan};
use crate::probe::{ProbedSegment, SegmentProbe};
use crate::progress::Reporter;
use crate::source::Locator;
pub(crate) use fail::{Failure, Failures};

/// What to write.
pub struct RemuxJob<'a> {
    pub plan: &'a Plan,
    /// The segments the plan was built from, indexed by `Clip::segment`.
    pub segments: &'a [ProbedSegment],
    pub audio: bool,
    pub chapters: &'a [Chapter],
    /// Container metadata (`title`, `creation_time`, `comment`).
    pub metadata: &'a [(&'a str, String)],
    /// Start of the export, unix seconds (MP4 creation times).
    pub creation_s: f64,
    /// Bytes a second the copy may write at most (`None`: as fast as it goes).
    pub max_rate: Option<u64>,
}

impl RemuxJob<'_> {
    /// The probe of `clip`'s segment.
    pub fn probe(&self, clip: &Clip) -> &SegmentProbe {
        &self.segments[clip.segment].probe
    }
    /// Where `clip`'s segment is.
    pub fn locator(&self, clip: &Clip) -> &Locator {
        &self.segments[clip.segment].segment.locator
    }
    /// The first clip's probe: its sample entries are the output's.
    pub fn first(&self) -> &SegmentProbe {
        self.probe(&self.plan.clips[0])
    }
    /// The probe of every clip, in plan order.
    pub fn clip_probes(&self) -> Vec<&SegmentProbe> {
        self.plan.clips.iter().map(|c| self.probe(c)).collect()
    }
}

/// Which writer to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WriterChoice {
    /// The index-driven writer when it accepts the job, else libav.
    #[default]
    Auto,
    /// Always the libav packet loop.
    Libav,
}

/// The writer that wrote an export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WriterKind {
    /// The index-driven writer (moov from the sample tables, bytes copied in kernel).
    #[default]
    Fast,
    /// The libav packet loop.
    Libav,
    /// The HLS writer (fragments demuxed by libav, `moov` from their samples).
    Hls,
    /// Decode, filter, encode (timelapse, custom encode).
    Transcode,
}

impl WriterKind {
    pub fn as_str(self) -> &'static str {
        match self {
            WriterKind::Fast => "fast",
            WriterKind::Libav => "libav",
            WriterKind::Hls => "hls",
            WriterKind::Transcode => "transcode",
        }
    }
}

impl std::fmt::Display for WriterKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What was written.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
pub struct RemuxStats {
    pub writer: WriterKind,
    /// Why the fast writer declined, when it did.
    pub fast_declined: Option<String>,
    pub video_packets: u64,
    pub audio_packets: u64,
    /// Audio packets dropped at clip boundaries (priming, overrun).
    pub audio_packets_trimmed: u64,
    /// End of the last video sample, seconds.
    pub video_duration_s: f64,
    /// End of the last audio sample, seconds.
    pub audio_duration_s: f64,
    pub bytes_written: u64,
    /// Re-encoding exports: the decoded frames fed to the filters (after
    /// thinning, or keyframes only).
    pub frames_decoded: u64,
    /// Of the samples' bytes, those copied block-aligned on a filesystem
    /// that shares extents (the filesystem shares them: no new space)...
    pub shared_bytes: u64,
    /// ...and those written out (everything, elsewhere).
    pub copied_bytes: u64,
    /// When the first sample's bytes reached the output (start-up latency).
    #[serde(skip)]
    pub first_sample_at: Option<std::time::Instant>,
}

/// Writes `job` to `out_path` (a staged file the caller owns).
pub fn remux(
    job: &RemuxJob<'_>,
    choice: WriterChoice,
    out_path: &Path,
    reporter: &mut Reporter<'_>,
) -> Result<RemuxStats> {
    if job.plan.clips.is_empty() {
        return Err(Error::media_state("remux", "the plan has no clip"));
    }
    let declined = match choice {
        WriterChoice::Libav => Some("libav writer requested".to_string()),
        WriterChoice::Auto => fast::check(job).err(),
    };
    match declined {
        None => fast::write(job, out_path, reporter),
        Some(reason) => {
            let mut stats = libav::write(job, out_path, reporter)?;
            stats.fast_declined = Some(reason);
            Ok(stats)
        }
    }
}
