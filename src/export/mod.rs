//! Reports and exporters.

pub mod langfuse;
pub mod langsmith;
pub mod otlp;
mod report;

pub use report::markdown;
