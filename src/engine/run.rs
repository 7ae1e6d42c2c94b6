//! The orchestrator: runs an investigation's branches as concurrent tasks,
//! numbers and fans out their events, obeys commands, and keeps the merged
//! conclusion current.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{Semaphore, mpsc, watch};
use tokio::task::JoinHandle;

use super::allot::{Records, allot};
use super::branch::{Control, Msg, Port, Shared};
use super::clock::{Clock, Ids, RandomIds, SystemClock};
use super::conclusion::{BranchHypotheses, merge};
use super::recheck::{Recheck, Rounds};
use super::sink::EventSink;
use crate::model::{
    Alert, Allotment, Authored, BranchStatus, Budget, CallStatus, Command, EVENT_VERSION, Event, EventKind,
    GuidanceScope, InvestigationState, InvestigationStatus, RootCause, Scope, SourcesRead, SpanId, StrategyRecord,
    Timestamp, TraceId,
};
use crate::reason::{BranchCtx, BranchEnd, Reasoner};
use crate::sources::router::family;
use crate::tools::redact::Redactor;
use crate::tools::{Guard, Strategy, sanitize};

/// Everything an investigation starts from.
pub struct Setup {
    pub alert: Alert,
    pub guard: Arc<Guard>,
    pub reasoner: Arc<dyn Reasoner>,
    pub strategies: Vec<Strategy>,
    pub budget: Budget,
    pub now: Timestamp,
    pub author: String,
    pub bundle_id: String,
    /// Guidance from past grades of this alert, applied to the whole
    /// investigation before its branches start (store::learned).
    pub learned: Vec<String>,
    /// Patterns imported from elsewhere that fit this alert, applied after
    /// `learned` as investigation-wide guidance by [`SHARED_AUTHOR`].
    pub shared_patterns: Vec<String>,
    /// How each strategy has done on this alert (its own grades and shared
    /// patterns'): with any, branches start in order of trust, each with its
    /// share of the budget (engine::allot). Empty: as configured.
    pub records: Vec<StrategyRecord>,
    /// The wall time events are stamped with.
    pub clock: Arc<dyn Clock>,
    /// Where trace and span ids come from.
    pub ids: Arc<dyn Ids>,
    /// Whether and when to look again when the investigation began too soon after the alert.
    pub recheck: Recheck,
}

impl Setup {
    /// The system's clock and random ids: what every real investigation uses.
    pub fn default_clock() -> (Arc<dyn Clock>, Arc<dyn Ids>) {
        (Arc::new(SystemClock), Arc::new(RandomIds))
    }
}

/// The author of guidance that past grades left (store::learned).
pub const LEARNED_AUTHOR: &str = "learned";

/// The author of guidance from imported shared patterns.
pub const SHARED_AUTHOR: &str = "shared pattern";

/// A started investigation: send it commands, wait for its final state.
pub struct Running {
    pub trace_id: TraceId,
    pub root_span: SpanId,
    commands: mpsc::UnboundedSender<Command>,
    /// Commands from others than the investigation's author (a server's clients).
    authored: mpsc::UnboundedSender<Authored>,
    handle: JoinHandle<Option<InvestigationState>>,
}

impl Running {
    pub fn commands(&self) -> mpsc::UnboundedSender<Command> {
        self.commands.clone()
    }
    pub fn send(&self, c: Command) {
        let _ = self.commands.send(c);
    }
    /// Where commands that carry their own author go; the events they cause
    /// name that author.
    pub fn authored(&self) -> mpsc::UnboundedSender<Authored> {
        self.authored.clone()
    }
    /// Waits for the end; `None` only if the engine task itself panicked.
    pub async fn wait(self) -> Option<InvestigationState> {
        self.handle.await.ok().flatten()
    }
}

/// How many root causes the conclusion keeps.
pub const CONCLUSION_SIZE: usize = 5;

struct BranchRt {
    span: SpanId,
    strategy: Strategy,
    control: Arc<Control>,
    handle: Option<JoinHandle<()>>,
    /// The tool call in flight, if any, to close when the branch is cut short.
    inflight: Option<(SpanId, String)>,
    /// Which look at the data it belongs to (0: the first; later: re-checks).
    round: u32,
}

pub(super) struct Orch {
    trace: TraceId,
    pub(super) root: SpanId,
    seq: u64,
    sinks: Vec<Box<dyn EventSink>>,
    state: Option<InvestigationState>,
    branches: Vec<BranchRt>,
    pub(super) shared: Arc<Shared>,
    tx: mpsc::UnboundedSender<Msg>,
    sem: Arc<Semaphore>,
    guard: Arc<Guard>,
    reasoner: Arc<dyn Reasoner>,
    pub(super) alert: Alert,
    pub(super) now: Timestamp,
    author: String,
    pub(super) conclusion: Vec<RootCause>,
    /// Which sources answered and which never did, for the conclusion.
    sources: SourcesRead,
    pub(super) strategies: Vec<Strategy>,
    pub(super) recheck: Rounds,
}

/// Starts an investigation on the current tokio runtime.
pub fn start(setup: Setup, sinks: Vec<Box<dyn EventSink>>) -> Running {
    let trace = setup.ids.trace();
    let root = setup.ids.span();
    let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
    let (authored_tx, authored_rx) = mpsc::unbounded_channel();
    let (tx, rx) = mpsc::unbounded_channel();
    let shared = Arc::new(Shared {
        budget: Mutex::new(setup.budget),
        tool_calls: AtomicU32::new(0),
        tokens: AtomicU64::new(0),
        cost_microusd: AtomicU64::new(0),
        estimated_tokens: AtomicU64::new(0),
        started: tokio::time::Instant::now(),
        clock: setup.clock.clone(),
        ids: setup.ids.clone(),
        guidance: Mutex::new(Vec::new()),
    });
    let mut orch = Orch {
        trace,
        root,
        seq: 0,
        sinks,
        state: None,
        branches: Vec::new(),
        shared,
        tx,
        sem: Arc::new(Semaphore::new(setup.budget.concurrency.max(1) as usize)),
        guard: setup.guard.clone(),
        reasoner: setup.reasoner.clone(),
        alert: setup.alert.clone(),
        now: setup.now,
        author: setup.author.clone(),
        conclusion: Vec::new(),
        sources: SourcesRead::default(),
        strategies: setup.strategies.clone(),
        recheck: Rounds {
            policy: setup.recheck.clone(),
            first_now: setup.now,
            round: 0,
            concluded: 0,
            first_calls: 0,
            first_tokens: 0,
            note: None,
            due: None,
            over: false,
        },
    };
    let handle = tokio::spawn(async move {
        orch.emit(
            root,
            None,
            EventKind::InvestigationStarted {
                alert: Box::new(setup.alert.clone()),
                bundle_id: setup.bundle_id.clone(),
                reasoner: setup.reasoner.name(),
                budget: setup.budget,
                strategies: setup.strategies.iter().map(|s| s.name.clone()).collect(),
                source: setup.guard.backend().describe(),
                now: setup.now,
            },
        );
        let learned = setup.learned.iter().map(|t| (t, LEARNED_AUTHOR));
        let shared = setup.shared_patterns.iter().map(|t| (t, SHARED_AUTHOR));
        for (text, author) in learned.chain(shared) {
            if let Ok(mut g) = orch.shared.guidance.lock() {
                g.push(text.clone());
            }
            orch.emit(
                orch.shared.ids.span(),
                Some(root),
                EventKind::GuidanceApplied {
                    scope: GuidanceScope::Investigation,
                    branch: None,
                    text: text.clone(),
                    author: author.into(),
                },
            );
        }
        let names: Vec<String> = setup.strategies.iter().map(|s| s.name.clone()).collect();
        let from = Records {
            alert: &setup.alert.name,
            records: &setup.records,
        };
        let plan = allot(&names, &from, &setup.budget);
        if plan.is_empty() {
            for s in &setup.strategies {
                orch.spawn_branch(s.clone(), None, None, None);
            }
        }
        for (i, allotment) in plan {
            orch.spawn_branch(setup.strategies[i].clone(), None, None, Some(allotment));
        }
        orch.run(cmd_rx, authored_rx, rx).await;
        orch.state
    });
    Running {
        trace_id: trace,
        root_span: root,
        commands: cmd_tx,
        authored: authored_tx,
        handle,
    }
}

impl Orch {
    pub(super) fn emit(&mut self, span: SpanId, parent: Option<SpanId>, kind: EventKind) {
        self.seq += 1;
        let e = Event {
            v: EVENT_VERSION,
            trace_id: self.trace,
            span_id: span,
            parent_span_id: parent,
            seq: self.seq,
            at: self.shared.clock.now(),
            kind,
        };
        match &mut self.state {
            None => self.state = InvestigationState::start(&e).ok(),
            Some(st) => {
                // Events are numbered here, so the fold cannot see them out of order.
                let _ = st.apply(&e);
            }
        }
        for s in self.sinks.iter_mut() {
            s.emit(&e);
        }
    }

    pub(super) fn status(&self, span: SpanId) -> Option<BranchStatus> {
        self.state.as_ref()?.branch(span).map(|b| b.status)
    }

    fn live(&self) -> usize {
        self.branches
            .iter()
            .filter(|b| self.status(b.span).is_some_and(|s| s.is_live()))
            .count()
    }

    pub(super) fn spawn_branch(
        &mut self,
        strategy: Strategy,
        parent: Option<SpanId>,
        fork: Option<(String, String)>,
        allotment: Option<Allotment>,
    ) -> SpanId {
        // A fork's guidance, and who gave it.
        let (guidance, author) = fork.unzip();
        let span = self.shared.ids.span();
        self.emit(
            span,
            Some(parent.unwrap_or(self.root)),
            EventKind::BranchStarted {
                strategy: strategy.name.clone(),
                title: strategy.title.clone(),
                parent_branch: parent,
                guidance: guidance.clone(),
                allotment: allotment.clone(),
            },
        );
        let (paused, _) = watch::channel(false);
        let control = Arc::new(Control {
            paused,
            guidance: Mutex::new(guidance.iter().cloned().collect()),
        });
        if let Some(g) = &guidance {
            self.emit(
                self.shared.ids.span(),
                Some(span),
                EventKind::GuidanceApplied {
                    scope: GuidanceScope::Branch,
                    branch: Some(span),
                    text: g.clone(),
                    author: author.unwrap_or_default(),
                },
            );
        }
        let port = Port {
            span,
            root: self.root,
            tx: self.tx.clone(),
            guard: self.guard.clone(),
            control: control.clone(),
            shared: self.shared.clone(),
            calls: AtomicU32::new(0),
            tokens: AtomicU64::new(0),
            allotment: allotment.map(|a| (a, self.shared.budget())),
        };
        let ctx = BranchCtx::new(span, strategy.clone(), self.alert.clone(), self.now, Box::new(port));
        let sem = self.sem.clone();
        let reasoner = self.reasoner.clone();
        let tx = self.tx.clone();
        let root = self.root;
        let handle = tokio::spawn(async move {
            // A closed semaphore never happens: the orchestrator owns it for its whole life.
            let _permit = sem.acquire_owned().await;
            let _ = tx.send(Msg::Event {
                span,
                parent: Some(root),
                kind: EventKind::BranchStatusChanged {
                    status: BranchStatus::Running,
                    reason: None,
                },
            });
            let result = reasoner.run(&ctx).await;
            let _ = tx.send(Msg::Finished { branch: span, result });
        });
        self.branches.push(BranchRt {
            span,
            strategy,
            control,
            handle: Some(handle),
            inflight: None,
            round: self.recheck.round,
        });
        span
    }

    pub(super) fn set_status(&mut self, span: SpanId, status: BranchStatus, reason: Option<String>) {
        self.emit(span, Some(self.root), EventKind::BranchStatusChanged { status, reason });
    }

    /// Recomputes the conclusion from live and finished (not pruned) branches.
    fn update_conclusion(&mut self) {
        self.conclude(false);
    }

    /// Recomputes the conclusion from the branches of the round it is drawn
    /// from; `force` announces it even when unchanged (a re-check's result).
    pub(super) fn conclude(&mut self, force: bool) {
        let Some(st) = &self.state else { return };
        let concluded = self.recheck.concluded;
        let rounds: Vec<(SpanId, u32)> = self.branches.iter().map(|b| (b.span, b.round)).collect();
        let hyps: Vec<BranchHypotheses<'_>> = st
            .branches
            .iter()
            .filter(|b| b.status != BranchStatus::Pruned)
            .filter(|b| rounds.iter().any(|r| r.0 == b.span && r.1 == concluded))
            .map(|b| BranchHypotheses {
                branch: b.span,
                hypotheses: &b.hypotheses,
            })
            .collect();
        let guidance = self.shared.guidance.lock().map(|g| g.clone()).unwrap_or_default();
        let next = merge(&hyps, &guidance, CONCLUSION_SIZE);
        if next != self.conclusion || force {
            self.conclusion = next.clone();
            let sources = self.sources.clone();
            self.emit(
                self.root,
                None,
                EventKind::ConclusionUpdated {
                    root_causes: next,
                    sources,
                },
            );
        }
    }

    /// Cuts a branch short: stops its task now and closes its open tool call.
    fn cut(&mut self, span: SpanId, status: BranchStatus, reason: String) {
        let Some(i) = self.branches.iter().position(|b| b.span == span) else {
            return;
        };
        if let Some(h) = self.branches[i].handle.take() {
            h.abort();
        }
        let _ = self.branches[i].control.paused.send_replace(false);
        if let Some((call, tool)) = self.branches[i].inflight.take() {
            self.emit(
                call,
                Some(span),
                EventKind::ToolCallFinished {
                    tool,
                    status: CallStatus::Error,
                    duration_ms: 0,
                    summary: "cancelled".into(),
                    evidence_span_id: None,
                    error: Some(format!("cancelled: {reason}")),
                },
            );
        }
        self.set_status(span, status, Some(reason));
    }

    fn reject(&mut self, command: &str, reason: String) {
        self.emit(
            self.shared.ids.span(),
            Some(self.root),
            EventKind::CommandRejected {
                command: command.to_string(),
                reason,
            },
        );
    }

    /// Returns true when the investigation should stop.
    fn command(&mut self, c: Command, author: String) -> bool {
        match c {
            Command::InjectGuidance {
                scope: Scope::Investigation,
                text,
            } => {
                if let Ok(mut g) = self.shared.guidance.lock() {
                    g.push(text.clone());
                }
                self.emit(
                    self.shared.ids.span(),
                    Some(self.root),
                    EventKind::GuidanceApplied {
                        scope: GuidanceScope::Investigation,
                        branch: None,
                        text,
                        author: author.clone(),
                    },
                );
                self.update_conclusion();
            }
            Command::InjectGuidance {
                scope: Scope::Branch(b),
                text,
            } => match self.status(b) {
                Some(s) if s.is_live() => {
                    if let Some(rt) = self.branches.iter().find(|x| x.span == b)
                        && let Ok(mut g) = rt.control.guidance.lock()
                    {
                        g.push(text.clone());
                    }
                    self.emit(
                        self.shared.ids.span(),
                        Some(b),
                        EventKind::GuidanceApplied {
                            scope: GuidanceScope::Branch,
                            branch: Some(b),
                            text,
                            author: author.clone(),
                        },
                    );
                }
                Some(s) => self.reject("inject_guidance", format!("branch {} is {}", b.short(), s.as_str())),
                None => self.reject("inject_guidance", format!("no branch {}", b.short())),
            },
            Command::Prune { branch } => match self.status(branch) {
                Some(s) if s.is_live() && self.recheck.note == Some(branch) => self.stop_recheck(&author),
                Some(s) if s.is_live() => {
                    self.cut(branch, BranchStatus::Pruned, format!("pruned by {author}"));
                    self.update_conclusion();
                }
                Some(s) => self.reject("prune", format!("branch {} is already {}", branch.short(), s.as_str())),
                None => self.reject("prune", format!("no branch {}", branch.short())),
            },
            Command::Pause { branch } => match self.status(branch) {
                Some(BranchStatus::Running | BranchStatus::Queued) => {
                    if let Some(rt) = self.branches.iter().find(|x| x.span == branch) {
                        let _ = rt.control.paused.send_replace(true);
                    }
                    self.set_status(branch, BranchStatus::Paused, Some(format!("paused by {author}")));
                }
                Some(s) => self.reject("pause", format!("branch {} is {}", branch.short(), s.as_str())),
                None => self.reject("pause", format!("no branch {}", branch.short())),
            },
            Command::Resume { branch } => match self.status(branch) {
                Some(BranchStatus::Paused) => {
                    if let Some(rt) = self.branches.iter().find(|x| x.span == branch) {
                        let _ = rt.control.paused.send_replace(false);
                    }
                    self.set_status(branch, BranchStatus::Running, Some(format!("resumed by {author}")));
                }
                Some(s) => self.reject(
                    "resume",
                    format!("branch {} is {}, not paused", branch.short(), s.as_str()),
                ),
                None => self.reject("resume", format!("no branch {}", branch.short())),
            },
            Command::Fork { branch, guidance } => {
                match self
                    .branches
                    .iter()
                    .find(|b| b.span == branch)
                    .map(|b| b.strategy.clone())
                {
                    Some(strategy) => {
                        self.spawn_branch(strategy, Some(branch), Some((guidance, author)), None);
                    }
                    None => self.reject("fork", format!("no branch {}", branch.short())),
                }
            }
            Command::SetBudget { budget } => {
                let b = match self.shared.budget.lock() {
                    Ok(mut b) => {
                        b.apply(&budget);
                        *b
                    }
                    Err(_) => return false,
                };
                self.emit(
                    self.shared.ids.span(),
                    Some(self.root),
                    EventKind::BudgetChanged { budget: b },
                );
            }
            Command::Stop => {
                let live: Vec<SpanId> = self
                    .branches
                    .iter()
                    .map(|b| b.span)
                    .filter(|s| self.status(*s).is_some_and(|x| x.is_live()))
                    .collect();
                for s in live {
                    self.cut(s, BranchStatus::Pruned, format!("investigation stopped by {author}"));
                }
                return true;
            }
        }
        false
    }

    async fn run(
        &mut self,
        mut commands: mpsc::UnboundedReceiver<Command>,
        mut authored: mpsc::UnboundedReceiver<Authored>,
        mut rx: mpsc::UnboundedReceiver<Msg>,
    ) {
        let mut stopped = false;
        let mut commands_open = true;
        let mut authored_open = true;
        loop {
            if stopped {
                break;
            }
            if self.live() == 0 && self.recheck.due.is_none() {
                self.recheck.due = self.next_round();
                if self.recheck.due.is_none() {
                    break;
                }
            }
            let wall = self.shared.budget().wall_ms;
            let deadline = self.shared.started + Duration::from_millis(wall);
            let due = self.recheck.due.map(|d| d.0);
            tokio::select! {
                _ = tokio::time::sleep_until(due.unwrap_or(deadline)), if due.is_some() => {
                    if let Some((_, at)) = self.recheck.due.take() {
                        self.start_round(at);
                    }
                },
                m = rx.recv() => match m {
                    Some(Msg::Event { span, parent, kind }) => self.on_event(span, parent, kind),
                    Some(Msg::Finished { branch, result }) => self.on_finished(branch, result),
                    None => break,
                },
                c = commands.recv(), if commands_open => match c {
                    Some(c) => stopped = self.command(c, self.author.clone()),
                    None => commands_open = false,
                },
                c = authored.recv(), if authored_open => match c {
                    Some(Authored { command, author }) => {
                        let author = author.unwrap_or_else(|| self.author.clone());
                        stopped = self.command(command, author);
                    }
                    None => authored_open = false,
                },
                _ = tokio::time::sleep_until(deadline) => {
                    let live: Vec<SpanId> = self.branches.iter().map(|b| b.span)
                        .filter(|s| self.status(*s).is_some_and(|x| x.is_live())).collect();
                    for s in live {
                        self.cut(s, BranchStatus::OutOfBudget, format!("wall-time budget of {wall} ms spent"));
                    }
                    if self.recheck.due.take().is_some() {
                        self.end_recheck(format!("The wall-time budget of {wall} ms ran out before looking again."));
                    }
                }
            }
        }
        if let Some(note) = self
            .recheck
            .note
            .filter(|n| self.status(*n).is_some_and(|s| s.is_live()))
        {
            self.set_status(note, BranchStatus::Done, None);
        }
        self.update_conclusion();
        let status = if stopped {
            InvestigationStatus::Stopped
        } else {
            InvestigationStatus::Done
        };
        let kind = EventKind::InvestigationFinished {
            status,
            root_causes: self.conclusion.clone(),
            tool_calls: self.shared.tool_calls.load(Ordering::SeqCst),
            tokens: self.shared.tokens.load(Ordering::SeqCst),
            elapsed_ms: self.shared.elapsed_ms(),
            sources: self.sources.clone(),
        };
        self.emit(self.root, None, kind);
    }

    fn on_event(&mut self, span: SpanId, parent: Option<SpanId>, kind: EventKind) {
        // Events from a branch already cut short are dropped: it no longer speaks.
        let owner = match &kind {
            EventKind::BranchStatusChanged { .. } | EventKind::BudgetUsed { .. } => Some(span),
            _ => parent,
        };
        if let Some(o) = owner
            && let Some(st) = self.status(o)
            && !st.is_live()
        {
            return;
        }
        if let (
            EventKind::BranchStatusChanged {
                status: BranchStatus::Running,
                ..
            },
            Some(BranchStatus::Paused),
        ) = (&kind, self.status(span))
        {
            return;
        }
        match &kind {
            EventKind::ToolCallStarted { tool, .. } => {
                if let Some(b) = self.branches.iter_mut().find(|b| Some(b.span) == parent) {
                    b.inflight = Some((span, tool.clone()));
                }
            }
            EventKind::ToolCallFinished {
                tool, status, error, ..
            } => {
                if let Some(b) = self.branches.iter_mut().find(|b| Some(b.span) == parent) {
                    b.inflight = None;
                }
                // A call the guard refused says nothing about its source.
                if *status != CallStatus::Refused {
                    let cause = error.as_deref().map(cause_of).unwrap_or_default();
                    self.sources.record(family(tool), *status == CallStatus::Ok, &cause);
                }
            }
            _ => {}
        }
        let proposed = matches!(kind, EventKind::HypothesisProposed { .. });
        self.emit(span, parent, kind);
        if proposed {
            self.update_conclusion();
        }
    }

    fn on_finished(&mut self, branch: SpanId, result: Result<(), BranchEnd>) {
        if !self.status(branch).is_some_and(|s| s.is_live()) {
            return;
        }
        if let Some(b) = self.branches.iter_mut().find(|b| b.span == branch) {
            b.handle = None;
        }
        match result {
            Ok(()) => self.set_status(branch, BranchStatus::Done, None),
            Err(BranchEnd::OutOfBudget(r)) => self.set_status(branch, BranchStatus::OutOfBudget, Some(r)),
            Err(BranchEnd::Failed(r)) => self.set_status(branch, BranchStatus::Failed, Some(r)),
        }
        self.update_conclusion();
    }
}

/// A failure's cause as the conclusion shows it: one clean line, not too long.
fn cause_of(error: &str) -> String {
    let clean = Redactor::new().redact(&sanitize::clean(error));
    let line = clean.lines().next().unwrap_or("").trim();
    match line.char_indices().nth(160) {
        Some((i, _)) => format!("{}…", &line[..i]),
        None => line.to_string(),
    }
}
