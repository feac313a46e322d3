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
    /// The file's identity when its path was checked against the roots
    /// (`None`: not taken there): an index cache takes it instead of
    /// asking the file system again.
    pub stamp: Option<FileStamp>,
}

/// (device, inode) and modification time in ns of a file's metadata.
pub(crate) fn identity(meta: &std::fs::Metadata) -> ((u64, u64), i128) {
    use std::os::unix::fs::MetadataExt;
    (
        (meta.dev(), meta.ino()),
        meta.mtime() as i128 * 1_000_000_000 + meta.mtime_nsec() as i128,
    )
}

/// What identifies the file a segment was probed from: enough to tell,
/// just before its bytes are copied, that it is still that file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FileStamp {
    pub id: (u64, u64),
    pub size: u64,
    pub modified_ns: i128,
}

impl FileStamp {
    /// The identity of a regular file from its metadata (`None`: not a
    /// regular file).
    pub fn of(meta: &std::fs::Metadata) -> Option<FileStamp> {
        if !meta.is_file() {
            return None;
        }
        let (id, modified_ns) = identity(meta);
        Some(FileStamp {
            id,
            size: meta.len(),
            modified_ns,
        })
    }

    /// `Err` says how the file described by `meta` differs from this one
    /// (another inode, size or modification time).
    pub fn check(&self, meta: &std::fs::Metadata) -> Result<(), String> {
        let (id, modified) = identity(meta);
        if id != self.id {
            return Err("replaced since it was probed (another file now has its name)".into());
        }
        if meta.len() != self.size || modified != self.modified_ns {
            return Err(format!(
                "changed since it was probed ({} bytes then, {} now; modified again)",
                self.size,
                meta.len()
            ));
        }
        Ok(())
    }
}
