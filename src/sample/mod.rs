//! Synthetic NVR stores: segments encoded in process from generated frames
//! and tones, laid out and catalogued exactly as the NVR does.
//!
//! Used by `nvr-export demo`, the test suite and the benchmark corpus. The
//! media are real H.264 (libx264) or HEVC (libx265) with AAC audio, muxed
//! into MP4 with `moov` first, each segment's timestamps starting at 0, like
//! the NVR's recorder writes them. Frames are a moving gradient whose phase
//! depends on a seed, so distinct segments have distinct bytes.

use std::collections::HashMap;
use std::fs;
use std::path::{Path, PathBuf};

use ffmpeg_next as ffmpeg;
use ffmpeg_next::codec;
use ffmpeg_next::format::{sample::Type as SampleType, Pixel, Sample};
use ffmpeg_next::{Dictionary, Packet, Rational};

use crate::catalogue::{Catalogue, Recording, ReviewSegment};
use crate::error::{Error, Result};
use crate::media::encode::{self, Route, VideoSettings};
use crate::media::{self, mux, mux::StreamSpec};

pub mod demo;
pub mod hls;
pub mod nvr;
pub mod previews;

pub use crate::media::encode::VideoCodec;
/// Makes a FIFO (tests plant them where files are expected).
pub use crate::output::mkfifo;

/// Audio track of a synthetic segment: a sine tone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AudioSpec {
    pub sample_rate: u32,
    pub channels: u16,
    pub tone_hz: u32,
}

impl Default for AudioSpec {
    fn default() -> Self {
        AudioSpec {
            sample_rate: 48_000,
            channels: 1,
            tone_hz: 440,
        }
    }
}

/// One synthetic segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SegmentSpec {
    pub width: u32,
    pub height: u32,
    pub fps: u32,
    /// Duration in whole frames is `seconds_x1000 * fps / 1000`.
    pub seconds_x1000: u32,
    /// Keyframe interval in frames.
    pub gop: u32,
    /// B-frames between reference frames (0: none, as the ideal stores).
    pub b_frames: u32,
    pub codec: VideoCodec,
    pub audio: Option<AudioSpec>,
    /// Target video bit rate (bits/s); 0 lets the encoder pick (CRF).
    pub bitrate: u32,
    /// Varies the picture so segments differ.
    pub seed: u32,
    /// Amplitude of per-frame luma noise (0 = none): makes the encoder spend
    /// its bit rate like a real camera picture does.
    pub noise: u8,
    /// Fragmented MP4 (`moof` per keyframe, empty `moov`) instead of one
    /// `moov` first.
    pub fragmented: bool,
}

impl SegmentSpec {
    /// A small H.264 + AAC segment: 320x180, 15 fps, keyframe every second.
    pub fn small(seconds: f64) -> SegmentSpec {
        SegmentSpec {
            width: 320,
            height: 180,
            fps: 15,
            seconds_x1000: (seconds * 1000.0).round() as u32,
            gop: 15,
            b_frames: 0,
            codec: VideoCodec::H264,
            audio: Some(AudioSpec::default()),
            bitrate: 0,
            seed: 0,
            noise: 0,
            fragmented: false,
        }
    }

    /// A camera-like segment: 1920x1080, 30 fps, keyframe every 2 s,
    /// ~2 Mbit/s, AAC 48 kHz, noisy picture.
    pub fn camera_1080p(seconds: f64, seed: u32) -> SegmentSpec {
        SegmentSpec {
            width: 1920,
            height: 1080,
            fps: 30,
            seconds_x1000: (seconds * 1000.0).round() as u32,
            gop: 60,
            b_frames: 0,
            codec: VideoCodec::H264,
            audio: Some(AudioSpec::default()),
            bitrate: 2_000_000,
            seed,
            noise: 24,
            fragmented: false,
        }
    }

    pub fn frames(&self) -> u64 {
        self.seconds_x1000 as u64 * self.fps as u64 / 1000
    }

    /// Video duration in seconds (whole frames).
    pub fn seconds(&self) -> f64 {
        self.frames() as f64 / self.fps as f64
    }
}

pub(crate) fn enc_err(what: &str, path: &Path, e: ffmpeg::Error) -> Error {
    Error::media(format!("sample {what} {}", path.display()), e)
}

/// Encodes one segment to `path` (MP4, `moov` first).
pub fn write_segment(path: &Path, spec: &SegmentSpec) -> Result<()> {
    media::init();
    if let Some(dir) = path.parent() {
        fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    let mut octx =
        ffmpeg::format::output_as(path, "mp4").map_err(|e| enc_err("create", path, e))?;
    encode(
        &mut octx,
        mux::faststart(),
        spec,
        &Encoding::default(),
        path,
    )
}

/// How a stream is encoded beyond its [`SegmentSpec`].
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Encoding {
    /// Audio starts this late (an audio track that joins late).
    pub audio_from_s: f64,
    /// Parameter sets repeated in band before every keyframe (what IP
    /// cameras send; the `dump_extra` bitstream filter does the same).
    pub inband_params: bool,
    /// Output video time base denominator (0: `fps * 1000`).
    pub video_tb_den: i32,
    /// A variable frame rate: from this many seconds on, frames come at
    /// this rate (a divisor of the spec's `fps`; a camera lowering its rate
    /// at night or on a bandwidth limit).
    pub rate_change: Option<(f64, u32)>,
}

/// Encodes `spec`'s frames and tone into `octx` (streams are added here),
/// writing the header with `header_opts` and the trailer at the end.
pub(crate) fn encode(
    octx: &mut ffmpeg::format::context::Output,
    header_opts: Dictionary,
    spec: &SegmentSpec,
    how: &Encoding,
    path: &Path,
) -> Result<()> {
    let err = |what: &'static str| move |e| enc_err(what, path, e);
    let global = octx
        .format()
        .flags()
        .contains(ffmpeg::format::Flags::GLOBAL_HEADER);

    let fps = spec.fps as i32;
    let settings = VideoSettings {
        codec: spec.codec,
        width: spec.width,
        height: spec.height,
        fps: spec.fps,
        gop: spec.gop,
        b_frames: spec.b_frames,
        bitrate: spec.bitrate,
    };
    let mut venc = encode::open_video(&settings, global).map_err(err("open video encoder"))?;
    let video_tb_den = if how.video_tb_den > 0 {
        how.video_tb_den
    } else {
        fps * 1000
    };
    let video_stream = StreamSpec {
        parameters: codec::Parameters::from(&venc),
        time_base: Rational(1, video_tb_den),
        tag: None,
    };
    mux::add_stream(octx, video_stream).map_err(err("video stream"))?;
    let inband: Option<Vec<u8>> = how
        .inband_params
        .then(|| media::ffi::encoder_extradata(&venc));

    let mut aenc = match spec.audio {
        None => None,
        Some(a) => {
            let (enc, layout) = encode::open_aac(a.sample_rate, a.channels, 64_000, global)
                .map_err(err("open audio encoder"))?;
            let audio_stream = StreamSpec {
                parameters: codec::Parameters::from(&enc),
                time_base: Rational(1, a.sample_rate as i32),
                tag: None,
            };
            mux::add_stream(octx, audio_stream).map_err(err("audio stream"))?;
            Some((enc, a, layout))
        }
    };

    // The muxer may change stream time bases in write_header: read them back.
    let tbs = mux::write_header(octx, header_opts).map_err(err("write header"))?;
    let stream_tb = |i: usize, fallback| tbs.get(i).copied().unwrap_or(fallback);
    let vroute = Route {
        stream: 0,
        encoder_tb: Rational(1, fps),
        stream_tb: stream_tb(0, Rational(1, video_tb_den)),
        prefix_keyframes: inband.as_deref(),
    };
    let a_rate = spec.audio.map(|a| a.sample_rate as i32).unwrap_or(48_000);
    let aroute = Route {
        stream: 1,
        encoder_tb: Rational(1, a_rate),
        stream_tb: stream_tb(1, Rational(1, a_rate)),
        prefix_keyframes: None,
    };

    // Frame `n`'s time in 1/fps units: every frame until the rate change,
    // then every `step`-th instant.
    let (change_at, step) = match how.rate_change {
        Some((at_s, slower)) if slower > 0 && spec.fps.is_multiple_of(slower) => (
            (at_s * spec.fps as f64).round() as u64,
            (spec.fps / slower) as u64,
        ),
        _ => (u64::MAX, 1),
    };
    let pts_of = |n: u64| {
        if n < change_at {
            n
        } else {
            change_at + (n - change_at) * step
        }
    };
    let frames = if change_at < spec.frames() {
        change_at + (spec.frames() - change_at).div_ceil(step)
    } else {
        spec.frames()
    };
    let total_s = spec.seconds();
    let audio_from = (how.audio_from_s.max(0.0) * a_rate as f64).round() as u64;
    let mut vframe = ffmpeg::frame::Video::new(Pixel::YUV420P, spec.width, spec.height);
    let mut next_video = 0u64;
    let mut next_sample = audio_from;
    let mut packet = Packet::empty();

    loop {
        let vt = pts_of(next_video) as f64 / fps as f64;
        let at = match &aenc {
            Some((_, a, _)) => next_sample as f64 / a.sample_rate as f64,
            None => f64::INFINITY,
        };
        let video_left = next_video < frames;
        let audio_left = at < total_s;
        if !video_left && !audio_left {
            break;
        }
        if video_left && (vt <= at || !audio_left) {
            paint(&mut vframe, next_video, spec.seed, spec.noise);
            vframe.set_pts(Some(pts_of(next_video) as i64));
            venc.send_frame(&vframe).map_err(err("encode video"))?;
            drain(&mut venc, &mut packet, octx, vroute, path)?;
            next_video += 1;
        } else if let Some((enc, a, layout)) = aenc.as_mut() {
            let n = enc.frame_size().max(1024) as usize;
            let mut af = ffmpeg::frame::Audio::new(Sample::F32(SampleType::Planar), n, *layout);
            af.set_rate(a.sample_rate);
            for ch in 0..a.channels as usize {
                let plane = af.plane_mut::<f32>(ch);
                for (i, s) in plane.iter_mut().enumerate() {
                    let t = (next_sample + i as u64) as f64 / a.sample_rate as f64;
                    *s = (0.2 * (2.0 * std::f64::consts::PI * a.tone_hz as f64 * t).sin()) as f32;
                }
            }
            af.set_pts(Some(next_sample as i64));
            enc.send_frame(&af).map_err(err("encode audio"))?;
            drain(enc, &mut packet, octx, aroute, path)?;
            next_sample += n as u64;
        }
    }
    venc.send_eof().map_err(err("flush video"))?;
    drain(&mut venc, &mut packet, octx, vroute, path)?;
    if let Some((enc, _, _)) = aenc.as_mut() {
        enc.send_eof().map_err(err("flush audio"))?;
        drain(enc, &mut packet, octx, aroute, path)?;
    }
    octx.write_trailer().map_err(err("write trailer"))?;
    Ok(())
}

/// Moves every packet the encoder has ready into the muxer.
fn drain(
    enc: &mut ffmpeg::encoder::Encoder,
    packet: &mut Packet,
    octx: &mut ffmpeg::format::context::Output,
    route: Route<'_>,
    path: &Path,
) -> Result<()> {
    encode::drain(enc, packet, octx, route).map_err(|e| enc_err("write packet", path, e))
}

/// A moving diagonal gradient; chroma drifts with the seed.
pub(crate) fn paint(frame: &mut ffmpeg::frame::Video, n: u64, seed: u32, noise: u8) {
    let (w, h) = (frame.width() as usize, frame.height() as usize);
    let stride = frame.stride(0);
    let shift = (n as usize * 3 + seed as usize * 37) & 0xff;
    let mut rng: u32 = (seed.wrapping_mul(2_654_435_761) ^ (n as u32).wrapping_mul(40_503)) | 1;
    let y = frame.data_mut(0);
    for row in 0..h {
        let line = &mut y[row * stride..row * stride + w];
        for (x, px) in line.iter_mut().enumerate() {
            let mut v = ((x + row + shift) & 0xff) as u8;
            if noise > 0 {
                // xorshift32
                rng ^= rng << 13;
                rng ^= rng >> 17;
                rng ^= rng << 5;
                v = v.wrapping_add((rng % noise as u32) as u8);
            }
            *px = v;
        }
    }
    for plane in 1..3 {
        let stride = frame.stride(plane);
        let v = (64 + (seed as usize * 29 + plane * 50 + n as usize) % 128) as u8;
        let data = frame.data_mut(plane);
        for row in 0..h / 2 {
            data[row * stride..row * stride + w / 2].fill(v);
        }
    }
}

/// One segment of a sample store: the media spec and the wall-clock gap
/// before it (0 for back-to-back recording).
#[derive(Debug, Clone, Copy)]
pub struct SegmentPlan {
    pub spec: SegmentSpec,
    pub gap_before_s: f64,
}

/// A generated store: catalogue plus media folder.
#[derive(Debug, Clone)]
pub struct SampleStore {
    pub root: PathBuf,
    pub db_path: PathBuf,
    pub media_dir: PathBuf,
    pub camera: String,
    pub recordings: Vec<Recording>,
}

impl SampleStore {
    /// The store under `root` (`frigate.db`, `media/`) with these recordings.
    pub(crate) fn new(root: &Path, camera: &str, recordings: Vec<Recording>) -> SampleStore {
        SampleStore {
            root: root.to_path_buf(),
            db_path: root.join("frigate.db"),
            media_dir: root.join("media"),
            camera: camera.to_string(),
            recordings,
        }
    }

    pub fn start_s(&self) -> f64 {
        self.recordings.first().map(|r| r.start_s).unwrap_or(0.0)
    }
    pub fn end_s(&self) -> f64 {
        self.recordings.last().map(|r| r.end_s).unwrap_or(0.0)
    }
}

/// `recordings/YYYY-MM-DD/HH/<camera>/MM.SS.mp4` (UTC), the NVR's layout.
pub fn recording_path(media_dir: &Path, camera: &str, start_s: f64) -> PathBuf {
    let t = crate::timefmt::utc_datetime(start_s);
    media_dir
        .join("recordings")
        .join(t.format("%Y-%m-%d").to_string())
        .join(t.format("%H").to_string())
        .join(camera)
        .join(t.format("%M.%S.mp4").to_string())
}

/// Builds a store under `root` (created; must not hold a catalogue yet):
/// `root/frigate.db` and `root/media/...`. Identical specs are encoded once
/// and copied.
pub fn build_store(
    root: &Path,
    camera: &str,
    start_s: f64,
    segments: &[SegmentPlan],
) -> Result<SampleStore> {
    fs::create_dir_all(root).map_err(|e| Error::io(root, e))?;
    // The NVR stores absolute paths; so do we, whatever `root` was given as.
    let root = &fs::canonicalize(root).map_err(|e| Error::io(root, e))?;
    let media_dir = root.join("media");
    fs::create_dir_all(&media_dir).map_err(|e| Error::io(&media_dir, e))?;
    let db_path = root.join("frigate.db");
    let mut cat = Catalogue::create(&db_path)?;
    let mut encoded: HashMap<SegmentSpec, PathBuf> = HashMap::new();
    let mut recordings = Vec::new();
    let mut t = start_s;
    for (i, seg) in segments.iter().enumerate() {
        t += seg.gap_before_s;
        let path = recording_path(&media_dir, camera, t);
        match encoded.get(&seg.spec) {
            Some(src) => {
                if let Some(dir) = path.parent() {
                    fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
                }
                fs::copy(src, &path).map_err(|e| Error::io(&path, e))?;
            }
            None => {
                write_segment(&path, &seg.spec)?;
                encoded.insert(seg.spec, path.clone());
            }
        }
        let dur = seg.spec.seconds();
        recordings.push(Recording {
            id: format!("{start_s:.0}.{i:04}-{camera}"),
            camera: camera.to_string(),
            path,
            start_s: t,
            end_s: t + dur,
            duration_s: dur,
        });
        t += dur;
    }
    insert_recordings(&mut cat, &recordings)?;
    Ok(SampleStore::new(root, camera, recordings))
}

/// Opens a store built earlier under `root` (its first camera).
pub fn open_store(root: &Path) -> Result<SampleStore> {
    let root = &fs::canonicalize(root).map_err(|e| Error::io(root, e))?;
    let db_path = root.join("frigate.db");
    let cat = Catalogue::open(&db_path)?;
    let camera = cat
        .cameras()?
        .into_iter()
        .next()
        .unwrap_or_else(|| "front_door".into());
    let (recordings, _) = cat.recordings_overlapping(&camera, 0.0, 1e12)?;
    Ok(SampleStore::new(root, &camera, recordings))
}

/// Catalogues `recordings` (segment size from the file, as the NVR's rows).
pub(crate) fn insert_recordings(cat: &mut Catalogue, recordings: &[Recording]) -> Result<()> {
    cat.in_transaction(|c| {
        for r in recordings {
            let mb = fs::metadata(&r.path)
                .map(|m| m.len() as f64 / 1e6)
                .unwrap_or(0.0);
            c.insert_recording(r, mb)?;
        }
        Ok(())
    })
}

/// Adds a review item to a store's catalogue.
pub fn add_review(
    store: &SampleStore,
    id: &str,
    start_s: f64,
    end_s: Option<f64>,
    severity: &str,
    data_json: &str,
) -> Result<()> {
    let cat = Catalogue::open(&store.db_path)?;
    cat.insert_review(
        &ReviewSegment {
            id: id.to_string(),
            camera: store.camera.clone(),
            start_s,
            end_s,
            severity: severity.to_string(),
            data: data_json.to_string(),
        },
        data_json,
    )
}
