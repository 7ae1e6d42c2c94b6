//! The engine runs investigations: branches as concurrent tasks under a budget,
//! events out, commands in. It knows nothing of terminals or storage.

mod branch;
pub mod bundle;
pub mod conclusion;
pub mod guidance;
mod run;
pub mod setup;
pub mod sink;

pub use branch::{BranchCtx, BranchEnd, Called};
pub use run::{CONCLUSION_SIZE, Running, Setup, start};
pub use sink::EventSink;
