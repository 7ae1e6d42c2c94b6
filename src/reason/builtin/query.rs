//! Small helpers over the tools for the built-in reasoner.

use std::collections::BTreeMap;

use serde_json::json;

use crate::model::{SpanId, Timestamp};
use crate::reason::{BranchCtx, BranchEnd, SourceReads};
use crate::sources::ToolData;
use crate::sources::telemetry::{InstantResult, MetricSeries};

/// At most `n` characters of `s`, an ellipsis marking a cut.
pub fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n).collect::<String>())
    }
}

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

/// A step's reads of one source from a mark on, to tell "found nothing" from
/// "read nothing": a step says what it could not read and never gives an
/// all-clear from data that never came back.
pub struct Since {
    source: &'static str,
    before: SourceReads,
}

impl Since {
    pub fn mark(ctx: &BranchCtx, source: &'static str) -> Since {
        Since {
            source,
            before: ctx.reads(source),
        }
    }

    /// `could not read <source>: <cause>` when a call since the mark failed.
    pub fn unread(&self, ctx: &BranchCtx) -> Option<String> {
        let now = ctx.reads(self.source);
        (now.failed > self.before.failed).then(|| {
            format!(
                "could not read {}: {}",
                self.source,
                now.cause.as_deref().unwrap_or("the call failed")
            )
        })
    }

    /// Whether calls since the mark failed and none answered: the step read nothing.
    pub fn read_nothing(&self, ctx: &BranchCtx) -> bool {
        let now = ctx.reads(self.source);
        now.failed > self.before.failed && now.answered == self.before.answered
    }

    /// A step's closing thought: its findings, or `clear` only when every call
    /// since the mark answered; otherwise what could not be read.
    pub fn verdict(&self, ctx: &BranchCtx, label: &str, notes: &[String], clear: &str) -> String {
        match (notes.is_empty(), self.unread(ctx)) {
            (true, None) => format!("{label}: {clear}."),
            (true, Some(unread)) => format!("{label}: {unread}; no verdict on what did not answer."),
            (false, None) => format!("{label}: {}.", notes.join("; ")),
            (false, Some(unread)) => format!("{label}: {}; {unread}.", notes.join("; ")),
        }
    }
}
