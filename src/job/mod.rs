//! Export jobs: who owns an export ([`owner`]), what happens after a crash
//! ([`recovery`]), and the queue that runs many exports ([`queue`]).

pub mod owner;
pub mod queue;
pub mod recovery;
