//! The engine's side of a branch: what a reasoner's calls through its
//! `BranchCtx` become (events, guarded tool calls, budget checks, pauses).

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::Value;
use tokio::sync::{mpsc, watch};

use super::clock::{Clock, Ids};
use crate::model::{Allotment, BoxFuture, Budget, CallStatus, EventKind, Hypothesis, SpanId};
use crate::reason::{BranchEnd, BranchPort, Called};
use crate::tools::{CallError, Guard, render};

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
    /// Of `tokens`, those estimated because a server reported no usage.
    pub estimated_tokens: AtomicU64,
    pub started: tokio::time::Instant,
    pub clock: Arc<dyn Clock>,
    pub ids: Arc<dyn Ids>,
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

/// The engine's side of one branch, as its reasoner reaches it through [`BranchCtx`].
pub(crate) struct Port {
    pub span: SpanId,
    pub(crate) root: SpanId,
    pub(crate) tx: mpsc::UnboundedSender<Msg>,
    pub(crate) guard: Arc<Guard>,
    pub(crate) control: Arc<Control>,
    pub(crate) shared: Arc<Shared>,
    pub(crate) calls: AtomicU32,
    pub(crate) tokens: AtomicU64,
    /// This branch's own share of the budget, when past grades set one, and
    /// the budget it was a share of.
    pub(crate) allotment: Option<(Allotment, Budget)>,
}

impl Port {
    /// The branch's own limits: its allotment, grown or shrunk with the
    /// investigation's budget since (an engineer raising the budget raises
    /// every share), else the uniform per-branch limits.
    fn own_limits(&self, now: &Budget) -> (Option<u32>, Option<u64>) {
        let Some((a, from)) = &self.allotment else {
            return (now.branch_tool_calls, now.branch_tokens);
        };
        let scale = |v: u64, was: u64, is: u64| if was == 0 { v } else { (v * is).div_ceil(was) };
        let calls = scale(a.tool_calls as u64, from.tool_calls as u64, now.tool_calls as u64);
        let tokens = a.tokens.map(|t| scale(t, from.tokens, now.tokens));
        (Some(calls.min(u32::MAX as u64) as u32), tokens)
    }
}

impl Port {
    fn send(&self, span: SpanId, parent: SpanId, kind: EventKind) {
        let _ = self.tx.send(Msg::Event {
            span,
            parent: Some(parent),
            kind,
        });
    }

    fn budget_used(&self) {
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
                estimated_tokens: self.shared.estimated_tokens.load(Ordering::SeqCst),
            },
        );
    }

    async fn wait_and_check(&self) -> Result<(), BranchEnd> {
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

    /// Takes one tool call from the budgets, or says which budget is spent.
    fn take_call(&self) -> Result<(), BranchEnd> {
        let budget = self.shared.budget();
        if let (Some(limit), _) = self.own_limits(&budget)
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
        Ok(())
    }

    /// A new tool-call span, its start in the trace.
    fn start_call(&self, tool: &str, args: Value) -> SpanId {
        let call = self.shared.ids.span();
        self.send(
            call,
            self.span,
            EventKind::ToolCallStarted {
                tool: tool.to_string(),
                args,
            },
        );
        call
    }

    async fn call_tool(&self, tool: &str, args: Value) -> Result<Result<Called, String>, BranchEnd> {
        self.wait_and_check().await?;
        self.take_call()?;
        let call = self.start_call(tool, args.clone());
        let t0 = tokio::time::Instant::now();
        let result = self.guard.call(tool, &args).await;
        let duration_ms = t0.elapsed().as_millis() as u64;
        let out = match result {
            Ok(data) => {
                let ev = render::evidence(&data);
                let evidence = self.shared.ids.span();
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
        self.budget_used();
        Ok(out)
    }
}

impl BranchPort for Port {
    fn think(&self, text: String) -> SpanId {
        let span = self.shared.ids.span();
        self.send(span, self.span, EventKind::ThoughtDelta { text });
        span
    }

    fn think_more(&self, thought: SpanId, text: String) {
        self.send(thought, self.span, EventKind::ThoughtDelta { text });
    }

    fn guidance(&self) -> Vec<String> {
        let mut g = self.shared.guidance.lock().map(|g| g.clone()).unwrap_or_default();
        if let Ok(b) = self.control.guidance.lock() {
            g.extend(b.iter().cloned());
        }
        g
    }

    fn checkpoint(&self) -> BoxFuture<'_, Result<(), BranchEnd>> {
        Box::pin(self.wait_and_check())
    }

    fn try_call<'a>(&'a self, tool: &'a str, args: Value) -> BoxFuture<'a, Result<Result<Called, String>, BranchEnd>> {
        Box::pin(self.call_tool(tool, args))
    }

    fn propose(&self, h: Hypothesis) -> BoxFuture<'_, Result<SpanId, BranchEnd>> {
        Box::pin(async move {
            self.wait_and_check().await?;
            let span = self.shared.ids.span();
            self.send(span, self.span, EventKind::HypothesisProposed { hypothesis: h });
            Ok(span)
        })
    }

    fn add_usage(&self, n: u64, cost_microusd: u64, estimated: bool) -> Result<(), BranchEnd> {
        self.shared.cost_microusd.fetch_add(cost_microusd, Ordering::SeqCst);
        if estimated {
            self.shared.estimated_tokens.fetch_add(n, Ordering::SeqCst);
        }
        self.tokens.fetch_add(n, Ordering::SeqCst);
        let total = self.shared.tokens.fetch_add(n, Ordering::SeqCst) + n;
        self.budget_used();
        let budget = self.shared.budget();
        if let (_, Some(limit)) = self.own_limits(&budget)
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

    fn guard(&self) -> &Guard {
        &self.guard
    }

    fn refused(&self, tool: &str, args: Value, reason: String) {
        let call = self.start_call(tool, args);
        self.send(
            call,
            self.span,
            EventKind::ToolCallFinished {
                tool: tool.to_string(),
                status: CallStatus::Refused,
                duration_ms: 0,
                summary: format!("{tool} refused"),
                evidence_span_id: None,
                error: Some(reason),
            },
        );
    }
}
