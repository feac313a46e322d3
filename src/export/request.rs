//! The request stage: what an export is asked to do ([`ExportRequest`],
//! where the NVR keeps things ([`Layout`]), where the media comes from
//! ([`Source`])) and [`check`], which refuses a bad request before anything
//! is read or written.

use std::path::PathBuf;

use crate::error::{Error, Result, Warning};
use crate::output;
use crate::plan::chapters::ChapterMode;
use crate::timefmt::Zone;
use crate::transcode::args::EncodeOptions;

/// Earliest and latest instants an export range may touch (2000-01-01 and
/// 2100-01-01 UTC): anything else is a unit or typing mistake.
const EARLIEST_S: f64 = 946_684_800.0;
const LATEST_S: f64 = 4_102_444_800.0;

/// Where the NVR keeps things. Every path is configurable; the defaults
/// are the NVR's.
#[derive(Debug, Clone)]
pub struct Layout {
    /// The catalogue (`/config/frigate.db`).
    pub db_path: PathBuf,
    /// The media root (`/media/frigate`): exports go to `<media>/exports`.
    pub media_dir: PathBuf,
    /// Folders besides `media_dir` that recordings may be read from
    /// (recordings on another disk). A catalogue path outside all of them
    /// is not read.
    pub recording_roots: Vec<PathBuf>,
    /// The NVR's cache folder (`/tmp/cache`): cached preview frames are in
    /// its `preview_frames/`.
    pub cache_dir: PathBuf,
    /// Where exports are written; `None`: `<media>/exports` (the NVR's
    /// `EXPORT_DIR`, which its tests and installs may move).
    pub exports_dir: Option<PathBuf>,
    /// The clips folder; `None`: `<media>/clips` (the NVR's `CLIPS_DIR`).
    /// Thumbnails go to its `export/`; a user's thumbnail may come from it.
    pub clips_dir: Option<PathBuf>,
}

impl Layout {
    pub fn new(db_path: impl Into<PathBuf>, media_dir: impl Into<PathBuf>) -> Layout {
        Layout {
            db_path: db_path.into(),
            media_dir: media_dir.into(),
            recording_roots: Vec::new(),
            cache_dir: PathBuf::from("/tmp/cache"),
            exports_dir: None,
            clips_dir: None,
        }
    }

    /// The export folder: [`Layout::exports_dir`] or `<media>/exports`.
    pub fn export_dir(&self) -> PathBuf {
        match &self.exports_dir {
            Some(dir) => dir.clone(),
            None => self.media_dir.join("exports"),
        }
    }

    /// The clips folder: [`Layout::clips_dir`] or `<media>/clips`.
    pub fn clips_dir(&self) -> PathBuf {
        match &self.clips_dir {
            Some(dir) => dir.clone(),
            None => self.media_dir.join("clips"),
        }
    }
}

/// Most cameras one export may hold.
pub const MAX_CAMERAS: usize = 16;

/// One export to run.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ExportRequest {
    /// The camera; of a multi-camera export, the first of [`cameras`](Self::cameras)
    /// (may be left empty there).
    #[serde(default)]
    pub camera: String,
    /// Several cameras in one file on one clock (2 to 16, the first's video
    /// the default track; see `plan::cameras`). Empty: `camera` alone.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cameras: Vec<String>,
    /// With several cameras: tile them into one picture (re-encoded)
    /// instead of one track each.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub mosaic: bool,
    /// Requested range, unix seconds (`start` and `end` in JSON too).
    #[serde(alias = "start")]
    pub start_s: f64,
    #[serde(alias = "end")]
    pub end_s: f64,
    /// Display name; default `"<camera with _ as space> <start> <end>"`.
    #[serde(default)]
    pub name: Option<String>,
    /// Export id; default `<camera>_<6 random [a-z0-9]>`.
    #[serde(default)]
    pub id: Option<String>,
    /// IANA timezone for names, titles and chapter titles.
    #[serde(default)]
    pub timezone: Option<String>,
    #[serde(default)]
    pub export_case_id: Option<String>,
    #[serde(default)]
    pub chapters: ChapterMode,
    /// Where the media comes from (default: the NVR's recording files).
    #[serde(default)]
    pub source: Source,
    /// Re-encode with these NVR-style arguments instead of copying (a
    /// timelapse: [`EncodeArgs::timelapse`]).
    #[serde(default)]
    pub encode: Option<EncodeArgs>,
    /// The thumbnail's picture (an image under the media or cache folder);
    /// default: a frame of the previews at the start.
    #[serde(default)]
    pub thumbnail: Option<PathBuf>,
    /// Where a recordings export starts: at the keyframe before the start
    /// (the NVR's way, the default) or exactly at it.
    #[serde(default)]
    pub start_at: StartAt,
    /// Adds a subtitle track (`tx3g`) showing the wall-clock time of every
    /// second of the output in `timezone` (UTC when unset), so that
    /// collapsed gaps do not hide when footage was recorded.
    #[serde(default)]
    pub timestamps: bool,
    /// Writes `<export>.manifest.json` beside the export: its SHA-256 and
    /// those of its source segments, the request, the versions (see
    /// `export::manifest`).
    #[serde(default)]
    pub manifest: bool,
    /// Signs the manifest with this Ed25519 key (`nvr-export keygen`);
    /// implies `manifest`.
    #[serde(default)]
    pub sign_key: Option<PathBuf>,
}

/// Where an export of recordings starts.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StartAt {
    /// At the keyframe before the requested start, shown (the NVR's way:
    /// up to a whole GOP early, 20-60 s on "smart codec" cameras).
    #[default]
    Keyframe,
    /// Exactly at the requested start: the samples from the keyframe
    /// before it are copied and hidden by an edit list, the frame on
    /// screen at the start is shown from the start, the last frame ends at
    /// the requested end (as preview exports are cut).
    Exact,
}

/// NVR-style "ffmpeg args" for a re-encoding export. Untrusted: parsed
/// through the allowlist (`transcode::args`) before anything runs.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct EncodeArgs {
    #[serde(default)]
    pub input_args: String,
    #[serde(default)]
    pub output_args: String,
    /// Hardware preset (`preset-vaapi`, `preset-nvidia`, ..., `auto`);
    /// `None`: software.
    #[serde(default)]
    pub hwaccel: Option<String>,
    /// On a hardware failure, encode again in software.
    #[serde(default)]
    pub cpu_fallback: bool,
}

impl EncodeArgs {
    /// The NVR's default timelapse: 25x faster, 30 frames a second.
    pub fn timelapse() -> EncodeArgs {
        EncodeArgs {
            output_args: crate::transcode::args::DEFAULT_TIMELAPSE_ARGS.to_string(),
            ..EncodeArgs::default()
        }
    }
}

/// Where an export's media comes from.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Source {
    /// The catalogue's recordings, read from the media folder.
    #[default]
    Recordings,
    /// The NVR's HLS VOD server (see `source::hls`).
    Hls(HlsSource),
    /// The hourly preview files, trimmed exactly to the range, and the
    /// cached preview frames for what no preview file holds yet (see
    /// `source::previews`).
    Preview,
}

/// An HLS source: a playlist URL, or the NVR's base URL from which the
/// `/vod/clip/<camera>/start/<s>/end/<e>/index.m3u8` path is built.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct HlsSource {
    /// A master or media playlist.
    #[serde(default)]
    pub url: Option<String>,
    /// The NVR's address, e.g. `http://127.0.0.1:5000`.
    #[serde(default)]
    pub base: Option<String>,
    /// Hosts besides loopback that may be contacted.
    #[serde(default)]
    pub allow_hosts: Vec<String>,
}

impl ExportRequest {
    /// A multi-camera export of `cameras` (the first names the row).
    pub fn cameras<S: Into<String>>(
        cameras: impl IntoIterator<Item = S>,
        start_s: f64,
        end_s: f64,
    ) -> ExportRequest {
        let cameras: Vec<String> = cameras.into_iter().map(Into::into).collect();
        let mut req =
            ExportRequest::new(cameras.first().cloned().unwrap_or_default(), start_s, end_s);
        req.cameras = cameras;
        req
    }

    /// Every camera of the export, in order.
    pub fn camera_list(&self) -> Vec<&str> {
        if self.cameras.is_empty() {
            vec![self.camera.as_str()]
        } else {
            self.cameras.iter().map(String::as_str).collect()
        }
    }

    /// Whether this is a multi-camera export.
    pub fn is_multi(&self) -> bool {
        self.cameras.len() > 1
    }

    /// This request for one camera alone (a multi-camera export's reads).
    pub(crate) fn for_camera(&self, camera: &str) -> ExportRequest {
        let mut one = self.clone();
        one.camera = camera.to_string();
        one.cameras = Vec::new();
        one.mosaic = false;
        one
    }

    pub fn new(camera: impl Into<String>, start_s: f64, end_s: f64) -> ExportRequest {
        ExportRequest {
            camera: camera.into(),
            cameras: Vec::new(),
            mosaic: false,
            start_s,
            end_s,
            name: None,
            id: None,
            timezone: None,
            export_case_id: None,
            chapters: ChapterMode::default(),
            source: Source::Recordings,
            encode: None,
            thumbnail: None,
            start_at: StartAt::Keyframe,
            timestamps: false,
            manifest: false,
            sign_key: None,
        }
    }
}

/// Refuses a bad request with a typed error naming the problem, before
/// anything is read; returns the typed options of a re-encoding export.
pub(super) fn check(req: &ExportRequest) -> Result<Option<EncodeOptions>> {
    let bad_range = |reason| Error::InvalidRange {
        start_s: req.start_s,
        end_s: req.end_s,
        reason,
    };
    if !(req.start_s.is_finite() && req.end_s.is_finite()) {
        return Err(bad_range("start and end must be numbers of seconds"));
    }
    if req.start_s >= req.end_s {
        return Err(bad_range("the start must be before the end"));
    }
    if req.start_s < EARLIEST_S || req.end_s > LATEST_S {
        return Err(bad_range(
            "outside 2000-01-01 to 2100-01-01: not an NVR recording time",
        ));
    }
    if req.cameras.is_empty() {
        output::validate_component("camera", &req.camera)?;
    }
    if !req.cameras.is_empty() {
        check_cameras(req)?;
    } else if req.mosaic {
        return Err(Error::ForbiddenArgument {
            arg: "--mosaic".into(),
            reason: "a mosaic tiles several cameras: name 2 to 16 with --camera".into(),
        });
    }
    if let Some(id) = &req.id {
        output::validate_component("export id", id)?;
        output::validate_id_length(id)?;
    }
    if let Some(tz) = &req.timezone {
        if Zone::parse(Some(tz)).is_none() {
            return Err(Error::InvalidName {
                what: "timezone",
                value: tz.clone(),
                reason: "is not an IANA time zone name (e.g. Europe/Berlin, UTC)",
            });
        }
    }
    if let Some(name) = &req.name {
        output::validate_display_name(name)?;
    }
    if let Some(case) = &req.export_case_id {
        output::validate_component("export case id", case)?;
    }
    match &req.encode {
        Some(a) => encode_options(req, a).map(Some),
        None => Ok(None),
    }
}

/// A multi-camera request: 2 to 16 distinct valid names, the first the
/// request's camera, from the recordings, copied (or tiled by `mosaic`).
fn check_cameras(req: &ExportRequest) -> Result<()> {
    let bad = |reason: String| Error::ForbiddenArgument {
        arg: "--camera".into(),
        reason,
    };
    let n = req.cameras.len();
    if n > MAX_CAMERAS || (n < 2 && req.mosaic) {
        return Err(bad(format!(
            "{n} cameras: a multi-camera export takes 2 to {MAX_CAMERAS}"
        )));
    }
    for (i, c) in req.cameras.iter().enumerate() {
        output::validate_component("camera", c)?;
        if req.cameras[..i].contains(c) {
            return Err(bad(format!("camera {c:?} is named twice")));
        }
    }
    if !req.camera.is_empty() && req.camera != req.cameras[0] {
        return Err(bad(format!(
            "the request's camera {:?} is not the first of its cameras ({:?})",
            req.camera, req.cameras[0]
        )));
    }
    if req.source != Source::Recordings {
        return Err(bad(
            "several cameras are exported from the recordings only (not the previews or the VOD server)"
                .into(),
        ));
    }
    if req.encode.is_some() && !req.mosaic {
        return Err(bad(
            "several cameras are copied one track each; to re-encode them, tile them with --mosaic"
                .into(),
        ));
    }
    Ok(())
}

/// The untrusted encode arguments through the allowlist.
fn encode_options(req: &ExportRequest, a: &EncodeArgs) -> Result<EncodeOptions> {
    if matches!(req.source, Source::Hls(_)) {
        return Err(Error::ForbiddenArgument {
            arg: "--input-args/--output-args".into(),
            reason:
                "re-encoding reads the recording files; it is not available with the HLS source"
                    .into(),
        });
    }
    let mut options = crate::transcode::args::parse(&a.input_args, &a.output_args)?;
    if req.source == Source::Preview {
        // Previews have keyframes only every 40 frames and no audio worth
        // keeping: decode the keyframes (as the NVR).
        options.skip_frame = Some("nokey".into());
        options.no_audio = true;
    }
    Ok(options)
}

/// The request as the export is named and recorded: an HLS playlist URL
/// that names its own range (`.../start/<s>/end/<e>/...`) holds that range,
/// so the file and row are named for it, with a warning when it is not the
/// range asked for (footage is never labelled with times it does not show).
pub(super) fn as_named(req: &ExportRequest) -> (ExportRequest, Option<Warning>) {
    let mut named = req.clone();
    if let Some(first) = req.cameras.first() {
        named.camera = first.clone();
    }
    let Source::Hls(HlsSource { url: Some(url), .. }) = &req.source else {
        return (named, None);
    };
    let Some((start_s, end_s)) = reqwest::Url::parse(url)
        .ok()
        .and_then(|u| crate::source::hls::playlist::url_range(&u))
    else {
        return (named, None);
    };
    if start_s >= end_s || ((start_s - req.start_s).abs() < 1.0 && (end_s - req.end_s).abs() < 1.0)
    {
        return (named, None);
    }
    named.start_s = start_s;
    named.end_s = end_s;
    let warning = Warning::PlaylistRange {
        reason: format!(
            "the playlist URL names the range {start_s} to {end_s}, not the {} to {} asked \
             for: the export is named and recorded for what it holds",
            req.start_s, req.end_s
        ),
    };
    (named, Some(warning))
}

impl Layout {
    /// The export folder, absolute (the row stores an absolute path,
    /// whatever the caller passed).
    /// An absolute folder is kept exactly as given: the NVR compares the
    /// stored `video_path` with `os.path.join(EXPORT_DIR, file)` as strings.
    pub(crate) fn export_dir_absolute(&self) -> PathBuf {
        let dir = self.export_dir();
        if dir.is_absolute() {
            return dir;
        }
        std::path::absolute(&dir).unwrap_or(dir)
    }
}
