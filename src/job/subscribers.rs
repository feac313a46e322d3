//! Delivery to subscribers: each has a mailbox and its own thread, so a
//! slow subscriber delays only itself. State changes go at once and in
//! order; progress is coalesced per job ([`Coalescer`], apart from threads
//! and clocks, so that tests can drive it).

use std::collections::{HashMap, VecDeque};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use super::clock::Clock;
use super::lock;
use super::state::{JobEvent, JobInfo};

/// Most undelivered state changes a subscriber's mailbox keeps; older ones
/// are dropped (and counted) if a subscriber stops taking them.
const MAILBOX_LIMIT: usize = 10_000;

/// One subscriber's undelivered events.
pub(super) struct Mailbox {
    inner: Mutex<Coalescer>,
    ready: Condvar,
}

impl Mailbox {
    pub fn new(interval: Duration) -> Mailbox {
        Mailbox {
            inner: Mutex::new(Coalescer::new(interval)),
            ready: Condvar::new(),
        }
    }

    pub fn post(&self, event: JobEvent) {
        lock(&self.inner).push_state(event);
        self.ready.notify_one();
    }

    pub fn post_progress(&self, job: JobInfo) {
        lock(&self.inner).push_progress(job);
        self.ready.notify_one();
    }

    pub fn close(&self) {
        lock(&self.inner).closed = true;
        self.ready.notify_one();
    }

    /// The delivery loop of one subscriber: until closed and empty.
    pub fn deliver_all(&self, clock: &dyn Clock, f: &(dyn Fn(&JobEvent) + Send)) {
        let mut c = lock(&self.inner);
        loop {
            match c.next(clock.now()) {
                Next::Deliver(event) => {
                    drop(c);
                    if catch_unwind(AssertUnwindSafe(|| f(&event))).is_err() {
                        tracing::error!(job = %event.job().id, "a job subscriber panicked; it stays subscribed");
                    }
                    c = lock(&self.inner);
                }
                Next::WaitFor(d) => {
                    c = self
                        .ready
                        .wait_timeout(c, d)
                        .map(|(g, _)| g)
                        .unwrap_or_else(|e| e.into_inner().0);
                }
                Next::Idle if c.closed => return,
                Next::Idle => {
                    c = self.ready.wait(c).unwrap_or_else(|e| e.into_inner());
                }
            }
        }
    }
}

/// What a mailbox should do next.
#[derive(Debug)]
pub(crate) enum Next {
    Deliver(Box<JobEvent>),
    /// Progress is pending but not due yet.
    WaitFor(Duration),
    Idle,
}

/// The delivery rule, apart from threads and clocks: state changes in
/// order and at once; per job, only the newest progress, at most one per
/// `interval` (a state change supersedes pending progress of its job).
pub(crate) struct Coalescer {
    interval: Duration,
    states: VecDeque<JobEvent>,
    progress: HashMap<String, JobInfo>,
    /// When each job's progress was last delivered.
    last: HashMap<String, Duration>,
    /// State changes dropped because the subscriber fell too far behind.
    pub dropped: u64,
    closed: bool,
}

impl Coalescer {
    pub(crate) fn new(interval: Duration) -> Coalescer {
        Coalescer {
            interval,
            states: VecDeque::new(),
            progress: HashMap::new(),
            last: HashMap::new(),
            dropped: 0,
            closed: false,
        }
    }

    pub(crate) fn push_state(&mut self, event: JobEvent) {
        let job = event.job();
        self.progress.remove(&job.id);
        if job.state.is_finished() {
            self.last.remove(&job.id);
        }
        if self.states.len() >= MAILBOX_LIMIT {
            self.states.pop_front();
            self.dropped += 1;
        }
        self.states.push_back(event);
    }

    pub(crate) fn push_progress(&mut self, job: JobInfo) {
        self.progress.insert(job.id.clone(), job);
    }

    pub(crate) fn next(&mut self, now: Duration) -> Next {
        if let Some(e) = self.states.pop_front() {
            return Next::Deliver(Box::new(e));
        }
        let mut wait: Option<Duration> = None;
        let mut due: Option<String> = None;
        for id in self.progress.keys() {
            let at = self
                .last
                .get(id)
                .map_or(Duration::ZERO, |t| *t + self.interval);
            if at <= now {
                due = Some(id.clone());
                break;
            }
            let w = at - now;
            wait = Some(wait.map_or(w, |x: Duration| x.min(w)));
        }
        if let Some(id) = due {
            if let Some(job) = self.progress.remove(&id) {
                self.last.insert(id, now);
                return Next::Deliver(Box::new(JobEvent::Progress { job }));
            }
        }
        match wait {
            Some(w) => Next::WaitFor(w),
            None => Next::Idle,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::job::state::JobState;
    use crate::progress::Step;

    fn info(id: &str, state: JobState, percent: f64) -> JobInfo {
        JobInfo {
            id: id.into(),
            camera: "c".into(),
            export_case_id: None,
            state,
            step: Some(Step::Copying),
            percent,
            queued_at_s: 0.0,
            started_at_s: None,
            finished_at_s: None,
            error: None,
            result: None,
        }
    }

    fn delivered(n: Next) -> (String, &'static str, f64) {
        match n {
            Next::Deliver(e) => match *e {
                JobEvent::State { job } => (job.id, "state", job.percent),
                JobEvent::Progress { job } => (job.id, "progress", job.percent),
            },
            other => panic!("nothing delivered: {other:?}"),
        }
    }

    #[test]
    fn progress_is_coalesced_per_job_and_state_changes_go_at_once() {
        let s = Duration::from_secs;
        let ms = Duration::from_millis;
        let mut c = Coalescer::new(s(1));
        c.push_progress(info("a", JobState::Running, 1.0));
        assert_eq!(delivered(c.next(s(10))), ("a".into(), "progress", 1.0));
        // Three updates within the second: only the newest, when due.
        for p in [2.0, 3.0, 4.0] {
            c.push_progress(info("a", JobState::Running, p));
        }
        match c.next(s(10) + ms(300)) {
            Next::WaitFor(w) => assert_eq!(w, ms(700)),
            other => panic!("{other:?}"),
        }
        // Another job is not held back by the first one's interval.
        c.push_progress(info("b", JobState::Running, 50.0));
        assert_eq!(
            delivered(c.next(s(10) + ms(300))),
            ("b".into(), "progress", 50.0)
        );
        assert_eq!(delivered(c.next(s(11))), ("a".into(), "progress", 4.0));
        assert!(matches!(c.next(s(11)), Next::Idle));
        // A state change is delivered at once and supersedes pending progress.
        c.push_progress(info("a", JobState::Running, 5.0));
        c.push_state(JobEvent::State {
            job: info("a", JobState::Success, 100.0),
        });
        assert_eq!(
            delivered(c.next(s(11) + ms(1))),
            ("a".into(), "state", 100.0)
        );
        assert!(matches!(c.next(s(20)), Next::Idle));
    }
}
