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
