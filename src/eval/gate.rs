//! The gate a candidate bundle must pass against its baseline: comma-separated
//! clauses `METRIC OP DELTA`, each on the candidate minus the baseline over the
//! whole suite.
//!
//! - METRIC: `ac1` (AC@1 service), `ac1k` (AC@1 service and kind), `ac3`,
//!   `avg5`, `calls` (tool calls per investigation), `tokens` (model tokens per
//!   investigation), `wall` (milliseconds per investigation);
//! - OP: `>=`, `<=`, `>` or `<`;
//! - DELTA: a signed number, absolute (`-0.02`: at most two points lost) or
//!   relative with `%` (`+20%`: at most a fifth more than the baseline).
//!
//! `ac1>=-0.02,calls<=+20%` holds when AC@1 drops by at most 0.02 and tool
//! calls grow by at most 20 %.

use serde::Serialize;

use super::compare::Metrics;

/// The metric names a clause may use.
pub const METRICS: [&str; 7] = ["ac1", "ac1k", "ac3", "avg5", "calls", "tokens", "wall"];

#[derive(Clone, Copy, Debug, PartialEq, Serialize)]
pub enum Op {
    #[serde(rename = ">=")]
    Ge,
    #[serde(rename = "<=")]
    Le,
    #[serde(rename = ">")]
    Gt,
    #[serde(rename = "<")]
    Lt,
}

impl Op {
    fn holds(self, x: f64, bound: f64) -> bool {
        // A hair of tolerance: deltas of rounded rates are not exact.
        const EPS: f64 = 1e-9;
        match self {
            Op::Ge => x >= bound - EPS,
            Op::Le => x <= bound + EPS,
            Op::Gt => x > bound + EPS,
            Op::Lt => x < bound - EPS,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Clause {
    /// As written.
    pub text: String,
    pub metric: String,
    pub op: Op,
    pub bound: f64,
    /// The bound is a percentage of the baseline.
    pub relative: bool,
}

/// A clause, judged.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Verdict {
    pub clause: String,
    /// The candidate's delta: absolute, or in percent for a relative clause.
    pub delta: f64,
    pub passed: bool,
}

/// Parses a gate; the error says which clause and what was expected.
pub fn parse(gate: &str) -> Result<Vec<Clause>, String> {
    let mut out = Vec::new();
    for raw in gate.split(',') {
        let text = raw.trim();
        if text.is_empty() {
            return Err(format!(
                "--gate {gate:?}: an empty clause (expected METRIC OP DELTA, e.g. ac1>=-0.02)"
            ));
        }
        out.push(clause(text).map_err(|e| format!("--gate clause {text:?}: {e}"))?);
    }
    Ok(out)
}

fn clause(text: &str) -> Result<Clause, String> {
    let at = text
        .find(['<', '>'])
        .ok_or("expected a comparison (>=, <=, > or <), as in ac1>=-0.02")?;
    let metric = text[..at].trim().to_ascii_lowercase();
    if !METRICS.contains(&metric.as_str()) {
        return Err(format!(
            "unknown metric {metric:?} (expected one of {})",
            METRICS.join(", ")
        ));
    }
    let rest = &text[at..];
    let (op, rest) = if let Some(r) = rest.strip_prefix(">=") {
        (Op::Ge, r)
    } else if let Some(r) = rest.strip_prefix("<=") {
        (Op::Le, r)
    } else if let Some(r) = rest.strip_prefix('>') {
        (Op::Gt, r)
    } else if let Some(r) = rest.strip_prefix('<') {
        (Op::Lt, r)
    } else {
        return Err("expected >=, <=, > or <".into());
    };
    let rest = rest.trim();
    let (number, relative) = match rest.strip_suffix('%') {
        Some(n) => (n.trim(), true),
        None => (rest, false),
    };
    let bound: f64 = number
        .parse()
        .ok()
        .filter(|b: &f64| b.is_finite())
        .ok_or_else(|| format!("{number:?}: expected a signed number, optionally with %, as in -0.02 or +20%"))?;
    Ok(Clause {
        text: text.to_string(),
        metric,
        op,
        bound,
        relative,
    })
}

/// The value of a metric.
pub fn value(m: &Metrics, metric: &str) -> f64 {
    match metric {
        "ac1" => m.ac1_service,
        "ac1k" => m.ac1_service_kind,
        "ac3" => m.ac3_service,
        "avg5" => m.avg5_service,
        "calls" => m.tool_calls,
        "tokens" => m.tokens,
        _ => m.wall_ms,
    }
}

/// The relative change in percent; from a zero baseline, 0 for no change and
/// an infinite one otherwise.
pub fn percent(baseline: f64, candidate: f64) -> f64 {
    if baseline == 0.0 {
        if candidate == 0.0 {
            0.0
        } else {
            f64::INFINITY.copysign(candidate)
        }
    } else {
        (candidate - baseline) / baseline.abs() * 100.0
    }
}

/// Every clause judged on the overall figures.
pub fn judge(clauses: &[Clause], baseline: &Metrics, candidate: &Metrics) -> Vec<Verdict> {
    clauses
        .iter()
        .map(|c| {
            let (b, x) = (value(baseline, &c.metric), value(candidate, &c.metric));
            let delta = if c.relative { percent(b, x) } else { x - b };
            Verdict {
                clause: c.text.clone(),
                delta,
                passed: c.op.holds(delta, c.bound),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(ac1: f64, calls: f64) -> Metrics {
        Metrics {
            scenarios: 4,
            ac1_service: ac1,
            ac1_service_kind: ac1,
            ac3_service: ac1,
            avg5_service: ac1,
            tool_calls: calls,
            tokens: 0.0,
            wall_ms: 10.0,
        }
    }

    #[test]
    fn clauses_judge_absolute_and_relative_deltas() {
        let g = parse("ac1>=-0.02, calls<=+20%").unwrap();
        assert_eq!(g.len(), 2);
        assert!(g[1].relative && g[1].bound == 20.0);
        let v = judge(&g, &m(0.9, 100.0), &m(0.89, 119.0));
        assert!(v.iter().all(|v| v.passed), "{v:?}");
        let v = judge(&g, &m(0.9, 100.0), &m(0.85, 121.0));
        assert!(!v[0].passed && !v[1].passed, "{v:?}");
        assert!((v[0].delta + 0.05).abs() < 1e-9);
        let v = judge(&parse("tokens<=+10%").unwrap(), &m(0.9, 1.0), &m(0.9, 1.0));
        assert!(v[0].passed, "no tokens on either side is no change");
    }

    #[test]
    fn bad_gates_say_what_was_expected() {
        for (gate, says) in [
            ("ac2>=0", "unknown metric"),
            ("ac1=0", "expected a comparison"),
            ("ac1>=lots", "expected a signed number"),
            ("ac1>=0,", "empty clause"),
            ("calls<=+20%%", "expected a signed number"),
        ] {
            let e = parse(gate).unwrap_err();
            assert!(e.contains(says), "{gate}: {e}");
        }
    }
}
