//! `inquest insights` on a store of 50 graded investigations (6 branches
//! each, streamed thoughts, 48 tool calls with 4 KB evidence bodies, about
//! 20,000 events in all): open the store, read what the measures need, build
//! the table. Target: 200 ms.

use std::collections::BTreeMap;

use criterion::{Criterion, criterion_group, criterion_main};
use inquest::model::{
    Alert, Budget, CallStatus, EVENT_VERSION, Event, EventKind, Evidence, EvidenceKind, FaultKind, Feedback, Grade,
    GroupBy, Hypothesis, InvestigationStatus, RootCause, SpanId, Timestamp, TraceId,
};
use inquest::store::Store;

const ALERTS: [&str; 5] = [
    "CheckoutLatencyHigh",
    "BillingCheckoutErrors",
    "WikiSaveErrors",
    "SearchLatencyHigh",
    "QueueLagHigh",
];
const STRATEGIES: [&str; 6] = [
    "metrics-first",
    "logs-first",
    "traces-first",
    "changes-first",
    "kubernetes-first",
    "dependency-walk",
];

fn investigation(n: usize) -> (Vec<Event>, Vec<SpanId>) {
    let trace = TraceId::random();
    let root = SpanId::random();
    let mut seq = 0;
    let start = Timestamp(Timestamp::now().0 - (n as i64 + 1) * 3_600_000_000_000);
    let mut at = start;
    let mut out = Vec::new();
    let mut push = |span, parent, kind, out: &mut Vec<Event>| {
        seq += 1;
        at = at + 50_000_000;
        out.push(Event {
            v: EVENT_VERSION,
            trace_id: trace,
            span_id: span,
            parent_span_id: parent,
            seq,
            at,
            kind,
        });
    };
    let alert = Alert {
        source: "alertmanager".into(),
        name: ALERTS[n % ALERTS.len()].into(),
        labels: BTreeMap::from([("service".to_string(), "checkout".to_string())]),
        annotations: BTreeMap::new(),
        severity: "page".into(),
        starts_at: start,
        fingerprint: format!("{n:x}"),
    };
    let started = EventKind::InvestigationStarted {
        alert: Box::new(alert),
        bundle_id: "b-1234abcd".into(),
        reasoner: "llm".into(),
        budget: Budget::default(),
        strategies: STRATEGIES.iter().map(|s| s.to_string()).collect(),
        source: "alertmanager".into(),
        now: start,
    };
    push(root, None, started, &mut out);
    let mut causes = Vec::new();
    let mut hyps = Vec::new();
    for (b, strategy) in STRATEGIES.iter().enumerate() {
        let branch = SpanId::random();
        let kind = EventKind::BranchStarted {
            strategy: strategy.to_string(),
            title: strategy.to_string(),
            parent_branch: None,
            guidance: None,
            allotment: None,
        };
        push(branch, Some(root), kind, &mut out);
        for t in 0..40 {
            let text = format!("Looking at the p99 latency of checkout and its callers, step {t}. ");
            push(
                SpanId::random(),
                Some(branch),
                EventKind::ThoughtDelta { text },
                &mut out,
            );
        }
        for c in 0..8 {
            let (call, ev) = (SpanId::random(), SpanId::random());
            let args = serde_json::json!({"query": format!("rate(http_server_request_duration_seconds_count[{c}m])")});
            let kind = EventKind::ToolCallStarted {
                tool: "prometheus_query_range".into(),
                args,
            };
            push(call, Some(branch), kind, &mut out);
            let kind = EventKind::ToolCallFinished {
                tool: "prometheus_query_range".into(),
                status: CallStatus::Ok,
                duration_ms: 120,
                summary: "6 series".into(),
                evidence_span_id: Some(ev),
                error: None,
            };
            push(call, Some(branch), kind, &mut out);
            let body: String = (0..64)
                .map(|i| format!("10:12:{:02} orders-db connections={i} max=40\n", i % 60))
                .collect();
            let evidence = Evidence {
                kind: EvidenceKind::LogLines,
                summary: "orders-db".into(),
                syntax: "log".into(),
                body,
            };
            push(ev, Some(call), EventKind::EvidenceAdded { evidence }, &mut out);
        }
        let hyp = SpanId::random();
        let kind = FaultKind::ALL[(n + b) % FaultKind::ALL.len()];
        let hypothesis = Hypothesis {
            service: format!("svc-{b}"),
            kind,
            statement: "a cause".into(),
            confidence: 0.9 - b as f64 * 0.1,
            evidence: vec![],
            kind_confidence: 1.0,
        };
        push(
            hyp,
            Some(branch),
            EventKind::HypothesisProposed { hypothesis },
            &mut out,
        );
        let used = EventKind::BudgetUsed {
            tool_calls: 8 * (b as u32 + 1),
            tokens: 4000 * (b as u64 + 1),
            elapsed_ms: 1000,
            branch_tool_calls: 8,
            branch_tokens: 4000,
            cost_microusd: 2000 * (b as u64 + 1),
            estimated_tokens: 0,
        };
        push(branch, Some(root), used, &mut out);
        causes.push(RootCause {
            service: format!("svc-{b}"),
            kind,
            confidence: 0.9 - b as f64 * 0.1,
            statement: "a cause".into(),
            evidence: vec![],
            branches: vec![branch],
            hypotheses: vec![hyp],
            evidence_confidence: None,
        });
        hyps.push(hyp);
        let root_causes = causes.clone();
        push(
            root,
            None,
            EventKind::ConclusionUpdated {
                root_causes,
                sources: Default::default(),
            },
            &mut out,
        );
    }
    let finished = EventKind::InvestigationFinished {
        status: InvestigationStatus::Done,
        root_causes: causes,
        tool_calls: 48,
        tokens: 24_000,
        elapsed_ms: 60_000,
        sources: Default::default(),
    };
    push(root, None, finished, &mut out);
    (out, hyps)
}

fn insights(c: &mut Criterion) {
    let dir = std::env::temp_dir().join(format!("inquest-bench-insights-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let path = dir.join("inquest.db");
    {
        let store = Store::open(&path).unwrap();
        for n in 0..50 {
            let (events, hyps) = investigation(n);
            store.append(&events).unwrap();
            let grades = [Grade::Correct, Grade::Wrong, Grade::Partly];
            for (i, hyp) in hyps.iter().take(2).enumerate() {
                store
                    .save_feedback(&Feedback {
                        id: Feedback::new_id(),
                        parent: None,
                        spans: Vec::new(),
                        trace_id: events[0].trace_id,
                        span_id: *hyp,
                        target: "root_cause".into(),
                        rating: None,
                        grade: Some(grades[(n + i) % 3]),
                        highlight: None,
                        comment: None,
                        author: "alice".into(),
                        at: Timestamp::now(),
                        bundle_id: "b-1234abcd".into(),
                    })
                    .unwrap();
            }
        }
    }
    let mut g = c.benchmark_group("insights");
    g.sample_size(20);
    for by in GroupBy::ALL {
        g.bench_function(
            format!("open the store and build the table by {by} (50 graded investigations)"),
            |b| {
                b.iter(|| {
                    let store = Store::open(&path).unwrap();
                    let map = store.insights(by, None, None).unwrap();
                    assert!(!map.rows.is_empty());
                    map
                })
            },
        );
    }
    g.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, insights);
criterion_main!(benches);
