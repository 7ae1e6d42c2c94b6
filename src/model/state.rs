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
        self.last_seq = e.seq;
        self.events += 1;
        match &e.kind {
            EventKind::InvestigationStarted { .. } => {}
            EventKind::BranchStarted {
                strategy,
                title,
                parent_branch,
                ..
            } => {
                self.branches.push(BranchState {
                    span: e.span_id,
                    strategy: strategy.clone(),
                    title: title.clone(),
                    parent: *parent_branch,
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
            EventKind::ThoughtDelta { text } => {
                if let Some(bid) = self.owning_branch(e.span_id, e.parent_span_id)
                    && let Some(b) = self.branch_mut(bid)
                {
                    match b.steps.last_mut() {
                        Some(Step::Thought { span, text: t, .. }) if *span == e.span_id => t.push_str(text),
                        _ => b.steps.push(Step::Thought {
                            span: e.span_id,
                            at: e.at,
                            text: text.clone(),
                        }),
                    }
                }
            }
            EventKind::ToolCallStarted { tool, args } => {
                if let Some(bid) = self.owning_branch(e.span_id, e.parent_span_id)
                    && let Some(b) = self.branch_mut(bid)
                {
                    b.steps.push(Step::ToolCall {
                        span: e.span_id,
                        at: e.at,
                        tool: tool.clone(),
                        args: args.clone(),
                        status: None,
                        duration_ms: None,
                        summary: None,
                        evidence: None,
                        error: None,
                    });
                }
            }
            EventKind::ToolCallFinished {
                status: st,
                duration_ms: d,
                summary: s,
                evidence_span_id,
                error: err,
                ..
            } => {
                if let Some(bid) = self.owning_branch(e.span_id, e.parent_span_id)
                    && let Some(b) = self.branch_mut(bid)
                {
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
                            *status = Some(*st);
                            *duration_ms = Some(*d);
                            *summary = Some(s.clone());
                            *evidence = *evidence_span_id;
                            *error = err.clone();
                            break;
                        }
                    }
                }
            }
            EventKind::EvidenceAdded { evidence } => {
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
            EventKind::HypothesisProposed { hypothesis } => {
                if let Some(bid) = self.owning_branch(e.span_id, e.parent_span_id)
                    && let Some(b) = self.branch_mut(bid)
                {
                    b.hypotheses.push((e.span_id, hypothesis.clone()));
                    b.steps.push(Step::Hypothesis {
                        span: e.span_id,
                        at: e.at,
                        hypothesis: hypothesis.clone(),
                    });
                }
            }
            EventKind::GuidanceApplied {
                scope,
                branch,
                text,
                author,
            } => match (scope, branch) {
                (GuidanceScope::Branch, Some(bid)) => {
                    if let Some(b) = self.branch_mut(*bid) {
                        b.steps.push(Step::Guidance {
                            span: e.span_id,
                            at: e.at,
                            text: text.clone(),
                            author: author.clone(),
                        });
                    }
                }
                _ => {
                    self.guidance.push((e.span_id, text.clone()));
                    self.guidance_steps.push(Step::Guidance {
                        span: e.span_id,
                        at: e.at,
                        text: text.clone(),
                        author: author.clone(),
                    });
                }
            },
            EventKind::BranchStatusChanged { status, reason } => {
                if let Some(b) = self.branch_mut(e.span_id) {
                    b.status = *status;
                    if !status.is_live() {
                        b.ended_at = Some(e.at);
                    }
                    b.steps.push(Step::Status {
                        span: e.span_id,
                        at: e.at,
                        status: *status,
                        reason: reason.clone(),
                    });
                }
            }
            EventKind::BudgetUsed {
                tool_calls,
                tokens,
                elapsed_ms,
                branch_tokens,
                cost_microusd,
                ..
            } => {
                self.tool_calls = *tool_calls;
                self.tokens = *tokens;
                self.cost_microusd = self.cost_microusd.max(*cost_microusd);
                self.elapsed_ms = *elapsed_ms;
                if let Some(b) = self.branch_mut(e.span_id) {
                    b.tokens = *branch_tokens;
                }
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
                self.status = *status;
                self.root_causes = root_causes.clone();
                self.tool_calls = *tool_calls;
                self.tokens = *tokens;
                self.elapsed_ms = *elapsed_ms;
                self.finished_at = Some(e.at);
            }
        }
        Ok(())
    }
}
