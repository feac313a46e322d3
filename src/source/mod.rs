//! Sources: where an export's segments come from.
//!
//! A source turns the request (camera, range) into [`Segment`]s: a
//! wall-clock span and a [`Locator`] saying where the media is. Everything
//! downstream (probe, plan, writers) takes segments, never catalogue rows or
//! bare paths, so a new kind of source (the NVR's HLS VOD server, preview
//! files, cached frames) plugs in here.
//!
//! * [`recordings`]: the NVR's recordings table and media folder (local files).
//! * [`previews`]: the hourly preview files and the cached frames of the
//!   current hour.
//! * [`hls`]: the NVR's HLS VOD server.
//!
//! Sources know nothing of what is inside a segment: `probe` reads that,
//! and each segment then travels with its header as a `probe::ProbedSegment`.

pub mod hls;
pub mod previews;
pub mod recordings;

use std::fmt;
use std::path::PathBuf;

/// Where a segment's media is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Locator {
    /// A local MP4 file: the index-driven writer may copy its bytes in kernel.
    File(PathBuf),
}

impl fmt::Display for Locator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Locator::File(p) => write!(f, "{}", p.display()),
        }
    }
}

/// One piece of recorded media and when it was recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct Segment {
    /// The source's id for it (the catalogue row id for recordings).
    pub id: String,
    /// Wall-clock span the source states (unix seconds). For NVR recordings
    /// this is approximate: see `plan` for what it may and may not decide.
    pub start_s: f64,
    pub end_s: f64,
    pub locator: Locator,
}
