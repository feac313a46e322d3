//! The export job: one request in, one committed MP4 and its catalogue row
//! out. Each stage is a file of its own, and each file uses only those
//! listed above it:
//!
//! * [`request`]: what is asked ([`ExportRequest`], [`Layout`],
//!   [`Source`]) and the check that refuses a bad request before anything
//!   is read.
//! * `settings`: the exporter's knobs.
//! * [`owner`]: the lock file that owns an export id across processes.
//! * [`thumbnail`]: the export's picture (a frame decoded, scaled, WebP).
//! * `reads`: every catalogue and folder read, before anything is written
//!   or planned.
//! * `row`: the row's lifecycle (claimed, committed, removed on failure).
//! * `footage`, `timeline`: a file-source export's segments probed and
//!   laid out on the output timeline; `hls`: the VOD server's playlist and
//!   its writer; `cameras`: several cameras' on one timeline, and their
//!   writer.
//! * [`manifest`]: the export's manifest (hashes of it and its sources),
//!   its signature, and [`manifest::verify`].
//! * `saved`: the key of a stream copy's inputs, under which its plan is
//!   saved, and what is saved with it: a dead export resumes from it
//!   without planning again.
//! * `writer`: the input read and written by the writer that suits it.
//! * `outcome`: what the caller gets back.
//! * `exporter`: [`Exporter`], whose `export` runs the stages in order.
//! * `clip`: [`Exporter::virtual_mp4`], the same stages up to the writer,
//!   kept as a virtual file instead of written.
//!
//! Sources: the recordings (the default), the NVR's hourly previews with
//! the cached frames of the current hour ([`Source::Preview`]: cut exactly
//! with an edit list, see `plan::Trim`), or its HLS VOD server.

mod ahead;
mod cameras;
mod clip;
mod exporter;
mod footage;
mod hls;
pub mod manifest;
mod outcome;
pub mod owner;
mod reads;
pub mod request;
mod row;
mod saved;
mod settings;
pub mod thumbnail;
mod timeline;
mod writer;

pub use ahead::IndexAhead;
pub use exporter::Exporter;
pub use outcome::{DoneRecord, ExportOutcome, Timings};
pub use request::{EncodeArgs, ExportRequest, HlsSource, Layout, Source, StartAt};
pub use settings::MAX_SAMPLES;
