//! Many exports, built on the export job: the queue that runs them
//! ([`queue`], with job [`state`]s, a [`clock`] and subscriber delivery),
//! what happens after a crash ([`recovery`]) and the migration of bare
//! export files into the catalogue ([`migrate`]). Who owns an export id is
//! the export job's business (`export::owner`).

pub mod clock;
pub mod migrate;
pub mod queue;
pub mod recovery;
pub mod state;
mod subscribers;

use std::sync::{Mutex, MutexGuard};

/// Locks `m`, taking the data of a poisoned lock (a panicking subscriber
/// or export must not wedge the queue).
pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}
