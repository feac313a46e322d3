//! Muxer set-up shared by everything that writes through libav's muxers:
//! the libav stream-copy writer and the synthetic-store encoder today, the
//! transcoder next. Streams are added with their codec parameters, time base
//! and tag; container metadata and chapters are set before the header; the
//! header is written with the caller's options, and the time bases the
//! muxer chose are read back (mov keeps 90 kHz video, the sample rate for
//! audio, but a muxer may change them).

use ffmpeg_next as ffmpeg;
use ffmpeg_next::codec::{self, Id};
use ffmpeg_next::format::context::Output;
use ffmpeg_next::{Dictionary, Packet, Rational};

use super::ffi;
use crate::plan::timestamps::{self, Cue};
use crate::time::OutTicks;

/// One output stream.
pub struct StreamSpec {
    pub parameters: codec::Parameters,
    pub time_base: Rational,
    /// FourCC to write (`hvc1`); `None` lets the muxer choose.
    pub tag: Option<[u8; 4]>,
}

/// Adds `spec` to `octx`; returns the stream index.
pub fn add_stream(octx: &mut Output, spec: StreamSpec) -> Result<usize, ffmpeg::Error> {
    let mut st = octx.add_stream(ffmpeg::encoder::find(Id::None))?;
    st.set_parameters(spec.parameters);
    st.set_time_base(spec.time_base);
    ffi::set_codec_tag(&mut st, spec.tag.unwrap_or([0; 4]));
    Ok(st.index())
}

/// Container metadata (`title`, `creation_time`, `comment` ...) and chapters
/// (start, end and title on the output timeline, 90 kHz), which the mov
/// muxer writes as a QuickTime chapter track and a Nero `chpl` box.
pub fn set_metadata_and_chapters<'a>(
    octx: &mut Output,
    metadata: &[(&str, String)],
    chapters: impl IntoIterator<Item = (OutTicks, OutTicks, &'a str)>,
) -> Result<(), ffmpeg::Error> {
    let mut meta = Dictionary::new();
    for (k, v) in metadata {
        meta.set(k, v);
    }
    octx.set_metadata(meta);
    for (i, (start, end, title)) in chapters.into_iter().enumerate() {
        octx.add_chapter(i as i64, OutTicks::BASE, start.0, end.0, title)?;
    }
    Ok(())
}

/// The wall-clock timestamp track (`plan::timestamps`) through a libav
/// muxer: a `mov_text` stream, and its cues written as the output's video
/// reaches them (so they interleave with it).
pub struct TimestampFeed<'a> {
    cues: &'a [Cue],
    next: usize,
    stream: usize,
    time_base: Rational,
    /// Output time = cue time x `scale` (a timelapse's speed-up; 1 otherwise).
    scale: f64,
}

impl<'a> TimestampFeed<'a> {
    /// Adds the stream to `octx` (before its header) when there are cues.
    pub fn add(
        octx: &mut Output,
        cues: &'a [Cue],
        scale: f64,
    ) -> Result<Option<Self>, ffmpeg::Error> {
        if cues.is_empty() {
            return Ok(None);
        }
        let spec = StreamSpec {
            parameters: ffi::mov_text_parameters(&timestamps::TX3G_DESCRIPTION)?,
            time_base: Rational(1, 1000),
            tag: None,
        };
        let stream = add_stream(octx, spec)?;
        if let Some(mut st) = octx.stream_mut(stream) {
            let mut meta = Dictionary::new();
            meta.set("handler_name", "Wall clock");
            st.set_metadata(meta);
        }
        Ok(Some(TimestampFeed {
            cues,
            next: 0,
            stream,
            time_base: Rational(1, 1000),
            scale,
        }))
    }

    /// Takes the stream's time base as the muxer set it (after the header).
    pub fn header_written(&mut self, time_bases: &[Rational]) {
        if let Some(&tb) = time_bases.get(self.stream) {
            self.time_base = tb;
        }
    }

    /// Writes the cues that start at or before output time `t`.
    pub fn until(&mut self, t: OutTicks, octx: &mut Output) -> Result<(), ffmpeg::Error> {
        while let Some(c) = self.cues.get(self.next) {
            let (start, end) = (self.scaled(c.start), self.scaled(c.end));
            if start > t {
                break;
            }
            let mut p = Packet::copy(&timestamps::tx3g_sample(&c.text));
            let ts = |x: OutTicks| crate::time::rescale(x.0, OutTicks::BASE, self.time_base);
            p.set_stream(self.stream);
            p.set_pts(Some(ts(start)));
            p.set_dts(Some(ts(start)));
            p.set_duration((ts(end) - ts(start)).max(0));
            p.set_flags(ffmpeg::packet::Flags::KEY);
            p.write_interleaved(octx)?;
            self.next += 1;
        }
        Ok(())
    }

    /// Writes the cues left (before the trailer).
    pub fn finish(&mut self, octx: &mut Output) -> Result<(), ffmpeg::Error> {
        self.until(OutTicks(i64::MAX), octx)
    }

    fn scaled(&self, t: OutTicks) -> OutTicks {
        if self.scale == 1.0 {
            t
        } else {
            OutTicks((t.0 as f64 * self.scale).round() as i64)
        }
    }
}

/// `movflags=+faststart`: the mov muxer moves `moov` before `mdat` when it
/// finishes the file.
pub fn faststart() -> Dictionary<'static> {
    let mut opts = Dictionary::new();
    opts.set("movflags", "+faststart");
    opts
}

/// Writes the header; returns each stream's time base as the muxer set it.
pub fn write_header(octx: &mut Output, opts: Dictionary) -> Result<Vec<Rational>, ffmpeg::Error> {
    octx.write_header_with(opts)?;
    Ok(octx.streams().map(|s| s.time_base()).collect())
}

/// A copy of `pkt` with `prefix` before its data (in-band parameter sets),
/// same timing and flags.
pub fn with_prefix(pkt: &Packet, prefix: &[u8]) -> Packet {
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
