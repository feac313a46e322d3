//! A track's samples as they will be in the output, where they come from
//! ([`SampleSource`], replayed rather than held) and what one pass over
//! them says ([`SampleStats`]: every table's size, the timing).

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
    Video {
        width: u32,
        height: u32,
    },
    Audio,
    Chapters,
    /// The wall-clock timestamp track (`tx3g`), over a picture of this size.
    Timestamps {
        width: u32,
        height: u32,
    },
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
    /// [`StatsAccumulator::recording`]: the small tables, built as it goes.
    tables: Vec<super::tables::TableState>,
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
            tables: Vec::new(),
        }
    }

    /// An accumulator that also builds the track's `stts`, `ctts` and
    /// `stss` (small: runs and keyframe numbers) as it sizes them; see
    /// [`StatsAccumulator::finish_tables`].
    pub fn recording(timescale: u32) -> StatsAccumulator {
        use super::boxes::Table;
        let mut acc = StatsAccumulator::new(timescale);
        acc.tables = [Table::Stts, Table::Ctts, Table::Stss]
            .into_iter()
            .map(|t| super::tables::TableState::new(t, 0, 1024))
            .collect();
        acc
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
        for t in self.tables.iter_mut() {
            t.push(s);
        }
    }

    /// [`StatsAccumulator::finish`], and the tables a recording one built
    /// (for `Track::prebuilt`).
    pub fn finish_tables(mut self) -> (SampleStats, Vec<super::tables::BuiltTable>) {
        let tables = std::mem::take(&mut self.tables)
            .into_iter()
            .map(|t| (t.table, t.finish()))
            .collect();
        (self.finish(), tables)
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
