//! Progress reporting and cancellation, passed down from the caller.
//!
//! An export pushes [`Progress`] values to one closure. Percent is computed
//! from the timestamps of the packets written against the expected output
//! duration, so it measures media actually moved, not bytes read or time
//! spent. Within an export the reported values are:
//!
//! * clamped to `[0, 100]`,
//! * never decreasing (a new step may restart at 0, as the NVR's UI expects
//!   when `encoding` turns into `encoding_retry`),
//! * throttled to one update per [`ProgressThrottle::interval`], except that a
//!   step change and the final 100 are always delivered.
//!
//! A [`CancelToken`] stops a running export at the next packet (and aborts
//! libav I/O in progress through its interrupt callback); the export then
//! fails with [`crate::Error::Cancelled`] and leaves nothing behind.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// A phase of an export, named as the NVR's UI names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    Preparing,
    Copying,
    /// Re-encoding (timelapse, custom encode).
    Encoding,
    /// Re-encoding again in software after the hardware failed.
    EncodingRetry,
    Finalizing,
}

impl Step {
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Preparing => "preparing",
            Step::Copying => "copying",
            Step::Encoding => "encoding",
            Step::EncodingRetry => "encoding_retry",
            Step::Finalizing => "finalizing",
        }
    }
}

/// One progress update.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Progress {
    pub step: Step,
    /// In `[0, 100]`.
    pub percent: f64,
}

/// Shared flag that asks a running export to stop. Cheap to clone; every
/// clone controls the same export.
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    pub fn new() -> CancelToken {
        CancelToken::default()
    }

    /// Asks the export to stop; it returns `Err(Cancelled)` within one packet.
    pub fn cancel(&self) {
        self.0.store(true, Ordering::SeqCst);
    }

    pub fn is_cancelled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    /// `Err(Cancelled)` once cancelled.
    pub fn check(&self) -> Result<()> {
        if self.is_cancelled() {
            Err(Error::Cancelled)
        } else {
            Ok(())
        }
    }

    /// The flag itself, for libav's interrupt callback (see `media::ffi`).
    pub(crate) fn flag(&self) -> &Arc<AtomicBool> {
        &self.0
    }
}

/// How often updates reach the listener.
#[derive(Debug, Clone, Copy)]
pub struct ProgressThrottle {
    pub interval: Duration,
}

impl Default for ProgressThrottle {
    /// About one update a second, as the NVR's listeners expect.
    fn default() -> Self {
        ProgressThrottle {
            interval: Duration::from_secs(1),
        }
    }
}

/// Turns raw (step, percent) observations into the guaranteed sequence
/// described in the module docs, and checks for cancellation.
pub struct Reporter<'a> {
    sink: &'a mut dyn FnMut(Progress),
    cancel: CancelToken,
    throttle: ProgressThrottle,
    step: Option<Step>,
    percent: f64,
    last_sent: Option<Instant>,
    last_sent_percent: f64,
    /// Write-rate limit: (when the step began, the least time it may take,
    /// the percentage it counts from).
    pace: Option<(Instant, Duration, f64)>,
}

impl<'a> Reporter<'a> {
    pub fn new(
        sink: &'a mut dyn FnMut(Progress),
        cancel: CancelToken,
        throttle: ProgressThrottle,
    ) -> Reporter<'a> {
        Reporter {
            sink,
            cancel,
            throttle,
            step: None,
            percent: 0.0,
            last_sent: None,
            last_sent_percent: -1.0,
            pace: None,
        }
    }

    /// Limits the current step to `rate` bytes a second for `total` bytes:
    /// [`Reporter::update`] then waits (cancellably) until `percent` % of
    /// `total / rate` has passed, so a writer reporting by media time
    /// writes at about `rate` on average. Keeps an export from starving the
    /// recorder's disk.
    pub fn pace(&mut self, rate: u64, total: u64) {
        let least = Duration::from_secs_f64(total as f64 / rate.max(1) as f64);
        self.pace = Some((Instant::now(), least, 0.0));
    }

    /// A paced step that goes on from `percent` (a resumed export: what it
    /// kept is not waited for again): from now, each update waits for its
    /// share of the time past `percent` only.
    pub fn pace_from(&mut self, percent: f64) {
        if let Some((began, _, from)) = &mut self.pace {
            (*began, *from) = (Instant::now(), clamp(percent));
        }
    }

    pub fn cancel_token(&self) -> &CancelToken {
        &self.cancel
    }

    /// Enters `step` at `percent` (always delivered).
    pub fn step(&mut self, step: Step, percent: f64) -> Result<()> {
        self.cancel.check()?;
        self.pace = None;
        self.step = Some(step);
        self.percent = clamp(percent);
        self.send();
        Ok(())
    }

    /// Reports `percent` within the current step: kept monotonic, throttled.
    pub fn update(&mut self, percent: f64) -> Result<()> {
        self.cancel.check()?;
        let p = clamp(percent).max(self.percent);
        if let Some((began, least, from)) = self.pace {
            let due = began + least.mul_f64((p - from).max(0.0) / 100.0);
            loop {
                let now = Instant::now();
                if now >= due {
                    break;
                }
                std::thread::sleep((due - now).min(Duration::from_millis(20)));
                self.cancel.check()?;
            }
        }
        self.percent = p;
        let due = match self.last_sent {
            None => true,
            Some(t) => t.elapsed() >= self.throttle.interval,
        };
        if due && p > self.last_sent_percent {
            self.send();
        }
        Ok(())
    }

    /// Delivers the current step at 100 if it was not already.
    pub fn complete(&mut self) {
        self.percent = 100.0;
        if self.last_sent_percent < 100.0 {
            self.send();
        }
    }

    fn send(&mut self) {
        if let Some(step) = self.step {
            (self.sink)(Progress {
                step,
                percent: self.percent,
            });
            self.last_sent = Some(Instant::now());
            self.last_sent_percent = self.percent;
        }
    }
}

fn clamp(p: f64) -> f64 {
    if p.is_nan() {
        0.0
    } else {
        p.clamp(0.0, 100.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monotonic_clamped_and_complete() {
        let mut seen = Vec::new();
        let mut sink = |p: Progress| seen.push(p);
        let mut r = Reporter::new(
            &mut sink,
            CancelToken::new(),
            ProgressThrottle {
                interval: Duration::ZERO,
            },
        );
        r.step(Step::Copying, -5.0).unwrap();
        r.update(40.0).unwrap();
        r.update(30.0).unwrap(); // goes backwards: not delivered
        r.update(250.0).unwrap();
        r.complete();
        drop(r);
        let ps: Vec<f64> = seen.iter().map(|p| p.percent).collect();
        assert_eq!(ps, vec![0.0, 40.0, 100.0]);
    }

    #[test]
    fn paced_updates_wait_for_their_share_of_the_time_and_stay_cancellable() {
        let mut sink = |_p: Progress| {};
        let token = CancelToken::new();
        let mut r = Reporter::new(&mut sink, token.clone(), ProgressThrottle::default());
        r.step(Step::Copying, 0.0).unwrap();
        // 1000 bytes at 5000 B/s: at least 200 ms for the whole step.
        r.pace(5000, 1000);
        let t = Instant::now();
        r.update(50.0).unwrap();
        assert!(
            t.elapsed() >= Duration::from_millis(100),
            "{:?}",
            t.elapsed()
        );
        // Going on from 90 %: 95 % waits for 5 % of the time, not 95 %.
        r.pace(1000, 1000);
        r.pace_from(90.0);
        let t1 = Instant::now();
        r.update(95.0).unwrap();
        let waited = t1.elapsed();
        assert!(
            waited >= Duration::from_millis(40) && waited < Duration::from_millis(900),
            "{waited:?}"
        );
        let t2 = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(30));
            token.cancel();
        });
        // 10 s at this rate, but the cancel ends the wait.
        r.pace(100, 1000);
        assert!(matches!(r.update(100.0), Err(Error::Cancelled)));
        assert!(t.elapsed() < Duration::from_secs(5));
        t2.join().unwrap();
    }

    #[test]
    fn cancel_stops_updates() {
        let mut sink = |_p: Progress| {};
        let token = CancelToken::new();
        let mut r = Reporter::new(&mut sink, token.clone(), ProgressThrottle::default());
        r.step(Step::Copying, 0.0).unwrap();
        token.cancel();
        assert!(matches!(r.update(1.0), Err(Error::Cancelled)));
    }
}
