//! A segment's sample index in a few bytes per sample.
//!
//! An export of a day of a 1080p30 camera with audio has some 6.6 million
//! samples; at the 40 bytes of a plain [`SampleTime`] the index alone would
//! take a quarter of a gigabyte. Here each sample costs its byte offset and
//! size (4 bytes each: a segment file is far below 4 GiB) plus, only where
//! needed, 4 bytes of decode-time delta (timestamps that jitter, as from a
//! camera recorded with wall-clock timestamps) and 4 bytes of composition
//! offset (B-frames). Constant-rate timing (every AAC track, most video) is
//! kept as runs, keyframes as a sorted list of indexes (or "all").

use super::SampleTime;

/// Decode times relative to the first sample's.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Dts {
    /// Runs of equal deltas: (first sample index, its relative DTS, delta).
    Runs(Vec<(u32, u32, u32)>),
    /// One relative DTS per sample.
    Each(Vec<u32>),
}

/// The sample index of one stream of one segment, in decode order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SampleTable {
    first_dts: i64,
    dts: Dts,
    last_duration: u32,
    pos: Vec<u32>,
    size: Vec<u32>,
    /// Composition offsets; empty when all are zero.
    cts: Vec<i32>,
    /// Keyframe indexes, sorted; `None` when every sample is a keyframe.
    keys: Option<Vec<u32>>,
}

impl Default for SampleTable {
    fn default() -> Self {
        SampleTable {
            first_dts: 0,
            dts: Dts::Runs(Vec::new()),
            last_duration: 0,
            pos: Vec::new(),
            size: Vec::new(),
            cts: Vec::new(),
            keys: None,
        }
    }
}

#[allow(clippy::len_without_is_empty)]
impl SampleTable {
    /// Packs `samples` (decode order). `Err` says what does not fit: a
    /// decreasing DTS, a segment of more than 4 GiB or ~13 h at 90 kHz.
    pub fn from_samples(samples: &[SampleTime]) -> Result<SampleTable, String> {
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
        let keys = (keys.len() != n).then_some(keys);
        Ok(SampleTable {
            first_dts: first.dts,
            dts,
            last_duration: u32_of(samples[n - 1].duration.max(0), "duration")?,
            pos,
            size,
            cts,
            keys,
        })
    }

    pub fn len(&self) -> usize {
        self.size.len()
    }

    fn rel_dts(&self, i: usize) -> i64 {
        match &self.dts {
            Dts::Each(v) => v[i] as i64,
            Dts::Runs(runs) => {
                let r = match runs.binary_search_by_key(&(i as u32), |r| r.0) {
                    Ok(r) => r,
                    Err(r) => r.saturating_sub(1),
                };
                let (start, rel, delta) = runs[r];
                rel as i64 + (i as i64 - start as i64) * delta as i64
            }
        }
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
            pos: self.pos[i] as i64,
            size: self.size[i],
        }
    }

    /// Every sample, in decode order.
    pub fn iter(&self) -> impl DoubleEndedIterator<Item = SampleTime> + ExactSizeIterator + '_ {
        (0..self.len()).map(move |i| self.get(i))
    }

    /// The sample whose DTS is `dts`, if any.
    pub fn find_dts(&self, dts: i64) -> Option<SampleTime> {
        let (mut lo, mut hi) = (0usize, self.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            let d = self.first_dts + self.rel_dts(mid);
            if d < dts {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        (lo < self.len() && self.first_dts + self.rel_dts(lo) == dts).then(|| self.get(lo))
    }

    /// Heap bytes held.
    #[cfg(test)]
    pub fn heap_bytes(&self) -> usize {
        let dts = match &self.dts {
            Dts::Runs(r) => r.len() * 12,
            Dts::Each(v) => v.len() * 4,
        };
        dts + (self.pos.len() + self.size.len() + self.cts.len()) * 4
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
        // offset, size and composition offset: 12 bytes a sample, keyframes 1 in 4.
        assert!(t.heap_bytes() <= 1000 * 13 + 100, "{}", t.heap_bytes());
        assert_eq!(t.find_dts(-1024 + 7 * 512), Some(v[7]));
        assert_eq!(t.find_dts(1), None);
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
    fn what_does_not_fit_is_refused() {
        assert!(SampleTable::from_samples(&[s(0, 1, 0, true, 1 << 33)]).is_err());
        assert!(SampleTable::from_samples(&[s(10, 1, 0, true, 0), s(5, 1, 0, false, 1)]).is_err());
    }
}
