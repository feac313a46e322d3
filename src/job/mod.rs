//! Export jobs: who owns an export ([`owner`]), what happens after a crash
//! ([`recovery`]), the queue that runs many exports ([`queue`]), and the
//! migration of bare export files into the catalogue ([`migrate`]).

pub mod migrate;
pub mod queue;
pub mod recovery;
