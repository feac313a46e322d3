//! A virtual MP4: the file the index-driven writer would write, never
//! written, any byte range read on demand.
//!
//! The index-driven writer knows the whole output before it copies a byte:
//! the head (`ftyp`, the `moov` streamed from the sample tables, the `mdat`
//! header, the chapter samples) and, after it, one run of bytes per clip,
//! each a contiguous range of one segment file (see [`super::fast`]). On a
//! filesystem without extent sharing those runs follow each other with no
//! padding, so byte `o` of the output is byte `o` of the head, or byte
//! `o - data_base - payload_at + start` of one run's segment. That is all
//! this type holds: the head (an hour's is about 2.5 MB, most of it the
//! sample tables) and the runs (a path and four numbers a clip), found by
//! binary search. Moonfire NVR serves its recordings the same way.
//!
//! The head can be streamed: a clip served on demand answers its length,
//! its entity tag and any sample bytes as soon as the layout is known, and
//! reads of the head wait only for the bytes they ask for while the rest of
//! the `moov` is built ([`HeadBuf`]); a player's first request (the first
//! 64 KiB) does not wait for the whole 2.4 MB of an hour's tables.
//!
//! Every read re-checks the segments it touches against the identity they
//! were planned with (inode, size, modification time: the writers' own
//! check, [`FileStamp`]): a segment replaced or rewritten since fails the
//! read with [`Error::SegmentRead`], never with other bytes.

use std::fs::File;
use std::hash::{Hash, Hasher};
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex};

use super::fast::{PartsLayout, RunRef};
use crate::error::{Error, Result};
use crate::output::confine::open_regular;
use crate::probe::FileStamp;

/// A head being written by one thread while others read it: bytes are
/// appended in order; a reader waits until the bytes it asks for are there
/// (or the writer has finished or failed).
#[derive(Debug, Default)]
pub struct HeadBuf {
    state: Mutex<HeadState>,
    grew: Condvar,
}

#[derive(Debug, Default)]
struct HeadState {
    bytes: Vec<u8>,
    /// `None` while writing; `Some(Err)` names why the head was not finished.
    end: Option<std::result::Result<(), String>>,
}

impl HeadBuf {
    pub fn new() -> HeadBuf {
        HeadBuf::default()
    }

    fn append(&self, b: &[u8]) {
        if let Ok(mut st) = self.state.lock() {
            st.bytes.extend_from_slice(b);
        }
        self.grew.notify_all();
    }

    /// The writer is done (`Ok`) or gave up (`Err(why)`); the first word
    /// stands.
    pub fn finish(&self, end: std::result::Result<(), String>) {
        if let Ok(mut st) = self.state.lock() {
            st.end.get_or_insert(end);
        }
        self.grew.notify_all();
    }

    /// Copies head bytes from `at` into `out`, waiting for all of them
    /// (`some`: for at least one).
    fn read(&self, at: usize, out: &mut [u8], some: bool) -> Result<usize> {
        let failed = |why: &str| Error::media_state("virtual file", format!("its index: {why}"));
        let mut st = self.state.lock().map_err(|_| failed("a writer panicked"))?;
        loop {
            let have = st.bytes.len();
            if have >= at + out.len() || have > at && (some || st.end.is_some()) {
                let n = out.len().min(st.bytes.len() - at);
                out[..n].copy_from_slice(&st.bytes[at..at + n]);
                return Ok(n);
            }
            match &st.end {
                Some(Err(why)) => return Err(failed(why)),
                Some(Ok(())) => return Ok(0),
                None => {}
            }
            st = self
                .grew
                .wait(st)
                .map_err(|_| failed("a writer panicked"))?;
        }
    }
}

/// [`HeadBuf`] as an [`std::io::Write`] for the writer (allocated once, at
/// the head's known length).
pub struct HeadWriter<'a>(&'a HeadBuf);

impl<'a> HeadWriter<'a> {
    pub fn new(buf: &'a HeadBuf, len: usize) -> HeadWriter<'a> {
        if let Ok(mut st) = buf.state.lock() {
            st.bytes.reserve_exact(len);
        }
        HeadWriter(buf)
    }
}

impl std::io::Write for HeadWriter<'_> {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.append(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A read-only MP4 that exists only as its plan (see the module doc).
pub struct VirtualMp4 {
    head: Arc<HeadBuf>,
    head_len: u64,
    data_base: u64,
    runs: Vec<RunRef>,
    len: u64,
    etag: String,
    /// The segment last read, kept open for the next read (a player reads
    /// a file in order): (run index, file).
    open: Mutex<Option<(usize, File)>>,
}

impl std::fmt::Debug for VirtualMp4 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VirtualMp4")
            .field("len", &self.len)
            .field("head", &self.head_len)
            .field("runs", &self.runs.len())
            .field("etag", &self.etag)
            .finish()
    }
}

impl VirtualMp4 {
    /// The virtual file of `parts`; `request` (what was asked: camera,
    /// range, options) goes into the entity tag with the segments' identities.
    /// The virtual file of `layout` whose head is still being written into
    /// `head` (see [`HeadBuf`]).
    pub(crate) fn streamed(layout: PartsLayout, head: Arc<HeadBuf>, request: &str) -> VirtualMp4 {
        let payload_end = layout.runs.iter().map(|r| r.payload_at + r.len).max();
        let len = (layout.data_base + payload_end.unwrap_or(0)).max(layout.head_len);
        let mut h = std::collections::hash_map::DefaultHasher::new();
        request.hash(&mut h);
        layout.identity.hash(&mut h);
        for r in &layout.runs {
            let FileStamp {
                id,
                size,
                modified_ns,
            } = r.stamp;
            (id, size, modified_ns, r.start, r.len, r.payload_at).hash(&mut h);
        }
        VirtualMp4 {
            etag: format!("\"{:016x}-{len:x}\"", h.finish()),
            head,
            head_len: layout.head_len,
            data_base: layout.data_base,
            runs: layout.runs,
            len,
            open: Mutex::new(None),
        }
    }

    /// Bytes in the file.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the file has no bytes (never, for a planned export).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// A strong entity tag (quoted, as HTTP sends it): the same while the
    /// request and every segment it reads are the same.
    pub fn etag(&self) -> &str {
        &self.etag
    }

    pub fn content_type(&self) -> &'static str {
        "video/mp4"
    }

    /// Bytes of the head held in memory (the `moov` and what precedes the
    /// sample data).
    pub fn head_len(&self) -> usize {
        self.head_len as usize
    }

    /// Reads up to `buf.len()` bytes at `offset` (fewer only at the end of
    /// the file; 0 at or past it). Sample bytes come from the segment files,
    /// each checked to be the file it was planned with.
    pub fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize> {
        self.read_at_as(offset, buf, false)
    }

    /// [`read_at`](Self::read_at) that returns as soon as it has some
    /// bytes (at least one, but for the end of the file): while the head
    /// is still being written, what of it exists already (a stream, such as
    /// an HTTP response, sends it on at once).
    pub fn read_available_at(&self, offset: u64, buf: &mut [u8]) -> Result<usize> {
        self.read_at_as(offset, buf, true)
    }

    fn read_at_as(&self, offset: u64, buf: &mut [u8], some: bool) -> Result<usize> {
        let want = (buf.len() as u64).min(self.len.saturating_sub(offset)) as usize;
        let mut done = 0;
        while done < want {
            let at = offset + done as u64;
            let out = &mut buf[done..want];
            let n = if at < self.head_len {
                let out_len = out.len().min((self.head_len - at) as usize);
                let out = &mut out[..out_len];
                self.head.read(at as usize, out, some)?
            } else {
                self.read_payload(at - self.data_base, out)?
            };
            if n == 0 {
                break;
            }
            done += n;
            if some {
                break;
            }
        }
        Ok(done)
    }

    /// Reads from the run holding payload byte `p`.
    fn read_payload(&self, p: u64, out: &mut [u8]) -> Result<usize> {
        let i = self.runs.partition_point(|r| r.payload_at + r.len <= p);
        let Some(run) = self.runs.get(i).filter(|r| r.payload_at <= p) else {
            // Nothing lands here (the writer never leaves gaps without
            // extent sharing): the file ends.
            return Ok(0);
        };
        let into = p - run.payload_at;
        let n = (out.len() as u64).min(run.len - into) as usize;
        let mut open = self
            .open
            .lock()
            .map_err(|_| Error::media_state("virtual file", "a reader panicked"))?;
        if open.as_ref().map(|(k, _)| *k) != Some(i) {
            *open = Some((i, open_checked(run)?));
        }
        let Some((_, file)) = open.as_ref() else {
            return Ok(0);
        };
        // Checked again at every read: the open file may have been
        // rewritten in place since it was opened.
        check(run, file)?;
        use std::os::unix::fs::FileExt;
        file.read_exact_at(&mut out[..n], run.start + into)
            .map_err(|e| segment_error(&run.path, format!("read: {e}")))?;
        Ok(n)
    }
}

fn segment_error(path: &Path, message: String) -> Error {
    Error::SegmentRead {
        path: path.to_path_buf(),
        message,
    }
}

fn open_checked(run: &RunRef) -> Result<File> {
    let file =
        open_regular(&run.path).map_err(|e| segment_error(&run.path, format!("open: {e}")))?;
    check(run, &file)?;
    Ok(file)
}

/// The open file is still the segment as planned, and so is the path (a
/// segment replaced under its name is another inode at the path).
fn check(run: &RunRef, file: &File) -> Result<()> {
    let meta = file
        .metadata()
        .map_err(|e| segment_error(&run.path, format!("stat: {e}")))?;
    run.stamp
        .check(&meta)
        .map_err(|why| segment_error(&run.path, why))?;
    let at_path =
        std::fs::metadata(&run.path).map_err(|e| segment_error(&run.path, format!("stat: {e}")))?;
    run.stamp
        .check(&at_path)
        .map_err(|why| segment_error(&run.path, why))
}
