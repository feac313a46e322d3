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
//! catalogue ── SQLite rows (recordings, reviews, previews, export row)
//!    │
//!    ▼
//! probe ────── segment headers: stream parameters + video sample index (parallel)
//!    │
//!    ▼
//! plan ─────── clips: keyframe-snapped cut points, gaps collapsed, output offsets
//!    │            (plain data; chapters are derived from it)
//!    ▼
//! remux ────── libav packet loop, timestamps rebased per clip
//!    │
//!    ▼
//! output ───── temporary name, lock, fsync, rename; removed on failure
//!    │
//!    ▼
//! export ───── orchestrates the above, owns the export row's lifecycle,
//!              pushes Progress to one closure and obeys a CancelToken
//! ```
//!
//! Wall-clock time (unix seconds, `*_s`) exists only in the catalogue and the
//! plan; output media time is counted in 90 kHz ticks (`*_90k`); segment
//! timestamps stay in their own stream time base until the writer rescales
//! them. The plan is the one place that maps one onto the other.
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
//! The library never prints (libav's own logging is silenced) and never
//! spawns a process.

#![deny(clippy::print_stdout, clippy::print_stderr)]
#![deny(unsafe_code)]

pub(crate) mod catalogue;
pub(crate) mod error;
pub(crate) mod export;
pub mod hw;
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

pub use error::{Error, ErrorKind, Result, SkippedSegment, Warning};
pub use export::{ExportOutcome, ExportRequest, Exporter, Layout, Timings};
pub use plan::chapters::ChapterMode;
pub use progress::{CancelToken, Progress, ProgressThrottle, Step};
pub use remux::{RemuxStats, WriterChoice, WriterKind};
