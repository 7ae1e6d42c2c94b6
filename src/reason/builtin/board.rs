//! What a branch has learned so far: services, the call graph, the onset, and
//! signals pointing at (service, fault kind) with the evidence behind them.
//! Ranking turns the board into hypotheses.

use std::collections::{BTreeMap, BTreeSet};

use crate::model::{FaultKind, Hypothesis, SpanId, Timestamp, kind_phrase};
use crate::reason::guidance;

#[derive(Clone, Debug)]
pub struct Signal {
    pub service: String,
    pub kind: FaultKind,
    /// The evidence names this kind (not a guess from a generic symptom).
    pub specific: bool,
    pub weight: f64,
    pub evidence: Vec<SpanId>,
    pub note: String,
}

#[derive(Clone, Debug, Default)]
pub struct Board {
    pub services: BTreeSet<String>,
    /// caller → callee
    pub edges: BTreeSet<(String, String)>,
    pub serving: BTreeSet<String>,
    pub caches: BTreeSet<String>,
    pub databases: BTreeSet<String>,
    pub consumers: BTreeSet<String>,
    pub alert_service: Option<String>,
    /// Onset, unix ms.
    pub onset: Option<i64>,
    /// Where the baseline before the onset starts when earlier incidents
    /// came right before it (the calm between them), unix ms.
    pub baseline_from: Option<i64>,
    /// How much each service's own signals changed at the onset (0 = not at all).
    pub anomaly: BTreeMap<String, f64>,
    pub signals: Vec<Signal>,
}

impl Board {
    pub fn add(
        &mut self,
        service: &str,
        kind: FaultKind,
        specific: bool,
        weight: f64,
        evidence: &[SpanId],
        note: String,
    ) {
        if service.is_empty() || !weight.is_finite() || weight <= 0.0 {
            return;
        }
        self.services.insert(service.to_string());
        self.signals.push(Signal {
            service: service.to_string(),
            kind,
            specific,
            weight,
            evidence: evidence.to_vec(),
            note,
        });
    }

    pub fn callees(&self, s: &str) -> Vec<String> {
        self.edges
            .iter()
            .filter(|(a, _)| a == s)
            .map(|(_, b)| b.clone())
            .collect()
    }

    /// Total weight per service, guidance applied.
    pub fn totals(&self, guidance_text: &[String]) -> Vec<(String, f64)> {
        let names: Vec<String> = self.services.iter().cloned().collect();
        let mut t: BTreeMap<String, f64> = BTreeMap::new();
        for s in &self.signals {
            *t.entry(s.service.clone()).or_default() += s.weight;
        }
        let mut v: Vec<(String, f64)> = t
            .into_iter()
            .map(|(s, w)| {
                let g = guidance::weight(guidance_text, &s, &names);
                (s, w * g)
            })
            .collect();
        v.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        v
    }

    /// Up to `n` hypotheses, best first.
    pub fn hypotheses(&self, guidance_text: &[String], n: usize) -> Vec<Hypothesis> {
        let totals = self.totals(guidance_text);
        let Some(max) = totals.first().map(|t| t.1) else {
            return vec![];
        };
        let mut out = Vec::new();
        for (svc, total) in totals.into_iter().take(n) {
            if total < 0.4 {
                continue;
            }
            let sigs: Vec<&Signal> = self.signals.iter().filter(|s| s.service == svc).collect();
            let mut kinds: BTreeMap<FaultKind, f64> = BTreeMap::new();
            for s in &sigs {
                *kinds.entry(s.kind).or_default() += s.weight * if s.specific { 1.0 } else { 0.25 };
            }
            let (kind, kw) = kinds
                .iter()
                .max_by(|a, b| a.1.total_cmp(b.1).then(b.0.cmp(a.0)))
                .map(|(k, w)| (*k, *w))
                .unwrap_or((FaultKind::BadDeploy, 0.0));
            let kind_total: f64 = kinds.values().sum();
            let specific = sigs.iter().any(|s| s.kind == kind && s.specific);
            let kind_confidence = if specific {
                (kw / kind_total.max(1e-9)).clamp(0.3, 1.0)
            } else {
                0.15
            };
            let rel = (total / max).sqrt();
            let confidence = (0.92 * total / (total + 1.2) * rel).clamp(0.01, 0.95);
            let mut sorted = sigs.clone();
            sorted.sort_by(|a, b| b.weight.total_cmp(&a.weight));
            let notes: Vec<String> = sorted.iter().take(3).map(|s| s.note.clone()).collect();
            let mut evidence: Vec<SpanId> = Vec::new();
            for s in &sorted {
                for e in &s.evidence {
                    if !evidence.contains(e) && evidence.len() < 6 {
                        evidence.push(*e);
                    }
                }
            }
            out.push(Hypothesis {
                service: svc.clone(),
                kind,
                statement: format!("{svc}: {} — {}", kind_phrase(kind), notes.join("; ")),
                confidence: (confidence * 1000.0).round() / 1000.0,
                evidence,
                kind_confidence: (kind_confidence * 1000.0).round() / 1000.0,
            });
        }
        out
    }

    /// The board in a few lines for a model: onset, the most changed services,
    /// and the ranked hypotheses with the evidence spans they rest on.
    pub fn summary(&self, hypotheses: &[Hypothesis]) -> String {
        let mut out = String::from("# Statistical findings (the built-in analysis; check them, do not trust them)\n");
        if let Some(ms) = self.onset {
            out.push_str(&format!("Onset: {}\n", Timestamp::from_millis(ms).to_rfc3339()));
        }
        let mut changed: Vec<(&String, &f64)> = self.anomaly.iter().filter(|(_, a)| **a > 0.0).collect();
        changed.sort_by(|a, b| b.1.total_cmp(a.1).then(a.0.cmp(b.0)));
        if !changed.is_empty() {
            let top: Vec<String> = changed.iter().take(5).map(|(s, a)| format!("{s} {a:.1}")).collect();
            out.push_str(&format!("Most changed at onset (score): {}\n", top.join(", ")));
        }
        if hypotheses.is_empty() {
            out.push_str("Ranked hypotheses: none strong enough to propose.\n");
        }
        for (i, h) in hypotheses.iter().enumerate() {
            let ev: Vec<String> = h.evidence.iter().map(|e| e.short()).collect();
            out.push_str(&format!(
                "{}. {} · {} · confidence {:.2} · {} [evidence {}]\n",
                i + 1,
                h.service,
                h.kind.as_str(),
                h.confidence,
                h.statement,
                ev.join(", ")
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_gives_onset_changed_services_and_ranked_hypotheses_with_evidence() {
        let ev = SpanId::from_bytes([0xab; 8]).expect("not all zero");
        let mut b = Board {
            onset: Some(1_772_362_080_000),
            ..Default::default()
        };
        b.anomaly.insert("orders-db".into(), 11.4);
        b.anomaly.insert("checkout".into(), 8.1);
        b.anomaly.insert("quiet".into(), 0.0);
        b.add(
            "orders-db",
            FaultKind::ConnectionPoolExhaustion,
            true,
            3.0,
            &[ev],
            "connections at max".into(),
        );
        let hs = b.hypotheses(&[], 3);
        let text = b.summary(&hs);
        assert!(text.contains("Onset: 2026-03-01T10:48:00"), "{text}");
        assert!(
            text.contains("orders-db 11.4, checkout 8.1") && !text.contains("quiet"),
            "{text}"
        );
        assert!(
            text.contains("1. orders-db · connection_pool_exhaustion · confidence")
                && text.contains(&format!("[evidence {}]", ev.short())),
            "{text}"
        );
        assert!(Board::default().summary(&[]).contains("none strong enough"));
    }
}
