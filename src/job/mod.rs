//! Export jobs: who owns an export ([`owner`]), what happens after a crash
//! ([`recovery`]), the queue that runs many exports ([`queue`]), and the
//! migration of bare export files into the catalogue ([`migrate`]).

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
