//! Reports and exporters.

mod report;

pub use report::markdown;
