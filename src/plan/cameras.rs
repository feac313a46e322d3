//! Several cameras on one clock: where each camera's clips sit on a shared
//! wall-clock timeline.
//!
//! Each camera is planned alone first ([`Plan`]: every frame once, gaps
//! collapsed, clips back to back). This module places those clips on the
//! shared timeline ([`CameraPlacement::clip_at`]) and describes each
//! camera's track as edits: [`Edit::Empty`] wherever the camera has no
//! footage, [`Edit::Media`] for each stretch it has. A player shows at
//! every instant of the shared timeline what each camera recorded then;
//! nothing is copied twice.
//!
//! How the writer says it in MP4 (measured, not assumed): an empty edit
//! before a track's first sample (a camera that starts late) is read by
//! every demuxer, but one between two media edits is not: libavformat's
//! `mov` demuxer (5.1 and later) replays the media from its start during
//! it. So a gap inside a track is a jump of its samples' decode times (the
//! sample before it lasts until the next; players hold that picture), and
//! the only empty edit is the leading one: the timestamps players see are
//! the shared timeline's either way.
//!
//! # What counts as a gap
//!
//! The NVR's rows are approximate (`nvr-recordings.md`): a row starts on
//! the whole second its file was created and lasts frame count / nominal
//! rate, so consecutive rows of one continuous stream overlap by up to
//! several seconds or leave small gaps while the files' content runs on
//! without a break. Within one camera, a clip that starts less than
//! [`REAL_GAP_S`] after the previous clip's content ends continues it (its
//! place is the content's time, never earlier: nothing may overlap in one
//! track); a later one starts a new stretch at its row's wall-clock time,
//! after an empty edit. A camera's timing is thus exact at every real gap
//! (where the row is the only clock) and follows the content in between.
//!
//! # Collapsed stretches
//!
//! Where no camera has footage for [`REAL_GAP_S`] or more, the shared
//! timeline skips it for every track at once ([`Placement::holes`], each
//! named by a chapter). Shorter stretches stay: tracks show nothing there.
//! The timeline starts at the earliest first frame of any camera.

use crate::plan::{Clip, Plan};
use crate::time::OutTicks;

/// A camera whose next clip starts this long (2 s) or more after its
/// previous content ends has a real gap there; shorter is row imprecision.
/// The same length of time with no footage on any camera is collapsed.
pub const REAL_GAP_S: f64 = 2.0;

/// One entry of a track's edit list on the shared timeline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edit {
    /// Nothing shown for this long.
    Empty(OutTicks),
    /// The track's media from output time `media` (of the camera's own
    /// plan) for `duration`.
    Media { media: OutTicks, duration: OutTicks },
}

/// Where one camera's clips sit on the shared timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct CameraPlacement {
    /// The shared-timeline start of each clip of the camera's plan.
    pub clip_at: Vec<OutTicks>,
}

impl CameraPlacement {
    /// The camera's track as edits of the shared timeline (`plan`: the
    /// camera's own, whose clips `clip_at` places): its media where clips
    /// follow each other, nothing where they do not.
    pub fn edits(&self, plan: &Plan) -> Vec<Edit> {
        let mut edits: Vec<Edit> = Vec::new();
        let mut cursor = OutTicks::ZERO;
        for (clip, &at) in plan.clips.iter().zip(&self.clip_at) {
            match edits.last_mut() {
                Some(Edit::Media { duration, .. }) if at == cursor => {
                    *duration = *duration + clip.duration;
                }
                _ => {
                    if at > cursor {
                        edits.push(Edit::Empty(at - cursor));
                    }
                    edits.push(Edit::Media {
                        media: clip.offset,
                        duration: clip.duration,
                    });
                }
            }
            cursor = at.max(cursor) + clip.duration;
        }
        edits
    }

    /// Where on the shared timeline the camera has footage: each media
    /// edit's (start, end).
    pub fn footage(&self, plan: &Plan) -> Vec<(OutTicks, OutTicks)> {
        let mut at = OutTicks::ZERO;
        let mut out = Vec::new();
        for e in self.edits(plan) {
            match e {
                Edit::Empty(d) => at = at + d,
                Edit::Media { duration, .. } => {
                    out.push((at, at + duration));
                    at = at + duration;
                }
            }
        }
        out
    }
}

/// A stretch with no footage on any camera, skipped.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Hole {
    /// Where the timeline goes on after it.
    pub at: OutTicks,
    pub from_s: f64,
    pub to_s: f64,
}

/// Every camera placed on the shared timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Placement {
    /// In the order of the plans given.
    pub cameras: Vec<CameraPlacement>,
    /// The shared timeline as a plan of the stretches any camera covers
    /// (its clips name no segment): what chapters and wall-clock cues are
    /// placed with (`wall_to_output`).
    pub timeline: Plan,
    pub holes: Vec<Hole>,
}

impl Placement {
    pub fn duration(&self) -> OutTicks {
        self.timeline.duration()
    }
}

/// A camera's stretch of continuous content.
#[derive(Debug, Clone, Copy)]
struct Stretch {
    wall_s: f64,
    duration: OutTicks,
}

impl Stretch {
    fn wall_end_s(&self) -> f64 {
        self.wall_s + self.duration.seconds()
    }
}

/// Places `plans` (one a camera, each built alone) on one timeline.
pub fn place(start_s: f64, end_s: f64, plans: &[&Plan]) -> Placement {
    // 1. Each camera's stretches, and each clip's place in its stretch.
    let mut stretches: Vec<Stretch> = Vec::new();
    let mut clip_in: Vec<Vec<(usize, OutTicks)>> = Vec::with_capacity(plans.len());
    for plan in plans {
        let mut mine: Vec<(usize, OutTicks)> = Vec::with_capacity(plan.clips.len());
        let mut current: Option<usize> = None;
        for clip in &plan.clips {
            let continues =
                current.filter(|&i| clip.wall_start_s - stretches[i].wall_end_s() < REAL_GAP_S);
            match continues {
                Some(i) => {
                    let into = stretches[i].duration;
                    stretches[i].duration = into + clip.duration;
                    mine.push((i, into));
                }
                None => {
                    stretches.push(Stretch {
                        wall_s: clip.wall_start_s,
                        duration: clip.duration,
                    });
                    current = Some(stretches.len() - 1);
                    mine.push((stretches.len() - 1, OutTicks::ZERO));
                }
            }
        }
        clip_in.push(mine);
    }
    // 2. What any camera covers, merged over gaps shorter than a real one.
    let mut order: Vec<usize> = (0..stretches.len()).collect();
    order.sort_by(|&a, &b| stretches[a].wall_s.total_cmp(&stretches[b].wall_s));
    let mut covered: Vec<(f64, f64)> = Vec::new();
    for &i in &order {
        let s = &stretches[i];
        match covered.last_mut() {
            Some(last) if s.wall_s - last.1 < REAL_GAP_S => last.1 = last.1.max(s.wall_end_s()),
            _ => covered.push((s.wall_s, s.wall_end_s())),
        }
    }
    let mut clips: Vec<Clip> = Vec::with_capacity(covered.len());
    let mut holes = Vec::new();
    let mut at = OutTicks::ZERO;
    for (k, &(from, to)) in covered.iter().enumerate() {
        if k > 0 {
            holes.push(Hole {
                at,
                from_s: covered[k - 1].1,
                to_s: from,
            });
        }
        let duration = OutTicks::from_seconds(to - from);
        clips.push(span_clip(from, to, at, duration));
        at = at + duration;
    }
    let timeline = Plan {
        start_s,
        end_s,
        clips,
    };
    // 3. Each clip at its stretch's shared place (never before the end of
    // the camera's previous stretch: rounding).
    let placed: Vec<OutTicks> = stretches
        .iter()
        .map(|s| timeline.wall_to_output(s.wall_s))
        .collect();
    let cameras = clip_in
        .iter()
        .map(|mine| {
            let mut cursor = OutTicks::ZERO;
            let mut start = OutTicks::ZERO;
            let mut seen = None;
            let clip_at = mine
                .iter()
                .map(|&(i, into)| {
                    if seen != Some(i) {
                        seen = Some(i);
                        start = placed[i].max(cursor);
                        cursor = start + stretches[i].duration;
                    }
                    start + into
                })
                .collect();
            CameraPlacement { clip_at }
        })
        .collect();
    Placement {
        cameras,
        timeline,
        holes,
    }
}

/// A stretch of the shared timeline as a clip of no segment.
fn span_clip(from_s: f64, to_s: f64, at: OutTicks, duration: OutTicks) -> Clip {
    Clip {
        segment: usize::MAX,
        segment_id: String::new(),
        time_base: OutTicks::BASE,
        first_dts: 0,
        end_dts: 0,
        origin_pts: 0,
        end_pts: 0,
        wall_start_s: from_s,
        wall_end_s: to_s,
        offset: at,
        duration,
        starts_mid_segment: false,
        cut_at_end: false,
        exact: false,
        lift: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::tests::timing;
    use crate::plan::PlanSegment;

    fn plan(start: f64, end: f64, rows: &[(f64, f64)]) -> Plan {
        // 10 fps, keyframe every second.
        let t: Vec<_> = rows.iter().map(|&(_, secs)| timing(secs, 10, 10)).collect();
        let segs: Vec<_> = rows
            .iter()
            .zip(&t)
            .map(|(&(s, _), t)| PlanSegment {
                id: "r",
                start_s: s,
                timing: t,
            })
            .collect();
        Plan::build(start, end, &segs)
    }

    fn secs(t: OutTicks) -> f64 {
        t.seconds()
    }

    #[test]
    fn a_late_camera_and_a_gap_get_empty_edits_at_their_wall_clock_places() {
        // A: 1000-1030 continuous (rows overlap 0.4 s: row imprecision).
        let a = plan(
            1000.0,
            1100.0,
            &[(1000.0, 10.0), (1009.6, 10.0), (1019.6, 10.0)],
        );
        // B: starts 5 s later, 10 s, then a real 10 s gap, 10 s more.
        let b = plan(1000.0, 1100.0, &[(1005.0, 10.0), (1025.0, 10.0)]);
        let p = place(1000.0, 1100.0, &[&a, &b]);
        // A is one stretch of its three clips (content time), at 0.
        assert_eq!(
            p.cameras[0].edits(&a),
            vec![Edit::Media {
                media: OutTicks::ZERO,
                duration: OutTicks::from_seconds(30.0)
            }]
        );
        // B: 5 s empty, 10 s, empty until wall 1025 (25 s), 10 s.
        assert_eq!(
            p.cameras[1].edits(&b),
            vec![
                Edit::Empty(OutTicks::from_seconds(5.0)),
                Edit::Media {
                    media: OutTicks::ZERO,
                    duration: OutTicks::from_seconds(10.0)
                },
                Edit::Empty(OutTicks::from_seconds(10.0)),
                Edit::Media {
                    media: OutTicks::from_seconds(10.0),
                    duration: OutTicks::from_seconds(10.0)
                },
            ]
        );
        assert_eq!(secs(p.cameras[1].clip_at[1]), 25.0);
        // A's third clip is at its content's place (20 s), not its row's (19.6).
        assert_eq!(secs(p.cameras[0].clip_at[2]), 20.0);
        assert!(p.holes.is_empty(), "15-25 s: B has no footage, A has");
        let secs2 = |v: Vec<(OutTicks, OutTicks)>| -> Vec<(f64, f64)> {
            v.into_iter()
                .map(|(a, b)| (a.seconds(), b.seconds()))
                .collect()
        };
        assert_eq!(secs2(p.cameras[1].footage(&b)), [(5.0, 15.0), (25.0, 35.0)]);
        assert_eq!(secs(p.duration()), 35.0);
    }

    #[test]
    fn stretches_no_camera_covers_collapse_for_every_track() {
        let a = plan(1000.0, 2000.0, &[(1000.0, 10.0), (1100.0, 10.0)]);
        let b = plan(1000.0, 2000.0, &[(1002.0, 10.0), (1101.0, 5.0)]);
        let p = place(1000.0, 2000.0, &[&a, &b]);
        // Covered: 1000-1012, 1100-1110; the 88 s between is skipped.
        assert_eq!(p.holes.len(), 1);
        let h = p.holes[0];
        assert_eq!((h.from_s, h.to_s), (1012.0, 1100.0));
        assert_eq!(secs(h.at), 12.0);
        assert_eq!(secs(p.duration()), 22.0);
        // A: 10 s, 2 s empty, 10 s.
        assert_eq!(
            p.cameras[0].edits(&a)[1..],
            [
                Edit::Empty(OutTicks::from_seconds(2.0)),
                Edit::Media {
                    media: OutTicks::from_seconds(10.0),
                    duration: OutTicks::from_seconds(10.0)
                }
            ]
        );
        // B: 2 s empty, 10 s, 1 s empty (to wall 1101 = 13 s), 5 s.
        assert_eq!(
            p.cameras[1].edits(&b)[0],
            Edit::Empty(OutTicks::from_seconds(2.0))
        );
        assert_eq!(
            p.cameras[1].edits(&b)[2],
            Edit::Empty(OutTicks::from_seconds(1.0))
        );
        assert_eq!(secs(p.cameras[1].clip_at[1]), 13.0);
        // The shared timeline maps wall time as the tracks are placed.
        assert_eq!(secs(p.timeline.wall_to_output(1105.0)), 17.0);
        assert_eq!(secs(p.timeline.wall_to_output(1050.0)), 12.0);
    }

    #[test]
    fn every_track_edit_list_sums_to_where_its_media_ends() {
        // Edits never go back in time, whatever the rows say.
        let a = plan(
            1000.0,
            2000.0,
            &[
                (1000.0, 10.0),
                (1008.0, 10.0),
                (1030.0, 3.0),
                (1031.0, 10.0),
            ],
        );
        let b = plan(1000.0, 2000.0, &[(990.0, 12.0), (1040.0, 10.0)]);
        let p = place(1000.0, 2000.0, &[&a, &b]);
        for (cam, plan) in p.cameras.iter().zip([&a, &b]) {
            let edits = cam.edits(plan);
            let media: i64 = edits
                .iter()
                .map(|e| match e {
                    Edit::Media { duration, .. } => duration.0,
                    Edit::Empty(_) => 0,
                })
                .sum();
            assert_eq!(media, plan.duration().0, "all media shown once");
            let mut last = OutTicks::ZERO;
            for &at in &cam.clip_at {
                assert!(at >= last);
                last = at;
            }
            let total: i64 = edits
                .iter()
                .map(|e| match e {
                    Edit::Media { duration, .. } | Edit::Empty(duration) => duration.0,
                })
                .sum();
            assert!(total <= p.duration().0 + 1);
        }
    }
}
