//! An investigation's state as a fold over its events. The live view, replay,
//! reports and export all read this one fold.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{
    Alert, BranchStatus, Budget, CallStatus, Event, EventKind, Evidence, GuidanceScope, Hypothesis,
    InvestigationStatus, RootCause, SpanId, Timestamp, TraceId,
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
    /// Investigation-wide guidance, in order.
    pub guidance: Vec<(SpanId, String)>,
    /// The same guidance as steps (time and author), shown in every branch's stream.
    pub guidance_steps: Vec<Step>,
    pub tool_calls: u32,
    pub tokens: u64,
    /// Model cost so far, millionths of a US dollar.
    pub cost_microusd: u64,
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
            guidance: Vec::new(),
            guidance_steps: Vec::new(),
            tool_calls: 0,
            tokens: 0,
            cost_microusd: 0,
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

    fn branch_mut(&mut self, span: SpanId) -> Option<&mut BranchState> {
        self.branches.iter_mut().find(|b| b.span == span)
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
                ..
            } => self.branch_started(e, strategy, title, *parent_branch),
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
                ..
            } => {
                self.set_totals(*tool_calls, *tokens, *elapsed_ms);
                self.budget_used(e.span_id, *branch_tokens, *cost_microusd);
            }
            EventKind::BudgetChanged { budget } => self.budget = *budget,
            EventKind::CommandRejected { command, reason } => self.rejected.push((command.clone(), reason.clone())),
            EventKind::ConclusionUpdated { root_causes } => self.root_causes = root_causes.clone(),
            EventKind::InvestigationFinished {
                status,
                root_causes,
                tool_calls,
                tokens,
                elapsed_ms,
            } => {
                self.set_totals(*tool_calls, *tokens, *elapsed_ms);
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

    fn branch_started(&mut self, e: &Event, strategy: &str, title: &str, parent: Option<SpanId>) {
        self.branches.push(BranchState {
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
