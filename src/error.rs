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
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
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

/// Something the user should know about a finished export. Serialised
/// as its fields tagged with its [`kind`](Warning::kind) (a saved resume
/// plan keeps them so); an [`ExportOutcome`](crate::ExportOutcome) and the
/// CLI's JSON `done` event give its message instead ([`as_messages`]).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Warning {
    /// The export has no audio track although some recordings had audio.
    AudioDropped { reason: String },
    /// Recordings in range that were left out.
    SegmentsSkipped { skipped: Vec<SkippedSegment> },
    /// A catalogue row's span disagrees with its file's content.
    CatalogueMismatch {
        id: String,
        location: String,
        row_s: f64,
        file_s: f64,
        /// How much of the file the export holds (the range may cut it).
        exported_s: f64,
    },
    /// The file is finished but its catalogue row could not be marked done
    /// (the catalogue stayed locked, or its disk is full): the NVR shows
    /// the export as in progress until recovery marks it done.
    CatalogueNotUpdated { id: String, reason: String },
    /// HLS: fragments that do not decode with the playlist's single init
    /// segment (the NVR's `/vod/` path takes it from the last clip, so a
    /// camera restart with new parameters breaks the clips before it).
    InitMismatch { fragments: Vec<String> },
    /// The hardware preset failed; the export was encoded in software.
    EncoderFallback { preset: String, reason: String },
    /// The encoder asked for is not in this libav; a stand-in for the same
    /// codec encoded instead (libx264 in the LGPL build: OpenH264).
    EncoderSubstituted { asked: String, used: String },
    /// Chapters were asked for but could not be placed.
    ChaptersNotMade { reason: String },
    /// A dead export's partial file could not be resumed: started over.
    ResumeRestarted { reason: String },
    /// HLS: what the playlist says of its place in time, where it is not
    /// simply the requested range (named by the playlist's own range, or
    /// placed nowhere).
    PlaylistRange { reason: String },
    /// The export has no thumbnail (`thumb_path` is empty), and why.
    NoThumbnail { reason: String },
    /// HLS: the room reserved for the `moov` was too small; it was written
    /// after the media (the file plays, but not before it is fully loaded).
    MoovAtEnd { reserved: u64, needed: u64 },
    /// Two rows held the same footage; it was exported once.
    DuplicateFootage {
        id: String,
        location: String,
        first_id: String,
        first_location: String,
    },
    /// A multi-camera export: a camera with no footage in range, left out.
    CameraLeftOut { camera: String, reason: String },
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Warning::AudioDropped { reason } => write!(f, "audio dropped: {reason}"),
            Warning::SegmentsSkipped { skipped } => write!(
                f,
                "{} recording(s) skipped: {}",
                skipped.len(),
                skipped
                    .iter()
                    .map(|s| s.to_string())
                    .collect::<Vec<_>>()
                    .join("; ")
            ),
            Warning::CatalogueMismatch {
                id,
                location,
                row_s,
                file_s,
                exported_s,
            } => {
                write!(
                    f,
                    "recording {id} ({location}): the catalogue says {row_s:.1} s, the file \
                     holds {file_s:.1} s; "
                )?;
                if exported_s + 0.05 >= *file_s {
                    write!(f, "its footage is exported whole")?;
                } else if *exported_s < 0.05 {
                    write!(
                        f,
                        "none of its footage is exported (its first frame placed at the row's \
                         start falls outside the range)"
                    )?;
                } else {
                    write!(
                        f,
                        "{exported_s:.1} s of its footage is exported (its first frame placed \
                         at the row's start; the rest lies outside the range)"
                    )?;
                }
                write!(f, ", chapters and cuts placed by the catalogue may be off")
            }
            Warning::CatalogueNotUpdated { id, reason } => write!(
                f,
                "the file is complete, but export row {id} could not be marked done ({reason}); \
                 it is kept, and the next recovery (any later command, or the queue's start-up) \
                 marks the row done"
            ),
            Warning::InitMismatch { fragments } => write!(
                f,
                "{} fragment(s) do not decode with the playlist's only init segment (its \
                 parameters are the last clip's; the camera changed resolution or codec \
                 settings): {}; export with --vod-base (the /vod/clip/ form, an init per \
                 clip) or from the files",
                fragments.len(),
                fragments.join(", ")
            ),
            Warning::EncoderFallback { preset, reason } => {
                write!(f, "{preset} failed ({reason}); encoded in software instead")
            }
            Warning::EncoderSubstituted { asked, used } => write!(
                f,
                "{asked} is not in this libav (a build without GPL code): encoded with \
                 {used} instead, whose options differ (preset, tune and crf do not apply)"
            ),
            Warning::ChaptersNotMade { reason } => write!(f, "no chapters: {reason}"),
            Warning::ResumeRestarted { reason } => {
                write!(f, "a dead export's partial file was started over: {reason}")
            }
            Warning::PlaylistRange { reason } => write!(f, "playlist range: {reason}"),
            Warning::NoThumbnail { reason } => write!(f, "no thumbnail: {reason}"),
            Warning::CameraLeftOut { camera, reason } => {
                write!(f, "camera {camera} left out: {reason}")
            }
            Warning::MoovAtEnd { reserved, needed } => write!(
                f,
                "the index (moov, {needed} bytes) did not fit the {reserved} bytes reserved \
                 for it and was written after the media: the file is valid but players \
                 must load it whole before playing"
            ),
            Warning::DuplicateFootage {
                id,
                location,
                first_id,
                first_location,
            } => write!(
                f,
                "recording {id} ({location}) holds the same footage as recording \
                 {first_id} ({first_location}): exported once"
            ),
        }
    }
}

impl Warning {
    /// The stable snake_case name of this kind of warning.
    pub fn kind(&self) -> &'static str {
        match self {
            Warning::AudioDropped { .. } => "audio_dropped",
            Warning::SegmentsSkipped { .. } => "segments_skipped",
            Warning::CatalogueMismatch { .. } => "catalogue_mismatch",
            Warning::CatalogueNotUpdated { .. } => "catalogue_not_updated",
            Warning::InitMismatch { .. } => "init_mismatch",
            Warning::EncoderFallback { .. } => "encoder_fallback",
            Warning::EncoderSubstituted { .. } => "encoder_substituted",
            Warning::ChaptersNotMade { .. } => "chapters_not_made",
            Warning::ResumeRestarted { .. } => "resume_restarted",
            Warning::PlaylistRange { .. } => "playlist_range",
            Warning::NoThumbnail { .. } => "no_thumbnail",
            Warning::MoovAtEnd { .. } => "moov_at_end",
            Warning::DuplicateFootage { .. } => "duplicate_footage",
            Warning::CameraLeftOut { .. } => "camera_left_out",
        }
    }
}

/// Serialises warnings as their messages (`serialize_with`).
pub fn as_messages<S: serde::Serializer>(
    warnings: &[Warning],
    s: S,
) -> std::result::Result<S::Ok, S::Error> {
    s.collect_seq(warnings.iter().map(|w| w.to_string()))
}

/// A recording close to a range that had none, to tell the user where to look.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NearbyRecording {
    pub start_s: f64,
    pub end_s: f64,
}

/// Machine-readable class of an [`Error`]; `as_str` is its snake_case name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
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
    RangeTooLong,
    QueueFull,
    Vod,
    NoPreviews,
    ForbiddenPath,
    NotServable,
    Manifest,
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
            ErrorKind::RangeTooLong => "range_too_long",
            ErrorKind::QueueFull => "queue_full",
            ErrorKind::Vod => "vod",
            ErrorKind::NoPreviews => "no_previews",
            ErrorKind::ForbiddenPath => "forbidden_path",
            ErrorKind::NotServable => "not_servable",
            ErrorKind::Manifest => "manifest",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Seconds as typed, in scientific notation when huge.
fn fmt_s(x: f64) -> String {
    if x.is_finite() && x.abs() >= 1e12 {
        format!("{x:e}")
    } else {
        format!("{x}")
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
#[non_exhaustive]
pub enum Error {
    #[error("invalid range {} - {} (unix seconds): {reason}", fmt_s(*start_s), fmt_s(*end_s))]
    InvalidRange {
        start_s: f64,
        end_s: f64,
        reason: &'static str,
    },

    #[error("no previews for camera {camera:?} in {}: the catalogue's previews table has no \
        hourly preview overlapping it and {} holds no cached preview frame of it",
        fmt_range(*start_s, *end_s), frames_dir.display())]
    NoPreviews {
        camera: String,
        start_s: f64,
        end_s: f64,
        frames_dir: PathBuf,
    },

    #[error("{what} {} is outside the folders it may come from ({}): refused, not opened",
        path.display(), roots.iter().map(|r| r.display().to_string()).collect::<Vec<_>>().join(", "))]
    ForbiddenPath {
        what: &'static str,
        path: PathBuf,
        roots: Vec<PathBuf>,
    },

    #[error(
        "this clip cannot be served as a virtual file: {reason}; export it instead (the \
        export command writes it by the libav writer)"
    )]
    NotServable { reason: String },

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

    #[error("database {}: {message}{}", path.display(),
        if *busy { "; another process holds a lock on it: retry when it is done" } else { "" })]
    Database {
        path: PathBuf,
        message: String,
        /// Another connection held a lock longer than the busy timeout.
        busy: bool,
    },

    #[error("cannot write to export folder {}: {source}; check that it exists and is writable", path.display())]
    UnwritableExportDir {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("disk full under {}: {}; free some space and retry", path.display(),
        if *needed_bytes == 0 {
            format!("it filled up during the export ({available_bytes} bytes available now)")
        } else {
            format!("{needed_bytes} bytes needed, {available_bytes} available")
        })]
    DiskFull {
        path: PathBuf,
        needed_bytes: u64,
        available_bytes: u64,
    },

    #[error("export cancelled")]
    Cancelled,

    /// libav refused something (`cause` is its message), or the media
    /// layer met a state it cannot handle (`cause` says which).
    #[error("{context}: {cause}")]
    Media { context: String, cause: String },

    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("forbidden argument {arg:?}: {reason}")]
    ForbiddenArgument { arg: String, reason: String },

    #[error("range too long: it holds more than {limit} samples ({samples} counted so far), the most one export holds within its memory bound; export it in parts")]
    RangeTooLong { samples: u64, limit: u64 },

    #[error("VOD server {url}: {reason}")]
    Vod {
        url: String,
        reason: String,
        /// A timeout, a connection failure or a 5xx: may work later.
        retryable: bool,
    },

    #[error("export queue full: {reason} (at most {limit}); retry when some have finished")]
    QueueFull { limit: usize, reason: &'static str },

    /// An export's manifest, its signature or a signing key could not be
    /// made or read.
    #[error("{}: {reason}", path.display())]
    Manifest { path: PathBuf, reason: String },
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
            Error::RangeTooLong { .. } => ErrorKind::RangeTooLong,
            Error::QueueFull { .. } => ErrorKind::QueueFull,
            Error::Vod { .. } => ErrorKind::Vod,
            Error::NoPreviews { .. } => ErrorKind::NoPreviews,
            Error::ForbiddenPath { .. } => ErrorKind::ForbiddenPath,
            Error::NotServable { .. } => ErrorKind::NotServable,
            Error::Manifest { .. } => ErrorKind::Manifest,
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Error {
        Error::Io {
            path: path.into(),
            source,
        }
    }

    /// A libav failure, with libav's own message.
    pub(crate) fn media(context: impl Into<String>, source: ffmpeg_next::Error) -> Error {
        Error::Media {
            context: context.into(),
            cause: source.to_string(),
        }
    }

    /// A media failure with no libav error behind it.
    pub(crate) fn media_state(context: impl Into<String>, cause: impl Into<String>) -> Error {
        Error::Media {
            context: context.into(),
            cause: cause.into(),
        }
    }

    pub(crate) fn database(path: impl Into<PathBuf>, err: impl fmt::Display) -> Error {
        Error::Database {
            path: path.into(),
            message: err.to_string(),
            busy: false,
        }
    }

    /// A catalogue lock held by another connection past the busy timeout.
    pub(crate) fn catalogue_busy(
        path: impl Into<PathBuf>,
        what: &str,
        waited: std::time::Duration,
    ) -> Error {
        Error::Database {
            path: path.into(),
            message: format!(
                "{what}: gave up after {:.1} s waiting for its lock (SQLite's write lock, \
                 or an exclusive lock during a checkpoint), held by another connection: \
                 the NVR, another export, or a tool with the file open",
                waited.as_secs_f64()
            ),
            busy: true,
        }
    }

    /// Whether the same export may succeed if simply run again: the
    /// catalogue was busy, or a segment changed while it was read. A corrupt
    /// catalogue, a bad request, a full disk or a cancel are not.
    pub fn retryable(&self) -> bool {
        matches!(
            self,
            Error::Database { busy: true, .. }
                | Error::SegmentRead { .. }
                | Error::QueueFull { .. }
                | Error::Vod {
                    retryable: true,
                    ..
                }
        )
    }
}

/// Crate-wide result alias.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn warnings_read_as_sentences() {
        assert!(!Error::Cancelled.retryable());
        assert_eq!(
            Warning::AudioDropped {
                reason: "x has no audio track".into()
            }
            .to_string(),
            "audio dropped: x has no audio track"
        );
    }
}
