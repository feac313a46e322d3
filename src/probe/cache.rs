//! Segment indexes kept between exports of one long-lived [`Exporter`]
//! (the `serve` command, an embedding backend): what nginx-vod-module calls
//! its metadata cache, and what Moonfire NVR keeps in its database.
//!
//! A recording segment does not change once the NVR has finished it, and
//! the clips people ask for overlap (the same hour asked for again, a
//! minute of it, the next range): reading the same 360 headers for each
//! was most of a clip's time to first byte. An entry is keyed by the path
//! and used only while the file still has the identity it was probed with
//! (device, inode, size, modification time: [`FileStamp`], asked with one
//! `stat` per segment); anything else is a miss and is probed again (a
//! segment the NVR is still writing grows, so it is never served stale).
//! The writers check the same identity again before they copy a byte.
//!
//! Bounded by an estimate of the indexes' heap bytes; over it, the least
//! recently used entries go.
//!
//! [`Exporter`]: crate::Exporter

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::{FileStamp, SegmentProbe};

/// Probed segments by path, bounded in bytes (see the module doc).
pub struct IndexCache {
    budget: u64,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    map: HashMap<PathBuf, Entry>,
    bytes: u64,
    tick: u64,
    hits: u64,
    misses: u64,
}

struct Entry {
    probe: Arc<SegmentProbe>,
    bytes: u64,
    used: u64,
}

/// What an index cache holds (entries, estimated heap bytes) and how many
/// segment lookups it answered (hits) or sent to the files (misses).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheStats {
    pub entries: usize,
    pub bytes: u64,
    pub hits: u64,
    pub misses: u64,
}

impl std::fmt::Debug for IndexCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IndexCache")
            .field("budget", &self.budget)
            .field("stats", &self.stats())
            .finish()
    }
}

impl IndexCache {
    /// A cache holding at most about `budget` bytes of indexes.
    pub fn new(budget: u64) -> IndexCache {
        IndexCache {
            budget,
            inner: Mutex::new(Inner::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // A panic while holding the lock leaves consistent data (every
        // update is a single insert or remove): keep using it.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The probes of `paths` still valid for the files' identity now
    /// (`stamps`: each file's, `None` when it could not be read), `None`
    /// where there is none.
    pub fn get_all(
        &self,
        paths: &[&Path],
        stamps: &[Option<FileStamp>],
    ) -> Vec<Option<Arc<SegmentProbe>>> {
        let mut inner = self.lock();
        inner.tick += 1;
        let tick = inner.tick;
        let mut out = Vec::with_capacity(paths.len());
        let (mut hits, mut misses) = (0, 0);
        for (path, stamp) in paths.iter().zip(stamps) {
            let hit = match (inner.map.get_mut(*path), stamp) {
                (Some(e), Some(stamp)) if e.probe.stamp() == *stamp => {
                    e.used = tick;
                    Some(e.probe.clone())
                }
                _ => None,
            };
            if hit.is_some() {
                hits += 1;
            } else {
                misses += 1;
            }
            out.push(hit);
        }
        inner.hits += hits;
        inner.misses += misses;
        out
    }

    /// Keeps `probes` (replacing older entries of their paths), then drops
    /// the least recently used entries while over budget.
    pub fn put_all(&self, probes: impl IntoIterator<Item = Arc<SegmentProbe>>) {
        let mut inner = self.lock();
        inner.tick += 1;
        let tick = inner.tick;
        for probe in probes {
            let bytes = probe.heap_bytes();
            if bytes > self.budget {
                continue;
            }
            let old = inner.map.insert(
                probe.path.clone(),
                Entry {
                    probe,
                    bytes,
                    used: tick,
                },
            );
            inner.bytes = inner.bytes + bytes - old.map_or(0, |o| o.bytes);
        }
        if inner.bytes > self.budget {
            // Down to 3/4 of the budget at once: one sort per eviction
            // round, not one per insert.
            let mut by_age: Vec<(u64, PathBuf, u64)> = inner
                .map
                .iter()
                .map(|(p, e)| (e.used, p.clone(), e.bytes))
                .collect();
            by_age.sort_unstable_by_key(|x| x.0);
            let target = self.budget / 4 * 3;
            for (_, path, bytes) in by_age {
                if inner.bytes <= target {
                    break;
                }
                inner.map.remove(&path);
                inner.bytes -= bytes;
            }
        }
    }

    /// The budget, bytes.
    pub fn budget(&self) -> u64 {
        self.budget
    }

    pub fn stats(&self) -> CacheStats {
        let inner = self.lock();
        CacheStats {
            entries: inner.map.len(),
            bytes: inner.bytes,
            hits: inner.hits,
            misses: inner.misses,
        }
    }
}

/// The identity of the file at `path` now (symlinks followed, as the
/// probes open it), `None` when it is not a readable regular file.
pub fn stamp_of(path: &Path) -> Option<FileStamp> {
    FileStamp::of(&std::fs::metadata(path).ok()?)
}
