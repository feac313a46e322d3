//! nvr-export: turns a camera's stored recordings into one finished MP4, in
//! process with libav.
//!
//! # Architecture
//!
//! Data flows one way, and so do the imports: each floor uses only the
//! floors below it (`python3 ../shared/tools/layers.py src` checks it).
//!
//! ```text
//! faces ─────── the CLI (main.rs, cli/); the Python module (python/, a crate
//!                 of its own: the engine never depends on PyO3)
//! job ───────── many exports: ExportQueue (workers, states, subscribers),
//!   │             crash recovery and migration (methods of Exporter)
//! export ────── one export, a stage a file: request (check) -> reads (every
//!   │             catalogue read) -> row (id owned, row in progress) -> writer
//!   │             (the input as a value: probed footage on a timeline, several
//!   │             cameras' on one clock, or the VOD playlist) -> output -> row
//!   │             (commit) -> outcome
//! transcode ─── decode -> filters -> encode (allowlisted options, presets)
//! remux ─────── stream copy over one per-clip selection: the index-driven
//!   │             writer (moov from the sample tables, bytes copied in kernel,
//!   │             shared on XFS/btrfs), the libav packet loop, the HLS writer
//! plan ──────── clips: every frame once, cuts at keyframes or exact, gaps
//!   │             collapsed, output offsets, chapters (pure data)
//! probe ─────── segment headers: stream parameters, compact sample tables
//!   │             (kept between clips by a long-lived exporter: IndexCache)
//! source ────── segments: wall-clock span + where the media is (recordings,
//!   │             previews and cached frames, the NVR's HLS VOD server)
//! catalogue ─── SQLite rows          media ── libav plumbing (the FFI)
//! output ────── temporary name, lock, fsync, rename; free space, disk full
//! progress ──── Progress, throttle, CancelToken
//! error, time ─ the one error type; the three clocks
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
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;
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
pub use export::manifest::{
    keygen, manifest_path, signature_path, verify, Manifest, SourceCheck, Verification,
};
pub use export::{
    DoneRecord, EncodeArgs, ExportOutcome, ExportRequest, Exporter, HlsSource, IndexAhead, Layout,
    Source, StartAt, Timings, MAX_SAMPLES,
};
pub use job::clock::{Clock, ManualClock, SystemClock};
pub use job::migrate::{MigratedExport, MigrationReport};
pub use job::queue::{ExportQueue, QueueConfig};
pub use job::recovery::{RecoveredExport, RecoveryOptions, RecoveryReport, ResumedExport};
pub use job::state::{JobError, JobEvent, JobInfo, JobState};
pub use plan::chapters::ChapterMode;
pub use probe::cache::CacheStats as IndexCacheStats;
pub use progress::{CancelToken, Progress, ProgressThrottle, Step};
pub use remux::cut::AudioDrops;
pub use remux::virtual_mp4::VirtualMp4;
pub use remux::{RemuxStats, WriterChoice, WriterKind};

/// Whether `name` is an IANA time zone this engine knows (names, titles and
/// chapter titles are shown in it; an unknown one is refused).
pub fn is_known_timezone(name: &str) -> bool {
    timefmt::Zone::parse(Some(name)).is_some()
}
