//! The general writer: a libav packet loop from the clip plan into one MP4.
//!
//! For each clip the segment is opened (no probing), positioned at the
//! clip's first keyframe, and its packets are copied with timestamps mapped
//! by [`super::cut`]. A change of frame rate or time base between segments
//! does not change playback speed: each clip is rescaled from its own time
//! base. Where parameter sets change (a clip recorded with other sets than
//! the first one's, which the sample entry holds), that clip's keyframes
//! carry its own sets in band, unless the camera already sent them there;
//! the first keyframe after such a clip gets the sample entry's sets back
//! (see `media::params`).
//!
//! Output: video in a 90 kHz track (HEVC tagged `hvc1`, which Apple players
//! require, when the `hvcC` holds complete VPS/SPS/PPS arrays; else `hev1`),
//! audio at its sample rate, chapters and metadata set before the
//! header, `moov` placed before `mdat` by the muxer's faststart pass.

use std::path::Path;

use ffmpeg_next as ffmpeg;
use ffmpeg_next::codec::Id;
use ffmpeg_next::{Dictionary, Packet};

use super::cut::{self, ClipMap, Cut, Timeline, AUDIO, VIDEO};
use super::tracks::{self, InbandNeed};
use super::{read_error, RemuxJob, RemuxStats};
use crate::error::{Error, Result};
use crate::media::params::{self, InbandParams};
use crate::media::{ffi, rescale, ts_seconds};
use crate::plan::TB_90K;
use crate::probe::SampleTable;
use crate::progress::{CancelToken, Reporter};
use crate::source::Locator;

/// Writes `job` to `out_path` through libav's muxer.
pub fn write(
    job: &RemuxJob<'_>,
    out_path: &Path,
    reporter: &mut Reporter<'_>,
) -> Result<RemuxStats> {
    crate::media::init();
    let cancel = reporter.cancel_token().clone();
    let first = job.first();

    let mut out = ffi::open_output(out_path, "mp4", &cancel)
        .map_err(|e| write_error(out_path, "cannot create output", e, &cancel))?;
    let octx = &mut out.ctx;

    {
        let mut vs = octx
            .add_stream(ffmpeg::encoder::find(Id::None))
            .map_err(|e| Error::media("add video stream", e))?;
        let mut par = first.video.parameters.clone();
        let mut tag = [0; 4];
        if first.video.codec == Id::HEVC {
            // libav writes an hvcC-formatted extradata verbatim: set the
            // completeness flags ourselves, or stay hev1.
            tag = *b"hev1";
            if let Some(complete) = params::hvcc_complete(&first.video.extradata) {
                ffi::set_extradata(&mut par, &complete).map_err(|e| Error::media("set hvcC", e))?;
                tag = *b"hvc1";
            }
        }
        vs.set_parameters(par);
        vs.set_time_base(cut::VIDEO_TB);
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
        st.set_time_base(cut::audio_tb(a.sample_rate));
        ffi::set_codec_tag(&mut st, [0; 4]);
    }

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
        .map_err(|e| write_error(out_path, "write header", e, &cancel))?;
    let tb = |i: usize| {
        octx.stream(i)
            .map(|s| s.time_base())
            .ok_or_else(|| Error::media("output stream missing after header", ffmpeg::Error::Bug))
    };
    let otb_a = if audio_src.is_some() {
        tb(AUDIO)?
    } else {
        TB_90K
    };
    let mut tl = Timeline::new(tb(VIDEO)?, otb_a);

    let hevc = first.video.codec == Id::HEVC;
    let clip_probes = job.clip_probes();
    let needs = tracks::inband_needs(&clip_probes);
    let total_90k = job.plan.duration_90k().max(1) as f64;
    let mut stats = RemuxStats {
        writer: "libav",
        ..RemuxStats::default()
    };

    for (clip, need) in job.plan.clips.iter().zip(needs) {
        cancel.check()?;
        let probe = job.probe(clip);
        let every_key = need == InbandNeed::EveryKeyframe;
        let inband: Option<InbandParams> = match need {
            InbandNeed::None => None,
            _ => tracks::inband_params(probe).ok(),
        };
        let mut sent_once = false;
        let Locator::File(path) = job.locator(clip);
        let mut input =
            ffi::open_input(path, &cancel).map_err(|e| read_error(path, "open", e, &cancel))?;
        if clip.starts_mid_segment {
            ffi::seek_backward(&mut input, probe.video.index, clip.first_dts)
                .map_err(|e| read_error(path, "seek", e, &cancel))?;
        }
        let ain = audio_src.and(probe.audio.as_ref());
        let map = ClipMap::new(clip, ain.map(|a| a.time_base), &tl);
        let mut video_done = false;
        let mut audio_done = ain.is_none();

        while !(video_done && audio_done) {
            let mut pkt = Packet::empty();
            match pkt.read(&mut input.ctx) {
                Ok(()) => {}
                Err(ffmpeg::Error::Eof) => break,
                Err(e) => return Err(read_error(path, "read", e, &cancel)),
            }
            let si = pkt.stream();
            if si == probe.video.index && !video_done {
                let Some(dts) = pkt.dts().or(pkt.pts()) else {
                    continue;
                };
                let pts = pkt.pts().unwrap_or(dts);
                let dur = index_duration(&probe.video.timing.samples, dts, pkt.duration());
                let stamp = match map.video(dts, pts, dur, &mut tl) {
                    Cut::Drop => continue,
                    Cut::After => {
                        video_done = true;
                        continue;
                    }
                    Cut::Keep(s) => s,
                };
                let prefix = match &inband {
                    Some(p)
                        if pkt.is_key()
                            && (every_key || !sent_once)
                            && !params::carries_parameter_sets(hevc, pkt.data().unwrap_or(&[])) =>
                    {
                        sent_once = true;
                        Some(&p.nals)
                    }
                    _ => None,
                };
                if pkt.is_key() {
                    sent_once = true;
                }
                let mut pkt = match prefix {
                    Some(nals) => with_prefix(&pkt, nals),
                    None => pkt,
                };
                write_packet(&mut pkt, VIDEO, stamp, octx, out_path, &cancel)?;
                if stats.first_sample_at.is_none() {
                    stats.first_sample_at = Some(std::time::Instant::now());
                }
                stats.video_packets += 1;
                let done_90k = rescale(stamp.dts + stamp.duration, tl.tb[VIDEO], TB_90K) as f64;
                reporter.update(done_90k / total_90k * 100.0)?;
            } else if ain.is_some_and(|a| a.index == si) && !audio_done {
                let Some(ts) = pkt.pts().or(pkt.dts()) else {
                    continue;
                };
                let dur = ain.map_or(pkt.duration(), |a| {
                    index_duration(&a.samples, ts, pkt.duration())
                });
                match map.audio(ts, dur, &mut tl) {
                    Cut::Drop => stats.audio_packets_trimmed += 1,
                    Cut::After => {
                        audio_done = true;
                        stats.audio_packets_trimmed += 1;
                    }
                    Cut::Keep(stamp) => {
                        write_packet(&mut pkt, AUDIO, stamp, octx, out_path, &cancel)?;
                        stats.audio_packets += 1;
                    }
                }
            }
        }
    }
    cancel.check()?;
    octx.write_trailer()
        .map_err(|e| write_error(out_path, "finish file", e, &cancel))?;
    stats.video_duration_s = ts_seconds(tl.end[VIDEO], tl.tb[VIDEO]);
    stats.audio_duration_s = ts_seconds(tl.end[AUDIO], tl.tb[AUDIO]);
    stats.bytes_written = std::fs::metadata(out_path).map(|m| m.len()).unwrap_or(0);
    Ok(stats)
}

/// The duration the probe gave the sample at `dts` (its decode delta, the
/// last one its `stts` delta), so both writers time samples alike; libav's
/// own packet duration for a segment's last sample is "stream end minus
/// DTS", which with B-frames adds the reorder delay.
fn index_duration(samples: &SampleTable, dts: i64, fallback: i64) -> i64 {
    samples.find_dts(dts).map_or(fallback, |s| s.duration)
}

fn write_packet(
    pkt: &mut Packet,
    stream: usize,
    s: cut::Stamp,
    octx: &mut ffmpeg::format::context::Output,
    out_path: &Path,
    cancel: &CancelToken,
) -> Result<()> {
    pkt.set_stream(stream);
    pkt.set_dts(Some(s.dts));
    pkt.set_pts(Some(s.pts));
    pkt.set_duration(s.duration);
    pkt.set_position(-1);
    pkt.write_interleaved(octx)
        .map_err(|e| write_error(out_path, "write packet", e, cancel))
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

fn write_error(path: &Path, what: &str, e: ffmpeg::Error, cancel: &CancelToken) -> Error {
    if cancel.is_cancelled() {
        return Error::Cancelled;
    }
    match e {
        ffmpeg::Error::Exit => Error::Cancelled,
        ffmpeg::Error::Other { errno } if crate::output::is_disk_full(errno) => {
            crate::output::disk_full_at(path)
        }
        e => Error::media(format!("{what} {}", path.display()), e),
    }
}
