//! [`Exporter`]: runs exports against one NVR layout, one call a stage.
//!
//! ```text
//! export(request)
//!   request::check    the request alone: range, names, encode allowlist
//!   reads::read       catalogue rows, previews, reviews, names and paths
//!   row::claim        the id owned (lock file), the row inserted in progress
//!   saved::locate     a stream copy's segments located, its inputs' key
//!   StagedFile        a dead export's partial file taken over, if any...
//!   resume_saved      ...and finished from the plan it saved for that key
//!   Input::read       or: footage probed + timeline planned, or the VOD playlist
//!   StagedFile        the output under a temporary name (output)
//!   Input::write      copy (its plan saved), transcode, or HLS writer
//!   row::commit       fsync, rename, row marked done
//! ```
//!
//! On any failure after the row is inserted, including a cancel, the
//! staged file, the thumbnail and the row are removed before the error is
//! returned (`row::remove`).

use std::time::Instant;

use crate::catalogue::Catalogue;
use crate::error::Result;
use crate::output::StagedFile;
use crate::progress::{CancelToken, Progress, ProgressThrottle, Reporter, Step};
use crate::remux::resume::SideFiles;
use crate::remux::WriterChoice;

use super::manifest;
use super::outcome::{ExportOutcome, Written};
use super::reads::{self, Reads};
use super::request::{self, ExportRequest, Layout};
use super::row;
use super::saved;
use super::settings::Settings;
use super::writer::{self, Input};

/// Runs exports against one NVR layout. Holds no open resources: two
/// exports may run side by side from different threads.
#[derive(Debug, Clone)]
pub struct Exporter {
    layout: Layout,
    settings: Settings,
    /// Extra free space required beyond the estimate (tests use this to
    /// simulate a full disk).
    pub min_free_bytes: u64,
}

impl Exporter {
    pub fn new(layout: Layout) -> Exporter {
        Exporter {
            layout,
            settings: Settings::default(),
            min_free_bytes: 0,
        }
    }

    /// Probes every segment with libav instead of reading the headers of a
    /// camera session's segments after the first one itself (a benchmark
    /// and debugging aid; the default reads them itself).
    pub fn with_libav_probe(mut self, on: bool) -> Exporter {
        self.settings.probe_template = !on;
        self
    }

    /// Keeps the segment indexes this exporter reads, up to about
    /// `budget_bytes`, for its later exports and clips: a long-lived
    /// exporter (a server, a backend) then reads a segment's header once,
    /// not once per clip. An index is used only while its file keeps the
    /// identity it was read with (device, inode, size, modification time),
    /// so a segment being written or replaced is read again. Zero: none
    /// kept (the default). About 4 bytes a sample: 64 MiB holds some 40
    /// hours of a 30 fps camera with audio.
    pub fn with_index_cache(mut self, budget_bytes: u64) -> Exporter {
        self.settings.index_cache = (budget_bytes > 0)
            .then(|| std::sync::Arc::new(crate::probe::IndexCache::new(budget_bytes)));
        self
    }

    /// What the index cache holds and has answered (`None`: no cache).
    pub fn index_cache_stats(&self) -> Option<crate::IndexCacheStats> {
        self.settings.index_cache.as_ref().map(|c| c.stats())
    }

    /// Timelapses: decode GOPs side by side on every core (default), or in
    /// sequence (`false`: less CPU taken from the recorder, slower).
    pub fn with_parallel_decode(mut self, on: bool) -> Exporter {
        self.settings.parallel_decode = on;
        self
    }

    /// HLS source: connect and request timeouts, attempts and backoff.
    pub fn with_http_limits(
        mut self,
        connect_timeout: std::time::Duration,
        request_timeout: std::time::Duration,
        attempts: u32,
    ) -> Exporter {
        self.settings.hls_limits = crate::source::hls::http::HttpLimits {
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
        self.settings.hls_only_hosts = Some(hosts);
        self
    }

    /// Limits how fast an export writes, in bytes a second (default: no
    /// limit), so that a long export leaves disk bandwidth to the recorder.
    /// Zero means no limit.
    pub fn with_max_rate(mut self, bytes_per_s: u64) -> Exporter {
        self.settings.max_rate = (bytes_per_s > 0).then_some(bytes_per_s);
        self
    }

    /// Sets how long a catalogue statement waits while another connection
    /// holds a lock (default 30 s); the wait always stops on cancel.
    pub fn with_busy_timeout(mut self, timeout: std::time::Duration) -> Exporter {
        self.settings.busy_timeout = timeout;
        self
    }

    /// Chooses the writer (default: the index-driven one when it accepts the job).
    pub fn with_writer(mut self, writer: WriterChoice) -> Exporter {
        self.settings.writer = writer;
        self
    }

    /// Sets the most samples one export may hold (default [`MAX_SAMPLES`](crate::MAX_SAMPLES)).
    pub fn with_max_samples(mut self, max_samples: u64) -> Exporter {
        self.settings.max_samples = max_samples;
        self
    }

    /// Sets how often progress reaches the listener (default: 1 s).
    pub fn with_throttle(mut self, throttle: ProgressThrottle) -> Exporter {
        self.settings.throttle = throttle;
        self
    }

    pub fn layout(&self) -> &Layout {
        &self.layout
    }

    pub(super) fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The catalogue, opened with this exporter's busy timeout.
    pub(crate) fn open_catalogue(&self, cancel: &CancelToken) -> Result<Catalogue> {
        Catalogue::open_with(&self.layout.db_path, cancel, self.settings.busy_timeout)
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
        let mut reporter = Reporter::new(&mut on_progress, cancel.clone(), self.settings.throttle);
        reporter.step(Step::Preparing, 0.0)?;
        let span = tracing::info_span!("export", camera = %req.camera, id = tracing::field::Empty);
        let _enter = span.enter();
        let encode = request::check(req)?;
        if let Some(key) = &req.sign_key {
            // A key that cannot sign fails now, not after the whole export.
            manifest::check_signing_key(key)?;
        }
        let (req, range_warning) = &request::as_named(req);
        let mut reads = reads::read(
            &self.layout,
            &self.settings,
            req,
            encode,
            reads::Purpose::Export,
            cancel,
        )?;
        span.record("id", reads.row.id.as_str());
        let owner = row::claim(req, &reads)?;
        let thumb_warning = reads.make_thumbnail(cancel);
        match self.write(req, &reads, &mut reporter, started) {
            Ok((mut outcome, row_final)) => {
                outcome.warnings.extend(range_warning.clone());
                outcome.warnings.extend(thumb_warning);
                row::release(owner, row_final);
                reporter.complete();
                outcome.timings.total_s = started.elapsed().as_secs_f64();
                Ok(outcome)
            }
            Err(e) => {
                tracing::debug!(error = %e, "export failed; removing its row");
                row::remove(&reads, owner);
                Err(e)
            }
        }
    }

    /// Input, staged file, writer, commit; `true` when the row is final.
    /// The staged file is removed on any failure (dropped).
    fn write(
        &self,
        req: &ExportRequest,
        reads: &Reads,
        reporter: &mut Reporter<'_>,
        started: Instant,
    ) -> Result<(ExportOutcome, bool)> {
        let Staged {
            staged,
            mut written,
            sources,
            probed_s,
        } = self.write_staged(req, reads, reporter, started)?;
        if let Some(why) = &written.stats.resume_restarted {
            written
                .warnings
                .push(crate::error::Warning::ResumeRestarted {
                    reason: why.clone(),
                });
        }
        // The manifest goes first (it describes the staged bytes, which the
        // commit only renames), and goes again if the commit fails.
        let manifest_files = match &sources {
            None => Vec::new(),
            Some(sources) => {
                let file = reads
                    .video_path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                let m = manifest::make(
                    staged.temp_path(),
                    &file,
                    sources,
                    req,
                    written.stats.writer.as_str(),
                )?;
                manifest::StagedManifest::write(
                    &m,
                    &reads.video_path,
                    &reads.row.id,
                    req.sign_key.as_deref(),
                )?
                .commit()?
            }
        };
        let committed = row::commit(reads, staged, reporter, &mut written.warnings);
        if committed.is_err() {
            for f in &manifest_files {
                let _ = std::fs::remove_file(f);
            }
        }
        let (video_path, row_final) = committed?;
        let mut outcome = ExportOutcome::new(reads, video_path, written, started, probed_s);
        outcome.manifest_path = manifest_files.into_iter().next();
        Ok((outcome, row_final))
    }

    /// The staged file written: a dead export's partial file taken over
    /// and finished from the plan it saved for these very inputs (no
    /// header read, nothing planned: see `saved`), or the input read and
    /// written (into the partial file, whose writer keeps what still holds
    /// of it, or a new one). However it ends, no resume journal stays
    /// beside (only a dead process leaves one).
    fn write_staged(
        &self,
        req: &ExportRequest,
        reads: &Reads,
        reporter: &mut Reporter<'_>,
        started: Instant,
    ) -> Result<Staged> {
        let (settings, min_free) = (&self.settings, self.min_free_bytes);
        let located = saved::locate(&self.layout, settings, req, reads);
        let dir = reads
            .video_path
            .parent()
            .unwrap_or(std::path::Path::new("."));
        let adopted = match super::owner::resumable_part(dir, &reads.row.id) {
            Some(name) => Some(StagedFile::adopt(&reads.video_path, &name)?),
            None => None,
        };
        // However this ends, nothing stays beside the staged file.
        let mut sides = adopted.as_ref().map(|s| SideFiles::of(s.temp_path()));
        let resumed = match (&adopted, &located) {
            (Some(staged), Some(located)) => {
                writer::resume_saved(settings, located, staged.temp_path(), reporter)?
            }
            _ => None,
        };
        let adopted = match (resumed, adopted) {
            (Some((written, sources)), Some(staged)) => {
                let probed_s = started.elapsed().as_secs_f64();
                return Ok(Staged {
                    staged,
                    written,
                    sources,
                    probed_s,
                });
            }
            (_, adopted) => adopted,
        };
        let key = located.as_ref().map(|l| l.key.clone());
        let input = Input::read(
            &self.layout,
            settings,
            min_free,
            req,
            reads,
            reporter,
            located,
        )?;
        let probed_s = started.elapsed().as_secs_f64();
        let sources =
            (req.manifest || req.sign_key.is_some()).then(|| input.sources(&self.layout, reads));
        let staged = match adopted {
            Some(staged) => staged,
            None => StagedFile::create(&reads.video_path, &reads.row.id)?,
        };
        sides.get_or_insert_with(|| SideFiles::of(staged.temp_path()));
        let to = staged.temp_path();
        let written = input.write(settings, req, reads, to, reporter, key.as_deref())?;
        Ok(Staged {
            staged,
            written,
            sources,
            probed_s,
        })
    }
}

/// A staged file written, before its commit.
struct Staged {
    staged: StagedFile,
    written: Written,
    /// The sources its manifest describes (when one is asked for).
    sources: Option<Vec<manifest::Source>>,
    /// When its input was read (seconds from the call).
    probed_s: f64,
}
