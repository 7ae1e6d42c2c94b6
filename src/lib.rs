//! inquest: an on-call cockpit. An alert opens an investigation in which several
//! strategies run in parallel as branches, each calling read-only tools against
//! the observability stack and proposing root causes with evidence.

pub mod cli;
pub mod config;
pub mod engine;
pub mod eval;
pub mod export;
pub mod intake;
pub mod model;
pub mod reason;
pub mod sources;
pub mod store;
pub mod tools;
pub mod tui;
pub mod wire;
