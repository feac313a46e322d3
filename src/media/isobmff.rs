//! Just enough ISO BMFF (ISO/IEC 14496-12) reading to copy sample
//! descriptions verbatim (the raw `stsd` entry of each track) and to know
//! what libav's sample index leaves out: composition offsets (`ctts`,
//! B-frames) and the last sample's duration (`stts`).
//!
//! Box header: 32-bit big-endian size (including the header), four-character
//! type; size 1 means a 64-bit size follows, size 0 means "to end of file".
//! Track order: libav's MP4 demuxer creates one stream per `trak` in file
//! order, so `traks()[i]` describes libav stream `i`.

use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

/// Largest `moov` we agree to read (64 MiB): a 10 s segment's is tens of KiB.
pub const MAX_MOOV_BYTES: u64 = 64 << 20;

/// What the fast writer needs to know of one `trak`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrakSummary {
    /// `hdlr` handler type: `vide`, `soun`, `text`...
    pub handler: [u8; 4],
    /// The first sample entry of `stsd`, header included (e.g. a whole
    /// `avc1` box), without its `btrt` child (see [`without_btrt`]).
    pub sample_entry: Vec<u8>,
    /// Number of entries in `stsd` (more than one means parameter changes inside the file).
    pub sample_entry_count: u32,
    /// Where, in `sample_entry`, the `esds` DecoderConfigDescriptor's
    /// `bufferSizeDB` (3 bytes), `maxBitrate` and `avgBitrate` (4 bytes
    /// each) are: values the muxer measured on this one file.
    pub esds_rates_at: Option<usize>,
    /// A `ctts` box is present (samples have composition offsets).
    pub has_ctts: bool,
    /// The track's sample timing as the file states it (see [`TrakTiming`]).
    pub timing: TrakTiming,
}

/// Sample timing read from `stts` and `ctts`, kept run-length coded.
///
/// libav's sample index gives each sample's decode time but neither its
/// composition offset (B-frames: presentation time = decode time + offset)
/// nor the last sample's own duration (the index has only start times); both
/// are needed to keep decode and presentation time apart.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TrakTiming {
    /// Number of samples `stts` describes.
    pub sample_count: u64,
    /// The last sample's duration (its `stts` delta), in the media time scale.
    pub last_delta: Option<u32>,
    /// `ctts` runs: (sample count, composition offset). Version 0 offsets are
    /// unsigned and version 1 signed; both are read as signed 32-bit here,
    /// which is what libav does too.
    pub ctts: Vec<(u32, i32)>,
}

impl TrakTiming {
    /// Composition offsets per sample, when `ctts` covers exactly `n`
    /// samples; an empty table means "all zero" and is valid for any `n`.
    pub fn offsets(&self, n: usize) -> Option<Vec<i32>> {
        let mut out = Vec::with_capacity(n);
        out.extend(self.offsets_iter(n)?);
        out.resize(n, 0);
        Some(out)
    }

    /// [`TrakTiming::offsets`] without a vector: the offsets of the
    /// samples `ctts` gives (none: the caller takes zeros).
    pub fn offsets_iter(&self, n: usize) -> Option<impl Iterator<Item = i32> + 'static> {
        let total: u64 = self.ctts.iter().map(|r| r.0 as u64).sum();
        if !self.ctts.is_empty() && total != n as u64 {
            return None;
        }
        // The runs are few (a copy of them, not of the offsets).
        Some(
            self.ctts
                .clone()
                .into_iter()
                .flat_map(|(count, off)| std::iter::repeat_n(off, count as usize)),
        )
    }

    /// The last sample's own duration when `stts` describes exactly `n`
    /// samples and gives a positive one.
    pub fn last_delta_of(&self, n: usize) -> Option<i64> {
        (self.sample_count == n as u64)
            .then_some(self.last_delta)
            .flatten()
            .map(i64::from)
            .filter(|&d| d > 0)
    }
}

fn be32(b: &[u8], p: usize) -> Option<u32> {
    Some(u32::from_be_bytes(b.get(p..p + 4)?.try_into().ok()?))
}

/// Reads `stts` (sample count, last delta) and `ctts` (runs) of an `stbl`.
fn timing(stbl: &[u8]) -> TrakTiming {
    let mut t = TrakTiming::default();
    if let Some(stts) = child(stbl, b"stts") {
        let n = be32(stts, 4).unwrap_or(0) as usize;
        for i in 0..n {
            let (Some(count), Some(delta)) = (be32(stts, 8 + i * 8), be32(stts, 12 + i * 8)) else {
                break;
            };
            t.sample_count += count as u64;
            if count > 0 {
                t.last_delta = Some(delta);
            }
        }
    }
    if let Some(ctts) = child(stbl, b"ctts") {
        let n = be32(ctts, 4).unwrap_or(0) as usize;
        for i in 0..n {
            let (Some(count), Some(off)) = (be32(ctts, 8 + i * 8), be32(ctts, 12 + i * 8)) else {
                break;
            };
            // Runs of one offset merge (a count that would overflow opens
            // a new run: found by fuzzing).
            match t.ctts.last_mut() {
                Some(last) if last.1 == off as i32 && last.0.checked_add(count).is_some() => {
                    last.0 += count
                }
                _ => t.ctts.push((count, off as i32)),
            }
        }
    }
    t
}

fn header(buf: &[u8]) -> Option<(u64, [u8; 4], usize)> {
    let size = u32::from_be_bytes(buf.get(0..4)?.try_into().ok()?) as u64;
    let kind: [u8; 4] = buf.get(4..8)?.try_into().ok()?;
    match size {
        1 => Some((
            u64::from_be_bytes(buf.get(8..16)?.try_into().ok()?),
            kind,
            16,
        )),
        0 => Some((buf.len() as u64, kind, 8)),
        s => Some((s, kind, 8)),
    }
}

/// Whether the file at `path` is a finished MP4: its top-level boxes tile
/// the file exactly (none runs past the end) and one of them is `moov`. A
/// writer that died before its trailer leaves either no `moov` or an
/// `mdat` whose size was never patched.
pub fn is_complete(path: &Path) -> io::Result<bool> {
    let mut f = crate::output::confine::open_regular(path)?;
    let len = f.metadata()?.len();
    is_complete_in(&mut f, len)
}

/// [`is_complete`] over `len` bytes of any seekable reader.
pub fn is_complete_in<R: Read + Seek>(f: &mut R, len: u64) -> io::Result<bool> {
    let (mut pos, mut moov) = (0u64, false);
    let mut hdr = [0u8; 16];
    while pos < len {
        if pos + 8 > len {
            return Ok(false);
        }
        f.seek(SeekFrom::Start(pos))?;
        let n = read_up_to(f, &mut hdr)?;
        let Some((size, kind, hlen)) = header(&hdr[..n]) else {
            return Ok(false);
        };
        // Size 0 ("to the end of the file") is what an unfinished mdat says.
        if hdr[..4] == [0; 4] {
            return Ok(false);
        }
        if size < hlen as u64 || pos.saturating_add(size) > len {
            return Ok(false);
        }
        moov |= &kind == b"moov";
        pos += size;
    }
    Ok(moov && pos == len)
}

/// Fills as much of `buf` as the reader has (a short read is not the end).
fn read_up_to<R: Read>(f: &mut R, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match f.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Reads the `moov` box (payload only) of the file at `path`.
pub fn read_moov(path: &Path) -> io::Result<Vec<u8>> {
    let mut f = crate::output::confine::open_regular(path)?;
    let len = f.metadata()?.len();
    read_moov_in(&mut f, len)
}

/// [`read_moov`] over `len` bytes of any seekable reader.
pub fn read_moov_in<R: Read + Seek>(f: &mut R, len: u64) -> io::Result<Vec<u8>> {
    let mut pos = 0u64;
    let mut hdr = [0u8; 16];
    // (`pos` may have been pushed to the end of the range by a huge box
    // size: compared by subtraction. Found by fuzzing.)
    while pos <= len && len - pos >= 8 {
        f.seek(SeekFrom::Start(pos))?;
        let n = read_up_to(f, &mut hdr)?;
        let (size, kind, hlen) = header(&hdr[..n])
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "bad box header"))?;
        let size = if size == 0 { len - pos } else { size };
        if size < hlen as u64 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "box smaller than its header",
            ));
        }
        if &kind == b"moov" {
            let body = size - hlen as u64;
            if body > MAX_MOOV_BYTES || pos.saturating_add(size) > len {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    if body > MAX_MOOV_BYTES {
                        "moov larger than 64 MiB"
                    } else {
                        "moov runs past the end of the file"
                    },
                ));
            }
            let mut buf = vec![0u8; body as usize];
            f.seek(SeekFrom::Start(pos + hlen as u64))?;
            f.read_exact(&mut buf)?;
            return Ok(buf);
        }
        pos = pos.saturating_add(size);
    }
    Err(io::Error::new(io::ErrorKind::InvalidData, "no moov box"))
}

/// [`read_moov`] of an open file of `len` bytes, reading its first
/// `prefix` bytes in one `pread` (a segment's `moov` is at its start, and a
/// few KiB): the same box walk ([`read_moov_in`]), served from that prefix,
/// and from the file only past it.
pub fn read_moov_at(f: &std::fs::File, len: u64, prefix: usize) -> io::Result<Vec<u8>> {
    use std::os::unix::fs::FileExt;
    let mut buf = vec![0u8; prefix.min(len as usize)];
    let mut got = 0;
    while got < buf.len() {
        match f.read_at(&mut buf[got..], got as u64) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(got);
    read_moov_in(
        &mut Prefixed {
            head: &buf,
            file: f,
            pos: 0,
        },
        len,
    )
}

/// A file read through its first bytes held in memory.
struct Prefixed<'a> {
    head: &'a [u8],
    file: &'a std::fs::File,
    pos: u64,
}

impl Read for Prefixed<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        use std::os::unix::fs::FileExt;
        let n = match self
            .head
            .get(self.pos as usize..)
            .filter(|_| self.pos < self.head.len() as u64)
        {
            Some(rest) => {
                let n = rest.len().min(out.len());
                out[..n].copy_from_slice(&rest[..n]);
                n
            }
            None => self.file.read_at(out, self.pos)?,
        };
        self.pos += n as u64;
        Ok(n)
    }
}

impl Seek for Prefixed<'_> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        match to {
            SeekFrom::Start(p) => self.pos = p,
            _ => {
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    "only SeekFrom::Start",
                ))
            }
        }
        Ok(self.pos)
    }
}

/// The `moov` payload of an MP4 held in memory (an fMP4 init segment).
pub fn moov_in(file: &[u8]) -> Option<&[u8]> {
    child(file, b"moov")
}

/// Children of a container payload: (type, payload).
pub fn children(buf: &[u8]) -> Vec<([u8; 4], &[u8])> {
    let mut out = Vec::new();
    let mut p = 0usize;
    while p + 8 <= buf.len() {
        let Some((size, kind, hlen)) = header(&buf[p..]) else {
            break;
        };
        // A 64-bit size can be anything: compared with what is left, never
        // added to the position first (found by fuzzing: it wrapped).
        let Ok(size) = usize::try_from(size) else {
            break;
        };
        if size < hlen || size > buf.len() - p {
            break;
        }
        out.push((kind, &buf[p + hlen..p + size]));
        p += size;
    }
    out
}

fn child<'a>(buf: &'a [u8], kind: &[u8; 4]) -> Option<&'a [u8]> {
    children(buf)
        .into_iter()
        .find(|(k, _)| k == kind)
        .map(|(_, b)| b)
}

/// One summary per `trak` of a `moov` payload, in file order.
pub fn traks(moov: &[u8]) -> Vec<Option<TrakSummary>> {
    children(moov)
        .into_iter()
        .filter(|(k, _)| k == b"trak")
        .map(|(_, trak)| summarize(trak))
        .collect()
}

fn summarize(trak: &[u8]) -> Option<TrakSummary> {
    let mdia = child(trak, b"mdia")?;
    let hdlr = child(mdia, b"hdlr")?;
    let handler: [u8; 4] = hdlr.get(8..12)?.try_into().ok()?;
    let stbl = child(child(mdia, b"minf")?, b"stbl")?;
    let stsd = child(stbl, b"stsd")?;
    // full box: version/flags (4), entry_count (4), entries
    let count = u32::from_be_bytes(stsd.get(4..8)?.try_into().ok()?);
    let entries = stsd.get(8..)?;
    let (size, _, _) = header(entries)?;
    let sample_entry = without_btrt(entries.get(..size as usize)?, &handler);
    let esds_rates_at = if &handler == b"soun" {
        esds_rates_offset(&sample_entry)
    } else {
        None
    };
    Some(TrakSummary {
        handler,
        sample_entry,
        sample_entry_count: count,
        esds_rates_at,
        has_ctts: child(stbl, b"ctts").is_some(),
        timing: timing(stbl),
    })
}

#[cfg(any(test, feature = "fuzzing"))]
/// The sample index of every `trak` of a `moov` payload, in file order,
/// as libav's MP4 demuxer builds it for the files this reader accepts (see
/// [`trak_index`]); `None` for a track it does not.
pub fn trak_indexes(moov: &[u8]) -> Vec<Option<TrakIndex>> {
    let (movie_timescale, traks) = trak_payloads(moov);
    traks
        .into_iter()
        .map(|trak| trak_index(trak, movie_timescale?))
        .collect()
}

/// The movie time scale (`mvhd`) and the `trak` payloads of a `moov`
/// payload, in file order (for [`walk_trak`]).
pub fn trak_payloads(moov: &[u8]) -> (Option<u32>, Vec<&[u8]>) {
    let movie_timescale = child(moov, b"mvhd").and_then(|mvhd| match mvhd.first()? {
        0 => be32(mvhd, 12),
        1 => be32(mvhd, 20),
        _ => None,
    });
    let traks = children(moov)
        .into_iter()
        .filter(|(k, _)| k == b"trak")
        .map(|(_, trak)| trak)
        .collect();
    (movie_timescale, traks)
}

#[cfg(any(test, feature = "fuzzing"))]
/// One track's sample index: its media time scale and its samples in
/// decode order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrakIndex {
    pub timescale: u32,
    pub samples: Vec<super::ffi::IndexEntry>,
}

fn be64(b: &[u8], p: usize) -> Option<u64> {
    Some(u64::from_be_bytes(b.get(p..p + 8)?.try_into().ok()?))
}

#[cfg(any(test, feature = "fuzzing"))]
/// The sample index of one `trak` payload, read from its tables without
/// libav: decode times from `stts`, sizes from `stsz`, offsets from `stsc`
/// and `stco`/`co64`, keyframes from `stss` (none: every sample is one).
/// The decode times are placed by the edit list as libav places them: minus
/// the media time, plus an empty edit's duration (a track that starts late;
/// NVR segments have one of a few milliseconds) converted from the movie
/// time scale, rounded to nearest. The caller still checks the result
/// against libav on one file before trusting it (see `probe::Template`).
///
/// Only the plain layout muxers write for a segment is accepted: one sample
/// description; an edit list of at most an empty edit followed by one edit
/// with rate 1 and a media time of zero or more; no negative composition
/// offsets; every count consistent. Anything else is `None`, and the caller
/// asks libav.
pub fn trak_index(trak: &[u8], movie_timescale: u32) -> Option<TrakIndex> {
    let mut samples = Vec::new();
    let timescale = walk_trak(trak, movie_timescale, |e| samples.push(e))?;
    Some(TrakIndex { timescale, samples })
}

/// [`trak_index`] without the vector: `f` for each sample in decode order;
/// the media time scale, or `None` where [`trak_index`] gives none (`f`
/// may have seen samples by then: the caller drops what it built).
pub fn walk_trak(
    trak: &[u8],
    movie_timescale: u32,
    mut f: impl FnMut(super::ffi::IndexEntry),
) -> Option<u32> {
    let mdia = child(trak, b"mdia")?;
    let mdhd = child(mdia, b"mdhd")?;
    let timescale = match mdhd.first()? {
        0 => be32(mdhd, 12)?,
        1 => be32(mdhd, 20)?,
        _ => return None,
    };
    if timescale == 0 {
        return None;
    }
    let shift = match child(trak, b"edts").and_then(|e| child(e, b"elst")) {
        None => 0i64,
        Some(elst) => {
            let v1 = match elst.first()? {
                0 => false,
                1 => true,
                _ => return None,
            };
            let entry = |i: usize| -> Option<(u64, i64, u32)> {
                if v1 {
                    let at = 8 + 20 * i;
                    Some((
                        be64(elst, at)?,
                        be64(elst, at + 8)? as i64,
                        be32(elst, at + 16)?,
                    ))
                } else {
                    let at = 8 + 12 * i;
                    Some((
                        be32(elst, at)? as u64,
                        be32(elst, at + 4)? as i32 as i64,
                        be32(elst, at + 8)?,
                    ))
                }
            };
            let (empty, (_, media_time, rate)) = match be32(elst, 4)? {
                1 => (0u64, entry(0)?),
                2 => {
                    let (d, mt, _) = entry(0)?;
                    if mt != -1 || movie_timescale == 0 {
                        return None;
                    }
                    (d, entry(1)?)
                }
                _ => return None,
            };
            if media_time < 0 || rate != 0x0001_0000 {
                return None;
            }
            let m = movie_timescale as u128;
            let delay = ((empty as u128 * timescale as u128 + m / 2) / m.max(1)) as i64;
            delay - media_time
        }
    };
    let stbl = child(child(mdia, b"minf")?, b"stbl")?;
    if be32(child(stbl, b"stsd")?, 4)? != 1 {
        return None;
    }
    // Sizes.
    let stsz = child(stbl, b"stsz")?;
    let fixed = be32(stsz, 4)?;
    let n = be32(stsz, 8)? as usize;
    if n == 0 || n > 50_000_000 {
        return None;
    }
    if fixed == 0 && stsz.len() < 12 + 4 * n {
        return None;
    }
    let size_of = |i: usize| {
        if fixed != 0 {
            Some(fixed)
        } else {
            be32(stsz, 12 + 4 * i)
        }
    };
    // Decode times: `stts` runs, walked alongside the samples.
    let stts = child(stbl, b"stts")?;
    let stts_runs = be32(stts, 4)? as usize;
    let mut stts_total = 0u64;
    for r in 0..stts_runs {
        stts_total += be32(stts, 8 + 8 * r)? as u64;
    }
    if stts_total != n as u64 {
        return None;
    }
    // (next run, samples left in the current one, its delta, next DTS)
    let (mut run, mut left, mut delta, mut t) = (0usize, 0u32, 0u32, shift);
    if let Some(ctts) = child(stbl, b"ctts") {
        if ctts.first()? == &1 {
            for r in 0..be32(ctts, 4)? as usize {
                if (be32(ctts, 12 + 8 * r)? as i32) < 0 {
                    return None;
                }
            }
        }
    }
    // Chunk offsets, then each sample's offset through `stsc`.
    let chunks: Vec<u64> = if let Some(stco) = child(stbl, b"stco") {
        (0..be32(stco, 4)? as usize)
            .map(|i| be32(stco, 8 + 4 * i).map(u64::from))
            .collect::<Option<_>>()?
    } else {
        let co64 = child(stbl, b"co64")?;
        (0..be32(co64, 4)? as usize)
            .map(|i| be64(co64, 8 + 8 * i))
            .collect::<Option<_>>()?
    };
    let stsc = child(stbl, b"stsc")?;
    let runs: Vec<(u32, u32)> = (0..be32(stsc, 4)? as usize)
        .map(|i| Some((be32(stsc, 8 + 12 * i)?, be32(stsc, 12 + 12 * i)?)))
        .collect::<Option<_>>()?;
    let keys: Option<Vec<u32>> = match child(stbl, b"stss") {
        None => None,
        Some(stss) => Some(
            (0..be32(stss, 4)? as usize)
                .map(|i| be32(stss, 8 + 4 * i))
                .collect::<Option<_>>()?,
        ),
    };
    let mut i = 0usize;
    let mut next_key = 0usize;
    for (r, &(first_chunk, per_chunk)) in runs.iter().enumerate() {
        let end_chunk = runs
            .get(r + 1)
            .map(|x| x.0)
            .unwrap_or(chunks.len() as u32 + 1);
        if first_chunk == 0 || end_chunk < first_chunk {
            return None;
        }
        for chunk in first_chunk..end_chunk {
            let mut pos = *chunks.get(chunk as usize - 1)?;
            for _ in 0..per_chunk {
                if i == n {
                    return None;
                }
                while left == 0 {
                    // Runs of zero samples are skipped; the totals matched.
                    left = be32(stts, 8 + 8 * run)?;
                    delta = be32(stts, 12 + 8 * run)?;
                    run += 1;
                }
                let dts = t;
                t += delta as i64;
                left -= 1;
                let size = size_of(i)?;
                let keyframe = match &keys {
                    None => true,
                    Some(k) => {
                        let is = k.get(next_key) == Some(&(i as u32 + 1));
                        next_key += is as usize;
                        is
                    }
                };
                f(super::ffi::IndexEntry {
                    pos: pos as i64,
                    dts,
                    size,
                    keyframe,
                });
                i += 1;
                pos += size as u64;
            }
        }
    }
    if i != n || keys.is_some_and(|k| next_key != k.len()) {
        return None;
    }
    Some(timescale)
}

/// Length of the measured fields at [`TrakSummary::esds_rates_at`].
pub const ESDS_RATES_LEN: usize = 11;

impl TrakSummary {
    /// The sample entry as a decoder sees it: per-file measured fields
    /// (`btrt` is already gone; the `esds` buffer size and bit rates) zeroed.
    /// Two segments of one camera session compare equal on this.
    pub fn decoder_view(&self) -> std::borrow::Cow<'_, [u8]> {
        match self.esds_rates_at {
            Some(at) if at + ESDS_RATES_LEN <= self.sample_entry.len() => {
                let mut v = self.sample_entry.clone();
                v[at..at + ESDS_RATES_LEN].fill(0);
                std::borrow::Cow::Owned(v)
            }
            _ => std::borrow::Cow::Borrowed(&self.sample_entry),
        }
    }
}

/// Reads an MPEG-4 descriptor header (tag, expandable size) at `p`;
/// returns (tag, payload start, payload length).
fn descriptor(b: &[u8], p: usize) -> Option<(u8, usize, usize)> {
    let tag = *b.get(p)?;
    let mut len = 0usize;
    let mut q = p + 1;
    for _ in 0..4 {
        let c = *b.get(q)?;
        q += 1;
        len = (len << 7) | (c & 0x7f) as usize;
        if c & 0x80 == 0 {
            return Some((tag, q, len));
        }
    }
    None
}

/// Offset of `bufferSizeDB` inside an AudioSampleEntry (version 0) whose
/// `esds` holds ES_Descriptor -> DecoderConfigDescriptor (ISO/IEC 14496-1
/// §7.2.6.5-6).
fn esds_rates_offset(entry: &[u8]) -> Option<usize> {
    let mut p = 8 + 8 + 20;
    while p + 8 <= entry.len() {
        let (size, kind, hlen) = header(&entry[p..])?;
        let size = usize::try_from(size).ok()?;
        if size < hlen || size > entry.len() - p {
            return None;
        }
        if &kind == b"esds" {
            // full box header (4), then ES_Descriptor
            let (tag, mut q, _) = descriptor(entry, p + hlen + 4)?;
            if tag != 0x03 {
                return None;
            }
            let flags = *entry.get(q + 2)?;
            q += 3;
            if flags & 0x80 != 0 {
                q += 2;
            }
            if flags & 0x40 != 0 {
                q += 1 + *entry.get(q)? as usize;
            }
            if flags & 0x20 != 0 {
                q += 2;
            }
            let (tag, d, len) = descriptor(entry, q)?;
            if tag != 0x04 || len < 2 + ESDS_RATES_LEN || d + 2 + ESDS_RATES_LEN > p + size {
                return None;
            }
            return Some(d + 2);
        }
        p += size;
    }
    None
}

/// A sample entry without its `btrt` (bit rate) child box.
///
/// Muxers write each file's own measured bit rates into `btrt`, so two
/// segments with identical codec configuration differ there; the box is
/// informative only (ISO/IEC 14496-12 §8.5.2.2), so it is dropped for
/// comparison and output. Child boxes start after the fixed fields:
/// 78 bytes for a VisualSampleEntry, 20 for an AudioSampleEntry version 0
/// (after the 8-byte SampleEntry header fields). Other layouts are returned
/// unchanged.
pub fn without_btrt(entry: &[u8], handler: &[u8; 4]) -> Vec<u8> {
    let fixed = match handler {
        b"vide" => 8 + 8 + 70,
        b"soun" if entry.get(16..18) == Some(&[0, 0]) => 8 + 8 + 20,
        _ => return entry.to_vec(),
    };
    if entry.len() < fixed {
        return entry.to_vec();
    }
    let mut out = entry[..fixed].to_vec();
    let mut p = fixed;
    while p < entry.len() {
        let Some((size, kind, _)) = header(&entry[p..]) else {
            return entry.to_vec();
        };
        let end = p.saturating_add(size as usize);
        if size < 8 || end > entry.len() {
            return entry.to_vec();
        }
        if &kind != b"btrt" {
            out.extend_from_slice(&entry[p..end]);
        }
        p = end;
    }
    let len = out.len() as u32;
    out[0..4].copy_from_slice(&len.to_be_bytes());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_moov_read_through_a_prefix_is_the_moov_whatever_the_prefix() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("seg.mp4");
        crate::sample::write_segment(&path, &crate::sample::SegmentSpec::small(1.0)).unwrap();
        let want = read_moov(&path).unwrap();
        let f = std::fs::File::open(&path).unwrap();
        let len = f.metadata().unwrap().len();
        // Inside a box header, inside the moov, past it, bigger than the file.
        for prefix in [0, 5, 40, 200, want.len() / 2, 64 << 10, len as usize + 100] {
            assert_eq!(
                read_moov_at(&f, len, prefix).unwrap(),
                want,
                "prefix {prefix}"
            );
        }
    }

    /// An `mp4a` entry with an esds as libav writes it (AAC LC, 16 kHz mono).
    pub fn mp4a(max: u32, avg: u32) -> Vec<u8> {
        let mut e = vec![0, 0, 0, 0];
        e.extend_from_slice(b"mp4a");
        e.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0, 1]);
        e.extend_from_slice(&[0; 8]);
        e.extend_from_slice(&[0, 1, 0, 16, 0, 0, 0, 0, 0x3e, 0x80, 0, 0]);
        let mut esds = vec![0, 0, 0, 0, b'e', b's', b'd', b's', 0, 0, 0, 0];
        esds.extend_from_slice(&[0x03, 0x80, 0x80, 0x80, 25, 0, 2, 0]);
        esds.extend_from_slice(&[0x04, 0x80, 0x80, 0x80, 17, 0x40, 0x15, 0, 1, 0]);
        esds.extend_from_slice(&max.to_be_bytes());
        esds.extend_from_slice(&avg.to_be_bytes());
        esds.extend_from_slice(&[0x05, 0x80, 0x80, 0x80, 2, 0x14, 0x08]);
        esds.extend_from_slice(&[0x06, 0x80, 0x80, 0x80, 1, 2]);
        let n = esds.len() as u32;
        esds[0..4].copy_from_slice(&n.to_be_bytes());
        e.extend_from_slice(&esds);
        let n = e.len() as u32;
        e[0..4].copy_from_slice(&n.to_be_bytes());
        e
    }

    #[test]
    fn esds_bit_rates_are_found_and_ignored_for_comparison() {
        let (a, b) = (mp4a(40_000, 32_000), mp4a(41_234, 31_999));
        let at = esds_rates_offset(&a).unwrap();
        assert_eq!(&a[at + 3..at + 7], &40_000u32.to_be_bytes());
        let summary = |e: Vec<u8>| TrakSummary {
            handler: *b"soun",
            esds_rates_at: esds_rates_offset(&e),
            sample_entry: e,
            sample_entry_count: 1,
            has_ctts: false,
            timing: TrakTiming::default(),
        };
        let (sa, sb) = (summary(a.clone()), summary(b));
        assert_ne!(sa.sample_entry, sb.sample_entry);
        assert_eq!(sa.decoder_view(), sb.decoder_view());
        // Another decoder configuration still differs.
        let mut c = a;
        let last = c.len() - 9;
        c[last] = 0x15;
        assert_ne!(summary(c).decoder_view(), sa.decoder_view());
    }

    #[test]
    fn btrt_is_dropped_from_an_audio_entry() {
        let mut e = vec![0, 0, 0, 0];
        e.extend_from_slice(b"mp4a");
        e.extend_from_slice(&[0; 6]);
        e.extend_from_slice(&[0, 1]);
        e.extend_from_slice(&[0; 20]);
        e.extend_from_slice(&[0, 0, 0, 10, b'e', b's', b'd', b's', 1, 2]);
        e.extend_from_slice(&[0, 0, 0, 20, b'b', b't', b'r', b't']);
        e.extend_from_slice(&[9; 12]);
        let n = e.len() as u32;
        e[0..4].copy_from_slice(&n.to_be_bytes());
        let out = without_btrt(&e, b"soun");
        assert_eq!(out.len(), e.len() - 20);
        assert_eq!(&out[0..4], &((e.len() - 20) as u32).to_be_bytes());
        assert!(out.ends_with(&[b'e', b's', b'd', b's', 1, 2]));
    }
}
