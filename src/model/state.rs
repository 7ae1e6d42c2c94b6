//! An investigation's state as a fold over its events. The live view, replay,
//! reports and export all read this one fold.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{
    Alert, Allotment, BranchStatus, Budget, CallStatus, Event, EventKind, Evidence, GuidanceScope, Hypothesis,
    InvestigationStatus, RootCause, SourcesRead, SpanId, Timestamp, TraceId,
};

#[derive(Clone, Debug, PartialEq, Serialize)]
pub enum Step {
    Thought {
        span: SpanId,
        at: Timestamp,
        text: String,
    },
    ToolCall {
        span: SpanId,
        at: Timestamp,
        tool: String,
        args: serde_json::Value,
        status: Option<CallStatus>,
        duration_ms: Option<u64>,
        summary: Option<String>,
        evidence: Option<SpanId>,
        error: Option<String>,
    },
    Guidance {
        span: SpanId,
        at: Timestamp,
        text: String,
        author: String,
    },
    Hypothesis {
        span: SpanId,
        at: Timestamp,
        hypothesis: Hypothesis,
    },
    Status {
        span: SpanId,
        at: Timestamp,
        status: BranchStatus,
        reason: Option<String>,
    },
}

impl Step {
    pub fn at(&self) -> Timestamp {
        match self {
            Step::Thought { at, .. }
            | Step::ToolCall { at, .. }
            | Step::Guidance { at, .. }
            | Step::Hypothesis { at, .. }
            | Step::Status { at, .. } => *at,
        }
    }

    pub fn span(&self) -> SpanId {
        match self {
            Step::Thought { span, .. }
            | Step::ToolCall { span, .. }
            | Step::Guidance { span, .. }
            | Step::Hypothesis { span, .. }
            | Step::Status { span, .. } => *span,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct BranchState {
    pub span: SpanId,
    pub strategy: String,
    pub title: String,
    pub parent: Option<SpanId>,
    pub status: BranchStatus,
    pub started_at: Timestamp,
    pub ended_at: Option<Timestamp>,
    pub steps: Vec<Step>,
    pub hypotheses: Vec<(SpanId, Hypothesis)>,
    pub tool_calls: u32,
    pub tokens: u64,
    /// Its own share of the budget and why, when past grades set one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allotment: Option<Allotment>,
    /// Grows whenever the fold touches the branch, so a view can keep what it
    /// drew from an unchanged branch.
    #[serde(skip)]
    pub revision: u64,
}

impl BranchState {
    /// The branch's most confident hypothesis, if any.
    pub fn best(&self) -> Option<&Hypothesis> {
        self.hypotheses
            .iter()
            .map(|(_, h)| h)
            .max_by(|a, b| a.confidence.total_cmp(&b.confidence))
    }

    /// The confidence of [`best`](Self::best).
    pub fn best_confidence(&self) -> Option<f64> {
        self.best().map(|h| h.confidence)
    }
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct EvidenceState {
    pub span: SpanId,
    /// The tool call that produced it.
    pub tool_call: Option<SpanId>,
    pub branch: Option<SpanId>,
    pub evidence: Evidence,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct InvestigationState {
    pub trace_id: TraceId,
    pub root_span: SpanId,
    pub alert: Alert,
    pub bundle_id: String,
    pub reasoner: String,
    pub budget: Budget,
    pub strategies: Vec<String>,
    pub source: String,
    pub now: Timestamp,
    pub started_at: Timestamp,
    pub finished_at: Option<Timestamp>,
    pub status: InvestigationStatus,
    pub branches: Vec<BranchState>,
    pub evidence: BTreeMap<SpanId, EvidenceState>,
    pub root_causes: Vec<RootCause>,
    /// The sources the conclusion rests on and those that could not be read.
    pub sources: SourcesRead,
    /// Investigation-wide guidance, in order.
    pub guidance: Vec<(SpanId, String)>,
    /// The same guidance as steps (time and author), shown in every branch's stream.
    pub guidance_steps: Vec<Step>,
    pub tool_calls: u32,
    pub tokens: u64,
    /// Model cost so far, millionths of a US dollar.
    pub cost_microusd: u64,
    /// Of `tokens`, how many were estimated because the server reported no usage.
    pub estimated_tokens: u64,
    pub elapsed_ms: u64,
    pub last_seq: u64,
    pub events: u64,
    /// Commands the engine refused, with its reason.
    pub rejected: Vec<(String, String)>,
}

/// Why events could not be folded.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FoldError {
    #[error("the first event must be investigation_started, found {0}")]
    NotStarted(&'static str),
    #[error("event {seq} belongs to trace {found}, not {expected}")]
    OtherTrace {
        seq: u64,
        expected: TraceId,
        found: TraceId,
    },
    #[error("seq {seq} does not follow {last}")]
    OutOfOrder { seq: u64, last: u64 },
    #[error("no events")]
    Empty,
}

impl InvestigationState {
    /// Starts a fold from the first event, which must be `investigation_started`.
    pub fn start(e: &Event) -> Result<Self, FoldError> {
        let EventKind::InvestigationStarted {
            alert,
            bundle_id,
            reasoner,
            budget,
            strategies,
            source,
            now,
        } = &e.kind
        else {
            return Err(FoldError::NotStarted(e.kind.name()));
        };
        Ok(InvestigationState {
            trace_id: e.trace_id,
            root_span: e.span_id,
            alert: (**alert).clone(),
            bundle_id: bundle_id.clone(),
            reasoner: reasoner.clone(),
            budget: *budget,
            strategies: strategies.clone(),
            source: source.clone(),
            now: *now,
            started_at: e.at,
            finished_at: None,
            status: InvestigationStatus::Running,
            branches: Vec::new(),
            evidence: BTreeMap::new(),
            root_causes: Vec::new(),
            sources: SourcesRead::default(),
            guidance: Vec::new(),
            guidance_steps: Vec::new(),
            tool_calls: 0,
            tokens: 0,
            cost_microusd: 0,
            estimated_tokens: 0,
            elapsed_ms: 0,
            last_seq: e.seq,
            events: 1,
            rejected: Vec::new(),
        })
    }

    /// Folds a whole event list.
    pub fn fold<'a>(events: impl IntoIterator<Item = &'a Event>) -> Result<Self, FoldError> {
        let mut it = events.into_iter();
        let first = it.next().ok_or(FoldError::Empty)?;
        let mut st = InvestigationState::start(first)?;
        for e in it {
            st.apply(e)?;
        }
        Ok(st)
    }

    pub fn branch(&self, span: SpanId) -> Option<&BranchState> {
        self.branches.iter().find(|b| b.span == span)
    }

    /// The branch, its revision bumped: every change to a branch goes through here.
    fn branch_mut(&mut self, span: SpanId) -> Option<&mut BranchState> {
        let b = self.branches.iter_mut().find(|b| b.span == span)?;
        b.revision += 1;
        Some(b)
    }

    /// The branch a span belongs to: itself, or the branch of its parent chain.
    fn owning_branch(&self, span: SpanId, parent: Option<SpanId>) -> Option<SpanId> {
        if self.branch(span).is_some() {
            return Some(span);
        }
        let p = parent?;
        if self.branch(p).is_some() {
            return Some(p);
        }
        // Evidence hangs off a tool call, which hangs off a branch.
        self.branches
            .iter()
            .find(|b| b.steps.iter().any(|s| s.span() == p))
            .map(|b| b.span)
    }

    /// Applies one event. Events must come in `seq` order.
    pub fn apply(&mut self, e: &Event) -> Result<(), FoldError> {
        self.check_follows(e)?;
        self.last_seq = e.seq;
        self.events += 1;
        match &e.kind {
            EventKind::InvestigationStarted { .. } => {}
            EventKind::BranchStarted {
                strategy,
                title,
                parent_branch,
                allotment,
                ..
            } => self.branch_started(e, strategy, title, *parent_branch, allotment.clone()),
            EventKind::ThoughtDelta { text } => self.thought_delta(e, text),
            EventKind::ToolCallStarted { tool, args } => self.tool_call_started(e, tool, args),
            EventKind::ToolCallFinished {
                status,
                duration_ms,
                summary,
                evidence_span_id,
                error,
                ..
            } => self.tool_call_finished(e, *status, *duration_ms, summary, *evidence_span_id, error),
            EventKind::EvidenceAdded { evidence } => self.evidence_added(e, evidence),
            EventKind::HypothesisProposed { hypothesis } => self.hypothesis_proposed(e, hypothesis),
            EventKind::GuidanceApplied {
                scope,
                branch,
                text,
                author,
            } => self.guidance_applied(e, *scope, *branch, text, author),
            EventKind::BranchStatusChanged { status, reason } => self.branch_status_changed(e, *status, reason),
            EventKind::BudgetUsed {
                tool_calls,
                tokens,
                elapsed_ms,
                branch_tokens,
                cost_microusd,
                estimated_tokens,
                ..
            } => {
                self.set_totals(*tool_calls, *tokens, *elapsed_ms);
                self.estimated_tokens = self.estimated_tokens.max(*estimated_tokens);
                self.budget_used(e.span_id, *branch_tokens, *cost_microusd);
            }
            EventKind::BudgetChanged { budget } => self.budget = *budget,
            EventKind::CommandRejected { command, reason } => self.rejected.push((command.clone(), reason.clone())),
            EventKind::ConclusionUpdated { root_causes, sources } => {
                self.root_causes = root_causes.clone();
                self.sources = sources.clone();
            }
            EventKind::InvestigationFinished {
                status,
                root_causes,
                tool_calls,
                tokens,
                elapsed_ms,
                sources,
            } => {
                self.set_totals(*tool_calls, *tokens, *elapsed_ms);
                self.sources = sources.clone();
                self.investigation_finished(e.at, *status, root_causes);
            }
        }
        Ok(())
    }

    /// Refuses an event from another investigation or out of order, before anything changes.
    fn check_follows(&self, e: &Event) -> Result<(), FoldError> {
        if e.trace_id != self.trace_id {
            return Err(FoldError::OtherTrace {
                seq: e.seq,
                expected: self.trace_id,
                found: e.trace_id,
            });
        }
        if e.seq <= self.last_seq {
            return Err(FoldError::OutOfOrder {
                seq: e.seq,
                last: self.last_seq,
            });
        }
        Ok(())
    }

    fn branch_started(
        &mut self,
        e: &Event,
        strategy: &str,
        title: &str,
        parent: Option<SpanId>,
        allotment: Option<Allotment>,
    ) {
        self.branches.push(BranchState {
            allotment,
            span: e.span_id,
            strategy: strategy.to_string(),
            title: title.to_string(),
            parent,
            status: BranchStatus::Queued,
            started_at: e.at,
            ended_at: None,
            steps: Vec::new(),
            hypotheses: Vec::new(),
            tool_calls: 0,
            tokens: 0,
            revision: 0,
        });
    }

    /// The branch an event's span belongs to, to change.
    fn owning_branch_mut(&mut self, e: &Event) -> Option<&mut BranchState> {
        let bid = self.owning_branch(e.span_id, e.parent_span_id)?;
        self.branch_mut(bid)
    }

    /// Deltas of one thought arrive as one span; they read as one step.
    fn thought_delta(&mut self, e: &Event, text: &str) {
        let Some(b) = self.owning_branch_mut(e) else {
            return;
        };
        match b.steps.last_mut() {
            Some(Step::Thought { span, text: t, .. }) if *span == e.span_id => t.push_str(text),
            _ => b.steps.push(Step::Thought {
                span: e.span_id,
                at: e.at,
                text: text.to_string(),
            }),
        }
    }

    fn tool_call_started(&mut self, e: &Event, tool: &str, args: &serde_json::Value) {
        if let Some(b) = self.owning_branch_mut(e) {
            b.steps.push(Step::ToolCall {
                span: e.span_id,
                at: e.at,
                tool: tool.to_string(),
                args: args.clone(),
                status: None,
                duration_ms: None,
                summary: None,
                evidence: None,
                error: None,
            });
        }
    }

    /// Completes the step its start opened, latest first.
    fn tool_call_finished(
        &mut self,
        e: &Event,
        st: CallStatus,
        d: u64,
        s: &str,
        evidence_span_id: Option<SpanId>,
        err: &Option<String>,
    ) {
        let Some(b) = self.owning_branch_mut(e) else {
            return;
        };
        b.tool_calls += 1;
        for step in b.steps.iter_mut().rev() {
            if let Step::ToolCall {
                span,
                status,
                duration_ms,
                summary,
                evidence,
                error,
                ..
            } = step
                && *span == e.span_id
            {
                *status = Some(st);
                *duration_ms = Some(d);
                *summary = Some(s.to_string());
                *evidence = evidence_span_id;
                *error = err.clone();
                break;
            }
        }
    }

    fn evidence_added(&mut self, e: &Event, evidence: &Evidence) {
        let branch = self.owning_branch(e.span_id, e.parent_span_id);
        self.evidence.insert(
            e.span_id,
            EvidenceState {
                span: e.span_id,
                tool_call: e.parent_span_id,
                branch,
                evidence: evidence.clone(),
            },
        );
    }

    fn hypothesis_proposed(&mut self, e: &Event, hypothesis: &Hypothesis) {
        if let Some(b) = self.owning_branch_mut(e) {
            b.hypotheses.push((e.span_id, hypothesis.clone()));
            b.steps.push(Step::Hypothesis {
                span: e.span_id,
                at: e.at,
                hypothesis: hypothesis.clone(),
            });
        }
    }

    /// Branch guidance goes to that branch's stream; anything else is investigation-wide.
    fn guidance_applied(&mut self, e: &Event, scope: GuidanceScope, branch: Option<SpanId>, text: &str, author: &str) {
        let step = Step::Guidance {
            span: e.span_id,
            at: e.at,
            text: text.to_string(),
            author: author.to_string(),
        };
        match (scope, branch) {
            (GuidanceScope::Branch, Some(bid)) => {
                if let Some(b) = self.branch_mut(bid) {
                    b.steps.push(step);
                }
            }
            _ => {
                self.guidance.push((e.span_id, text.to_string()));
                self.guidance_steps.push(step);
            }
        }
    }

    fn branch_status_changed(&mut self, e: &Event, status: BranchStatus, reason: &Option<String>) {
        if let Some(b) = self.branch_mut(e.span_id) {
            b.status = status;
            if !status.is_live() {
                b.ended_at = Some(e.at);
            }
            b.steps.push(Step::Status {
                span: e.span_id,
                at: e.at,
                status,
                reason: reason.clone(),
            });
        }
    }

    /// The engine reports running totals, not increments.
    fn set_totals(&mut self, tool_calls: u32, tokens: u64, elapsed_ms: u64) {
        self.tool_calls = tool_calls;
        self.tokens = tokens;
        self.elapsed_ms = elapsed_ms;
    }

    /// Cost only grows, so a late, lower report does not lower it.
    fn budget_used(&mut self, branch: SpanId, branch_tokens: u64, cost_microusd: u64) {
        self.cost_microusd = self.cost_microusd.max(cost_microusd);
        if let Some(b) = self.branch_mut(branch) {
            b.tokens = branch_tokens;
        }
    }

    fn investigation_finished(&mut self, at: Timestamp, status: InvestigationStatus, root_causes: &[RootCause]) {
        self.status = status;
        self.root_causes = root_causes.to_vec();
        self.finished_at = Some(at);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{EVENT_VERSION, EvidenceKind, FaultKind};

    fn trace(n: u8) -> TraceId {
        TraceId::from_bytes([n; 16]).unwrap()
    }

    fn span(n: u8) -> SpanId {
        SpanId::from_bytes([0, 0, 0, 0, 0, 0, 0, n]).unwrap()
    }

    const ROOT: u8 = 1;
    const BRANCH: u8 = 2;

    /// Builds events of one trace with increasing `seq` and time.
    struct Events {
        trace: TraceId,
        seq: u64,
    }

    impl Events {
        fn new() -> Self {
            Events {
                trace: trace(7),
                seq: 0,
            }
        }

        fn next(&mut self, span_id: u8, parent: Option<u8>, kind: EventKind) -> Event {
            self.seq += 1;
            Event {
                v: EVENT_VERSION,
                trace_id: self.trace,
                span_id: span(span_id),
                parent_span_id: parent.map(span),
                seq: self.seq,
                at: Timestamp(1_000 * self.seq as i64),
                kind,
            }
        }

        fn started(&mut self) -> Event {
            let alert = Alert {
                source: "file".into(),
                name: "CheckoutLatencyHigh".into(),
                labels: [("service".to_string(), "checkout".to_string())].into(),
                annotations: BTreeMap::new(),
                severity: "page".into(),
                starts_at: Timestamp(0),
                fingerprint: "f".into(),
            };
            self.next(
                ROOT,
                None,
                EventKind::InvestigationStarted {
                    alert: Box::new(alert),
                    bundle_id: "b".into(),
                    reasoner: "builtin".into(),
                    budget: Budget::default(),
                    strategies: vec!["metrics".into()],
                    source: "sim:test".into(),
                    now: Timestamp(500),
                },
            )
        }

        fn branch(&mut self, id: u8) -> Event {
            self.next(
                id,
                Some(ROOT),
                EventKind::BranchStarted {
                    strategy: "metrics".into(),
                    title: "RED metrics".into(),
                    parent_branch: None,
                    guidance: None,
                    allotment: None,
                },
            )
        }

        fn status(&mut self, id: u8, status: BranchStatus) -> Event {
            self.next(
                id,
                Some(ROOT),
                EventKind::BranchStatusChanged {
                    status,
                    reason: Some(status.as_str().into()),
                },
            )
        }
    }

    /// A started investigation with one branch.
    fn with_branch() -> (Events, InvestigationState) {
        let mut ev = Events::new();
        let first = ev.started();
        let branch = ev.branch(BRANCH);
        let st = InvestigationState::fold([&first, &branch]).unwrap();
        (ev, st)
    }

    fn hypothesis(service: &str, confidence: f64) -> Hypothesis {
        Hypothesis {
            service: service.into(),
            kind: FaultKind::BadDeploy,
            statement: format!("{service} was deployed"),
            confidence,
            evidence: vec![span(9)],
            kind_confidence: 1.0,
        }
    }

    fn root_cause(service: &str, confidence: f64) -> RootCause {
        RootCause {
            service: service.into(),
            kind: FaultKind::BadDeploy,
            confidence,
            statement: "a bad deploy".into(),
            evidence: vec![],
            branches: vec![span(BRANCH)],
            hypotheses: vec![],
            evidence_confidence: None,
        }
    }

    #[test]
    fn the_start_sets_up_a_running_investigation() {
        let mut ev = Events::new();
        let st = InvestigationState::start(&ev.started()).unwrap();
        assert_eq!(st.trace_id, trace(7));
        assert_eq!(st.root_span, span(ROOT));
        assert_eq!(st.alert.name, "CheckoutLatencyHigh");
        assert_eq!(st.status, InvestigationStatus::Running);
        assert_eq!(st.now, Timestamp(500));
        assert_eq!((st.last_seq, st.events), (1, 1));
        assert!(st.branches.is_empty() && st.finished_at.is_none());
    }

    #[test]
    fn a_branch_starts_queued_and_its_status_changes_are_steps() {
        let (mut ev, mut st) = with_branch();
        let b = st.branch(span(BRANCH)).unwrap();
        assert_eq!(
            (b.status, b.started_at, b.ended_at),
            (BranchStatus::Queued, Timestamp(2_000), None)
        );
        assert_eq!(b.strategy, "metrics");

        for s in [BranchStatus::Running, BranchStatus::Paused, BranchStatus::Running] {
            st.apply(&ev.status(BRANCH, s)).unwrap();
            let b = st.branch(span(BRANCH)).unwrap();
            assert_eq!(b.status, s);
            assert_eq!(b.ended_at, None, "a paused or resumed branch has not ended");
        }
        let b = st.branch(span(BRANCH)).unwrap();
        let statuses: Vec<_> = b
            .steps
            .iter()
            .map(|s| match s {
                Step::Status { status, reason, .. } => (*status, reason.clone().unwrap()),
                other => panic!("unexpected step {other:?}"),
            })
            .collect();
        assert_eq!(
            statuses,
            vec![
                (BranchStatus::Running, "running".to_string()),
                (BranchStatus::Paused, "paused".to_string()),
                (BranchStatus::Running, "running".to_string()),
            ]
        );
    }

    #[test]
    fn pruned_and_out_of_budget_branches_end() {
        for end in [BranchStatus::Pruned, BranchStatus::OutOfBudget, BranchStatus::Done] {
            let (mut ev, mut st) = with_branch();
            st.apply(&ev.status(BRANCH, BranchStatus::Running)).unwrap();
            let e = ev.status(BRANCH, end);
            st.apply(&e).unwrap();
            let b = st.branch(span(BRANCH)).unwrap();
            assert_eq!(b.status, end);
            assert_eq!(b.ended_at, Some(e.at), "{end:?}");
        }
    }

    #[test]
    fn thought_deltas_of_one_span_grow_one_step() {
        let (mut ev, mut st) = with_branch();
        for text in ["checking ", "the error rate"] {
            st.apply(&ev.next(10, Some(BRANCH), EventKind::ThoughtDelta { text: text.into() }))
                .unwrap();
        }
        st.apply(&ev.next(11, Some(BRANCH), EventKind::ThoughtDelta { text: "next".into() }))
            .unwrap();
        let steps = &st.branch(span(BRANCH)).unwrap().steps;
        assert_eq!(steps.len(), 2);
        assert!(
            matches!(&steps[0], Step::Thought { span: s, text, at } if *s == span(10) && text == "checking the error rate" && *at == Timestamp(3_000))
        );
        assert!(matches!(&steps[1], Step::Thought { span: s, text, .. } if *s == span(11) && text == "next"));
    }

    #[test]
    fn a_tool_call_finishes_in_place_with_its_evidence() {
        let (mut ev, mut st) = with_branch();
        let args = serde_json::json!({"query": "up"});
        st.apply(&ev.next(
            20,
            Some(BRANCH),
            EventKind::ToolCallStarted {
                tool: "prometheus.query".into(),
                args: args.clone(),
            },
        ))
        .unwrap();
        let evidence = Evidence {
            kind: EvidenceKind::MetricSeries,
            summary: "up is 0".into(),
            syntax: "json".into(),
            body: "[]".into(),
        };
        st.apply(&ev.next(
            21,
            Some(20),
            EventKind::EvidenceAdded {
                evidence: evidence.clone(),
            },
        ))
        .unwrap();
        st.apply(&ev.next(
            20,
            Some(BRANCH),
            EventKind::ToolCallFinished {
                tool: "prometheus.query".into(),
                status: CallStatus::Ok,
                duration_ms: 42,
                summary: "1 series".into(),
                evidence_span_id: Some(span(21)),
                error: None,
            },
        ))
        .unwrap();

        let b = st.branch(span(BRANCH)).unwrap();
        assert_eq!(b.tool_calls, 1);
        assert_eq!(b.steps.len(), 1, "the finish completes the started step");
        assert_eq!(
            b.steps[0],
            Step::ToolCall {
                span: span(20),
                at: Timestamp(3_000),
                tool: "prometheus.query".into(),
                args,
                status: Some(CallStatus::Ok),
                duration_ms: Some(42),
                summary: Some("1 series".into()),
                evidence: Some(span(21)),
                error: None,
            }
        );
        let kept = &st.evidence[&span(21)];
        assert_eq!(kept.tool_call, Some(span(20)));
        assert_eq!(
            kept.branch,
            Some(span(BRANCH)),
            "evidence belongs to its tool call's branch"
        );
        assert_eq!(kept.evidence, evidence);
    }

    #[test]
    fn a_failed_tool_call_keeps_its_error() {
        let (mut ev, mut st) = with_branch();
        let started = EventKind::ToolCallStarted {
            tool: "loki.query".into(),
            args: serde_json::Value::Null,
        };
        st.apply(&ev.next(20, Some(BRANCH), started)).unwrap();
        st.apply(&ev.next(
            20,
            Some(BRANCH),
            EventKind::ToolCallFinished {
                tool: "loki.query".into(),
                status: CallStatus::Error,
                duration_ms: 5_000,
                summary: "timed out".into(),
                evidence_span_id: None,
                error: Some("timeout after 5 s".into()),
            },
        ))
        .unwrap();
        let Step::ToolCall {
            status,
            error,
            evidence,
            ..
        } = &st.branch(span(BRANCH)).unwrap().steps[0]
        else {
            panic!("not a tool call");
        };
        assert_eq!(*status, Some(CallStatus::Error));
        assert_eq!(error.as_deref(), Some("timeout after 5 s"));
        assert_eq!(*evidence, None);
    }

    #[test]
    fn hypotheses_are_kept_and_shown_and_the_best_wins() {
        let (mut ev, mut st) = with_branch();
        for (id, h) in [(30, hypothesis("checkout", 0.4)), (31, hypothesis("payments", 0.8))] {
            st.apply(&ev.next(id, Some(BRANCH), EventKind::HypothesisProposed { hypothesis: h }))
                .unwrap();
        }
        let b = st.branch(span(BRANCH)).unwrap();
        assert_eq!(b.hypotheses.len(), 2);
        assert_eq!(b.hypotheses[1], (span(31), hypothesis("payments", 0.8)));
        assert!(matches!(&b.steps[0], Step::Hypothesis { hypothesis, .. } if hypothesis.service == "checkout"));
        assert_eq!(b.best().unwrap().service, "payments");
        assert_eq!(b.best_confidence(), Some(0.8));
    }

    #[test]
    fn guidance_goes_to_its_scope() {
        let (mut ev, mut st) = with_branch();
        st.apply(&ev.next(
            40,
            Some(ROOT),
            EventKind::GuidanceApplied {
                scope: GuidanceScope::Investigation,
                branch: None,
                text: "look at the deploy".into(),
                author: "ana".into(),
            },
        ))
        .unwrap();
        st.apply(&ev.next(
            41,
            Some(BRANCH),
            EventKind::GuidanceApplied {
                scope: GuidanceScope::Branch,
                branch: Some(span(BRANCH)),
                text: "only checkout".into(),
                author: "bo".into(),
            },
        ))
        .unwrap();

        assert_eq!(st.guidance, vec![(span(40), "look at the deploy".to_string())]);
        assert!(
            matches!(&st.guidance_steps[..], [Step::Guidance { text, author, .. }] if text == "look at the deploy" && author == "ana")
        );
        let steps = &st.branch(span(BRANCH)).unwrap().steps;
        assert!(
            matches!(&steps[..], [Step::Guidance { span: s, text, author, .. }] if *s == span(41) && text == "only checkout" && author == "bo")
        );
    }

    #[test]
    fn budget_reports_set_totals_and_cost_never_drops() {
        let (mut ev, mut st) = with_branch();
        let used = |cost| EventKind::BudgetUsed {
            tool_calls: 3,
            tokens: 900,
            elapsed_ms: 1_500,
            branch_tool_calls: 3,
            branch_tokens: 400,
            cost_microusd: cost,
            estimated_tokens: 0,
        };
        st.apply(&ev.next(BRANCH, Some(ROOT), used(250))).unwrap();
        st.apply(&ev.next(BRANCH, Some(ROOT), used(100))).unwrap();
        assert_eq!((st.tool_calls, st.tokens, st.elapsed_ms), (3, 900, 1_500));
        assert_eq!(st.cost_microusd, 250, "a late, lower cost does not lower it");
        assert_eq!(st.branch(span(BRANCH)).unwrap().tokens, 400);

        let budget = Budget {
            tool_calls: 10,
            ..Budget::default()
        };
        st.apply(&ev.next(ROOT, None, EventKind::BudgetChanged { budget }))
            .unwrap();
        assert_eq!(st.budget, budget);
    }

    #[test]
    fn rejected_commands_are_kept_with_their_reason() {
        let (mut ev, mut st) = with_branch();
        let kind = EventKind::CommandRejected {
            command: "prune".into(),
            reason: "no such branch".into(),
        };
        st.apply(&ev.next(ROOT, None, kind)).unwrap();
        assert_eq!(st.rejected, vec![("prune".to_string(), "no such branch".to_string())]);
    }

    #[test]
    fn the_conclusion_is_replaced_and_the_finish_sets_the_final_word() {
        let (mut ev, mut st) = with_branch();
        for rc in [root_cause("checkout", 0.5), root_cause("payments", 0.7)] {
            st.apply(&ev.next(
                ROOT,
                None,
                EventKind::ConclusionUpdated {
                    root_causes: vec![rc],
                    sources: SourcesRead::default(),
                },
            ))
            .unwrap();
        }
        assert_eq!(st.root_causes, vec![root_cause("payments", 0.7)]);
        assert_eq!(st.status, InvestigationStatus::Running);

        let fin = ev.next(
            ROOT,
            None,
            EventKind::InvestigationFinished {
                status: InvestigationStatus::Done,
                root_causes: vec![root_cause("payments", 0.9)],
                tool_calls: 12,
                tokens: 0,
                elapsed_ms: 8_000,
                sources: SourcesRead::default(),
            },
        );
        st.apply(&fin).unwrap();
        assert_eq!(st.status, InvestigationStatus::Done);
        assert_eq!(st.root_causes, vec![root_cause("payments", 0.9)]);
        assert_eq!((st.tool_calls, st.elapsed_ms), (12, 8_000));
        assert_eq!(st.finished_at, Some(fin.at));
        assert_eq!((st.last_seq, st.events), (fin.seq, 5));
    }

    #[test]
    fn an_event_of_another_trace_is_refused_and_changes_nothing() {
        let (mut ev, mut st) = with_branch();
        let mut e = ev.status(BRANCH, BranchStatus::Running);
        e.trace_id = trace(8);
        let before = st.clone();
        assert_eq!(
            st.apply(&e),
            Err(FoldError::OtherTrace {
                seq: e.seq,
                expected: trace(7),
                found: trace(8)
            })
        );
        assert_eq!(st, before);
    }

    #[test]
    fn an_event_out_of_order_is_refused_and_changes_nothing() {
        let (mut ev, mut st) = with_branch();
        let later = ev.status(BRANCH, BranchStatus::Running);
        let mut same = ev.status(BRANCH, BranchStatus::Pruned);
        same.seq = 2;
        let before = st.clone();
        assert_eq!(st.apply(&same), Err(FoldError::OutOfOrder { seq: 2, last: 2 }));
        assert_eq!(st, before);
        st.apply(&later).unwrap();
        let mut earlier = ev.status(BRANCH, BranchStatus::Done);
        earlier.seq = 1;
        let before = st.clone();
        assert_eq!(st.apply(&earlier), Err(FoldError::OutOfOrder { seq: 1, last: 3 }));
        assert_eq!(st, before);
    }

    #[test]
    fn a_fold_must_begin_with_the_start() {
        let mut ev = Events::new();
        let branch = ev.branch(BRANCH);
        let started = ev.started();
        assert_eq!(
            InvestigationState::start(&branch),
            Err(FoldError::NotStarted("branch_started"))
        );
        assert_eq!(
            InvestigationState::fold([&branch, &started]),
            Err(FoldError::NotStarted("branch_started"))
        );
        assert_eq!(InvestigationState::fold([]), Err(FoldError::Empty));
    }
}
