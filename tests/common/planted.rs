//! Investigations planted in a store with known strategies, hypotheses, root
//! causes, costs and grades, so the insights table has numbers to check.

use std::collections::BTreeMap;

use inquest::model::{
    Alert, Budget, EVENT_VERSION, Event, EventKind, FaultKind, Feedback, Grade, Hypothesis, InvestigationStatus,
    RootCause, SpanId, Timestamp, TraceId,
};
use inquest::store::Store;

/// One branch: its strategy, tool calls, tokens, and the hypothesis it proposes
/// `after` seconds past the start (service, kind).
pub struct Br {
    pub strategy: &'static str,
    pub calls: u32,
    pub tokens: u64,
    pub after: i64,
    pub cause: (&'static str, FaultKind),
}

/// One investigation. `causes` ranks the branches' hypotheses (indices into
/// `branches`), `grades` grades causes by rank.
pub struct Plan {
    pub alert: &'static str,
    /// Seconds before now the investigation started.
    pub ago: i64,
    /// Seconds the alert had fired when it started.
    pub fired: i64,
    pub branches: Vec<Br>,
    pub causes: Vec<usize>,
    pub grades: Vec<(usize, Grade)>,
    pub status: InvestigationStatus,
    pub cost_microusd: u64,
}

struct Seq {
    trace: TraceId,
    root: SpanId,
    seq: u64,
    out: Vec<Event>,
}

impl Seq {
    fn push(&mut self, at: Timestamp, span: SpanId, parent: Option<SpanId>, kind: EventKind) {
        self.seq += 1;
        self.out.push(Event {
            v: EVENT_VERSION,
            trace_id: self.trace,
            span_id: span,
            parent_span_id: parent,
            seq: self.seq,
            at,
            kind,
        });
    }
}

/// Appends the plan's events and saves its grades; returns the trace.
pub fn plant(store: &Store, p: &Plan) -> TraceId {
    let t0 = Timestamp(Timestamp::now().0 - p.ago * 1_000_000_000);
    let secs = |s: i64| Timestamp(t0.0 + s * 1_000_000_000);
    let mut s = Seq {
        trace: TraceId::random(),
        root: SpanId::random(),
        seq: 0,
        out: Vec::new(),
    };
    let root = s.root;
    let alert = Alert {
        source: "alertmanager".into(),
        name: p.alert.into(),
        labels: BTreeMap::from([("service".to_string(), "checkout".to_string())]),
        annotations: BTreeMap::new(),
        severity: "page".into(),
        starts_at: secs(-p.fired),
        fingerprint: "f00d".into(),
    };
    s.push(
        t0,
        root,
        None,
        EventKind::InvestigationStarted {
            alert: Box::new(alert),
            bundle_id: "b-1234abcd".into(),
            reasoner: if p.cost_microusd > 0 { "llm" } else { "builtin" }.into(),
            budget: Budget::default(),
            strategies: p.branches.iter().map(|b| b.strategy.to_string()).collect(),
            source: "alertmanager".into(),
            now: t0,
        },
    );
    let mut spans = Vec::new();
    let total_calls: u32 = p.branches.iter().map(|b| b.calls).sum();
    let total_tokens: u64 = p.branches.iter().map(|b| b.tokens).sum();
    for b in &p.branches {
        let (branch, hyp) = (SpanId::random(), SpanId::random());
        spans.push((branch, hyp));
        s.push(
            secs(0),
            branch,
            Some(root),
            EventKind::BranchStarted {
                strategy: b.strategy.into(),
                title: b.strategy.into(),
                parent_branch: None,
                guidance: None,
                allotment: None,
            },
        );
        for _ in 0..b.calls {
            s.push(
                secs(1),
                SpanId::random(),
                Some(branch),
                EventKind::ToolCallStarted {
                    tool: "prometheus_query_range".into(),
                    args: serde_json::json!({"query": "up"}),
                },
            );
        }
        s.push(
            secs(b.after),
            hyp,
            Some(branch),
            EventKind::HypothesisProposed {
                hypothesis: Hypothesis {
                    service: b.cause.0.into(),
                    kind: b.cause.1,
                    statement: format!("{} {}", b.cause.0, b.cause.1),
                    confidence: 0.7,
                    evidence: vec![],
                    kind_confidence: 1.0,
                },
            },
        );
        s.push(
            secs(b.after),
            branch,
            Some(root),
            EventKind::BudgetUsed {
                tool_calls: total_calls,
                tokens: total_tokens,
                elapsed_ms: 1000,
                branch_tool_calls: b.calls,
                branch_tokens: b.tokens,
                cost_microusd: p.cost_microusd,
                estimated_tokens: 0,
            },
        );
    }
    let causes: Vec<RootCause> = p
        .causes
        .iter()
        .map(|&i| {
            let b = &p.branches[i];
            RootCause {
                service: b.cause.0.into(),
                kind: b.cause.1,
                confidence: 0.7,
                statement: format!("{} {}", b.cause.0, b.cause.1),
                evidence: vec![],
                branches: vec![spans[i].0],
                hypotheses: vec![spans[i].1],
                evidence_confidence: None,
            }
        })
        .collect();
    s.push(
        secs(600),
        root,
        None,
        EventKind::InvestigationFinished {
            status: p.status,
            root_causes: causes.clone(),
            tool_calls: total_calls,
            tokens: total_tokens,
            elapsed_ms: 600_000,
            sources: Default::default(),
        },
    );
    store.append(&s.out).unwrap();
    for (rank, grade) in &p.grades {
        store
            .save_feedback(&Feedback {
                id: Feedback::new_id(),
                parent: None,
                spans: Vec::new(),
                trace_id: s.trace,
                span_id: causes[*rank].hypotheses[0],
                target: "root_cause".into(),
                rating: None,
                grade: Some(*grade),
                highlight: None,
                comment: None,
                author: "alice".into(),
                at: Timestamp::now(),
                bundle_id: "b-1234abcd".into(),
            })
            .unwrap();
    }
    s.trace
}

fn br(strategy: &'static str, calls: u32, after: i64, cause: (&'static str, FaultKind)) -> Br {
    Br {
        strategy,
        calls,
        tokens: 0,
        after,
        cause,
    }
}

/// A hostile alert name: a screen clear and a right-to-left override.
pub const HOSTILE: &str = "DiskFull\u{1b}[2J\u{202e}evil";

/// The planted history the insights tests and the cockpit snapshot read:
/// three CheckoutLatencyHigh (two graded, one failed), one hostile-named
/// alert run by a model, and one old investigation 30 days back.
pub fn history(store: &Store) {
    use FaultKind::*;
    use Grade::*;
    let pool = ("orders-db", ConnectionPoolExhaustion);
    let deploy = ("checkout", BadDeploy);
    let plans = [
        Plan {
            alert: "CheckoutLatencyHigh",
            ago: 3600,
            fired: 60,
            branches: vec![br("metrics-first", 6, 30, pool), br("logs-first", 4, 90, deploy)],
            causes: vec![0, 1],
            grades: vec![(0, Correct)],
            status: InvestigationStatus::Done,
            cost_microusd: 0,
        },
        Plan {
            alert: "CheckoutLatencyHigh",
            ago: 7200,
            fired: 120,
            branches: vec![br("metrics-first", 12, 60, deploy), br("logs-first", 8, 30, pool)],
            causes: vec![0, 1],
            // A first grade changed: the later one counts.
            grades: vec![(1, Wrong), (0, Wrong), (1, Correct)],
            status: InvestigationStatus::Done,
            cost_microusd: 0,
        },
        Plan {
            alert: "CheckoutLatencyHigh",
            ago: 10_800,
            fired: 0,
            branches: vec![br("metrics-first", 30, 40, ("checkout", CpuSaturation))],
            causes: vec![0],
            grades: vec![],
            status: InvestigationStatus::Failed,
            cost_microusd: 0,
        },
        Plan {
            alert: HOSTILE,
            ago: 1800,
            fired: 10,
            branches: vec![Br {
                tokens: 1200,
                ..br("metrics-first", 4, 5, ("wiki-db", DiskFull))
            }],
            causes: vec![0],
            grades: vec![(0, Partly)],
            status: InvestigationStatus::Done,
            cost_microusd: 3000,
        },
        Plan {
            alert: "OldAlert",
            ago: 30 * 86_400,
            fired: 0,
            branches: vec![br("changes-first", 2, 20, deploy)],
            causes: vec![0],
            grades: vec![(0, Correct)],
            status: InvestigationStatus::Done,
            cost_microusd: 0,
        },
    ];
    for p in &plans {
        plant(store, p);
    }
}
