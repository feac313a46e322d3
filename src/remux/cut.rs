//! Per-clip timestamp mapping, shared by both writers so they agree packet
//! for packet.
//!
//! For each clip, a sample is kept when its DTS lies in the clip's decode
//! window `[first_dts, end_dts)` and its timestamps map onto the output
//! timeline by *presentation* time:
//!
//! ```text
//! out = clip offset + (ts - clip origin)          in each stream's output time base
//! ```
//!
//! The origin is the PTS of the clip's first presented video frame
//! (`Clip::origin_pts`), mapped into each stream's own time base, so every
//! clip's first frame is presented exactly at its offset and the export's
//! first frame at 0. With B-frames the first DTS of the export is therefore
//! negative (the reorder delay); MP4 expresses that with an edit list, as
//! the ffmpeg CLI does.
//!
//! Audio is kept over the clip's presentation window. The first audio frame
//! of the export may straddle the start (it begins before the first video
//! frame and ends after it): it is kept, at a negative time that the edit
//! list trims, so audio starts with the video instead of up to one AAC frame
//! later. Other audio before the window (AAC priming, the previous segment's
//! tail) or past it, or that would not advance the audio track, is dropped
//! rather than shifted: shifting would accumulate drift over hundreds of
//! clips.

use ffmpeg_next::Rational;

use crate::plan::Clip;
use crate::time::rescale;
use crate::time::OutTicks;

/// Output time base of the video track (the mov muxer keeps 90 kHz).
pub const VIDEO_TB: Rational = OutTicks::BASE;

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
    origin: i64,
    tbv: Rational,
    v_off: i64,
    a_first: i64,
    a_end: i64,
    tba: Rational,
    a_off: i64,
    /// Exact cuts: the clip's end in the output video time base (the last
    /// frame is shortened to it).
    v_end: Option<i64>,
    lift: Option<crate::plan::Lift>,
}

impl ClipMap {
    /// `audio_in_tb`: the segment's audio time base, when audio is kept.
    pub fn new(clip: &Clip, audio_in_tb: Option<Rational>, tl: &Timeline) -> ClipMap {
        let tba = audio_in_tb.unwrap_or(OutTicks::BASE);
        ClipMap {
            first_dts: clip.first_dts,
            end_dts: clip.end_dts,
            origin: clip.origin_pts,
            tbv: clip.time_base,
            v_off: clip.offset.in_base(tl.tb[VIDEO]),
            a_first: rescale(clip.origin_pts, clip.time_base, tba),
            a_end: rescale(clip.end_pts, clip.time_base, tba),
            tba,
            a_off: clip.offset.in_base(tl.tb[AUDIO]),
            v_end: clip.exact.then(|| clip.end().in_base(tl.tb[VIDEO])),
            lift: clip.lift,
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
        let (dts, pts) = match self.lift {
            Some(l) if pts == l.from_pts => (l.to_pts, l.to_pts),
            _ => (dts, pts),
        };
        let mut out_dts = self.v_off + rescale(dts - self.origin, self.tbv, otb);
        if out_dts <= tl.last_dts[VIDEO] {
            out_dts = tl.last_dts[VIDEO] + 1;
        }
        let out_pts = (self.v_off + rescale(pts - self.origin, self.tbv, otb)).max(out_dts);
        let mut dur = rescale(duration, self.tbv, otb);
        if let Some(end) = self.v_end {
            dur = dur.min(end - out_pts).max(0);
        }
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
        let first_of_export = tl.last_dts[AUDIO] == i64::MIN;
        let straddles = ts < self.a_first && ts + duration > self.a_first;
        if (ts < self.a_first && !(first_of_export && straddles)) || out <= tl.last_dts[AUDIO] {
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
