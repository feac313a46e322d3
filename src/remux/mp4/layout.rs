//! The `moov` laid out: tracks (`tkhd`, the edit list, `mdia`, the sample
//! table boxes with holes for the per-sample tables), the chapter track,
//! `udta`; and the boxes around it (`ftyp`, the `mdat` header).

use super::boxes::{BoxBuf, Moov, Table};
use super::samples::{OutSample, SampleSource, SampleStats, TrackKind};
use crate::plan::chapters::Chapter;
use crate::plan::timestamps::Cue;

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
    /// One track of several on a shared timeline (a multi-camera export);
    /// `None`: the track alone, presented from output time 0.
    pub presentation: Option<Presentation>,
    /// Tables already built (by the pass that sized the track: its
    /// `stts`, `ctts`, `stss`, see `StatsAccumulator::recording`): written
    /// as they are, so that the head's first bytes need no replay.
    pub prebuilt: Vec<super::tables::BuiltTable>,
}

/// How a track of several is presented: its name, its alternate group.
#[derive(Debug, Clone, PartialEq)]
pub struct Presentation {
    /// The handler name and the track's `udta` name (players show it).
    pub name: String,
    /// Tracks of one alternate group are offered one at a time.
    pub group: u16,
    /// The group's default track (`tkhd` enabled flag).
    pub enabled: bool,
}

/// One `elst` entry: a duration in the movie time scale and the media time
/// (track time scale) it starts at, -1 for an empty edit.
type ElstEntry = (u64, i64);

/// A track's edit list, in the movie time scale except `media_time`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Edit {
    /// Empty edit before the media starts (a track that starts late).
    pub delay: u64,
    /// Media time (track time scale) presented first.
    pub media_time: u64,
    pub duration: u64,
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
            presentation: None,
            prebuilt: Vec::new(),
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
    /// Movie time this track is presented for (its edits' total).
    fn presented(&self) -> u64 {
        let e = self.edit();
        e.delay + e.duration
    }

    pub(super) fn edit(&self) -> Edit {
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

/// A cue as a 3GPP timed-text sample: the text's length (16 bits, big
/// endian) and its UTF-8 bytes, no style boxes.
pub fn tx3g_sample(text: &str) -> Vec<u8> {
    let b = text.as_bytes();
    let b = &b[..b.len().min(u16::MAX as usize)];
    let mut v = Vec::with_capacity(2 + b.len());
    v.extend_from_slice(&(b.len() as u16).to_be_bytes());
    v.extend_from_slice(b);
    v
}

/// The `tx3g` sample description after its box header and
/// `data_reference_index` (what libav keeps as `mov_text` extradata):
/// no display flags, centred at the bottom, transparent background, the
/// default text box, one style (font 1, 18 pt, white), a font table naming
/// font 1 "Sans-Serif".
pub const TX3G_DESCRIPTION: [u8; 53] = [
    0, 0, 0, 0, // display flags
    1, 0xff, // horizontal: centre; vertical: bottom
    0, 0, 0, 0, // background RGBA
    0, 0, 0, 0, 0, 0, 0, 0, // default text box (top, left, bottom, right)
    0, 0, 0, 0, 0, 1, 0, 18, 0xff, 0xff, 0xff,
    0xff, // style: chars 0-0, font 1, plain, 18, white
    0, 0, 0, 23, b'f', b't', b'a', b'b', 0, 1, 0, 1,
    10, // ftab: one font, id 1, name length 10
    b'S', b'a', b'n', b's', b'-', b'S', b'e', b'r', b'i', b'f',
];

/// The wall-clock cues as `tx3g` samples (at `offset` in `mdat`) and their
/// bytes, in the movie time scale (see `plan::timestamps`).
pub fn timestamp_samples(cues: &[Cue], offset: u64) -> (Vec<OutSample>, Vec<u8>) {
    let mut data = Vec::new();
    let mut samples = Vec::with_capacity(cues.len());
    for c in cues {
        let at = data.len() as u64;
        data.extend_from_slice(&tx3g_sample(&c.text));
        let start_ms = c.start.millis();
        samples.push(OutSample {
            dts: start_ms,
            duration: (c.end.millis() - start_ms).max(0),
            size: (data.len() as u64 - at) as u32,
            cts: 0,
            keyframe: true,
            offset: offset + at,
        });
    }
    (samples, data)
}

/// The timestamp track over `samples` (see [`timestamp_samples`]), its text
/// box the size of a `width` x `height` picture.
pub fn timestamp_track<'a>(
    id: u32,
    samples: &'a dyn SampleSource,
    (width, height): (u32, u32),
) -> Track<'a> {
    let mut entry = Vec::with_capacity(16 + TX3G_DESCRIPTION.len());
    entry.extend_from_slice(&((16 + TX3G_DESCRIPTION.len()) as u32).to_be_bytes());
    entry.extend_from_slice(b"tx3g");
    entry.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 1]);
    entry.extend_from_slice(&TX3G_DESCRIPTION);
    Track::new(
        TrackKind::Timestamps { width, height },
        id,
        MOVIE_TIMESCALE,
        entry,
        samples,
        None,
    )
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
        .map(|t| t.presented())
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

fn trak(b: &mut BoxBuf, index: usize, t: &Track<'_>, mac: u32, co64: bool) {
    let Edit {
        delay,
        media_time,
        duration,
    } = t.edit();
    let mut entries: Vec<ElstEntry> = Vec::new();
    if delay > 0 {
        entries.push((delay, -1));
    }
    entries.push((duration, media_time.min(i32::MAX as u64) as i64));
    let presented = delay + duration;
    let (mut flags, mut alt, volume, w, h) = match t.kind {
        TrackKind::Video { width, height } => (3, 0, 0, width, height),
        TrackKind::Audio => (3, 1, 0x0100, 0, 0),
        TrackKind::Chapters => (2, 0, 0, 0, 0),
        TrackKind::Timestamps { width, height } => (3, 2, 0, width, height),
    };
    if let Some(p) = &t.presentation {
        flags = if p.enabled { 3 } else { 2 };
        alt = p.group;
    }
    b.open(b"trak");
    b.open_full(b"tkhd", 0, flags)
        .u32(mac)
        .u32(mac)
        .u32(t.id)
        .u32(0);
    b.u32(presented.min(u32::MAX as u64) as u32).zeros(8);
    b.u16(0).u16(alt).u16(volume).u16(0);
    for v in MATRIX {
        b.u32(v);
    }
    b.u32(w << 16).u32(h << 16).close();

    b.open(b"edts")
        .open_full(b"elst", 0, 0)
        .u32(entries.len() as u32);
    for (duration, media_time) in entries {
        b.u32(duration.min(u32::MAX as u64) as u32)
            .u32(media_time.clamp(-1, i32::MAX as i64) as i32 as u32)
            .u32(0x0001_0000);
    }
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
        TrackKind::Timestamps { .. } => (0x55c4, b"sbtl", b"Wall clock\0"),
    };
    let named;
    let name = match &t.presentation {
        Some(p) => {
            named = [p.name.as_bytes(), b"\0"].concat();
            &named[..]
        }
        None => name,
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
        TrackKind::Timestamps { .. } => {
            b.open_full(b"nmhd", 0, 0).close();
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
    if let Some(p) = &t.presentation {
        // The track's name (libav reads it as the stream's `title`).
        b.open(b"udta")
            .open(b"name")
            .bytes(p.name.as_bytes())
            .close()
            .close();
    }
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
mod tx3g_tests {
    use super::*;

    #[test]
    fn a_tx3g_sample_is_the_length_and_the_text() {
        assert_eq!(tx3g_sample("ab"), [0, 2, b'a', b'b']);
        assert_eq!(TX3G_DESCRIPTION.len(), 4 + 2 + 4 + 8 + 12 + 23);
        let entry = timestamp_track(4, &Vec::<OutSample>::new(), (320, 180)).sample_entry;
        assert_eq!(&entry[4..8], b"tx3g");
        assert_eq!(
            u32::from_be_bytes(entry[0..4].try_into().unwrap()) as usize,
            entry.len()
        );
    }
}
