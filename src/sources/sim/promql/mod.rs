//! A PromQL evaluator over the simulator's in-memory series.
//!
//! It answers the same four HTTP endpoints a Prometheus server would
//! (`query_range`, `query`, `series`, `label/<name>/values`) for a subset of
//! PromQL, and within that subset it follows the Prometheus 3 engine closely:
//! left-open range selectors, the 5-minute lookback, `extrapolatedRate` for
//! `rate`/`increase`/`delta`, Kahan summation in `sum`/`avg`/`*_over_time`,
//! Go's heap mechanics in `topk`/`bottomk`, `bucketQuantile` for
//! `histogram_quantile`, Go's `math.Pow` for `^`, and the same errors for
//! duplicate label sets and ambiguous vector matching.
//!
//! Queries are parsed with `promql-parser`; anything outside the subset is
//! rejected before evaluation with [`PromqlError::Unsupported`] naming the
//! construct.
//!
//! Evaluation is vectorised over the steps of the query, as in Prometheus: an
//! instant vector is a list of series, each with one optional value per step.
//! Every such list is kept sorted by labels with unique label sets and without
//! empty series, which is also the order in which aggregations see their input.

// Series are parallel arrays indexed by step; loops over the step index read clearer than zipped iterators.
#![allow(clippy::needless_range_loop)]

mod aggregate;
mod binary;
mod endpoints;
mod eval;
mod functions;
mod gomath;
mod parse;
mod select;
#[cfg(test)]
mod testing;

pub use endpoints::{label_names, label_values, query_instant, query_range, series};

/// Why a query could not be answered.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PromqlError {
    /// The query is not valid PromQL; carries the parser's message.
    #[error("parse error: {0}")]
    Parse(String),
    /// Valid PromQL outside the subset this evaluator implements; names the construct.
    #[error("unsupported in this PromQL subset: {0}")]
    Unsupported(String),
    /// An evaluation error Prometheus would also report (bad step, duplicate
    /// label sets, ambiguous matching, ...).
    #[error("{0}")]
    Eval(String),
}

type Result<T> = std::result::Result<T, PromqlError>;

const METRIC_NAME: &str = "__name__";
