//! The three clocks of an export, each in its own type.
//!
//! * Wall-clock time: unix seconds as `f64` (`*_s`), what the catalogue and
//!   the request speak. It only selects segments and places the two cuts and
//!   the chapters (see `plan`).
//! * Stream time: a segment's own timestamps, in its stream's time base
//!   ([`Ts`]). Nothing is converted until the writer maps it.
//! * Output time: the export's timeline in 90 kHz ticks ([`OutTicks`]), a
//!   base every NVR frame rate and audio rate maps onto with sub-millisecond
//!   error. Clip offsets are accumulated in these integer ticks, so hundreds
//!   of clips add no drift.
//!
//! [`rescale`] is the one conversion between time bases (libav's
//! `av_rescale_q`, rounding to nearest); every other conversion goes through
//! the types' methods.

use std::ops::{Add, Sub};

use ffmpeg_next::Rational;

/// Now, in unix seconds (wall clock).
pub fn unix_now_s() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Rescales `value` from time base `from` to `to`, rounding to nearest
/// (halves away from zero): libav's `av_rescale_q`, computed here in 128
/// bits instead of through FFI (the writers call it for every sample, a few
/// million times for an hour's tables).
#[inline]
pub fn rescale(value: i64, from: Rational, to: Rational) -> i64 {
    // Products of two i32: they fit i64.
    let b = from.numerator() as i64 * to.denominator() as i64;
    let c = to.numerator() as i64 * from.denominator() as i64;
    if b <= 0 || c <= 0 {
        // What libav answers for a time base it cannot use.
        return i64::MIN;
    }
    // Fast paths, all exact: the same base (the usual case: 90 kHz video
    // into the 90 kHz track, audio into its own sample rate), an integer
    // factor, or a product that fits 64 bits (no 128-bit division).
    if b == c {
        return value;
    }
    let (b, c) = (b as u64, c as u64);
    let mag = value.unsigned_abs() as u128;
    let r = if b % c == 0 {
        mag * (b / c) as u128
    } else {
        let p = mag * b as u128 + (c / 2) as u128;
        match u64::try_from(p) {
            Ok(p) => (p / c) as u128,
            Err(_) => p / c as u128,
        }
    };
    // Past 64 bits libav answers i64::MIN (AV_NOPTS_VALUE), either sign.
    let Ok(r) = i64::try_from(r) else {
        return i64::MIN;
    };
    if value < 0 {
        -r
    } else {
        r
    }
}

/// Seconds represented by `value` in time base `base`.
pub fn seconds(value: i64, base: Rational) -> f64 {
    if base.denominator() == 0 {
        return 0.0;
    }
    value as f64 * base.numerator() as f64 / base.denominator() as f64
}

/// `seconds` in time base `base`, rounded to nearest (saturating).
pub fn ticks(seconds: f64, base: Rational) -> i64 {
    if base.numerator() == 0 || !seconds.is_finite() {
        return 0;
    }
    (seconds * base.denominator() as f64 / base.numerator() as f64).round() as i64
}

#[cfg(test)]
mod rescale_tests {
    use super::*;

    #[test]
    fn rescale_is_libavs() {
        use ffmpeg_next::Rescale;
        let bases = [
            Rational(1, 90_000),
            Rational(1, 48_000),
            Rational(1, 1000),
            Rational(1, 15_360),
            Rational(1001, 30_000),
            Rational(1, 25),
            Rational(1, 12_800),
            Rational(1, 44_100),
        ];
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..200_000 {
            let from = bases[rng.usize(..bases.len())];
            let to = bases[rng.usize(..bases.len())];
            let v = match rng.u8(..5) {
                0 => rng.i64(-10_000..10_000),
                // Products past 64 bits (the 128-bit path).
                4 => rng.i64(-(1 << 56)..(1 << 56)),
                1 => rng.i64(-(1 << 40)..(1 << 40)),
                2 => rng.i64(-3..3) * 1_000_000_007 + rng.i64(-512..512),
                _ => rng.i64(0..(1 << 33)),
            };
            assert_eq!(
                rescale(v, from, to),
                v.rescale(from, to),
                "{v} {from} -> {to}"
            );
        }
    }
}

/// A timestamp in a stream's own time base.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ts {
    pub value: i64,
    pub base: Rational,
}

impl Ts {
    pub fn new(value: i64, base: Rational) -> Ts {
        Ts { value, base }
    }
}

/// A point or span on the export's output timeline, in 90 kHz ticks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, serde::Serialize)]
pub struct OutTicks(pub i64);

impl OutTicks {
    /// The output time base.
    pub const BASE: Rational = Rational(1, 90_000);
    pub const ZERO: OutTicks = OutTicks(0);

    /// The nearest tick to `s` seconds.
    pub fn from_seconds(s: f64) -> OutTicks {
        OutTicks((s * Self::BASE.denominator() as f64).round() as i64)
    }
    /// A stream timestamp (or span) on the output clock.
    pub fn from_ts(ts: Ts) -> OutTicks {
        OutTicks(rescale(ts.value, ts.base, Self::BASE))
    }
    /// This instant (or span) in time base `base`.
    pub fn in_base(self, base: Rational) -> i64 {
        rescale(self.0, Self::BASE, base)
    }
    pub fn seconds(self) -> f64 {
        seconds(self.0, Self::BASE)
    }
    /// This span as a fraction of `total` (progress).
    pub fn ratio(self, total: OutTicks) -> f64 {
        self.0 as f64 / total.0.max(1) as f64
    }
    /// Whole milliseconds, rounded down (QuickTime chapter samples).
    pub fn millis(self) -> i64 {
        self.0.div_euclid(Self::BASE.denominator() as i64 / 1000)
    }
    /// 100 ns units (the Nero `chpl` box), 0 for negative instants.
    pub fn hundred_ns(self) -> u64 {
        (self.0.max(0) as u64) * 10_000_000 / Self::BASE.denominator() as u64
    }
}

impl Add for OutTicks {
    type Output = OutTicks;
    fn add(self, o: OutTicks) -> OutTicks {
        OutTicks(self.0 + o.0)
    }
}

impl Sub for OutTicks {
    type Output = OutTicks;
    fn sub(self, o: OutTicks) -> OutTicks {
        OutTicks(self.0 - o.0)
    }
}

/// Ticks compare with plain integers in tests and assertions.
impl PartialEq<i64> for OutTicks {
    fn eq(&self, o: &i64) -> bool {
        self.0 == *o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions() {
        assert_eq!(OutTicks::from_seconds(1.5), OutTicks(135_000));
        assert_eq!(
            OutTicks::from_ts(Ts::new(1024, Rational(1, 15_360))),
            OutTicks(6_000)
        );
        assert_eq!(OutTicks(6_000).in_base(Rational(1, 48_000)), 3_200);
        assert_eq!(OutTicks(90_089).millis(), 1_000);
        assert_eq!(OutTicks(-1).millis(), -1);
        assert_eq!(OutTicks(90_000).hundred_ns(), 10_000_000);
        assert_eq!(
            (OutTicks(5) + OutTicks(7) - OutTicks(2)).seconds(),
            10.0 / 90_000.0
        );
    }
}
