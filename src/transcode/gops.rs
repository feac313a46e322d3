//! Decoding for the transcode writer, by GOP.
//!
//! Every keyframe of the NVR's streams starts a closed GOP (its cameras
//! send no open GOPs; the fixtures' encoder is set the same way), so GOPs
//! decode independently. Decoding is the cost of a timelapse (a 25x
//! timelapse at 30 fps keeps one frame in 25, but every P-frame must be
//! decoded to reach it), and on a machine with more than one core the GOPs
//! of a range are decoded side by side (`rayon`), each keeping only the
//! frames the output rate can use ([`Thinning`]), then fed to the filters
//! in order. The output is the same as decoding in sequence: the frames
//! dropped here are exactly those the `fps` filter would drop.

use ffmpeg_next as ffmpeg;
use ffmpeg_next::codec;

use crate::error::{Error, Result};
use crate::media::ffi;
use crate::plan::Plan;
use crate::probe::ProbedSegment;
use crate::progress::CancelToken;
use crate::source::Locator;
use crate::time::{OutTicks, Ts};

/// A run of packets to decode: one GOP of a clip (or a whole clip).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Gop {
    pub clip: usize,
    /// DTS of its keyframe, in the segment's time base.
    pub start_dts: i64,
    /// Exclusive end: the next keyframe's DTS, or the clip's end.
    pub end_dts: i64,
    /// Seek to `start_dts` first (it is not the segment's first sample).
    pub seek: bool,
}

/// The GOPs of every clip of `plan`, in output order.
pub fn split(plan: &Plan, segments: &[ProbedSegment]) -> Vec<Gop> {
    let mut gops = Vec::new();
    for (ci, clip) in plan.clips.iter().enumerate() {
        let timing = &segments[clip.segment].probe.video.timing;
        let first_in_file = timing.samples.iter().next().map(|s| s.dts);
        let keys: Vec<i64> = timing
            .samples
            .iter()
            .filter(|s| s.keyframe && s.dts >= clip.first_dts && s.dts < clip.end_dts)
            .map(|s| s.dts)
            .collect();
        for (i, &k) in keys.iter().enumerate() {
            gops.push(Gop {
                clip: ci,
                start_dts: k,
                end_dts: keys.get(i + 1).copied().unwrap_or(clip.end_dts),
                seek: Some(k) != first_in_file,
            });
        }
    }
    gops
}

/// What decoding one GOP needs, owned (it moves to a worker thread).
pub struct Job {
    pub gop: Gop,
    path: std::path::PathBuf,
    stream: usize,
    params: codec::Parameters,
    offset: OutTicks,
    origin_pts: i64,
    end_pts: i64,
    tb: ffmpeg::Rational,
    /// Exact cuts (`plan::Trim::Exact`): the picture on screen at the
    /// in-point, decoded before it, is shown from the in-point.
    exact: bool,
    /// Decoder threads (0: libav's choice).
    pub threads: usize,
}

impl Job {
    pub fn new(gop: Gop, plan: &Plan, segments: &[ProbedSegment]) -> Job {
        let clip = &plan.clips[gop.clip];
        let seg = &segments[clip.segment];
        let Locator::File(path) = &seg.segment.locator;
        Job {
            gop,
            path: path.clone(),
            stream: seg.probe.video.index,
            params: seg.probe.video.parameters.copy(),
            offset: clip.offset,
            origin_pts: clip.origin_pts,
            end_pts: clip.end_pts,
            tb: clip.time_base,
            exact: clip.exact,
            threads: 0,
        }
    }
}

/// Which frames a speed-up to a fixed rate can use.
#[derive(Debug, Clone, Copy)]
pub struct Thinning {
    /// The `setpts` factor.
    pub factor: f64,
    /// Output frames a second.
    pub out_fps: f64,
}

impl Thinning {
    /// The output frame slot a frame at `pts` (output timeline) rounds to.
    fn slot(&self, pts: i64) -> i64 {
        (OutTicks(pts).seconds() * self.factor * self.out_fps).round() as i64
    }
}

/// Decodes `gop`, keeping the last frame of every output slot (and the
/// GOP's last frame, whose successor is another GOP's).
pub fn decode(
    mut job: Job,
    keep: Thinning,
    cancel: &CancelToken,
) -> Result<Vec<ffmpeg::frame::Video>> {
    // Parallelism is across GOPs; within one, a single thread.
    job.threads = 1;
    let mut all: Vec<ffmpeg::frame::Video> = Vec::new();
    let mut kept = Vec::new();
    decode_each(&job, false, cancel, &mut |f| {
        if let Some(prev) = all.pop() {
            let (a, b) = (prev.pts().unwrap_or(0), f.pts().unwrap_or(0));
            if keep.slot(a) != keep.slot(b) {
                kept.push(prev);
            }
        }
        all.push(f);
        Ok(())
    })?;
    kept.extend(all);
    Ok(kept)
}

/// Decodes `gop` with one decoder thread, calling `on_frame` with each
/// frame of the clip's presentation span, its pts on the output timeline.
pub fn decode_each(
    job: &Job,
    keyframes_only: bool,
    cancel: &CancelToken,
    on_frame: &mut dyn FnMut(ffmpeg::frame::Video) -> Result<()>,
) -> Result<()> {
    let (gop, path) = (&job.gop, &job.path);
    let read = |what: &str| {
        let (path, what) = (path.clone(), what.to_string());
        move |e: ffmpeg::Error| Error::SegmentRead {
            path: path.clone(),
            message: format!("{what}: {e}"),
        }
    };
    let mut input = ffi::open_input(path, cancel).map_err(read("open"))?;
    if gop.seek {
        ffi::seek_backward(&mut input, job.stream, gop.start_dts).map_err(read("seek"))?;
    }
    let vi = job.stream;
    let tb = job.tb;
    let mut dec = codec::context::Context::from_parameters(job.params.clone())
        .and_then(|mut c| {
            // (FFmpeg 5.1's config has one more field, `safe`: left default.)
            let mut threads = codec::threading::Config::count(job.threads);
            threads.kind = codec::threading::Type::Frame;
            c.set_threading(threads);
            c.decoder().video()
        })
        .map_err(read("decoder"))?;
    if keyframes_only {
        dec.skip_frame(ffmpeg::Discard::NonKey);
    }
    let mut frame = ffmpeg::frame::Video::empty();
    // Exact cuts: the last picture before the in-point, until one at or
    // after it shows whether the in-point falls between two pictures (with
    // keyframes only, the keyframe before it stays on screen until the
    // next one: without it the output would start late).
    let mut held: Option<ffmpeg::frame::Video> = None;
    let mut emitted = false;
    let mut packets = input.ctx.packets();
    let mut eof = false;
    while !eof {
        cancel.check()?;
        match packets.next() {
            Some((st, pkt)) if st.index() == vi => {
                match pkt.dts() {
                    Some(d) if d >= gop.end_dts => {
                        eof = true;
                        dec.send_eof().map_err(read("decode"))?;
                    }
                    Some(d) if d < gop.start_dts => continue,
                    // A damaged packet is the decoder's to conceal.
                    _ => {
                        let _ = dec.send_packet(&pkt);
                    }
                }
            }
            Some(_) => continue,
            None => {
                eof = true;
                dec.send_eof().map_err(read("decode"))?;
            }
        }
        while dec.receive_frame(&mut frame).is_ok() {
            let Some(pts) = frame.timestamp().or(frame.pts()) else {
                continue;
            };
            if pts < job.origin_pts {
                if job.exact {
                    held = Some(frame.clone());
                }
                continue;
            }
            if pts >= job.end_pts {
                continue;
            }
            if let Some(mut h) = held.take() {
                if pts > job.origin_pts && !emitted {
                    h.set_pts(Some(job.offset.0));
                    on_frame(h)?;
                }
            }
            let at = job.offset + OutTicks::from_ts(Ts::new(pts - job.origin_pts, tb));
            let mut f = frame.clone();
            f.set_pts(Some(at.0));
            on_frame(f)?;
            emitted = true;
        }
    }
    // A range inside one picture's span: that picture alone.
    if let (Some(mut h), false) = (held, emitted) {
        h.set_pts(Some(job.offset.0));
        on_frame(h)?;
    }
    Ok(())
}
