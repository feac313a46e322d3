//! Fragments fetched ahead of the writer, handed over in playlist order:
//! the export runs at the speed of the slower of network and disk, not
//! their sum. At most [`AHEAD`] + [`CONNECTIONS`] fetched bodies are held.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use super::http::{FetchError, HttpClient};
use super::playlist::VodPlaylist;
use crate::progress::CancelToken;

/// Bodies fetched ahead of the one being written.
pub const AHEAD: usize = 2;
/// Largest init segment accepted.
pub const MAX_INIT_BYTES: u64 = 16 << 20;
/// Largest fragment accepted (a 10 s fragment of a 50 Mbit/s 4K camera is ~60 MB).
pub const MAX_FRAGMENT_BYTES: u64 = 256 << 20;

/// One fetched body.
pub struct Fetched {
    pub group: usize,
    /// `None` for the group's init segment, else the fragment's index in its group.
    pub fragment: Option<usize>,
    pub body: Result<Vec<u8>, FetchError>,
}

/// Requests in flight at once: the NVR's server builds each fragment on
/// the fly, so two connections keep both of its workers busy (measured on
/// the bench corpus: one connection 1.34 s an hour, two 1.13 s, three 0.93 s
/// for the fetches alone on 2 cores; two leave a core to the writer).
pub const CONNECTIONS: usize = 2;

/// Fetched bodies in playlist order, from [`CONNECTIONS`] threads.
pub struct Prefetch {
    rx: Receiver<(usize, Fetched)>,
    stop: Arc<AtomicBool>,
    /// Bodies that arrived ahead of their turn.
    waiting: std::cell::RefCell<std::collections::BTreeMap<usize, Fetched>>,
    next: std::cell::Cell<usize>,
    /// The consumer's position, for the window.
    taken: Arc<(Mutex<usize>, Condvar)>,
    /// Buffers handed back by the writer, reused by the fetchers.
    pool: Arc<Mutex<Vec<Vec<u8>>>>,
}

impl Prefetch {
    /// Starts fetching every group's init and fragments. At most
    /// [`AHEAD`] + [`CONNECTIONS`] bodies are held at once: a fetcher does
    /// not start body `j` before the consumer has taken body `j - AHEAD -
    /// CONNECTIONS + 1`.
    ///
    /// `Err` only when not one fetcher thread can be started (with fewer
    /// than [`CONNECTIONS`], the ones there are fetch everything).
    pub fn start(
        client: HttpClient,
        playlist: &VodPlaylist,
        cancel: &CancelToken,
    ) -> crate::error::Result<Prefetch> {
        let (tx, rx) = sync_channel(AHEAD + CONNECTIONS);
        let stop = Arc::new(AtomicBool::new(false));
        let jobs: Vec<(usize, Option<usize>, reqwest::Url, u64)> = playlist
            .groups
            .iter()
            .enumerate()
            .flat_map(|(gi, g)| {
                std::iter::once((gi, None, g.init.clone(), MAX_INIT_BYTES)).chain(
                    g.fragments
                        .iter()
                        .enumerate()
                        .map(move |(fi, f)| (gi, Some(fi), f.url.clone(), MAX_FRAGMENT_BYTES)),
                )
            })
            .collect();
        let jobs = Arc::new(jobs);
        let next_job = Arc::new(AtomicUsize::new(0));
        let taken = Arc::new((Mutex::new(0usize), Condvar::new()));
        let pool: Arc<Mutex<Vec<Vec<u8>>>> = Arc::default();
        let mut started = 0;
        let mut refused = None;
        for n in 0..CONNECTIONS {
            let pool = pool.clone();
            let (tx, stop, cancel, jobs, next_job, taken, client) = (
                tx.clone(),
                stop.clone(),
                cancel.clone(),
                jobs.clone(),
                next_job.clone(),
                taken.clone(),
                client.clone(),
            );
            let spawned = std::thread::Builder::new()
                .name(format!("hls-fetch-{n}"))
                .spawn(move || loop {
                    let j = next_job.fetch_add(1, Ordering::SeqCst);
                    let Some((group, fragment, url, cap)) = jobs.get(j).cloned() else {
                        return;
                    };
                    // The window: wait until the consumer is close enough.
                    {
                        let (m, cv) = &*taken;
                        let mut t = m.lock().unwrap_or_else(|e| e.into_inner());
                        while j >= *t + AHEAD + CONNECTIONS {
                            if stop.load(Ordering::Relaxed) || cancel.is_cancelled() {
                                return;
                            }
                            t = cv
                                .wait_timeout(t, Duration::from_millis(20))
                                .map(|(g, _)| g)
                                .unwrap_or_else(|e| e.into_inner().0);
                        }
                    }
                    if stop.load(Ordering::Relaxed) || cancel.is_cancelled() {
                        return;
                    }
                    // Recycled buffers are fragment-sized: only fragments get them
                    // (an init is kept for its whole group).
                    let buf = match fragment {
                        Some(_) => pool
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .pop()
                            .unwrap_or_default(),
                        None => Vec::new(),
                    };
                    let body = client.get_into(&url, cap, &cancel, buf);
                    let item = Fetched {
                        group,
                        fragment,
                        body,
                    };
                    if tx.send((j, item)).is_err() {
                        return; // the writer is gone
                    }
                });
            match spawned {
                Ok(_) => started += 1,
                Err(e) => refused = Some(e),
            }
        }
        if let (0, Some(e)) = (started, refused) {
            // Without a fetcher the channel would read as the end of the stream.
            return Err(crate::error::Error::io("HLS fetcher thread", e));
        }
        Ok(Prefetch {
            rx,
            stop,
            waiting: Default::default(),
            next: std::cell::Cell::new(0),
            taken,
            pool,
        })
    }

    /// Hands a body's buffer back for reuse (at most as many as can be in
    /// flight are kept).
    pub fn recycle(&self, buf: Vec<u8>) {
        let mut pool = self.pool.lock().unwrap_or_else(|e| e.into_inner());
        if pool.len() < AHEAD + CONNECTIONS {
            pool.push(buf);
        }
    }

    /// The next body in order; `Ok(None)` at the end. Waits in short slices
    /// so that a cancel is seen within ~20 ms even while a fetch is blocked.
    pub fn next(&self, cancel: &CancelToken) -> crate::error::Result<Option<Fetched>> {
        let want = self.next.get();
        loop {
            if let Some(f) = self.waiting.borrow_mut().remove(&want) {
                self.next.set(want + 1);
                let (m, cv) = &*self.taken;
                *m.lock().unwrap_or_else(|e| e.into_inner()) = want + 1;
                cv.notify_all();
                return Ok(Some(f));
            }
            cancel.check()?;
            match self.rx.recv_timeout(Duration::from_millis(20)) {
                Ok((j, f)) => {
                    self.waiting.borrow_mut().insert(j, f);
                }
                Err(RecvTimeoutError::Timeout) => continue,
                Err(RecvTimeoutError::Disconnected) => return Ok(None),
            }
        }
    }
}

impl Drop for Prefetch {
    /// The thread is not joined (it may be inside a request); it stops
    /// at its next check, and its sends fail once this receiver is gone.
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
