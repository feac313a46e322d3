//! The clip plan: which samples of which segment go where in the output.
//!
//! This is where wall-clock time (the catalogue's unix seconds) becomes
//! output media time. It is plain data computed from catalogue rows and
//! segment sample indexes, so it is tested without libav, and every writer
//! and the chapter builder use the same plan: a chapter lands on the frame it
//! names because it is placed with the very cut points the remux uses.
//!
//! # The rule: lose nothing
//!
//! Frames recorded in the segments that the range selects are in the output,
//! exactly once; the requested start and end cut only the first and the last
//! clip. Catalogue wall times select segments and place the two cuts and the
//! chapters; they never drop footage between two segments. They cannot:
//! the NVR names a segment after the second its file was created and takes
//! its duration from frame count / nominal fps, so consecutive rows of one
//! continuous stream overlap (by up to several seconds) or leave small gaps
//! although the files' content is continuous (`nvr-recordings.md`).
//! Segments that really hold the same footage (one file listed twice) are
//! removed before planning, by the caller, and named in a warning.
//!
//! * Segments are taken in start order; wall-clock gaps between them
//!   collapse (each clip starts where the previous one ended).
//! * The first clip starts at the last keyframe presented at or before the
//!   requested start (so the file starts decodable); later clips start at
//!   their segment's first keyframe.
//! * A clip ends after the last frame presented at or before the requested
//!   end (in decode order: every sample up to it is copied, so everything
//!   copied decodes). A last clip of less than [`MIN_CLIP`] that the end
//!   cuts short is left out (a frame or two of the next segment).
//!
//! # Decode time and presentation time
//!
//! With B-frames a sample's presentation time (PTS) is its decode time
//! (DTS) plus a composition offset, and a segment's first DTS is negative.
//! The plan keeps both: a clip copies the samples whose DTS is in
//! `[first_dts, end_dts)`, and is placed in the output by presentation time,
//! from `origin_pts` (its first presented frame, which lands on its output
//! offset) to `end_pts`. Cuts compare *presented* instants with the
//! requested range. Output time is counted in 90 kHz ticks (`*_90k`), a base
//! every NVR frame rate and audio rate maps onto with sub-millisecond error;
//! offsets are accumulated in these integer ticks, so hundreds of clips add
//! no drift.

pub mod cameras;
pub mod chapters;
pub mod timestamps;

use ffmpeg_next::Rational;

use crate::probe::{ProbedSegment, VideoTiming};
use crate::time::{self, OutTicks, Ts};

/// A last clip shorter than this (100 ms), cut short by the requested end,
/// is left out.
pub const MIN_CLIP: OutTicks = OutTicks(9_000);

/// Tolerance when comparing wall-clock seconds to sample times (1 µs), so
/// that a frame exactly at a requested boundary counts as "at" it despite
/// floating-point rounding.
const EPS_S: f64 = 1e-6;

/// One segment's contribution to the output.
#[derive(Debug, Clone, PartialEq)]
pub struct Clip {
    /// Index of the segment in the planner's input (the export's
    /// `ProbedSegment`s, in the same order).
    pub segment: usize,
    /// The source's id of that segment (catalogue row id).
    pub segment_id: String,
    /// Video time base of the segment.
    pub time_base: Rational,
    /// DTS of the first sample copied (a keyframe), in `time_base`.
    pub first_dts: i64,
    /// DTS bound (exclusive) of the samples copied, in `time_base`.
    pub end_dts: i64,
    /// PTS of the clip's first presented frame: it lands on `offset`.
    pub origin_pts: i64,
    /// End of the last presented frame (PTS + duration), in `time_base`.
    pub end_pts: i64,
    /// Wall-clock time of `origin_pts` (unix seconds).
    pub wall_start_s: f64,
    /// Wall-clock time of `end_pts` (unix seconds).
    pub wall_end_s: f64,
    /// Where the clip starts in the output.
    pub offset: OutTicks,
    /// How long the clip lasts in the output.
    pub duration: OutTicks,
    /// Whether `first_dts` is past the segment's first sample (the writer seeks).
    pub starts_mid_segment: bool,
    /// Whether the requested end cut this clip before its segment's end.
    pub cut_at_end: bool,
    /// [`Trim::Exact`] cuts: samples before `origin_pts` are copied but land
    /// before 0 (the edit list hides them) and the last frame is shortened
    /// to end at `end_pts`.
    pub exact: bool,
    /// The frame on screen at an exact in-point that starts before it:
    /// presented from the in-point instead (see [`Lift`]).
    pub lift: Option<Lift>,
}

/// How the requested range cuts the first and last clip.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Trim {
    /// The NVR's recordings export: start at the keyframe before the
    /// requested start (shown), end after the frame presented at the end.
    #[default]
    Keyframe,
    /// Exact cuts without re-encoding (preview exports, whose keyframes are
    /// tens of seconds apart): the samples from the keyframe before the
    /// start are copied, an MP4 edit list starts presentation at the
    /// requested instant, and the last frame ends at the requested end.
    Exact,
}

/// A frame that is on screen at an exact in-point but starts before it.
/// An MP4 reader (libavformat among them) discards every frame that starts
/// before the edit list's media time, so this one is written as starting at
/// the in-point (decode and presentation time; only for video without
/// composition offsets, where both are equal). Its picture is unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lift {
    /// Its PTS in the segment.
    pub from_pts: i64,
    /// The in-point's PTS.
    pub to_pts: i64,
}

impl Clip {
    pub fn end(&self) -> OutTicks {
        self.offset + self.duration
    }
}

/// What the planner needs of a segment: its id, the wall-clock start its
/// source states, and its video timing.
#[derive(Debug, Clone, Copy)]
pub struct PlanSegment<'a> {
    pub id: &'a str,
    pub start_s: f64,
    pub timing: &'a VideoTiming,
}

impl<'a> PlanSegment<'a> {
    pub fn of(p: &'a ProbedSegment) -> PlanSegment<'a> {
        PlanSegment {
            id: &p.segment.id,
            start_s: p.segment.start_s,
            timing: &p.probe.video.timing,
        }
    }
}

/// The whole output, in order.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    /// The requested range (unix seconds).
    pub start_s: f64,
    pub end_s: f64,
    pub clips: Vec<Clip>,
}

impl Plan {
    /// Builds the plan for `[start_s, end_s]` from segments in start order.
    pub fn build(start_s: f64, end_s: f64, segments: &[PlanSegment<'_>]) -> Plan {
        Plan::build_with(start_s, end_s, segments, Trim::Keyframe)
    }

    /// [`Plan::build`] with the cuts of `trim`.
    pub fn build_with(start_s: f64, end_s: f64, segments: &[PlanSegment<'_>], trim: Trim) -> Plan {
        let mut clips: Vec<Clip> = Vec::new();
        let mut offset = OutTicks::ZERO;
        for (i, seg) in segments.iter().enumerate() {
            let cut = Cuts {
                start_s,
                end_s,
                first: clips.is_empty(),
                trim,
            };
            let Some(clip) = plan_clip(i, seg, cut, offset) else {
                continue;
            };
            offset = clip.end();
            clips.push(clip);
        }
        if clips.len() > 1
            && clips
                .last()
                .is_some_and(|c| c.cut_at_end && c.duration < MIN_CLIP)
        {
            clips.pop();
        }
        Plan {
            start_s,
            end_s,
            clips,
        }
    }

    /// Output duration.
    pub fn duration(&self) -> OutTicks {
        self.clips.last().map(|c| c.end()).unwrap_or(OutTicks::ZERO)
    }

    pub fn duration_s(&self) -> f64 {
        self.duration().seconds()
    }

    /// Maps a wall-clock instant to output time: inside a clip it is the
    /// clip's offset plus the time since the clip's start; in a gap it is
    /// the start of the next clip; after the last clip, the end.
    pub fn wall_to_output(&self, t_s: f64) -> OutTicks {
        for c in &self.clips {
            if t_s < c.wall_start_s {
                return c.offset;
            }
            if t_s <= c.wall_end_s {
                let into = OutTicks::from_seconds(t_s - c.wall_start_s);
                return c.offset + into.clamp(OutTicks::ZERO, c.duration);
            }
        }
        self.duration()
    }

    /// Wall-clock end of the last clip (the last recorded instant).
    pub fn last_wall_end_s(&self) -> Option<f64> {
        self.clips.last().map(|c| c.wall_end_s)
    }

    /// Appends all of `seg` after the last clip, whatever its wall-clock
    /// times (the cached preview frames: a slideshow, not real time).
    pub fn append_whole(&mut self, index: usize, seg: &PlanSegment<'_>) {
        let cut = Cuts {
            start_s: f64::NEG_INFINITY,
            end_s: f64::INFINITY,
            first: false,
            trim: Trim::Keyframe,
        };
        if let Some(clip) = plan_clip(index, seg, cut, self.duration()) {
            self.clips.push(clip);
        }
    }
}

/// Where the requested range cuts one segment.
#[derive(Debug, Clone, Copy)]
struct Cuts {
    start_s: f64,
    end_s: f64,
    /// No clip is planned before this one.
    first: bool,
    trim: Trim,
}

fn plan_clip(segment: usize, seg: &PlanSegment<'_>, cut: Cuts, offset: OutTicks) -> Option<Clip> {
    let Cuts {
        start_s,
        end_s,
        first,
        trim,
    } = cut;
    let exact = trim == Trim::Exact;
    let t = seg.timing;
    let tb = t.time_base;
    let samples = &t.samples;
    // The segment's first presented instant is the row's start time.
    if samples.len() == 0 {
        return None;
    }
    let span = samples.span();
    let origin = span.min_pts;
    let wall = |pts: i64| seg.start_s + time::seconds(pts - origin, tb);
    let seg_end = span.end_at_least_1;
    if first && wall(seg_end) <= start_s + EPS_S {
        // Nothing of this segment is presented at or after the start (it
        // ends exactly where the range begins): the next segment holds the
        // first frame.
        return None;
    }
    let start_idx = if first {
        // Last keyframe presented at or before the start, else the first keyframe.
        samples
            .iter()
            .rposition(|s| s.keyframe && wall(s.pts()) <= start_s + EPS_S)
            .or_else(|| samples.iter().position(|s| s.keyframe))?
    } else {
        samples.iter().position(|s| s.keyframe)?
    };
    // End: in decode order, up to the last frame presented at or before the end.
    // Exact: a frame at the out-point would last no time; leave it out.
    let last_idx = samples.iter().rposition(|s| {
        if exact {
            wall(s.pts()) < end_s - EPS_S
        } else {
            wall(s.pts()) <= end_s + EPS_S
        }
    })?;
    if last_idx < start_idx {
        return None;
    }
    let kept = || samples.range(start_idx..last_idx + 1);
    // A whole segment (most clips of a long export): its span, kept with
    // its table, instead of two passes over its samples.
    let whole = start_idx == 0 && last_idx + 1 == samples.len();
    let mut origin_pts = match whole {
        true => span.min_pts,
        false => kept().map(|s| s.pts()).min()?,
    };
    let mut end_pts = match whole {
        true => seg_end,
        false => kept().map(|s| s.pts() + s.duration.max(1)).max()?,
    };
    // The requested instants in the segment's time base.
    let at = |wall_s: f64| origin + time::ticks(wall_s - seg.start_s, tb);
    let mut lift = None;
    if exact {
        if first && wall(origin_pts) < start_s - EPS_S {
            let in_pts = at(start_s);
            let no_reorder = kept().all(|s| s.cts == 0);
            let on_screen = kept().filter(|s| s.pts() <= in_pts).map(|s| s.pts()).max();
            if let (true, Some(from)) = (no_reorder, on_screen) {
                if from < in_pts {
                    lift = Some(Lift {
                        from_pts: from,
                        to_pts: in_pts,
                    });
                }
            }
            origin_pts = in_pts;
        }
        end_pts = end_pts.min(at(end_s));
        if end_pts <= origin_pts {
            return None;
        }
    }
    let last = samples.get(last_idx);
    Some(Clip {
        segment,
        segment_id: seg.id.to_string(),
        time_base: tb,
        first_dts: samples.get(start_idx).dts,
        end_dts: last.dts + last.duration.max(1),
        origin_pts,
        end_pts,
        wall_start_s: wall(origin_pts),
        wall_end_s: wall(end_pts),
        offset,
        duration: OutTicks::from_ts(Ts::new(end_pts - origin_pts, tb)),
        starts_mid_segment: start_idx > 0,
        cut_at_end: last_idx + 1 < samples.len(),
        exact,
        lift,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::probe::{SampleTable, SampleTime};

    /// A segment of `secs` seconds at `fps`, keyframe every `gop` frames, time base 1/fps*512.
    pub fn timing(secs: f64, fps: i64, gop: usize) -> VideoTiming {
        let tick = 512;
        let n = (secs * fps as f64).round() as usize;
        VideoTiming {
            time_base: Rational(1, (fps * tick) as i32),
            samples: table(
                (0..n)
                    .map(|i| SampleTime {
                        dts: i as i64 * tick,
                        duration: tick,
                        cts: 0,
                        keyframe: i % gop == 0,
                        pos: i as i64 * 1000,
                        size: 1000,
                    })
                    .collect(),
            ),
        }
    }

    pub fn table(v: Vec<SampleTime>) -> SampleTable {
        SampleTable::from_samples(&v).unwrap()
    }

    /// A row: id, start, end (the end is informative only, as the NVR's).
    pub fn rec(id: &str, start_s: f64, _end_s: f64) -> (String, f64) {
        (id.to_string(), start_s)
    }

    fn plan(start: f64, end: f64, recs: &[(String, f64)], t: &[VideoTiming]) -> Plan {
        let segs: Vec<_> = recs
            .iter()
            .zip(t)
            .map(|((id, start_s), t)| PlanSegment {
                id,
                start_s: *start_s,
                timing: t,
            })
            .collect();
        Plan::build(start, end, &segs)
    }

    #[test]
    fn whole_segments_with_gap_collapse() {
        let t = timing(10.0, 10, 20);
        let recs = [rec("a", 1000.0, 1010.0), rec("b", 1030.0, 1040.0)];
        let p = plan(900.0, 2000.0, &recs, &[t.clone(), t]);
        assert_eq!(p.clips.len(), 2);
        assert_eq!(p.clips[0].offset, 0);
        assert_eq!(p.clips[0].duration, 900_000);
        assert_eq!(p.clips[1].offset, 900_000);
        assert_eq!(p.duration(), 1_800_000);
        // Wall 1035 is 5 s into the second clip: 15 s of output.
        assert_eq!(p.wall_to_output(1035.0), 1_350_000);
        // Inside the gap: start of the next clip.
        assert_eq!(p.wall_to_output(1020.0), 900_000);
    }

    #[test]
    fn mid_segment_start_snaps_back_to_keyframe_and_end_cuts_after_frame() {
        // 10 fps, keyframe every 20 frames (2 s).
        let t = timing(10.0, 10, 20);
        let recs = [rec("a", 1000.0, 1010.0)];
        let p = plan(1003.05, 1007.0, &recs, &[t]);
        let c = &p.clips[0];
        // Keyframes at 0, 2, 4 ... s: 3.05 snaps back to 2.0.
        assert_eq!(c.wall_start_s, 1002.0);
        assert!(c.starts_mid_segment);
        // Last frame at or before 7.0 s is the one at 7.0; it lasts 0.1 s.
        assert!((c.wall_end_s - 1007.1).abs() < 1e-9);
        assert_eq!(c.duration, 459_000);
        // The requested start lands 1.05 s into the output.
        assert_eq!(p.wall_to_output(1003.05), 94_500);
    }

    #[test]
    fn tiny_last_clip_cut_by_the_end_is_left_out_but_tiny_segments_are_kept() {
        let t = timing(10.0, 10, 10);
        let recs = [rec("a", 1000.0, 1010.0), rec("b", 1010.0, 1020.0)];
        // The range ends 0.05 s into b: one frame of 0.1 s... keep it (100 ms).
        let p = plan(1000.0, 1010.05, &recs, &[t.clone(), t.clone()]);
        assert_eq!(p.clips.len(), 2);
        assert_eq!(p.clips[1].duration, 9_000);
        // A whole segment of one 50 ms frame inside the range is footage: kept.
        let short = timing(0.05, 20, 1);
        let recs = [
            rec("a", 1000.0, 1010.0),
            rec("c", 1010.0, 1010.05),
            rec("d", 1010.05, 1020.05),
        ];
        let p = plan(1000.0, 1030.0, &recs, &[t.clone(), short, t.clone()]);
        assert_eq!(p.clips.len(), 3);
        assert_eq!(p.clips[1].duration, 4_500);
        // A last clip the end cuts to under 100 ms is left out.
        let t20 = timing(10.0, 20, 20);
        let recs = [rec("a", 1000.0, 1010.0), rec("b", 1010.0, 1020.0)];
        let p = plan(1000.0, 1010.01, &recs, &[t20.clone(), t20]);
        assert_eq!(p.clips.len(), 1);
    }

    #[test]
    fn start_exactly_at_a_segment_boundary_takes_nothing_before_it() {
        let t = timing(2.0, 15, 15);
        let recs = [rec("a", 1000.0, 1002.0), rec("b", 1002.0, 1004.0)];
        // The catalogue's overlap query returns `a` (its end equals the start).
        let p = plan(1002.0, 1004.0, &recs, &[t.clone(), t]);
        assert_eq!(p.clips.len(), 1);
        assert_eq!(p.clips[0].segment_id, "b");
        assert_eq!(p.duration(), 180_000);
    }

    #[test]
    fn exact_trim_starts_and_ends_at_the_requested_instants() {
        // A preview: 1 fps, keyframe every 40 frames, 60 s.
        let t = timing(60.0, 1, 40);
        let segs = [PlanSegment {
            id: "p",
            start_s: 1000.0,
            timing: &t,
        }];
        let p = Plan::build_with(1012.5, 1050.0, &segs, Trim::Exact);
        let c = &p.clips[0];
        assert_eq!(c.first_dts, 0, "copied from the keyframe before the start");
        assert_eq!(c.origin_pts, 12 * 512 + 256, "presented from the in-point");
        assert_eq!(
            c.lift,
            Some(Lift {
                from_pts: 12 * 512,
                to_pts: 12 * 512 + 256
            })
        );
        assert_eq!(c.end_pts, 50 * 512, "the out-point, not the frame's end");
        assert!((p.duration_s() - 37.5).abs() < 1e-9);
        assert_eq!(p.wall_to_output(1012.5), 0);
        // The same range cut at keyframes starts 12.5 s early.
        let k = Plan::build_with(1012.5, 1050.0, &segs, Trim::Keyframe);
        assert_eq!(k.clips[0].origin_pts, 0);
        assert!((k.duration_s() - 51.0).abs() < 1e-9);
        // An in-point on a frame needs no lift; a range inside one frame
        // interval still has its length.
        let p = Plan::build_with(1012.0, 1012.5, &segs, Trim::Exact);
        assert_eq!(p.clips[0].lift, None);
        assert!((p.duration_s() - 0.5).abs() < 1e-9);
        // A range starting before the segment starts at its first frame.
        let p = Plan::build_with(990.0, 1010.0, &segs, Trim::Exact);
        assert_eq!(p.clips[0].origin_pts, 0);
        assert!((p.duration_s() - 10.0).abs() < 1e-9);
    }

    #[test]
    fn overlapping_rows_lose_nothing() {
        // Rows of one continuous stream overlap (whole-second starts,
        // frame-count durations): every frame of both segments is kept.
        let t = timing(10.0, 10, 20); // keyframe every 2 s
        for overlap in [0.001, 0.5, 5.9] {
            let recs = [
                rec("a", 1000.0, 1010.0),
                rec("b", 1010.0 - overlap, 1020.0 - overlap),
            ];
            let p = plan(1000.0, 1030.0, &recs, &[t.clone(), t.clone()]);
            assert_eq!(p.clips.len(), 2, "overlap {overlap}");
            assert_eq!(p.clips[1].first_dts, 0);
            assert!(!p.clips[1].starts_mid_segment);
            assert_eq!(p.clips[1].offset, 900_000);
            assert_eq!(p.duration(), 1_800_000, "overlap {overlap}");
        }
        // A 20 s GOP: the second segment's only keyframe is at its start.
        let long = timing(10.0, 15, 300);
        let recs = [rec("a", 1000.0, 1010.0), rec("b", 1009.0, 1019.0)];
        let p = plan(1000.0, 1019.0, &recs, &[long.clone(), long]);
        assert_eq!(p.duration(), 1_800_000);
    }

    /// Samples of a B-frame stream in decode order: I P B B P B B ..., two
    /// frames of reorder delay, first DTS -2 frames (as libav reads it).
    pub fn bframes(secs: f64, fps: i64, gop: usize) -> VideoTiming {
        let tick = 512i64;
        let n = (secs * fps as f64).round() as usize;
        // presentation index of decode index i within a GOP: I0 P3 B1 B2 P6 B4 B5 ...
        let pres = |i: usize| -> usize {
            let g = i / gop * gop;
            let j = i - g;
            let k = if j == 0 {
                0
            } else if j % 3 == 1 {
                (j + 2).min(gop - 1)
            } else {
                j - 1
            };
            g + k
        };
        VideoTiming {
            time_base: Rational(1, (fps * tick) as i32),
            samples: table(
                (0..n)
                    .map(|i| {
                        let dts = (i as i64 - 2) * tick;
                        SampleTime {
                            dts,
                            duration: tick,
                            cts: (pres(i) as i64 * tick - dts) as i32,
                            keyframe: i % gop == 0,
                            pos: i as i64 * 1000,
                            size: 1000,
                        }
                    })
                    .collect(),
            ),
        }
    }

    #[test]
    fn bframe_clips_are_placed_by_presentation_time() {
        let t = bframes(10.0, 15, 30);
        let recs = [rec("a", 1000.0, 1010.0), rec("b", 1010.0, 1020.0)];
        let p = plan(999.0, 1021.0, &recs, &[t.clone(), t.clone()]);
        assert_eq!(p.clips.len(), 2);
        let c = &p.clips[0];
        // First DTS is -2 frames, first presented frame is at 0.
        assert_eq!(c.first_dts, -1024);
        assert_eq!(c.origin_pts, 0);
        // The clip lasts exactly its 150 frames: the last sample's duration
        // is its decode delta, not the reorder delay on top.
        assert_eq!(c.duration, 900_000);
        assert_eq!(c.end_dts, 148 * 512);
        assert_eq!(p.clips[1].offset, 900_000);
        assert_eq!(p.duration(), 1_800_000);
        // Mid-segment start: snaps back to the keyframe presented at 2 s.
        let p = plan(1002.5, 1021.0, &recs, &[t.clone(), t]);
        assert_eq!(p.clips[0].origin_pts, 30 * 512);
        assert!((p.clips[0].wall_start_s - 1002.0).abs() < 1e-9);
    }

    #[test]
    fn frame_rate_change_keeps_real_time() {
        let a = timing(10.0, 30, 60);
        let b = timing(10.0, 5, 10);
        let recs = [rec("a", 1000.0, 1010.0), rec("b", 1010.0, 1020.0)];
        let p = plan(1000.0, 1020.0, &recs, &[a, b]);
        assert_eq!(p.clips[0].duration, 900_000);
        assert_eq!(p.clips[1].duration, 900_000);
    }
}
