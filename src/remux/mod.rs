//! Stream copy from the clip plan into one MP4, by one of two writers.
//!
//! * [`fast`]: the index-driven writer. Every sample's offset, size and
//!   timestamp is already known from the segments' headers (see `probe`), so
//!   it computes the whole `moov` first, writes it, then copies each clip's
//!   sample data as one byte run (`copy_file_range`, in kernel). It takes
//!   local MP4 segments that share one sample description and have no
//!   composition offsets (what NVR cameras record).
//! * [`libav`]: the general writer, a packet loop through libav's demuxer
//!   and mov muxer; it takes anything libav reads, in-band parameter-set
//!   changes included.
//!
//! [`remux`] picks the fast writer when [`fast::check`] accepts the job,
//! else the libav one, and says which in [`RemuxStats::writer`]. Both map
//! timestamps through [`cut`], so they write the same packets (a test
//! compares them with `ffprobe -show_packets`).

pub mod clock;
pub mod cut;
mod fail;
pub mod fast;
pub mod hls;
mod job;
pub mod libav;
pub mod mp4;
pub mod resume;
pub mod select;
pub mod tracks;
pub mod virtual_mp4;

use std::path::Path;

use crate::error::{Error, Result};
use crate::progress::Reporter;

pub use job::{RemuxJob, RemuxStats, WriterChoice, WriterKind};

/// Writes `job` to `out_path` (a staged file the caller owns).
pub fn remux(
    job: &RemuxJob<'_>,
    choice: WriterChoice,
    out_path: &Path,
    reporter: &mut Reporter<'_>,
) -> Result<RemuxStats> {
    if job.plan.clips.is_empty() {
        return Err(Error::media_state("remux", "the plan has no clip"));
    }
    let declined = match choice {
        WriterChoice::Libav => Some("libav writer requested".to_string()),
        WriterChoice::Auto => fast::check(job).err(),
    };
    match declined {
        None => fast::write(job, out_path, reporter),
        Some(reason) => {
            let mut stats = libav::write(job, out_path, reporter)?;
            stats.fast_declined = Some(reason);
            Ok(stats)
        }
    }
}
