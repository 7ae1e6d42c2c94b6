//! The cockpit's state: what it knows of the investigation (the fold of its
//! events), which pane has the keyboard, the mode, cursors and selections.

use std::collections::{BTreeMap, BTreeSet};

use ratatui_textarea::TextArea;

use super::lines::{LineCache, StreamLine};
use crate::model::{
    BranchState, Event, EventKind, Feedback, Grade, Highlight, InvestigationState, InvestigationStatus, Rating,
    RootCause, SpanId, Step,
};
use crate::tools::sanitize::clean;
use crate::tui::keymap::{Key, Keymap, Layer};

/// Which pane has the keyboard.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Focus {
    Tree,
    Stream,
    Evidence,
    Causes,
}

impl Focus {
    pub fn layer(self) -> Layer {
        match self {
            Focus::Tree => Layer::Tree,
            Focus::Stream => Layer::Stream,
            Focus::Evidence => Layer::Evidence,
            Focus::Causes => Layer::Causes,
        }
    }
    pub(super) fn next(self) -> Focus {
        match self {
            Focus::Tree => Focus::Stream,
            Focus::Stream => Focus::Evidence,
            Focus::Evidence => Focus::Causes,
            Focus::Causes => Focus::Tree,
        }
    }
    pub(super) fn prev(self) -> Focus {
        match self {
            Focus::Tree => Focus::Causes,
            Focus::Stream => Focus::Tree,
            Focus::Evidence => Focus::Stream,
            Focus::Causes => Focus::Evidence,
        }
    }
}

/// What a node is, for feedback.
#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    pub span: SpanId,
    /// `branch`, `thought`, `tool_call`, `guidance`, `hypothesis`, `evidence`, `root_cause`.
    pub kind: String,
    pub label: String,
}

/// What the composer's text will become.
#[derive(Clone, Debug, PartialEq)]
pub enum Purpose {
    Guide {
        branch: Option<SpanId>,
        label: String,
    },
    Fork {
        branch: SpanId,
        label: String,
    },
    Comment {
        target: Target,
        highlight: Option<Highlight>,
        /// The rating or grade this comment refines.
        parent: Option<String>,
        /// Every span the highlight covers, when it crosses nodes.
        spans: Vec<SpanId>,
    },
}

pub enum Mode {
    Normal,
    Composer {
        purpose: Purpose,
        area: Box<TextArea<'static>>,
    },
    /// A question before something that cannot be taken back.
    Confirm(Ask),
    Help {
        scroll: u16,
        /// Only the bindings whose keys or words hold this.
        filter: String,
        /// Typing the filter.
        typing: bool,
    },
    /// Everything about one node, full height; `scroll` in wrapped rows.
    Detail {
        target: Target,
        scroll: usize,
    },
    /// Typing a search in the stream or the evidence.
    Search {
        input: String,
    },
}

/// What a confirmation asks.
#[derive(Clone, Debug, PartialEq)]
pub enum Ask {
    Prune {
        branch: SpanId,
        label: String,
    },
    /// Quit while the investigation still runs: stop it, or keep it running in the background.
    Quit,
    /// Stop the running investigation (Ctrl-C); a second Ctrl-C quits.
    Stop,
}

/// The hypotheses merged into `rc`, with their branch's strategy, most
/// confident first (the strategy settles ties, so arrival order never shows).
pub fn proposals<'a>(s: &'a InvestigationState, rc: &RootCause) -> Vec<(&'a str, &'a crate::model::Hypothesis)> {
    let mut out: Vec<(&str, &crate::model::Hypothesis)> = s
        .branches
        .iter()
        .flat_map(|b| {
            b.hypotheses
                .iter()
                .filter(|(span, _)| rc.hypotheses.contains(span))
                .map(move |(_, h)| (b.strategy.as_str(), h))
        })
        .collect();
    out.sort_by(|a, b| b.1.confidence.total_cmp(&a.1.confidence).then(a.0.cmp(b.0)));
    out
}

/// The first of `spans` that is stored evidence with a body of a few lines, else the first stored.
fn strongest<'a>(state: &InvestigationState, mut spans: impl Iterator<Item = &'a SpanId> + Clone) -> Option<SpanId> {
    let stored = |s: &&SpanId| state.evidence.contains_key(*s);
    let full = |s: &&SpanId| {
        state
            .evidence
            .get(*s)
            .is_some_and(|e| e.evidence.body.lines().nth(3).is_some())
    };
    spans
        .clone()
        .filter(stored)
        .find(full)
        .or_else(|| spans.find(stored))
        .copied()
}

/// A pane with a cursor and an optional line selection.
#[derive(Clone, Debug, Default)]
pub struct Cursor {
    pub line: usize,
    pub scroll: usize,
    pub anchor: Option<usize>,
}

impl Cursor {
    pub(super) fn clamp(&mut self, len: usize) {
        if len == 0 {
            self.line = 0;
        } else if self.line >= len {
            self.line = len - 1;
        }
    }
    pub(super) fn mv(&mut self, delta: isize, len: usize) {
        let l = self.line as isize + delta;
        self.line = l.clamp(0, len.saturating_sub(1) as isize) as usize;
    }
    pub fn selection(&self) -> Option<(usize, usize)> {
        self.anchor.map(|a| (a.min(self.line), a.max(self.line)))
    }
    /// Keeps the cursor inside a window of `height` lines.
    pub fn follow(&mut self, height: usize) {
        if height == 0 {
            return;
        }
        if self.line < self.scroll {
            self.scroll = self.line;
        } else if self.line >= self.scroll + height {
            self.scroll = self.line + 1 - height;
        }
    }
}

pub struct App {
    pub state: Option<InvestigationState>,
    /// Commands can be sent (a running investigation), or this is a review.
    pub live: bool,
    pub focus: Focus,
    pub mode: Mode,
    pub keymap: Keymap,
    pub author: String,
    pub tree_sel: usize,
    pub stream: Cursor,
    /// Follow the end of the stream as it grows.
    pub stream_follow: bool,
    pub evidence: Cursor,
    pub cause_sel: usize,
    pub feedback: Vec<Feedback>,
    /// A short message in the status line: (text, is_error).
    pub toast: Option<(String, bool)>,
    /// What the open detail view links to (a cause's evidence chain), as drawn last,
    /// the link picked, and the views to go back to.
    pub detail_links: Vec<Target>,
    pub detail_pick: Option<usize>,
    pub detail_back: Vec<(Target, usize)>,
    pub(super) pending: Vec<Key>,
    pub(super) lines: LineCache,
    pub quit: bool,
    /// Frame counter, drives the spinner.
    pub tick: u64,
    /// Messages from loading key maps and themes.
    pub notices: Vec<String>,
    /// The last search, for `n` and `N`.
    pub search: Option<String>,
    /// Ctrl-C was pressed and nothing else since: the next one quits.
    pub(super) interrupted: bool,
    /// The evidence shown as its raw body rather than its readable form.
    pub evidence_raw: bool,
    /// Long evidence lines wrap rather than clip.
    pub evidence_wrap: bool,
    /// Columns the evidence is scrolled right by (when not wrapping).
    pub evidence_hscroll: usize,
    /// The pane the evidence pane follows (the last focused other than itself).
    pub evidence_source: Focus,
    /// A stored investigation being reviewed, which can be replayed.
    pub replay: Option<super::replay::Replay>,
    /// The rating just given, which `c` comments on for a few seconds: (its id, what it rated, until).
    pub rated: Option<(String, Target, std::time::Instant)>,
    /// Commands sent that the engine has not answered yet, oldest first, to confirm each with a toast.
    pub(super) asked: std::collections::VecDeque<crate::model::Command>,
    /// The server hosting the investigation, when this cockpit is attached to one.
    pub remote: Option<String>,
    /// Who is attached to the investigation (this cockpit included), as the server last said.
    pub attached: Vec<String>,
    /// The link to the server is down: why, shown until it is back.
    pub link_down: Option<String>,
    /// What quitting does to a running investigation.
    pub leave: super::Leave,
    /// The terminal hung up: nothing more may be written to it.
    pub hangup: bool,
}

impl App {
    pub fn new(keymap: Keymap, author: String, live: bool) -> App {
        App {
            state: None,
            live,
            focus: Focus::Tree,
            mode: Mode::Normal,
            keymap,
            author,
            tree_sel: 0,
            stream: Cursor::default(),
            stream_follow: true,
            evidence: Cursor::default(),
            cause_sel: 0,
            feedback: Vec::new(),
            toast: None,
            detail_links: Vec::new(),
            detail_pick: None,
            detail_back: Vec::new(),
            search: None,
            interrupted: false,
            evidence_source: Focus::Tree,
            rated: None,
            replay: None,
            evidence_raw: false,
            evidence_wrap: false,
            evidence_hscroll: 0,
            asked: Default::default(),
            pending: Vec::new(),
            lines: LineCache::default(),
            quit: false,
            tick: 0,
            notices: Vec::new(),
            remote: None,
            attached: Vec::new(),
            link_down: None,
            leave: super::Leave::Stop,
            hangup: false,
        }
    }

    /// Applies one engine event.
    pub fn on_event(&mut self, e: &Event) {
        match &mut self.state {
            None => match InvestigationState::start(e) {
                Ok(s) => self.state = Some(s),
                Err(err) => self.toast = Some((format!("unreadable event: {err}"), true)),
            },
            Some(s) => {
                if let Err(err) = s.apply(e) {
                    self.toast = Some((format!("unreadable event: {err}"), true));
                }
            }
        }
        if let EventKind::CommandRejected { command, reason } = &e.kind {
            self.asked.pop_front();
            self.toast = Some((format!("{command} refused: {}", clean(reason)), true));
        } else {
            self.confirm_answer(e);
        }
        if matches!(e.kind, EventKind::InvestigationFinished { .. }) {
            self.live = false;
        }
        if self.stream_follow {
            self.stream.line = usize::MAX;
        }
    }

    /// Branches in tree order: each fork right under its parent. (branch index, depth)
    pub fn tree_rows(&self) -> Vec<(usize, usize)> {
        let Some(s) = &self.state else { return vec![] };
        let mut out = Vec::new();
        fn walk(s: &InvestigationState, parent: Option<SpanId>, depth: usize, out: &mut Vec<(usize, usize)>) {
            for (i, b) in s.branches.iter().enumerate() {
                if b.parent == parent {
                    out.push((i, depth));
                    walk(s, Some(b.span), depth + 1, out);
                }
            }
        }
        walk(s, None, 0, &mut out);
        // Branches whose parent is unknown still show.
        let seen: BTreeSet<usize> = out.iter().map(|r| r.0).collect();
        for i in 0..s.branches.len() {
            if !seen.contains(&i) {
                out.push((i, 0));
            }
        }
        out
    }

    pub fn selected_branch(&self) -> Option<&BranchState> {
        let rows = self.tree_rows();
        let (i, _) = rows.get(self.tree_sel.min(rows.len().saturating_sub(1)))?;
        self.state.as_ref()?.branches.get(*i)
    }

    /// The evidence the evidence pane shows, following the pane last focused:
    /// the selected cause's strongest evidence; the tool call (or hypothesis)
    /// under the stream cursor, nothing for a thought; in the tree, or while
    /// the stream follows its end, what the branch found for the top cause.
    pub fn evidence_span(&self) -> Option<SpanId> {
        self.evidence_span_in(&self.stream_lines())
    }

    /// [`evidence_span`](Self::evidence_span) with the stream lines already at hand.
    pub fn evidence_span_in(&self, lines: &[StreamLine]) -> Option<SpanId> {
        match self.evidence_source {
            Focus::Causes => return self.cause_evidence(self.cause_sel),
            Focus::Stream if !self.stream_follow => return self.evidence_at_cursor(lines),
            _ => {}
        }
        let b = self.selected_branch()?;
        let state = self.state.as_ref()?;
        let mine = |span: &&SpanId| state.evidence.get(span).is_some_and(|e| e.branch == Some(b.span));
        // What this branch found for the top cause, else for its own best guess.
        let top = state.root_causes.first().and_then(|rc| {
            let own = b.hypotheses.iter().filter(|(span, _)| rc.hypotheses.contains(span));
            strongest(state, own.flat_map(|(_, h)| h.evidence.iter()).filter(mine))
        });
        let best = b.best().and_then(|h| strongest(state, h.evidence.iter().filter(mine)));
        top.or(best).or_else(|| {
            // Otherwise the latest evidence with something in it.
            let has_body = |span: &SpanId| {
                state
                    .evidence
                    .get(span)
                    .is_some_and(|e| e.evidence.body.lines().nth(3).is_some())
            };
            let latest = |want_body: bool| {
                b.steps.iter().rev().find_map(|s| match s {
                    Step::ToolCall { evidence: Some(e), .. } if !want_body || has_body(e) => Some(*e),
                    _ => None,
                })
            };
            latest(true).or_else(|| latest(false))
        })
    }

    /// The evidence of the line under the stream cursor: a finished call's
    /// (none when it failed), a hypothesis's strongest; none for a thought.
    fn evidence_at_cursor(&self, lines: &[StreamLine]) -> Option<SpanId> {
        let b = self.selected_branch()?;
        let state = self.state.as_ref()?;
        let span = lines
            .get(self.stream.line.min(lines.len().saturating_sub(1)))?
            .target
            .span;
        match b.steps.iter().find(|s| s.span() == span)? {
            Step::ToolCall {
                evidence: Some(e),
                status: Some(_),
                ..
            } => Some(*e),
            Step::Hypothesis { hypothesis, .. } => strongest(state, hypothesis.evidence.iter()),
            _ => None,
        }
    }

    /// The strongest evidence of the `i`th root cause: the first, in the
    /// order its hypotheses cite it, with more than a few lines to show.
    pub fn cause_evidence(&self, i: usize) -> Option<SpanId> {
        let state = self.state.as_ref()?;
        let rc = state.root_causes.get(i)?;
        let cited = proposals(state, rc);
        strongest(state, cited.iter().flat_map(|(_, h)| h.evidence.iter()))
            .or_else(|| strongest(state, rc.evidence.iter()))
    }

    pub fn evidence_lines(&self) -> Vec<String> {
        let Some(span) = self.evidence_span() else {
            return vec![];
        };
        let Some(ev) = self.state.as_ref().and_then(|s| s.evidence.get(&span)) else {
            return vec![];
        };
        let body = clean(&ev.evidence.body);
        match self.readable_evidence(span) {
            Some(rows) => rows.iter().map(crate::tui::readable::text).collect(),
            None => body.lines().map(str::to_string).collect(),
        }
    }

    /// The readable form of the evidence `span`, unless the raw body was asked for.
    pub fn readable_evidence(&self, span: SpanId) -> Option<Vec<crate::tui::readable::Row>> {
        if self.evidence_raw {
            return None;
        }
        let s = self.state.as_ref()?;
        let ev = s.evidence.get(&span)?;
        crate::tui::readable::readable(ev.evidence.kind, &clean(&ev.evidence.body), s.now)
    }

    pub fn root_causes(&self) -> &[RootCause] {
        self.state.as_ref().map(|s| s.root_causes.as_slice()).unwrap_or(&[])
    }

    /// `could not read: kubernetes, traces` when the conclusion rests without some source.
    pub fn unread_line(&self) -> Option<String> {
        self.state.as_ref().and_then(|s| s.sources.unavailable_line())
    }

    /// The layer keys go to first.
    pub fn layer(&self) -> Layer {
        match &self.mode {
            Mode::Normal => self.focus.layer(),
            Mode::Composer { .. } => Layer::Composer,
            Mode::Confirm(_) => Layer::Confirm,
            Mode::Help { .. } => Layer::Help,
            Mode::Detail { .. } => Layer::Detail,
            Mode::Search { .. } => Layer::Composer,
        }
    }

    /// Spans with feedback, for markers.
    pub fn feedback_spans(&self) -> BTreeSet<SpanId> {
        self.feedback.iter().map(|f| f.span_id).collect()
    }

    /// The mark of each span with feedback: ✎ commented, else ▲ rated up or
    /// ▼ rated down (the latest rating), else ◆ graded.
    pub fn feedback_marks(&self) -> BTreeMap<SpanId, &'static str> {
        let mut out: BTreeMap<SpanId, &'static str> = BTreeMap::new();
        for f in &self.feedback {
            let m = out.entry(f.span_id).or_insert("◆");
            if *m == "✎" {
                continue;
            }
            *m = match (&f.comment, &f.rating) {
                (Some(_), _) => "✎",
                (_, Some(Rating::Up)) => "▲",
                (_, Some(Rating::Down)) => "▼",
                _ => m,
            };
        }
        out
    }

    /// Branches with feedback on themselves or anything in them.
    pub fn branches_with_feedback(&self) -> BTreeSet<SpanId> {
        let spans = self.feedback_spans();
        let mut out = BTreeSet::new();
        let Some(s) = &self.state else { return out };
        if spans.is_empty() {
            return out;
        }
        for b in &s.branches {
            if spans.contains(&b.span) || b.steps.iter().any(|st| spans.contains(&st.span())) {
                out.insert(b.span);
            }
        }
        for span in &spans {
            if let Some(b) = s.evidence.get(span).and_then(|e| e.branch) {
                out.insert(b);
            }
        }
        out
    }

    /// Called once feedback is safely stored.
    pub fn feedback_saved(&mut self, f: Feedback) {
        let what = match (&f.rating, &f.grade, &f.comment) {
            (_, Some(g), _) => format!("graded {}", g.name()),
            (Some(Rating::Up), _, _) => "rated up".to_string(),
            (Some(Rating::Down), _, _) => "rated down".to_string(),
            (_, _, Some(_)) => match &f.highlight {
                Some(h) if f.spans.len() > 1 => format!(
                    "comment on lines {}-{} across {} nodes",
                    h.start_line,
                    h.end_line,
                    f.spans.len()
                ),
                Some(h) => format!("comment on lines {}-{}", h.start_line, h.end_line),
                None => "comment".to_string(),
            },
            _ => "feedback".to_string(),
        };
        let offer = match &self.rated {
            Some((id, _, until)) if *id == f.id && std::time::Instant::now() < *until => " · add a comment? (c)",
            _ => "",
        };
        let reply = if f.parent.is_some() { " (in reply)" } else { "" };
        self.toast = Some((
            format!("saved: {what}{reply} on {} {}{offer}", f.target, f.span_id.short()),
            false,
        ));
        // The server may have told of it already (shared investigations).
        if !self.feedback.iter().any(|g| g.id == f.id) {
            self.feedback.push(f);
        }
    }

    /// Grades given to root causes, by hypothesis span.
    pub fn grades(&self) -> BTreeMap<SpanId, Grade> {
        self.feedback
            .iter()
            .filter_map(|f| f.grade.map(|g| (f.span_id, g)))
            .collect()
    }

    pub fn finished(&self) -> bool {
        self.state
            .as_ref()
            .is_some_and(|s| s.status != InvestigationStatus::Running)
    }
}
