//! The command line's arguments (clap) and how they become library values.

use std::path::PathBuf;

use clap::ValueEnum;

use nvr_export::{
    ChapterMode, EncodeArgs, ExportRequest, HlsSource, Layout, Source, StartAt, WriterChoice,
};

/// `--source`.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SourceArg {
    /// The catalogue's recording files.
    Recordings,
    /// The NVR's HLS VOD server.
    Hls,
    /// The hourly preview files (trimmed exactly) and the cached preview
    /// frames of the current hour (from --cache-dir).
    Preview,
}

/// `--writer`: which stream-copy writer.
#[derive(Clone, Copy, ValueEnum)]
pub enum WriterArg {
    /// The index-driven writer when it accepts the export, else libav.
    Auto,
    /// Always the libav packet loop.
    Libav,
}

impl From<WriterArg> for WriterChoice {
    fn from(w: WriterArg) -> WriterChoice {
        match w {
            WriterArg::Auto => WriterChoice::Auto,
            WriterArg::Libav => WriterChoice::Libav,
        }
    }
}

/// Where the NVR keeps things.
#[derive(clap::Args)]
pub struct LayoutArgs {
    /// The NVR's catalogue (frigate.db).
    #[arg(long)]
    pub db: PathBuf,
    /// The NVR's media root: exports go to <media-dir>/exports; recordings
    /// are read only from under it (or a --recordings-root).
    #[arg(long)]
    pub media_dir: PathBuf,
    /// Another folder recordings may be read from (repeatable).
    #[arg(long = "recordings-root")]
    pub recordings_roots: Vec<PathBuf>,
    /// The NVR's cache folder: cached preview frames are read from its
    /// preview_frames/ (preview exports, thumbnails).
    #[arg(long, default_value = "/tmp/cache")]
    pub cache_dir: PathBuf,
}

impl LayoutArgs {
    pub fn layout(&self) -> Layout {
        let mut layout = Layout::new(&self.db, &self.media_dir);
        layout.recording_roots = self.recordings_roots.clone();
        layout.cache_dir = self.cache_dir.clone();
        layout
    }
}

#[derive(clap::Args)]
pub struct BatchArgs {
    /// A JSON array of requests: [{"camera": "front_door", "start": UNIX, "end": UNIX, ...}].
    pub file: PathBuf,
    #[command(flatten)]
    pub layout: LayoutArgs,
    /// Exports running at once.
    #[arg(long, default_value_t = 3)]
    pub max_concurrent: usize,
    /// Most bytes a second each export writes (e.g. 20M).
    #[arg(long, value_name = "RATE", value_parser = parse_rate)]
    pub max_rate: Option<u64>,
    /// HLS jobs: a host (name or IP) besides loopback that may be contacted
    /// (repeatable); a job file cannot add any.
    #[arg(long = "allow-host", value_name = "HOST")]
    pub allow_hosts: Vec<String>,
    /// Machine-readable output: JSON lines tagged by job id.
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Args)]
pub struct MigrateArgs {
    #[command(flatten)]
    pub layout: LayoutArgs,
    /// Machine-readable output: one JSON object (added, skipped).
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Args)]
pub struct RecoverArgs {
    #[command(flatten)]
    pub layout: LayoutArgs,
    /// Also treat in-progress rows that no lock file owns (another
    /// exporter's) as abandoned once their file is unchanged for SECS:
    /// a complete MP4 is kept and marked done, anything else removed.
    #[arg(long, value_name = "SECS")]
    pub foreign_after: Option<u64>,
    /// Machine-readable output: one JSON object.
    #[arg(long)]
    pub json: bool,
}

#[derive(clap::Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub layout: LayoutArgs,
    /// The camera; repeated (2 to 16), the cameras in one file on one
    /// clock, a track each (the first the default), or tiled with --mosaic.
    #[arg(long, required = true)]
    pub camera: Vec<String>,
    /// With several cameras: one picture of all of them, a grid (re-encoded).
    #[arg(long)]
    pub mosaic: bool,
    /// Start of the range, unix seconds.
    #[arg(long, allow_hyphen_values = true)]
    pub start: f64,
    /// End of the range, unix seconds.
    #[arg(long, allow_hyphen_values = true)]
    pub end: f64,
    /// Display name of the export.
    #[arg(long)]
    pub name: Option<String>,
    /// Export id (default: <camera>_<6 random characters>).
    #[arg(long)]
    pub id: Option<String>,
    /// IANA timezone for names and chapter titles.
    #[arg(long)]
    pub timezone: Option<String>,
    /// Chapters: none, review-items (default) or recording-segments.
    #[arg(long, default_value = "review-items")]
    pub chapters: ChapterMode,
    /// Where the export starts: at the keyframe before --start (the NVR's
    /// way, up to a GOP early) or exactly at it (an edit list hides the
    /// pre-roll).
    #[arg(long, value_enum, default_value_t = StartAtArg::Keyframe)]
    pub start_at: StartAtArg,
    /// Adds a subtitle track (tx3g / mov_text) with the wall-clock time of
    /// every second of the output, in --timezone (UTC when unset): gaps
    /// collapse, the clock shows where.
    #[arg(long)]
    pub timestamps: bool,
    /// Write <export>.manifest.json beside the export: its SHA-256 and its
    /// source segments' (with their catalogue rows), the request, the versions.
    #[arg(long)]
    pub manifest: bool,
    /// Sign the manifest with this Ed25519 key (`nvr-export keygen`); implies --manifest.
    #[arg(long, value_name = "KEYFILE")]
    pub sign: Option<PathBuf>,
    /// Machine-readable output: one JSON object per line.
    #[arg(long)]
    pub json: bool,
    /// Where the media comes from: the recording files (default), or the
    /// NVR's HLS VOD server (with --vod-url or --vod-base).
    #[arg(long, value_enum, default_value_t = SourceArg::Recordings)]
    pub source: SourceArg,
    /// HLS: a master or media playlist URL.
    #[arg(long, value_name = "URL")]
    pub vod_url: Option<String>,
    /// HLS: the NVR's address (e.g. http://127.0.0.1:5000); the playlist is
    /// /vod/clip/<camera>/start/<start>/end/<end>/index.m3u8 (an init per clip).
    #[arg(long, value_name = "URL")]
    pub vod_base: Option<String>,
    /// HLS: a host (name or IP) besides loopback that may be contacted (repeatable).
    #[arg(long = "allow-host", value_name = "HOST")]
    pub allow_hosts: Vec<String>,
    /// Most bytes a second the export writes (e.g. 20M, 500k; default: no
    /// limit), leaving disk bandwidth to the recorder.
    #[arg(long, value_name = "RATE", value_parser = parse_rate)]
    pub max_rate: Option<u64>,
    /// Re-encode as a timelapse (the NVR's default: -vf setpts=0.04*PTS -r 30).
    #[arg(long)]
    pub timelapse: bool,
    /// Re-encode: NVR-style input arguments (allowlisted; see validate-args).
    #[arg(long, allow_hyphen_values = true, value_name = "ARGS")]
    pub input_args: Option<String>,
    /// Re-encode: NVR-style output arguments (allowlisted; see validate-args).
    #[arg(long, allow_hyphen_values = true, value_name = "ARGS")]
    pub output_args: Option<String>,
    /// Re-encode on hardware: a preset (preset-vaapi, preset-nvidia, preset-intel-qsv-h264,
    /// preset-vulkan, ...) or `auto` (the first that initialises here).
    #[arg(long, value_name = "PRESET")]
    pub hwaccel: Option<String>,
    /// With --hwaccel: if the hardware fails, encode again in software.
    #[arg(long)]
    pub cpu_fallback: bool,
    /// Timelapse: decode in sequence instead of GOPs side by side (less CPU
    /// taken from the recorder, slower).
    #[arg(long)]
    pub sequential_decode: bool,
    /// The thumbnail's picture: an image under the media or cache folder
    /// (default: a preview frame at the start of the range).
    #[arg(long, value_name = "FILE")]
    pub thumbnail: Option<PathBuf>,
    /// Probe every segment with libav (a debugging and benchmarking aid).
    #[arg(long, hide = true)]
    pub libav_probe: bool,
    /// Which writer (a debugging and benchmarking aid).
    #[arg(long, hide = true, value_enum, default_value_t = WriterArg::Auto)]
    pub writer: WriterArg,
}

/// `--start-at`.
#[derive(Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum StartAtArg {
    Keyframe,
    Exact,
}

impl ExportArgs {
    /// The library's request for these arguments.
    pub fn request(&self) -> ExportRequest {
        ExportRequest {
            camera: self.camera.first().cloned().unwrap_or_default(),
            cameras: if self.camera.len() > 1 || self.mosaic {
                self.camera.clone()
            } else {
                Vec::new()
            },
            mosaic: self.mosaic,
            start_s: self.start,
            end_s: self.end,
            name: self.name.clone(),
            id: self.id.clone(),
            timezone: self.timezone.clone(),
            export_case_id: None,
            chapters: self.chapters,
            start_at: match self.start_at {
                StartAtArg::Keyframe => StartAt::Keyframe,
                StartAtArg::Exact => StartAt::Exact,
            },
            timestamps: self.timestamps,
            manifest: self.manifest || self.sign.is_some(),
            sign_key: self.sign.clone(),
            source: if self.source == SourceArg::Preview {
                Source::Preview
            } else if self.source == SourceArg::Hls
                || self.vod_url.is_some()
                || self.vod_base.is_some()
            {
                Source::Hls(HlsSource {
                    url: self.vod_url.clone(),
                    base: self.vod_base.clone(),
                    allow_hosts: self.allow_hosts.clone(),
                })
            } else {
                Source::Recordings
            },
            encode: match (&self.input_args, &self.output_args, self.timelapse) {
                (None, None, false) => None,
                (None, None, true) => Some(EncodeArgs {
                    hwaccel: self.hwaccel.clone(),
                    cpu_fallback: self.cpu_fallback,
                    ..EncodeArgs::timelapse()
                }),
                (i, o, _) => Some(EncodeArgs {
                    input_args: i.clone().unwrap_or_default(),
                    output_args: o.clone().unwrap_or_else(|| {
                        nvr_export::transcode::args::DEFAULT_TIMELAPSE_ARGS.to_string()
                    }),
                    hwaccel: self.hwaccel.clone(),
                    cpu_fallback: self.cpu_fallback,
                }),
            },
            thumbnail: self.thumbnail.clone(),
        }
    }
}

/// `--max-rate`: bytes a second, with an optional k/M/G suffix (powers of 1000).
pub fn parse_rate(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let (num, mul) = match t.chars().last() {
        Some('k' | 'K') => (&t[..t.len() - 1], 1e3),
        Some('m' | 'M') => (&t[..t.len() - 1], 1e6),
        Some('g' | 'G') => (&t[..t.len() - 1], 1e9),
        _ => (t, 1.0),
    };
    match num.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok((v * mul).round() as u64),
        _ => Err(format!(
            "{s:?} is not a rate: give bytes a second, e.g. 500k or 20M"
        )),
    }
}
