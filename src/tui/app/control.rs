//! Control of the investigation as a whole: stop, quit, Ctrl-C, the budget;
//! which actions make sense now (for hints and help); and the toast that
//! confirms each command once the engine has answered it.

use super::state::{App, Ask, Focus, Mode};
use crate::model::{BranchStatus, BudgetPatch, Command, Event, EventKind, InvestigationStatus, Request};
use crate::tools::sanitize::clean;
use crate::tui::action::Action;

/// How much `b` adds: half the current limit, and never less than this many calls.
const MIN_RAISE_CALLS: u32 = 10;

impl App {
    /// The investigation runs and this cockpit can steer it.
    pub fn running(&self) -> bool {
        self.live
            && self
                .state
                .as_ref()
                .is_some_and(|s| s.status == InvestigationStatus::Running)
    }

    /// Ctrl-C: on a running investigation, asks to stop it; pressed again (or
    /// once nothing runs, twice), quits.
    pub(super) fn interrupt(&mut self) -> Vec<Request> {
        if self.interrupted || matches!(self.mode, Mode::Confirm(Ask::Stop | Ask::Quit)) {
            self.quit = true;
            return vec![];
        }
        self.interrupted = true;
        if self.running() {
            self.mode = Mode::Confirm(Ask::Stop);
        } else {
            self.mode = Mode::Normal;
            self.toast = Some(("press Ctrl-C again to quit".into(), false));
        }
        vec![]
    }

    /// `q`: quits at once on a review, detaches from a server (the
    /// investigation goes on there), asks first while a local investigation runs.
    pub(super) fn ask_quit(&mut self) {
        if self.remote.is_some() {
            self.keep_running();
        } else if self.running() {
            self.mode = Mode::Confirm(Ask::Quit);
        } else {
            self.quit = true;
        }
    }

    /// Stops every branch; the cockpit stays open on what was found.
    pub(super) fn stop(&mut self) -> Vec<Request> {
        if !self.running() {
            self.toast = Some(("nothing is running: review only".into(), true));
            return vec![];
        }
        self.command(Command::Stop)
    }

    /// Raises the tool-call and token budgets by half; branches already out of
    /// budget continue as forks, since the engine ends a branch that ran out.
    pub(super) fn raise_budget(&mut self) -> Vec<Request> {
        let Some(s) = self.state.as_ref().filter(|_| self.running()) else {
            self.toast = Some(("nothing is running: the budget is spent".into(), true));
            return vec![];
        };
        let b = s.budget;
        let patch = BudgetPatch {
            tool_calls: Some(b.tool_calls + (b.tool_calls / 2).max(MIN_RAISE_CALLS)),
            tokens: Some(b.tokens + b.tokens / 2),
            wall_ms: None,
        };
        let spent: Vec<_> = s
            .branches
            .iter()
            .filter(|b| b.status == BranchStatus::OutOfBudget)
            .map(|b| b.span)
            .collect();
        let mut out = self.command(Command::SetBudget { budget: patch });
        for branch in spent {
            out.extend(self.command(Command::Fork {
                branch,
                guidance: "the budget was raised: carry on where this branch stopped".into(),
            }));
        }
        out
    }

    /// Sends a command and remembers it, to confirm it when the engine answers.
    pub(super) fn command(&mut self, c: Command) -> Vec<Request> {
        self.asked.push_back(c.clone());
        vec![Request::Command(c)]
    }

    /// A toast for the event that answers the oldest unanswered command.
    pub(super) fn confirm_answer(&mut self, e: &Event) {
        let Some(front) = self.asked.front() else { return };
        let name = |span| {
            self.state
                .as_ref()
                .and_then(|s| s.branch(span))
                .map(|b| clean(&b.strategy))
                .unwrap_or_else(|| span.short())
        };
        let said = match (front, &e.kind) {
            (Command::InjectGuidance { .. }, EventKind::GuidanceApplied { branch, .. }) => match branch {
                Some(b) => format!("guidance applied to {}", name(*b)),
                None => "guidance applied to every branch".into(),
            },
            (Command::Prune { branch }, EventKind::BranchStatusChanged { .. }) if e.span_id == *branch => {
                format!("{} pruned", name(*branch))
            }
            (Command::Pause { branch }, EventKind::BranchStatusChanged { .. }) if e.span_id == *branch => {
                format!("{} paused", name(*branch))
            }
            (Command::Resume { branch }, EventKind::BranchStatusChanged { .. }) if e.span_id == *branch => {
                format!("{} resumed", name(*branch))
            }
            (Command::Fork { branch, .. }, EventKind::BranchStarted { parent_branch, .. })
                if *parent_branch == Some(*branch) =>
            {
                format!("{} forked", name(*branch))
            }
            (Command::SetBudget { .. }, EventKind::BudgetChanged { budget }) => {
                format!("budget raised to {} tool calls", budget.tool_calls)
            }
            (Command::Stop, EventKind::InvestigationFinished { .. }) => {
                "investigation stopped: review, grade and comment; q quits".into()
            }
            _ => return,
        };
        self.asked.pop_front();
        self.toast = Some((said, false));
    }

    /// Whether `action` does something here and now; hints and help show only these.
    pub fn available(&self, action: Action) -> bool {
        use Action::*;
        let branch = self.selected_branch();
        let branch_live = branch.is_some_and(|b| b.status.is_live());
        let lines = matches!(self.focus, Focus::Stream | Focus::Evidence);
        match action {
            Guide | Stop | RaiseBudget => self.running(),
            GuideBranch | Prune | Pause => self.running() && self.focus == Focus::Tree && branch_live,
            Fork => self.running() && self.focus == Focus::Tree && branch.is_some(),
            GradeCorrect | GradePartly | GradeWrong => self.focus == Focus::Causes && !self.root_causes().is_empty(),
            RateUp | RateDown | Comment => self.target_here().is_some(),
            Select => lines,
            StepBack | StepForward | CallBack | CallForward | Play => self.replay.is_some(),
            Raw => {
                use crate::model::EvidenceKind as K;
                let kind = self
                    .evidence_span()
                    .and_then(|span| self.state.as_ref()?.evidence.get(&span).map(|e| e.evidence.kind));
                self.focus == Focus::Evidence && matches!(kind, Some(K::LogLines | K::KubernetesObject | K::Trace))
            }
            SearchNext | SearchPrev => lines && self.search.is_some(),
            Keep => matches!(self.mode, Mode::Confirm(Ask::Quit)),
            _ => true,
        }
    }

    /// The word beside `action`'s key, where it depends on the state.
    pub fn hint_label(&self, action: Action) -> &'static str {
        match action {
            Action::Pause if self.selected_branch().is_some_and(|b| b.status == BranchStatus::Paused) => "resume",
            Action::Interrupt if !self.running() => "quit",
            Action::Play => match self.replay.as_ref().map(|r| r.speed()) {
                Some(0) | None => "play",
                Some(1) => "4x",
                Some(4) => "16x",
                Some(_) => "pause",
            },
            Action::Search if matches!(self.mode, Mode::Help { .. }) => "filter",
            Action::Raw if self.evidence_raw => "readable",
            Action::Wrap if self.evidence_wrap => "no wrap",
            a => a.label(),
        }
    }
}
