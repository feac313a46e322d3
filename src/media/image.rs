//! Still images: one picture decoded from a video or an image file, scaled,
//! and encoded as WebP or JPEG (export thumbnails), or handed on as YUV
//! 4:2:0 (the cached preview frames a preview export encodes).
//!
//! Files are never probed by libav: [`sniff`] reads the first bytes and
//! names the one demuxer that may open them (MP4/MOV, WebP, JPEG, PNG), so
//! a file that holds a playlist or a concat list cannot make libav open
//! other files. WebP frames are encoded by libwebp (through libav) and JPEG
//! by libav's MJPEG encoder; either encoder's one packet is the whole image
//! file (RIFF/WebP, JFIF).

use std::io::Read;
use std::path::Path;

use ffmpeg_next as ffmpeg;
use ffmpeg_next::format::Pixel;
use ffmpeg_next::software::scaling;
use ffmpeg_next::{codec, frame, Packet, Rational};

use super::ffi;
use crate::progress::CancelToken;

/// Thumbnails are this many pixels high (the NVR's size).
pub const THUMBNAIL_HEIGHT: u32 = 180;

/// The image formats written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageFormat {
    WebP,
    Jpeg,
}

/// The demuxer for `path`'s content, or `None` when it is neither an MP4
/// nor a WebP, JPEG or PNG image.
pub fn sniff(path: &Path) -> std::io::Result<Option<&'static str>> {
    let mut head = [0u8; 12];
    let mut f = crate::output::confine::open_regular(path)?;
    let mut n = 0;
    while n < head.len() {
        match f.read(&mut head[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(sniff_bytes(&head[..n]))
}

/// [`sniff`] of a file's first bytes (12 are enough).
pub fn sniff_bytes(h: &[u8]) -> Option<&'static str> {
    if h.len() >= 12 && &h[0..4] == b"RIFF" && &h[8..12] == b"WEBP" {
        Some("webp_pipe")
    } else if h.starts_with(&[0xff, 0xd8, 0xff]) {
        Some("jpeg_pipe")
    } else if h.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("png_pipe")
    } else if h.len() >= 8 && matches!(&h[4..8], b"ftyp" | b"moov" | b"mdat" | b"free" | b"wide") {
        Some("mov")
    } else {
        None
    }
}

/// The picture on screen at `at_s` seconds into `path` (from its first
/// frame; 0 for an image), decoded.
pub fn frame_at(path: &Path, at_s: f64, cancel: &CancelToken) -> Result<frame::Video, String> {
    let demuxer = sniff(path)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?
        .ok_or_else(|| {
            format!(
                "{} is not an MP4 video or a WebP, JPEG or PNG image",
                path.display()
            )
        })?;
    let fail = |what: &str, e: ffmpeg::Error| format!("{what} {}: {e}", path.display());
    let mut input =
        ffi::open_input_as(path, demuxer, cancel).map_err(|e| fail("cannot open", e))?;
    let (index, tb, params, start) = {
        let st = input
            .ctx
            .streams()
            .best(ffmpeg::media::Type::Video)
            .ok_or_else(|| format!("{} has no video", path.display()))?;
        let start = match st.start_time() {
            ffmpeg::ffi::AV_NOPTS_VALUE => 0,
            t => t,
        };
        (st.index(), st.time_base(), st.parameters(), start)
    };
    let mut decoder = codec::context::Context::from_parameters(params)
        .and_then(|c| c.decoder().video())
        .map_err(|e| fail("cannot decode", e))?;
    let target = start + crate::time::ticks(at_s.max(0.0), tb);
    if demuxer == "mov" && target > start {
        ffi::seek_backward(&mut input, index, target).map_err(|e| fail("cannot seek in", e))?;
    }
    let mut shown: Option<frame::Video> = None;
    let mut decoded = frame::Video::empty();
    // Receives what the decoder has: the last frame at or before the
    // target is kept; the first one after it ends the search.
    let mut take = |dec: &mut ffmpeg::decoder::Video, shown: &mut Option<frame::Video>| {
        while dec.receive_frame(&mut decoded).is_ok() {
            let pts = decoded.timestamp().or(decoded.pts()).unwrap_or(target);
            if pts > target && shown.is_some() {
                return true;
            }
            *shown = Some(decoded.clone());
            if pts >= target {
                return true;
            }
        }
        false
    };
    for (stream, packet) in input.ctx.packets() {
        cancel.check().map_err(|e| e.to_string())?;
        if stream.index() != index {
            continue;
        }
        if decoder.send_packet(&packet).is_ok() && take(&mut decoder, &mut shown) {
            return shown.ok_or_else(|| format!("no picture decoded from {}", path.display()));
        }
    }
    let _ = decoder.send_eof();
    take(&mut decoder, &mut shown);
    shown.ok_or_else(|| format!("no picture could be decoded from {}", path.display()))
}

/// `frame` scaled to `width` x `height` in `format`.
pub fn scaled(
    frame: &frame::Video,
    format: Pixel,
    width: u32,
    height: u32,
) -> Result<frame::Video, String> {
    let mut sws = scaling::Context::get(
        frame.format(),
        frame.width(),
        frame.height(),
        format,
        width,
        height,
        scaling::Flags::BICUBIC,
    )
    .map_err(|e| format!("cannot scale {}x{}: {e}", frame.width(), frame.height()))?;
    let mut out = frame::Video::new(format, width, height);
    sws.run(frame, &mut out)
        .map_err(|e| format!("cannot scale {}x{}: {e}", frame.width(), frame.height()))?;
    Ok(out)
}

/// The width that keeps `frame`'s shape at `height` (even, at least 2).
pub fn width_for(frame: &frame::Video, height: u32) -> u32 {
    let (w, h) = (frame.width().max(1) as u64, frame.height().max(1) as u64);
    let wide = (w * height as u64 + h / 2) / h;
    (wide.max(2).div_ceil(2) * 2) as u32
}

/// `frame` scaled to [`THUMBNAIL_HEIGHT`] and encoded as one image file.
pub fn thumbnail(frame: &frame::Video, format: ImageFormat) -> Result<Vec<u8>, String> {
    let height = THUMBNAIL_HEIGHT;
    let width = width_for(frame, height);
    encode_image(frame, format, width, height)
}

/// `frame` at `width` x `height`, encoded as one image file.
pub fn encode_image(
    frame: &frame::Video,
    format: ImageFormat,
    width: u32,
    height: u32,
) -> Result<Vec<u8>, String> {
    let (name, pixel) = match format {
        ImageFormat::WebP => ("libwebp", Pixel::YUV420P),
        // Full-range YUV, what JPEG decoders expect.
        ImageFormat::Jpeg => ("mjpeg", Pixel::YUVJ420P),
    };
    let mut picture = scaled(frame, pixel, width, height)?;
    let enc = ffmpeg::encoder::find_by_name(name)
        .ok_or_else(|| format!("this libav has no {name} encoder"))?;
    let mut ctx = codec::context::Context::new_with_codec(enc)
        .encoder()
        .video()
        .map_err(|e| format!("{name}: {e}"))?;
    ctx.set_width(width);
    ctx.set_height(height);
    ctx.set_format(pixel);
    ctx.set_time_base(Rational(1, 25));
    let mut opts = ffmpeg::Dictionary::new();
    if format == ImageFormat::WebP {
        opts.set("quality", "75");
    }
    let mut encoder = ctx.open_with(opts).map_err(|e| format!("{name}: {e}"))?;
    picture.set_pts(Some(0));
    encoder
        .send_frame(&picture)
        .and_then(|_| encoder.send_eof())
        .map_err(|e| format!("{name}: {e}"))?;
    let mut packet = Packet::empty();
    let mut bytes = Vec::new();
    while encoder.receive_packet(&mut packet).is_ok() {
        if let Some(d) = packet.data() {
            bytes.extend_from_slice(d);
        }
    }
    if bytes.is_empty() {
        return Err(format!("{name} produced no image"));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_names_the_demuxer() {
        let dir = tempfile::tempdir().unwrap();
        let cases: [(&[u8], Option<&str>); 6] = [
            (b"RIFF\x10\0\0\0WEBPVP8 ", Some("webp_pipe")),
            (b"\xff\xd8\xff\xe0\0\x10JFIF", Some("jpeg_pipe")),
            (b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR", Some("png_pipe")),
            (b"\0\0\0\x20ftypisom\0\0\x02\0", Some("mov")),
            (b"#EXTM3U\n#EXT-X-VERSION:3\n", None),
            (b"ffconcat version 1.0\n", None),
        ];
        for (i, (bytes, want)) in cases.iter().enumerate() {
            let p = dir.path().join(format!("f{i}"));
            std::fs::write(&p, bytes).unwrap();
            assert_eq!(sniff(&p).unwrap(), *want, "case {i}");
        }
    }
}
