//! The per-sample tables (`stts`, `ctts`, `stss`, `stsz`, `stco`/`co64`)
//! streamed into the holes of a laid-out `moov` as it is written.
//!
//! Three ways a track's tables are made, all giving the same bytes (the
//! unit tests render every test `moov` each way): built before the head by
//! the pass that sized them (`Track::prebuilt`: the small ones of a video
//! track, written at once, the next one streamed while the rest are built:
//! a virtual file's first bytes then wait for no replay); all of a track's
//! in one replay, held until written (fused, within a budget); or one
//! replay a table, streamed.

use std::io::{self, Write};

use super::boxes::{Moov, Part, Table};
use super::layout::Track;
use super::samples::OutSample;

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
pub(super) fn write_moov_fusing(
    moov: &Moov,
    tracks: &[Track<'_>],
    data_base: u64,
    w: &mut dyn Write,
    check: &mut dyn FnMut() -> io::Result<()>,
    fused_max: u64,
) -> io::Result<()> {
    // Each track's tables in one replay while they fit what is left of
    // the budget; built when the writer reaches the track's first table,
    // so that the bytes before it (and an earlier track's tables) are out
    // first: a virtual file's reader gets them while the rest is built.
    let mut budget = fused_max;
    let mut fused: Vec<Option<Vec<(Table, u64)>>> = vec![None; tracks.len()];
    // A track whose small tables were built in its layout pass (see
    // `Track::prebuilt`): those are written at once, the first of the
    // others streamed while the rest are built in the same replay.
    let mut prebuilt: Vec<Vec<BuiltTable>> = tracks.iter().map(|t| t.prebuilt.clone()).collect();
    let mut streamed: Vec<bool> = tracks.iter().map(|t| t.prebuilt.is_empty()).collect();
    for (i, f) in fused.iter_mut().enumerate() {
        if !streamed[i] {
            continue;
        }
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
            *f = Some(tables);
        }
    }
    let mut built: Vec<Vec<(Table, Vec<u8>)>> = vec![Vec::new(); tracks.len()];
    let build = |t: &Track<'_>, tables: &[(Table, u64)]| -> Vec<(Table, Vec<u8>)> {
        let mut states: Vec<TableState> = tables
            .iter()
            .map(|&(table, len)| TableState::new(table, data_base, len as usize))
            .collect();
        t.samples.for_each(&mut |s| {
            for st in states.iter_mut() {
                st.push(s);
            }
        });
        states
            .into_iter()
            .map(|st| (st.table, st.finish()))
            .collect()
    };
    for part in &moov.parts {
        match part {
            Part::Bytes(b) => w.write_all(b)?,
            Part::Table { track, table, len } => {
                check()?;
                let t = tracks
                    .get(*track)
                    .ok_or_else(|| io::Error::other("moov table of a missing track"))?;
                let pre = prebuilt
                    .get_mut(*track)
                    .and_then(|p| p.iter_mut().find(|(k, _)| k == table))
                    .map(|(_, bytes)| std::mem::take(bytes));
                if let Some(bytes) = pre {
                    w.write_all(&bytes)?;
                    if bytes.len() as u64 != *len {
                        return Err(io::Error::other(format!(
                            "{table:?} table of track {} is {} bytes, sized {len}",
                            t.id,
                            bytes.len()
                        )));
                    }
                    continue;
                }
                if !streamed[*track] {
                    // The first table the layout pass did not build: out as
                    // it is made; the track's later ones built alongside.
                    streamed[*track] = true;
                    let later: Vec<(Table, u64)> = moov
                        .parts
                        .iter()
                        .filter_map(|p| match p {
                            Part::Table {
                                track: k,
                                table: x,
                                len,
                            } if *k == *track && x != table => Some((*x, *len)),
                            _ => None,
                        })
                        .filter(|(x, _)| !t.prebuilt.iter().any(|(k, _)| k == x))
                        .collect();
                    let (written, others) = stream_table(t, *table, &later, data_base, w)?;
                    built[*track] = others;
                    if written != *len {
                        return Err(io::Error::other(format!(
                            "{table:?} table of track {} is {written} bytes, sized {len}",
                            t.id
                        )));
                    }
                    continue;
                }
                if let Some(tables) = fused.get_mut(*track).and_then(Option::take) {
                    w.flush()?;
                    built[*track] = build(t, &tables);
                }
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

/// A table's entries, built.
pub(super) type BuiltTable = (Table, Vec<u8>);

/// Streams `table`'s entries (a replay of the track's samples) while the
/// tables `later` are built in the same replay; returns the bytes written
/// and the tables built.
fn stream_table(
    t: &Track<'_>,
    table: Table,
    later: &[(Table, u64)],
    data_base: u64,
    w: &mut dyn Write,
) -> io::Result<(u64, Vec<BuiltTable>)> {
    const CHUNK: usize = 64 << 10;
    // What precedes this table is complete: out now (a virtual file's
    // reader may be waiting for its first bytes).
    w.flush()?;
    let mut state = TableState::new(table, data_base, CHUNK + 16);
    let mut others: Vec<TableState> = later
        .iter()
        .map(|&(x, len)| TableState::new(x, data_base, len as usize))
        .collect();
    let mut written = 0u64;
    let mut err: Option<io::Error> = None;
    t.samples.for_each(&mut |s| {
        state.push(s);
        for o in others.iter_mut() {
            o.push(s);
        }
        if state.out.len() >= CHUNK {
            if err.is_none() {
                // Flushed, so that a reader of the head gets it now.
                match w.write_all(&state.out).and_then(|()| w.flush()) {
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
    let others = others.into_iter().map(|o| (o.table, o.finish())).collect();
    Ok((written + rest.len() as u64, others))
}

/// Streams one table's entries (a replay of the track's samples); returns
/// the bytes written.
fn write_table(t: &Track<'_>, table: Table, data_base: u64, w: &mut dyn Write) -> io::Result<u64> {
    stream_table(t, table, &[], data_base, w).map(|(written, _)| written)
}

/// One table being built from a track's samples, entry by entry.
#[derive(Debug, Clone)]
pub(super) struct TableState {
    pub(super) table: Table,
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
    pub(super) fn new(table: Table, data_base: u64, capacity: usize) -> TableState {
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

    pub(super) fn push(&mut self, s: OutSample) {
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
    pub(super) fn finish(mut self) -> Vec<u8> {
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
