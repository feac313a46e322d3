//! One error type for the whole crate.
//!
//! Every variant carries the context needed to act on it (the path, the
//! camera, the range searched), and [`Error::kind`] gives a stable,
//! machine-readable [`ErrorKind`] that the CLI prints as the `kind` of its
//! JSON error event and that a job queue can use to decide whether to retry.

use std::fmt;
use std::path::PathBuf;

use crate::timefmt::fmt_range;

/// A segment that was left out of an export, and why.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SkippedSegment {
    /// Path of the recording file as stored in the catalogue.
    pub path: PathBuf,
    /// Human-readable reason ("missing", "truncated: ...", "no video stream" ...).
    pub reason: String,
}

impl fmt::Display for SkippedSegment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path.display(), self.reason)
    }
}

/// A recording close to a range that had none, to tell the user where to look.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NearbyRecording {
    pub start_s: f64,
    pub end_s: f64,
}

/// Machine-readable class of an [`Error`]; `as_str` is its snake_case name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    InvalidRange,
    InvalidName,
    UnknownCamera,
    NoRecordings,
    UnreadableSegments,
    UnreadableSegment,
    Database,
    UnwritableExportDir,
    DiskFull,
    Cancelled,
    Media,
    Io,
    ForbiddenArgument,
}

impl ErrorKind {
    /// The stable snake_case name printed by the CLI.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidRange => "invalid_range",
            ErrorKind::InvalidName => "invalid_name",
            ErrorKind::UnknownCamera => "unknown_camera",
            ErrorKind::NoRecordings => "no_recordings",
            ErrorKind::UnreadableSegments => "unreadable_segments",
            ErrorKind::UnreadableSegment => "unreadable_segment",
            ErrorKind::Database => "database",
            ErrorKind::UnwritableExportDir => "unwritable_export_dir",
            ErrorKind::DiskFull => "disk_full",
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::Media => "media",
            ErrorKind::Io => "io",
            ErrorKind::ForbiddenArgument => "forbidden_argument",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

fn fmt_nearby(before: &Option<NearbyRecording>, after: &Option<NearbyRecording>) -> String {
    match (before, after) {
        (None, None) => "the camera has no recordings at all".to_string(),
        (Some(b), None) => format!(
            "the nearest recording before it is {} and there is none after it",
            fmt_range(b.start_s, b.end_s)
        ),
        (None, Some(a)) => format!(
            "there is none before it and the nearest after it is {}",
            fmt_range(a.start_s, a.end_s)
        ),
        (Some(b), Some(a)) => format!(
            "the nearest recordings are {} (before) and {} (after)",
            fmt_range(b.start_s, b.end_s),
            fmt_range(a.start_s, a.end_s)
        ),
    }
}

fn fmt_skipped(skipped: &[SkippedSegment]) -> String {
    const SHOWN: usize = 5;
    let mut s = skipped
        .iter()
        .take(SHOWN)
        .map(|k| k.to_string())
        .collect::<Vec<_>>()
        .join("; ");
    if skipped.len() > SHOWN {
        s.push_str(&format!("; and {} more", skipped.len() - SHOWN));
    }
    s
}

/// Everything that can go wrong in an export.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("invalid range: start {start_s} must be before end {end_s} (unix seconds)")]
    InvalidRange { start_s: f64, end_s: f64 },

    #[error("invalid {what} {value:?}: {reason}")]
    InvalidName {
        what: &'static str,
        value: String,
        reason: &'static str,
    },

    #[error("unknown camera {camera:?}: the catalogue has recordings for {}",
        if known.is_empty() { "no camera at all".to_string() } else { known.join(", ") })]
    UnknownCamera { camera: String, known: Vec<String> },

    #[error("no recordings for camera {camera:?} in {}; {}",
        fmt_range(*start_s, *end_s), fmt_nearby(before, after))]
    NoRecordings {
        camera: String,
        start_s: f64,
        end_s: f64,
        before: Option<NearbyRecording>,
        after: Option<NearbyRecording>,
    },

    #[error("none of the {} recordings in range could be read: {}", skipped.len(), fmt_skipped(skipped))]
    UnreadableSegments { skipped: Vec<SkippedSegment> },

    #[error("recording {} became unreadable while it was copied: {message}", path.display())]
    SegmentRead { path: PathBuf, message: String },

    #[error("database {}: {message}", path.display())]
    Database { path: PathBuf, message: String },

    #[error("cannot write to export folder {}: {source}; check that it exists and is writable", path.display())]
    UnwritableExportDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("disk full under {}: {needed_bytes} bytes needed, {available_bytes} available; free some space and retry", path.display())]
    DiskFull {
        path: PathBuf,
        needed_bytes: u64,
        available_bytes: u64,
    },

    #[error("export cancelled")]
    Cancelled,

    #[error("{context}: {source}")]
    Media {
        context: String,
        #[source]
        source: ffmpeg_next::Error,
    },

    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("forbidden argument {arg:?}: {reason}")]
    ForbiddenArgument { arg: String, reason: String },
}

impl Error {
    /// The machine-readable class of this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::InvalidRange { .. } => ErrorKind::InvalidRange,
            Error::InvalidName { .. } => ErrorKind::InvalidName,
            Error::UnknownCamera { .. } => ErrorKind::UnknownCamera,
            Error::NoRecordings { .. } => ErrorKind::NoRecordings,
            Error::UnreadableSegments { .. } => ErrorKind::UnreadableSegments,
            Error::SegmentRead { .. } => ErrorKind::UnreadableSegment,
            Error::Database { .. } => ErrorKind::Database,
            Error::UnwritableExportDir { .. } => ErrorKind::UnwritableExportDir,
            Error::DiskFull { .. } => ErrorKind::DiskFull,
            Error::Cancelled => ErrorKind::Cancelled,
            Error::Media { .. } => ErrorKind::Media,
            Error::Io { .. } => ErrorKind::Io,
            Error::ForbiddenArgument { .. } => ErrorKind::ForbiddenArgument,
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    pub(crate) fn media(context: impl Into<String>, source: ffmpeg_next::Error) -> Error {
        Error::Media {
            context: context.into(),
            source,
        }
    }

    pub(crate) fn database(path: impl Into<PathBuf>, err: impl fmt::Display) -> Error {
        Error::Database {
            path: path.into(),
            message: err.to_string(),
        }
    }
}

/// Crate-wide result alias.
pub type Result<T, E = Error> = std::result::Result<T, E>;
