//! The queue's time source: a trait, so that tests drive it by hand.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::lock;

/// A monotonic time source (a trait so tests can drive it).
pub trait Clock: Send + Sync {
    /// Time since some fixed origin.
    fn now(&self) -> Duration;
}

/// The real clock.
pub struct SystemClock(Instant);

impl SystemClock {
    pub fn new() -> SystemClock {
        SystemClock(Instant::now())
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        SystemClock::new()
    }
}

impl Clock for SystemClock {
    fn now(&self) -> Duration {
        self.0.elapsed()
    }
}

/// A clock that moves only when told (tests).
#[derive(Default)]
pub struct ManualClock(Mutex<Duration>);

impl ManualClock {
    pub fn advance(&self, by: Duration) {
        *lock(&self.0) += by;
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Duration {
        *lock(&self.0)
    }
}
