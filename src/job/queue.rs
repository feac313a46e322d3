//! The export queue a backend embeds: a bounded waiting line, a fixed
//! number of workers, jobs with states, cancellation, and subscribers.
//!
//! * [`ExportQueue::start`] runs crash recovery first (see
//!   [`super::recovery`]; with `requeue`, dead exports are submitted again),
//!   then starts `max_concurrent` worker threads (default 3).
//! * [`ExportQueue::submit`] puts a request in the waiting line (default at
//!   most 100 waiting; beyond that [`Error::QueueFull`] at once). Jobs start
//!   in submission order.
//! * A job is `queued`, `running`, then `success`, `failed` or `cancelled`,
//!   with timestamps, step, percent, error and result ([`JobInfo`]).
//!   Finished jobs leave the live list after `keep_finished` (default 5 s)
//!   and can be looked up by id until then.
//! * [`ExportQueue::cancel`] cancels one job: a queued one at once, a running
//!   one at its next packet (it then removes its partial file and row);
//!   [`ExportQueue::cancel_case`] cancels the queued jobs of an export case.
//! * Subscribers ([`ExportQueue::subscribe`]) get every state change at once
//!   and progress coalesced to one update per `progress_interval` (default
//!   1 s) per job. Each subscriber has its own delivery thread and mailbox:
//!   a slow subscriber delays only itself, and a panicking one is logged
//!   and kept; workers never wait for subscribers.
//!
//! Memory: a running export holds at most the exporter's sample bound
//! (about 13 bytes a sample, [`crate::MAX_SAMPLES`] by default, some 200
//! MiB; a day of 1080p30 with audio measures near 120 MiB), so the queue
//! holds at most `max_concurrent` times that, plus the waiting requests
//! (a few hundred bytes each, at most `max_waiting`) and the finished
//! jobs' results for `keep_finished`. [`QueueConfig::max_total_samples`]
//! splits one bound among the workers instead.

use std::collections::{HashMap, VecDeque};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};

use super::clock::{Clock, SystemClock};
use super::lock;
use super::state::{JobError, JobEvent, JobInfo, JobState};
use super::subscribers::Mailbox;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::export::{ExportRequest, Exporter};
use crate::job::recovery::{RecoveryOptions, RecoveryReport};
use crate::output::random_suffix;
use crate::progress::{CancelToken, Progress};
use crate::time::unix_now_s;

/// How the queue runs.
#[derive(Clone)]
pub struct QueueConfig {
    /// Exports running at once (default 3).
    pub max_concurrent: usize,
    /// Jobs waiting to start (default 100); more is [`Error::QueueFull`].
    pub max_waiting: usize,
    /// How long a finished job stays in the live list (default 5 s).
    pub keep_finished: Duration,
    /// Least time between two progress updates of one job to a subscriber
    /// (default 1 s). State changes are never held back.
    pub progress_interval: Duration,
    /// What start-up recovery may do (default: remove dead exports).
    pub recovery: RecoveryOptions,
    /// One sample bound shared by all workers (each export gets
    /// `max_total_samples / max_concurrent`); `None`: each export keeps the
    /// exporter's own bound.
    pub max_total_samples: Option<u64>,
    /// The time source for `keep_finished` and progress coalescing.
    pub clock: Arc<dyn Clock>,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            max_concurrent: 3,
            max_waiting: 100,
            keep_finished: Duration::from_secs(5),
            progress_interval: Duration::from_secs(1),
            recovery: RecoveryOptions::default(),
            max_total_samples: None,
            clock: Arc::new(SystemClock::new()),
        }
    }
}

struct Job {
    info: JobInfo,
    request: ExportRequest,
    cancel: CancelToken,
    /// Clock time it finished, for `keep_finished`.
    finished_at: Option<Duration>,
}

#[derive(Default)]
struct State {
    waiting: VecDeque<String>,
    jobs: HashMap<String, Job>,
    running: usize,
    shutting_down: bool,
}

struct Inner {
    exporter: Exporter,
    config: QueueConfig,
    state: Mutex<State>,
    /// Signalled when work is queued or the queue shuts down.
    work: Condvar,
    /// Signalled on every state change.
    changed: Condvar,
    mailboxes: Mutex<Vec<Arc<Mailbox>>>,
}

/// A running export queue (see the module docs). Dropping it cancels
/// every job and waits for the workers.
pub struct ExportQueue {
    inner: Arc<Inner>,
    workers: Vec<JoinHandle<()>>,
    dispatchers: Mutex<Vec<JoinHandle<()>>>,
}

impl ExportQueue {
    /// Recovers what dead exports left, then starts the workers. The
    /// recovery report says what was cleaned (and re-queued).
    pub fn start(exporter: Exporter, config: QueueConfig) -> Result<(ExportQueue, RecoveryReport)> {
        let report = exporter.recover(&config.recovery)?;
        let workers_n = config.max_concurrent.max(1);
        let exporter = match config.max_total_samples {
            Some(total) => exporter.with_max_samples((total / workers_n as u64).max(1)),
            None => exporter,
        };
        let inner = Arc::new(Inner {
            exporter,
            config,
            state: Mutex::new(State::default()),
            work: Condvar::new(),
            changed: Condvar::new(),
            mailboxes: Mutex::new(Vec::new()),
        });
        let workers = (0..workers_n)
            .map(|n| {
                let inner = inner.clone();
                std::thread::Builder::new()
                    .name(format!("export-worker-{n}"))
                    .spawn(move || worker(&inner))
                    .map_err(|e| Error::io("export worker thread", e))
            })
            .collect::<Result<Vec<_>>>()?;
        let queue = ExportQueue {
            inner,
            workers,
            dispatchers: Mutex::new(Vec::new()),
        };
        for req in &report.requeue {
            queue.submit(req.clone())?;
        }
        Ok((queue, report))
    }

    /// Queues an export and returns its job id (the export id: the
    /// request's, or `<camera>_<6 random>`).
    pub fn submit(&self, mut req: ExportRequest) -> Result<String> {
        let id = req
            .id
            .clone()
            .unwrap_or_else(|| format!("{}_{}", req.camera, random_suffix()));
        req.id = Some(id.clone());
        let mut st = self.inner.lock_state();
        self.inner.purge(&mut st);
        if st.shutting_down {
            return Err(Error::QueueFull {
                limit: 0,
                reason: "the queue is shutting down",
            });
        }
        if st.waiting.len() >= self.inner.config.max_waiting {
            return Err(Error::QueueFull {
                limit: self.inner.config.max_waiting,
                reason: "too many exports are waiting",
            });
        }
        if st.jobs.contains_key(&id) {
            return Err(Error::InvalidName {
                what: "export id",
                value: id,
                reason: "a job with this id is already in the queue",
            });
        }
        let info = JobInfo {
            id: id.clone(),
            camera: req.camera.clone(),
            export_case_id: req.export_case_id.clone(),
            state: JobState::Queued,
            step: None,
            percent: 0.0,
            queued_at_s: unix_now_s(),
            started_at_s: None,
            finished_at_s: None,
            error: None,
            result: None,
        };
        self.inner.announce(JobEvent::State { job: info.clone() });
        st.jobs.insert(
            id.clone(),
            Job {
                info,
                request: req,
                cancel: CancelToken::new(),
                finished_at: None,
            },
        );
        st.waiting.push_back(id.clone());
        drop(st);
        self.inner.work.notify_one();
        self.inner.changed.notify_all();
        Ok(id)
    }

    /// Cancels job `id`: a queued job at once, a running one at its next
    /// packet. `false` if there is no such job or it already finished.
    pub fn cancel(&self, id: &str) -> bool {
        let mut st = self.inner.lock_state();
        let cancelled = self.inner.cancel_locked(&mut st, id);
        drop(st);
        self.inner.changed.notify_all();
        cancelled
    }

    /// Cancels the queued jobs of export case `case_id` (a deleted case);
    /// returns their ids.
    pub fn cancel_case(&self, case_id: &str) -> Vec<String> {
        let mut st = self.inner.lock_state();
        let ids: Vec<String> = st
            .waiting
            .iter()
            .filter(|id| {
                st.jobs
                    .get(*id)
                    .is_some_and(|j| j.info.export_case_id.as_deref() == Some(case_id))
            })
            .cloned()
            .collect();
        for id in &ids {
            self.inner.cancel_locked(&mut st, id);
        }
        drop(st);
        self.inner.changed.notify_all();
        ids
    }

    /// Job `id`, while it is live (until `keep_finished` after it ended).
    pub fn get(&self, id: &str) -> Option<JobInfo> {
        let mut st = self.inner.lock_state();
        self.inner.purge(&mut st);
        st.jobs.get(id).map(|j| j.info.clone())
    }

    /// The live jobs, in submission order.
    pub fn jobs(&self) -> Vec<JobInfo> {
        let mut st = self.inner.lock_state();
        self.inner.purge(&mut st);
        let mut v: Vec<JobInfo> = st.jobs.values().map(|j| j.info.clone()).collect();
        v.sort_by(|a, b| {
            a.queued_at_s
                .total_cmp(&b.queued_at_s)
                .then(a.id.cmp(&b.id))
        });
        v
    }

    /// Waits until job `id` has finished (or `timeout` passes); its final
    /// snapshot, or `None` if it is unknown or still not finished.
    pub fn wait(&self, id: &str, timeout: Duration) -> Option<JobInfo> {
        self.inner
            .wait_for(timeout, |st| match st.jobs.get(id) {
                None => Some(None),
                Some(j) if j.info.state.is_finished() => Some(Some(j.info.clone())),
                Some(_) => None,
            })
            .flatten()
    }

    /// Waits until nothing is queued or running (or `timeout` passes);
    /// `true` if idle.
    pub fn wait_idle(&self, timeout: Duration) -> bool {
        self.inner
            .wait_for(timeout, |st| {
                (st.waiting.is_empty() && st.running == 0).then_some(())
            })
            .is_some()
    }

    /// Calls `f` with every state change and coalesced progress, on a
    /// thread of its own (see the module docs).
    pub fn subscribe(&self, f: impl Fn(&JobEvent) + Send + 'static) {
        let mailbox = Arc::new(Mailbox::new(self.inner.config.progress_interval));
        lock(&self.inner.mailboxes).push(mailbox.clone());
        let clock = self.inner.config.clock.clone();
        let handle = std::thread::Builder::new()
            .name("export-subscriber".into())
            .spawn(move || mailbox.deliver_all(&*clock, &f));
        if let Ok(h) = handle {
            lock(&self.dispatchers).push(h);
        }
    }

    /// Cancels everything, waits for the workers, then delivers what the
    /// subscribers have not been told yet.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        {
            let mut st = self.inner.lock_state();
            st.shutting_down = true;
            let ids: Vec<String> = st.jobs.keys().cloned().collect();
            for id in ids {
                self.inner.cancel_locked(&mut st, &id);
            }
        }
        self.inner.work.notify_all();
        self.inner.changed.notify_all();
        for w in self.workers.drain(..) {
            let _ = w.join();
        }
        for m in lock(&self.inner.mailboxes).iter() {
            m.close();
        }
        for d in lock(&self.dispatchers).drain(..) {
            let _ = d.join();
        }
    }
}

impl Drop for ExportQueue {
    fn drop(&mut self) {
        self.stop();
    }
}

impl Inner {
    fn lock_state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Waits on state changes until `done` says something (or `timeout`).
    fn wait_for<T>(
        &self,
        timeout: Duration,
        mut done: impl FnMut(&State) -> Option<T>,
    ) -> Option<T> {
        let deadline = Instant::now() + timeout;
        let mut st = self.lock_state();
        loop {
            if let Some(v) = done(&st) {
                return Some(v);
            }
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            st = self
                .changed
                .wait_timeout(st, deadline - now)
                .map(|(g, _)| g)
                .unwrap_or_else(|e| e.into_inner().0);
        }
    }

    /// Tells every subscriber's mailbox (never blocks on a subscriber).
    fn announce(&self, event: JobEvent) {
        for m in lock(&self.mailboxes).iter() {
            m.post(event.clone());
        }
    }

    fn cancel_locked(&self, st: &mut State, id: &str) -> bool {
        let Some(job) = st.jobs.get_mut(id) else {
            return false;
        };
        match job.info.state {
            JobState::Queued => {
                job.cancel.cancel();
                job.info.state = JobState::Cancelled;
                job.info.finished_at_s = Some(unix_now_s());
                job.finished_at = Some(self.config.clock.now());
                let snapshot = job.info.clone();
                st.waiting.retain(|w| w != id);
                self.announce(JobEvent::State { job: snapshot });
                true
            }
            JobState::Running => {
                job.cancel.cancel();
                true
            }
            _ => false,
        }
    }

    /// Drops finished jobs older than `keep_finished`.
    fn purge(&self, st: &mut State) {
        let now = self.config.clock.now();
        let keep = self.config.keep_finished;
        st.jobs
            .retain(|_, j| j.finished_at.is_none_or(|t| now.saturating_sub(t) < keep));
    }
}

fn worker(inner: &Inner) {
    loop {
        let (id, request, cancel) = {
            let mut st = inner.lock_state();
            loop {
                if st.shutting_down {
                    return;
                }
                if let Some(taken) = st
                    .waiting
                    .pop_front()
                    .and_then(|id| taken(inner, &mut st, id))
                {
                    break taken;
                }
                st = inner.work.wait(st).unwrap_or_else(|e| e.into_inner());
            }
        };
        inner.changed.notify_all();
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            inner.exporter.export(&request, &cancel, |p: Progress| {
                let mut st = inner.lock_state();
                if let Some(job) = st.jobs.get_mut(&id) {
                    job.info.step = Some(p.step);
                    job.info.percent = p.percent;
                    let snapshot = job.info.clone();
                    drop(st);
                    for m in lock(&inner.mailboxes).iter() {
                        m.post_progress(snapshot.clone());
                    }
                }
            })
        }));
        let mut st = inner.lock_state();
        st.running -= 1;
        if let Some(job) = st.jobs.get_mut(&id) {
            match outcome {
                Ok(Ok(o)) => {
                    job.info.state = JobState::Success;
                    job.info.percent = 100.0;
                    job.info.result = Some(o);
                }
                Ok(Err(Error::Cancelled)) => job.info.state = JobState::Cancelled,
                Ok(Err(e)) => {
                    job.info.state = JobState::Failed;
                    job.info.error = Some(JobError {
                        kind: e.kind().as_str().to_string(),
                        message: e.to_string(),
                        retryable: e.retryable(),
                    });
                }
                Err(panic) => {
                    let message = panic
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_default();
                    job.info.state = JobState::Failed;
                    job.info.error = Some(JobError {
                        kind: "panic".into(),
                        message: format!("the export panicked: {message}"),
                        retryable: false,
                    });
                }
            }
            job.info.finished_at_s = Some(unix_now_s());
            job.finished_at = Some(inner.config.clock.now());
            let snapshot = job.info.clone();
            inner.announce(JobEvent::State { job: snapshot });
        }
        drop(st);
        inner.changed.notify_all();
    }
}

/// Marks job `id` running; what the worker needs to run it.
fn taken(
    inner: &Inner,
    st: &mut State,
    id: String,
) -> Option<(String, ExportRequest, CancelToken)> {
    // A waiting id is always in the table (both change under one lock).
    let job = st.jobs.get_mut(&id)?;
    job.info.state = JobState::Running;
    job.info.started_at_s = Some(unix_now_s());
    let snapshot = job.info.clone();
    let out = (id, job.request.clone(), job.cancel.clone());
    st.running += 1;
    inner.announce(JobEvent::State { job: snapshot });
    Some(out)
}
