//! Merges hypotheses from live branches into one ranked conclusion.

use std::collections::BTreeMap;

use crate::model::{FaultKind, Hypothesis, RootCause, SpanId};
use crate::reason::guidance;

/// No conclusion is ever certain.
pub const MAX_CONFIDENCE: f64 = 0.97;

/// One branch's latest hypotheses.
pub struct BranchHypotheses<'a> {
    pub branch: SpanId,
    pub hypotheses: &'a [(SpanId, Hypothesis)],
}

/// Ranked root causes, best first, at most `limit`. Order-independent: the
/// same hypotheses give the same ranking whatever order branches reported in.
pub fn merge(branches: &[BranchHypotheses<'_>], guidance: &[String], limit: usize) -> Vec<RootCause> {
    struct Acc {
        kinds: BTreeMap<FaultKind, f64>,
        best: BTreeMap<FaultKind, (f64, String)>,
        evidence: Vec<SpanId>,
        branches: Vec<SpanId>,
        hyps: Vec<(f64, SpanId)>,
    }
    let mut by_service: BTreeMap<String, Acc> = BTreeMap::new();
    for b in branches {
        // A branch counts once per service: its latest word on it.
        let mut latest: BTreeMap<&str, &(SpanId, Hypothesis)> = BTreeMap::new();
        for h in b.hypotheses {
            latest.insert(h.1.service.as_str(), h);
        }
        for (svc, (span, h)) in latest {
            let acc = by_service.entry(svc.to_string()).or_insert(Acc {
                kinds: BTreeMap::new(),
                best: BTreeMap::new(),
                evidence: Vec::new(),
                branches: Vec::new(),
                hyps: Vec::new(),
            });
            let c = h.confidence.clamp(0.0, MAX_CONFIDENCE);
            *acc.kinds.entry(h.kind).or_default() += c * h.kind_confidence.clamp(0.05, 1.0);
            let e = acc.best.entry(h.kind).or_insert((-1.0, String::new()));
            if c > e.0 || (c == e.0 && h.statement < e.1) {
                *e = (c, h.statement.clone());
            }
            for ev in &h.evidence {
                if !acc.evidence.contains(ev) {
                    acc.evidence.push(*ev);
                }
            }
            if !acc.branches.contains(&b.branch) {
                acc.branches.push(b.branch);
            }
            acc.hyps.push((c, *span));
        }
    }
    let services: Vec<String> = by_service.keys().cloned().collect();
    let mut out: Vec<RootCause> = by_service
        .into_iter()
        .map(|(service, mut acc)| {
            let mut w = guidance::weight(guidance, &service, &services);
            // A kind the engineer ruled out ("partly": right service, wrong kind) is
            // never the one named while another was proposed, and is never raised.
            let rejected = guidance::rejected_kinds(guidance, &service);
            if acc.kinds.keys().any(|k| !rejected.iter().any(|r| r == k.as_str())) {
                acc.kinds.retain(|k, _| !rejected.iter().any(|r| r == k.as_str()));
            }
            // The strongest branch, raised by the others that agree. Branches
            // read the same telemetry, so agreement counts half, not as
            // independent proof.
            let mut cs: Vec<f64> = acc.hyps.iter().map(|h| h.0).collect();
            cs.sort_by(|a, b| b.total_cmp(a));
            let top = cs.first().copied().unwrap_or(0.0);
            let others: f64 = cs.iter().skip(1).map(|c| 1.0 - 0.5 * c).product();
            let raw = (top + (1.0 - top) * (1.0 - others)).min(MAX_CONFIDENCE);
            let kind = acc
                .kinds
                .iter()
                .max_by(|a, b| a.1.total_cmp(b.1).then(b.0.cmp(a.0)))
                .map(|(k, _)| *k)
                .unwrap_or(FaultKind::BadDeploy);
            if rejected.iter().any(|r| r == kind.as_str()) {
                w = w.min(1.0);
            }
            let confidence = if w >= 1.0 { 1.0 - (1.0 - raw) / w } else { raw * w }.min(MAX_CONFIDENCE);
            let statement = acc.best.get(&kind).map(|b| b.1.clone()).unwrap_or_default();
            acc.hyps.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            acc.evidence.sort();
            acc.branches.sort();
            RootCause {
                service,
                kind,
                confidence: (confidence * 1000.0).round() / 1000.0,
                statement,
                evidence: acc.evidence,
                branches: acc.branches,
                hypotheses: acc.hyps.into_iter().map(|h| h.1).collect(),
                // What the evidence alone says, kept where guidance moved the confidence.
                evidence_confidence: (w != 1.0).then(|| (raw * 1000.0).round() / 1000.0),
            }
        })
        .collect();
    out.sort_by(|a, b| b.confidence.total_cmp(&a.confidence).then(a.service.cmp(&b.service)));
    out.truncate(limit);
    out
}
