//! What a stream-copy writer is given ([`RemuxJob`]: the plan, its probed
//! segments, the chapters) and what it reports ([`RemuxStats`]).

use super::cut::AudioDrops;
use crate::plan::chapters::Chapter;
use crate::plan::timestamps::Cue;
use crate::plan::{Clip, Plan};
use crate::probe::{ProbedSegment, SegmentProbe};
use crate::source::Locator;

/// What to write.
pub struct RemuxJob<'a> {
    pub plan: &'a Plan,
    /// The segments the plan was built from, indexed by `Clip::segment`.
    pub segments: &'a [ProbedSegment],
    pub audio: bool,
    pub chapters: &'a [Chapter],
    /// Wall-clock timestamp cues (`--timestamps`; empty: no such track).
    pub timestamps: &'a [Cue],
    /// Container metadata (`title`, `creation_time`, `comment`).
    pub metadata: &'a [(&'a str, String)],
    /// Start of the export, unix seconds (MP4 creation times).
    pub creation_s: f64,
    /// Bytes a second the copy may write at most (`None`: as fast as it goes).
    pub max_rate: Option<u64>,
    /// An export to a file: its plan is saved for a resume under these
    /// inputs (see `resume`); `None`: not saved.
    pub resume: Option<&'a super::resume::Inputs>,
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
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
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RemuxStats {
    pub writer: WriterKind,
    /// Why the fast writer declined, when it did.
    pub fast_declined: Option<String>,
    pub video_packets: u64,
    pub audio_packets: u64,
    /// Audio packets of the source left out, by reason.
    pub audio_dropped: AudioDrops,
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
    /// A resumed export: bytes a dead export had durably written that were
    /// kept (0: written whole).
    pub resumed_bytes: u64,
    /// There was a dead export's partial file here, and why it could not
    /// be resumed (it was started over).
    pub resume_restarted: Option<String>,
    /// A resumed export finished from the plan its dead run saved: no
    /// segment header was read, nothing planned again.
    pub from_saved_plan: bool,
}
