//! How a failure while copying becomes an [`Error`]: one classifier for
//! every writer, so that the same failure reads the same whichever writer
//! met it (a full disk names the output's folder, a short segment names the
//! segment, anything while cancelling is the cancel).

use std::path::Path;

use crate::error::Error;
use crate::progress::CancelToken;

/// Which side of a copy failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    /// Reading a segment.
    Read,
    /// Writing the output.
    Write,
}

/// What failed, before it is classified.
pub enum Failure {
    Io(std::io::Error),
    Av(ffmpeg_next::Error),
    /// A state found wrong (a file shorter than its index says).
    Found(String),
}

impl From<std::io::Error> for Failure {
    fn from(e: std::io::Error) -> Failure {
        Failure::Io(e)
    }
}

impl From<ffmpeg_next::Error> for Failure {
    fn from(e: ffmpeg_next::Error) -> Failure {
        Failure::Av(e)
    }
}

/// The one classifier every writer uses: a failure while cancelling is the
/// cancel; `ENOSPC` or `EDQUOT` (from either side: `copy_file_range` cannot
/// say which) is a full disk under the output, `EFBIG` a write failure;
/// otherwise a read failure names the segment and a write failure the output.
fn classify(
    side: Side,
    path: &Path,
    out_path: &Path,
    what: &str,
    failure: Failure,
    cancel: &CancelToken,
) -> Error {
    if cancel.is_cancelled() {
        return Error::Cancelled;
    }
    let errno = match &failure {
        Failure::Io(e) => e.raw_os_error(),
        Failure::Av(ffmpeg_next::Error::Exit) => return Error::Cancelled,
        Failure::Av(ffmpeg_next::Error::Other { errno }) => Some(*errno),
        Failure::Av(_) | Failure::Found(_) => None,
    };
    if errno.is_some_and(crate::output::is_disk_full) {
        return crate::output::disk_full_at(out_path);
    }
    let side = if errno == Some(libc::EFBIG) {
        Side::Write
    } else {
        side
    };
    match (side, failure) {
        (Side::Read, f) => Error::SegmentRead {
            path: path.to_path_buf(),
            message: match f {
                Failure::Io(e) => format!("{what}: {e}"),
                Failure::Av(e) => format!("{what}: {e}"),
                Failure::Found(m) => format!("{what}: {m}"),
            },
        },
        (Side::Write, Failure::Io(e)) => Error::io(out_path, e),
        (Side::Write, Failure::Av(e)) => Error::media(format!("{what} {}", out_path.display()), e),
        (Side::Write, Failure::Found(m)) => {
            Error::media_state(format!("{what} {}", out_path.display()), m)
        }
    }
}

/// Where failures of one export's copy are classified ([`classify`]).
#[derive(Clone, Copy)]
pub(crate) struct Failures<'a> {
    pub out: &'a Path,
    pub cancel: &'a CancelToken,
}

impl Failures<'_> {
    /// Reading segment `path` failed.
    pub fn read(&self, path: &Path, what: &str, f: impl Into<Failure>) -> Error {
        classify(Side::Read, path, self.out, what, f.into(), self.cancel)
    }
    /// Writing the output failed.
    pub fn write(&self, what: &str, f: impl Into<Failure>) -> Error {
        classify(Side::Write, self.out, self.out, what, f.into(), self.cancel)
    }
}
