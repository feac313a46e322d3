//! The export job: request -> catalogue -> plan -> writer -> output -> row.
//!
//! [`Exporter::export`] is the one entry point. It validates the request,
//! reads the catalogue, takes ownership of the export id (a lock file, see
//! `job::owner`), inserts the `export` row (`in_progress = 1`), probes
//! the segments, builds the clip plan and chapters, writes the MP4 under a
//! temporary name and renames it, then marks the row done. On any failure,
//! including cancellation, the row and the partial file are removed before
//! the error is returned. A finished file is never removed: if its row
//! cannot be marked done (the catalogue stays locked, its disk is full),
//! the export succeeds with [`Warning::CatalogueNotUpdated`] and recovery
//! ([`Exporter::recover`]) marks the row later. Right after the row is
//! inserted the thumbnail is made (`thumbnail`); it never fails the export.
//!
//! Sources: the recordings (the default), the NVR's hourly previews with
//! the cached frames of the current hour ([`Source::Preview`]: cut exactly
//! with an edit list, see `plan::Trim`), or its HLS VOD server.

use std::path::PathBuf;
use std::time::Instant;

use crate::catalogue::{Catalogue, ExportRow, Recording, BUSY_TIMEOUT};
use crate::error::{Error, Result, SkippedSegment, Warning};
use crate::job::owner::{ExportOwner, OwnerRecord};
use crate::job::recovery::{self, RecoveryOptions, RecoveryReport};
use crate::output::{self, StagedFile};
use crate::plan::chapters::{self, ChapterMode};
use crate::plan::{Plan, PlanSegment, Trim};
use crate::probe::{self, SegmentProbe};
use crate::progress::{CancelToken, Progress, ProgressThrottle, Reporter, Step};
use crate::remux::tracks::{self, AudioTrack};
use crate::remux::{self, RemuxJob, RemuxStats, WriterChoice};
use crate::source::{self, previews, ProbedSegment};
use crate::timefmt::{self, Zone};

mod hls;
pub mod thumbnail;

/// Default bound on the samples of one export: 16 million, some 60 hours
/// of a 1080p30 camera with 48 kHz AAC (6.6 million samples a day); an
/// export peaks near 200 MiB there. Longer ranges are refused with
/// [`Error::RangeTooLong`]: export them in parts.
pub const MAX_SAMPLES: u64 = 16_000_000;

/// Earliest and latest instants an export range may touch (2000-01-01 and
/// 2100-01-01 UTC): anything else is a unit or typing mistake.
const EARLIEST_S: f64 = 946_684_800.0;
const LATEST_S: f64 = 4_102_444_800.0;

/// Segments probed at a time (the sample count is checked after each batch).
const PROBE_BATCH: usize = 256;

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
}

impl Layout {
    pub fn new(db_path: impl Into<PathBuf>, media_dir: impl Into<PathBuf>) -> Layout {
        Layout {
            db_path: db_path.into(),
            media_dir: media_dir.into(),
            recording_roots: Vec::new(),
            cache_dir: PathBuf::from("/tmp/cache"),
        }
    }

    pub fn export_dir(&self) -> PathBuf {
        self.media_dir.join("exports")
    }
}

/// One export to run.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ExportRequest {
    pub camera: String,
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
    pub fn new(camera: impl Into<String>, start_s: f64, end_s: f64) -> ExportRequest {
        ExportRequest {
            camera: camera.into(),
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
        }
    }
}

/// A finished export.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ExportOutcome {
    pub id: String,
    pub name: String,
    pub video_path: PathBuf,
    /// Empty when there is no thumbnail (the catalogue's convention).
    pub thumb_path: String,
    /// Output duration (seconds), from the clip plan.
    pub duration_s: f64,
    /// Recordings in range that were left out, and why.
    pub skipped: Vec<SkippedSegment>,
    /// Things the user should know (audio dropped, ...).
    pub warnings: Vec<Warning>,
    pub chapters: usize,
    pub stats: RemuxStats,
    pub timings: Timings,
}

/// Where an export's time went (seconds from the call).
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
pub struct Timings {
    /// Catalogue read and segment headers probed.
    pub probed_s: f64,
    /// First sample's bytes written to the output (start-up latency).
    pub first_sample_s: f64,
    /// Done, file renamed and row updated.
    pub total_s: f64,
}

/// Runs exports against one NVR layout. Holds no open resources: two
/// exports may run side by side from different threads.
#[derive(Debug, Clone)]
pub struct Exporter {
    layout: Layout,
    throttle: ProgressThrottle,
    /// Extra free space required beyond the estimate (tests use this to
    /// simulate a full disk).
    pub min_free_bytes: u64,
    /// Most samples (video and audio) one export may hold: memory is about
    /// 13 bytes a sample, so the default bounds an export near 200 MiB.
    max_samples: u64,
    writer: WriterChoice,
    /// How long a catalogue statement waits for another connection's lock.
    busy_timeout: std::time::Duration,
    /// Most bytes a second an export writes (`None`: unlimited).
    max_rate: Option<u64>,
    /// HLS source: HTTP timeouts and retries.
    hls_limits: crate::source::hls::http::HttpLimits,
    /// Timelapses: decode GOPs side by side.
    parallel_decode: bool,
    /// Read segment headers through a template learnt from the first one
    /// (`probe::Template`) instead of opening each with libav.
    probe_template: bool,
    /// HLS source: when set, the only addresses that may be contacted
    /// (tests narrow loopback to 127.0.0.1 with it).
    hls_only_hosts: Option<Vec<std::net::IpAddr>>,
}

impl Exporter {
    pub fn new(layout: Layout) -> Exporter {
        Exporter {
            layout,
            throttle: ProgressThrottle::default(),
            min_free_bytes: 0,
            max_samples: MAX_SAMPLES,
            writer: WriterChoice::Auto,
            busy_timeout: BUSY_TIMEOUT,
            max_rate: None,
            hls_limits: Default::default(),
            hls_only_hosts: None,
            parallel_decode: true,
            probe_template: true,
        }
    }

    /// Probes every segment with libav instead of reading the headers of a
    /// camera session's segments after the first one itself (a benchmark
    /// and debugging aid; the default reads them itself).
    pub fn with_libav_probe(mut self, on: bool) -> Exporter {
        self.probe_template = !on;
        self
    }

    /// Timelapses: decode GOPs side by side on every core (default), or in
    /// sequence (`false`: less CPU taken from the recorder, slower).
    pub fn with_parallel_decode(mut self, on: bool) -> Exporter {
        self.parallel_decode = on;
        self
    }

    /// HLS source: connect and request timeouts, attempts and backoff.
    pub fn with_http_limits(
        mut self,
        connect_timeout: std::time::Duration,
        request_timeout: std::time::Duration,
        attempts: u32,
    ) -> Exporter {
        self.hls_limits = crate::source::hls::http::HttpLimits {
            connect_timeout,
            request_timeout,
            attempts,
            ..Default::default()
        };
        self
    }

    /// HLS source: contact only these addresses (instead of loopback plus
    /// the request's `allow_hosts`).
    pub fn with_only_hosts(mut self, hosts: Vec<std::net::IpAddr>) -> Exporter {
        self.hls_only_hosts = Some(hosts);
        self
    }

    /// Limits how fast an export writes, in bytes a second (default: no
    /// limit), so that a long export leaves disk bandwidth to the recorder.
    /// Zero means no limit.
    pub fn with_max_rate(mut self, bytes_per_s: u64) -> Exporter {
        self.max_rate = (bytes_per_s > 0).then_some(bytes_per_s);
        self
    }

    /// Sets how long a catalogue statement waits while another connection
    /// holds a lock (default 30 s); the wait always stops on cancel.
    pub fn with_busy_timeout(mut self, timeout: std::time::Duration) -> Exporter {
        self.busy_timeout = timeout;
        self
    }

    /// Finishes what dead exports left (see `job::recovery`): rows still in
    /// progress whose owner is gone, partial files, stale lock files. Live
    /// exports, in this process or another, are never touched.
    pub fn recover(&self, options: &RecoveryOptions) -> Result<RecoveryReport> {
        let catalogue =
            Catalogue::open_with(&self.layout.db_path, &CancelToken::new(), self.busy_timeout)?;
        let export_dir = self.layout.export_dir();
        let export_dir = std::path::absolute(&export_dir).unwrap_or(export_dir);
        recovery::recover(&catalogue, &export_dir, &self.layout.media_dir, options)
    }

    /// Gives every bare `.mp4` in the export folder a catalogue row (see
    /// `job::migrate`); a second run adds nothing.
    pub fn migrate(&self, cancel: &CancelToken) -> Result<crate::job::migrate::MigrationReport> {
        let catalogue = Catalogue::open_with(&self.layout.db_path, cancel, self.busy_timeout)?;
        let export_dir = self.layout.export_dir();
        let export_dir = std::path::absolute(&export_dir).unwrap_or(export_dir);
        let thumb_dir = thumbnail::thumb_dir(&self.layout);
        let thumb_dir = std::path::absolute(&thumb_dir).unwrap_or(thumb_dir);
        crate::job::migrate::migrate(&catalogue, &export_dir, &thumb_dir, cancel)
    }

    /// Chooses the writer (default: the index-driven one when it accepts the job).
    pub fn with_writer(mut self, writer: WriterChoice) -> Exporter {
        self.writer = writer;
        self
    }

    /// Sets the most samples one export may hold (default [`MAX_SAMPLES`]).
    pub fn with_max_samples(mut self, max_samples: u64) -> Exporter {
        self.max_samples = max_samples;
        self
    }

    /// Sets how often progress reaches the listener (default: 1 s).
    pub fn with_throttle(mut self, throttle: ProgressThrottle) -> Exporter {
        self.throttle = throttle;
        self
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    /// Runs one export, reporting progress to `on_progress`; `cancel` stops
    /// it at the next packet.
    pub fn export(
        &self,
        req: &ExportRequest,
        cancel: &CancelToken,
        mut on_progress: impl FnMut(Progress),
    ) -> Result<ExportOutcome> {
        let started = Instant::now();
        let mut reporter = Reporter::new(&mut on_progress, cancel.clone(), self.throttle);
        reporter.step(Step::Preparing, 0.0)?;
        let span = tracing::info_span!("export", camera = %req.camera, id = tracing::field::Empty);
        let _enter = span.enter();
        let mut prepared = self.prepare(req, cancel)?;
        let id = prepared.row.id.clone();
        let id = id.as_str();
        span.record("id", id);
        // Own the id before the row exists, so that recovery (in any
        // process) can tell this export from a dead one at every moment.
        let mut request = req.clone();
        request.id = Some(id.to_string());
        let record = OwnerRecord {
            pid: std::process::id(),
            started_s: crate::time::unix_now_s(),
            request,
        };
        let owner = ExportOwner::acquire(&prepared.export_dir, id, &record)?;
        let inserted = match prepared.catalogue.export_exists(id) {
            Ok(true) => Err(Error::InvalidName {
                what: "export id",
                value: id.to_string(),
                reason: "an export with this id already exists",
            }),
            Ok(false) => prepared.catalogue.insert_export(&prepared.row),
            Err(e) => Err(e),
        };
        if let Err(e) = inserted {
            owner.finish();
            return Err(e);
        }
        let thumb_warning = self.make_thumbnail(&mut prepared, cancel);
        match self.run(req, &prepared, &mut reporter, started) {
            Ok((mut outcome, row_final)) => {
                outcome.warnings.extend(thumb_warning);
                if row_final {
                    owner.finish();
                } else {
                    owner.abandon();
                }
                reporter.complete();
                outcome.timings.total_s = started.elapsed().as_secs_f64();
                Ok(outcome)
            }
            Err(e) => {
                // The staged file is already gone (dropped inside `run`). If
                // the row cannot be removed now, recovery removes it.
                tracing::debug!(error = %e, "export failed; removing its row");
                if !prepared.row.thumb_path.is_empty() {
                    let _ = std::fs::remove_file(&prepared.row.thumb_path);
                }
                match prepared.catalogue.delete_export(id) {
                    Ok(()) => owner.finish(),
                    Err(_) => owner.abandon(),
                }
                tracing::debug!("export cleaned up");
                Err(e)
            }
        }
    }

    /// Makes the thumbnail the row names; when none can be made, empties
    /// the row's `thumb_path` and says why.
    fn make_thumbnail(&self, p: &mut Prepared, cancel: &CancelToken) -> Option<Warning> {
        let made = if p.row.thumb_path.is_empty() {
            match &p.thumb {
                thumbnail::ThumbSource::None(why) => Err(why.clone()),
                _ => Err("the thumbnail folder's path is not valid UTF-8".to_string()),
            }
        } else {
            let target = PathBuf::from(&p.row.thumb_path);
            thumbnail::make(&p.thumb, &target, &p.row.id, cancel)
        };
        match made {
            Ok(path) => {
                tracing::info!(stage = "thumbnail", path = %path.display(), "thumbnail made");
                None
            }
            Err(reason) => {
                tracing::info!(%reason, "no thumbnail");
                p.row.thumb_path.clear();
                Some(Warning::NoThumbnail { reason })
            }
        }
    }

    /// Validation and catalogue reads; nothing is written yet.
    fn prepare(&self, req: &ExportRequest, cancel: &CancelToken) -> Result<Prepared> {
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
        output::validate_component("camera", &req.camera)?;
        if let Some(id) = &req.id {
            output::validate_component("export id", id)?;
            if id.chars().count() > output::MAX_ID_CHARS {
                return Err(Error::InvalidName {
                    what: "export id",
                    value: id.clone(),
                    reason: "must be at most 30 characters (the catalogue's export id field)",
                });
            }
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

        let encode = match &req.encode {
            Some(a) => {
                if matches!(req.source, Source::Hls(_)) {
                    return Err(Error::ForbiddenArgument {
                        arg: "--input-args/--output-args".into(),
                        reason: "re-encoding reads the recording files; it is not available with the HLS source".into(),
                    });
                }
                let mut options = crate::transcode::args::parse(&a.input_args, &a.output_args)?;
                if req.source == Source::Preview {
                    // Previews have keyframes only every 40 frames and no
                    // audio worth keeping: decode the keyframes (as the NVR).
                    options.skip_frame = Some("nokey".into());
                    options.no_audio = true;
                }
                Some(options)
            }
            None => None,
        };
        let user_thumbnail = match &req.thumbnail {
            Some(p) => Some(thumbnail::check_user_image(&self.layout, p)?),
            None => None,
        };
        let catalogue = Catalogue::open_with(&self.layout.db_path, cancel, self.busy_timeout)?;
        let (recordings, bad_rows) = match &req.source {
            Source::Recordings => {
                catalogue.recordings_overlapping(&req.camera, req.start_s, req.end_s)?
            }
            Source::Preview => {
                catalogue.previews_overlapping(&req.camera, req.start_s, req.end_s)?
            }
            // The VOD server says what it has; the catalogue takes the row.
            Source::Hls(_) => (Vec::new(), Vec::new()),
        };
        // The previews and the cached frames (read once: the source of a
        // preview export, and what the thumbnail is made from).
        let preview_rows = match (&req.source, &user_thumbnail) {
            (Source::Preview, _) => recordings.clone(),
            (_, Some(_)) => Vec::new(),
            _ => {
                catalogue
                    .previews_overlapping(&req.camera, req.start_s, req.end_s)?
                    .0
            }
        };
        let all_frames = if req.source == Source::Preview
            || (user_thumbnail.is_none() && preview_rows.is_empty())
        {
            previews::cached_frames(&previews::frames_dir(&self.layout.cache_dir), &req.camera)
        } else {
            Vec::new()
        };
        // Preview exports: the cached frames after the last preview file.
        let frames = if req.source == Source::Preview {
            let all = &all_frames;
            let from = recordings
                .iter()
                .map(|r| r.end_s)
                .fold(req.start_s, f64::max);
            let frames = previews::frames_in(all, from, req.end_s).to_vec();
            if recordings.is_empty() && frames.is_empty() {
                if !bad_rows.is_empty() {
                    return Err(Error::UnreadableSegments { skipped: bad_rows });
                }
                return Err(Error::NoPreviews {
                    camera: req.camera.clone(),
                    start_s: req.start_s,
                    end_s: req.end_s,
                    frames_dir: previews::frames_dir(&self.layout.cache_dir),
                });
            }
            frames
        } else {
            Vec::new()
        };
        if recordings.is_empty() && !bad_rows.is_empty() {
            return Err(Error::UnreadableSegments { skipped: bad_rows });
        }
        if recordings.is_empty() && req.source == Source::Recordings {
            let known = catalogue.cameras()?;
            if !known.iter().any(|c| c == &req.camera) {
                return Err(Error::UnknownCamera {
                    camera: req.camera.clone(),
                    known,
                });
            }
            let (before, after) =
                catalogue.nearest_recordings(&req.camera, req.start_s, req.end_s)?;
            return Err(Error::NoRecordings {
                camera: req.camera.clone(),
                start_s: req.start_s,
                end_s: req.end_s,
                before,
                after,
            });
        }

        // The row stores an absolute path, whatever the caller passed.
        let export_dir = self.layout.export_dir();
        let export_dir = std::path::absolute(&export_dir).unwrap_or(export_dir);
        output::ensure_dir(&export_dir)?;

        let id = match &req.id {
            Some(id) => id.clone(),
            None => format!("{}_{}", req.camera, random_suffix()),
        };
        let zone = Zone::or_local(req.timezone.as_deref());
        let fmt = "%Y-%m-%d %H:%M:%S";
        let name = req.name.clone().unwrap_or_else(|| {
            format!(
                "{} {} {}",
                req.camera.replace('_', " "),
                zone.format(req.start_s, fmt),
                zone.format(req.end_s, fmt)
            )
        });
        let video_path = export_dir.join(output::export_file_name(
            &req.camera,
            req.start_s,
            req.end_s,
            &id,
            zone,
        ));
        if video_path.exists() {
            return Err(Error::InvalidName {
                what: "export file",
                value: video_path.display().to_string(),
                reason: "already exists in the export folder",
            });
        }
        let title = format!(
            "Frigate {} for {}, {} - {}",
            if req.source == Source::Preview {
                "Preview"
            } else {
                "Recording"
            },
            req.camera,
            zone.format(req.start_s, fmt),
            zone.format(req.end_s, fmt)
        );
        let metadata = vec![
            ("title", title),
            ("creation_time", timefmt::creation_time(req.start_s)),
            ("comment", format!("Camera: {}", req.camera)),
        ];
        let thumb = thumbnail::choose(
            &self.layout,
            &req.camera,
            req.start_s,
            req.end_s,
            user_thumbnail,
            &preview_rows,
            &all_frames,
        );
        let thumb_target = thumbnail::thumb_dir(&self.layout).join(format!("{id}.webp"));
        let thumb_target = std::path::absolute(&thumb_target).unwrap_or(thumb_target);
        let row = ExportRow {
            id,
            camera: req.camera.clone(),
            name,
            date_s: req.start_s,
            video_path: video_path
                .to_str()
                .ok_or_else(|| Error::InvalidName {
                    what: "export folder",
                    value: video_path.to_string_lossy().into_owned(),
                    reason: "is not valid UTF-8: the catalogue stores paths as text, \
                             and the NVR could not find the file",
                })?
                .to_string(),
            // Set before the thumbnail exists, so that recovery removes it
            // with the row if this process dies; emptied if none is made.
            thumb_path: match (&thumb, thumb_target.to_str()) {
                (thumbnail::ThumbSource::None(_), _) | (_, None) => String::new(),
                (_, Some(t)) => t.to_string(),
            },
            in_progress: true,
            export_case_id: req.export_case_id.clone(),
        };
        Ok(Prepared {
            encode,
            trim: if req.source == Source::Preview {
                Trim::Exact
            } else {
                Trim::Keyframe
            },
            frames,
            thumb,
            catalogue,
            recordings,
            bad_rows,
            row,
            export_dir,
            video_path,
            metadata,
        })
    }

    fn run(
        &self,
        req: &ExportRequest,
        p: &Prepared,
        reporter: &mut Reporter<'_>,
        started: Instant,
    ) -> Result<(ExportOutcome, bool)> {
        if let Source::Hls(hls) = &req.source {
            return self.run_hls(req, hls, p, reporter, started);
        }
        let cancel = reporter.cancel_token().clone();
        // Probe every segment's header (parallel), keep the readable ones.
        let (segments, refused) = source::recordings::segments(
            &p.recordings,
            &self.layout.media_dir,
            &self.layout.recording_roots,
        );
        let mut skipped: Vec<SkippedSegment> = p.bad_rows.clone();
        skipped.extend(refused);
        let mut readable: Vec<ProbedSegment> = Vec::new();
        // Probed a batch at a time, counting samples, so that a range too
        // long for the memory bound is refused before it is all held.
        let mut samples = 0u64;
        let mut pending = segments.into_iter().peekable();
        while pending.peek().is_some() {
            let batch: Vec<_> = pending.by_ref().take(PROBE_BATCH).collect();
            for res in probe::probe_all(batch, self.probe_template, &cancel) {
                cancel.check()?;
                match res {
                    Ok(ps) => {
                        samples += ps.probe.sample_count();
                        readable.push(ps);
                    }
                    Err(s) => skipped.push(s),
                }
            }
            if samples > self.max_samples {
                return Err(Error::RangeTooLong {
                    samples,
                    limit: self.max_samples,
                });
            }
        }
        let probed_s = started.elapsed().as_secs_f64();
        tracing::info!(
            stage = "probe",
            segments = readable.len() + skipped.len(),
            readable = readable.len(),
            skipped = skipped.len(),
            seconds = probed_s,
            "probed segment headers"
        );
        let mut warnings = Vec::new();
        // Two rows for the same footage (the same file listed twice, or a
        // byte copy of it in an overlapping row): keep the first, say so.
        // Overlapping wall times alone never make footage a duplicate (see `plan`).
        let mut unique: Vec<ProbedSegment> = Vec::with_capacity(readable.len());
        for ps in readable {
            let (seg, probe) = (&ps.segment, &ps.probe);
            let dup = unique.iter().find(|k| {
                k.probe.file_id == probe.file_id
                    || (k.segment.start_s < seg.end_s
                        && seg.start_s < k.segment.end_s
                        && k.probe.same_footage(probe))
            });
            match dup {
                Some(first) => warnings.push(Warning::DuplicateFootage {
                    id: seg.id.clone(),
                    location: seg.locator.to_string(),
                    first_id: first.segment.id.clone(),
                    first_location: first.segment.locator.to_string(),
                }),
                None => unique.push(ps),
            }
        }
        // Rows whose span disagrees with their file (frame-count durations
        // differ from the content by a frame or two; more is a wrong row).
        for ps in &unique {
            let row_s = ps.segment.end_s - ps.segment.start_s;
            let file_s = ps.probe.video.duration_s();
            if (row_s - file_s).abs() > (0.2 * file_s).max(2.0) {
                warnings.push(Warning::CatalogueMismatch {
                    id: ps.segment.id.clone(),
                    location: ps.segment.locator.to_string(),
                    row_s,
                    file_s,
                });
            }
        }
        let keep = {
            let probes: Vec<&SegmentProbe> = unique.iter().map(|u| &u.probe).collect();
            let (keep, incompatible) = tracks::compatible_video(&probes);
            skipped.extend(incompatible);
            keep
        };
        let kept: Vec<ProbedSegment> = unique
            .into_iter()
            .enumerate()
            .filter(|(i, _)| keep.contains(i))
            .map(|(_, ps)| ps)
            .collect();
        // Preview exports: the cached frames as one more segment, played
        // after the preview files whatever its wall-clock times.
        let mut kept = kept;
        let files = kept.len();
        let frames_file = if p.frames.is_empty() {
            None
        } else {
            let size = kept
                .first()
                .map(|k| (k.probe.video.width, k.probe.video.height));
            let (seg, file, frame_skips) = self.frames_segment(p, size, &cancel)?;
            skipped.extend(frame_skips);
            kept.push(seg);
            Some(file)
        };
        let segments: Vec<PlanSegment<'_>> = kept.iter().map(PlanSegment::of).collect();
        let mut plan = Plan::build_with(req.start_s, req.end_s, &segments[..files], p.trim);
        if let Some(frames) = segments.get(files) {
            plan.append_whole(files, frames);
        }
        tracing::info!(
            stage = "plan",
            clips = plan.clips.len(),
            duration_s = plan.duration_s(),
            "planned"
        );
        if plan.clips.is_empty() {
            if !skipped.is_empty() {
                return Err(Error::UnreadableSegments { skipped });
            }
            return Err(Error::NoRecordings {
                camera: req.camera.clone(),
                start_s: req.start_s,
                end_s: req.end_s,
                before: None,
                after: None,
            });
        }

        let clip_probes: Vec<&SegmentProbe> =
            plan.clips.iter().map(|c| &kept[c.segment].probe).collect();
        let audio = match tracks::audio_track(&clip_probes) {
            AudioTrack::Keep => true,
            AudioTrack::None => false,
            AudioTrack::Dropped(reason) => {
                warnings.push(Warning::AudioDropped { reason });
                false
            }
        };
        if !skipped.is_empty() {
            warnings.push(Warning::SegmentsSkipped {
                skipped: skipped.clone(),
            });
        }

        let chapter_list = match req.chapters {
            // Chapters are a recordings export's (the NVR's too).
            _ if req.source == Source::Preview => Vec::new(),
            ChapterMode::None => Vec::new(),
            mode => {
                let reviews = if mode == ChapterMode::ReviewItems {
                    p.catalogue
                        .reviews_overlapping(&req.camera, req.start_s, req.end_s)?
                } else {
                    Vec::new()
                };
                chapters::build(mode, &plan, &reviews, Zone::or_utc(req.timezone.as_deref()))
            }
        };

        // Space: the output holds at most the bytes of the segments it copies.
        let needed: u64 = plan
            .clips
            .iter()
            .map(|c| kept[c.segment].probe.file_size)
            .sum::<u64>()
            .saturating_add(self.min_free_bytes);
        let export_dir = self.layout.export_dir();
        output::ensure_space(&export_dir, needed)?;

        let staged = StagedFile::create(&p.video_path, &p.row.id)?;
        if let Some(options) = &p.encode {
            return self.run_transcode(
                req,
                p,
                options,
                &plan,
                &kept,
                &chapter_list,
                staged,
                reporter,
                started,
                probed_s,
                skipped,
                warnings,
            );
        }
        reporter.step(Step::Copying, 0.0)?;
        if let Some(rate) = self.max_rate {
            reporter.pace(rate, needed.saturating_sub(self.min_free_bytes));
        }
        let job = RemuxJob {
            plan: &plan,
            segments: &kept,
            audio,
            chapters: &chapter_list,
            metadata: &p.metadata,
            creation_s: req.start_s,
            max_rate: self.max_rate,
        };
        let stats = remux::remux(&job, self.writer, staged.temp_path(), reporter)?;
        tracing::info!(
            stage = "write",
            writer = %stats.writer,
            declined = stats.fast_declined.as_deref().unwrap_or(""),
            bytes = stats.bytes_written,
            video_packets = stats.video_packets,
            audio_packets = stats.audio_packets,
            seconds = started.elapsed().as_secs_f64() - probed_s,
            "written"
        );
        let written = Written {
            duration_s: plan.duration_s(),
            skipped,
            warnings,
            chapters: chapter_list.len(),
            stats,
        };
        let outcome = p.complete(staged, reporter, written, started, probed_s);
        drop(frames_file);
        outcome
    }

    /// The cached frames of a preview export encoded into a temporary MP4
    /// in the export folder (removed when the returned file is dropped),
    /// probed as a segment; and the frames that could not be decoded.
    fn frames_segment(
        &self,
        p: &Prepared,
        size: Option<(u32, u32)>,
        cancel: &CancelToken,
    ) -> Result<(ProbedSegment, StagedFile, Vec<SkippedSegment>)> {
        let file = StagedFile::create(&p.video_path, &p.row.id)?;
        let show = crate::transcode::slideshow::encode(&p.frames, size, file.temp_path(), cancel)?;
        tracing::info!(
            stage = "frames",
            frames = show.frames,
            skipped = show.skipped.len(),
            "cached preview frames encoded"
        );
        let probe = probe::probe(file.temp_path(), cancel)
            .map_err(|s| Error::UnreadableSegments { skipped: vec![s] })?;
        let first = p.frames.first().map(|f| f.ts_s).unwrap_or(p.row.date_s);
        let last = p.frames.last().map(|f| f.ts_s).unwrap_or(first);
        let segment = source::Segment {
            id: "cached-preview-frames".into(),
            start_s: first,
            end_s: last,
            locator: source::Locator::File(file.temp_path().to_path_buf()),
        };
        Ok((ProbedSegment { segment, probe }, file, show.skipped))
    }
}

impl Exporter {
    /// The re-encoding path of [`Exporter::run`]: same plan, same chapters
    /// (scaled by the timelapse factor), the transcode writer.
    #[allow(clippy::too_many_arguments)]
    fn run_transcode(
        &self,
        req: &ExportRequest,
        p: &Prepared,
        options: &crate::transcode::args::EncodeOptions,
        plan: &Plan,
        kept: &[ProbedSegment],
        chapter_list: &[chapters::Chapter],
        staged: StagedFile,
        reporter: &mut Reporter<'_>,
        started: Instant,
        probed_s: f64,
        skipped: Vec<SkippedSegment>,
        mut warnings: Vec<Warning>,
    ) -> Result<(ExportOutcome, bool)> {
        reporter.step(Step::Encoding, 0.0)?;
        use crate::transcode::preset;
        let args = req.encode.clone().unwrap_or_default();
        let chosen = match args.hwaccel.as_deref() {
            None => preset::SOFTWARE,
            Some("auto") => preset::auto().0,
            Some(name) => preset::by_name(name),
        };
        let job = crate::transcode::writer::TranscodeJob {
            plan,
            segments: kept,
            options,
            chapters: chapter_list,
            metadata: &p.metadata,
            preset: chosen,
            cpu_fallback: args.cpu_fallback,
            parallel: self.parallel_decode,
        };
        let (stats, fell_back) =
            crate::transcode::writer::write(&job, staged.temp_path(), reporter)?;
        warnings.extend(fell_back);
        let written = Written {
            duration_s: stats.video_duration_s,
            skipped,
            warnings,
            chapters: chapter_list.len(),
            stats,
        };
        p.complete(staged, reporter, written, started, probed_s)
    }
}

/// What a writer produced, for [`Prepared::complete`].
struct Written {
    duration_s: f64,
    skipped: Vec<SkippedSegment>,
    warnings: Vec<Warning>,
    chapters: usize,
    stats: RemuxStats,
}

impl Prepared {
    /// Commits the written file, marks the row done ([`finish`]) and
    /// builds the outcome (the caller sets `timings.total_s`); `true` when
    /// the row is final.
    fn complete(
        &self,
        staged: StagedFile,
        reporter: &mut Reporter<'_>,
        mut w: Written,
        started: Instant,
        probed_s: f64,
    ) -> Result<(ExportOutcome, bool)> {
        let (video_path, row_final) = finish(self, staged, reporter, &mut w.warnings)?;
        let outcome = ExportOutcome {
            id: self.row.id.clone(),
            name: self.row.name.clone(),
            video_path,
            thumb_path: self.row.thumb_path.clone(),
            duration_s: w.duration_s,
            skipped: w.skipped,
            warnings: w.warnings,
            chapters: w.chapters,
            timings: Timings {
                probed_s,
                first_sample_s: w
                    .stats
                    .first_sample_at
                    .map(|t| t.duration_since(started).as_secs_f64())
                    .unwrap_or(0.0),
                total_s: 0.0,
            },
            stats: w.stats,
        };
        Ok((outcome, row_final))
    }
}

/// Commits the written file and marks the row done. The file is complete
/// and durable once committed: whatever happens to the row then, it stays;
/// an unfinished row (`false`) is left for recovery to mark done.
fn finish(
    p: &Prepared,
    staged: StagedFile,
    reporter: &mut Reporter<'_>,
    warnings: &mut Vec<Warning>,
) -> Result<(PathBuf, bool)> {
    reporter.complete();
    reporter.step(Step::Finalizing, 100.0)?;
    let video_path = staged.commit()?;
    tracing::info!(stage = "commit", path = %video_path.display(), "committed");
    let row_final = match p.catalogue.finish_export(&p.row.id, &p.row.thumb_path) {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(error = %e, "export row not marked done; recovery will");
            warnings.push(Warning::CatalogueNotUpdated {
                id: p.row.id.clone(),
                reason: e.to_string(),
            });
            false
        }
    };
    Ok((video_path, row_final))
}

struct Prepared {
    /// The typed options of a re-encoding export.
    encode: Option<crate::transcode::args::EncodeOptions>,
    /// How the range cuts the first and last clip.
    trim: Trim,
    /// Preview exports: cached frames appended after the preview files.
    frames: Vec<previews::CachedFrame>,
    /// The thumbnail's picture.
    thumb: thumbnail::ThumbSource,
    catalogue: Catalogue,
    /// The rows in range: recordings, or previews for a preview export.
    recordings: Vec<Recording>,
    /// Catalogue rows in range that could not be read.
    bad_rows: Vec<SkippedSegment>,
    row: ExportRow,
    /// Absolute.
    export_dir: PathBuf,
    video_path: PathBuf,
    /// Container metadata: `title` ("Frigate Recording for ..."),
    /// `creation_time`, `comment`.
    metadata: Vec<(&'static str, String)>,
}

/// Six random `[a-z0-9]`, as the NVR's ids.
pub fn random_suffix() -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    (0..6)
        .map(|_| ALPHABET[fastrand::usize(..ALPHABET.len())] as char)
        .collect()
}
