//! Opens segment headers and reads what a plan needs: stream parameters and
//! the video sample index. No packet is read and no frame is decoded.
//!
//! Format facts relied on:
//! * The NVR's segments are MP4 files with `moov` first; libav's MP4 demuxer
//!   parses the whole sample table (`stts`, `ctts`, `stss`, `stsz`, `stco`)
//!   at open, so the index of every stream is complete before any read.
//! * The index timestamps are decode timestamps (DTS) in the stream's time
//!   base, already shifted by the track's edit list (so a B-frame stream's
//!   first DTS is negative and its first presented frame is at 0). The index
//!   has no presentation times: composition offsets come from the file's
//!   `ctts` (see `media::isobmff`), so each [`SampleTime`] carries both, and
//!   the last sample's duration is its own `stts` delta, never "stream end
//!   minus last DTS" (that mixes a presentation end with a decode time).
//!
//! Most segments are not opened by libav at all. libav builds each stream's
//! index by parsing the whole `moov` (and sets up a demuxer, codec
//! parameters, probing structures) for every file: on an hour of 360
//! segments that is most of an export that otherwise shares its bytes in
//! the filesystem. The segments of one camera session have identical sample
//! descriptions, so [`Prober`] probes the first one with libav, learns a
//! [`Template`] from it (stream layout, codec parameters, time bases, sample
//! entries), and reads the others' sample tables straight from their `moov`
//! (`isobmff::trak_index`). The template is only used if this reader's
//! index of the first segment equals libav's, entry for entry; any segment
//! whose layout or sample entries differ from it (a camera restart, an
//! unusual edit list) is probed by libav as before.
//!
//! A `trak`'s tables are walked straight into its packed [`SampleTable`]
//! (`isobmff::walk_trak`, `table::IndexBuilder`): no entry per sample in
//! between. A long-lived exporter keeps what it probed in an
//! [`IndexCache`] (see [`cache`]): a segment whose file still has the
//! identity it was probed with is not opened again.
//!
//! Segments are opened in parallel (rayon). A segment that cannot be used
//! (missing, unreadable, truncated, no video, no keyframe) is reported as a
//! [`SkippedSegment`] here, before any output byte is written.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use ffmpeg_next::codec;
use ffmpeg_next::media::Type;
use ffmpeg_next::Rational;
use rayon::prelude::*;

use crate::error::SkippedSegment;
use crate::media::isobmff::{self, TrakSummary};
use crate::media::{self, ffi};
use crate::progress::CancelToken;
pub use crate::source::FileStamp;
use crate::source::{identity, Locator, Segment};

/// A segment together with what its header says.
pub struct ProbedSegment {
    pub segment: Segment,
    /// Shared with the [`IndexCache`] when there is one.
    pub probe: Arc<SegmentProbe>,
}

pub mod cache;
pub mod table;
pub use cache::IndexCache;
use table::IndexBuilder;
pub use table::SampleTable;
#[cfg(any(test, feature = "fuzzing"))]
pub use table::SampleTime;

/// Video timing of one segment: everything the plan needs, nothing of libav.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoTiming {
    pub time_base: Rational,
    /// Samples in decode order.
    pub samples: SampleTable,
}

/// The video stream of a segment.
pub struct VideoStream {
    pub index: usize,
    pub codec: codec::Id,
    pub width: u32,
    pub height: u32,
    pub extradata: Vec<u8>,
    pub parameters: SharedParameters,
    pub timing: VideoTiming,
}

impl VideoStream {
    /// Presentation span of the video (first presented frame to the end of
    /// the last), seconds.
    pub fn duration_s(&self) -> f64 {
        if self.timing.samples.len() == 0 {
            return 0.0;
        }
        let span = self.timing.samples.span();
        crate::time::seconds(span.end - span.min_pts, self.timing.time_base)
    }
}

/// The first audio stream of a segment.
pub struct AudioStream {
    pub index: usize,
    /// The audio sample index (for the index-driven writer).
    pub samples: SampleTable,
    pub codec: codec::Id,
    pub sample_rate: u32,
    pub channels: u16,
    pub time_base: Rational,
    pub parameters: SharedParameters,
}

/// What a segment's header says.
pub struct SegmentProbe {
    pub path: PathBuf,
    pub file_size: u64,
    /// Device and inode: the same file listed twice has the same identity.
    pub file_id: (u64, u64),
    /// Modification time (ns since the epoch) when probed: with the inode
    /// and size, what tells that the file was not replaced or rewritten
    /// before its bytes are copied under this probe's index.
    pub modified_ns: i128,
    pub video: VideoStream,
    pub audio: Option<AudioStream>,
    /// Sample descriptions read from the segment's own `moov`, one per
    /// libav stream; `None` when they could not be read (the index-driven
    /// writer then leaves this export to the libav writer).
    pub traks: Option<Vec<Option<TrakSummary>>>,
}

impl SegmentProbe {
    /// The identity of the file as probed.
    pub fn stamp(&self) -> FileStamp {
        FileStamp {
            id: self.file_id,
            size: self.file_size,
            modified_ns: self.modified_ns,
        }
    }

    /// `Err` says how the file described by `meta` differs from the one
    /// probed (another inode, size or modification time).
    pub fn check_unchanged(&self, meta: &std::fs::Metadata) -> Result<(), String> {
        self.stamp().check(meta)
    }

    /// About how many heap bytes this probe holds (its indexes, sample
    /// entries and codec setup; the shared libav parameters not counted).
    pub fn heap_bytes(&self) -> u64 {
        let traks: usize = self
            .traks
            .iter()
            .flatten()
            .flatten()
            .map(|t| t.sample_entry.len() + t.timing.ctts.len() * 8 + 64)
            .sum();
        (self.video.timing.samples.heap_bytes()
            + self.audio.as_ref().map_or(0, |a| a.samples.heap_bytes())
            + self.video.extradata.len()
            + self.path.as_os_str().len()
            + traks
            + 512) as u64
    }

    /// Samples of the video and audio streams.
    pub fn sample_count(&self) -> u64 {
        (self.video.timing.samples.len() + self.audio.as_ref().map_or(0, |a| a.samples.len()))
            as u64
    }

    /// Whether `other` provably holds the same footage: the same file, or a
    /// file of the same size whose every video sample has the same decode
    /// time, size and offset (a byte copy of it).
    pub fn same_footage(&self, other: &SegmentProbe) -> bool {
        self.file_id == other.file_id
            || (self.file_size == other.file_size
                && self.video.timing.samples == other.video.timing.samples)
    }

    /// The raw sample entry of libav stream `index`, if known.
    pub fn sample_entry(&self, index: usize) -> Option<&TrakSummary> {
        self.traks.as_ref()?.get(index)?.as_ref()
    }
}

/// Bytes read ahead from the start of every segment before probing.
const HEADER_PREFETCH_BYTES: u64 = 64 << 10;
/// Bytes read at once for a segment's `moov` (a 10 s segment's is ~8 KiB;
/// a larger one costs a second read, a smaller read would copy less).
const MOOV_READ_BYTES: usize = 16 << 10;

/// Probes segments batch after batch with one template: learnt (by libav)
/// from the first segment that probes, then used for every later batch.
pub struct Prober {
    learn: bool,
    template: Option<Template>,
    cache: Option<Arc<IndexCache>>,
}

impl Prober {
    /// `learn`: read the others through a template learnt from the first
    /// (see the module doc); `false` probes every segment with libav.
    pub fn new(learn: bool) -> Prober {
        Prober {
            learn,
            template: None,
            cache: None,
        }
    }

    /// Takes segments still as they were probed from `cache` and keeps
    /// what it probes there (see [`cache`]).
    pub fn with_cache(mut self, cache: Option<Arc<IndexCache>>) -> Prober {
        self.cache = cache;
        self
    }

    /// Probes `segments` in parallel, keeping order, through the cache
    /// when there is one. `Err` entries say why a segment cannot be used.
    pub fn probe(
        &mut self,
        segments: Vec<Segment>,
        cancel: &CancelToken,
    ) -> Vec<Result<ProbedSegment, SkippedSegment>> {
        let Some(cache) = self.cache.clone() else {
            return self.probe_files(segments, cancel);
        };
        fn path_of(s: &Segment) -> &Path {
            match &s.locator {
                Locator::File(p) => p,
            }
        }
        // The identity the roots check saw, else asked now.
        let stamps: Vec<Option<FileStamp>> = segments
            .par_iter()
            .map(|s| s.stamp.or_else(|| cache::stamp_of(path_of(s))))
            .collect();
        let paths: Vec<&Path> = segments.iter().map(path_of).collect();
        let hits = cache.get_all(&paths, &stamps);
        let mut out: Vec<Option<Result<ProbedSegment, SkippedSegment>>> = Vec::new();
        let mut misses = Vec::new();
        let mut at = Vec::new();
        for (i, (segment, hit)) in segments.into_iter().zip(hits).enumerate() {
            match hit {
                Some(probe) => out.push(Some(Ok(ProbedSegment { segment, probe }))),
                None => {
                    out.push(None);
                    misses.push(segment);
                    at.push(i);
                }
            }
        }
        if !misses.is_empty() {
            let probed = self.probe_files(misses, cancel);
            cache.put_all(
                probed
                    .iter()
                    .filter_map(|r| r.as_ref().ok())
                    .map(|p| p.probe.clone()),
            );
            for (i, r) in at.into_iter().zip(probed) {
                out[i] = Some(r);
            }
        }
        out.into_iter().flatten().collect()
    }

    /// Probes the files of `segments` in parallel, keeping order.
    fn probe_files(
        &mut self,
        segments: Vec<Segment>,
        cancel: &CancelToken,
    ) -> Vec<Result<ProbedSegment, SkippedSegment>> {
        media::init();
        // Every header is asked for at once, before any is read: the kernel
        // then reads them all with its full queue depth instead of a couple
        // at a time (the parallel probes). A segment's header is its first
        // few KiB (the NVR writes `moov` first). Cold, an hour's 360
        // headers: 98 -> 59 ms; warm it costs nothing measurable (an open
        // and an fadvise a file).
        // (Opened and closed again: holding hundreds of descriptors open
        // grows the process's descriptor table, and each growth waits for
        // an RCU grace period: measured, 1.5 -> 11-21 ms for an hour.)
        // Not when the headers are already cached (the first and the last
        // segment's first byte say so, read without waiting): warm, the
        // opens and fadvises cost an hour 1-2 ms for nothing.
        if !headers_cached(&segments) {
            for s in &segments {
                let Locator::File(p) = &s.locator;
                if let Ok(f) = crate::output::confine::open_regular(p) {
                    let _ = crate::output::will_need(&f, 0, HEADER_PREFETCH_BYTES);
                }
            }
        }
        // libav until one segment probes, and a template is learnt from it
        // (once: later batches use it at once).
        let mut out = Vec::with_capacity(segments.len());
        let mut rest = segments.into_iter();
        if self.template.is_none() {
            for segment in rest.by_ref() {
                let r = probe_segment(segment, None, cancel);
                if let Ok(ps) = &r {
                    self.template = self.learn.then(|| Template::learn(&ps.probe)).flatten();
                    tracing::debug!(
                        template = self.template.is_some(),
                        "segment headers after the first: {}",
                        if self.template.is_some() {
                            "read from their moov"
                        } else {
                            "libav"
                        }
                    );
                    out.push(r);
                    break;
                }
                out.push(r);
            }
        }
        let rest: Vec<Segment> = rest.collect();
        let template = self.template.as_ref();
        out.extend(
            rest.into_par_iter()
                .map(|segment| probe_segment(segment, template, cancel))
                .collect::<Vec<_>>(),
        );
        out
    }
}

/// Whether the first and the last of `segments` have their first byte in
/// the page cache (a recent range that was read or written lately).
fn headers_cached(segments: &[Segment]) -> bool {
    let cached = |s: Option<&Segment>| {
        let Some(Locator::File(p)) = s.map(|s| &s.locator) else {
            return false;
        };
        crate::output::confine::open_regular(p)
            .map(|f| crate::output::in_page_cache(&f, 0))
            .unwrap_or(false)
    };
    cached(segments.first()) && cached(segments.last())
}

/// Probes one segment: through `template` when it fits, else libav.
fn probe_segment(
    segment: Segment,
    template: Option<&Template>,
    cancel: &CancelToken,
) -> Result<ProbedSegment, SkippedSegment> {
    let path = match &segment.locator {
        Locator::File(p) => p.as_path(),
    };
    if cancel.is_cancelled() {
        return Err(skip(path, "cancelled"));
    }
    let probe = match template.and_then(|t| t.probe(path)) {
        Some(r) => r?,
        None => probe(path, cancel)?,
    };
    Ok(ProbedSegment {
        segment,
        probe: Arc::new(probe),
    })
}

/// What the segments of one camera session share, learnt from one probed
/// by libav (see the module doc).
pub struct Template {
    /// Streams (one per `trak`) of the file.
    streams: usize,
    video: StreamTemplate,
    audio: Option<StreamTemplate>,
    codec: codec::Id,
    width: u32,
    height: u32,
    extradata: Vec<u8>,
    sample_rate: u32,
    channels: u16,
}

/// A stream's libav parameters, shared by every segment probed through one
/// [`Template`] (they are the template's by construction): one copy for a
/// day of segments instead of one per segment. libav's parameters are not
/// safe to read from two threads at once, hence the lock; users take a copy.
#[derive(Clone)]
pub struct SharedParameters(std::sync::Arc<std::sync::Mutex<codec::Parameters>>);

impl SharedParameters {
    pub fn new(par: &codec::Parameters) -> SharedParameters {
        SharedParameters(std::sync::Arc::new(std::sync::Mutex::new(owned(par))))
    }

    /// An owned copy.
    pub fn copy(&self) -> codec::Parameters {
        match self.0.lock() {
            Ok(p) => owned(&p),
            Err(poisoned) => owned(&poisoned.into_inner()),
        }
    }
}

/// One stream of a [`Template`].
struct StreamTemplate {
    index: usize,
    time_base: Rational,
    /// The sample entry as a decoder sees it.
    entry: Vec<u8>,
    /// Handed to each segment.
    parameters: SharedParameters,
    codec: codec::Id,
}

impl Template {
    /// The template of `p` (probed by libav), if this module's own reading
    /// of the same file gives exactly libav's sample tables.
    pub fn learn(p: &SegmentProbe) -> Option<Template> {
        let traks = p.traks.as_ref()?;
        let stream = |index: usize, time_base: Rational, par: &SharedParameters| {
            let par = par.copy();
            Some(StreamTemplate {
                index,
                time_base,
                entry: traks.get(index)?.as_ref()?.decoder_view().into_owned(),
                parameters: SharedParameters::new(&par),
                codec: par.id(),
            })
        };
        let t = Template {
            streams: traks.len(),
            video: stream(p.video.index, p.video.timing.time_base, &p.video.parameters)?,
            audio: match &p.audio {
                Some(a) => Some(stream(a.index, a.time_base, &a.parameters)?),
                None => None,
            },
            codec: p.video.codec,
            width: p.video.width,
            height: p.video.height,
            extradata: p.video.extradata.clone(),
            sample_rate: p.audio.as_ref().map_or(0, |a| a.sample_rate),
            channels: p.audio.as_ref().map_or(0, |a| a.channels),
        };
        let mine = t.probe(&p.path)?.ok()?;
        let same = mine.video.timing == p.video.timing
            && match (&mine.audio, &p.audio) {
                (Some(a), Some(b)) => a.samples == b.samples && a.time_base == b.time_base,
                (None, None) => true,
                _ => false,
            };
        if !same {
            tracing::debug!(path = %p.path.display(), "own sample index differs from libav's: probing with libav");
        }
        same.then_some(t)
    }

    /// `path` probed from its own `moov` when it fits the template;
    /// `None` when it does not (the caller asks libav).
    fn probe(&self, path: &Path) -> Option<Result<SegmentProbe, SkippedSegment>> {
        // One open: its `fstat` is the identity (what is read is what was
        // stated) and the `moov` comes in one read.
        let (file, meta) = match crate::output::confine::open_regular_meta(path) {
            Ok(f) => f,
            Err(e) => {
                return Some(match stat(path) {
                    Err(why) => Err(why),
                    Ok(_) => Err(skip(path, format!("cannot open: {e}"))),
                })
            }
        };
        let (file_size, file_id, modified_ns) = match checked(path, &meta) {
            Ok(s) => s,
            Err(e) => return Some(Err(e)),
        };
        let moov = isobmff::read_moov_at(&file, file_size, MOOV_READ_BYTES).ok()?;
        drop(file);
        let traks = isobmff::traks(&moov);
        if traks.len() != self.streams {
            return None;
        }
        let (movie_timescale, payloads) = isobmff::trak_payloads(&moov);
        let movie_timescale = movie_timescale?;
        // Each stream's table is packed as its `trak` is walked (no index
        // entry per sample in between); `None`: the template does not fit.
        let walk = |st: &StreamTemplate| {
            let summary = traks.get(st.index)?.as_ref()?;
            if summary.decoder_view() != st.entry.as_slice() {
                return None;
            }
            let n = summary.timing.sample_count as usize;
            let mut b = IndexBuilder::new(
                n,
                summary.timing.offsets_iter(n)?,
                summary.timing.last_delta_of(n),
            );
            let timescale =
                isobmff::walk_trak(payloads.get(st.index)?, movie_timescale, |e| b.push(&e))?;
            (Rational(1, timescale as i32) == st.time_base).then_some(b)
        };
        let video = walk(&self.video)?;
        let audio = match &self.audio {
            Some(a) => Some((a, walk(a)?)),
            None => None,
        };
        let data_end = video
            .data_end
            .max(audio.as_ref().map_or(0, |(_, a)| a.data_end));
        if let Err(e) = check_index(path, video.len(), video.any_keyframe, data_end, file_size) {
            return Some(Err(e));
        }
        let samples = match video.finish() {
            Ok(s) => s,
            Err(e) => return Some(Err(skip(path, format!("video index: {e}")))),
        };
        let audio = match audio {
            None => None,
            Some((st, b)) => match b.finish() {
                Ok(samples) => Some(AudioStream {
                    index: st.index,
                    samples,
                    codec: st.codec,
                    sample_rate: self.sample_rate,
                    channels: self.channels,
                    time_base: st.time_base,
                    parameters: st.parameters.clone(),
                }),
                Err(e) => return Some(Err(skip(path, format!("audio index: {e}")))),
            },
        };
        Some(Ok(SegmentProbe {
            path: path.to_path_buf(),
            file_size,
            file_id,
            modified_ns,
            video: VideoStream {
                index: self.video.index,
                codec: self.codec,
                width: self.width,
                height: self.height,
                extradata: self.extradata.clone(),
                parameters: self.video.parameters.clone(),
                timing: VideoTiming {
                    time_base: self.video.time_base,
                    samples,
                },
            },
            audio,
            traks: Some(traks),
        }))
    }
}

/// Size, identity and modification time of a segment file, or why it
/// cannot be one.
fn stat(path: &Path) -> Result<(u64, (u64, u64), i128), SkippedSegment> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(skip(path, "missing")),
        Err(e) => return Err(skip(path, format!("cannot stat: {e}"))),
    };
    checked(path, &meta)
}

/// [`stat`]'s checks on metadata already read.
fn checked(
    path: &Path,
    meta: &std::fs::Metadata,
) -> Result<(u64, (u64, u64), i128), SkippedSegment> {
    if !meta.is_file() {
        return Err(skip(path, "not a regular file"));
    }
    if meta.len() == 0 {
        return Err(skip(path, "empty file"));
    }
    let (file_id, modified_ns) = identity(meta);
    Ok((meta.len(), file_id, modified_ns))
}

/// The checks on a segment's index: video samples, a keyframe, sample data
/// inside the file.
fn check_entries(
    path: &Path,
    video: &[ffi::IndexEntry],
    audio: &[ffi::IndexEntry],
    file_size: u64,
) -> Result<(), SkippedSegment> {
    let data_end = video
        .iter()
        .chain(audio)
        .map(|e| e.pos + e.size as i64)
        .max()
        .unwrap_or(0);
    let any_keyframe = video.iter().any(|e| e.keyframe);
    check_index(path, video.len(), any_keyframe, data_end, file_size)
}

/// [`check_entries`] on what the index says: its video samples, whether
/// one is a keyframe, where the sample data (video and audio) ends.
fn check_index(
    path: &Path,
    video_samples: usize,
    any_keyframe: bool,
    data_end: i64,
    file_size: u64,
) -> Result<(), SkippedSegment> {
    if video_samples == 0 {
        return Err(skip(path, "no video samples in the index"));
    }
    if !any_keyframe {
        return Err(skip(path, "no keyframe"));
    }
    if data_end as u64 > file_size {
        return Err(skip(
            path,
            format!(
                "truncated: sample data runs to byte {data_end} but the file has {file_size} bytes"
            ),
        ));
    }
    Ok(())
}

fn skip(path: &Path, reason: impl Into<String>) -> SkippedSegment {
    SkippedSegment {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// Probes one segment.
pub fn probe(path: &Path, cancel: &CancelToken) -> Result<SegmentProbe, SkippedSegment> {
    media::init();
    let (file_size, file_id, modified_ns) = stat(path)?;
    let input = ffi::open_input(path, cancel)
        .map_err(|e| skip(path, format!("cannot open as media: {e}")))?;
    let ctx = &input.ctx;

    let vstream = ctx
        .streams()
        .find(|s| s.parameters().medium() == Type::Video)
        .ok_or_else(|| skip(path, "no video stream"))?;
    let astream = ctx
        .streams()
        .find(|s| s.parameters().medium() == Type::Audio);

    let entries = ffi::index_entries(&vstream);
    let audio_entries = astream.as_ref().map(ffi::index_entries).unwrap_or_default();
    check_entries(path, &entries, &audio_entries, file_size)?;

    let tb = vstream.time_base();
    if tb.numerator() <= 0 || tb.denominator() <= 0 {
        return Err(skip(path, "invalid video time base"));
    }
    let traks = isobmff::read_moov(path).ok().map(|m| isobmff::traks(&m));
    let trak_timing = |index: usize| {
        traks
            .as_ref()
            .and_then(|t| t.get(index))
            .and_then(|t| t.as_ref())
            .map(|t| &t.timing)
    };
    let vindex = vstream.index();
    let from_moov = trak_timing(vindex)
        // The moov's tables describe exactly the indexed samples (not so in a
        // fragmented MP4, whose samples are in `moof`s).
        .filter(|t| t.sample_count == entries.len() as u64)
        .and_then(|t| t.offsets(entries.len()));
    let offsets = match from_moov {
        Some(o) => o,
        // Composition offsets the header does not give us 1:1 (fragments, an
        // edit list that drops samples, a file we could not parse): read them
        // from the packets themselves. Slower, but only for such files.
        None => packet_offsets(path, vindex, &entries, cancel)?,
    };
    let last_delta = |index: usize, n: usize| trak_timing(index).and_then(|t| t.last_delta_of(n));
    let samples = SampleTable::from_index(
        &entries,
        offsets.iter().copied(),
        last_delta(vindex, entries.len()),
    )
    .map_err(|e| skip(path, format!("video index: {e}")))?;

    let vpar = vstream.parameters();
    // SAFETY-free reads through ffmpeg-next's accessors.
    let (width, height, extradata) = ffi::video_geometry(&vpar);
    let video = VideoStream {
        index: vstream.index(),
        codec: vpar.id(),
        width,
        height,
        extradata,
        parameters: SharedParameters::new(&vpar),
        timing: VideoTiming {
            time_base: tb,
            samples,
        },
    };

    let audio = astream
        .map(|a| {
            let par = a.parameters();
            let (sample_rate, channels) = ffi::audio_format(&par);
            let samples = SampleTable::from_index(
                &audio_entries,
                std::iter::empty(),
                last_delta(a.index(), audio_entries.len()),
            )
            .map_err(|e| skip(path, format!("audio index: {e}")))?;
            Ok(AudioStream {
                index: a.index(),
                samples,
                codec: par.id(),
                sample_rate,
                channels,
                time_base: a.time_base(),
                parameters: SharedParameters::new(&par),
            })
        })
        .transpose()?;

    Ok(SegmentProbe {
        path: path.to_path_buf(),
        file_size,
        file_id,
        modified_ns,
        video,
        audio,
        traks,
    })
}

/// Sample timing from the index (`offsets`: composition offsets, none for
/// audio): durations from consecutive DTS, the last
/// one from the file's own `stts` (when it describes the same samples), else
/// as long as the one before. Decode time only: the presentation end of a
/// B-frame stream is later than its last DTS, and mixing the two would give
/// the last sample the reorder delay as extra duration.
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn sample_times(
    entries: &[ffi::IndexEntry],
    offsets: Option<&[i32]>,
    timing: Option<&isobmff::TrakTiming>,
) -> Vec<SampleTime> {
    let last_delta = timing
        .filter(|t| t.sample_count == entries.len() as u64)
        .and_then(|t| t.last_delta)
        .map(i64::from)
        .filter(|&d| d > 0);
    let mut out: Vec<SampleTime> = Vec::with_capacity(entries.len());
    for (i, e) in entries.iter().enumerate() {
        let dur = match entries.get(i + 1) {
            Some(n) => n.dts - e.dts,
            None => {
                let prev = out.last().map(|s| s.duration).unwrap_or(0);
                last_delta.unwrap_or(prev.max(1))
            }
        };
        out.push(SampleTime {
            dts: e.dts,
            duration: dur.max(0),
            cts: offsets.and_then(|o| o.get(i)).copied().unwrap_or(0),
            keyframe: e.keyframe,
            pos: e.pos,
            size: e.size,
        });
    }
    out
}

/// Composition offsets read from the packets of stream `index` (in file
/// order, which is the index's order for MP4).
fn packet_offsets(
    path: &Path,
    index: usize,
    entries: &[ffi::IndexEntry],
    cancel: &CancelToken,
) -> Result<Vec<i32>, SkippedSegment> {
    let mut input = ffi::open_input(path, cancel)
        .map_err(|e| skip(path, format!("cannot open as media: {e}")))?;
    let mut out = Vec::with_capacity(entries.len());
    for (stream, packet) in input.ctx.packets() {
        if stream.index() != index {
            continue;
        }
        let (Some(dts), Some(pts)) = (packet.dts(), packet.pts()) else {
            return Err(skip(path, "a video packet has no timestamp"));
        };
        out.push((pts - dts).clamp(i32::MIN as i64, i32::MAX as i64) as i32);
    }
    if out.len() != entries.len() {
        return Err(skip(
            path,
            format!(
                "the sample index has {} video samples but the file {} packets",
                entries.len(),
                out.len()
            ),
        ));
    }
    Ok(out)
}

/// An owned copy of stream parameters. `Stream::parameters()` borrows the
/// demuxer context and keeps it (index, buffers, codec contexts) alive for
/// as long as the parameters live; a probe must not hold 360 open demuxers.
fn owned(par: &codec::Parameters) -> codec::Parameters {
    let mut copy = codec::Parameters::new();
    copy.clone_from(par);
    copy
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sample::{self, SegmentSpec, VideoCodec};

    /// The template's own reading equals libav's, file by file, for every
    /// kind of segment the generators make (NVR-style: the segment muxer,
    /// with and without B-frames and audio, HEVC); fragmented files and a
    /// different sample entry are left to libav.
    #[test]
    fn template_probes_equal_libav_probes() {
        let dir = tempfile::tempdir().unwrap();
        let cancel = CancelToken::new();
        let kinds = [
            ("h264_aac", SegmentSpec::small(25.0)),
            (
                "bframes",
                SegmentSpec {
                    b_frames: 2,
                    ..SegmentSpec::small(25.0)
                },
            ),
            (
                "hevc_noaudio",
                SegmentSpec {
                    codec: VideoCodec::Hevc,
                    b_frames: 2,
                    audio: None,
                    ..SegmentSpec::small(25.0)
                },
            ),
        ];
        for (name, spec) in kinds {
            let store = sample::nvr::record_store(
                &dir.path().join(name),
                "cam",
                1_700_000_000.0,
                &[sample::nvr::Session::new(spec)],
            )
            .unwrap();
            assert!(store.recordings.len() >= 2, "{name}");
            let first = probe(&store.recordings[0].path, &cancel).unwrap();
            let t = Template::learn(&first).unwrap_or_else(|| panic!("{name}: no template"));
            for r in &store.recordings[1..] {
                let by_libav = probe(&r.path, &cancel).unwrap();
                let mine = t.probe(&r.path).unwrap().unwrap();
                assert_eq!(mine.video.timing, by_libav.video.timing, "{name}");
                assert_eq!(mine.traks, by_libav.traks, "{name}");
                assert_eq!(mine.file_size, by_libav.file_size);
                match (&mine.audio, &by_libav.audio) {
                    (Some(a), Some(b)) => {
                        assert_eq!(a.samples, b.samples, "{name}");
                        assert_eq!(a.time_base, b.time_base);
                        assert_eq!((a.sample_rate, a.channels), (b.sample_rate, b.channels));
                    }
                    (None, None) => {}
                    _ => panic!("{name}: audio differs"),
                }
                assert_eq!(mine.video.extradata, by_libav.video.extradata);
            }
            // Another picture size: not this template's.
            let other = dir.path().join(format!("{name}-other.mp4"));
            sample::write_segment(
                &other,
                &SegmentSpec {
                    width: 160,
                    height: 96,
                    ..spec
                },
            )
            .unwrap();
            assert!(t.probe(&other).is_none(), "{name}");
        }
        // A fragmented file: its samples are in `moof`s, no template reading.
        let frag = dir.path().join("frag.mp4");
        sample::write_segment(
            &frag,
            &SegmentSpec {
                fragmented: true,
                ..SegmentSpec::small(3.0)
            },
        )
        .unwrap();
        let p = probe(&frag, &cancel).unwrap();
        if let Some(t) = Template::learn(&p) {
            let again = t.probe(&frag).unwrap().unwrap();
            assert_eq!(again.video.timing, p.video.timing);
        }
    }

    #[test]
    fn last_sample_duration_is_its_own_decode_delta() {
        let e = |dts| ffi::IndexEntry {
            pos: 0,
            dts,
            size: 1,
            keyframe: dts == -1024,
        };
        // Camera `b` of the issue: B-frames, time base 1/15360, frames of
        // 1024, first DTS -1024 (two-frame reorder delay shown as -1024..).
        let entries = [e(-1024), e(0), e(1024)];
        let t = isobmff::TrakTiming {
            sample_count: 3,
            last_delta: Some(1024),
            ctts: vec![(1, 1024), (1, 2048), (1, 0)],
        };
        let offsets = t.offsets(3).unwrap();
        let s = sample_times(&entries, Some(&offsets), Some(&t));
        assert_eq!(
            s.iter().map(|x| x.duration).collect::<Vec<_>>(),
            vec![1024, 1024, 1024]
        );
        assert_eq!(
            s.iter().map(|x| x.pts()).collect::<Vec<_>>(),
            vec![0, 2048, 1024]
        );
        // No stts for these samples: repeat the previous duration.
        let s = sample_times(&entries, None, None);
        assert_eq!(s[2].duration, 1024);
        // A ctts that does not cover the index is not used.
        assert_eq!(t.offsets(4), None);
    }
}
