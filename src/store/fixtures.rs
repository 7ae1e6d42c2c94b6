//! Test helpers: throwaway database directories and a realistic investigation.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use crate::model::{
    Alert, BranchStatus, Budget, CallStatus, EVENT_VERSION, Event, EventKind, Evidence, EvidenceKind, FaultKind,
    Hypothesis, InvestigationStatus, RootCause, SpanId, Timestamp, TraceId,
};

/// A directory under the system temp dir, removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "inquest-store-{name}-{}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed),
            Timestamp::now().0
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        TempDir(dir)
    }
    pub fn db(&self) -> PathBuf {
        self.0.join("inquest.db")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Builds events for one trace with increasing `seq` and time.
pub struct Trace {
    pub trace: TraceId,
    pub root: SpanId,
    seq: u64,
    at: Timestamp,
}

impl Trace {
    pub fn new(trace: TraceId, start: Timestamp) -> Trace {
        Trace {
            trace,
            root: SpanId::random(),
            seq: 0,
            at: start,
        }
    }

    pub fn event(&mut self, span: SpanId, parent: Option<SpanId>, kind: EventKind) -> Event {
        self.seq += 1;
        self.at = self.at + 250_000_000;
        Event {
            v: EVENT_VERSION,
            trace_id: self.trace,
            span_id: span,
            parent_span_id: parent,
            seq: self.seq,
            at: self.at,
            kind,
        }
    }

    pub fn started(&mut self, alert_name: &str, service: &str) -> Event {
        let root = self.root;
        let alert = Alert {
            source: "scenario".into(),
            name: alert_name.into(),
            labels: BTreeMap::from([("service".to_string(), service.to_string())]),
            annotations: BTreeMap::from([("summary".to_string(), "p99 latency above 2s".to_string())]),
            severity: "page".into(),
            starts_at: self.at,
            fingerprint: "f00d".into(),
        };
        self.event(
            root,
            None,
            EventKind::InvestigationStarted {
                alert: Box::new(alert),
                bundle_id: "b-1234abcd".into(),
                reasoner: "builtin".into(),
                budget: Budget::default(),
                strategies: vec!["metrics-first".into(), "logs-first".into()],
                source: "sim:pg-pool".into(),
                now: self.at,
            },
        )
    }

    pub fn thought(&mut self, branch: SpanId, text: &str) -> Event {
        self.event(
            SpanId::random(),
            Some(branch),
            EventKind::ThoughtDelta { text: text.into() },
        )
    }
}

/// A whole investigation: started, a branch, a tool call with large evidence,
/// a hypothesis, a conclusion and the finish.
pub fn realistic(trace: TraceId) -> Vec<Event> {
    let mut t = Trace::new(trace, Timestamp::from_secs(1_772_359_200));
    let root = t.root;
    let branch = SpanId::random();
    let call = SpanId::random();
    let evidence = SpanId::random();
    let hyp = SpanId::random();
    let body: String = (0..4000)
        .map(|i| {
            format!(
                "2026-03-01T10:12:{:02}Z ERROR FATAL: sorry, too many clients already (conn {i})\n",
                i % 60
            )
        })
        .collect();
    let cause = RootCause {
        service: "orders-db".into(),
        kind: FaultKind::ConnectionPoolExhaustion,
        confidence: 0.82,
        statement: "orders-db ran out of connections".into(),
        evidence: vec![evidence],
        branches: vec![branch],
        hypotheses: vec![hyp],
        evidence_confidence: None,
    };
    vec![
        t.started("CheckoutLatencyHigh", "checkout"),
        t.event(
            branch,
            Some(root),
            EventKind::BranchStarted {
                strategy: "logs-first".into(),
                title: "error logs around onset".into(),
                parent_branch: None,
                guidance: None,
                allotment: None,
            },
        ),
        t.event(
            branch,
            Some(root),
            EventKind::BranchStatusChanged {
                status: BranchStatus::Running,
                reason: None,
            },
        ),
        t.thought(branch, "Looking at logs first."),
        t.event(
            call,
            Some(branch),
            EventKind::ToolCallStarted {
                tool: "loki_query_range".into(),
                args: serde_json::json!({"query": "{service=\"orders-db\"} |= \"ERROR\"", "since": "30m"}),
            },
        ),
        t.event(
            call,
            Some(branch),
            EventKind::ToolCallFinished {
                tool: "loki_query_range".into(),
                status: CallStatus::Ok,
                duration_ms: 120,
                summary: "4000 lines, 1 new template".into(),
                evidence_span_id: Some(evidence),
                error: None,
            },
        ),
        t.event(
            evidence,
            Some(call),
            EventKind::EvidenceAdded {
                evidence: Evidence {
                    kind: EvidenceKind::LogLines,
                    summary: "orders-db logs: too many clients".into(),
                    syntax: "log".into(),
                    body,
                },
            },
        ),
        t.event(
            hyp,
            Some(branch),
            EventKind::HypothesisProposed {
                hypothesis: Hypothesis {
                    service: "orders-db".into(),
                    kind: FaultKind::ConnectionPoolExhaustion,
                    statement: "orders-db ran out of connections".into(),
                    confidence: 0.82,
                    evidence: vec![evidence],
                    kind_confidence: 1.0,
                },
            },
        ),
        t.event(
            root,
            None,
            EventKind::BudgetUsed {
                tool_calls: 1,
                tokens: 0,
                elapsed_ms: 1500,
                branch_tool_calls: 1,
                branch_tokens: 0,
                cost_microusd: 0,
                estimated_tokens: 0,
            },
        ),
        t.event(
            root,
            None,
            EventKind::ConclusionUpdated {
                root_causes: vec![cause.clone()],
                sources: Default::default(),
            },
        ),
        t.event(
            branch,
            Some(root),
            EventKind::BranchStatusChanged {
                status: BranchStatus::Done,
                reason: None,
            },
        ),
        t.event(
            root,
            None,
            EventKind::InvestigationFinished {
                status: InvestigationStatus::Done,
                root_causes: vec![cause],
                tool_calls: 1,
                tokens: 0,
                elapsed_ms: 2750,
                sources: Default::default(),
            },
        ),
    ]
}
