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
use ffmpeg_next::Packet;

use super::clock;
use super::cut::{self, Cut, AUDIO, VIDEO};
use super::fail::{Failure, Failures};
use super::job::{RemuxJob, RemuxStats, WriterKind};
use super::select::Selection;
use super::tracks::{self, InbandNeed};
use crate::error::Result;
use crate::media::ffi;
use crate::media::mux::{self, StreamSpec};
use crate::media::params;
use crate::plan::chapters::Chapter;
use crate::probe::SampleTable;
use crate::progress::Reporter;
use crate::source::Locator;
use crate::time::{OutTicks, Ts};

/// Writes `job` to `out_path` through libav's muxer.
pub fn write(
    job: &RemuxJob<'_>,
    out_path: &Path,
    reporter: &mut Reporter<'_>,
) -> Result<RemuxStats> {
    crate::media::init();
    let cancel = reporter.cancel_token().clone();
    let first = job.first();
    let fail = Failures {
        out: out_path,
        cancel: &cancel,
    };
    let mux_err = |what: &'static str| move |e: ffmpeg::Error| fail.write(what, e);

    let mut out =
        ffi::open_output(out_path, "mp4", &cancel).map_err(mux_err("cannot create output"))?;
    let octx = &mut out.ctx;

    let mut video = StreamSpec {
        parameters: first.video.parameters.copy(),
        time_base: cut::VIDEO_TB,
        tag: None,
    };
    if let Some((tag, hvcc)) = tracks::hevc_entry(&first.video) {
        // libav writes an hvcC-formatted extradata verbatim: the completeness
        // flags are set in it here.
        if let Some(hvcc) = hvcc {
            ffi::set_extradata(&mut video.parameters, &hvcc).map_err(mux_err("set hvcC"))?;
        }
        video.tag = Some(tag);
    }
    mux::add_stream(octx, video).map_err(mux_err("add video stream"))?;
    let audio_out = if job.audio {
        first.audio.as_ref()
    } else {
        None
    };
    if let Some(a) = audio_out {
        let spec = StreamSpec {
            parameters: a.parameters.copy(),
            time_base: cut::audio_tb(a.sample_rate),
            tag: Some([0; 4]),
        };
        mux::add_stream(octx, spec).map_err(mux_err("add audio stream"))?;
    }
    let mut clock = clock::TimestampFeed::add(octx, job.timestamps, 1.0)
        .map_err(mux_err("add timestamp stream"))?;
    mux::set_metadata_and_chapters(octx, job.metadata, job.chapters.iter().map(Chapter::mark))
        .map_err(mux_err("set metadata"))?;
    let tbs = mux::write_header(octx, mux::faststart()).map_err(mux_err("write header"))?;
    if let Some(c) = &mut clock {
        c.header_written(&tbs);
    }
    let tbs = [
        tbs[VIDEO],
        tbs.get(AUDIO).copied().unwrap_or(OutTicks::BASE),
    ];
    let mut sel = Selection::new(job, tbs);

    let hevc = first.video.codec == ffmpeg::codec::Id::HEVC;
    let total = job.plan.duration();
    let mut stats = RemuxStats {
        writer: WriterKind::Libav,
        ..RemuxStats::default()
    };

    for i in 0..job.plan.clips.len() {
        cancel.check()?;
        let c = sel.clip(i);
        let (clip, probe) = (c.clip, c.probe);
        let inband = match c.inband {
            InbandNeed::None => None,
            _ => tracks::inband_params(probe).ok(),
        };
        let mut keyframes_seen = 0u64;
        let Locator::File(path) = job.locator(clip);
        let mut input = ffi::open_input(path, &cancel).map_err(|e| fail.read(path, "open", e))?;
        // The file opened must be the one probed (checked after opening: a
        // replacement after this point does not change what is read).
        let meta = std::fs::metadata(path).map_err(|e| fail.read(path, "stat", e))?;
        probe
            .check_unchanged(&meta)
            .map_err(|why| fail.read(path, "open", Failure::Found(why)))?;
        if clip.starts_mid_segment {
            ffi::seek_backward(&mut input, probe.video.index, clip.first_dts)
                .map_err(|e| fail.read(path, "seek", e))?;
        }
        let mut video_done = false;
        let mut audio_done = c.audio.is_none();

        while !(video_done && audio_done) {
            let mut pkt = Packet::empty();
            match pkt.read(&mut input.ctx) {
                Ok(()) => {}
                Err(ffmpeg::Error::Eof) => break,
                Err(e) => return Err(fail.read(path, "read", e)),
            }
            let si = pkt.stream();
            if si == probe.video.index && !video_done {
                let Some(dts) = pkt.dts().or(pkt.pts()) else {
                    continue;
                };
                let pts = pkt.pts().unwrap_or(dts);
                let dur = index_duration(&probe.video.timing.samples, dts, pkt.duration());
                let stamp = match sel.video(&c, dts, pts, dur) {
                    Cut::Drop => continue,
                    Cut::After => {
                        video_done = true;
                        continue;
                    }
                    Cut::Keep(s) => s,
                };
                // In-band sets where the clip needs them and the camera did
                // not already send them (see `tracks::InbandNeed`).
                let prefix = match &inband {
                    Some(p)
                        if pkt.is_key()
                            && (c.inband == InbandNeed::EveryKeyframe || keyframes_seen == 0)
                            && !params::carries_parameter_sets(hevc, pkt.data().unwrap_or(&[])) =>
                    {
                        Some(&p.nals)
                    }
                    _ => None,
                };
                keyframes_seen += u64::from(pkt.is_key());
                let mut pkt = match prefix {
                    Some(nals) => mux::with_prefix(&pkt, nals),
                    None => pkt,
                };
                if let Some(c) = &mut clock {
                    let at = OutTicks::from_ts(Ts::new(stamp.dts, tbs[VIDEO]));
                    c.until(at, octx).map_err(mux_err("write timestamp"))?;
                }
                write_packet(&mut pkt, VIDEO, stamp, octx, fail)?;
                if stats.first_sample_at.is_none() {
                    stats.first_sample_at = Some(std::time::Instant::now());
                }
                stats.video_packets += 1;
                let done = OutTicks::from_ts(Ts::new(stamp.dts + stamp.duration, tbs[VIDEO]));
                reporter.update(done.ratio(total) * 100.0)?;
            } else if c.audio.is_some_and(|a| a.index == si) && !audio_done {
                let Some(ts) = pkt.pts().or(pkt.dts()) else {
                    continue;
                };
                let dur = c.audio.map_or(pkt.duration(), |a| {
                    index_duration(&a.samples, ts, pkt.duration())
                });
                match sel.audio(&c, ts, dur) {
                    Cut::Drop => {}
                    Cut::After => audio_done = true,
                    Cut::Keep(stamp) => {
                        write_packet(&mut pkt, AUDIO, stamp, octx, fail)?;
                        stats.audio_packets += 1;
                    }
                }
            }
        }
    }
    cancel.check()?;
    if let Some(c) = &mut clock {
        c.finish(octx).map_err(mux_err("write timestamp"))?;
    }
    octx.write_trailer().map_err(mux_err("finish file"))?;
    [stats.video_duration_s, stats.audio_duration_s] = sel.ends_s();
    stats.audio_dropped = sel.audio_dropped;
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
    fail: Failures<'_>,
) -> Result<()> {
    pkt.set_stream(stream);
    pkt.set_dts(Some(s.dts));
    pkt.set_pts(Some(s.pts));
    pkt.set_duration(s.duration);
    pkt.set_position(-1);
    pkt.write_interleaved(octx)
        .map_err(|e| fail.write("write packet", e))
}
