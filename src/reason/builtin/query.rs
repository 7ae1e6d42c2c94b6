//! Small helpers over the tools for the built-in reasoner.

use std::collections::BTreeMap;

use serde_json::json;

use crate::model::{SpanId, Timestamp};
use crate::reason::{BranchCtx, BranchEnd};
use crate::sources::ToolData;
use crate::sources::telemetry::{InstantResult, MetricSeries};

pub fn ts(ms: i64) -> String {
    Timestamp::from_millis(ms).to_rfc3339()
}

/// A range query; `None` when the call failed (already recorded in the trace).
pub async fn range(
    ctx: &BranchCtx,
    query: &str,
    start_ms: i64,
    end_ms: i64,
    step: &str,
) -> Result<Option<(Vec<MetricSeries>, SpanId)>, BranchEnd> {
    let args = json!({"query": query, "start": ts(start_ms), "end": ts(end_ms), "step": step});
    Ok(match ctx.call("prometheus_query_range", args).await? {
        Some(c) => match c.data {
            ToolData::Matrix(m) => Some((m, c.evidence)),
            _ => None,
        },
        None => None,
    })
}

/// An instant query as a vector.
pub async fn instant(
    ctx: &BranchCtx,
    query: &str,
    t_ms: i64,
) -> Result<Option<(Vec<MetricSeries>, SpanId)>, BranchEnd> {
    let args = json!({"query": query, "time": ts(t_ms)});
    Ok(match ctx.call("prometheus_query", args).await? {
        Some(c) => match c.data {
            ToolData::Instant(InstantResult::Vector(v)) => Some((v, c.evidence)),
            _ => None,
        },
        None => None,
    })
}

/// Series keyed by the values of `keys` joined with `/`.
pub fn by(series: &[MetricSeries], keys: &[&str]) -> BTreeMap<String, Vec<(i64, f64)>> {
    series
        .iter()
        .map(|s| {
            let k: Vec<&str> = keys.iter().map(|k| s.label(k)).collect();
            (k.join("/"), s.samples.clone())
        })
        .collect()
}

/// Divides two series pointwise on shared timestamps; a missing numerator counts as zero.
pub fn ratio(num: Option<&Vec<(i64, f64)>>, den: &[(i64, f64)]) -> Vec<(i64, f64)> {
    let nm: BTreeMap<i64, f64> = num.map(|n| n.iter().copied().collect()).unwrap_or_default();
    den.iter()
        .filter(|(_, d)| *d > 0.0)
        .map(|(t, d)| (*t, nm.get(t).copied().unwrap_or(0.0) / d))
        .collect()
}
