//! The crate's unsafe libav calls that ffmpeg-next does not wrap, kept here
//! in one small module (with `output::sys`, the only modules allowed
//! `unsafe`: the crate denies it everywhere else).
//!
//! * Opening an input *without* `avformat_find_stream_info`: the NVR's
//!   segments are MP4 files whose `moov` already states every stream
//!   parameter, so probing (which decodes frames) is wasted work.
//! * Installing an interrupt callback on input and output contexts, so that a
//!   [`CancelToken`] also aborts libav I/O in progress (including the
//!   faststart pass inside `av_write_trailer`).
//! * Demuxing bytes that are not a file ([`open_reader_input`]): a custom
//!   AVIO context whose read callback pulls from a Rust reader (an HLS
//!   fragment fetched over HTTP), so no temporary file is written.
//! * Reading a stream's sample index (`avformat_index_get_entry`): the MP4
//!   demuxer loads every sample's offset, size, decode timestamp and keyframe
//!   flag when it opens the file, which is all a clip plan needs.

use std::ffi::{c_int, c_void, CString};
use std::path::Path;
use std::ptr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use ffmpeg_next as ffmpeg;
use ffmpeg_next::ffi as sys;

use crate::progress::CancelToken;

/// libav calls this during blocking I/O; non-zero aborts with `AVERROR_EXIT`.
///
/// # Safety
///
/// `opaque` is the pointer from `Arc::as_ptr` of an `AtomicBool`
/// whose `Arc` is owned by the [`Input`]/[`Output`] wrapper that owns the
/// libav context, and fields drop in order: the context first, the flag last.
unsafe extern "C" fn interrupt_cb(opaque: *mut c_void) -> c_int {
    if opaque.is_null() {
        return 0;
    }
    let flag = &*(opaque as *const AtomicBool);
    flag.load(Ordering::Relaxed) as c_int
}

fn interrupt_for(flag: &Arc<AtomicBool>) -> sys::AVIOInterruptCB {
    sys::AVIOInterruptCB {
        callback: Some(interrupt_cb),
        opaque: Arc::as_ptr(flag) as *mut c_void,
    }
}

fn c_path(path: &Path) -> Result<CString, ffmpeg::Error> {
    CString::new(path.as_os_str().as_encoded_bytes()).map_err(|_| ffmpeg::Error::InvalidData)
}

/// An opened input with its cancellation flag kept alive beside it.
pub struct Input {
    // Declared first: dropped (closed) before `_flag`.
    pub ctx: ffmpeg::format::context::Input,
    _flag: Arc<AtomicBool>,
}

/// The licence the linked libavcodec was configured under ("LGPL version
/// 2.1 or later", "GPL version 2 or later").
pub fn libav_license() -> String {
    // SAFETY: avcodec_license returns a static NUL-terminated string.
    unsafe {
        std::ffi::CStr::from_ptr(sys::avcodec_license())
            .to_string_lossy()
            .into_owned()
    }
}

/// Opens the MP4 file `path` for demuxing without probing stream info.
///
/// The MP4/MOV demuxer is named explicitly: libav does not guess the format
/// from the content, so a "segment" that holds an HLS playlist, a concat
/// list or anything else that makes libav open other files is refused
/// instead of followed.
pub fn open_input(path: &Path, cancel: &CancelToken) -> Result<Input, ffmpeg::Error> {
    open_input_as(path, "mov", cancel)
}

/// Opens `path` with the libav demuxer named `demuxer` (`mov`,
/// `webp_pipe`, `jpeg_pipe`, `png_pipe`), without probing: the caller has
/// decided what the file is (see `media::image::sniff`).
pub fn open_input_as(
    path: &Path,
    demuxer: &str,
    cancel: &CancelToken,
) -> Result<Input, ffmpeg::Error> {
    // Only a regular file: libav's open of a FIFO would block for ever.
    crate::output::confine::require_regular(path).map_err(|e| ffmpeg::Error::Other {
        errno: e.raw_os_error().unwrap_or(libc::EINVAL),
    })?;
    let cpath = c_path(path)?;
    let flag = cancel.flag().clone();
    let demuxer = CString::new(demuxer).map_err(|_| ffmpeg::Error::Bug)?;
    // SAFETY: standard libav open sequence. On failure avformat_open_input
    // frees the context it was given, so nothing leaks; on success the
    // context is owned by `Input::wrap`, which closes it on drop.
    unsafe {
        let mut ctx = sys::avformat_alloc_context();
        if ctx.is_null() {
            return Err(ffmpeg::Error::Other {
                errno: libc::ENOMEM,
            });
        }
        (*ctx).interrupt_callback = interrupt_for(&flag);
        let fmt = sys::av_find_input_format(demuxer.as_ptr());
        if fmt.is_null() {
            sys::avformat_free_context(ctx);
            return Err(ffmpeg::Error::DemuxerNotFound);
        }
        match sys::avformat_open_input(&mut ctx, cpath.as_ptr(), fmt, ptr::null_mut()) {
            0 => Ok(Input {
                ctx: ffmpeg::format::context::Input::wrap(ctx),
                _flag: flag,
            }),
            e => Err(ffmpeg::Error::from(e)),
        }
    }
}

/// The Rust side of a custom AVIO context: the reader libav pulls from.
struct ReaderBox {
    reader: Box<dyn std::io::Read + Send>,
}

/// AVIO's read callback: fills `buf` from the reader.
///
/// # Safety
///
/// `opaque` is the `ReaderBox` pointer given to `avio_alloc_context`, alive
/// until the context is freed (see [`ReaderInput`]'s drop order); `buf` is
/// libav's buffer of `size` bytes.
unsafe extern "C" fn read_from_reader(opaque: *mut c_void, buf: *mut u8, size: c_int) -> c_int {
    if opaque.is_null() || buf.is_null() || size <= 0 {
        return sys::AVERROR(libc::EINVAL);
    }
    let rb = &mut *(opaque as *mut ReaderBox);
    let out = std::slice::from_raw_parts_mut(buf, size as usize);
    // A panic must not unwind into C.
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| rb.reader.read(out))) {
        Ok(Ok(0)) => sys::AVERROR_EOF,
        Ok(Ok(n)) => n as c_int,
        Ok(Err(e)) if e.kind() == std::io::ErrorKind::Interrupted => sys::AVERROR_EXIT,
        Ok(Err(e)) => sys::AVERROR(e.raw_os_error().unwrap_or(libc::EIO)),
        Err(_) => sys::AVERROR(libc::EIO),
    }
}

/// An input demuxed from a Rust reader. Drop order matters and is explicit:
/// the format context is closed first, then the AVIO context and its buffer
/// are freed (libav does not free a custom `pb`), then the reader.
pub struct ReaderInput {
    ctx: std::mem::ManuallyDrop<ffmpeg::format::context::Input>,
    avio: *mut sys::AVIOContext,
    _reader: Box<ReaderBox>,
    _flag: Arc<AtomicBool>,
}

// SAFETY: the raw AVIO pointer is owned by this value alone and only used
// from the thread that holds it (the reader is `Send`).
unsafe impl Send for ReaderInput {}

impl ReaderInput {
    pub fn ctx(&mut self) -> &mut ffmpeg::format::context::Input {
        &mut self.ctx
    }
}

impl Drop for ReaderInput {
    fn drop(&mut self) {
        // SAFETY: `ctx` is dropped exactly once, here, and never used after.
        // Then, the format context that used `avio` being closed, the buffer
        // (which libav may have reallocated, so it is read back from the
        // context) and the context are freed.
        unsafe {
            std::mem::ManuallyDrop::drop(&mut self.ctx);
            if !self.avio.is_null() {
                sys::av_freep(&mut (*self.avio).buffer as *mut *mut u8 as *mut c_void);
                sys::avio_context_free(&mut self.avio);
            }
        }
    }
}

/// Size of the AVIO read buffer.
const READER_BUFFER: usize = 64 << 10;

/// Opens an MP4 (fragmented or not) read from `reader`, with the demuxer
/// named (`mov`) and no stream-info probing, like [`open_input`]. The
/// reader is read forward only (no seeking), which the MP4 demuxer accepts
/// for fragmented files: `moov`, then `moof`+`mdat` pairs.
pub fn open_reader_input(
    reader: Box<dyn std::io::Read + Send>,
    cancel: &CancelToken,
) -> Result<ReaderInput, ffmpeg::Error> {
    let flag = cancel.flag().clone();
    let mut rb = Box::new(ReaderBox { reader });
    let demuxer = CString::new("mov").map_err(|_| ffmpeg::Error::Bug)?;
    // SAFETY: libav's documented custom-I/O sequence. Every allocation is
    // freed on each error path; on success `ReaderInput` owns them all and
    // frees them in the right order.
    unsafe {
        let buffer = sys::av_malloc(READER_BUFFER) as *mut u8;
        if buffer.is_null() {
            return Err(ffmpeg::Error::Other {
                errno: libc::ENOMEM,
            });
        }
        let mut avio = sys::avio_alloc_context(
            buffer,
            READER_BUFFER as c_int,
            0,
            &mut *rb as *mut ReaderBox as *mut c_void,
            Some(read_from_reader),
            None,
            None,
        );
        if avio.is_null() {
            sys::av_free(buffer as *mut c_void);
            return Err(ffmpeg::Error::Other {
                errno: libc::ENOMEM,
            });
        }
        (*avio).seekable = 0;
        let free_avio = |avio: &mut *mut sys::AVIOContext| {
            sys::av_freep(&mut (**avio).buffer as *mut *mut u8 as *mut c_void);
            sys::avio_context_free(avio);
        };
        let mut ctx = sys::avformat_alloc_context();
        if ctx.is_null() {
            free_avio(&mut avio);
            return Err(ffmpeg::Error::Other {
                errno: libc::ENOMEM,
            });
        }
        (*ctx).pb = avio;
        (*ctx).flags |= sys::AVFMT_FLAG_CUSTOM_IO as c_int;
        (*ctx).interrupt_callback = interrupt_for(&flag);
        let fmt = sys::av_find_input_format(demuxer.as_ptr());
        if fmt.is_null() {
            sys::avformat_free_context(ctx);
            free_avio(&mut avio);
            return Err(ffmpeg::Error::DemuxerNotFound);
        }
        // On failure avformat_open_input frees `ctx` (not the custom pb).
        match sys::avformat_open_input(&mut ctx, ptr::null(), fmt, ptr::null_mut()) {
            0 => Ok(ReaderInput {
                ctx: std::mem::ManuallyDrop::new(ffmpeg::format::context::Input::wrap(ctx)),
                avio,
                _reader: rb,
                _flag: flag,
            }),
            e => {
                free_avio(&mut avio);
                Err(ffmpeg::Error::from(e))
            }
        }
    }
}

/// An opened output with its cancellation flag kept alive beside it.
pub struct Output {
    pub ctx: ffmpeg::format::context::Output,
    _flag: Arc<AtomicBool>,
}

/// Creates `path` for writing with the muxer `format` ("mp4").
pub fn open_output(
    path: &Path,
    format: &str,
    cancel: &CancelToken,
) -> Result<Output, ffmpeg::Error> {
    let cpath = c_path(path)?;
    let cformat = CString::new(format).map_err(|_| ffmpeg::Error::InvalidData)?;
    let flag = cancel.flag().clone();
    // SAFETY: the context is freed on every error path; on success it is
    // owned by `Output::wrap`, whose destructor closes `pb` and frees it.
    unsafe {
        let mut ctx = ptr::null_mut();
        let r = sys::avformat_alloc_output_context2(
            &mut ctx,
            ptr::null(),
            cformat.as_ptr(),
            cpath.as_ptr(),
        );
        if r < 0 || ctx.is_null() {
            return Err(ffmpeg::Error::from(r));
        }
        (*ctx).interrupt_callback = interrupt_for(&flag);
        // The caller creates the (empty) file: no O_TRUNC, which ext4 answers
        // with a data flush on close, slow when a cancelled export is closed.
        let mut opts = ffmpeg::Dictionary::new();
        opts.set("truncate", "0");
        let mut raw_opts = opts.disown();
        let r = sys::avio_open2(
            &mut (*ctx).pb,
            cpath.as_ptr(),
            sys::AVIO_FLAG_WRITE,
            &(*ctx).interrupt_callback,
            &mut raw_opts,
        );
        sys::av_dict_free(&mut raw_opts);
        if r < 0 {
            sys::avformat_free_context(ctx);
            return Err(ffmpeg::Error::from(r));
        }
        Ok(Output {
            ctx: ffmpeg::format::context::Output::wrap(ctx),
            _flag: flag,
        })
    }
}

/// One entry of a stream's sample index, in the stream's time base.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexEntry {
    /// Byte offset of the sample in the file.
    pub pos: i64,
    /// Decode timestamp (the MP4 demuxer stores DTS here).
    pub dts: i64,
    pub size: u32,
    pub keyframe: bool,
}

/// The sample index libav built for `stream` when the file was opened.
pub fn index_entries(stream: &ffmpeg::format::stream::Stream<'_>) -> Vec<IndexEntry> {
    // SAFETY: the stream pointer is valid for the borrow; entries returned by
    // avformat_index_get_entry are valid until the next index change, and we
    // copy them out immediately.
    unsafe {
        let st = stream.as_ptr() as *mut sys::AVStream;
        let n = sys::avformat_index_get_entries_count(st).max(0);
        let mut out = Vec::with_capacity(n as usize);
        for i in 0..n {
            let e = sys::avformat_index_get_entry(st, i);
            if e.is_null() {
                break;
            }
            let e = &*e;
            let (flags, size) = flags_and_size(e);
            out.push(IndexEntry {
                pos: e.pos,
                dts: e.timestamp,
                size,
                keyframe: flags & sys::AVINDEX_KEYFRAME != 0,
            });
        }
        out
    }
}

/// `AVIndexEntry`'s `int flags:2; int size:30;` bitfield. bindgen's
/// accessors extract it bit by bit (some 400 instructions an entry, 10 % of
/// an hour's export); on little-endian targets the 32-bit unit is read once:
/// `flags` are its low 2 bits, `size` the 30 above them.
#[cfg(target_endian = "little")]
fn flags_and_size(e: &sys::AVIndexEntry) -> (c_int, u32) {
    // SAFETY: `_bitfield_1` is a 4-byte unit inside a valid entry; reading
    // its bytes is a plain (unaligned-safe) copy.
    let bytes: [u8; 4] =
        unsafe { std::ptr::read_unaligned(std::ptr::addr_of!(e._bitfield_1) as *const [u8; 4]) };
    let v = u32::from_le_bytes(bytes);
    ((v & 0x3) as c_int, v >> 2)
}

#[cfg(not(target_endian = "little"))]
fn flags_and_size(e: &sys::AVIndexEntry) -> (c_int, u32) {
    (e.flags(), e.size().max(0) as u32)
}

thread_local! {
    /// libav error messages logged on this thread (see [`libav_errors`]).
    static LIBAV_ERRORS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
    /// The last of them (see [`last_libav_error`]).
    static LAST_ERROR: std::cell::RefCell<String> = const { std::cell::RefCell::new(String::new()) };
}

/// The last error message libav logged on this thread: its reason is often
/// only there (`Cannot load libcuda.so.1`), the return code says less.
pub fn last_libav_error() -> String {
    LAST_ERROR.with(|e| e.borrow().clone())
}

/// How many error messages libav has logged on this thread so far
/// (whatever the log level shown): a decoder that conceals damage still
/// returns frames, and only says so in its log. (Counted only where the
/// log callback is installed: x86_64.)
pub fn libav_errors() -> u64 {
    LIBAV_ERRORS.with(|n| n.get())
}

/// Routes libav's log messages into `tracing` (target `libav`), at the
/// matching level, instead of libav printing to stderr: the library never
/// prints; the application's subscriber decides what is shown.
pub fn route_logs_to_tracing() {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: installs a process-wide callback; `log_to_tracing` only reads
    // its arguments during the call. libav serialises nothing here, so the
    // callback must be thread-safe: it formats into a local buffer.
    unsafe {
        sys::av_log_set_level(libav_level(tracing::level_filters::LevelFilter::current()));
        sys::av_log_set_callback(Some(log_to_tracing));
    }
    #[cfg(not(target_arch = "x86_64"))]
    // SAFETY: sets a global integer. (Where va_list is not a pointer the
    // callback is not installed and libav stays quiet.)
    unsafe {
        sys::av_log_set_level(sys::AV_LOG_QUIET)
    }
}

/// The libav log level that lets through what `max` (the subscriber's
/// most verbose level) would show, so libav formats nothing that is dropped.
#[cfg(target_arch = "x86_64")]
fn libav_level(max: tracing::level_filters::LevelFilter) -> c_int {
    use tracing::level_filters::LevelFilter as L;
    match max {
        L::OFF => sys::AV_LOG_QUIET,
        L::ERROR => sys::AV_LOG_ERROR,
        L::WARN => sys::AV_LOG_WARNING,
        L::INFO => sys::AV_LOG_INFO,
        L::DEBUG => sys::AV_LOG_VERBOSE,
        _ => sys::AV_LOG_DEBUG,
    }
}

/// libav's log callback: formats the line with libav's own formatter and
/// emits it as a `tracing` event.
///
/// # Safety
///
/// Called by libav with a valid format string and argument list for it;
/// `ptr` is an AVClass-bearing context or null.
#[cfg(target_arch = "x86_64")]
unsafe extern "C" fn log_to_tracing(
    ptr: *mut c_void,
    level: c_int,
    fmt: *const std::ffi::c_char,
    vl: *mut sys::__va_list_tag,
) {
    let is_error = level <= sys::AV_LOG_ERROR;
    if is_error {
        LIBAV_ERRORS.with(|n| n.set(n.get() + 1));
    }
    if level > sys::av_log_get_level() && !is_error {
        return;
    }
    let shown = level <= sys::av_log_get_level();
    let mut line = [0 as std::ffi::c_char; 1024];
    let mut prefix: c_int = 1;
    let n = sys::av_log_format_line2(
        ptr,
        level,
        fmt,
        vl,
        line.as_mut_ptr(),
        line.len() as c_int,
        &mut prefix,
    );
    if n < 0 {
        return;
    }
    let text = std::ffi::CStr::from_ptr(line.as_ptr()).to_string_lossy();
    let text = text.trim_end();
    if text.is_empty() {
        return;
    }
    if is_error {
        LAST_ERROR.with(|e| *e.borrow_mut() = text.to_string());
    }
    if !shown {
        return;
    }
    match level {
        l if l <= sys::AV_LOG_ERROR => tracing::error!(target: "libav", "{text}"),
        l if l <= sys::AV_LOG_WARNING => tracing::warn!(target: "libav", "{text}"),
        l if l <= sys::AV_LOG_INFO => tracing::info!(target: "libav", "{text}"),
        l if l <= sys::AV_LOG_VERBOSE => tracing::debug!(target: "libav", "{text}"),
        _ => tracing::trace!(target: "libav", "{text}"),
    }
}

/// Positions `input` so that the next packets of `stream_index` start at
/// the sample at or before `ts` (stream time base). Other streams follow
/// from the same file position, so their packets may start a little earlier.
pub fn seek_backward(input: &mut Input, stream_index: usize, ts: i64) -> Result<(), ffmpeg::Error> {
    // SAFETY: valid open input context; av_seek_frame only reads its index.
    let r = unsafe {
        sys::av_seek_frame(
            input.ctx.as_mut_ptr(),
            stream_index as c_int,
            ts,
            sys::AVSEEK_FLAG_BACKWARD,
        )
    };
    if r < 0 {
        Err(ffmpeg::Error::from(r))
    } else {
        Ok(())
    }
}

/// Replaces the extradata (e.g. the `hvcC` record) of codec parameters.
pub fn set_extradata(
    par: &mut ffmpeg::codec::Parameters,
    data: &[u8],
) -> Result<(), ffmpeg::Error> {
    // SAFETY: libav owns extradata through av_malloc/av_free; the new buffer
    // is allocated with the padding libav requires, zeroed, filled, and
    // swapped in after the old one is freed.
    unsafe {
        let p = par.as_mut_ptr();
        let pad = sys::AV_INPUT_BUFFER_PADDING_SIZE as usize;
        let buf = sys::av_mallocz(data.len() + pad) as *mut u8;
        if buf.is_null() {
            return Err(ffmpeg::Error::Other {
                errno: libc::ENOMEM,
            });
        }
        ptr::copy_nonoverlapping(data.as_ptr(), buf, data.len());
        sys::av_freep(ptr::addr_of_mut!((*p).extradata) as *mut c_void);
        (*p).extradata = buf;
        (*p).extradata_size = data.len() as c_int;
    }
    Ok(())
}

/// An opened encoder's global header (Annex B parameter sets for
/// libx264/libx265), which ffmpeg-next does not expose.
pub fn encoder_extradata(enc: &ffmpeg::encoder::Video) -> Vec<u8> {
    // SAFETY: reads the extradata buffer of a valid, opened encoder context
    // and copies it out before the borrow ends.
    unsafe {
        let c = &*enc.as_ptr();
        if c.extradata.is_null() || c.extradata_size <= 0 {
            Vec::new()
        } else {
            std::slice::from_raw_parts(c.extradata, c.extradata_size as usize).to_vec()
        }
    }
}

/// Width, height and extradata (`avcC`/`hvcC`) of video stream parameters.
pub fn video_geometry(par: &ffmpeg::codec::Parameters) -> (u32, u32, Vec<u8>) {
    // SAFETY: reads plain fields of a valid AVCodecParameters; the
    // extradata is copied out while the borrow holds.
    unsafe {
        let p = &*par.as_ptr();
        let extra = if p.extradata.is_null() || p.extradata_size <= 0 {
            Vec::new()
        } else {
            std::slice::from_raw_parts(p.extradata, p.extradata_size as usize).to_vec()
        };
        (p.width.max(0) as u32, p.height.max(0) as u32, extra)
    }
}

/// Sample rate and channel count (from the FFmpeg >= 5.1 channel layout)
/// of audio stream parameters.
pub fn audio_format(par: &ffmpeg::codec::Parameters) -> (u32, u16) {
    // SAFETY: reads plain fields of a valid AVCodecParameters.
    unsafe {
        let p = &*par.as_ptr();
        (
            p.sample_rate.max(0) as u32,
            p.ch_layout.nb_channels.max(0) as u16,
        )
    }
}

/// Sets the codec tag (FourCC) an output stream is written with, e.g. `hvc1`.
pub fn set_codec_tag(stream: &mut ffmpeg::format::stream::StreamMut<'_>, fourcc: [u8; 4]) {
    let tag = u32::from_le_bytes(fourcc);
    // SAFETY: writes a plain field of the stream's own AVCodecParameters.
    unsafe {
        (*(*stream.as_mut_ptr()).codecpar).codec_tag = tag;
    }
}

/// Codec parameters of a 3GPP timed-text (`mov_text`) subtitle stream with
/// `description` as its sample description (extradata).
pub fn mov_text_parameters(description: &[u8]) -> Result<ffmpeg::codec::Parameters, ffmpeg::Error> {
    let mut par = ffmpeg::codec::Parameters::new();
    // SAFETY: plain fields of a freshly allocated AVCodecParameters owned
    // by `par`; the extradata is set through `set_extradata`.
    unsafe {
        let p = par.as_mut_ptr();
        (*p).codec_type = sys::AVMediaType::AVMEDIA_TYPE_SUBTITLE;
        (*p).codec_id = sys::AVCodecID::AV_CODEC_ID_MOV_TEXT;
    }
    set_extradata(&mut par, description)?;
    Ok(par)
}

/// Ends a filter graph's input at `pts` (in the buffer source's time base):
/// filters that fill time (`fps`) then run to that instant instead of
/// stopping at the last frame's start (`av_buffersrc_close`).
pub fn close_source(ctx: &mut ffmpeg::filter::Context, pts: i64) -> Result<(), ffmpeg::Error> {
    // SAFETY: `ctx` is a live buffer-source filter context owned by its
    // graph, borrowed mutably for the call; no pointer is kept.
    let r = unsafe { sys::av_buffersrc_close(ctx.as_mut_ptr(), pts, 0) };
    if r < 0 {
        Err(ffmpeg::Error::from(r))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bitfield_read_matches_bindgen_accessors() {
        for (flags, size) in [(0, 0), (1, 1), (2, 12345), (3, (1 << 30) - 1), (1, 987_654)] {
            let e = sys::AVIndexEntry {
                pos: 7,
                timestamp: 9,
                _bitfield_align_1: [],
                _bitfield_1: sys::AVIndexEntry::new_bitfield_1(flags, size),
                min_distance: 0,
            };
            assert_eq!(flags_and_size(&e), (e.flags(), e.size() as u32));
            assert_eq!(flags_and_size(&e), (flags, size as u32));
        }
    }
}
