//! Which output tracks an export can have, decided from the segments'
//! headers before any byte is written.
//!
//! * Video: one track in the codec of the first readable segment. A segment
//!   in another codec cannot share the track and is skipped (named in the
//!   result). A segment whose parameter sets differ from the first one's
//!   keeps its own, sent in-band on its keyframes (see `media::params`); if
//!   its `avcC`/`hvcC` cannot be expressed that way it is skipped.
//! * Audio: kept only when every clip carries audio with the same codec,
//!   sample rate and channel count; otherwise dropped with a warning (one
//!   MP4 track has one sample rate, and a track that went silent for some
//!   clips would drift against the video).

use ffmpeg_next::codec::Id;

use crate::error::SkippedSegment;
use crate::media::params::{self, InbandParams};
use crate::probe::{SegmentProbe, VideoStream};

/// Drops segments that cannot share the first segment's video track.
/// Returns the indexes kept and the ones skipped with their reason.
pub fn compatible_video(probes: &[&SegmentProbe]) -> (Vec<usize>, Vec<SkippedSegment>) {
    let mut keep = Vec::new();
    let mut skipped = Vec::new();
    let Some(first) = probes.first() else {
        return (keep, skipped);
    };
    for (i, p) in probes.iter().enumerate() {
        let reason = if p.video.codec != first.video.codec {
            Some(format!(
                "video codec {:?} differs from {:?} of the first segment; one MP4 track holds one codec",
                p.video.codec, first.video.codec
            ))
        } else if p.video.extradata != first.video.extradata {
            match inband_params(p) {
                Ok(_) => None,
                Err(e) => Some(format!(
                    "codec parameters change and cannot be carried in-band ({e:?})"
                )),
            }
        } else {
            None
        };
        match reason {
            Some(reason) => skipped.push(SkippedSegment {
                path: p.path.clone(),
                reason,
            }),
            None => keep.push(i),
        }
    }
    (keep, skipped)
}

/// In-band parameter sets of a segment's video (H.264 / HEVC only).
pub fn inband_params(p: &SegmentProbe) -> Result<InbandParams, params::ParamsError> {
    match p.video.codec {
        Id::H264 => params::h264_inband(&p.video.extradata),
        Id::HEVC => params::hevc_inband(&p.video.extradata),
        _ => Err(params::ParamsError::Unrecognised),
    }
}

/// Whether an export has an audio track.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AudioTrack {
    /// Every clip has compatible audio: kept.
    Keep,
    /// No clip has audio.
    None,
    /// Some clips have audio that cannot share one track: dropped, for this reason.
    Dropped(String),
}

/// Whether audio can be kept for these clips' segments.
pub fn audio_track(probes: &[&SegmentProbe]) -> AudioTrack {
    let Some(first) = probes.first() else {
        return AudioTrack::None;
    };
    let Some(fa) = &first.audio else {
        if probes.iter().any(|p| p.audio.is_some()) {
            return AudioTrack::Dropped("some recordings in the range have no audio track".into());
        }
        return AudioTrack::None;
    };
    for p in probes {
        match &p.audio {
            None => {
                return AudioTrack::Dropped(format!(
                    "{} has no audio track while others do",
                    p.path.display()
                ))
            }
            Some(a)
                if a.codec != fa.codec
                    || a.sample_rate != fa.sample_rate
                    || a.channels != fa.channels =>
            {
                return AudioTrack::Dropped(format!(
                    "{} has {:?} {} Hz {} ch, the first recording {:?} {} Hz {} ch",
                    p.path.display(),
                    a.codec,
                    a.sample_rate,
                    a.channels,
                    fa.codec,
                    fa.sample_rate,
                    fa.channels
                ))
            }
            Some(_) => {}
        }
    }
    AudioTrack::Keep
}

/// Where a clip's keyframes need parameter sets in band.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InbandNeed {
    /// The clip was recorded with the sample entry's sets: nothing to add.
    None,
    /// The clip returns to the sample entry's sets after a clip with other
    /// sets: its first keyframe must re-send them (the decoder has the other
    /// ones active).
    FirstKeyframe,
    /// The clip was recorded with other sets than the sample entry's: every
    /// keyframe must carry them (so that seeking into it decodes).
    EveryKeyframe,
}

/// The in-band parameter-set need of each clip of `clip_probes` (in plan
/// order; the first clip's sets are the sample entry's). Both writers follow
/// it: the libav writer prepends the sets where a keyframe lacks them, the
/// index-driven writer (which copies bytes as they are) takes the job only
/// if every such keyframe already carries them, as cameras send them.
pub fn inband_needs(clip_probes: &[&SegmentProbe]) -> Vec<InbandNeed> {
    let Some(first) = clip_probes.first() else {
        return Vec::new();
    };
    let mut active: &[u8] = &first.video.extradata;
    clip_probes
        .iter()
        .map(|p| {
            let own = &p.video.extradata[..];
            let need = if own != &first.video.extradata[..] {
                InbandNeed::EveryKeyframe
            } else if own != active {
                InbandNeed::FirstKeyframe
            } else {
                InbandNeed::None
            };
            active = own;
            need
        })
        .collect()
}

/// The sample entry type of an HEVC video track and, for `hvc1`, its
/// `hvcC` with the completeness flags set: `hvc1` (which Apple players
/// require) only when the record holds complete VPS/SPS/PPS arrays, else
/// `hev1` (sets in band) and the record as it is. `None` for other codecs.
pub fn hevc_entry(v: &VideoStream) -> Option<([u8; 4], Option<Vec<u8>>)> {
    if v.codec != Id::HEVC {
        return None;
    }
    Some(match params::hvcc_complete(&v.extradata) {
        Some(complete) => (*b"hvc1", Some(complete)),
        None => (*b"hev1", None),
    })
}
