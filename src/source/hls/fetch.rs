//! Fragments fetched ahead of the writer, in playlist order, on one thread:
//! the export runs at the speed of the slower of network and disk, not
//! their sum. At most [`AHEAD`] fetched bodies wait in memory.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, RecvTimeoutError};
use std::sync::Arc;
use std::time::Duration;

use super::http::{FetchError, HttpClient};
use super::playlist::VodPlaylist;
use crate::progress::CancelToken;

/// Bodies fetched ahead of the one being written.
pub const AHEAD: usize = 3;
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

/// The fetching thread and its output.
pub struct Prefetch {
    rx: Receiver<Fetched>,
    stop: Arc<AtomicBool>,
}

impl Prefetch {
    /// Starts fetching every group's init and fragments, in order.
    pub fn start(client: HttpClient, playlist: &VodPlaylist, cancel: &CancelToken) -> Prefetch {
        let (tx, rx) = sync_channel(AHEAD);
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
        let (stop2, cancel) = (stop.clone(), cancel.clone());
        std::thread::spawn(move || {
            for (group, fragment, url, cap) in jobs {
                if stop2.load(Ordering::Relaxed) || cancel.is_cancelled() {
                    return;
                }
                let body = client.get(&url, cap, &cancel);
                if tx
                    .send(Fetched {
                        group,
                        fragment,
                        body,
                    })
                    .is_err()
                {
                    return; // the writer is gone
                }
            }
        });
        Prefetch { rx, stop }
    }

    /// The next body in order; `Ok(None)` at the end. Waits in short slices
    /// so that a cancel is seen within ~20 ms even while a fetch is blocked.
    pub fn next(&self, cancel: &CancelToken) -> crate::error::Result<Option<Fetched>> {
        loop {
            cancel.check()?;
            match self.rx.recv_timeout(Duration::from_millis(20)) {
                Ok(f) => return Ok(Some(f)),
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
