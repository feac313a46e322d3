//! Encoder set-up shared by everything that encodes: the synthetic-store
//! generator today, the transcoder next. A software H.264 (libx264) or HEVC
//! (libx265) encoder with a fixed GOP and closed GOPs (every keyframe is a
//! clean cut: `open-gop=0`; libavcodec's wrapper otherwise let x264 code
//! B-frames across a keyframe), optional B-frames with a fixed pattern, an
//! optional bit-rate cap; AAC for audio. [`drain`] moves an encoder's packets
//! into a muxer, rescaled, optionally with bytes before each keyframe
//! (parameter sets in band, as IP cameras send them); [`VideoFile`] is a
//! one-stream MP4 encoded from frames of given durations (previews, cached
//! preview frames).

use ffmpeg_next as ffmpeg;
use ffmpeg_next::codec;
use ffmpeg_next::format::{sample::Type as SampleType, Pixel, Sample};
use ffmpeg_next::{ChannelLayout, Dictionary, Packet, Rational};

use super::mux;

/// Which software video encoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VideoCodec {
    H264,
    Hevc,
    /// MPEG-4 part 2 (libav's `mpeg4`): what no NVR writes; tests use it
    /// for footage the export must refuse by name.
    Mpeg4,
}

/// A video encoder's settings.
#[derive(Debug, Clone, Copy)]
pub struct VideoSettings {
    pub codec: VideoCodec,
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    /// Keyframe interval in frames.
    pub gop: u32,
    pub b_frames: u32,
    /// Bit-rate cap in bits/s; 0 lets the encoder pick (CRF).
    pub bitrate: u32,
}

/// OpenH264 (BSD): the H.264 encoder of a build without GPL code.
pub const OPENH264: &str = "libopenh264";

/// The software H.264 encoder this libav has: libx264 (GPL builds, and
/// Debian's), else OpenH264 (the shipped LGPL build; no B-frames).
pub fn software_h264() -> &'static str {
    if ffmpeg::encoder::find_by_name("libx264").is_some() {
        "libx264"
    } else {
        OPENH264
    }
}

/// Opens a video encoder (YUV 4:2:0 input, time base 1/fps).
pub fn open_video(
    s: &VideoSettings,
    global_header: bool,
) -> Result<ffmpeg::encoder::Video, ffmpeg::Error> {
    let (name, params_key) = match s.codec {
        VideoCodec::H264 if s.b_frames == 0 && software_h264() == OPENH264 => (OPENH264, ""),
        VideoCodec::H264 => ("libx264", "x264-params"),
        VideoCodec::Hevc => ("libx265", "x265-params"),
        VideoCodec::Mpeg4 => ("mpeg4", ""),
    };
    let vcodec = ffmpeg::encoder::find_by_name(name).ok_or(ffmpeg::Error::EncoderNotFound)?;
    let fps = s.fps as i32;
    let mut ctx = codec::context::Context::new_with_codec(vcodec)
        .encoder()
        .video()?;
    ctx.set_width(s.width);
    ctx.set_height(s.height);
    ctx.set_format(Pixel::YUV420P);
    ctx.set_time_base(Rational(1, fps));
    ctx.set_frame_rate(Some(Rational(fps, 1)));
    ctx.set_gop(s.gop);
    ctx.set_max_b_frames(s.b_frames as usize);
    if s.bitrate > 0 {
        ctx.set_bit_rate(s.bitrate as usize);
        ctx.set_max_bit_rate(s.bitrate as usize);
    }
    if global_header {
        ctx.set_flags(codec::Flags::GLOBAL_HEADER);
    }
    let mut opts = Dictionary::new();
    // superfast with B-frames: what camera firmware runs (ultrafast has none).
    opts.set(
        "preset",
        if s.b_frames > 0 {
            "superfast"
        } else {
            "ultrafast"
        },
    );
    let mut p = format!(
        "keyint={0}:min-keyint={0}:scenecut=0:bframes={1}",
        s.gop, s.b_frames
    );
    if s.b_frames > 0 {
        p.push_str(":b-adapt=0:open-gop=0");
    }
    if s.bitrate > 0 {
        let kbps = s.bitrate / 1000;
        p.push_str(&format!(":vbv-maxrate={kbps}:vbv-bufsize={}", kbps * 2));
    }
    if s.codec == VideoCodec::Hevc {
        p.push_str(":log-level=none");
    }
    if !params_key.is_empty() {
        opts.set(params_key, &p);
    }
    ctx.open_with(opts)
}

/// Opens an AAC encoder (planar float input at `sample_rate`).
pub fn open_aac(
    sample_rate: u32,
    channels: u16,
    bit_rate: usize,
    global_header: bool,
) -> Result<(ffmpeg::encoder::Audio, ChannelLayout), ffmpeg::Error> {
    let acodec = ffmpeg::encoder::find(codec::Id::AAC).ok_or(ffmpeg::Error::EncoderNotFound)?;
    let mut ctx = codec::context::Context::new_with_codec(acodec)
        .encoder()
        .audio()?;
    let layout = ChannelLayout::default(channels as i32);
    ctx.set_rate(sample_rate as i32);
    ctx.set_format(Sample::F32(SampleType::Planar));
    ctx.set_channel_layout(layout);
    // FFmpeg 7's channel layout carries the count; 5.1 keeps it apart.
    #[cfg(not(libav7))]
    ctx.set_channels(channels as i32);
    ctx.set_time_base(Rational(1, sample_rate as i32));
    ctx.set_bit_rate(bit_rate);
    if global_header {
        ctx.set_flags(codec::Flags::GLOBAL_HEADER);
    }
    Ok((ctx.open_as(acodec)?, layout))
}

/// Where an encoder's packets go: output stream and the two time bases.
#[derive(Clone, Copy)]
pub struct Route<'a> {
    pub stream: usize,
    pub encoder_tb: Rational,
    pub stream_tb: Rational,
    /// Bytes put before every keyframe (in-band parameter sets).
    pub prefix_keyframes: Option<&'a [u8]>,
}

/// Moves every packet the encoder has ready into the muxer.
pub fn drain(
    enc: &mut ffmpeg::encoder::Encoder,
    packet: &mut Packet,
    octx: &mut ffmpeg::format::context::Output,
    route: Route<'_>,
) -> Result<(), ffmpeg::Error> {
    drain_with(enc, packet, octx, route, &mut |_| {})
}

/// [`drain`], with `fix` applied to each packet first (in the encoder's
/// time base: e.g. its duration, which libx264 leaves to the caller).
pub fn drain_with(
    enc: &mut ffmpeg::encoder::Encoder,
    packet: &mut Packet,
    octx: &mut ffmpeg::format::context::Output,
    route: Route<'_>,
    fix: &mut dyn FnMut(&mut Packet),
) -> Result<(), ffmpeg::Error> {
    while enc.receive_packet(packet).is_ok() {
        if let (Some(prefix), true) = (route.prefix_keyframes, packet.is_key()) {
            *packet = mux::with_prefix(packet, prefix);
        }
        fix(packet);
        packet.set_stream(route.stream);
        packet.rescale_ts(route.encoder_tb, route.stream_tb);
        packet.write_interleaved(octx)?;
    }
    Ok(())
}

/// An MP4 (`moov` first) with one H.264 video stream, encoded from the
/// frames given, each with its own duration: the synthetic previews and
/// the cached preview frames of a preview export.
pub struct VideoFile {
    enc: ffmpeg::encoder::Video,
    octx: ffmpeg::format::context::Output,
    route: Route<'static>,
    packet: Packet,
    /// Frame durations by pts (encoder time base) until their packet is out:
    /// libx264 leaves packet durations to the caller.
    durations: std::collections::BTreeMap<i64, i64>,
}

impl VideoFile {
    /// Creates `path`; frames' pts are in `time_base`. The error names the
    /// step that failed.
    pub fn create(
        path: &std::path::Path,
        settings: &VideoSettings,
        global_header: bool,
        time_base: Rational,
    ) -> Result<VideoFile, (&'static str, ffmpeg::Error)> {
        let enc = open_video(settings, global_header).map_err(|e| ("open libx264", e))?;
        let mut octx = ffmpeg::format::output_as(path, "mp4").map_err(|e| ("create", e))?;
        mux::add_stream(
            &mut octx,
            mux::StreamSpec {
                parameters: codec::Parameters::from(&enc),
                time_base,
                tag: None,
            },
        )
        .map_err(|e| ("add stream", e))?;
        let tbs =
            mux::write_header(&mut octx, mux::faststart()).map_err(|e| ("write header", e))?;
        Ok(VideoFile {
            enc,
            octx,
            route: Route {
                stream: 0,
                encoder_tb: time_base,
                stream_tb: tbs.first().copied().unwrap_or(time_base),
                prefix_keyframes: None,
            },
            packet: Packet::empty(),
            durations: Default::default(),
        })
    }

    /// Encodes `frame` (its pts set) shown for `duration`.
    pub fn push(
        &mut self,
        frame: &ffmpeg::frame::Video,
        duration: i64,
    ) -> Result<(), ffmpeg::Error> {
        self.durations.insert(frame.pts().unwrap_or(0), duration);
        self.enc.send_frame(frame)?;
        self.drain()
    }

    fn drain(&mut self) -> Result<(), ffmpeg::Error> {
        let durations = &mut self.durations;
        drain_with(
            &mut self.enc,
            &mut self.packet,
            &mut self.octx,
            self.route,
            &mut |p| {
                let d = p.pts().and_then(|t| durations.remove(&t)).unwrap_or(0);
                p.set_duration(d);
            },
        )
    }

    /// Flushes the encoder and writes the trailer.
    pub fn finish(mut self) -> Result<(), ffmpeg::Error> {
        self.enc.send_eof()?;
        self.drain()?;
        self.octx.write_trailer()
    }
}
