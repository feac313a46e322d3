//! nvr-export: turns a camera's stored recordings into one finished MP4, in
//! process with libav.
//!
//! # Architecture
//!
//! Data flows one way; each stage is a module with one job:
//!
//! ```text
//! ExportRequest
//!    │
//!    ▼
//! catalogue ── SQLite rows (recordings, reviews, export row)
//!    │
//!    ▼
//! source ───── segments: wall-clock span + where the media is (local files:
//!    │            recordings, or hourly previews with the cached frames of
//!    │            the current hour, source::previews); source::hls reads the
//!    │            NVR's VOD server instead (its own writer, remux::hls)
//!    │
//!    ▼
//! probe ────── segment headers: stream parameters, compact sample tables (parallel)
//!    │            each travels with its segment as a ProbedSegment
//!    ▼
//! plan ─────── clips: every frame of the selected segments once, the two cuts
//!    │            at keyframes (recordings) or exact with an edit list
//!    │            (previews), gaps collapsed, output offsets (plain data;
//!    │            chapters are derived from it)
//!    ▼
//! remux ────── stream copy by one of two writers over one per-clip selection:
//!    │            the index-driven writer (moov from the sample tables, bytes
//!    │            copied in kernel, shared on XFS/btrfs) or the libav packet
//!    │            loop; transcode is the third writer over the same plan
//!    │            (typed options from the allowlist, decode -> filters ->
//!    │            encode, hardware presets)
//!    ▼
//! output ───── temporary name, lock, fsync, rename; removed on failure
//!    │
//!    ▼
//! export ───── orchestrates the above, owns the export row's lifecycle and
//!    │            its thumbnail (media::image: a frame decoded, scaled,
//!    │            WebP), pushes Progress to one closure, obeys a CancelToken
//!    ▼
//! job ──────── many exports: who owns which (a lock file per export id,
//!                 across processes), crash recovery, ExportQueue
//!                 (workers, job states, cancel by id, subscribers), and the
//!                 migration of bare export files into the catalogue
//! ```
//!
//! Time has three clocks, each with its type (`time`): wall-clock unix
//! seconds (`*_s`, the catalogue's, which only select segments and place the
//! cuts and chapters), a stream's own timestamps in its time base, and the
//! output timeline in 90 kHz ticks. The plan is the one place that maps one
//! onto another.
//!
//! Only `media::ffi` and `output::sys` may use `unsafe` (the crate denies it
//! elsewhere); both are small and comment every call.
//!
//! # Example
//!
//! ```no_run
//! use nvr_export::{CancelToken, ExportRequest, Exporter, Layout};
//!
//! let exporter = Exporter::new(Layout::new("/config/frigate.db", "/media/frigate"));
//! let req = ExportRequest::new("front_door", 1_700_000_000.0, 1_700_000_600.0);
//! let outcome = exporter.export(&req, &CancelToken::new(), |p| {
//!     eprintln!("{} {:.1}%", p.step.as_str(), p.percent);
//! })?;
//! println!("wrote {}", outcome.video_path.display());
//! # Ok::<(), nvr_export::Error>(())
//! ```
//!
//! The library never prints and never spawns a process. It logs through
//! `tracing` (a span per export, an event per stage; libav's own messages
//! under the target `libav`): the application's subscriber decides what is
//! shown.

#![deny(clippy::print_stdout, clippy::print_stderr)]
#![deny(unsafe_code)]

pub(crate) mod catalogue;
pub(crate) mod error;
pub(crate) mod export;
pub mod hw;
pub mod job;
pub(crate) mod media;
pub(crate) mod output;
pub(crate) mod plan;
pub(crate) mod probe;
pub(crate) mod progress;
pub(crate) mod remux;
pub mod sample;
pub(crate) mod source;
pub(crate) mod time;
pub(crate) mod timefmt;
pub mod transcode;

pub use error::{Error, ErrorKind, Result, SkippedSegment, Warning};
pub use export::{
    EncodeArgs, ExportOutcome, ExportRequest, Exporter, HlsSource, Layout, Source, Timings,
    MAX_SAMPLES,
};
pub use job::clock::{Clock, ManualClock, SystemClock};
pub use job::migrate::{MigratedExport, MigrationReport};
pub use job::queue::{ExportQueue, QueueConfig};
pub use job::recovery::{RecoveredExport, RecoveryOptions, RecoveryReport};
pub use job::state::{JobError, JobEvent, JobInfo, JobState};
pub use plan::chapters::ChapterMode;
pub use progress::{CancelToken, Progress, ProgressThrottle, Step};
pub use remux::{RemuxStats, WriterChoice, WriterKind};
