//! The re-encoding writer: for each clip of the plan, demux -> decode ->
//! libav filter graph (the typed options' filters, then the output rate and
//! pixel format) -> encode -> mux, with progress from the encoded packets'
//! timestamps against the plan's duration times the timelapse factor.
//!
//! Time: decoded frames are placed on the plan's output timeline (90 kHz,
//! gaps collapsed, the clip's first presented frame at its offset) before
//! the filters run, so `setpts` scales that timeline and chapters scale with
//! it. Frames outside a clip's presentation span (before the cut keyframe's
//! successors, past the end cut) are dropped. Audio is not kept (the NVR
//! drops it for custom encodes).
//!
//! Rate control: without a rate option from the user, CRF 26 with a cap by
//! output height (4 Mbit/s at 1080 lines and up, 2.5 at 720, 1.2 below), so
//! a timelapse never comes out larger than its source.

use std::path::Path;

use ffmpeg_next as ffmpeg;
use ffmpeg_next::{codec, filter, Dictionary, Rational};

use super::args::{EncodeOptions, Filter};
use super::preset::{Frames, Preset, SOFTWARE};
use crate::error::{Error, Result, Warning};
use crate::media::hwctx::{self, HwDevice};
use crate::media::{ffi, mux};
use crate::plan::chapters::Chapter;
use crate::plan::timestamps::Cue;
use crate::plan::Plan;
use crate::probe::ProbedSegment;
use crate::progress::Reporter;
use crate::remux::{clock, RemuxStats, WriterKind};
use crate::time::OutTicks;

/// A re-encode to write.
pub struct TranscodeJob<'a> {
    pub plan: &'a Plan,
    pub segments: &'a [ProbedSegment],
    pub options: &'a EncodeOptions,
    /// Chapters on the input timeline: scaled by the timelapse factor here.
    pub chapters: &'a [Chapter],
    /// Wall-clock timestamp cues on the input timeline (scaled like the chapters).
    pub timestamps: &'a [Cue],
    pub metadata: &'a [(&'a str, String)],
    /// The encoder and device to use.
    pub preset: Preset,
    /// On a hardware failure, start again in software (`encoding_retry`).
    pub cpu_fallback: bool,
    /// Decode a timelapse's GOPs side by side (see `gops`).
    pub parallel: bool,
}

/// The output timeline's time base (90 kHz).
fn out_tb() -> Rational {
    OutTicks::BASE
}

/// The encoder and its stream, opened on the first filtered frame.
struct Encoding {
    encoder: ffmpeg::encoder::Video,
    stream_tb: Rational,
    /// One frame period at the output rate, in the output time base.
    frame_ticks: Option<i64>,
}

/// The filter chain handed to libav, built from typed values only, for
/// frames that reach the encoder as `frames` says.
pub(super) fn graph_spec(
    o: &EncodeOptions,
    first: (u32, u32),
    mixed_sizes: bool,
    frames: Frames,
) -> String {
    let mut parts = Vec::new();
    if mixed_sizes {
        // A camera restart at another size: everything at the first size.
        parts.push(format!("scale={}:{}", first.0, first.1));
    }
    for f in &o.video_filters {
        match (f, frames) {
            // The scale step on the device (scale_vulkan takes sizes, not
            // expressions: -1/-2 are resolved from the input here).
            (Filter::Scale { width, height }, Frames::DeviceScale) => {
                match device_size(width, height, first) {
                    Some((w, h)) => parts.push(format!(
                    "format=yuv420p,hwupload,scale_vulkan=w={w}:h={h},hwdownload,format=yuv420p"
                )),
                    None => parts.push(f.to_graph()),
                }
            }
            _ => parts.push(f.to_graph()),
        }
    }
    if let Some(r) = o.rate {
        parts.push(format!("fps={r}"));
    }
    let pix = o.pix_fmt.as_deref().unwrap_or("yuv420p");
    match frames {
        Frames::Device => parts.push("format=nv12".into()),
        _ => parts.push(format!("format={pix}")),
    }
    // `fps` moves frames to its own time base: back to the output's.
    parts.push(format!(
        "settb={}/{}",
        out_tb().numerator(),
        out_tb().denominator()
    ));
    if frames == Frames::Device {
        parts.push("hwupload".into());
    }
    parts.join(",")
}

/// A scale's size in pixels from `first` (the input): numbers, or -1 / -2
/// for "keep the aspect" (-2: even). `None` for expressions.
fn device_size(w: &str, h: &str, first: (u32, u32)) -> Option<(u32, u32)> {
    let (iw, ih) = (first.0 as f64, first.1 as f64);
    let n = |s: &str| s.parse::<i64>().ok();
    let (w, h) = (n(w)?, n(h)?);
    let even = |x: f64| ((x / 2.0).round() * 2.0).max(2.0) as u32;
    match (w, h) {
        (w, h) if w > 0 && h > 0 => Some((w as u32, h as u32)),
        (w, -1) if w > 0 => Some((w as u32, (ih * w as f64 / iw).round() as u32)),
        (w, -2) if w > 0 => Some((w as u32, even(ih * w as f64 / iw))),
        (-1, h) if h > 0 => Some(((iw * h as f64 / ih).round() as u32, h as u32)),
        (-2, h) if h > 0 => Some((even(iw * h as f64 / ih), h as u32)),
        _ => None,
    }
}

fn media(context: &str) -> impl Fn(ffmpeg::Error) -> Error + '_ {
    move |e| Error::media(context, e)
}

/// Opens the encoder for frames like `frame`.
fn open_encoder(
    o: &EncodeOptions,
    preset: &Preset,
    frame: &ffmpeg::frame::Video,
    sink: &mut ffmpeg::filter::Context,
) -> Result<ffmpeg::encoder::Video> {
    let rate = o.rate;
    // A hardware preset names its encoder; in software the user may.
    let name = if preset.is_hardware() {
        preset.encoder
    } else {
        match o.video_codec.as_deref() {
            Some(name) => super::args::substitute(name),
            // The NVR's default, libx264, where this libav has it.
            None if preset.encoder == "libx264" => crate::media::encode::software_h264(),
            None => preset.encoder,
        }
    };
    let codec = ffmpeg::encoder::find_by_name(name).ok_or_else(|| Error::ForbiddenArgument {
        arg: name.to_string(),
        reason: "no such encoder in this libav".into(),
    })?;
    let mut ctx = codec::context::Context::new_with_codec(codec)
        .encoder()
        .video()
        .map_err(media("encoder"))?;
    ctx.set_width(frame.width());
    ctx.set_height(frame.height());
    ctx.set_format(frame.format());
    ctx.set_time_base(out_tb());
    if let Some(r) = rate {
        let fr = Rational::from(r);
        ctx.set_frame_rate(Some(fr));
    }
    ctx.set_flags(codec::Flags::GLOBAL_HEADER);
    if preset.frames == Frames::Device {
        hwctx::give_sink_frames_to_encoder(sink, &mut ctx);
    }
    let mut d = Dictionary::new();
    for (k, v) in preset.options {
        d.set(k, v);
    }
    let x26x = name == "libx264" || name == "libx265";
    if x26x {
        d.set("preset", o.preset.as_deref().unwrap_or("ultrafast"));
        d.set("tune", o.tune.as_deref().unwrap_or("zerolatency"));
    } else if let Some(p) = &o.preset {
        d.set("preset", p);
    }
    if let Some(p) = &o.profile {
        d.set("profile", p);
    }
    if let Some(l) = &o.level {
        d.set("level", l);
    }
    let user_rate = o.crf.is_some() || o.qp.is_some() || o.bitrate.is_some() || o.qscale.is_some();
    if let Some(c) = o.crf {
        d.set("crf", &c.to_string());
    }
    if let Some(q) = o.qp {
        d.set("qp", &q.to_string());
    }
    if let Some(b) = o.bitrate {
        d.set("b", &b.to_string());
    }
    if let Some(q) = o.qscale {
        d.set("global_quality", &q.to_string());
    }
    let (maxrate, bufsize) = match (o.maxrate, user_rate) {
        (Some(m), _) => (Some(m), o.bufsize.or(Some(m * 2))),
        (None, false) => {
            // The default: CRF with a cap by resolution (hardware encoders:
            // an average under the cap).
            if x26x {
                d.set("crf", "26");
            }
            let cap: u64 = match frame.height() {
                h if h >= 1080 => 4_000_000,
                h if h >= 720 => 2_500_000,
                _ => 1_200_000,
            };
            if !x26x {
                d.set("b", &(cap / 2).to_string());
            }
            (Some(cap), Some(cap * 2))
        }
        (None, true) => (None, o.bufsize),
    };
    if let Some(m) = maxrate {
        d.set("maxrate", &m.to_string());
    }
    if let Some(b) = bufsize {
        d.set("bufsize", &b.to_string());
    }
    if let Some(m) = o.minrate {
        d.set("minrate", &m.to_string());
    }
    let int_opts = [
        ("g", o.gop.map(i64::from)),
        ("keyint_min", o.keyint_min.map(i64::from)),
        ("sc_threshold", o.sc_threshold.map(i64::from)),
        ("bf", o.b_frames.map(i64::from)),
        ("refs", o.refs.map(i64::from)),
        ("qmin", o.qmin.map(i64::from)),
        ("qmax", o.qmax.map(i64::from)),
        ("threads", o.threads.map(i64::from)),
    ];
    for (k, v) in int_opts {
        if let Some(v) = v {
            d.set(k, &v.to_string());
        }
    }
    ctx.open_with(d)
        .map_err(|e| Error::media(format!("opening encoder {name}"), e))
}

/// Writes `job` to `out_path` (a staged file the caller owns). A hardware
/// failure is retried in software from the start when `cpu_fallback` is
/// set (step `encoding_retry`; the returned warning says why), else it
/// fails naming the preset, the device and libav's reason.
pub fn write(
    job: &TranscodeJob<'_>,
    out_path: &Path,
    reporter: &mut Reporter<'_>,
) -> Result<(RemuxStats, Option<Warning>)> {
    let on = (job.preset, job.cpu_fallback, job.options);
    with_fallback(on, out_path, reporter, &mut |preset, reporter| {
        write_with(job, preset, out_path, reporter)
    })
}

/// Runs `body` on `preset`; a hardware failure is retried in software from
/// an empty file when `cpu_fallback` is set (see [`write`]).
pub(super) fn with_fallback(
    (preset, cpu_fallback, options): (Preset, bool, &EncodeOptions),
    out_path: &Path,
    reporter: &mut Reporter<'_>,
    body: &mut dyn FnMut(&Preset, &mut Reporter<'_>) -> Result<RemuxStats>,
) -> Result<(RemuxStats, Option<Warning>)> {
    crate::media::init();
    match body(&preset, reporter) {
        Ok(stats) => {
            let asked = options.video_codec.as_deref().unwrap_or_default();
            let used = super::args::substitute(asked);
            let warning =
                (!preset.is_hardware() && used != asked).then(|| Warning::EncoderSubstituted {
                    asked: asked.to_string(),
                    used: used.to_string(),
                });
            Ok((stats, warning))
        }
        Err(Error::Cancelled) => Err(Error::Cancelled),
        Err(e) if preset.is_hardware() && cpu_fallback => {
            let reason = hw_reason(&e);
            tracing::warn!(preset = preset.name, %reason, "hardware encode failed; retrying in software");
            // Start again: an empty file, step `encoding_retry` from 0.
            std::fs::OpenOptions::new()
                .write(true)
                .open(out_path)
                .and_then(|f| f.set_len(0))
                .map_err(|e| Error::io(out_path, e))?;
            reporter.step(crate::progress::Step::EncodingRetry, 0.0)?;
            let stats = body(&SOFTWARE, reporter)?;
            Ok((
                stats,
                Some(Warning::EncoderFallback {
                    preset: preset.name.to_string(),
                    reason,
                }),
            ))
        }
        Err(e) if preset.is_hardware() => Err(Error::media_state(
            format!("preset {} (encoder {})", preset.name, preset.encoder),
            format!(
                "{}; pass --cpu-fallback to retry in software",
                hw_reason(&e)
            ),
        )),
        Err(e) => Err(e),
    }
}

/// What a hardware failure says, without the context the caller adds.
fn hw_reason(e: &Error) -> String {
    match e {
        Error::Media { cause, .. } => cause.clone(),
        other => other.to_string(),
    }
}

fn write_with(
    job: &TranscodeJob<'_>,
    preset: &Preset,
    out_path: &Path,
    reporter: &mut Reporter<'_>,
) -> Result<RemuxStats> {
    let device: Option<HwDevice> = preset.open_device()?;
    let cancel = reporter.cancel_token().clone();
    let o = job.options;
    let factor = o.time_factor();
    let total = (job.plan.duration().seconds() * factor).max(0.001);
    let probes: Vec<_> = job
        .plan
        .clips
        .iter()
        .map(|c| &job.segments[c.segment].probe)
        .collect();
    let first = probes
        .first()
        .map(|p| (p.video.width, p.video.height))
        .unwrap_or((0, 0));
    let mixed = probes
        .iter()
        .any(|p| (p.video.width, p.video.height) != first);
    let spec = graph_spec(o, first, mixed, preset.frames);
    tracing::debug!(preset = preset.name, encoder = preset.encoder, graph = %spec, "transcode");

    let o: &EncodeOptions = o;
    let scaled: Vec<Chapter> = job
        .chapters
        .iter()
        .map(|c| Chapter {
            start: OutTicks((c.start.0 as f64 * factor).round() as i64),
            end: OutTicks((c.end.0 as f64 * factor).round() as i64),
            title: c.title.clone(),
        })
        .collect();
    let mut pipe = Pipeline::open(
        (o, preset, &spec, device.as_ref()),
        out_path,
        (job.metadata, &scaled),
        (job.timestamps, factor),
        total,
        &cancel,
    )?;
    let skip_nokey = o.skip_frame.as_deref() == Some("nokey");
    match parallel_rate(o) {
        // A timelapse: GOPs decoded side by side, only the frames the
        // output rate keeps (see `gops`).
        Some(out_fps) if !skip_nokey && job.parallel => {
            let gops = super::gops::split(job.plan, job.segments);
            let keep = super::gops::Thinning { factor, out_fps };
            let window = rayon::current_num_threads().max(1) * 2;
            for chunk in gops.chunks(window) {
                cancel.check()?;
                let jobs: Vec<super::gops::Job> = chunk
                    .iter()
                    .map(|g| super::gops::Job::new(*g, job.plan, job.segments))
                    .collect();
                let decoded: Vec<Result<Vec<ffmpeg::frame::Video>>> = {
                    use rayon::prelude::*;
                    jobs.into_par_iter()
                        .map(|j| super::gops::decode(j, keep, &cancel))
                        .collect()
                };
                for frames in decoded {
                    for frame in frames? {
                        pipe.feed(&frame, reporter)?;
                    }
                }
            }
        }
        _ => {
            for (ci, clip) in job.plan.clips.iter().enumerate() {
                cancel.check()?;
                let range = super::gops::Gop {
                    clip: ci,
                    start_dts: clip.first_dts,
                    end_dts: clip.end_dts,
                    seek: clip.starts_mid_segment,
                };
                let whole = super::gops::Job::new(range, job.plan, job.segments);
                super::gops::decode_each(&whole, skip_nokey, &cancel, &mut |f| {
                    pipe.feed(&f, reporter)
                })?;
            }
        }
    }
    pipe.finish(job.plan.duration().0, reporter, out_path)
}

/// `Some(output fps)` when frames can be thinned before the filters: a
/// speed-up (`setpts` factor under 1) to a fixed output rate.
fn parallel_rate(o: &EncodeOptions) -> Option<f64> {
    let fps = o.rate.or_else(|| {
        o.video_filters.iter().rev().find_map(|f| match f {
            Filter::Fps { rate } => Some(*rate),
            _ => None,
        })
    })?;
    (o.time_factor() < 1.0).then_some(fps)
}

/// Filter graph, encoder and muxer, fed frames in output order.
pub(super) struct Pipeline<'a> {
    o: &'a EncodeOptions,
    preset: &'a Preset,
    spec: &'a str,
    device: Option<&'a HwDevice>,
    out: ffi::Output,
    graph: Option<filter::Graph>,
    enc: Option<Encoding>,
    stats: RemuxStats,
    last_end: i64,
    total: f64,
    /// The timestamp cues and the timelapse factor that places them.
    cues: (&'a [Cue], f64),
    clock: Option<clock::TimestampFeed<'a>>,
}

impl<'a> Pipeline<'a> {
    /// The output file with its metadata and chapters; the graph and
    /// encoder open on the first frame. `total_s`: the output's length
    /// (progress).
    pub(super) fn open(
        (o, preset, spec, device): (&'a EncodeOptions, &'a Preset, &'a str, Option<&'a HwDevice>),
        out_path: &Path,
        (metadata, chapters): (&[(&str, String)], &[Chapter]),
        cues: (&'a [Cue], f64),
        total_s: f64,
        cancel: &crate::progress::CancelToken,
    ) -> Result<Pipeline<'a>> {
        let mut out =
            ffi::open_output(out_path, "mp4", cancel).map_err(media("creating the output"))?;
        mux::set_metadata_and_chapters(&mut out.ctx, metadata, chapters.iter().map(Chapter::mark))
            .map_err(media("metadata"))?;
        Ok(Pipeline {
            o,
            preset,
            spec,
            device,
            out,
            graph: None,
            enc: None,
            stats: RemuxStats {
                writer: WriterKind::Transcode,
                ..RemuxStats::default()
            },
            last_end: 0,
            total: total_s,
            cues,
            clock: None,
        })
    }

    /// One decoded frame, its pts on the output timeline (90 kHz).
    pub(super) fn feed(
        &mut self,
        frame: &ffmpeg::frame::Video,
        reporter: &mut Reporter<'_>,
    ) -> Result<()> {
        self.stats.frames_decoded += 1;
        if self.graph.is_none() {
            self.graph = Some(build_graph(frame, self.spec, self.device)?);
        }
        if let Some(g) = self.graph.as_mut() {
            g.get("in")
                .ok_or_else(|| Error::media_state("filter graph", "no source"))?
                .source()
                .add(frame)
                .map_err(media("filtering"))?;
        }
        self.pump(reporter, false)
    }

    /// Frames out of the graph into the encoder, packets into the muxer.
    fn pump(&mut self, reporter: &mut Reporter<'_>, flush: bool) -> Result<()> {
        // Out of `self` while it runs, so that the encoder side may borrow it.
        let Some(mut graph) = self.graph.take() else {
            return Ok(());
        };
        let r = self.pump_graph(&mut graph, reporter, flush);
        self.graph = Some(graph);
        r
    }

    fn pump_graph(
        &mut self,
        graph: &mut filter::Graph,
        reporter: &mut Reporter<'_>,
        flush: bool,
    ) -> Result<()> {
        loop {
            // A fresh frame each time: av_buffersink_get_frame moves into
            // the frame without releasing what it held (reusing one leaked
            // a frame's buffers per output frame: measured, ~3 MB each).
            let mut filtered = ffmpeg::frame::Video::empty();
            let mut sink = graph
                .get("out")
                .ok_or_else(|| Error::media_state("filter graph", "no sink"))?;
            if sink.sink().frame(&mut filtered).is_err() {
                break;
            }
            if self.enc.is_none() {
                let encoder = open_encoder(self.o, self.preset, &filtered, &mut sink)?;
                let idx = mux::add_stream(
                    &mut self.out.ctx,
                    mux::StreamSpec {
                        parameters: codec::Parameters::from(&encoder),
                        time_base: out_tb(),
                        tag: None,
                    },
                )
                .map_err(media("output stream"))?;
                self.clock = clock::TimestampFeed::add(&mut self.out.ctx, self.cues.0, self.cues.1)
                    .map_err(media("timestamp stream"))?;
                let tbs = mux::write_header(&mut self.out.ctx, mux::faststart())
                    .map_err(media("output header"))?;
                if let Some(c) = &mut self.clock {
                    c.header_written(&tbs);
                }
                self.enc = Some(Encoding {
                    encoder,
                    stream_tb: tbs[idx],
                    frame_ticks: self
                        .o
                        .rate
                        .map(|r| (f64::from(out_tb().denominator()) / r).round() as i64),
                });
            }
            if let Some(e) = self.enc.as_mut() {
                e.encoder.send_frame(&filtered).map_err(media("encoding"))?;
            }
            self.drain(reporter)?;
        }
        if flush {
            if let Some(e) = self.enc.as_mut() {
                e.encoder.send_eof().map_err(media("encoding"))?;
            }
            self.drain(reporter)?;
        }
        Ok(())
    }

    /// Moves the encoder's ready packets into the muxer.
    fn drain(&mut self, reporter: &mut Reporter<'_>) -> Result<()> {
        match self.enc.as_mut() {
            Some(e) => drain(
                e,
                self.clock.as_mut(),
                &mut self.out,
                &mut self.stats,
                &mut self.last_end,
                reporter,
                self.total,
            ),
            None => Ok(()),
        }
    }

    /// Ends the input at `end` (the plan's end: the last frame lasts until
    /// then), flushes everything and finishes the file.
    pub(super) fn finish(
        mut self,
        end: i64,
        reporter: &mut Reporter<'_>,
        out_path: &Path,
    ) -> Result<RemuxStats> {
        let Some(g) = self.graph.as_mut() else {
            return Err(Error::media_state(
                "transcode",
                "no frame was decoded in the range",
            ));
        };
        let mut src = g
            .get("in")
            .ok_or_else(|| Error::media_state("filter graph", "no source"))?;
        ffi::close_source(&mut src, end).map_err(media("filtering"))?;
        self.pump(reporter, true)?;
        if let Some(c) = &mut self.clock {
            c.finish(&mut self.out.ctx)
                .map_err(media("writing timestamps"))?;
        }
        self.out
            .ctx
            .write_trailer()
            .map_err(media("finishing the output"))?;
        self.stats.video_duration_s = self.last_end as f64 * f64::from(out_tb());
        self.stats.bytes_written = std::fs::metadata(out_path).map(|m| m.len()).unwrap_or(0);
        Ok(self.stats)
    }
}

/// The graph for frames like `frame`: buffer source -> `spec` -> sink.
fn build_graph(
    frame: &ffmpeg::frame::Video,
    spec: &str,
    device: Option<&HwDevice>,
) -> Result<filter::Graph> {
    let fmt = frame
        .format()
        .descriptor()
        .map(|d| d.name().to_string())
        .unwrap_or_else(|| "yuv420p".into());
    let sar = frame.aspect_ratio();
    let sar = if sar.numerator() > 0 {
        sar
    } else {
        Rational(1, 1)
    };
    let tb = out_tb();
    let args = format!(
        "video_size={}x{}:pix_fmt={fmt}:time_base={}/{}:pixel_aspect={}/{}",
        frame.width(),
        frame.height(),
        tb.numerator(),
        tb.denominator(),
        sar.numerator(),
        sar.denominator()
    );
    let mut g = filter::Graph::new();
    let find = |n: &str| {
        filter::find(n).ok_or_else(|| Error::media_state("filter graph", format!("no {n} filter")))
    };
    g.add(&find("buffer")?, "in", &args)
        .map_err(media("filter source"))?;
    g.add(&find("buffersink")?, "out", "")
        .map_err(media("filter sink"))?;
    g.output("in", 0)
        .and_then(|p| p.input("out", 0))
        .and_then(|p| p.parse(spec))
        .map_err(|e| Error::media(format!("filter graph {spec:?}"), e))?;
    if let Some(d) = device {
        d.attach_to_graph(&mut g)
            .map_err(|why| Error::media_state(format!("{} device", d.kind), why))?;
    }
    g.validate()
        .map_err(|e| Error::media(format!("filter graph {spec:?}"), e))?;
    Ok(g)
}

/// Moves the encoder's ready packets into the muxer.
fn drain(
    e: &mut Encoding,
    mut clock: Option<&mut clock::TimestampFeed<'_>>,
    out: &mut ffi::Output,
    stats: &mut RemuxStats,
    last_end: &mut i64,
    reporter: &mut Reporter<'_>,
    total_s: f64,
) -> Result<()> {
    let mut pkt = ffmpeg::Packet::empty();
    while e.encoder.receive_packet(&mut pkt).is_ok() {
        // At a fixed output rate every frame lasts one period (the encoder
        // does not say, and the last frame's duration would be lost).
        if let (true, Some(t)) = (pkt.duration() <= 0, e.frame_ticks) {
            pkt.set_duration(t);
        }
        if let Some(p) = pkt.pts() {
            *last_end = (*last_end).max(p + pkt.duration().max(0));
        }
        if let (Some(c), Some(dts)) = (clock.as_deref_mut(), pkt.dts().or(pkt.pts())) {
            c.until(OutTicks(dts), &mut out.ctx)
                .map_err(media("writing timestamps"))?;
        }
        pkt.set_stream(0);
        pkt.rescale_ts(out_tb(), e.stream_tb);
        pkt.write_interleaved(&mut out.ctx)
            .map_err(media("writing"))?;
        stats.video_packets += 1;
        if stats.first_sample_at.is_none() {
            stats.first_sample_at = Some(std::time::Instant::now());
        }
        reporter.update(*last_end as f64 * f64::from(out_tb()) / total_s * 100.0)?;
    }
    Ok(())
}
