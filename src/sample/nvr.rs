//! Stores recorded the way the NVR records, not ideal ones.
//!
//! The NVR runs one long `ffmpeg` per camera that writes 10 s MP4 segments
//! with libav's segment muxer (`-f segment -segment_time 10 -segment_format
//! mp4 -reset_timestamps 1`), and catalogues each file with a start time
//! taken from its name (the second the file was created) and a duration of
//! frame count / nominal fps (`nvr-recordings.md`). This module does the
//! same in process: one continuous encode per camera session (parameter sets
//! repeated in band before every keyframe, as IP cameras send them; optional
//! B-frames, long GOPs, audio that joins late) through libav's segment
//! muxer, then catalogue rows computed the NVR's way. The properties that
//! follow are the real ones:
//!
//! * each file has its own header, written by its own muxer instance (so
//!   per-file measured fields such as `btrt` and the `esds` bit rates differ);
//! * segments split at the first keyframe after 10 s, so a long GOP makes
//!   longer segments;
//! * rows overlap by fractions of a second to seconds (whole-second starts)
//!   or leave small gaps, although the content is continuous; the first
//!   segment of a session overlaps most (its file is created after the input
//!   was probed);
//! * with B-frames each segment's first DTS is negative.

use std::fs;
use std::path::{Path, PathBuf};

use ffmpeg_next as ffmpeg;
use ffmpeg_next::Dictionary;

use super::{enc_err, encode, recording_path, Encoding, SampleStore, SegmentSpec};
use crate::catalogue::{Catalogue, Recording};
use crate::error::{Error, Result};
use crate::media;
use crate::progress::CancelToken;

/// One run of the camera's recorder: a continuous encode of `spec`
/// (whose `seconds_x1000` is the session length).
#[derive(Debug, Clone, Copy)]
pub struct Session {
    pub spec: SegmentSpec,
    /// Wall-clock gap before the session (camera offline); ignored for the first.
    pub gap_before_s: f64,
    /// Audio joins this long after the video starts.
    pub audio_late_s: f64,
    /// Time between the recorder starting and its first file being created
    /// (the first row's start is that much late).
    pub probe_delay_s: f64,
    /// The camera repeats its parameter sets in band before every keyframe
    /// (most IP cameras); `false`: they are only in each file's header.
    pub inband_params: bool,
    /// Variable frame rate: from this many seconds into the session, frames
    /// come at this lower rate (a divisor of the spec's `fps`).
    pub rate_change: Option<(f64, u32)>,
}

impl Session {
    pub fn new(spec: SegmentSpec) -> Session {
        Session {
            spec,
            gap_before_s: 0.0,
            audio_late_s: 0.0,
            probe_delay_s: 1.6,
            inband_params: true,
            rate_change: None,
        }
    }
}

/// A camera recorded the NVR's way that restarts at another resolution:
/// 25 s at 320x180 with its parameter sets in band, a 20 s outage, then
/// 12 s at 640x360 (new parameter sets), in band too when `inband_after`,
/// else only in the files' headers. The first session starts at `start_s`.
pub fn restart_store(
    root: &Path,
    camera: &str,
    start_s: f64,
    inband_after: bool,
) -> Result<SampleStore> {
    let spec = |width, height, secs: f64, seed| SegmentSpec {
        width,
        height,
        fps: 15,
        gop: 30,
        bitrate: 300_000,
        seed,
        ..SegmentSpec::camera_1080p(secs, seed)
    };
    let first = Session::new(spec(320, 180, 25.0, 1));
    let restart = Session {
        gap_before_s: 20.0,
        inband_params: inband_after,
        ..Session::new(spec(640, 360, 12.0, 2))
    };
    record_store(root, camera, start_s, &[first, restart])
}

/// Target segment length, as the NVR's record preset.
pub const SEGMENT_SECONDS: u32 = 10;

/// Records `sessions` of camera `camera` into a new store under `root`,
/// the first session starting at wall time `start_s` (may be fractional:
/// the rows' starts are truncated to the second, as the NVR's are).
pub fn record_store(
    root: &Path,
    camera: &str,
    start_s: f64,
    sessions: &[Session],
) -> Result<SampleStore> {
    let stores = record_cameras(root, &[(camera, start_s, sessions)])?;
    stores
        .into_iter()
        .next()
        .ok_or_else(|| Error::io(root, std::io::Error::other("no camera recorded")))
}

/// Several cameras recorded the NVR's way into one store (one catalogue,
/// one media folder): each `(camera, start_s, sessions)` as
/// [`record_store`] records one. A store per camera comes back, all
/// sharing `root`.
pub fn record_cameras(
    root: &Path,
    cameras: &[(&str, f64, &[Session])],
) -> Result<Vec<SampleStore>> {
    media::init();
    fs::create_dir_all(root).map_err(|e| Error::io(root, e))?;
    let root = &fs::canonicalize(root).map_err(|e| Error::io(root, e))?;
    let db_path = root.join("frigate.db");
    let mut cat = Catalogue::create(&db_path)?;
    let mut stores = Vec::new();
    for &(camera, start_s, sessions) in cameras {
        let recordings = record_camera(root, camera, start_s, sessions)?;
        super::insert_recordings(&mut cat, &recordings)?;
        stores.push(SampleStore::new(root, camera, recordings));
    }
    Ok(stores)
}

/// One camera's sessions recorded under `root`, its rows computed.
fn record_camera(
    root: &Path,
    camera: &str,
    start_s: f64,
    sessions: &[Session],
) -> Result<Vec<Recording>> {
    let media_dir = root.join("media");
    let mut recordings = Vec::new();
    let mut wall = start_s;
    for (n, session) in sessions.iter().enumerate() {
        if n > 0 {
            wall += session.gap_before_s;
        }
        let work = root.join(format!(".recorder-{camera}-{n}"));
        let segments = record_session(&work, session)?;
        for (i, seg) in segments.iter().enumerate() {
            let frames = crate::probe::probe(&seg.path, &CancelToken::new())
                .map_err(|s| Error::SegmentRead {
                    path: s.path.clone(),
                    message: s.reason,
                })?
                .video
                .timing
                .samples
                .len();
            let created = wall + seg.start_s + if i == 0 { session.probe_delay_s } else { 0.0 };
            let row_start = created.floor();
            let duration = frames as f64 / session.spec.fps as f64;
            let path = recording_path(&media_dir, camera, row_start);
            if let Some(dir) = path.parent() {
                fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
            }
            fs::rename(&seg.path, &path).map_err(|e| Error::io(&path, e))?;
            recordings.push(Recording {
                id: format!("{row_start:.0}.{n}{i:03}-{camera}"),
                camera: camera.to_string(),
                path,
                start_s: row_start,
                end_s: row_start + duration,
                duration_s: duration,
            });
        }
        wall += session.spec.seconds();
        fs::remove_dir_all(&work).map_err(|e| Error::io(&work, e))?;
    }
    Ok(recordings)
}

/// A segment file written by the segment muxer.
struct CacheSegment {
    path: PathBuf,
    /// Start of the segment in the session's media time (seconds).
    start_s: f64,
}

/// One continuous encode split into segments in `work`.
fn record_session(work: &Path, session: &Session) -> Result<Vec<CacheSegment>> {
    let (spec, audio_late_s) = (&session.spec, session.audio_late_s);
    fs::create_dir_all(work).map_err(|e| Error::io(work, e))?;
    let pattern = work.join("seg%05d.mp4");
    let list = work.join("segments.csv");
    {
        // `output_as` opens the pattern itself as a file; the segment muxer
        // never writes to it (it opens one file per segment).
        let mut octx = ffmpeg::format::output_as(&pattern, "segment")
            .map_err(|e| enc_err("create", &pattern, e))?;
        let mut opts = Dictionary::new();
        opts.set("segment_time", &SEGMENT_SECONDS.to_string());
        opts.set("segment_format", "mp4");
        opts.set("reset_timestamps", "1");
        opts.set("segment_format_options", "movflags=+faststart");
        opts.set("segment_list", &list.to_string_lossy());
        opts.set("segment_list_type", "csv");
        let how = Encoding {
            audio_from_s: audio_late_s,
            inband_params: session.inband_params,
            // RTSP cameras' 90 kHz clock.
            video_tb_den: 90_000,
            rate_change: session.rate_change,
        };
        encode(&mut octx, opts, spec, &how, &pattern)?;
    }
    let _ = fs::remove_file(&pattern);
    let text = fs::read_to_string(&list).map_err(|e| Error::io(&list, e))?;
    let mut out = Vec::new();
    for line in text.lines() {
        let mut f = line.split(',');
        let (Some(name), Some(start)) = (f.next(), f.next()) else {
            continue;
        };
        let start_s = start
            .trim()
            .parse::<f64>()
            .map_err(|_| Error::SegmentRead {
                path: list.clone(),
                message: format!("bad segment list line {line:?}"),
            })?;
        out.push(CacheSegment {
            path: work.join(name),
            start_s,
        });
    }
    Ok(out)
}
