//! Clips served without writing: an export's plan as a [`VirtualMp4`].
//!
//! The same stages as an export up to the writer (request check, catalogue
//! reads, footage probed and laid out on the timeline), then the
//! index-driven writer's layout kept in memory instead of written
//! (`remux::fast::parts`). Nothing is written: no row, no file, no
//! thumbnail, no folder. What the index-driven writer cannot take (a
//! re-encode, previews cut exactly, the VOD server's playlist, segments
//! whose parameter sets would need the libav writer) is refused with
//! [`Error::NotServable`] naming why: export those.

use crate::error::{Error, Result};
use crate::progress::{CancelToken, Progress, Reporter};
use crate::remux::fast;
use crate::remux::virtual_mp4::VirtualMp4;

use super::exporter::Exporter;
use super::reads::{self, Purpose};
use super::request::{self, ExportRequest, Source};
use super::writer::{self, Input};

impl Exporter {
    /// The MP4 [`Exporter::export`] would write for `req` by stream copy
    /// (on a filesystem without extent sharing), as a virtual file whose
    /// bytes are read on demand from the segments.
    pub fn virtual_mp4(&self, req: &ExportRequest, cancel: &CancelToken) -> Result<VirtualMp4> {
        let not_servable = |reason: &str| Error::NotServable {
            reason: reason.to_string(),
        };
        if request::check(req)?.is_some() {
            return Err(not_servable(
                "a re-encoding request (timelapse, custom arguments) is not a stream copy",
            ));
        }
        if req.source != Source::Recordings {
            return Err(not_servable(
                "only the recordings source can be (previews are cut exactly, and the \
                 VOD server's playlist is its own)",
            ));
        }
        let (layout, settings) = (self.layout(), self.settings());
        let t0 = std::time::Instant::now();
        let reads = reads::read(layout, settings, req, None, Purpose::Clip, cancel)?;
        let t_reads = t0.elapsed();
        let mut ignore = |_: Progress| {};
        let mut reporter = Reporter::new(&mut ignore, cancel.clone(), settings.throttle);
        let Input::Files { footage, timeline } =
            Input::read(layout, settings, 0, req, &reads, &reporter)?
        else {
            return Err(not_servable("not a file source"));
        };
        let job = writer::remux_job(req, &reads, &footage, &timeline, None);
        let t_input = t0.elapsed();
        fast::check(&job).map_err(|why| not_servable(&why))?;
        let t_check = t0.elapsed();
        let (_, parts) = fast::parts(&job, &mut reporter)?;
        let ms = |d: std::time::Duration| d.as_secs_f64() * 1000.0;
        tracing::debug!(
            reads_ms = ms(t_reads),
            input_ms = ms(t_input - t_reads),
            check_ms = ms(t_check - t_input),
            parts_ms = ms(t0.elapsed() - t_check),
            head = parts.head.len(),
            "virtual file planned"
        );
        let key = serde_json::to_string(req).unwrap_or_default();
        Ok(VirtualMp4::new(parts, &key))
    }
}
