//! The general writer: a libav packet loop from the clip plan into one MP4.
//!
//! For each clip the segment is opened (no probing), positioned at the
//! clip's first keyframe, and its packets are copied with timestamps rebased
//! onto the output timeline:
//!
//! ```text
//! out_ts = offset_of_clip + (ts - clip_origin)      (each in its stream's time base)
//! ```
//!
//! where `clip_origin` is the DTS of the clip's first video sample, mapped
//! into each stream's own time base. Every stream of a clip is rebased on the
//! same origin, and every clip's offset comes from the plan's integer 90 kHz
//! ticks, so audio and video cannot drift apart however many clips there are;
//! AAC priming packets (negative timestamps from the segment's edit list) and
//! audio that overruns the video end of a clip are dropped rather than
//! shifted, for the same reason. A change of frame rate or time base between
//! segments does not change playback speed: each clip is rescaled from its
//! own time base.
//!
//! Output: video in a 90 kHz track (HEVC tagged `hvc1`, which Apple players
//! require), audio at its sample rate, chapters and metadata set before the
//! header, `moov` placed before `mdat` by the muxer's faststart pass.

pub mod tracks;

use std::path::Path;

use ffmpeg_next as ffmpeg;
use ffmpeg_next::codec::Id;
use ffmpeg_next::{Dictionary, Packet, Rational};

use crate::error::{Error, Result};
use crate::media::params::InbandParams;
use crate::media::{ffi, rescale, ts_seconds};
use crate::plan::chapters::Chapter;
use crate::plan::{Plan, TB_90K};
use crate::probe::SegmentProbe;
use crate::progress::Reporter;

/// What to write.
pub struct RemuxJob<'a> {
    pub plan: &'a Plan,
    /// Probes indexed by `Clip::segment`.
    pub probes: &'a [&'a SegmentProbe],
    pub audio: bool,
    pub chapters: &'a [Chapter],
    /// Container metadata (`title`, `creation_time`, `comment`).
    pub metadata: &'a [(&'a str, String)],
}

/// What was written.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RemuxStats {
    pub video_packets: u64,
    pub audio_packets: u64,
    /// Audio packets dropped at clip boundaries (priming, overrun).
    pub audio_packets_trimmed: u64,
    /// End of the last video sample, seconds.
    pub video_duration_s: f64,
    /// End of the last audio sample, seconds.
    pub audio_duration_s: f64,
}

const OUT_VIDEO: usize = 0;
const OUT_AUDIO: usize = 1;

/// Writes `job` to `out_path` (which the caller owns; see `output`).
pub fn remux(
    job: &RemuxJob<'_>,
    out_path: &Path,
    reporter: &mut Reporter<'_>,
) -> Result<RemuxStats> {
    crate::media::init();
    let cancel = reporter.cancel_token().clone();
    let first_clip = job
        .plan
        .clips
        .first()
        .ok_or_else(|| Error::media("empty plan", ffmpeg::Error::InvalidData))?;
    let first = job.probes[first_clip.segment];

    let mut out = ffi::open_output(out_path, "mp4", &cancel)
        .map_err(|e| write_error(out_path, "cannot create output", e))?;
    let octx = &mut out.ctx;

    // Streams.
    {
        let mut vs = octx
            .add_stream(ffmpeg::encoder::find(Id::None))
            .map_err(|e| Error::media("add video stream", e))?;
        vs.set_parameters(first.video.parameters.clone());
        vs.set_time_base(TB_90K);
        let tag = if first.video.codec == Id::HEVC {
            *b"hvc1"
        } else {
            [0; 4]
        };
        ffi::set_codec_tag(&mut vs, tag);
    }
    let audio_src = if job.audio {
        first.audio.as_ref()
    } else {
        None
    };
    if let Some(a) = audio_src {
        let mut st = octx
            .add_stream(ffmpeg::encoder::find(Id::None))
            .map_err(|e| Error::media("add audio stream", e))?;
        st.set_parameters(a.parameters.clone());
        st.set_time_base(Rational(1, a.sample_rate.max(1) as i32));
        ffi::set_codec_tag(&mut st, [0; 4]);
    }

    // Metadata and chapters.
    let mut meta = Dictionary::new();
    for (k, v) in job.metadata {
        meta.set(k, v);
    }
    octx.set_metadata(meta);
    for (i, ch) in job.chapters.iter().enumerate() {
        octx.add_chapter(i as i64, TB_90K, ch.start_90k, ch.end_90k, &ch.title)
            .map_err(|e| Error::media("add chapter", e))?;
    }

    let mut opts = Dictionary::new();
    opts.set("movflags", "+faststart");
    octx.write_header_with(opts)
        .map_err(|e| write_error(out_path, "write header", e))?;
    let otb_v = stream_tb(octx, OUT_VIDEO)?;
    let otb_a = if audio_src.is_some() {
        stream_tb(octx, OUT_AUDIO)?
    } else {
        TB_90K
    };

    // When parameter sets change anywhere in the export, every keyframe
    // carries its own segment's sets in-band: a decoder that switched to a
    // later segment's sets must be switched back when the original returns.
    let params_change = job
        .plan
        .clips
        .iter()
        .any(|c| job.probes[c.segment].video.extradata != first.video.extradata);
    let total_90k = job.plan.duration_90k().max(1) as f64;
    let mut stats = RemuxStats::default();
    let mut last_dts = [i64::MIN, i64::MIN];
    let mut end_ts = [0i64, 0i64];

    for clip in &job.plan.clips {
        cancel.check()?;
        let probe = job.probes[clip.segment];
        let inband: Option<InbandParams> = if params_change {
            tracks::inband_params(probe).ok()
        } else {
            None
        };
        let mut input = ffi::open_input(&clip.path, &cancel)
            .map_err(|e| read_error(&clip.path, "open", e, &cancel))?;
        if clip.starts_mid_segment {
            ffi::seek_backward(&mut input, probe.video.index, clip.first_dts)
                .map_err(|e| read_error(&clip.path, "seek", e, &cancel))?;
        }
        let vin = probe.video.index;
        let tbv = probe.video.timing.time_base;
        let ain = audio_src.and(probe.audio.as_ref());
        let (a_first, a_end, tba) = match ain {
            Some(a) => (
                rescale(clip.first_dts, tbv, a.time_base),
                rescale(clip.end_dts, tbv, a.time_base),
                a.time_base,
            ),
            None => (0, 0, TB_90K),
        };
        let v_off = rescale(clip.offset_90k, TB_90K, otb_v);
        let a_off = rescale(clip.offset_90k, TB_90K, otb_a);
        let mut video_done = false;
        let mut audio_done = ain.is_none();

        while !(video_done && audio_done) {
            let mut pkt = Packet::empty();
            match pkt.read(&mut input.ctx) {
                Ok(()) => {}
                Err(ffmpeg::Error::Eof) => break,
                Err(e) => return Err(read_error(&clip.path, "read", e, &cancel)),
            }
            let si = pkt.stream();
            if si == vin && !video_done {
                let Some(dts) = pkt.dts().or(pkt.pts()) else {
                    continue;
                };
                if dts < clip.first_dts {
                    continue;
                }
                if dts >= clip.end_dts {
                    video_done = true;
                    continue;
                }
                let pts = pkt.pts().unwrap_or(dts);
                let mut out_dts = v_off + rescale(dts - clip.first_dts, tbv, otb_v);
                if out_dts <= last_dts[OUT_VIDEO] {
                    out_dts = last_dts[OUT_VIDEO] + 1;
                }
                let out_pts = (v_off + rescale(pts - clip.first_dts, tbv, otb_v)).max(out_dts);
                let dur = rescale(pkt.duration(), tbv, otb_v);
                let mut pkt = match (&inband, pkt.is_key()) {
                    (Some(p), true) => with_prefix(&pkt, &p.nals),
                    _ => pkt,
                };
                pkt.set_stream(OUT_VIDEO);
                pkt.set_dts(Some(out_dts));
                pkt.set_pts(Some(out_pts));
                pkt.set_duration(dur);
                pkt.set_position(-1);
                pkt.write_interleaved(octx)
                    .map_err(|e| write_error(out_path, "write video", e))?;
                last_dts[OUT_VIDEO] = out_dts;
                end_ts[OUT_VIDEO] = end_ts[OUT_VIDEO].max(out_pts + dur.max(0));
                stats.video_packets += 1;
                let done_90k = rescale(out_dts + dur, otb_v, TB_90K) as f64;
                reporter.update(done_90k / total_90k * 100.0)?;
            } else if ain.is_some_and(|a| a.index == si) && !audio_done {
                let Some(ts) = pkt.pts().or(pkt.dts()) else {
                    continue;
                };
                if ts >= a_end {
                    audio_done = true;
                    stats.audio_packets_trimmed += 1;
                    continue;
                }
                let dur = rescale(pkt.duration(), tba, otb_a);
                let out_ts = a_off + rescale(ts - a_first, tba, otb_a);
                if ts < a_first || out_ts <= last_dts[OUT_AUDIO] {
                    stats.audio_packets_trimmed += 1;
                    continue;
                }
                pkt.set_stream(OUT_AUDIO);
                pkt.set_dts(Some(out_ts));
                pkt.set_pts(Some(out_ts));
                pkt.set_duration(dur);
                pkt.set_position(-1);
                pkt.write_interleaved(octx)
                    .map_err(|e| write_error(out_path, "write audio", e))?;
                last_dts[OUT_AUDIO] = out_ts;
                end_ts[OUT_AUDIO] = out_ts + dur.max(0);
                stats.audio_packets += 1;
            }
        }
    }
    cancel.check()?;
    octx.write_trailer()
        .map_err(|e| write_error_or_cancel(out_path, "finish file", e, &cancel))?;
    stats.video_duration_s = ts_seconds(end_ts[OUT_VIDEO], otb_v);
    stats.audio_duration_s = ts_seconds(end_ts[OUT_AUDIO], otb_a);
    Ok(stats)
}

fn stream_tb(octx: &ffmpeg::format::context::Output, i: usize) -> Result<Rational> {
    octx.stream(i)
        .map(|s| s.time_base())
        .ok_or_else(|| Error::media("output stream missing after header", ffmpeg::Error::Bug))
}

/// A copy of `pkt` with `prefix` before its data, same timing and flags.
fn with_prefix(pkt: &Packet, prefix: &[u8]) -> Packet {
    let data = pkt.data().unwrap_or(&[]);
    let mut buf = Vec::with_capacity(prefix.len() + data.len());
    buf.extend_from_slice(prefix);
    buf.extend_from_slice(data);
    let mut p = Packet::copy(&buf);
    p.set_flags(pkt.flags());
    p.set_pts(pkt.pts());
    p.set_dts(pkt.dts());
    p.set_duration(pkt.duration());
    p.set_stream(pkt.stream());
    p
}

fn read_error(
    path: &Path,
    what: &str,
    e: ffmpeg::Error,
    cancel: &crate::progress::CancelToken,
) -> Error {
    if cancel.is_cancelled() || e == ffmpeg::Error::Exit {
        return Error::Cancelled;
    }
    Error::SegmentRead {
        path: path.to_path_buf(),
        message: format!("{what}: {e}"),
    }
}

fn write_error(path: &Path, what: &str, e: ffmpeg::Error) -> Error {
    match e {
        ffmpeg::Error::Exit => Error::Cancelled,
        ffmpeg::Error::Other { errno } if errno == libc::ENOSPC || errno == libc::EDQUOT => {
            let dir = path.parent().unwrap_or(Path::new("."));
            Error::DiskFull {
                path: dir.to_path_buf(),
                needed_bytes: 0,
                available_bytes: crate::output::available_bytes(dir).unwrap_or(0),
            }
        }
        e => Error::media(format!("{what} {}", path.display()), e),
    }
}

fn write_error_or_cancel(
    path: &Path,
    what: &str,
    e: ffmpeg::Error,
    cancel: &crate::progress::CancelToken,
) -> Error {
    if cancel.is_cancelled() {
        Error::Cancelled
    } else {
        write_error(path, what, e)
    }
}
