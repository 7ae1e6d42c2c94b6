//! The composition root: the one place that turns configuration into sources,
//! reasoners, sinks and an engine, and joins the rooms that must not know each
//! other (a cockpit, and the engine and store that host its investigation).
//! The command line, the cockpit's launchers and the server all start
//! investigations through [`launch`].

mod launch;
pub mod link;
pub mod remote;
mod setup;
pub mod sinks;
pub mod sse;

pub use launch::{Launch, launch};
pub use setup::{Options, SetupError, for_alert, for_backend, for_scenario, strategies};
