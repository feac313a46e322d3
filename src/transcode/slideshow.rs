//! The cached preview frames of the current hour as video.
//!
//! A preview export covers the part of its range that no hourly preview
//! MP4 holds yet with the NVR's cached frames (`source::previews`), each
//! shown for `FRAME_SHOWN_S` (0.12 s), as the NVR's exporter does. Each
//! frame is decoded (WebP), scaled to the export's picture size and encoded
//! with libx264 (software, the NVR's default preset settings) into an MP4
//! that the export then appends like any other segment.
//!
//! The encoder runs without a global header, so every keyframe carries its
//! SPS/PPS in band: the stream-copy writers can then append this video
//! after preview files encoded with other parameter sets (see
//! `remux::tracks`), no re-encode of the previews needed.

use std::path::Path;

use ffmpeg_next as ffmpeg;
use ffmpeg_next::format::Pixel;
use ffmpeg_next::Rational;

use crate::error::{Error, Result, SkippedSegment};
use crate::media::encode::{self, VideoCodec, VideoSettings};
use crate::media::image;
use crate::progress::CancelToken;
use crate::source::previews::{CachedFrame, FRAME_SHOWN_S};

/// Encoder ticks a second: 0.12 s is 3 of them.
const TICKS_PER_S: i32 = 25;
/// Keyframe interval, in frames (as the NVR's previews).
const GOP: u32 = 40;

/// What [`encode`] wrote.
#[derive(Debug, Clone, PartialEq)]
pub struct Slideshow {
    pub frames: usize,
    pub width: u32,
    pub height: u32,
    /// Frames that could not be decoded, and why.
    pub skipped: Vec<SkippedSegment>,
}

/// Encodes `frames` into an MP4 at `out`, at `size` (default: the first
/// decodable frame's, rounded to even). Fails when no frame decodes.
pub fn encode(
    frames: &[CachedFrame],
    size: Option<(u32, u32)>,
    out: &Path,
    cancel: &CancelToken,
) -> Result<Slideshow> {
    crate::media::init();
    let mut skipped = Vec::new();
    let mut pictures = frames
        .iter()
        .filter_map(|f| match image::frame_at(&f.path, 0.0, cancel) {
            Ok(p) => Some(p),
            Err(reason) => {
                skipped.push(SkippedSegment {
                    path: f.path.clone(),
                    reason,
                });
                None
            }
        });
    let Some(first) = pictures.next() else {
        drop(pictures);
        return Err(Error::UnreadableSegments { skipped });
    };
    let (width, height) = size.unwrap_or_else(|| {
        let even = |v: u32| (v.max(2) / 2) * 2;
        (even(first.width()), even(first.height()))
    });
    let err = |what: &str| {
        let what = format!("preview frames video {}: {what}", out.display());
        move |e: ffmpeg::Error| Error::media(what, e)
    };
    let settings = VideoSettings {
        codec: VideoCodec::H264,
        width,
        height,
        fps: TICKS_PER_S as u32,
        gop: GOP,
        b_frames: 0,
        bitrate: 0,
    };
    let mut file = encode::VideoFile::create(out, &settings, false, Rational(1, TICKS_PER_S))
        .map_err(|(what, e)| err(what)(e))?;
    let shown = (FRAME_SHOWN_S * TICKS_PER_S as f64).round() as i64;
    let mut count = 0usize;
    for picture in std::iter::once(first).chain(pictures) {
        cancel.check()?;
        let mut yuv = image::scaled(&picture, Pixel::YUV420P, width, height)
            .map_err(|why| Error::media_state("preview frames video", why))?;
        yuv.set_pts(Some(count as i64 * shown));
        file.push(&yuv, shown).map_err(err("encode"))?;
        count += 1;
    }
    file.finish().map_err(err("finish"))?;
    Ok(Slideshow {
        frames: count,
        width,
        height,
        skipped,
    })
}
