//! A segment's sample index in a few bytes per sample.
//!
//! An export of a day of a 1080p30 camera with audio has some 6.6 million
//! samples; at the 40 bytes of a plain [`SampleTime`] the index alone would
//! take a quarter of a gigabyte, and at 8 (a 4-byte offset and size) it is
//! still most of an export's memory. Here a typical sample costs 4 bytes:
//!
//! * its size in 2 ([`Packed`]: 16 bits, with the rare larger value, a
//!   keyframe of a high-rate camera, kept aside by index);
//! * its byte offset as the gap after the sample before it, also packed:
//!   an MP4 muxer writes samples in decode order, a track's back to back
//!   or interleaved with the other track's (the gap is then the other
//!   track's bytes in between: an audio frame or two, a video frame), so
//!   gaps are small; an absolute offset every [`CHECKPOINT`] samples keeps
//!   random access short. A file whose samples go backwards keeps one
//!   offset per sample;
//! * only where needed, 4 bytes of decode-time delta (timestamps that
//!   jitter, as from a camera recorded with wall-clock timestamps) and 4
//!   bytes of composition offset (B-frames). Constant-rate timing (every
//!   AAC track, most video) is kept as runs, keyframes as a sorted list of
//!   indexes (or "all").

/// One sample of the index: timing in the stream's time base, and where
/// its bytes are in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SampleTime {
    /// Decode timestamp.
    pub dts: i64,
    /// Decode duration: until the next sample's DTS (the last one: its own
    /// `stts` delta).
    pub duration: i64,
    /// Composition offset: presentation time is `dts + cts` (non-zero with
    /// B-frames).
    pub cts: i32,
    pub keyframe: bool,
    /// Byte offset in the segment file.
    pub pos: i64,
    pub size: u32,
}

impl SampleTime {
    /// Presentation timestamp.
    pub fn pts(&self) -> i64 {
        self.dts + self.cts as i64
    }
}

/// Decode times relative to the first sample's.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Dts {
    /// Runs of equal deltas: (first sample index, its relative DTS, delta).
    Runs(Vec<(u32, u32, u32)>),
    /// One relative DTS per sample.
    Each(Vec<u32>),
}

/// Samples between two absolute offsets of [`Pos::Gaps`].
const CHECKPOINT: usize = 64;

/// `u32` values stored in 16 bits each, the few that do not fit kept aside
/// by index.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct Packed {
    low: Vec<u16>,
    /// (index, value) of the values >= `u16::MAX`, by index.
    high: Vec<(u32, u32)>,
}

impl Packed {
    #[cfg(test)]
    fn from_values(values: impl ExactSizeIterator<Item = u32>) -> Packed {
        let mut p = Packed {
            low: Vec::with_capacity(values.len()),
            high: Vec::new(),
        };
        for (i, v) in values.enumerate() {
            match u16::try_from(v) {
                Ok(x) if x != u16::MAX => p.low.push(x),
                _ => {
                    p.low.push(u16::MAX);
                    p.high.push((i as u32, v));
                }
            }
        }
        p.low.shrink_to_fit();
        p
    }

    fn len(&self) -> usize {
        self.low.len()
    }

    #[inline]
    fn get(&self, i: usize) -> u32 {
        match self.low[i] {
            u16::MAX => self
                .high
                .binary_search_by_key(&(i as u32), |h| h.0)
                .map_or(0, |h| self.high[h].1),
            x => x as u32,
        }
    }

    fn heap_bytes(&self) -> usize {
        self.low.len() * 2 + self.high.len() * 8
    }
}

/// Byte offsets in the file.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Pos {
    /// Sample `i` starts `gaps[i]` bytes after sample `i - 1` ended
    /// (sample 0: at `gaps[0]`); `checkpoints[k]` is the offset of sample
    /// `k * CHECKPOINT`.
    Gaps { gaps: Packed, checkpoints: Vec<u32> },
    /// One offset per sample (samples that do not go forwards in the file).
    Each(Vec<u32>),
}

/// The sample index of one stream of one segment, in decode order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SampleTable {
    first_dts: i64,
    dts: Dts,
    last_duration: u32,
    pos: Pos,
    size: Packed,
    /// Composition offsets; empty when all are zero.
    cts: Vec<i32>,
    /// Keyframe indexes, sorted; `None` when every sample is a keyframe.
    keys: Option<Vec<u32>>,
    /// The presentation span, computed once when packed (the plan and the
    /// catalogue check ask for it per segment).
    span: Span,
}

/// A table's presentation span: its first presented instant and the end
/// of its last presented sample, that sample's duration counted as at
/// least 0 or at least 1 tick (0 when empty).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Span {
    pub min_pts: i64,
    pub end: i64,
    pub end_at_least_1: i64,
}

/// The samples of a table (or a range of it) in decode order. Forwards,
/// each step carries the decode time, the DTS run and the next keyframe
/// along from the step before instead of searching the runs and keyframes
/// again: an hour's export walks every sample several times (plan, layout,
/// sample tables), and those searches were most of the index-driven
/// writer's CPU time. Backwards (rare: a search for the last keyframe
/// before an instant) it reads each sample by [`SampleTable::get`].
#[derive(Debug, Clone)]
pub struct Samples<'a> {
    table: &'a SampleTable,
    front: usize,
    back: usize,
    /// Relative DTS of `front`.
    rel: i64,
    /// The DTS run holding `front` (`Dts::Runs`).
    run: usize,
    /// Index of the first keyframe at or after `front`.
    key: usize,
    /// Byte offset of `front`.
    pos: u64,
}

impl Iterator for Samples<'_> {
    type Item = SampleTime;

    #[inline]
    fn next(&mut self) -> Option<SampleTime> {
        if self.front >= self.back {
            return None;
        }
        let t = self.table;
        let i = self.front;
        let next = i + 1;
        let rel_next = if next >= t.len() {
            None
        } else {
            Some(match &t.dts {
                Dts::Each(v) => v[next] as i64,
                Dts::Runs(runs) => match runs.get(self.run + 1) {
                    Some(r) if r.0 as usize == next => {
                        self.run += 1;
                        r.1 as i64
                    }
                    _ => self.rel + runs.get(self.run).map_or(0, |r| r.2 as i64),
                },
            })
        };
        let keyframe = match &t.keys {
            None => true,
            Some(k) => {
                let hit = k.get(self.key).is_some_and(|&x| x as usize == i);
                if hit {
                    self.key += 1;
                }
                hit
            }
        };
        let s = SampleTime {
            dts: t.first_dts + self.rel,
            duration: rel_next.map_or(t.last_duration as i64, |r| r - self.rel),
            cts: t.cts.get(i).copied().unwrap_or(0),
            keyframe,
            pos: self.pos as i64,
            size: t.size.get(i),
        };
        if next < t.len() {
            self.pos = match &t.pos {
                Pos::Each(v) => v[next] as u64,
                Pos::Gaps { gaps, .. } => self.pos + s.size as u64 + gaps.get(next) as u64,
            };
        }
        self.front = next;
        self.rel = rel_next.unwrap_or(self.rel);
        Some(s)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.back - self.front;
        (n, Some(n))
    }
}

impl DoubleEndedIterator for Samples<'_> {
    fn next_back(&mut self) -> Option<SampleTime> {
        (self.front < self.back).then(|| {
            self.back -= 1;
            self.table.get(self.back)
        })
    }
}

impl ExactSizeIterator for Samples<'_> {}

/// [`SampleTable::from_index`] one entry at a time (a segment's probe feeds
/// it as it walks the `trak`), with what the probe checks besides: whether
/// there is a keyframe, and where the sample data ends.
pub struct IndexBuilder<I> {
    b: Builder,
    cts: std::iter::Fuse<I>,
    last_delta: Option<i64>,
    /// The first packing error; later entries are not packed.
    error: Option<String>,
    /// The last two decode times (the last sample's fallback duration).
    last_dts: [Option<i64>; 2],
    pub any_keyframe: bool,
    /// Largest `pos + size` of the entries.
    pub data_end: i64,
}

impl<I: Iterator<Item = i32>> IndexBuilder<I> {
    pub fn new(capacity: usize, cts: I, last_delta: Option<i64>) -> IndexBuilder<I> {
        IndexBuilder {
            b: Builder::with_capacity(capacity),
            cts: cts.fuse(),
            last_delta,
            error: None,
            last_dts: [None; 2],
            any_keyframe: false,
            data_end: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.b.n
    }

    #[inline]
    pub fn push(&mut self, e: &crate::media::ffi::IndexEntry) {
        self.any_keyframe |= e.keyframe;
        self.data_end = self.data_end.max(e.pos + e.size as i64);
        self.last_dts = [self.last_dts[1], Some(e.dts)];
        if self.error.is_none() {
            let cts = self.cts.next().unwrap_or(0);
            if let Err(why) = self.b.push(e.dts, cts, e.keyframe, e.pos, e.size) {
                self.error = Some(why);
            }
        }
    }

    pub fn finish(self) -> Result<SampleTable, String> {
        if let Some(why) = self.error {
            return Err(why);
        }
        let before = match self.last_dts {
            [Some(a), Some(b)] => (b - a).max(0),
            _ => 0,
        };
        self.b.finish(self.last_delta.unwrap_or(before.max(1)))
    }
}

/// Packs samples one at a time, in decode order, in one pass: decode-time
/// runs, byte gaps (or absolute offsets once a sample goes back in the
/// file), sizes, composition offsets (only once one is not zero),
/// keyframes and the presentation span.
struct Builder {
    n: usize,
    first_dts: i64,
    prev_dts: i64,
    capacity: usize,
    /// The finished runs: (first sample, its relative DTS, delta). They
    /// are the decode times: a table with too many keeps them expanded.
    runs: Vec<(u32, u32, u32)>,
    /// The current run (`None` before the first sample); its delta is not
    /// known until the sample after its first (`run_open`).
    run: Option<(u32, u32, u32)>,
    run_open: bool,
    /// The relative DTS that continues the current run.
    run_next: u64,
    /// End of the sample before (offset + size).
    prev_end: u64,
    pos: Pos,
    size: Packed,
    cts: Vec<i32>,
    keys: Vec<u32>,
    /// The sample before, whose span waits for the next decode time.
    pending: Option<(i64, i32)>,
    span: Span,
}

impl Packed {
    #[inline]
    fn push(&mut self, v: u32) {
        match u16::try_from(v) {
            Ok(x) if x != u16::MAX => self.low.push(x),
            _ => {
                self.high.push((self.low.len() as u32, v));
                self.low.push(u16::MAX);
            }
        }
    }
}

impl Builder {
    fn with_capacity(n: usize) -> Builder {
        Builder {
            n: 0,
            first_dts: 0,
            prev_dts: 0,
            capacity: n,
            runs: Vec::new(),
            run: None,
            run_open: false,
            run_next: 0,
            prev_end: 0,
            pos: Pos::Gaps {
                gaps: Packed {
                    low: Vec::with_capacity(n),
                    high: Vec::new(),
                },
                checkpoints: Vec::with_capacity(n / CHECKPOINT + 1),
            },
            size: Packed {
                low: Vec::with_capacity(n),
                high: Vec::new(),
            },
            cts: Vec::new(),
            keys: Vec::new(),
            pending: None,
            span: Span {
                min_pts: i64::MAX,
                end: i64::MIN,
                end_at_least_1: i64::MIN,
            },
        }
    }

    fn u32_of(v: i64, what: &str) -> Result<u32, String> {
        u32::try_from(v).map_err(|_| format!("{what} {v} does not fit the sample table"))
    }

    /// The span of a sample at `dts` + `cts` lasting `duration`.
    #[inline]
    fn spans(&mut self, dts: i64, cts: i32, duration: i64) {
        let pts = dts + cts as i64;
        let span = &mut self.span;
        span.min_pts = span.min_pts.min(pts);
        span.end = span.end.max(pts + duration.max(0));
        span.end_at_least_1 = span.end_at_least_1.max(pts + duration.max(1));
    }

    #[inline(always)]
    fn push(
        &mut self,
        dts: i64,
        cts: i32,
        keyframe: bool,
        pos: i64,
        size: u32,
    ) -> Result<(), String> {
        let i = self.n;
        if i == 0 {
            self.first_dts = dts;
        }
        let rel = Self::u32_of(dts - self.first_dts, "decode time")?;
        if i > 0 && dts < self.prev_dts {
            return Err(format!("decode time goes back at sample {i}"));
        }
        let pos = Self::u32_of(pos, "byte offset")?;
        // Decode-time runs.
        // (`run_next` is the run's first DTS plus its delta times the
        // samples so far: what continues it.)
        match &mut self.run {
            Some(run) if self.run_open => {
                run.2 = rel - run.1;
                self.run_open = false;
                self.run_next = rel as u64 + run.2 as u64;
            }
            Some(run) if rel as u64 == self.run_next => self.run_next += run.2 as u64,
            _ => {
                if let Some(done) = self.run.replace((i as u32, rel, 0)) {
                    self.runs.push(done);
                }
                self.run_open = true;
            }
        }
        // Offsets: gaps while the samples go forwards.
        match &mut self.pos {
            Pos::Gaps { gaps, checkpoints } => {
                if i > 0 && (pos as u64) < self.prev_end {
                    let mut abs = Vec::with_capacity(self.capacity.max(i + 1));
                    let mut at = 0u64;
                    for k in 0..i {
                        at = if k == 0 {
                            gaps.get(0) as u64
                        } else {
                            at + self.size.get(k - 1) as u64 + gaps.get(k) as u64
                        };
                        abs.push(at as u32);
                    }
                    abs.push(pos);
                    self.pos = Pos::Each(abs);
                } else {
                    gaps.push(if i == 0 {
                        pos
                    } else {
                        (pos as u64 - self.prev_end) as u32
                    });
                    if i.is_multiple_of(CHECKPOINT) {
                        checkpoints.push(pos);
                    }
                }
            }
            Pos::Each(v) => v.push(pos),
        }
        self.prev_end = pos as u64 + size as u64;
        self.size.push(size);
        if self.cts.len() == i && (i > 0 || cts != 0) {
            self.cts.push(cts);
        } else if cts != 0 {
            // The first offset that is not zero: the ones before were.
            self.cts = Vec::with_capacity(self.capacity.max(i + 1));
            self.cts.resize(i, 0);
            self.cts.push(cts);
        }
        if keyframe {
            self.keys.push(i as u32);
        }
        if let Some((pdts, pcts)) = self.pending {
            self.spans(pdts, pcts, dts - pdts);
        }
        self.pending = Some((dts, cts));
        self.prev_dts = dts;
        self.n += 1;
        Ok(())
    }

    /// The table; the last sample lasts `last_duration` (negative: 0).
    fn finish(mut self, last_duration: i64) -> Result<SampleTable, String> {
        let n = self.n;
        if n == 0 {
            return Ok(SampleTable::default());
        }
        let last_duration = Self::u32_of(last_duration.max(0), "duration")?;
        if let Some((pdts, pcts)) = self.pending {
            self.spans(pdts, pcts, last_duration as i64);
        }
        self.runs.extend(self.run.take());
        let dts = if self.runs.len() * 3 <= n {
            Dts::Runs(self.runs)
        } else {
            let mut rel = Vec::with_capacity(n);
            for (k, &(start, r0, d)) in self.runs.iter().enumerate() {
                let end = self.runs.get(k + 1).map_or(n, |r| r.0 as usize);
                rel.extend((0..(end - start as usize) as u32).map(|j| r0 + j * d));
            }
            Dts::Each(rel)
        };
        let mut pos = self.pos;
        if let Pos::Gaps { gaps, .. } = &mut pos {
            gaps.low.shrink_to_fit();
        }
        let mut size = self.size;
        size.low.shrink_to_fit();
        Ok(SampleTable {
            first_dts: self.first_dts,
            dts,
            last_duration,
            pos,
            size,
            cts: self.cts,
            keys: (self.keys.len() != n).then_some(self.keys),
            span: self.span,
        })
    }
}

impl Default for SampleTable {
    fn default() -> Self {
        SampleTable {
            first_dts: 0,
            dts: Dts::Runs(Vec::new()),
            last_duration: 0,
            pos: Pos::Each(Vec::new()),
            size: Packed::default(),
            cts: Vec::new(),
            keys: None,
            span: Span::default(),
        }
    }
}

#[allow(clippy::len_without_is_empty)]
impl SampleTable {
    /// Packs `samples` (decode order). `Err` says what does not fit: a
    /// decreasing DTS, a segment of more than 4 GiB or ~13 h at 90 kHz.
    pub fn from_samples(samples: &[SampleTime]) -> Result<SampleTable, String> {
        let mut b = Builder::with_capacity(samples.len());
        for s in samples {
            b.push(s.dts, s.cts, s.keyframe, s.pos, s.size)?;
        }
        b.finish(samples.last().map_or(0, |s| s.duration))
    }

    /// Packs a demuxer-style index (decode order) with the composition
    /// offsets `cts` (one per entry; fewer: zeros) in one pass, without a
    /// [`SampleTime`] per sample in between: what a segment's probe does
    /// for each of its streams. The last sample lasts `last_delta` (the
    /// file's own last `stts` delta, when known and positive), else as
    /// long as the one before it (at least 1 tick), as
    /// `probe::sample_times` gives it.
    pub fn from_index(
        entries: &[crate::media::ffi::IndexEntry],
        cts: impl Iterator<Item = i32>,
        last_delta: Option<i64>,
    ) -> Result<SampleTable, String> {
        let mut b = IndexBuilder::new(entries.len(), cts, last_delta);
        for e in entries {
            b.push(e);
        }
        b.finish()
    }

    /// The packing [`Builder`] replaced (several passes over the samples),
    /// kept to check the builder against.
    #[cfg(test)]
    fn from_samples_reference(samples: &[SampleTime]) -> Result<SampleTable, String> {
        let n = samples.len();
        let Some(first) = samples.first() else {
            return Ok(SampleTable::default());
        };
        let u32_of = |v: i64, what: &str| {
            u32::try_from(v).map_err(|_| format!("{what} {v} does not fit the sample table"))
        };
        let mut rel = Vec::with_capacity(n);
        let mut pos = Vec::with_capacity(n);
        let mut size = Vec::with_capacity(n);
        let mut cts = Vec::new();
        let mut keys = Vec::new();
        for (i, s) in samples.iter().enumerate() {
            rel.push(u32_of(s.dts - first.dts, "decode time")?);
            if i > 0 && s.dts < samples[i - 1].dts {
                return Err(format!("decode time goes back at sample {i}"));
            }
            pos.push(u32_of(s.pos, "byte offset")?);
            size.push(s.size);
            if s.keyframe {
                keys.push(i as u32);
            }
        }
        if samples.iter().any(|s| s.cts != 0) {
            cts = samples.iter().map(|s| s.cts).collect();
        }
        // Runs: a sample that does not continue the last run opens one, with
        // the delta to the sample after it.
        let mut runs: Vec<(u32, u32, u32)> = Vec::new();
        for i in 0..n {
            if let Some(&(start, r0, d)) = runs.last() {
                if rel[i] as u64 == r0 as u64 + (i as u64 - start as u64) * d as u64 {
                    continue;
                }
            }
            let delta = rel.get(i + 1).map_or(0, |next| next - rel[i]);
            runs.push((i as u32, rel[i], delta));
        }
        let dts = if runs.len() * 3 <= n {
            Dts::Runs(runs)
        } else {
            Dts::Each(rel)
        };
        // Gaps: how far after the sample before it each one starts.
        let end_of = |i: usize| pos[i] as u64 + size[i] as u64;
        let forwards = (1..n).all(|i| pos[i] as u64 >= end_of(i - 1));
        let pos = if forwards {
            Pos::Gaps {
                gaps: Packed::from_values((0..n).map(|i| {
                    if i == 0 {
                        pos[0]
                    } else {
                        (pos[i] as u64 - end_of(i - 1)) as u32
                    }
                })),
                checkpoints: pos.iter().step_by(CHECKPOINT).copied().collect(),
            }
        } else {
            Pos::Each(pos)
        };
        let size = Packed::from_values(size.into_iter());
        let keys = (keys.len() != n).then_some(keys);
        let mut table = SampleTable {
            first_dts: first.dts,
            dts,
            last_duration: u32_of(samples[n - 1].duration.max(0), "duration")?,
            pos,
            size,
            cts,
            keys,
            span: Span::default(),
        };
        // From the samples packed: their decode times only rise (checked
        // above), so their durations are the table's (the deltas).
        let mut span = Span {
            min_pts: i64::MAX,
            end: i64::MIN,
            end_at_least_1: i64::MIN,
        };
        for (i, s) in samples.iter().enumerate() {
            let duration = match samples.get(i + 1) {
                Some(next) => next.dts - s.dts,
                None => table.last_duration as i64,
            };
            let s = SampleTime { duration, ..*s };
            let pts = s.pts();
            span.min_pts = span.min_pts.min(pts);
            span.end = span.end.max(pts + s.duration.max(0));
            span.end_at_least_1 = span.end_at_least_1.max(pts + s.duration.max(1));
        }
        table.span = span;
        Ok(table)
    }

    /// The presentation span (see [`Span`]); zeros for an empty table.
    pub fn span(&self) -> Span {
        self.span
    }

    pub fn len(&self) -> usize {
        self.size.len()
    }

    /// Sample `i`; `i` must be below [`len`](Self::len).
    pub fn get(&self, i: usize) -> SampleTime {
        let dts = self.first_dts + self.rel_dts(i);
        let duration = if i + 1 < self.len() {
            self.first_dts + self.rel_dts(i + 1) - dts
        } else {
            self.last_duration as i64
        };
        SampleTime {
            dts,
            duration,
            cts: self.cts.get(i).copied().unwrap_or(0),
            keyframe: match &self.keys {
                None => true,
                Some(k) => k.binary_search(&(i as u32)).is_ok(),
            },
            pos: self.pos_of(i) as i64,
            size: self.size.get(i),
        }
    }

    /// Byte offset of sample `i` (below [`len`](Self::len)).
    fn pos_of(&self, i: usize) -> u64 {
        match &self.pos {
            Pos::Each(v) => v[i] as u64,
            Pos::Gaps { gaps, checkpoints } => {
                let k = i / CHECKPOINT;
                (k * CHECKPOINT + 1..=i).fold(checkpoints[k] as u64, |p, j| {
                    p + self.size.get(j - 1) as u64 + gaps.get(j) as u64
                })
            }
        }
    }

    /// Every sample, in decode order.
    pub fn iter(&self) -> Samples<'_> {
        self.range(0..self.len())
    }

    /// The samples of `range` (decode order; clamped to the table).
    pub fn range(&self, range: std::ops::Range<usize>) -> Samples<'_> {
        let back = range.end.min(self.len());
        let front = range.start.min(back);
        Samples {
            table: self,
            front,
            back,
            rel: if front < self.len() {
                self.rel_dts(front)
            } else {
                0
            },
            run: self.run_of(front),
            pos: if front < self.len() {
                self.pos_of(front)
            } else {
                0
            },
            key: self
                .keys
                .as_ref()
                .map_or(0, |k| k.partition_point(|&x| (x as usize) < front)),
        }
    }

    /// Index of the DTS run holding sample `i` (0 for `Dts::Each`).
    fn run_of(&self, i: usize) -> usize {
        match &self.dts {
            Dts::Each(_) => 0,
            Dts::Runs(runs) => match runs.binary_search_by_key(&(i as u32), |r| r.0) {
                Ok(r) => r,
                Err(r) => r.saturating_sub(1),
            },
        }
    }

    fn rel_dts(&self, i: usize) -> i64 {
        match &self.dts {
            Dts::Each(v) => v[i] as i64,
            Dts::Runs(runs) => {
                let (start, rel, delta) = runs[self.run_of(i)];
                rel as i64 + (i as i64 - start as i64) * delta as i64
            }
        }
    }

    /// The sample whose DTS is `dts`, if any.
    pub fn find_dts(&self, dts: i64) -> Option<SampleTime> {
        let (mut lo, mut hi) = (0usize, self.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            if self.first_dts + self.rel_dts(mid) < dts {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        (lo < self.len())
            .then(|| self.get(lo))
            .filter(|s| s.dts == dts)
    }

    /// Heap bytes held.
    pub fn heap_bytes(&self) -> usize {
        let dts = match &self.dts {
            Dts::Runs(r) => r.len() * 12,
            Dts::Each(v) => v.len() * 4,
        };
        let pos = match &self.pos {
            Pos::Gaps { gaps, checkpoints } => gaps.heap_bytes() + checkpoints.len() * 4,
            Pos::Each(v) => v.len() * 4,
        };
        dts + pos
            + self.size.heap_bytes()
            + self.cts.len() * 4
            + self.keys.as_ref().map_or(0, |k| k.len() * 4)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(dts: i64, duration: i64, cts: i32, keyframe: bool, pos: i64) -> SampleTime {
        SampleTime {
            dts,
            duration,
            cts,
            keyframe,
            pos,
            size: 10 + pos as u32,
        }
    }

    #[test]
    fn round_trips_and_stays_small() {
        // Constant rate with B-frame offsets and a keyframe every 4.
        let v: Vec<SampleTime> = (0..1000)
            .map(|i| {
                s(
                    -1024 + i * 512,
                    512,
                    (i % 3) as i32 * 512,
                    i % 4 == 0,
                    i * 100,
                )
            })
            .collect();
        let t = SampleTable::from_samples(&v).unwrap();
        assert_eq!(t.iter().collect::<Vec<_>>(), v);
        assert!(matches!(t.dts, Dts::Runs(ref r) if r.len() == 1));
        // Overlapping samples (this fixture's): an offset each (4 bytes);
        // size 2 bytes (8 more for each of 64 KiB or more), composition
        // offset 4, keyframes 1 in 4.
        let big = v.iter().filter(|x| x.size >= 0xffff).count();
        assert!(big > 0);
        assert!(
            t.heap_bytes() <= 1000 * 10 + big * 8 + 250 * 4 + 100,
            "{}",
            t.heap_bytes()
        );
        assert_eq!(t.find_dts(-1024 + 7 * 512), Some(v[7]));
        assert_eq!(t.find_dts(1), None);
        // Past the last sample: none (not a read past the table).
        assert_eq!(t.find_dts(-1024 + 1000 * 512), None);
        assert_eq!(t.iter().rposition(|x| x.keyframe), Some(996));
    }

    #[test]
    fn jittered_timestamps_and_a_rate_change() {
        let mut v = Vec::new();
        let mut dts = 0;
        for i in 0..300i64 {
            let d = if i < 100 {
                3000
            } else {
                2990 + (i * 7919) % 21
            };
            v.push(s(dts, d, 0, i % 30 == 0, i * 50));
            dts += d;
        }
        let t = SampleTable::from_samples(&v).unwrap();
        assert_eq!(t.iter().collect::<Vec<_>>(), v);
        // A run then an abrupt change: still exact.
        let w: Vec<SampleTime> = (0..50)
            .map(|i| {
                s(
                    if i < 20 {
                        i * 1024
                    } else {
                        20 * 1024 + (i - 20) * 2048
                    },
                    if i < 20 { 1024 } else { 2048 },
                    0,
                    true,
                    i,
                )
            })
            .collect();
        let t = SampleTable::from_samples(&w).unwrap();
        assert_eq!(t.iter().collect::<Vec<_>>(), w);
        assert_eq!(t.keys, None);
    }

    #[test]
    fn walks_agree_with_random_access_from_both_ends_and_in_ranges() {
        // Runs with rate changes, sparse keyframes, composition offsets.
        let mut v = Vec::new();
        let mut dts = -3000;
        for i in 0..700i64 {
            let d = match i {
                0..=199 => 3000,
                200..=299 => 1500 + (i % 2) * 3000,
                _ => 3003,
            };
            v.push(s(
                dts,
                d,
                ((i % 4) * 1000) as i32,
                i % 37 == 3 || i == 0,
                i * 9,
            ));
            dts += d;
        }
        let t = SampleTable::from_samples(&v).unwrap();
        assert!(matches!(t.dts, Dts::Runs(_)));
        let each: Vec<SampleTime> = (0..t.len()).map(|i| t.get(i)).collect();
        assert_eq!(each, v);
        assert_eq!(t.iter().collect::<Vec<_>>(), v);
        let mut back: Vec<SampleTime> = t.iter().rev().collect();
        back.reverse();
        assert_eq!(back, v);
        for (a, b) in [(0, 1), (5, 5), (199, 201), (250, 699), (650, 700), (3, 900)] {
            let want: Vec<SampleTime> = v[a.min(700)..b.min(700)].to_vec();
            assert_eq!(t.range(a..b).collect::<Vec<_>>(), want, "{a}..{b}");
            assert_eq!(t.range(a..b).len(), want.len());
            let mut r: Vec<SampleTime> = t.range(a..b).rev().collect();
            r.reverse();
            assert_eq!(r, want, "{a}..{b} backwards");
        }
        // Both ends of one walk meet in the middle.
        let mut it = t.iter();
        let (mut front, mut rear) = (Vec::new(), Vec::new());
        while let Some(x) = it.next() {
            front.push(x);
            if let Some(y) = it.next_back() {
                rear.push(y);
            }
        }
        rear.reverse();
        front.extend(rear);
        assert_eq!(front, v);
    }

    #[test]
    fn interleaved_offsets_and_sizes_take_four_bytes_a_sample() {
        // Two tracks interleaved as a muxer writes them: this track's
        // samples back to back in chunks of 30, the other's in between.
        let mut v = Vec::new();
        let mut pos = 48;
        for i in 0..900i64 {
            if i % 30 == 0 {
                pos += 4_000; // the other track's chunk
            }
            let size = 700 + (i * 7919 % 300) as u32;
            v.push(SampleTime {
                dts: i * 3000,
                duration: 3000,
                cts: 0,
                keyframe: i % 60 == 0,
                pos,
                size,
            });
            pos += size as i64;
        }
        // Two keyframes too big for 16 bits, and a gap that is.
        v[60].size = 70_000;
        v[450].size = 100_000;
        for (i, x) in v.iter_mut().enumerate() {
            if i > 60 {
                x.pos += 70_000;
            }
            if i > 450 {
                x.pos += 100_000;
            }
            if i >= 600 {
                x.pos += 80_000;
            }
        }
        let t = SampleTable::from_samples(&v).unwrap();
        assert!(matches!(t.pos, Pos::Gaps { .. }));
        // 2 bytes of size and 2 of gap a sample, 4 escapes, a checkpoint
        // every 64, 15 keyframes, one DTS run.
        assert!(
            t.heap_bytes() <= 900 * 4 + 4 * 8 + 15 * 4 + 15 * 4 + 12,
            "{}",
            t.heap_bytes()
        );
        assert_eq!(t.iter().collect::<Vec<_>>(), v);
        let each: Vec<SampleTime> = (0..t.len()).map(|i| t.get(i)).collect();
        assert_eq!(each, v);
        for (a, b) in [
            (0, 1),
            (29, 31),
            (30, 60),
            (60, 64),
            (63, 130),
            (451, 899),
            (899, 900),
        ] {
            assert_eq!(
                t.range(a..b).collect::<Vec<_>>(),
                v[a..b].to_vec(),
                "{a}..{b}"
            );
            let mut r: Vec<SampleTime> = t.range(a..b).rev().collect();
            r.reverse();
            assert_eq!(r, v[a..b].to_vec(), "{a}..{b} backwards");
        }
    }

    /// The one-pass builder packs exactly what the multi-pass packing it
    /// replaced did, errors included, on random tables of every shape:
    /// constant and jittered rates, B-frame offsets, samples that go back
    /// in the file, large sizes and gaps, keyframes everywhere or sparse,
    /// decode times that go back, offsets past 4 GiB. And a demuxer index
    /// packs as its samples do.
    #[test]
    fn the_builder_packs_as_the_reference_did() {
        let mut rng = fastrand::Rng::with_seed(0xb11d);
        for round in 0..3000 {
            let n = match round % 5 {
                0 => rng.usize(0..4),
                _ => rng.usize(1..400),
            };
            let step = rng.i64(1..4000);
            let jitter = rng.u8(0..4) == 0;
            let bframes = rng.bool();
            let back_in_file = rng.u8(0..6) == 0;
            let every_key = rng.bool();
            let (mut dts, mut pos) = (rng.i64(-5000..5000), rng.i64(0..100_000));
            let mut samples = Vec::with_capacity(n);
            for i in 0..n {
                let size = match rng.u8(0..20) {
                    0 => rng.u32(65_535..3_000_000),
                    _ => rng.u32(0..30_000),
                };
                let d = if jitter { rng.i64(0..2 * step) } else { step };
                samples.push(SampleTime {
                    dts,
                    duration: d,
                    cts: if bframes {
                        rng.i32(0..3) * step as i32
                    } else {
                        0
                    },
                    keyframe: every_key || i % 30 == 0 || rng.u8(0..50) == 0,
                    pos: if back_in_file && rng.u8(0..10) == 0 {
                        (pos - rng.i64(0..50_000)).max(0)
                    } else {
                        pos
                    },
                    size,
                });
                dts += d;
                pos += size as i64
                    + match rng.u8(0..3) {
                        0 => 0,
                        1 => rng.i64(0..2000),
                        _ => rng.i64(0..200_000),
                    };
            }
            match rng.u8(0..30) {
                0 if n > 2 => samples[n / 2].dts = samples[0].dts - 1,
                1 if n > 0 => samples[n - 1].pos = 1 << 32,
                2 if n > 0 => samples[n - 1].duration = -5,
                _ => {}
            }
            let want = SampleTable::from_samples_reference(&samples);
            let got = SampleTable::from_samples(&samples);
            assert_eq!(got, want, "round {round}");
            if let Ok(table) = got {
                // A demuxer index with the file's last delta (or without
                // one) gives the same table sample_times + packing gives.
                let entries: Vec<crate::media::ffi::IndexEntry> = samples
                    .iter()
                    .map(|s| crate::media::ffi::IndexEntry {
                        pos: s.pos,
                        dts: s.dts,
                        size: s.size,
                        keyframe: s.keyframe,
                    })
                    .collect();
                let cts: Vec<i32> = samples.iter().map(|s| s.cts).collect();
                let last = samples.last().map(|s| s.duration).filter(|&d| d > 0);
                let timing = crate::media::isobmff::TrakTiming {
                    sample_count: n as u64,
                    last_delta: last.map(|d| d as u32),
                    ctts: Vec::new(),
                };
                for last in [last, None] {
                    let t = last.map(|_| &timing);
                    let times = crate::probe::sample_times(&entries, Some(&cts), t);
                    let via_times = SampleTable::from_samples(&times).unwrap();
                    let direct =
                        SampleTable::from_index(&entries, cts.iter().copied(), last).unwrap();
                    assert_eq!(direct, via_times, "round {round}");
                }
                if n > 0 && samples.iter().all(|s| s.cts == 0) {
                    assert_eq!(table.cts.len(), 0);
                }
                let _ = table;
            }
        }
    }

    #[test]
    fn what_does_not_fit_is_refused() {
        assert!(SampleTable::from_samples(&[s(0, 1, 0, true, 1 << 33)]).is_err());
        assert!(SampleTable::from_samples(&[s(10, 1, 0, true, 0), s(5, 1, 0, false, 1)]).is_err());
    }
}
