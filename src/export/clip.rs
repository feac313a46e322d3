//! Clips served without writing: an export's plan as a [`VirtualMp4`].
//!
//! The same stages as an export up to the writer (request check, catalogue
//! reads, footage probed and laid out on the timeline), then the
//! index-driven writer's layout kept in memory instead of written
//! (`remux::fast::parts_streamed`: the file answers as soon as its layout
//! is known; its head is written behind it on a thread of its own). Nothing is written: no row, no file, no
//! thumbnail, no folder. What the index-driven writer cannot take (a
//! re-encode, previews cut exactly, the VOD server's playlist, segments
//! whose parameter sets would need the libav writer) is refused with
//! [`Error::NotServable`] naming why: export those.

use crate::error::{Error, Result};
use crate::progress::{CancelToken, Progress, Reporter};
use crate::remux::fast;
use std::sync::Arc;

use crate::remux::virtual_mp4::{HeadBuf, VirtualMp4};

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
        if req.is_multi() {
            return Err(not_servable(
                "a clip is one camera's: several cameras in one file are an export",
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
        let reporter = Reporter::new(&mut ignore, cancel.clone(), settings.throttle);
        let Input::Files { footage, timeline } =
            Input::read(layout, settings, 0, req, &reads, &reporter, None)?
        else {
            return Err(not_servable("not a file source"));
        };
        drop(reporter);
        let t_input = t0.elapsed();
        // The layout is all a reader needs to start: the head is written
        // on a thread of its own behind it (see `virtual_mp4::HeadBuf`),
        // which owns what the plan borrows.
        let (tx, rx) = std::sync::mpsc::channel();
        let buf = Arc::new(HeadBuf::new());
        let stream = fast::HeadStream {
            layout: tx,
            buf: buf.clone(),
        };
        let (req_owned, throttle, token) = (req.clone(), settings.throttle, cancel.clone());
        let build = move || {
            // However this thread ends, readers waiting for the head wake.
            struct Finished(Arc<HeadBuf>);
            impl Drop for Finished {
                fn drop(&mut self) {
                    self.0.finish(Err("the index writer stopped".into()));
                }
            }
            let _finished = Finished(stream.buf.clone());
            let job = writer::remux_job(&req_owned, &reads, &footage, &timeline, None);
            if let Err(why) = fast::check(&job) {
                let _ = stream.layout.send(Err(not_servable(&why)));
                return;
            }
            let mut ignore = |_: Progress| {};
            let mut reporter = Reporter::new(&mut ignore, token, throttle);
            if let Err(e) = fast::parts_streamed(&job, &mut reporter, &stream) {
                // Before the layout: the caller gets it; after: the reads do.
                let _ = stream.layout.send(Err(e));
            }
        };
        std::thread::Builder::new()
            .name("clip-head".into())
            .spawn(build)
            .map_err(|e| Error::media_state("virtual file", format!("no thread: {e}")))?;
        let parts = rx
            .recv()
            .map_err(|_| Error::media_state("virtual file", "the planner stopped"))??;
        tracing::debug!(
            reads_ms = t_reads.as_secs_f64() * 1000.0,
            input_ms = (t_input - t_reads).as_secs_f64() * 1000.0,
            layout_ms = (t0.elapsed() - t_input).as_secs_f64() * 1000.0,
            head = parts.head_len,
            "virtual file laid out (its head follows)"
        );
        let key = serde_json::to_string(req).unwrap_or_default();
        Ok(VirtualMp4::streamed(parts, buf, &key))
    }
}
