//! Reading segment indexes ahead of the clips that will need them.
//!
//! A long-lived exporter with an index cache (`serve`, a backend) answers a
//! clip over footage asked for before without reading a header; the first
//! clip over any footage still reads its segments' headers (an hour: ~8 ms
//! of CPU). The footage people ask for first is the newest (an event that
//! just happened), so [`Exporter::index_ahead`] reads the indexes of a
//! recent range ahead of time, newest first, leaving half of the cache's
//! budget to the clips themselves. Segments already indexed cost a `stat`.

use crate::error::Result;
use crate::probe::Prober;
use crate::progress::CancelToken;

use super::Exporter;

/// What one [`Exporter::index_ahead`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IndexAhead {
    /// Recording segments in the range (every camera).
    pub segments: usize,
    /// Of those, the ones whose header was read now (the others were
    /// already in the cache, or did not fit in half its budget); counted
    /// as the cache's misses meanwhile, so clips planned at the same time
    /// add theirs.
    pub read: u64,
}

/// Segments probed at once (the writers' batch size).
const BATCH: usize = 64;

impl Exporter {
    /// Reads ahead the indexes of every camera's recordings in
    /// `[start_s, end_s]` (see `Catalogue::recent_recordings`) into the
    /// index cache ([`Exporter::with_index_cache`]),
    /// newest first, until the cache holds half its budget. Without a cache
    /// it reads nothing. Unreadable segments are left for the export that
    /// needs them to report.
    pub fn index_ahead(
        &self,
        start_s: f64,
        end_s: f64,
        cancel: &CancelToken,
    ) -> Result<IndexAhead> {
        let Some(cache) = self.settings().index_cache.clone() else {
            return Ok(IndexAhead::default());
        };
        let rows = self
            .open_catalogue(cancel)?
            .recent_recordings(start_s, end_s)?;
        let mut by_camera: Vec<Vec<crate::catalogue::Recording>> = Vec::new();
        for row in rows {
            match by_camera.last_mut() {
                Some(rows) if rows[0].camera == row.camera => rows.push(row),
                _ => by_camera.push(vec![row]),
            }
        }
        let layout = self.layout();
        let mut done = IndexAhead::default();
        let misses_before = cache.stats().misses;
        for rows in by_camera {
            let (segments, _refused) = crate::source::recordings::segments(
                &rows,
                &layout.media_dir,
                &layout.recording_roots,
            );
            done.segments += rows.len();
            let mut prober =
                Prober::new(self.settings().probe_template).with_cache(Some(cache.clone()));
            let mut pending = segments.into_iter().peekable();
            while pending.peek().is_some() {
                cancel.check()?;
                // As many as fit in what is left of half the budget, at
                // the cache's bytes an entry so far (one to learn it).
                let st = cache.stats();
                let room = (cache.budget() / 2).saturating_sub(st.bytes);
                if room == 0 {
                    break;
                }
                let take = match st.bytes.checked_div(st.entries as u64) {
                    Some(per) if per > 0 => (room / per).clamp(1, BATCH as u64) as usize,
                    _ => 1,
                };
                let batch: Vec<_> = pending.by_ref().take(take).collect();
                drop(prober.probe(batch, cancel));
            }
        }
        done.read = cache.stats().misses - misses_before;
        tracing::debug!(
            segments = done.segments,
            read = done.read,
            "indexes read ahead"
        );
        Ok(done)
    }
}
