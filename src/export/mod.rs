//! Reports and exporters.

pub mod otlp;
mod report;

pub use report::markdown;
