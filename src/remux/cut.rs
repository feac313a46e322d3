//! Per-clip timestamp mapping, shared by both writers so they agree packet
//! for packet.
//!
//! For each clip, a sample is kept when it lies in the clip's window and
//! its timestamp maps onto the output timeline:
//!
//! ```text
//! out = clip offset + (ts - clip origin)          in each stream's output time base
//! ```
//!
//! The origin is the DTS of the clip's first video sample, mapped into each
//! stream's own time base; the window is `[first_dts, end_dts)` of the plan.
//! Audio that starts before the window (AAC priming, whose timestamps the
//! segment's edit list makes negative) or runs past it, or that would not
//! advance the audio track, is dropped rather than shifted: shifting would
//! accumulate drift over hundreds of clips.

use ffmpeg_next::Rational;

use crate::media::rescale;
use crate::plan::{Clip, TB_90K};

/// Output time base of the video track (the mov muxer keeps 90 kHz).
pub const VIDEO_TB: Rational = TB_90K;

/// Output time base of an audio track: one tick per sample.
pub fn audio_tb(sample_rate: u32) -> Rational {
    Rational(1, sample_rate.max(1) as i32)
}

/// Index of the video / audio output track.
pub const VIDEO: usize = 0;
pub const AUDIO: usize = 1;

/// Output timestamps of one kept sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    pub dts: i64,
    pub pts: i64,
    pub duration: i64,
}

/// What to do with one input sample.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cut {
    /// Before the clip's window (or not advancing): skip it.
    Drop,
    Keep(Stamp),
    /// At or past the window's end: this stream is done for the clip.
    After,
}

/// State of the output timeline across clips.
#[derive(Debug, Clone)]
pub struct Timeline {
    pub tb: [Rational; 2],
    last_dts: [i64; 2],
    /// End (pts + duration) of the last kept sample of each track.
    pub end: [i64; 2],
}

impl Timeline {
    pub fn new(video_tb: Rational, audio_tb: Rational) -> Timeline {
        Timeline {
            tb: [video_tb, audio_tb],
            last_dts: [i64::MIN; 2],
            end: [0; 2],
        }
    }
}

/// One clip's mapping.
#[derive(Debug, Clone)]
pub struct ClipMap {
    first_dts: i64,
    end_dts: i64,
    tbv: Rational,
    v_off: i64,
    a_first: i64,
    a_end: i64,
    tba: Rational,
    a_off: i64,
}

impl ClipMap {
    /// `audio_in_tb`: the segment's audio time base, when audio is kept.
    pub fn new(clip: &Clip, audio_in_tb: Option<Rational>, tl: &Timeline) -> ClipMap {
        let tba = audio_in_tb.unwrap_or(TB_90K);
        ClipMap {
            first_dts: clip.first_dts,
            end_dts: clip.end_dts,
            tbv: clip.time_base,
            v_off: rescale(clip.offset_90k, TB_90K, tl.tb[VIDEO]),
            a_first: rescale(clip.first_dts, clip.time_base, tba),
            a_end: rescale(clip.end_dts, clip.time_base, tba),
            tba,
            a_off: rescale(clip.offset_90k, TB_90K, tl.tb[AUDIO]),
        }
    }

    /// A video sample (input `dts`, `pts`, `duration` in the segment's video time base).
    pub fn video(&self, dts: i64, pts: i64, duration: i64, tl: &mut Timeline) -> Cut {
        if dts < self.first_dts {
            return Cut::Drop;
        }
        if dts >= self.end_dts {
            return Cut::After;
        }
        let otb = tl.tb[VIDEO];
        let mut out_dts = self.v_off + rescale(dts - self.first_dts, self.tbv, otb);
        if out_dts <= tl.last_dts[VIDEO] {
            out_dts = tl.last_dts[VIDEO] + 1;
        }
        let out_pts = (self.v_off + rescale(pts - self.first_dts, self.tbv, otb)).max(out_dts);
        let dur = rescale(duration, self.tbv, otb);
        tl.last_dts[VIDEO] = out_dts;
        tl.end[VIDEO] = tl.end[VIDEO].max(out_pts + dur.max(0));
        Cut::Keep(Stamp {
            dts: out_dts,
            pts: out_pts,
            duration: dur,
        })
    }

    /// An audio sample (input timestamp and duration in the segment's audio time base).
    pub fn audio(&self, ts: i64, duration: i64, tl: &mut Timeline) -> Cut {
        if ts >= self.a_end {
            return Cut::After;
        }
        let otb = tl.tb[AUDIO];
        let out = self.a_off + rescale(ts - self.a_first, self.tba, otb);
        if ts < self.a_first || out <= tl.last_dts[AUDIO] {
            return Cut::Drop;
        }
        let dur = rescale(duration, self.tba, otb);
        tl.last_dts[AUDIO] = out;
        tl.end[AUDIO] = out + dur.max(0);
        Cut::Keep(Stamp {
            dts: out,
            pts: out,
            duration: dur,
        })
    }
}
