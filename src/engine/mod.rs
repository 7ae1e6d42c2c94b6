//! The engine runs investigations: branches as concurrent tasks under a budget,
//! events out, commands in. It runs any [`Reasoner`](crate::reason::Reasoner)
//! and knows nothing of terminals, storage or which reasoner it was given:
//! the composition root (`wire`) builds a [`Setup`] and says where events go.

pub mod allot;
mod branch;
pub mod bundle;
pub mod clock;
pub mod conclusion;
pub mod recheck;
mod run;
mod sink;

pub use clock::{Clock, CountingIds, FixedClock, Ids, RandomIds, SystemClock};
pub use recheck::Recheck;
pub use run::{CONCLUSION_SIZE, LEARNED_AUTHOR, Running, SHARED_AUTHOR, Setup, start};
pub use sink::EventSink;

#[cfg(test)]
mod tests;
