//! Synthetic previews, as the NVR makes them: hourly preview MP4s (H.264,
//! 180 px high, frames at the instants given, so a variable frame rate, a
//! keyframe every 40 frames, no audio, `moov` first, catalogued in the
//! `previews` table at `<media>/clips/previews/<camera>/<start>-<end>.mp4`)
//! and cached preview frames (`<cache>/preview_frames/preview_<camera>-<ts>.webp`).

use std::fs;
use std::path::{Path, PathBuf};

use ffmpeg_next as ffmpeg;
use ffmpeg_next::format::Pixel;
use ffmpeg_next::Rational;

use super::{enc_err, paint, SampleStore};
use crate::catalogue::{Catalogue, Recording};
use crate::error::{Error, Result};
use crate::media;
use crate::media::encode::{self, VideoCodec, VideoSettings};
use crate::media::image::{self, ImageFormat};
use crate::source::previews::frames_dir;

/// Keyframe interval of the NVR's previews, in frames.
pub const PREVIEW_GOP: u32 = 40;

/// Preview time base: milliseconds.
const MS: Rational = Rational(1, 1000);

/// Writes a preview MP4 in `codec` (the NVR's are H.264; tests write
/// others) at `path`: one frame at each of `times_s` (seconds
/// from its start, increasing), the last one shown for `last_s`.
pub fn write_preview(
    codec: VideoCodec,
    path: &Path,
    width: u32,
    height: u32,
    times_s: &[f64],
    last_s: f64,
    seed: u32,
) -> Result<()> {
    media::init();
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    let err = |what: &'static str| move |e| enc_err(what, path, e);
    let settings = VideoSettings {
        codec,
        width,
        height,
        fps: 1000,
        gop: PREVIEW_GOP,
        b_frames: 0,
        bitrate: 0,
    };
    let mut out = encode::VideoFile::create(path, &settings, true, MS)
        .map_err(|(what, e)| enc_err(what, path, e))?;
    let pts: Vec<i64> = times_s
        .iter()
        .map(|t| (t * 1000.0).round() as i64)
        .collect();
    let last = (last_s * 1000.0).round() as i64;
    let mut frame = ffmpeg::frame::Video::new(Pixel::YUV420P, width, height);
    for (n, p) in pts.iter().enumerate() {
        paint(&mut frame, n as u64 * 7, seed, 0);
        frame.set_pts(Some(*p));
        let shown = pts.get(n + 1).map(|next| next - p).unwrap_or(last);
        out.push(&frame, shown).map_err(err("encode"))?;
    }
    out.finish().map_err(err("finish"))?;
    Ok(())
}

/// `<media>/clips/previews/<camera>/<start>-<end>.mp4`.
pub fn preview_path(media_dir: &Path, camera: &str, start_s: f64, end_s: f64) -> PathBuf {
    media_dir
        .join("clips")
        .join("previews")
        .join(camera)
        .join(format!("{start_s}-{end_s}.mp4"))
}

/// Writes and catalogues a preview of `store`'s camera over `[start_s,
/// end_s]` with frames at `times_s` (seconds from `start_s`); 320x180.
pub fn add_preview(
    store: &SampleStore,
    start_s: f64,
    end_s: f64,
    times_s: &[f64],
    seed: u32,
) -> Result<Recording> {
    let path = preview_path(&store.media_dir, &store.camera, start_s, end_s);
    let last_s = (end_s - start_s) - times_s.last().copied().unwrap_or(0.0);
    write_preview(
        VideoCodec::H264,
        &path,
        320,
        180,
        times_s,
        last_s.max(0.001),
        seed,
    )?;
    let row = Recording {
        id: format!("{start_s}-{}", store.camera),
        camera: store.camera.clone(),
        path,
        start_s,
        end_s,
        duration_s: end_s - start_s,
    };
    Catalogue::open(&store.db_path)?.insert_preview(&row)?;
    Ok(row)
}

/// Frame instants at `fps` over `seconds` (from 0).
pub fn steady_times(seconds: f64, fps: f64) -> Vec<f64> {
    let n = (seconds * fps).round() as usize;
    (0..n).map(|i| i as f64 / fps).collect()
}

/// Frame instants of an hour-long preview as the NVR writes them: two a
/// second while there is activity, one every 30 s when quiet; activity and
/// quiet alternate every 5 minutes (the phase moves with `seed`).
pub fn activity_times(seconds: f64, seed: u32) -> Vec<f64> {
    let mut out = Vec::new();
    let mut t = 0.0;
    let phase = (seed % 2) as f64 * 300.0;
    while t < seconds {
        out.push(t);
        let busy = ((t + phase) / 300.0).floor() as i64 % 2 == 0;
        t += if busy { 0.5 } else { 30.0 };
    }
    out
}

/// Writes a cached preview frame of `camera` taken at `ts_s` (a WebP,
/// 320x180) under `cache_dir`.
pub fn add_cached_frame(cache_dir: &Path, camera: &str, ts_s: f64, seed: u32) -> Result<PathBuf> {
    media::init();
    let dir = frames_dir(cache_dir);
    fs::create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
    let path = dir.join(format!("preview_{camera}-{ts_s}.webp"));
    let mut frame = ffmpeg::frame::Video::new(Pixel::YUV420P, 320, 180);
    paint(&mut frame, (ts_s * 10.0) as u64, seed, 0);
    let bytes = image::encode_image(&frame, ImageFormat::WebP, 320, 180)
        .map_err(|why| Error::media_state(format!("sample frame {}", path.display()), why))?;
    fs::write(&path, bytes).map_err(|e| Error::io(&path, e))?;
    Ok(path)
}
