//! The composition root: the one place that turns configuration into sources,
//! reasoners, sinks and an engine, and joins the rooms that must not know each
//! other (a cockpit, and the engine and store that host its investigation).
//! The command line, the cockpit's launchers and the server all start
//! investigations through [`launch`].

pub mod bundle;
pub mod changes;
mod launch;
pub mod link;
pub mod record;
pub mod remote;
pub mod replay;
mod setup;
pub mod sinks;
pub mod sse;

pub use launch::{Launch, launch};
pub use setup::{
    Options, Parts, SetupError, for_alert, for_alert_with_store, for_backend, for_scenario, parts, strategies,
};
