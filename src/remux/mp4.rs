//! MP4 box writing for the index-driven writer (ISO/IEC 14496-12, with the
//! QuickTime chapter track and Nero `chpl` box that libav's mov muxer writes).
//!
//! Box order written (sizes are all known before the first byte goes out):
//!
//! ```text
//! ftyp
//! moov
//!   mvhd
//!   trak (video, then audio)
//!     tkhd, edts/elst (empty edit for a late start, or a media time that
//!       skips what is before the first presented instant), [tref/chap]
//!     mdia: mdhd, hdlr, minf: vmhd|smhd, dinf/dref/url, stbl:
//!       stsd (the segments' own sample entry, copied verbatim)
//!       stts (run-length decode deltas), [ctts], [stss], stsz, stsc (1 sample/chunk), stco|co64
//!   trak (chapters: QuickTime text track, one sample per chapter)
//!   udta: meta/hdlr/ilst (©nam title, ©cmt comment), chpl (first 255 chapters)
//! mdat: chapter samples, then each clip's sample bytes as one run
//! ```
//!
//! Every sample is its own chunk: `stsc` is a single entry and `stco` holds
//! one offset per sample, so a clip's run can be copied as is and samples
//! of it that the plan leaves out are simply not referenced.
//!
//! Memory does not follow the number of samples: a track's samples come from
//! a [`SampleSource`] that is replayed rather than held. One pass sizes every
//! table ([`SampleStats`]); the `moov` is then built with a hole of known
//! length for each per-sample table ([`Part::Table`]), and [`write_moov`]
//! fills each hole by replaying the source straight into the output.

use std::io::{self, Write};

use crate::plan::chapters::Chapter;

/// Seconds between 1904-01-01 (MP4 epoch) and 1970-01-01.
const MAC_EPOCH_OFFSET_S: i64 = 2_082_844_800;
/// Movie time scale (`mvhd`, `tkhd`, `elst`): milliseconds, as libav writes.
pub const MOVIE_TIMESCALE: u32 = 1000;
const MATRIX: [u32; 9] = [0x0001_0000, 0, 0, 0, 0x0001_0000, 0, 0, 0, 0x4000_0000];
/// The QuickTime text sample entry libav writes for chapter tracks.
const TEXT_SAMPLE_ENTRY: [u8; 79] = [
    // size 79, 'text', reserved(6), data_reference_index 1, display flags,
    // justification, colours, default text box, font table ('ftab': one
    // font, id 1, empty name), 'btrt' (bit rates left 0)
    0x00, 0x00, 0x00, 0x4f, 0x74, 0x65, 0x78, 0x74, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x0d, 0x66, 0x74, 0x61, 0x62, 0x00, 0x01, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x14, 0x62,
    0x74, 0x72, 0x74, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
];
/// Trailer of each chapter sample: an `encd` atom saying UTF-8 (QuickTime).
const ENCD_UTF8: [u8; 12] = [0, 0, 0, 0x0c, b'e', b'n', b'c', b'd', 0, 0, 0x01, 0];

/// A per-sample table whose entries are streamed into a hole of the `moov`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Table {
    Stts,
    Ctts,
    Stss,
    Stsz,
    Stco,
    Co64,
}

/// A piece of a `moov` being written: bytes, or a table of the track with
/// this index (in [`Movie::tracks`]) to stream in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    Bytes(Vec<u8>),
    Table {
        track: usize,
        table: Table,
        len: u64,
    },
}

/// A byte buffer of nested boxes whose sizes are patched on close; it may
/// hold holes of known length ([`BoxBuf::hole`]) filled later.
#[derive(Default)]
pub struct BoxBuf {
    buf: Vec<u8>,
    parts: Vec<Part>,
    done_len: u64,
    /// Open boxes: (part index their header is in, offset there, logical start).
    open: Vec<(usize, usize, u64)>,
}

impl BoxBuf {
    fn len(&self) -> u64 {
        self.done_len + self.buf.len() as u64
    }
    pub fn open(&mut self, kind: &[u8; 4]) -> &mut Self {
        self.open
            .push((self.parts.len(), self.buf.len(), self.len()));
        self.buf.extend_from_slice(&[0, 0, 0, 0]);
        self.buf.extend_from_slice(kind);
        self
    }
    pub fn open_full(&mut self, kind: &[u8; 4], version: u8, flags: u32) -> &mut Self {
        self.open(kind);
        self.u32(((version as u32) << 24) | (flags & 0x00ff_ffff))
    }
    pub fn close(&mut self) -> &mut Self {
        if let Some((part, at, start)) = self.open.pop() {
            let size = ((self.len() - start).min(u32::MAX as u64) as u32).to_be_bytes();
            let target = if part == self.parts.len() {
                Some(&mut self.buf)
            } else {
                match self.parts.get_mut(part) {
                    Some(Part::Bytes(b)) => Some(b),
                    _ => None,
                }
            };
            if let Some(b) = target {
                b[at..at + 4].copy_from_slice(&size);
            }
        }
        self
    }
    /// Leaves `len` bytes for `table` of track `track`.
    pub fn hole(&mut self, track: usize, table: Table, len: u64) -> &mut Self {
        let bytes = std::mem::take(&mut self.buf);
        self.done_len += bytes.len() as u64 + len;
        self.parts.push(Part::Bytes(bytes));
        self.parts.push(Part::Table { track, table, len });
        self
    }
    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.buf.push(v);
        self
    }
    pub fn u16(&mut self, v: u16) -> &mut Self {
        self.bytes(&v.to_be_bytes())
    }
    pub fn u32(&mut self, v: u32) -> &mut Self {
        self.bytes(&v.to_be_bytes())
    }
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.bytes(&v.to_be_bytes())
    }
    pub fn bytes(&mut self, b: &[u8]) -> &mut Self {
        self.buf.extend_from_slice(b);
        self
    }
    pub fn zeros(&mut self, n: usize) -> &mut Self {
        self.buf.resize(self.buf.len() + n, 0);
        self
    }
    /// The bytes, when there is no hole.
    pub fn into_inner(self) -> Vec<u8> {
        self.buf
    }
    fn into_parts(mut self) -> Moov {
        let len = self.len();
        let last = std::mem::take(&mut self.buf);
        self.parts.push(Part::Bytes(last));
        Moov {
            parts: self.parts,
            len,
        }
    }
}

/// A `moov` ready to be written by [`write_moov`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Moov {
    pub parts: Vec<Part>,
    /// Its length in bytes.
    pub len: u64,
}

/// One sample as it will be in the output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutSample {
    /// Decode timestamp in the track's time scale; may be negative (B-frame
    /// reorder delay, an audio frame straddling the start): the edit list
    /// starts presentation at 0.
    pub dts: i64,
    pub duration: i64,
    /// Composition offset (PTS - DTS).
    pub cts: i32,
    pub size: u32,
    pub keyframe: bool,
    /// Offset from the start of the `mdat` payload.
    pub offset: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrackKind {
    Video { width: u32, height: u32 },
    Audio,
    Chapters,
}

/// Where a track's samples come from, in decode order: replayed once to
/// size the tables and once per table, never held.
pub trait SampleSource {
    fn for_each(&self, f: &mut dyn FnMut(OutSample));
}

impl SampleSource for Vec<OutSample> {
    fn for_each(&self, f: &mut dyn FnMut(OutSample)) {
        for s in self {
            f(*s);
        }
    }
}

/// What one pass over a track's samples says: the table sizes and timing.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SampleStats {
    pub count: u64,
    pub stts_runs: u64,
    pub ctts_runs: u64,
    pub ctts_negative: bool,
    pub keyframes: u64,
    pub first: Option<OutSample>,
    /// Decode end of the last sample.
    pub media_end: i64,
    /// Latest presentation end (PTS + duration).
    pub presentation_end: i64,
    pub bytes: u64,
    /// Most bytes in any window of one `timescale` of decode time.
    pub peak_window_bytes: u64,
}

impl SampleStats {
    pub fn of(source: &dyn SampleSource, timescale: u32) -> SampleStats {
        let mut acc = StatsAccumulator::new(timescale);
        source.for_each(&mut |s| acc.push(s));
        acc.finish()
    }
}

/// [`SampleStats`] built one sample at a time (a writer that replays its
/// samples for another reason sizes the tables in the same pass).
#[derive(Debug, Clone)]
pub struct StatsAccumulator {
    st: SampleStats,
    timescale: u32,
    prev: Option<OutSample>,
    last_delta: Option<i64>,
    last_cts: Option<i32>,
    window: std::collections::VecDeque<(i64, u32)>,
    window_bytes: u64,
}

impl StatsAccumulator {
    pub fn new(timescale: u32) -> StatsAccumulator {
        StatsAccumulator {
            st: SampleStats::default(),
            timescale,
            prev: None,
            last_delta: None,
            last_cts: None,
            window: Default::default(),
            window_bytes: 0,
        }
    }

    pub fn push(&mut self, s: OutSample) {
        let st = &mut self.st;
        st.count += 1;
        st.first.get_or_insert(s);
        if let Some(p) = self.prev {
            let delta = s.dts - p.dts;
            if self.last_delta != Some(delta) {
                st.stts_runs += 1;
                self.last_delta = Some(delta);
            }
        }
        if self.last_cts != Some(s.cts) {
            st.ctts_runs += 1;
            self.last_cts = Some(s.cts);
        }
        st.ctts_negative |= s.cts < 0;
        st.keyframes += s.keyframe as u64;
        st.media_end = s.dts + s.duration.max(0);
        st.presentation_end = st
            .presentation_end
            .max(s.dts + s.cts as i64 + s.duration.max(0));
        st.bytes += s.size as u64;
        self.window.push_back((s.dts, s.size));
        self.window_bytes += s.size as u64;
        while let Some(&(d, sz)) = self.window.front() {
            if d + self.timescale as i64 > s.dts {
                break;
            }
            self.window.pop_front();
            self.window_bytes -= sz as u64;
        }
        st.peak_window_bytes = st.peak_window_bytes.max(self.window_bytes);
        self.prev = Some(s);
    }

    pub fn finish(self) -> SampleStats {
        let mut st = self.st;
        if let Some(p) = self.prev {
            if self.last_delta != Some(p.duration) {
                st.stts_runs += 1;
            }
        }
        if st.ctts_runs == 1 && st.first.is_some_and(|f| f.cts == 0) {
            st.ctts_runs = 0;
        }
        st
    }
}

/// One output track.
pub struct Track<'a> {
    pub kind: TrackKind,
    pub id: u32,
    pub timescale: u32,
    pub sample_entry: Vec<u8>,
    pub samples: &'a dyn SampleSource,
    pub stats: SampleStats,
    /// Track id of the chapter track this one refers to (`tref/chap`).
    pub chapter_track: Option<u32>,
}

/// A track's edit list, in the movie time scale except `media_time`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Edit {
    /// Empty edit before the media starts (a track that starts late).
    delay: u64,
    /// Media time (track time scale) presented first.
    media_time: u64,
    duration: u64,
}

impl<'a> Track<'a> {
    /// A track of `samples`, sized by one pass over them.
    pub fn new(
        kind: TrackKind,
        id: u32,
        timescale: u32,
        sample_entry: Vec<u8>,
        samples: &'a dyn SampleSource,
        chapter_track: Option<u32>,
    ) -> Track<'a> {
        let stats = SampleStats::of(samples, timescale);
        Track::with_stats(
            kind,
            id,
            timescale,
            sample_entry,
            samples,
            stats,
            chapter_track,
        )
    }

    /// A track of `samples` whose [`SampleStats`] the caller already has
    /// (from a pass of its own over the same samples).
    pub fn with_stats(
        kind: TrackKind,
        id: u32,
        timescale: u32,
        sample_entry: Vec<u8>,
        samples: &'a dyn SampleSource,
        stats: SampleStats,
        chapter_track: Option<u32>,
    ) -> Track<'a> {
        Track {
            kind,
            id,
            timescale,
            sample_entry,
            samples,
            stats,
            chapter_track,
        }
    }

    /// Duration of the media in the track's time scale.
    fn media_duration(&self) -> u64 {
        match self.stats.first {
            Some(f) => (self.stats.media_end - f.dts).max(0) as u64,
            None => 0,
        }
    }
    /// (average, peak over one second) bit rate.
    pub fn bit_rates(&self) -> (u32, u32) {
        let span = self.media_duration().max(1) as u128;
        let avg = self.stats.bytes as u128 * 8 * self.timescale as u128 / span;
        let peak = self.stats.peak_window_bytes as u128 * 8;
        (
            avg.min(u32::MAX as u128) as u32,
            peak.min(u32::MAX as u128) as u32,
        )
    }
    fn to_movie(&self, v: u64, round_up: bool) -> u64 {
        let ts = self.timescale.max(1) as u128;
        let n = v as u128 * MOVIE_TIMESCALE as u128;
        (if round_up { n.div_ceil(ts) } else { n / ts }) as u64
    }
    /// The edit that presents output time `t` at movie time `t`: what is
    /// before 0 is skipped by the media time, a late start is an empty edit.
    /// Computed as libav's mov muxer does (first sample's PTS rounded down to
    /// the movie time scale, presentation span from it to the latest sample
    /// end rounded up), so that both writers'
    /// files present the same instants.
    fn edit(&self) -> Edit {
        let Some(first) = self.stats.first else {
            return Edit {
                delay: 0,
                media_time: 0,
                duration: 0,
            };
        };
        let ts = self.timescale.max(1) as i64;
        let start = first.dts + first.cts as i64;
        let delay = (start * MOVIE_TIMESCALE as i64).div_euclid(ts);
        let end = self.stats.presentation_end.max(start);
        let duration = self.to_movie((end - start).max(0) as u64, true) as i64;
        if delay > 0 {
            Edit {
                delay: delay as u64,
                media_time: first.cts.max(0) as u64,
                duration: duration as u64,
            }
        } else {
            Edit {
                delay: 0,
                media_time: (-first.dts.min(0)) as u64,
                duration: (duration + delay).max(0) as u64,
            }
        }
    }
}

/// The chapter samples (at `offset` in `mdat`) and their bytes (to go
/// first in `mdat`); the track is `Track::new(TrackKind::Chapters, id,
/// MOVIE_TIMESCALE, text_sample_entry(), &samples, None)`.
pub fn chapter_samples(chapters: &[Chapter], offset: u64) -> (Vec<OutSample>, Vec<u8>) {
    let mut data = Vec::new();
    let mut samples = Vec::new();
    for (i, c) in chapters.iter().enumerate() {
        let start_ms = c.start.millis();
        let end_ms = match chapters.get(i + 1) {
            Some(n) => n.start.millis(),
            None => c.end.millis(),
        };
        let title = c.title.as_bytes();
        let title = &title[..title.len().min(u16::MAX as usize)];
        let at = data.len() as u64;
        data.extend_from_slice(&(title.len() as u16).to_be_bytes());
        data.extend_from_slice(title);
        data.extend_from_slice(&ENCD_UTF8);
        samples.push(OutSample {
            dts: start_ms,
            duration: (end_ms - start_ms).max(0),
            size: (data.len() as u64 - at) as u32,
            cts: 0,
            keyframe: true,
            offset: offset + at,
        });
    }
    (samples, data)
}

/// The QuickTime text sample entry of a chapter track.
pub fn text_sample_entry() -> Vec<u8> {
    TEXT_SAMPLE_ENTRY.to_vec()
}

/// `ftyp` as libav writes it for MP4.
pub fn ftyp(hevc: bool) -> Vec<u8> {
    let mut b = BoxBuf::default();
    b.open(b"ftyp")
        .bytes(b"isom")
        .u32(0x200)
        .bytes(b"isom")
        .bytes(b"iso2");
    if !hevc {
        b.bytes(b"avc1");
    }
    b.bytes(b"mp41").close();
    b.into_inner()
}

/// The `mdat` header for a payload of `len` bytes (64-bit size when needed).
pub fn mdat_header(len: u64) -> Vec<u8> {
    if len + 8 <= u32::MAX as u64 {
        let mut v = ((len + 8) as u32).to_be_bytes().to_vec();
        v.extend_from_slice(b"mdat");
        v
    } else {
        let mut v = 1u32.to_be_bytes().to_vec();
        v.extend_from_slice(b"mdat");
        v.extend_from_slice(&(len + 16).to_be_bytes());
        v
    }
}

/// Container-level metadata.
pub struct Movie<'a> {
    pub creation_unix_s: f64,
    pub tracks: &'a [Track<'a>],
    pub title: Option<&'a str>,
    pub comment: Option<&'a str>,
    pub chapters: &'a [Chapter],
}

impl<'a> Movie<'a> {
    /// A movie whose title and comment come from container `metadata`
    /// (`title`, `comment`; other keys are not written by this writer).
    pub fn new(
        creation_unix_s: f64,
        tracks: &'a [Track<'a>],
        metadata: &'a [(&'a str, String)],
        chapters: &'a [Chapter],
    ) -> Movie<'a> {
        let meta = |k: &str| {
            metadata
                .iter()
                .find(|(key, _)| *key == k)
                .map(|(_, v)| v.as_str())
        };
        Movie {
            creation_unix_s,
            tracks,
            title: meta("title"),
            comment: meta("comment"),
            chapters,
        }
    }
}

/// The QuickTime chapter text track over `samples` (see [`chapter_samples`]).
pub fn chapter_track<'a>(id: u32, samples: &'a dyn SampleSource) -> Track<'a> {
    Track::new(
        TrackKind::Chapters,
        id,
        MOVIE_TIMESCALE,
        text_sample_entry(),
        samples,
        None,
    )
}

/// Builds `moov`, with a hole for each per-sample table; `co64` chooses
/// 64-bit chunk offsets.
pub fn moov(m: &Movie<'_>, co64: bool) -> Moov {
    let mac = (m.creation_unix_s as i64 + MAC_EPOCH_OFFSET_S).clamp(0, u32::MAX as i64) as u32;
    let duration_ms = m
        .tracks
        .iter()
        .filter(|t| t.kind != TrackKind::Chapters)
        .map(|t| {
            let e = t.edit();
            e.delay + e.duration
        })
        .max()
        .unwrap_or(0);
    let mut b = BoxBuf::default();
    b.open(b"moov");
    b.open_full(b"mvhd", 0, 0)
        .u32(mac)
        .u32(mac)
        .u32(MOVIE_TIMESCALE);
    b.u32(duration_ms.min(u32::MAX as u64) as u32);
    b.u32(0x0001_0000).u16(0x0100).zeros(10);
    for v in MATRIX {
        b.u32(v);
    }
    b.zeros(24)
        .u32(m.tracks.iter().map(|t| t.id).max().unwrap_or(0) + 1);
    b.close();
    for (i, t) in m.tracks.iter().enumerate() {
        trak(&mut b, i, t, mac, co64);
    }
    udta(&mut b, m);
    b.close();
    b.into_parts()
}

/// Tables up to this many bytes in all, all tracks together, are built in
/// one replay of each track's samples and held until written (an hour of a
/// 1080p30 camera with audio: ~4 MB); the tracks past it (a day: some
/// 25 MB a track) are streamed, one replay per table, so that an export
/// never holds more than this of `moov` besides its sample index (it held
/// 53 MB more for a day when the bound was per track).
const FUSED_TABLES_MAX_BYTES: u64 = 16 << 20;

/// Writes `moov` to `w`, each table from its track's samples; chunk
/// offsets are `data_base + OutSample::offset`. `check` runs between
/// tracks and tables (cancellation).
pub fn write_moov(
    moov: &Moov,
    tracks: &[Track<'_>],
    data_base: u64,
    w: &mut dyn Write,
    check: &mut dyn FnMut() -> io::Result<()>,
) -> io::Result<()> {
    write_moov_fusing(moov, tracks, data_base, w, check, FUSED_TABLES_MAX_BYTES)
}

/// [`write_moov`], fusing the tables of tracks up to `fused_max` bytes.
fn write_moov_fusing(
    moov: &Moov,
    tracks: &[Track<'_>],
    data_base: u64,
    w: &mut dyn Write,
    check: &mut dyn FnMut() -> io::Result<()>,
    fused_max: u64,
) -> io::Result<()> {
    // Each track's tables in one replay while they fit what is left of
    // the budget.
    let mut budget = fused_max;
    let mut built: Vec<Vec<(Table, Vec<u8>)>> = vec![Vec::new(); tracks.len()];
    for (i, t) in tracks.iter().enumerate() {
        let tables: Vec<(Table, u64)> = moov
            .parts
            .iter()
            .filter_map(|p| match p {
                Part::Table { track, table, len } if *track == i => Some((*table, *len)),
                _ => None,
            })
            .collect();
        let need = tables.iter().map(|x| x.1).sum::<u64>();
        if need <= budget {
            budget -= need;
            check()?;
            let mut states: Vec<TableState> = tables
                .iter()
                .map(|&(table, len)| TableState::new(table, data_base, len as usize))
                .collect();
            t.samples.for_each(&mut |s| {
                for st in states.iter_mut() {
                    st.push(s);
                }
            });
            built[i] = states
                .into_iter()
                .map(|st| (st.table, st.finish()))
                .collect();
        }
    }
    for part in &moov.parts {
        match part {
            Part::Bytes(b) => w.write_all(b)?,
            Part::Table { track, table, len } => {
                check()?;
                let t = tracks
                    .get(*track)
                    .ok_or_else(|| io::Error::other("moov table of a missing track"))?;
                let ready = built
                    .get_mut(*track)
                    .and_then(|b| b.iter_mut().find(|(k, _)| k == table))
                    .map(|(_, bytes)| std::mem::take(bytes));
                let written = match ready {
                    Some(bytes) => {
                        w.write_all(&bytes)?;
                        bytes.len() as u64
                    }
                    None => write_table(t, *table, data_base, w)?,
                };
                if written != *len {
                    return Err(io::Error::other(format!(
                        "{table:?} table of track {} is {written} bytes, sized {len}",
                        t.id
                    )));
                }
            }
        }
    }
    Ok(())
}

/// Streams one table's entries (a replay of the track's samples); returns
/// the bytes written.
fn write_table(t: &Track<'_>, table: Table, data_base: u64, w: &mut dyn Write) -> io::Result<u64> {
    const CHUNK: usize = 64 << 10;
    let mut state = TableState::new(table, data_base, CHUNK + 16);
    let mut written = 0u64;
    let mut err: Option<io::Error> = None;
    t.samples.for_each(&mut |s| {
        state.push(s);
        if state.out.len() >= CHUNK {
            if err.is_none() {
                match w.write_all(&state.out) {
                    Ok(()) => written += state.out.len() as u64,
                    Err(e) => err = Some(e),
                }
            }
            state.out.clear();
        }
    });
    if let Some(e) = err {
        return Err(e);
    }
    let rest = state.finish();
    w.write_all(&rest)?;
    Ok(written + rest.len() as u64)
}

/// One table being built from a track's samples, entry by entry.
struct TableState {
    table: Table,
    data_base: u64,
    /// Entries not yet handed on.
    out: Vec<u8>,
    /// Samples seen (stss numbers them from 1).
    count: u32,
    prev: Option<OutSample>,
    /// stts: (samples, decode delta) of the current run.
    stts_run: Option<(u32, i64)>,
    /// ctts: (samples, offset) of the current run.
    ctts_run: Option<(u32, i32)>,
}

impl TableState {
    fn new(table: Table, data_base: u64, capacity: usize) -> TableState {
        TableState {
            table,
            data_base,
            out: Vec::with_capacity(capacity),
            count: 0,
            prev: None,
            stts_run: None,
            ctts_run: None,
        }
    }

    fn put_run(out: &mut Vec<u8>, n: u32, v: u32) {
        out.extend_from_slice(&n.to_be_bytes());
        out.extend_from_slice(&v.to_be_bytes());
    }

    fn push(&mut self, s: OutSample) {
        self.count += 1;
        match self.table {
            Table::Stts => {
                // Runs of decode deltas; the last sample's is its own duration.
                if let Some(p) = self.prev {
                    let delta = s.dts - p.dts;
                    self.stts_run = match self.stts_run {
                        Some((n, d)) if d == delta => Some((n + 1, d)),
                        Some((n, d)) => {
                            Self::put_run(&mut self.out, n, d.clamp(0, u32::MAX as i64) as u32);
                            Some((1, delta))
                        }
                        None => Some((1, delta)),
                    };
                }
                self.prev = Some(s);
            }
            Table::Ctts => {
                self.ctts_run = match self.ctts_run {
                    Some((n, c)) if c == s.cts => Some((n + 1, c)),
                    Some((n, c)) => {
                        Self::put_run(&mut self.out, n, c as u32);
                        Some((1, s.cts))
                    }
                    None => Some((1, s.cts)),
                };
            }
            Table::Stss => {
                if s.keyframe {
                    self.out.extend_from_slice(&self.count.to_be_bytes());
                }
            }
            Table::Stsz => self.out.extend_from_slice(&s.size.to_be_bytes()),
            Table::Stco => self
                .out
                .extend_from_slice(&((self.data_base + s.offset) as u32).to_be_bytes()),
            Table::Co64 => self
                .out
                .extend_from_slice(&(self.data_base + s.offset).to_be_bytes()),
        }
    }

    /// The entries not yet handed on, the last run included.
    fn finish(mut self) -> Vec<u8> {
        let clamp = |d: i64| d.clamp(0, u32::MAX as i64) as u32;
        match self.table {
            Table::Stts => {
                if let Some(p) = self.prev {
                    match self.stts_run {
                        Some((n, d)) if d == p.duration => {
                            Self::put_run(&mut self.out, n + 1, clamp(d))
                        }
                        Some((n, d)) => {
                            Self::put_run(&mut self.out, n, clamp(d));
                            Self::put_run(&mut self.out, 1, clamp(p.duration));
                        }
                        None => Self::put_run(&mut self.out, 1, clamp(p.duration)),
                    }
                }
            }
            Table::Ctts => {
                if let Some((n, c)) = self.ctts_run {
                    Self::put_run(&mut self.out, n, c as u32);
                }
            }
            _ => {}
        }
        self.out
    }
}

fn trak(b: &mut BoxBuf, index: usize, t: &Track<'_>, mac: u32, co64: bool) {
    let Edit {
        delay,
        media_time,
        duration: edit,
    } = t.edit();
    let (flags, alt, volume, w, h) = match t.kind {
        TrackKind::Video { width, height } => (3, 0, 0, width, height),
        TrackKind::Audio => (3, 1, 0x0100, 0, 0),
        TrackKind::Chapters => (2, 0, 0, 0, 0),
    };
    b.open(b"trak");
    b.open_full(b"tkhd", 0, flags)
        .u32(mac)
        .u32(mac)
        .u32(t.id)
        .u32(0);
    b.u32((delay + edit).min(u32::MAX as u64) as u32).zeros(8);
    b.u16(0).u16(alt).u16(volume).u16(0);
    for v in MATRIX {
        b.u32(v);
    }
    b.u32(w << 16).u32(h << 16).close();

    b.open(b"edts")
        .open_full(b"elst", 0, 0)
        .u32(1 + (delay > 0) as u32);
    if delay > 0 {
        b.u32(delay.min(u32::MAX as u64) as u32)
            .u32(u32::MAX)
            .u32(0x0001_0000);
    }
    b.u32(edit.min(u32::MAX as u64) as u32)
        .u32(media_time.min(i32::MAX as u64) as u32)
        .u32(0x0001_0000);
    b.close().close();

    if let Some(chap) = t.chapter_track {
        b.open(b"tref").open(b"chap").u32(chap).close().close();
    }

    b.open(b"mdia");
    let media_dur = t.media_duration();
    let (lang, handler, name): (u16, &[u8; 4], &[u8]) = match t.kind {
        TrackKind::Video { .. } => (0x55c4, b"vide", b"VideoHandler\0"),
        TrackKind::Audio => (0x55c4, b"soun", b"SoundHandler\0"),
        TrackKind::Chapters => (0, b"text", b"SubtitleHandler\0"),
    };
    if media_dur > u32::MAX as u64 {
        b.open_full(b"mdhd", 1, 0)
            .u64(mac as u64)
            .u64(mac as u64)
            .u32(t.timescale)
            .u64(media_dur);
    } else {
        b.open_full(b"mdhd", 0, 0)
            .u32(mac)
            .u32(mac)
            .u32(t.timescale)
            .u32(media_dur as u32);
    }
    b.u16(lang).u16(0).close();
    b.open_full(b"hdlr", 0, 0)
        .u32(0)
        .bytes(handler)
        .zeros(12)
        .bytes(name)
        .close();

    b.open(b"minf");
    match t.kind {
        TrackKind::Video { .. } => {
            b.open_full(b"vmhd", 0, 1).zeros(8).close();
        }
        TrackKind::Audio => {
            b.open_full(b"smhd", 0, 0).zeros(4).close();
        }
        TrackKind::Chapters => {
            b.open(b"gmhd");
            b.open_full(b"gmin", 0, 0)
                .u16(0x40)
                .u16(0x8000)
                .u16(0x8000)
                .u16(0x8000)
                .zeros(4)
                .close();
            b.open(b"text")
                .u16(1)
                .zeros(14)
                .u16(1)
                .zeros(14)
                .u32(0x4000_0000)
                .close();
            b.close();
        }
    }
    b.open(b"dinf")
        .open_full(b"dref", 0, 0)
        .u32(1)
        .open_full(b"url ", 0, 1)
        .close()
        .close()
        .close();
    stbl(b, index, t, co64);
    b.close(); // minf
    b.close(); // mdia
    b.close(); // trak
}

fn stbl(b: &mut BoxBuf, index: usize, t: &Track<'_>, co64: bool) {
    let st = &t.stats;
    b.open(b"stbl");
    b.open_full(b"stsd", 0, 0)
        .u32(1)
        .bytes(&t.sample_entry)
        .close();

    // stts: deltas between consecutive decode times; the last sample keeps its duration.
    b.open_full(b"stts", 0, 0)
        .u32(st.stts_runs as u32)
        .hole(index, Table::Stts, st.stts_runs * 8)
        .close();

    // ctts: composition offsets, version 1 (signed) when any is negative.
    if st.ctts_runs > 0 {
        b.open_full(b"ctts", u8::from(st.ctts_negative), 0)
            .u32(st.ctts_runs as u32)
            .hole(index, Table::Ctts, st.ctts_runs * 8)
            .close();
    }

    if matches!(t.kind, TrackKind::Video { .. }) && st.keyframes < st.count {
        b.open_full(b"stss", 0, 0)
            .u32(st.keyframes as u32)
            .hole(index, Table::Stss, st.keyframes * 4)
            .close();
    }

    b.open_full(b"stsz", 0, 0)
        .u32(0)
        .u32(st.count as u32)
        .hole(index, Table::Stsz, st.count * 4)
        .close();
    b.open_full(b"stsc", 0, 0)
        .u32(1)
        .u32(1)
        .u32(1)
        .u32(1)
        .close();
    if co64 {
        b.open_full(b"co64", 0, 0)
            .u32(st.count as u32)
            .hole(index, Table::Co64, st.count * 8);
    } else {
        b.open_full(b"stco", 0, 0)
            .u32(st.count as u32)
            .hole(index, Table::Stco, st.count * 4);
    }
    b.close();
    b.close(); // stbl
}

fn udta(b: &mut BoxBuf, m: &Movie<'_>) {
    b.open(b"udta");
    b.open_full(b"meta", 0, 0);
    b.open_full(b"hdlr", 0, 0)
        .u32(0)
        .bytes(b"mdir")
        .bytes(b"appl")
        .zeros(8)
        .u8(0)
        .close();
    b.open(b"ilst");
    for (key, value) in [(b"\xa9nam", m.title), (b"\xa9cmt", m.comment)] {
        if let Some(v) = value {
            b.open(key)
                .open(b"data")
                .u32(1)
                .u32(0)
                .bytes(v.as_bytes())
                .close()
                .close();
        }
    }
    b.close().close();
    if !m.chapters.is_empty() {
        let n = m.chapters.len().min(255);
        b.open_full(b"chpl", 1, 0).u32(0).u8(n as u8);
        for c in &m.chapters[..n] {
            // 100 ns units
            b.u64(c.start.hundred_ns());
            let t = c.title.as_bytes();
            let t = &t[..t.len().min(255)];
            b.u8(t.len() as u8).bytes(t);
        }
        b.close();
    }
    b.close();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn box_sizes_are_patched() {
        let mut b = BoxBuf::default();
        b.open(b"moov")
            .open_full(b"mvhd", 0, 0)
            .u32(7)
            .close()
            .close();
        let v = b.into_inner();
        assert_eq!(&v[0..8], &[0, 0, 0, 24, b'm', b'o', b'o', b'v']);
        assert_eq!(&v[8..16], &[0, 0, 0, 16, b'm', b'v', b'h', b'd']);
    }

    fn s(dts: i64, duration: i64) -> OutSample {
        OutSample {
            dts,
            duration,
            cts: 0,
            size: 1,
            keyframe: true,
            offset: 0,
        }
    }

    fn audio(samples: &Vec<OutSample>) -> Track<'_> {
        Track::new(TrackKind::Audio, 2, 48_000, vec![], samples, None)
    }

    /// The whole moov of `tracks`, holes filled.
    fn render(tracks: &[Track<'_>], co64: bool, data_base: u64) -> Vec<u8> {
        let movie = Movie {
            creation_unix_s: 0.0,
            tracks,
            title: None,
            comment: None,
            chapters: &[],
        };
        let m = moov(&movie, co64);
        let mut out = Vec::new();
        write_moov(&m, tracks, data_base, &mut out, &mut || Ok(())).unwrap();
        assert_eq!(out.len() as u64, m.len);
        // Streamed table by table (what tracks too big to fuse get): the same bytes.
        let mut streamed = Vec::new();
        write_moov_fusing(&m, tracks, data_base, &mut streamed, &mut || Ok(()), 0).unwrap();
        assert_eq!(streamed, out);
        // A budget the first track's tables fill: it fused, the rest streamed.
        let first: u64 = m
            .parts
            .iter()
            .filter_map(|p| match p {
                Part::Table { track: 0, len, .. } => Some(*len),
                _ => None,
            })
            .sum();
        let mut mixed = Vec::new();
        write_moov_fusing(&m, tracks, data_base, &mut mixed, &mut || Ok(()), first).unwrap();
        assert_eq!(mixed, out);
        out
    }

    fn find(v: &[u8], kind: &[u8; 4]) -> usize {
        v.windows(4).position(|w| w == kind).unwrap()
    }

    #[test]
    fn stts_runs_and_edit_with_delay() {
        let samples = vec![s(480, 1024), s(1504, 1024), s(2528, 1024), s(3552, 384)];
        let t = audio(&samples);
        // 480 samples = 10 ms of empty edit; media 3456 samples = 72 ms.
        assert_eq!(
            t.edit(),
            Edit {
                delay: 10,
                media_time: 0,
                duration: 72
            }
        );
        // Starting 480 samples early (an audio frame straddling the start):
        // no delay, the media time skips them; the duration is the media's
        // rounded up, less the start rounded down (as libav computes it).
        let early: Vec<OutSample> = samples
            .iter()
            .map(|x| OutSample {
                dts: x.dts - 960,
                ..*x
            })
            .collect();
        assert_eq!(
            audio(&early).edit(),
            Edit {
                delay: 0,
                media_time: 480,
                duration: 62
            }
        );
        // B-frames: first DTS two frames early, its PTS at 0.
        let frames = vec![
            OutSample {
                dts: -12_000,
                cts: 12_000,
                ..s(0, 6_000)
            },
            OutSample {
                dts: -6_000,
                cts: 24_000,
                keyframe: false,
                ..s(0, 6_000)
            },
            OutSample {
                dts: 0,
                cts: 6_000,
                keyframe: false,
                ..s(0, 6_000)
            },
        ];
        let v = Track::new(
            TrackKind::Video {
                width: 2,
                height: 2,
            },
            1,
            90_000,
            vec![],
            &frames,
            None,
        );
        // Presented 0, 18000, 6000 (+6000 each): 24000 ticks = 266.7 ms.
        assert_eq!(
            v.edit(),
            Edit {
                delay: 0,
                media_time: 12_000,
                duration: 267
            }
        );
        let out = render(&[t], false, 0);
        let i = find(&out, b"stts");
        // version/flags, 2 runs: (3 x 1024), (1 x 384)
        assert_eq!(
            &out[i + 4..i + 28],
            &[0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 3, 0, 0, 4, 0, 0, 0, 0, 1, 0, 0, 1, 128]
        );
        let out = render(&[v], false, 0);
        let i = find(&out, b"ctts");
        // 3 runs of one: 12000, 24000, 6000
        assert_eq!(&out[i + 4..i + 12], &[0, 0, 0, 0, 0, 0, 0, 3]);
        assert_eq!(&out[i + 12..i + 20], &[0, 0, 0, 1, 0, 0, 0x2e, 0xe0]);
        let i = find(&out, b"stss");
        assert_eq!(&out[i + 4..i + 16], &[0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 1]);
    }

    #[test]
    fn chunk_offsets_past_4_gib_use_co64() {
        let far = 5u64 << 30;
        let samples: Vec<OutSample> = (0..3)
            .map(|i| OutSample {
                offset: far + i * 100,
                ..s(i as i64 * 1024, 1024)
            })
            .collect();
        let t = audio(&samples);
        let out = render(std::slice::from_ref(&t), true, 1000);
        let i = find(&out, b"co64");
        assert_eq!(&out[i + 4..i + 12], &[0, 0, 0, 0, 0, 0, 0, 3]);
        let first = u64::from_be_bytes(out[i + 12..i + 20].try_into().unwrap());
        assert_eq!(first, far + 1000);
        let last = u64::from_be_bytes(out[i + 28..i + 36].try_into().unwrap());
        assert_eq!(last, far + 1200);
        assert!(out.windows(4).all(|w| w != b"stco"));
    }

    #[test]
    fn large_mdat_uses_64_bit_size() {
        assert_eq!(mdat_header(10), vec![0, 0, 0, 18, b'm', b'd', b'a', b't']);
        let h = mdat_header(u32::MAX as u64);
        assert_eq!(&h[0..8], &[0, 0, 0, 1, b'm', b'd', b'a', b't']);
        assert_eq!(
            u64::from_be_bytes(h[8..16].try_into().unwrap()),
            u32::MAX as u64 + 16
        );
    }
}
