//! The wall-clock timestamp track (`--timestamps`): what the clock read at
//! every instant of the output, as subtitle cues.
//!
//! Gaps collapse in an export, so its timeline says nothing about wall
//! time; this track does. It is made from the same plan every writer cuts
//! by: within a clip, output time and wall time advance together, so a cue
//! starts at the clip's start (showing the second it falls in) and at every
//! whole wall-clock second after it; a new clip (after a collapsed gap, or a
//! camera restart) starts a new cue at once. Each cue lasts until the next
//! one, the last until the end of its clip. The text is the local time in
//! the export's zone with the zone's abbreviation (`2026-12-05 14:03:10
//! CET`), so a change to or from daylight saving time reads as such.
//!
//! Writers store the cues as a 3GPP timed-text track (`tx3g`, which libav
//! calls `mov_text`; the format is `remux::mp4`'s): the index-driven and HLS
//! writers lay the track out themselves, the libav writers hand libav one
//! packet per cue (`remux::clock`).

use super::Plan;
use crate::time::OutTicks;
use crate::timefmt::Zone;

/// How a cue's wall-clock time is written.
pub const FORMAT: &str = "%Y-%m-%d %H:%M:%S %Z";

/// One subtitle cue on the output timeline.
#[derive(Debug, Clone, PartialEq)]
pub struct Cue {
    pub start: OutTicks,
    pub end: OutTicks,
    /// The wall-clock second shown (unix seconds).
    pub wall_s: i64,
    pub text: String,
}

/// The cues of `plan`, in `zone`.
pub fn cues(plan: &Plan, zone: Zone) -> Vec<Cue> {
    let mut out: Vec<Cue> = Vec::new();
    for c in &plan.clips {
        let w0 = c.wall_start_s;
        if !w0.is_finite() || c.duration <= OutTicks::ZERO {
            continue;
        }
        let end = c.end();
        let mut second = w0.floor() as i64;
        let mut start = c.offset;
        while start < end {
            let next = second + 1;
            let next_at = (c.offset + OutTicks::from_seconds(next as f64 - w0)).min(end);
            if next_at > start {
                out.push(Cue {
                    start,
                    end: next_at,
                    wall_s: second,
                    text: zone.format(second as f64, FORMAT),
                });
            }
            start = next_at;
            second = next;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::Clip;

    fn clip_at(wall_start_s: f64, offset_s: f64, duration_s: f64) -> Clip {
        Clip {
            segment: 0,
            segment_id: String::new(),
            time_base: ffmpeg_next::Rational(1, 90_000),
            first_dts: 0,
            end_dts: 0,
            origin_pts: 0,
            end_pts: 0,
            wall_start_s,
            wall_end_s: wall_start_s + duration_s,
            offset: OutTicks::from_seconds(offset_s),
            duration: OutTicks::from_seconds(duration_s),
            starts_mid_segment: false,
            cut_at_end: false,
            exact: false,
            lift: None,
        }
    }

    #[test]
    fn cues_tick_on_wall_seconds_and_restart_after_a_gap() {
        // Two clips: 10.4 s from wall 100.6, then (after a 50 s gap) 2 s from 161.0.
        let plan = Plan {
            start_s: 100.0,
            end_s: 200.0,
            clips: vec![clip_at(100.6, 0.0, 10.4), clip_at(161.0, 10.4, 2.0)],
        };
        let cues = cues(&plan, Zone::Utc);
        let walls: Vec<i64> = cues.iter().map(|c| c.wall_s).collect();
        assert_eq!(
            walls,
            [100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 161, 162]
        );
        assert_eq!(cues[0].start, OutTicks::ZERO);
        assert_eq!(cues[1].start, OutTicks::from_seconds(0.4));
        assert_eq!(cues[10].end, OutTicks::from_seconds(10.4));
        assert_eq!(cues[11].start, OutTicks::from_seconds(10.4));
        assert_eq!(cues.last().unwrap().end, OutTicks::from_seconds(12.4));
        for w in cues.windows(2) {
            assert_eq!(w[0].end, w[1].start);
        }
        assert_eq!(cues[0].text, "1970-01-01 00:01:40 UTC");
    }

    #[test]
    fn the_zone_abbreviation_follows_daylight_saving() {
        // Europe/Berlin leaves summer time at 2026-10-25 01:00:00 UTC.
        let change = 1_792_890_000.0;
        let plan = Plan {
            start_s: change - 1.0,
            end_s: change + 1.0,
            clips: vec![clip_at(change - 1.0, 0.0, 2.0)],
        };
        let zone = Zone::parse(Some("Europe/Berlin")).unwrap();
        let texts: Vec<String> = cues(&plan, zone).into_iter().map(|c| c.text).collect();
        assert_eq!(
            texts,
            ["2026-10-25 02:59:59 CEST", "2026-10-25 02:00:00 CET"]
        );
    }
}
