//! What a reasoner sees of its branch: tools behind the guard, thoughts,
//! hypotheses, guidance, and the checkpoints where pause and budgets bite.
//! The engine provides it (a [`BranchPort`]); reasoners only use it, so they
//! never depend on the engine that runs them.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde_json::Value;

use crate::model::{Alert, BoxFuture, Hypothesis, SpanId, Timestamp};
use crate::sources::ToolData;
use crate::sources::router::family;
use crate::tools::{Guard, Strategy, sanitize};

/// How a branch ended early.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum BranchEnd {
    #[error("out of budget: {0}")]
    OutOfBudget(String),
    #[error("failed: {0}")]
    Failed(String),
}

/// A tool call that came back with data.
pub struct Called {
    pub data: ToolData,
    pub call: SpanId,
    pub evidence: SpanId,
}

/// What the engine does for a branch: records its steps as events, calls tools
/// through the guard, and enforces pause and budgets.
pub trait BranchPort: Send + Sync {
    /// A new thought step; returns its span.
    fn think(&self, text: String) -> SpanId;
    /// More streamed text for a thought.
    fn think_more(&self, thought: SpanId, text: String);
    /// Guidance so far: the investigation's, then this branch's.
    fn guidance(&self) -> Vec<String>;
    /// Waits while paused and checks the wall-time budget.
    fn checkpoint(&self) -> BoxFuture<'_, Result<(), BranchEnd>>;
    /// Calls a tool; the inner `Err` is a failed call (in the trace), the outer one ends the branch.
    fn try_call<'a>(&'a self, tool: &'a str, args: Value) -> BoxFuture<'a, Result<Result<Called, String>, BranchEnd>>;
    /// Proposes a root cause; returns the hypothesis span.
    fn propose(&self, h: Hypothesis) -> BoxFuture<'_, Result<SpanId, BranchEnd>>;
    /// Counts model tokens, and what they cost, against the budget; `estimated`
    /// when the server reported no usage and the tokens were estimated.
    fn add_usage(&self, tokens: u64, cost_microusd: u64, estimated: bool) -> Result<(), BranchEnd>;
    /// The guard, for reasoners that list the tools they may use.
    fn guard(&self) -> &Guard;
    /// Records a call that was refused before it could run (arguments that are
    /// not JSON, a malformed proposal), so the trace shows it; spends no budget.
    fn refused(&self, tool: &str, args: Value, reason: String);
}

/// What a branch has read from one source so far: calls that answered,
/// calls that failed, and the latest failure's cause.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SourceReads {
    pub answered: u32,
    pub failed: u32,
    pub cause: Option<String>,
}

/// One branch as its reasoner sees it.
pub struct BranchCtx {
    pub span: SpanId,
    pub strategy: Strategy,
    pub alert: Alert,
    /// The instant the investigation looks back from.
    pub now: Timestamp,
    port: Box<dyn BranchPort>,
    /// Per source (tool family), what this branch's calls brought back.
    reads: Mutex<BTreeMap<&'static str, SourceReads>>,
}

impl BranchCtx {
    pub fn new(span: SpanId, strategy: Strategy, alert: Alert, now: Timestamp, port: Box<dyn BranchPort>) -> BranchCtx {
        BranchCtx {
            span,
            strategy,
            alert,
            now,
            port,
            reads: Mutex::new(BTreeMap::new()),
        }
    }

    /// What this branch has read from `source` (a tool family such as `kubernetes`) so far.
    pub fn reads(&self, source: &str) -> SourceReads {
        self.reads
            .lock()
            .ok()
            .and_then(|r| r.get(source).cloned())
            .unwrap_or_default()
    }

    /// A new thought step; returns its span for streaming more text into it.
    pub fn think(&self, text: impl Into<String>) -> SpanId {
        self.port.think(text.into())
    }

    /// More streamed text for a thought.
    pub fn think_more(&self, thought: SpanId, text: impl Into<String>) {
        self.port.think_more(thought, text.into())
    }

    /// Guidance so far: the investigation's, then this branch's.
    pub fn guidance(&self) -> Vec<String> {
        self.port.guidance()
    }

    /// Waits while paused and checks the wall-time budget.
    pub async fn checkpoint(&self) -> Result<(), BranchEnd> {
        self.port.checkpoint().await
    }

    /// Calls a tool through the read-only guard. `Ok(None)` when the call failed
    /// (the failure is in the trace and the branch can go on); `Err` ends the branch.
    pub async fn call(&self, tool: &str, args: Value) -> Result<Option<Called>, BranchEnd> {
        Ok(self.try_call(tool, args).await?.ok())
    }

    /// [`call`](Self::call), with the reason when the call failed (for a model to read).
    pub async fn try_call(&self, tool: &str, args: Value) -> Result<Result<Called, String>, BranchEnd> {
        let out = self.port.try_call(tool, args).await?;
        if let Ok(mut reads) = self.reads.lock() {
            let source = family(tool);
            let r = reads.entry(source).or_default();
            match &out {
                Ok(_) => r.answered += 1,
                Err(e) => {
                    r.failed += 1;
                    let e = sanitize::clean(e);
                    // `kubernetes: no kubernetes source is configured` reads better without the repeat.
                    let cause = e.strip_prefix(&format!("{source}: ")).unwrap_or(&e);
                    r.cause = Some(cause.lines().next().unwrap_or("").trim().to_string());
                }
            }
        }
        Ok(out)
    }

    /// Proposes a root cause; returns the hypothesis span.
    pub async fn propose(&self, h: Hypothesis) -> Result<SpanId, BranchEnd> {
        self.port.propose(h).await
    }

    /// Counts model tokens against the budget.
    pub fn add_tokens(&self, n: u64) -> Result<(), BranchEnd> {
        self.add_usage(n, 0, false)
    }

    /// Counts model tokens, and what they cost, against the budget; `estimated`
    /// marks tokens counted by estimate because the server reported none.
    pub fn add_usage(&self, n: u64, cost_microusd: u64, estimated: bool) -> Result<(), BranchEnd> {
        self.port.add_usage(n, cost_microusd, estimated)
    }

    /// The guard, for reasoners that list the tools they may use.
    pub fn guard(&self) -> &Guard {
        self.port.guard()
    }

    /// Records a call refused before it could run (see [`BranchPort::refused`]).
    pub fn refused(&self, tool: &str, args: Value, reason: impl Into<String>) {
        self.port.refused(tool, args, reason.into())
    }
}
