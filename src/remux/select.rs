//! The per-clip decisions both writers make, made once: which audio a clip
//! contributes, how its timestamps map ([`super::cut`]), which keyframes
//! need parameter sets in band ([`super::tracks::inband_needs`]), and the
//! count of audio samples trimmed at clip boundaries.
//!
//! The libav writer feeds it demuxed packets, the index-driven writer the
//! segments' sample tables; the answers are the same, so the two write the
//! same packets.

use ffmpeg_next::Rational;

use super::cut::{ClipMap, Cut, Timeline, AUDIO, VIDEO};
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
    /// Audio samples dropped at clip boundaries (priming, overrun).
    pub audio_trimmed: u64,
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
            audio_trimmed: 0,
        }
    }

    /// Clip `i` of the plan; call in plan order.
    pub fn clip(&self, i: usize) -> ClipSel<'a> {
        let clip = &self.job.plan.clips[i];
        let probe = self.job.probe(clip);
        let audio = self.audio.and(probe.audio.as_ref());
        ClipSel {
            clip,
            probe,
            audio,
            inband: self.needs.get(i).copied().unwrap_or(InbandNeed::None),
            map: ClipMap::new(clip, audio.map(|a| a.time_base), &self.timeline),
        }
    }

    /// A video sample of `c` (its segment's time base).
    pub fn video(&mut self, c: &ClipSel<'_>, dts: i64, pts: i64, duration: i64) -> Cut {
        c.map.video(dts, pts, duration, &mut self.timeline)
    }

    /// An audio sample of `c` (its segment's audio time base); counts trims.
    pub fn audio(&mut self, c: &ClipSel<'_>, ts: i64, duration: i64) -> Cut {
        let cut = c.map.audio(ts, duration, &mut self.timeline);
        if !matches!(cut, Cut::Keep(_)) {
            self.audio_trimmed += 1;
        }
        cut
    }

    /// Output end (seconds) of the video and audio tracks so far.
    pub fn ends_s(&self) -> [f64; 2] {
        let tl = &self.timeline;
        [VIDEO, AUDIO].map(|t| crate::time::seconds(tl.end[t], tl.tb[t]))
    }
}
