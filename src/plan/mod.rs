//! The clip plan: which samples of which segment go where in the output.
//!
//! This is where wall-clock time (the catalogue's unix seconds) becomes
//! output media time. It is plain data computed from catalogue rows and
//! segment sample indexes, so it is tested without libav, and every writer
//! and the chapter builder use the same plan: a chapter lands on the frame it
//! names because it is placed with the very cut points the remux uses.
//!
//! Rules (the NVR's VOD behaviour, see `frigate-model.md` step 2):
//! * Overlapping recordings are taken in start order; wall-clock gaps
//!   between them collapse (each clip starts where the previous one ended).
//! * The first clip starts at the requested start snapped *back* to the
//!   preceding keyframe, so the file starts decodable. Later clips start at
//!   their first keyframe (or, if segments overlap in wall time, at the first
//!   keyframe after the previous clip's end, so nothing plays twice).
//! * A clip ends after the last frame at or before the requested end.
//! * Clips shorter than [`MIN_CLIP_90K`] are skipped.
//!
//! Output time is counted in 90 kHz ticks (`*_90k`), a base every NVR
//! frame rate and audio rate maps onto with sub-millisecond error; offsets
//! are accumulated in these integer ticks, so hundreds of clips add no drift.

pub mod chapters;

use std::path::PathBuf;

use ffmpeg_next::Rational;

use crate::catalogue::Recording;
use crate::media::{rescale, ts_seconds};
use crate::probe::VideoTiming;

/// Output time base of the plan: 90 kHz.
pub const TB_90K: Rational = Rational(1, 90_000);

/// Clips shorter than this (100 ms) are skipped.
pub const MIN_CLIP_90K: i64 = 9_000;

/// Tolerance when comparing wall-clock seconds to sample times (1 µs), so
/// that a frame exactly at a requested boundary counts as "at" it despite
/// floating-point rounding.
const EPS_S: f64 = 1e-6;

/// One segment's contribution to the output.
#[derive(Debug, Clone, PartialEq)]
pub struct Clip {
    /// Index of the segment in the planner's input.
    pub segment: usize,
    pub recording_id: String,
    pub path: PathBuf,
    /// Video time base of the segment.
    pub time_base: Rational,
    /// DTS of the first sample copied (a keyframe), in `time_base`.
    pub first_dts: i64,
    /// DTS bound (exclusive) of the samples copied, in `time_base`.
    pub end_dts: i64,
    /// Wall-clock time of `first_dts` (unix seconds).
    pub wall_start_s: f64,
    /// Wall-clock time of `end_dts` (unix seconds).
    pub wall_end_s: f64,
    /// Where the clip starts in the output.
    pub offset_90k: i64,
    /// How long the clip lasts in the output.
    pub duration_90k: i64,
    /// Whether `first_dts` is past the segment's first sample (the writer seeks).
    pub starts_mid_segment: bool,
}

impl Clip {
    pub fn end_90k(&self) -> i64 {
        self.offset_90k + self.duration_90k
    }
}

/// A segment the planner can use: its catalogue row and its video timing.
#[derive(Debug, Clone, Copy)]
pub struct PlanSegment<'a> {
    pub recording: &'a Recording,
    pub timing: &'a VideoTiming,
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
        let mut clips: Vec<Clip> = Vec::new();
        let mut offset_90k = 0i64;
        let mut prev_wall_end: Option<f64> = None;
        for (i, seg) in segments.iter().enumerate() {
            let Some(clip) = plan_clip(
                i,
                seg,
                start_s,
                end_s,
                prev_wall_end,
                clips.is_empty(),
                offset_90k,
            ) else {
                continue;
            };
            if clip.duration_90k < MIN_CLIP_90K {
                continue;
            }
            offset_90k = clip.end_90k();
            prev_wall_end = Some(clip.wall_end_s);
            clips.push(clip);
        }
        Plan {
            start_s,
            end_s,
            clips,
        }
    }

    /// Output duration in 90 kHz ticks.
    pub fn duration_90k(&self) -> i64 {
        self.clips.last().map(|c| c.end_90k()).unwrap_or(0)
    }

    pub fn duration_s(&self) -> f64 {
        ts_seconds(self.duration_90k(), TB_90K)
    }

    /// Maps a wall-clock instant to output time: inside a clip it is the
    /// clip's offset plus the time since the clip's start; in a gap it is
    /// the start of the next clip; after the last clip, the end.
    pub fn wall_to_output_90k(&self, t_s: f64) -> i64 {
        for c in &self.clips {
            if t_s < c.wall_start_s {
                return c.offset_90k;
            }
            if t_s <= c.wall_end_s {
                let into = ((t_s - c.wall_start_s) * 90_000.0).round() as i64;
                return c.offset_90k + into.clamp(0, c.duration_90k);
            }
        }
        self.duration_90k()
    }

    /// Wall-clock end of the last clip (the last recorded instant).
    pub fn last_wall_end_s(&self) -> Option<f64> {
        self.clips.last().map(|c| c.wall_end_s)
    }
}

fn plan_clip(
    segment: usize,
    seg: &PlanSegment<'_>,
    start_s: f64,
    end_s: f64,
    prev_wall_end: Option<f64>,
    first: bool,
    offset_90k: i64,
) -> Option<Clip> {
    let rec = seg.recording;
    let t = seg.timing;
    let tb = t.time_base;
    let samples = &t.samples;
    let origin = samples.first()?.dts;
    let wall = |dts: i64| rec.start_s + ts_seconds(dts - origin, tb);

    // Start: requested start (or the end of the previous clip when segments
    // overlap), as a position inside this segment.
    let from_s = match prev_wall_end {
        Some(prev) => start_s.max(prev),
        None => start_s,
    };
    let seg_end = samples.last().map(|s| wall(s.dts + s.duration.max(1)))?;
    if seg_end <= from_s + EPS_S {
        // Nothing of this segment is at or after the start (it ends exactly
        // where the range begins): the next segment holds the first frame.
        return None;
    }
    let start_idx = if first {
        // Last keyframe at or before `from_s`, else the first keyframe.
        samples
            .iter()
            .rposition(|s| s.keyframe && wall(s.dts) <= from_s + EPS_S)
            .or_else(|| samples.iter().position(|s| s.keyframe))?
    } else {
        // First keyframe at or after `from_s`.
        samples
            .iter()
            .position(|s| s.keyframe && wall(s.dts) >= from_s - EPS_S)?
    };

    // End: after the last frame at or before the requested end.
    let last_idx = samples.iter().rposition(|s| wall(s.dts) <= end_s + EPS_S)?;
    if last_idx < start_idx {
        return None;
    }
    let first_dts = samples[start_idx].dts;
    let last = samples[last_idx];
    let end_dts = last.dts + last.duration.max(1);
    let duration_90k = rescale(end_dts - first_dts, tb, TB_90K);
    Some(Clip {
        segment,
        recording_id: rec.id.clone(),
        path: rec.path.clone(),
        time_base: tb,
        first_dts,
        end_dts,
        wall_start_s: wall(first_dts),
        wall_end_s: wall(end_dts),
        offset_90k,
        duration_90k,
        starts_mid_segment: start_idx > 0,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::probe::SampleTime;

    /// A segment of `secs` seconds at `fps`, keyframe every `gop` frames, time base 1/fps*512.
    pub fn timing(secs: f64, fps: i64, gop: usize) -> VideoTiming {
        let tick = 512;
        let n = (secs * fps as f64).round() as usize;
        VideoTiming {
            time_base: Rational(1, (fps * tick) as i32),
            samples: (0..n)
                .map(|i| SampleTime {
                    dts: i as i64 * tick,
                    duration: tick,
                    keyframe: i % gop == 0,
                    pos: i as i64 * 1000,
                    size: 1000,
                })
                .collect(),
        }
    }

    pub fn rec(id: &str, start_s: f64, end_s: f64) -> Recording {
        Recording {
            id: id.into(),
            camera: "cam".into(),
            path: format!("/r/{id}.mp4").into(),
            start_s,
            end_s,
            duration_s: end_s - start_s,
        }
    }

    fn plan(start: f64, end: f64, recs: &[Recording], t: &[VideoTiming]) -> Plan {
        let segs: Vec<_> = recs
            .iter()
            .zip(t)
            .map(|(r, t)| PlanSegment {
                recording: r,
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
        assert_eq!(p.clips[0].offset_90k, 0);
        assert_eq!(p.clips[0].duration_90k, 900_000);
        assert_eq!(p.clips[1].offset_90k, 900_000);
        assert_eq!(p.duration_90k(), 1_800_000);
        // Wall 1035 is 5 s into the second clip: 15 s of output.
        assert_eq!(p.wall_to_output_90k(1035.0), 1_350_000);
        // Inside the gap: start of the next clip.
        assert_eq!(p.wall_to_output_90k(1020.0), 900_000);
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
        assert_eq!(c.duration_90k, 459_000);
        // The requested start lands 1.05 s into the output.
        assert_eq!(p.wall_to_output_90k(1003.05), 94_500);
    }

    #[test]
    fn tiny_clips_are_skipped() {
        let t = timing(10.0, 10, 10);
        let recs = [rec("a", 1000.0, 1010.0), rec("b", 1010.0, 1020.0)];
        // The range ends 0.05 s into b: one frame of 0.1 s... keep it (100 ms).
        let p = plan(1000.0, 1010.05, &recs, &[t.clone(), t.clone()]);
        assert_eq!(p.clips.len(), 2);
        assert_eq!(p.clips[1].duration_90k, 9_000);
        // A segment whose only frames in range last less than 100 ms is dropped.
        let short = timing(0.05, 20, 1); // one 50 ms frame
        let recs = [rec("a", 1000.0, 1010.0), rec("c", 1010.0, 1010.05)];
        let p = plan(1000.0, 1020.0, &recs, &[t, short]);
        assert_eq!(p.clips.len(), 1);
    }

    #[test]
    fn start_exactly_at_a_segment_boundary_takes_nothing_before_it() {
        let t = timing(2.0, 15, 15);
        let recs = [rec("a", 1000.0, 1002.0), rec("b", 1002.0, 1004.0)];
        // The catalogue's overlap query returns `a` (its end equals the start).
        let p = plan(1002.0, 1004.0, &recs, &[t.clone(), t]);
        assert_eq!(p.clips.len(), 1);
        assert_eq!(p.clips[0].recording_id, "b");
        assert_eq!(p.duration_90k(), 180_000);
    }

    #[test]
    fn overlapping_segments_do_not_repeat() {
        let t = timing(10.0, 10, 10); // keyframe every second
        let recs = [rec("a", 1000.0, 1010.0), rec("b", 1008.0, 1018.0)];
        let p = plan(1000.0, 1020.0, &recs, &[t.clone(), t]);
        assert_eq!(p.clips.len(), 2);
        assert_eq!(p.clips[1].wall_start_s, 1010.0);
        assert_eq!(p.clips[1].duration_90k, 720_000);
    }

    #[test]
    fn frame_rate_change_keeps_real_time() {
        let a = timing(10.0, 30, 60);
        let b = timing(10.0, 5, 10);
        let recs = [rec("a", 1000.0, 1010.0), rec("b", 1010.0, 1020.0)];
        let p = plan(1000.0, 1020.0, &recs, &[a, b]);
        assert_eq!(p.clips[0].duration_90k, 900_000);
        assert_eq!(p.clips[1].duration_90k, 900_000);
    }
}
