//! The mosaic: several cameras tiled into one picture on one clock, for
//! sharing with people who have only a browser (a multi-track file plays
//! its first track there).
//!
//! Each camera is decoded on a thread of its own (its clips in order, each
//! frame placed on the shared timeline: its plan's output time plus the
//! clip's shift, see `plan::cameras`), into a bounded channel. This thread
//! steps through the shared timeline at the output rate and, at each step,
//! draws every camera's latest frame at or before that instant into its
//! cell of a `yuv420p` canvas (scaled with its aspect kept, centred on
//! black), or, where the camera has no footage then, a black cell with its
//! name. The canvases go through the same filter graph, encoder (hardware
//! preset or software, with the fallback) and muxer as a timelapse.
//!
//! The grid: `ceil(sqrt(n))` columns, as many rows as needed; each cell of
//! the largest camera's picture's shape and as large as it, the canvas at
//! most 1920x1080.
//! No audio (whose would it be?).

use std::path::Path;
use std::sync::mpsc;

use ffmpeg_next as ffmpeg;
use ffmpeg_next::format::Pixel;
use ffmpeg_next::software::scaling;

use super::args::EncodeOptions;
use super::gops::{self, Gop};
use super::label;
use super::preset::Preset;
use super::writer::{graph_spec, with_fallback, Pipeline};
use crate::error::{Error, Result, Warning};
use crate::media::hwctx::HwDevice;
use crate::plan::chapters::Chapter;
use crate::plan::timestamps::Cue;
use crate::plan::Plan;
use crate::probe::ProbedSegment;
use crate::progress::{CancelToken, Reporter};
use crate::remux::RemuxStats;
use crate::time::OutTicks;

/// The largest canvas.
const MAX_CANVAS: (u32, u32) = (1920, 1080);
/// Decoded frames waiting per camera.
const QUEUE: usize = 4;
/// Luma of black and of a label.
const BLACK: (u8, u8) = (16, 128);
const WHITE: u8 = 235;

/// One camera of a mosaic.
pub struct MosaicCamera<'a> {
    pub name: &'a str,
    pub plan: &'a Plan,
    pub segments: &'a [ProbedSegment],
    /// Per clip of `plan`: how much later it is shown than its plan's time.
    pub shift: Vec<OutTicks>,
    /// Where on the shared timeline the camera has footage (start, end).
    pub footage: Vec<(OutTicks, OutTicks)>,
}

/// A mosaic to write.
pub struct MosaicJob<'a> {
    pub cameras: Vec<MosaicCamera<'a>>,
    /// The shared timeline's length.
    pub total: OutTicks,
    /// Output frames a second.
    pub fps: u32,
    pub options: &'a EncodeOptions,
    pub chapters: &'a [Chapter],
    pub timestamps: &'a [Cue],
    pub metadata: &'a [(&'a str, String)],
    pub preset: Preset,
    pub cpu_fallback: bool,
}

/// The grid for `sizes` (each camera's first picture): columns, rows and
/// the cell size (even).
pub fn grid(sizes: &[(u32, u32)]) -> (u32, u32, (u32, u32)) {
    let n = sizes.len().max(1) as u32;
    let cols = (n as f64).sqrt().ceil() as u32;
    let rows = n.div_ceil(cols);
    let maxw = sizes.iter().map(|s| s.0).max().unwrap_or(320).max(2);
    let maxh = sizes.iter().map(|s| s.1).max().unwrap_or(180).max(2);
    // Cells of the largest picture's shape, as large as it or as the
    // canvas allows.
    let aspect = maxh as f64 / maxw as f64;
    let mut cw = maxw.min(MAX_CANVAS.0 / cols);
    let mut ch = (cw as f64 * aspect).round() as u32;
    if ch * rows > MAX_CANVAS.1 {
        ch = MAX_CANVAS.1 / rows;
        cw = (ch as f64 / aspect).round() as u32;
    }
    (cols, rows, ((cw & !1).max(2), (ch & !1).max(2)))
}

/// `src` fitted into `cell` with its aspect kept: size and offset, even.
fn fit(src: (u32, u32), cell: (u32, u32)) -> ((u32, u32), (u32, u32)) {
    let scale = (cell.0 as f64 / src.0.max(1) as f64).min(cell.1 as f64 / src.1.max(1) as f64);
    let w = ((src.0 as f64 * scale) as u32 & !1).clamp(2, cell.0);
    let h = ((src.1 as f64 * scale) as u32 & !1).clamp(2, cell.1);
    ((w, h), (((cell.0 - w) / 2) & !1, ((cell.1 - h) / 2) & !1))
}

/// Writes `job` to `out_path` (a staged file the caller owns).
pub fn write(
    job: &MosaicJob<'_>,
    out_path: &Path,
    reporter: &mut Reporter<'_>,
) -> Result<(RemuxStats, Option<Warning>)> {
    let on = (job.preset, job.cpu_fallback, job.options);
    with_fallback(on, out_path, reporter, &mut |preset, reporter| {
        write_with(job, preset, out_path, reporter)
    })
}

/// A camera's decoded frames as this thread takes them.
struct Feed<'a> {
    camera: &'a MosaicCamera<'a>,
    rx: mpsc::Receiver<Result<ffmpeg::frame::Video>>,
    /// The latest frame at or before the current instant.
    current: Option<ffmpeg::frame::Video>,
    next: Option<ffmpeg::frame::Video>,
    ended: bool,
    /// `current` scaled into its cell, and the scaler.
    scaled: Option<ffmpeg::frame::Video>,
    scaler: Option<(scaling::Context, (Pixel, u32, u32))>,
}

impl Feed<'_> {
    /// Takes frames up to `t`; a decoder's error ends the mosaic.
    fn advance(&mut self, t: i64) -> Result<()> {
        loop {
            if self.next.is_none() && !self.ended {
                match self.rx.recv() {
                    Ok(Ok(f)) => self.next = Some(f),
                    Ok(Err(e)) => return Err(e),
                    Err(_) => self.ended = true,
                }
            }
            match &self.next {
                Some(f) if f.pts().unwrap_or(i64::MIN) <= t => {
                    self.current = self.next.take();
                    self.scaled = None;
                }
                _ => return Ok(()),
            }
        }
    }

    fn has_footage(&self, t: i64) -> bool {
        self.camera
            .footage
            .iter()
            .any(|&(a, b)| a.0 <= t && t < b.0)
    }

    /// `current` scaled to `size` (kept until the next frame).
    fn scaled(&mut self, size: (u32, u32)) -> Result<Option<&ffmpeg::frame::Video>> {
        let Some(src) = &self.current else {
            return Ok(None);
        };
        if self.scaled.is_none() {
            let key = (src.format(), src.width(), src.height());
            if self.scaler.as_ref().map(|s| s.1) != Some(key) {
                let ctx = scaling::Context::get(
                    key.0,
                    key.1,
                    key.2,
                    Pixel::YUV420P,
                    size.0,
                    size.1,
                    scaling::Flags::BILINEAR,
                )
                .map_err(|e| Error::media("mosaic scaler", e))?;
                self.scaler = Some((ctx, key));
            }
            let mut out = ffmpeg::frame::Video::empty();
            if let Some((ctx, _)) = self.scaler.as_mut() {
                ctx.run(src, &mut out)
                    .map_err(|e| Error::media("mosaic scaling", e))?;
            }
            self.scaled = Some(out);
        }
        Ok(self.scaled.as_ref())
    }
}

fn write_with(
    job: &MosaicJob<'_>,
    preset: &Preset,
    out_path: &Path,
    reporter: &mut Reporter<'_>,
) -> Result<RemuxStats> {
    let device: Option<HwDevice> = preset.open_device()?;
    let cancel = reporter.cancel_token().clone();
    let sizes: Vec<(u32, u32)> = job
        .cameras
        .iter()
        .map(|c| {
            c.plan
                .clips
                .first()
                .map(|clip| &c.segments[clip.segment].probe.video)
                .map(|v| (v.width, v.height))
                .unwrap_or((320, 180))
        })
        .collect();
    let (cols, rows, cell) = grid(&sizes);
    let canvas = (cols * cell.0, rows * cell.1);
    let mut options = job.options.clone();
    options.rate = Some(job.fps as f64);
    let spec = graph_spec(&options, canvas, false, preset.frames);
    tracing::debug!(cols, rows, ?cell, graph = %spec, "mosaic");
    let total = job.total;
    let mut pipe = Pipeline::open(
        (&options, preset, &spec, device.as_ref()),
        out_path,
        (job.metadata, job.chapters),
        (job.timestamps, 1.0),
        total.seconds().max(0.001),
        &cancel,
    )?;
    let period = OutTicks::BASE.denominator() as i64 / job.fps.max(1) as i64;
    let steps = (total.0 + period - 1) / period;
    std::thread::scope(|scope| -> Result<()> {
        let mut feeds = Vec::with_capacity(job.cameras.len());
        for camera in &job.cameras {
            let (tx, rx) = mpsc::sync_channel(QUEUE);
            let token = cancel.clone();
            scope.spawn(move || decode_camera(camera, &token, &tx));
            feeds.push(Feed {
                camera,
                rx,
                current: None,
                next: None,
                ended: false,
                scaled: None,
                scaler: None,
            });
        }
        for k in 0..steps {
            cancel.check()?;
            let t = k * period;
            let mut frame = ffmpeg::frame::Video::new(Pixel::YUV420P, canvas.0, canvas.1);
            fill(&mut frame, 0, BLACK.0);
            fill(&mut frame, 1, BLACK.1);
            fill(&mut frame, 2, BLACK.1);
            for (i, feed) in feeds.iter_mut().enumerate() {
                feed.advance(t)?;
                let at = ((i as u32 % cols) * cell.0, (i as u32 / cols) * cell.1);
                let src = feed.current.as_ref().map(|f| (f.width(), f.height()));
                match src {
                    Some(src) if feed.has_footage(t) => {
                        let (size, off) = fit(src, cell);
                        if let Some(s) = feed.scaled(size)? {
                            blit(&mut frame, s, (at.0 + off.0, at.1 + off.1));
                        }
                    }
                    _ => name_cell(&mut frame, feed.camera.name, at, cell),
                }
            }
            frame.set_pts(Some(t));
            pipe.feed(&frame, reporter)?;
        }
        // Dropping the receivers stops the decoders at their next frame.
        drop(feeds);
        Ok(())
    })?;
    pipe.finish(total.0, reporter, out_path)
}

/// Decodes every clip of `camera` in order into `tx`, each frame on the
/// shared timeline; stops when the receiver is gone.
fn decode_camera(
    camera: &MosaicCamera<'_>,
    cancel: &CancelToken,
    tx: &mpsc::SyncSender<Result<ffmpeg::frame::Video>>,
) {
    for (ci, clip) in camera.plan.clips.iter().enumerate() {
        let gop = Gop {
            clip: ci,
            start_dts: clip.first_dts,
            end_dts: clip.end_dts,
            seek: clip.starts_mid_segment,
        };
        let job = gops::Job::new(gop, camera.plan, camera.segments);
        let shift = camera.shift.get(ci).copied().unwrap_or(OutTicks::ZERO).0;
        let r = gops::decode_each(&job, false, cancel, &mut |mut f| {
            let pts = f.pts().map(|p| p + shift);
            f.set_pts(pts);
            tx.send(Ok(f)).map_err(|_| Error::Cancelled)
        });
        match r {
            Ok(()) => {}
            Err(Error::Cancelled) => return,
            Err(e) => {
                let _ = tx.send(Err(e));
                return;
            }
        }
    }
}

/// Sets every byte of plane `p`.
fn fill(frame: &mut ffmpeg::frame::Video, p: usize, v: u8) {
    frame.data_mut(p).fill(v);
}

/// Copies `src` (yuv420p) into `dst` at `at` (even), clipped to `dst`.
fn blit(dst: &mut ffmpeg::frame::Video, src: &ffmpeg::frame::Video, at: (u32, u32)) {
    for p in 0..3 {
        let shift = u32::from(p > 0);
        let (w, h) = (src.width() >> shift, src.height() >> shift);
        let (dw, dh) = (dst.width() >> shift, dst.height() >> shift);
        let (x0, y0) = (at.0 >> shift, at.1 >> shift);
        let w = w.min(dw.saturating_sub(x0)) as usize;
        let (ss, ds) = (src.stride(p), dst.stride(p));
        for y in 0..h.min(dh.saturating_sub(y0)) as usize {
            let from = y * ss;
            let to = (y0 as usize + y) * ds + x0 as usize;
            let (Some(row), Some(out)) = (
                src.data(p).get(from..from + w),
                dst.data_mut(p).get_mut(to..to + w),
            ) else {
                continue;
            };
            out.copy_from_slice(row);
        }
    }
}

/// A cell with no footage: black (already), the camera's name centred.
fn name_cell(frame: &mut ffmpeg::frame::Video, name: &str, at: (u32, u32), cell: (u32, u32)) {
    let cell_w = cell.0 as usize;
    let mut scale = 4;
    while scale > 1 && label::width(name, scale) + 8 > cell_w {
        scale -= 1;
    }
    let w = label::width(name, scale).min(cell_w);
    let x = at.0 as usize + (cell_w - w) / 2;
    let y = at.1 as usize + (cell.1 as usize).saturating_sub(label::GLYPH_H * scale) / 2;
    let (stride, rows) = (frame.stride(0), frame.height() as usize);
    label::draw(frame.data_mut(0), stride, rows, (x, y), name, scale, WHITE);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_grid_fits_every_camera_and_the_canvas_stays_bounded() {
        assert_eq!(grid(&[(640, 360), (320, 180)]), (2, 1, (640, 360)));
        assert_eq!(grid(&[(320, 180); 3]), (2, 2, (320, 180)));
        let (c, r, cell) = grid(&[(1920, 1080); 16]);
        assert_eq!((c, r), (4, 4));
        assert!(c * cell.0 <= 1920 && r * cell.1 <= 1080);
        // Two 16:9 cameras side by side: 16:9 cells, not the canvas's height.
        assert_eq!(grid(&[(1280, 720), (960, 540)]), (2, 1, (960, 540)));
        // Two 4:3 over a tall canvas: the height bounds them.
        assert_eq!(grid(&[(1440, 1080); 4]), (2, 2, (720, 540)));
        // A 4:3 picture in a 16:9 cell: full height, centred.
        assert_eq!(fit((640, 480), (640, 360)), ((480, 360), (80, 0)));
        assert_eq!(fit((320, 180), (640, 360)), ((640, 360), (0, 0)));
    }
}
