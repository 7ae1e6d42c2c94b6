//! A candidate bundle against a baseline on the same suite: the figures side by
//! side, overall and per fault kind, with the delta, and the gate's verdict.

use std::collections::BTreeMap;
use std::fmt::Write;

use serde::Serialize;

use super::gate::{self, Clause, Verdict};
use super::{Report, ScenarioResult, avg5, rate};

/// The figures one side scores on a set of scenarios.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Metrics {
    pub scenarios: usize,
    pub ac1_service: f64,
    pub ac1_service_kind: f64,
    pub ac3_service: f64,
    pub avg5_service: f64,
    /// Means per investigation.
    pub tool_calls: f64,
    pub tokens: f64,
    pub wall_ms: f64,
}

fn mean(xs: &[&ScenarioResult], f: impl Fn(&ScenarioResult) -> f64) -> f64 {
    if xs.is_empty() {
        return 0.0;
    }
    let m = xs.iter().map(|x| f(x)).sum::<f64>() / xs.len() as f64;
    (m * 10.0).round() / 10.0
}

/// The figures of the scored scenarios among `xs`.
pub fn metrics(xs: &[&ScenarioResult]) -> Metrics {
    let scored: Vec<&ScenarioResult> = xs.iter().copied().filter(|s| s.scored()).collect();
    Metrics {
        scenarios: scored.len(),
        ac1_service: rate(&scored, |x| x.hit_at(1)),
        ac1_service_kind: rate(&scored, |x| x.kind_right),
        ac3_service: rate(&scored, |x| x.hit_at(3)),
        avg5_service: avg5(&scored),
        tool_calls: mean(&scored, |x| x.tool_calls as f64),
        tokens: mean(&scored, |x| x.tokens as f64),
        wall_ms: mean(&scored, |x| x.wall_ms as f64),
    }
}

/// One side: its bundle and its report.
#[derive(Clone, Debug, Serialize)]
pub struct Side {
    pub bundle_id: String,
    /// Where the bundle came from (a file, or the built-in default).
    pub bundle: String,
    pub report: Report,
}

#[derive(Clone, Debug, Serialize)]
pub struct Pair {
    pub baseline: Metrics,
    pub candidate: Metrics,
}

/// The comparison `inquest eval --against` prints.
#[derive(Clone, Debug, Serialize)]
pub struct Comparison {
    pub candidate: Side,
    pub baseline: Side,
    pub overall: Pair,
    pub by_kind: BTreeMap<String, Pair>,
    /// Absent without `--gate`.
    pub gate: Option<Vec<Verdict>>,
}

impl Comparison {
    pub fn new(candidate: Side, baseline: Side, clauses: &[Clause]) -> Comparison {
        let all = |r: &Report| metrics(&r.scenarios.iter().collect::<Vec<_>>());
        let overall = Pair {
            baseline: all(&baseline.report),
            candidate: all(&candidate.report),
        };
        let mut by_kind = BTreeMap::new();
        for kind in baseline.report.by_kind.keys().chain(candidate.report.by_kind.keys()) {
            let of = |r: &Report| {
                let xs: Vec<&ScenarioResult> = r
                    .scenarios
                    .iter()
                    .filter(|s| s.truth.as_ref().is_some_and(|t| t.kind.as_str() == kind))
                    .collect();
                metrics(&xs)
            };
            by_kind.insert(
                kind.clone(),
                Pair {
                    baseline: of(&baseline.report),
                    candidate: of(&candidate.report),
                },
            );
        }
        let gate = (!clauses.is_empty()).then(|| gate::judge(clauses, &overall.baseline, &overall.candidate));
        Comparison {
            candidate,
            baseline,
            overall,
            by_kind,
            gate,
        }
    }

    /// The clauses the candidate failed.
    pub fn failed(&self) -> Vec<&Verdict> {
        self.gate.iter().flatten().filter(|v| !v.passed).collect()
    }
}

const COLUMNS: [(&str, &str); 7] = [
    ("AC@1", "ac1"),
    ("AC@3", "ac3"),
    ("Avg@5", "avg5"),
    ("svc+kind", "ac1k"),
    ("calls", "calls"),
    ("tokens", "tokens"),
    ("wall ms", "wall"),
];

fn num(metric: &str, v: f64) -> String {
    match metric {
        "calls" | "tokens" | "wall" => format!("{v:.1}"),
        _ => format!("{v:.3}"),
    }
}

fn delta(metric: &str, b: f64, c: f64) -> String {
    let d = c - b;
    match metric {
        "calls" | "tokens" | "wall" => {
            let p = gate::percent(b, c);
            if p.is_finite() {
                format!("{d:+.1} ({p:+.0}%)")
            } else {
                format!("{d:+.1}")
            }
        }
        _ => format!("{d:+.3}"),
    }
}

fn block(out: &mut String, title: &str, p: &Pair) {
    let _ = writeln!(
        out,
        "{title} (n={})\n  {:<10} {:>12} {:>12} {:>16}",
        p.candidate.scenarios, "", "baseline", "candidate", "delta"
    );
    for (label, m) in COLUMNS {
        let (b, c) = (gate::value(&p.baseline, m), gate::value(&p.candidate, m));
        let _ = writeln!(
            out,
            "  {label:<10} {:>12} {:>12} {:>16}",
            num(m, b),
            num(m, c),
            delta(m, b, c)
        );
    }
}

/// The terminal table: overall, then one block per fault kind, then the gate.
pub fn table(c: &Comparison) -> String {
    let clean = crate::tools::sanitize::clean;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "candidate {} ({})\nbaseline  {} ({})\n",
        clean(&c.candidate.bundle_id),
        clean(&c.candidate.bundle),
        clean(&c.baseline.bundle_id),
        clean(&c.baseline.bundle)
    );
    block(&mut out, "all", &c.overall);
    for (kind, p) in &c.by_kind {
        out.push('\n');
        block(&mut out, kind, p);
    }
    let failed = |r: &Report| r.summary.failed;
    if failed(&c.candidate.report) + failed(&c.baseline.report) > 0 {
        let _ = writeln!(
            out,
            "\nnot scored: {} scenarios failed under the candidate, {} under the baseline",
            failed(&c.candidate.report),
            failed(&c.baseline.report)
        );
    }
    if let Some(verdicts) = &c.gate {
        out.push('\n');
        for v in verdicts {
            let _ = writeln!(
                out,
                "gate {} {} (delta {})",
                if v.passed { "passed" } else { "FAILED" },
                clean(&v.clause),
                if v.clause.ends_with('%') {
                    format!("{:+.1}%", v.delta)
                } else {
                    format!("{:+.3}", v.delta)
                }
            );
        }
        let n = c.failed().len();
        let _ = writeln!(
            out,
            "{}",
            if n == 0 {
                "gate: the candidate holds".to_string()
            } else {
                format!("gate: the candidate regresses ({n} clause(s) failed)")
            }
        );
    }
    out
}
