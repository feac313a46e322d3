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
//! Audio keeps its own cadence across clip boundaries: every packet lands
//! where its timestamp maps, and none is dropped that the file could hold.
//! What NVR segments do at their boundaries (measured on stores recorded
//! with the NVR's command lines):
//!
//! * a segment's first audio packet may sit a hair before its first video
//!   frame (pts -0.00001 s), and the previous segment's audio may end tens
//!   of milliseconds before its video did: that packet has room, and is kept;
//! * when the camera's audio clock stalls, the recorder's muxer squeezes the
//!   last packets of a segment into a millisecond or two (5 packets at
//!   9.999-10.002 s), and the next segment's audio starts late by the time
//!   they took: they are laid end to end by their durations, as long as they
//!   end before the next clip's first audio (half a packet of slack);
//! * a segment's audio may end a packet after its video does.
//!
//! So within the export, a packet is dropped only when it overlaps audio
//! already kept by more than half a packet (the head of a clip), or would
//! overlap the next clip's first audio by more than half a packet (its
//! tail). At the export's two ends, audio before the first video frame
//! and after the last is dropped, except that the first packet may straddle
//! the start (kept at a negative time that the edit list trims, so audio
//! starts with the video). Every drop is counted by its reason
//! ([`AudioDrops`]).

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
    /// Skip it: before the clip's window, or (audio) overlapping audio kept.
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
    /// Where the clip's audio may reach (see [`AudioBounds`]).
    bounds: AudioBounds,
    /// Exact cuts: the clip's end in the output video time base (the last
    /// frame is shortened to it).
    v_end: Option<i64>,
    lift: Option<crate::plan::Lift>,
}

impl ClipMap {
    /// `audio_in_tb`: the segment's audio time base, when audio is kept.
    pub fn new(
        clip: &Clip,
        audio_in_tb: Option<Rational>,
        bounds: AudioBounds,
        tl: &Timeline,
    ) -> ClipMap {
        let tba = audio_in_tb.unwrap_or(OutTicks::BASE);
        ClipMap {
            bounds,
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

    /// Where an audio sample of this clip (input timestamp in the
    /// segment's audio time base) maps in the output audio time base.
    pub fn audio_out(&self, ts: i64, otb: Rational) -> i64 {
        self.a_off + rescale(ts - self.a_first, self.tba, otb)
    }

    /// Whether an audio sample at `ts` lies before the clip's first frame,
    /// where this clip may not reach (the export's first clip).
    pub fn audio_before_start(&self, ts: i64) -> bool {
        !self.bounds.head_free && ts < self.a_first
    }

    /// Whether an audio sample at `ts` lies past the clip's last frame,
    /// where this clip may not reach (the export's last clip, or one cut
    /// short).
    pub fn audio_after_end(&self, ts: i64) -> bool {
        self.bounds.next_audio_out.is_none() && ts >= self.a_end
    }

    /// An audio sample (input timestamp and duration in the segment's audio
    /// time base); see the module doc for the rule.
    pub fn audio(&self, ts: i64, duration: i64, tl: &mut Timeline) -> Cut {
        if self.audio_after_end(ts) {
            return Cut::After;
        }
        let otb = tl.tb[AUDIO];
        let out = self.audio_out(ts, otb);
        let dur = rescale(duration, self.tba, otb);
        let first_of_export = tl.last_dts[AUDIO] == i64::MIN;
        if self.audio_before_start(ts) {
            let straddles = ts + duration > self.a_first;
            if !(first_of_export && straddles) {
                return Cut::Drop;
            }
        }
        let place = if first_of_export || out >= tl.end[AUDIO] - dur / 2 {
            // Its own place (a slight overlap with the previous packet,
            // under half a packet, only shortens that one's delta).
            out
        } else if ts >= self.a_first {
            // Squeezed: laid end to end after the previous packet.
            tl.end[AUDIO]
        } else {
            // The clip's head overlaps audio already kept.
            return Cut::Drop;
        };
        let place = if first_of_export {
            place
        } else {
            place.max(tl.last_dts[AUDIO] + 1)
        };
        if let Some(next) = self.bounds.next_audio_out {
            if place + dur > next + dur / 2 {
                // Would overlap the next clip's first audio.
                return Cut::Drop;
            }
        }
        tl.last_dts[AUDIO] = place;
        tl.end[AUDIO] = place + dur.max(0);
        Cut::Keep(Stamp {
            dts: place,
            pts: place,
            duration: dur,
        })
    }
}

/// How far one clip's audio may reach beyond its video.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AudioBounds {
    /// Audio before the clip's first frame may be kept (a clip that
    /// follows another from its segment's start): it continues the
    /// previous clip's audio.
    pub head_free: bool,
    /// Where the next clip's first audio lands (output audio time base):
    /// audio past the clip's last frame may be kept up to there. `None`:
    /// nothing past the last frame (the export's last clip, or one cut
    /// short by the range).
    pub next_audio_out: Option<i64>,
}

/// Audio packets of the export's segments left out, by reason.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AudioDrops {
    /// Before the export's first video frame.
    pub before_start: u64,
    /// After the export's last video frame.
    pub after_end: u64,
    /// Overlapping audio already kept, or the next clip's, by more than
    /// half a packet.
    pub overlap: u64,
}

impl AudioDrops {
    pub fn total(&self) -> u64 {
        self.before_start + self.after_end + self.overlap
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const V_TB: Rational = Rational(1, 90_000);
    const A_TB: Rational = Rational(1, 16_000);
    /// An AAC packet at 16 kHz: 1024 samples, 64 ms.
    const PKT: i64 = 1024;

    /// A clip of 10 s of video (its segment's own time base 1/90000),
    /// placed at `offset_s` in the output.
    fn clip(offset_s: f64) -> Clip {
        Clip {
            segment: 0,
            segment_id: "s".into(),
            time_base: V_TB,
            first_dts: 0,
            end_dts: 900_000,
            origin_pts: 0,
            end_pts: 900_000,
            wall_start_s: 0.0,
            wall_end_s: 10.0,
            offset: OutTicks((offset_s * 90_000.0).round() as i64),
            duration: OutTicks(900_000),
            starts_mid_segment: false,
            cut_at_end: false,
            exact: false,
            lift: None,
        }
    }

    /// Runs `packets` (input timestamps, 16 kHz) of clips placed 10 s apart
    /// through their maps; the kept output times, per clip.
    fn run(clips: &[Vec<i64>]) -> Vec<Vec<Option<i64>>> {
        let mut tl = Timeline::new(V_TB, A_TB);
        let maps: Vec<ClipMap> = (0..clips.len())
            .map(|i| {
                let next = clips.get(i + 1).and_then(|p| p.first()).map(|&ts| {
                    // the next clip's map, head free, at its offset
                    let m = ClipMap::new(
                        &clip(10.0 * (i + 1) as f64),
                        Some(A_TB),
                        AudioBounds {
                            head_free: true,
                            next_audio_out: None,
                        },
                        &tl,
                    );
                    m.audio_out(ts, A_TB)
                });
                let bounds = AudioBounds {
                    head_free: i > 0,
                    next_audio_out: next,
                };
                ClipMap::new(&clip(10.0 * i as f64), Some(A_TB), bounds, &tl)
            })
            .collect();
        let mut out = Vec::new();
        for (m, packets) in maps.iter().zip(clips) {
            let mut kept = Vec::new();
            for &ts in packets {
                kept.push(match m.audio(ts, PKT, &mut tl) {
                    Cut::Keep(s) => Some(s.dts),
                    _ => None,
                });
            }
            out.push(kept);
        }
        out
    }

    /// `n` contiguous packets from `from`.
    fn steady(from: i64, n: i64) -> Vec<i64> {
        (0..n).map(|i| from + i * PKT).collect()
    }

    #[test]
    fn a_packet_a_hair_before_the_next_video_is_kept_where_it_maps() {
        // Clip 0's audio ends 63 ms before its video; clip 1's first
        // packet sits 10 µs before its first frame.
        let first = steady(0, 155); // ends at 155 * 64 ms = 9.92 s
        let second = steady(-1, 10);
        let out = run(&[first, second]);
        assert!(out[0].iter().all(Option::is_some));
        assert_eq!(out[1][0], Some(160_000 - 1), "kept at its own time");
        assert!(out[1].iter().all(Option::is_some));
    }

    #[test]
    fn squeezed_packets_are_laid_end_to_end_where_there_is_room() {
        // 150 steady packets (to 9.6 s), then 5 squeezed at 9.999-10.003 s;
        // the next clip's audio starts 0.328 s after its video.
        let mut first = steady(0, 150);
        first.extend((0..5).map(|i| 159_984 + 16 * i));
        let second = steady(5248, 10);
        let out = run(&[first, second]);
        let tail: Vec<i64> = out[0][150..].iter().map(|k| k.expect("kept")).collect();
        assert_eq!(tail[0], 159_984, "the first where it maps");
        for w in tail.windows(2) {
            assert_eq!(w[1] - w[0], PKT, "end to end: {tail:?}");
        }
        assert!(out[1].iter().all(Option::is_some));
        assert_eq!(out[1][0], Some(160_000 + 5248));
    }

    #[test]
    fn a_packet_past_the_video_end_is_kept_when_the_next_audio_starts_later() {
        // Clip 0's last packet ends 31 ms after its video; clip 1's audio
        // starts 40 ms after its video.
        let first = steady(0, 157); // the last at 9.984 s, ending 10.048 s
        let second = steady(640, 5);
        let out = run(&[first, second]);
        assert!(out[0].iter().all(Option::is_some), "{:?}", &out[0][150..]);
        // The last clip of an export ends with its video: a packet that
        // starts after it is not kept.
        let alone = run(&[steady(0, 158)]);
        assert_eq!(alone[0][156], Some(156 * PKT));
        assert_eq!(alone[0][157], None);
    }

    #[test]
    fn a_true_overlap_of_more_than_half_a_packet_is_dropped() {
        // Clip 1 repeats the last 0.2 s of clip 0's audio (its audio starts
        // 0.2 s before its video): clip 0's tail past clip 1's first audio
        // plus half a packet goes, the rest stays.
        let first = steady(0, 157);
        let second = steady(-3200, 10);
        let out = run(&[first, second]);
        let dropped_tail = out[0].iter().filter(|k| k.is_none()).count();
        // Clip 1's first audio maps to 9.8 s: packets ending after 9.832 s
        // overlap it by more than half a packet.
        assert_eq!(dropped_tail, 4, "{:?}", &out[0][150..]);
        assert!(out[1].iter().all(Option::is_some));
    }

    #[test]
    fn the_export_starts_with_its_video() {
        // Audio from 0.1 s before the first frame: the packet straddling
        // the start is kept, the one entirely before it is not.
        let out = run(&[steady(-1600, 5)]);
        assert_eq!(out[0][0], None);
        assert_eq!(out[0][1], Some(-576));
    }
}
