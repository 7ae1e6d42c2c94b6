//! What a reasoner sees of its branch: tools behind the guard, thoughts,
//! hypotheses, guidance, and the checkpoints where pause and budgets bite.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde_json::Value;
use tokio::sync::{mpsc, watch};

use crate::model::{Alert, Budget, CallStatus, EventKind, Hypothesis, SpanId, Timestamp};
use crate::sources::ToolData;
use crate::tools::{CallError, Guard, Strategy, render};

/// How a branch ended early.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BranchEnd {
    #[error("out of budget: {0}")]
    OutOfBudget(String),
    #[error("failed: {0}")]
    Failed(String),
}

// Nearly every message is an event; boxing it to shrink the rare `Finished`
// would allocate once per event.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Msg {
    Event {
        span: SpanId,
        parent: Option<SpanId>,
        kind: EventKind,
    },
    Finished {
        branch: SpanId,
        result: Result<(), BranchEnd>,
    },
}

/// State every branch of one investigation shares.
pub(crate) struct Shared {
    pub budget: Mutex<Budget>,
    pub tool_calls: AtomicU32,
    pub tokens: AtomicU64,
    pub cost_microusd: AtomicU64,
    pub started: Instant,
    pub guidance: Mutex<Vec<String>>,
}

impl Shared {
    pub fn budget(&self) -> Budget {
        self.budget.lock().map(|b| *b).unwrap_or_default()
    }
    pub fn elapsed_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }
}

/// The engine's handle on one branch.
pub(crate) struct Control {
    pub paused: watch::Sender<bool>,
    pub guidance: Mutex<Vec<String>>,
}

/// A tool call that came back with data.
pub struct Called {
    pub data: ToolData,
    pub call: SpanId,
    pub evidence: SpanId,
}

pub struct BranchCtx {
    pub span: SpanId,
    pub strategy: Strategy,
    pub alert: Alert,
    /// The instant the investigation looks back from.
    pub now: Timestamp,
    pub(crate) root: SpanId,
    pub(crate) tx: mpsc::UnboundedSender<Msg>,
    pub(crate) guard: Arc<Guard>,
    pub(crate) control: Arc<Control>,
    pub(crate) shared: Arc<Shared>,
    pub(crate) calls: AtomicU32,
    pub(crate) tokens: AtomicU64,
}

impl BranchCtx {
    fn send(&self, span: SpanId, parent: SpanId, kind: EventKind) {
        let _ = self.tx.send(Msg::Event {
            span,
            parent: Some(parent),
            kind,
        });
    }

    /// A new thought step; returns its span for streaming more text into it.
    pub fn think(&self, text: impl Into<String>) -> SpanId {
        let span = SpanId::random();
        self.send(span, self.span, EventKind::ThoughtDelta { text: text.into() });
        span
    }

    /// More streamed text for a thought.
    pub fn think_more(&self, thought: SpanId, text: impl Into<String>) {
        self.send(thought, self.span, EventKind::ThoughtDelta { text: text.into() });
    }

    /// Guidance so far: the investigation's, then this branch's.
    pub fn guidance(&self) -> Vec<String> {
        let mut g = self.shared.guidance.lock().map(|g| g.clone()).unwrap_or_default();
        if let Ok(b) = self.control.guidance.lock() {
            g.extend(b.iter().cloned());
        }
        g
    }

    /// Waits while paused and checks the wall-time budget.
    pub async fn checkpoint(&self) -> Result<(), BranchEnd> {
        let mut rx = self.control.paused.subscribe();
        while *rx.borrow_and_update() {
            if rx.changed().await.is_err() {
                break;
            }
        }
        let b = self.shared.budget();
        if self.shared.elapsed_ms() >= b.wall_ms {
            return Err(BranchEnd::OutOfBudget(format!(
                "wall-time budget of {} ms spent",
                b.wall_ms
            )));
        }
        Ok(())
    }

    /// Calls a tool through the read-only guard. `Ok(None)` when the call failed
    /// (the failure is in the trace and the branch can go on); `Err` ends the branch.
    pub async fn call(&self, tool: &str, args: Value) -> Result<Option<Called>, BranchEnd> {
        Ok(self.try_call(tool, args).await?.ok())
    }

    /// [`call`](Self::call), with the reason when the call failed (for a model to read).
    pub async fn try_call(&self, tool: &str, args: Value) -> Result<Result<Called, String>, BranchEnd> {
        self.checkpoint().await?;
        let budget = self.shared.budget();
        if let Some(limit) = budget.branch_tool_calls
            && self.calls.load(Ordering::SeqCst) >= limit
        {
            return Err(BranchEnd::OutOfBudget(format!(
                "this branch's tool-call budget of {limit} spent"
            )));
        }
        let limit = budget.tool_calls;
        let used = self.shared.tool_calls.fetch_add(1, Ordering::SeqCst);
        if used >= limit {
            self.shared.tool_calls.fetch_sub(1, Ordering::SeqCst);
            return Err(BranchEnd::OutOfBudget(format!("tool-call budget of {limit} spent")));
        }
        self.calls.fetch_add(1, Ordering::SeqCst);
        let call = SpanId::random();
        self.send(
            call,
            self.span,
            EventKind::ToolCallStarted {
                tool: tool.to_string(),
                args: args.clone(),
            },
        );
        let t0 = Instant::now();
        let result = self.guard.call(tool, &args).await;
        let duration_ms = t0.elapsed().as_millis() as u64;
        let out = match result {
            Ok(data) => {
                let ev = render::evidence(&data);
                let evidence = SpanId::random();
                let summary = ev.summary.clone();
                self.send(evidence, call, EventKind::EvidenceAdded { evidence: ev });
                self.send(
                    call,
                    self.span,
                    EventKind::ToolCallFinished {
                        tool: tool.to_string(),
                        status: CallStatus::Ok,
                        duration_ms,
                        summary,
                        evidence_span_id: Some(evidence),
                        error: None,
                    },
                );
                Ok(Called { data, call, evidence })
            }
            Err(e) => {
                let status = match e {
                    CallError::Refused(_) => CallStatus::Refused,
                    _ => CallStatus::Error,
                };
                self.send(
                    call,
                    self.span,
                    EventKind::ToolCallFinished {
                        tool: tool.to_string(),
                        status,
                        duration_ms,
                        summary: format!("{tool} failed"),
                        evidence_span_id: None,
                        error: Some(e.to_string()),
                    },
                );
                Err(e.to_string())
            }
        };
        self.send(
            self.span,
            self.root,
            EventKind::BudgetUsed {
                tool_calls: self.shared.tool_calls.load(Ordering::SeqCst),
                tokens: self.shared.tokens.load(Ordering::SeqCst),
                elapsed_ms: self.shared.elapsed_ms(),
                branch_tool_calls: self.calls.load(Ordering::SeqCst),
                branch_tokens: self.tokens.load(Ordering::SeqCst),
                cost_microusd: self.shared.cost_microusd.load(Ordering::SeqCst),
            },
        );
        Ok(out)
    }

    /// Proposes a root cause; returns the hypothesis span.
    pub async fn propose(&self, h: Hypothesis) -> Result<SpanId, BranchEnd> {
        self.checkpoint().await?;
        let span = SpanId::random();
        self.send(span, self.span, EventKind::HypothesisProposed { hypothesis: h });
        Ok(span)
    }

    /// Counts model tokens against the budget.
    pub fn add_tokens(&self, n: u64) -> Result<(), BranchEnd> {
        self.add_usage(n, 0)
    }

    /// Counts model tokens, and what they cost, against the budget.
    pub fn add_usage(&self, n: u64, cost_microusd: u64) -> Result<(), BranchEnd> {
        self.shared.cost_microusd.fetch_add(cost_microusd, Ordering::SeqCst);
        self.tokens.fetch_add(n, Ordering::SeqCst);
        let total = self.shared.tokens.fetch_add(n, Ordering::SeqCst) + n;
        self.send(
            self.span,
            self.root,
            EventKind::BudgetUsed {
                tool_calls: self.shared.tool_calls.load(Ordering::SeqCst),
                tokens: total,
                elapsed_ms: self.shared.elapsed_ms(),
                branch_tool_calls: self.calls.load(Ordering::SeqCst),
                branch_tokens: self.tokens.load(Ordering::SeqCst),
                cost_microusd: self.shared.cost_microusd.load(Ordering::SeqCst),
            },
        );
        let budget = self.shared.budget();
        if let Some(limit) = budget.branch_tokens
            && self.tokens.load(Ordering::SeqCst) > limit
        {
            return Err(BranchEnd::OutOfBudget(format!(
                "this branch's token budget of {limit} spent"
            )));
        }
        let limit = budget.tokens;
        if total > limit {
            return Err(BranchEnd::OutOfBudget(format!("token budget of {limit} spent")));
        }
        Ok(())
    }

    /// The guard, for reasoners that list the tools they may use.
    pub fn guard(&self) -> &Guard {
        &self.guard
    }
}
