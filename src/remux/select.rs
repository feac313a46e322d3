//! The per-clip decisions both writers make, made once: which audio a clip
//! contributes and how far it may reach ([`AudioBounds`]), how its
//! timestamps map ([`super::cut`]), which keyframes need parameter sets in
//! band ([`super::tracks::inband_needs`]), and the audio packets left out,
//! by reason ([`AudioDrops`]).
//!
//! The libav writer feeds it demuxed packets, the index-driven writer the
//! segments' sample tables; the answers are the same, so the two write the
//! same packets.

use ffmpeg_next::Rational;

use super::cut::{AudioBounds, AudioDrops, ClipMap, Cut, Timeline, AUDIO, VIDEO};
use super::job::RemuxJob;
use super::tracks::{self, InbandNeed};
use crate::plan::Clip;
use crate::probe::{AudioStream, SegmentProbe};

/// One clip, ready to select samples from.
pub struct ClipSel<'a> {
    pub clip: &'a Clip,
    pub probe: &'a SegmentProbe,
    /// The clip's audio, when the export keeps audio.
    pub audio: Option<&'a AudioStream>,
    pub inband: InbandNeed,
    map: ClipMap,
}

/// Selection state across the clips of one export.
pub struct Selection<'a> {
    job: &'a RemuxJob<'a>,
    /// The audio stream whose parameters the output's audio track takes
    /// (the first clip's), when audio is kept.
    pub audio: Option<&'a AudioStream>,
    needs: Vec<InbandNeed>,
    pub timeline: Timeline,
    /// Audio packets of the clips' segments left out, by reason.
    pub audio_dropped: AudioDrops,
}

impl<'a> Selection<'a> {
    /// `tbs`: the output time bases of the video and audio tracks.
    pub fn new(job: &'a RemuxJob<'a>, tbs: [Rational; 2]) -> Selection<'a> {
        Selection {
            job,
            audio: if job.audio {
                job.first().audio.as_ref()
            } else {
                None
            },
            needs: tracks::inband_needs(&job.clip_probes()),
            timeline: Timeline::new(tbs[VIDEO], tbs[AUDIO]),
            audio_dropped: AudioDrops::default(),
        }
    }

    /// Clip `i` of the plan; call in plan order, once each.
    pub fn clip(&mut self, i: usize) -> ClipSel<'a> {
        let clips = &self.job.plan.clips;
        let clip = &clips[i];
        let probe = self.job.probe(clip);
        let audio = self.audio.and(probe.audio.as_ref());
        let bounds = AudioBounds {
            head_free: i > 0 && !clip.starts_mid_segment,
            next_audio_out: match clips.get(i + 1) {
                Some(next) if !clip.cut_at_end => self.next_audio_out(next),
                _ => None,
            },
        };
        let map = ClipMap::new(clip, audio.map(|a| a.time_base), bounds, &self.timeline);
        // What the clip's audio cannot hold at the export's two ends,
        // counted from the table (a writer that seeks never sees it).
        let bounded = !bounds.head_free || bounds.next_audio_out.is_none();
        if let (Some(a), true) = (audio, bounded) {
            for s in a.samples.iter() {
                if map.audio_after_end(s.dts) {
                    self.audio_dropped.after_end += 1;
                } else if map.audio_before_start(s.dts) {
                    self.audio_dropped.before_start += 1;
                }
            }
        }
        ClipSel {
            clip,
            probe,
            audio,
            inband: self.needs.get(i).copied().unwrap_or(InbandNeed::None),
            map,
        }
    }

    /// Where the first audio of clip `next` lands in the output (its
    /// segment's first audio packet; for a clip that starts mid-segment,
    /// its first at or after the clip's first frame), when it has audio.
    fn next_audio_out(&self, next: &Clip) -> Option<i64> {
        let audio = self.audio.and(self.job.probe(next).audio.as_ref())?;
        let bounds = AudioBounds {
            head_free: !next.starts_mid_segment,
            next_audio_out: None,
        };
        let map = ClipMap::new(next, Some(audio.time_base), bounds, &self.timeline);
        let first = audio
            .samples
            .iter()
            .find(|s| !map.audio_before_start(s.dts))?;
        Some(map.audio_out(first.dts, self.timeline.tb[AUDIO]))
    }

    /// A video sample of `c` (its segment's time base).
    pub fn video(&mut self, c: &ClipSel<'_>, dts: i64, pts: i64, duration: i64) -> Cut {
        c.map.video(dts, pts, duration, &mut self.timeline)
    }

    /// An audio sample of `c` (its segment's audio time base); counts
    /// overlaps (the ends were counted by [`Selection::clip`]).
    pub fn audio(&mut self, c: &ClipSel<'_>, ts: i64, duration: i64) -> Cut {
        let cut = c.map.audio(ts, duration, &mut self.timeline);
        let at_an_end = || c.map.audio_before_start(ts) || c.map.audio_after_end(ts);
        match cut {
            Cut::Drop if !at_an_end() => self.audio_dropped.overlap += 1,
            // The export's first packet, straddling its start: counted
            // as before the start by `clip`, and kept.
            Cut::Keep(_) if c.map.audio_before_start(ts) => {
                self.audio_dropped.before_start = self.audio_dropped.before_start.saturating_sub(1)
            }
            _ => {}
        }
        cut
    }

    /// Output end (seconds) of the video and audio tracks so far.
    pub fn ends_s(&self) -> [f64; 2] {
        let tl = &self.timeline;
        [VIDEO, AUDIO].map(|t| crate::time::seconds(tl.end[t], tl.tb[t]))
    }
}
