//! The cockpit's state and its update: engine events and keys in, commands
//! and feedback out. Nothing here touches the terminal or the engine.

use std::collections::{BTreeMap, BTreeSet};

use ratatui_textarea::TextArea;

use super::keymap::{Key, Keymap, Layer, Lookup};
use crate::model::{
    BranchStatus, Command, Event, EventKind, Feedback, Grade, Highlight, InvestigationState, InvestigationStatus,
    Rating, Request, RootCause, Scope, SpanId, Step, Timestamp,
};
use crate::tools::render::call_line;
use crate::tools::sanitize::clean;

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
    fn next(self) -> Focus {
        match self {
            Focus::Tree => Focus::Stream,
            Focus::Stream => Focus::Evidence,
            Focus::Evidence => Focus::Causes,
            Focus::Causes => Focus::Tree,
        }
    }
    fn prev(self) -> Focus {
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
    },
}

pub enum Mode {
    Normal,
    Composer {
        purpose: Purpose,
        area: Box<TextArea<'static>>,
    },
    ConfirmPrune {
        branch: SpanId,
        label: String,
    },
    Help {
        scroll: u16,
    },
    /// Typing a search in the stream or the evidence.
    Search {
        input: String,
    },
}

/// A line of the stream pane and the node it belongs to.
#[derive(Clone, Debug)]
pub struct StreamLine {
    pub target: Target,
    pub at: Option<Timestamp>,
    pub kind: LineKind,
    pub text: String,
    /// Line within its node's own text (0-based), for highlights.
    pub node_line: usize,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineKind {
    Thought,
    ToolStart,
    ToolOk,
    ToolError,
    ToolRefused,
    ToolPending,
    Guidance,
    Hypothesis,
    Status,
}

/// A pane with a cursor and an optional line selection.
#[derive(Clone, Debug, Default)]
pub struct Cursor {
    pub line: usize,
    pub scroll: usize,
    pub anchor: Option<usize>,
}

impl Cursor {
    fn clamp(&mut self, len: usize) {
        if len == 0 {
            self.line = 0;
        } else if self.line >= len {
            self.line = len - 1;
        }
    }
    fn mv(&mut self, delta: isize, len: usize) {
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
    pending: Vec<Key>,
    pub quit: bool,
    /// Frame counter, drives the spinner.
    pub tick: u64,
    /// Messages from loading key maps and themes.
    pub notices: Vec<String>,
    /// The last search, for `n` and `N`.
    pub search: Option<String>,
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
            search: None,
            pending: Vec::new(),
            quit: false,
            tick: 0,
            notices: Vec::new(),
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
            self.toast = Some((format!("{command} refused: {}", clean(reason)), true));
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

    pub fn selected_branch(&self) -> Option<&crate::model::BranchState> {
        let rows = self.tree_rows();
        let (i, _) = rows.get(self.tree_sel.min(rows.len().saturating_sub(1)))?;
        self.state.as_ref()?.branches.get(*i)
    }

    /// The selected branch's steps as lines.
    pub fn stream_lines(&self) -> Vec<StreamLine> {
        let Some(b) = self.selected_branch() else { return vec![] };
        let mut out = Vec::new();
        let strategy = b.strategy.clone();
        // Guidance to the whole investigation shows in every branch, where it fell in time.
        let mut steps: Vec<&Step> = b.steps.iter().collect();
        if let Some(st) = self.state.as_ref().filter(|st| !st.guidance_steps.is_empty()) {
            // Each list is in time order already: merge, keeping a branch's own order on ties.
            let mut merged = Vec::with_capacity(steps.len() + st.guidance_steps.len());
            let mut g = st.guidance_steps.iter().peekable();
            for s in steps {
                while let Some(x) = g.next_if(|x| x.at() < s.at()) {
                    merged.push(x);
                }
                merged.push(s);
            }
            merged.extend(g);
            steps = merged;
        }
        for step in steps {
            let (kind, name, at, text, lk) = match step {
                Step::Thought { at, text, .. } => ("thought", "thought", *at, clean(text), LineKind::Thought),
                Step::ToolCall {
                    at,
                    tool,
                    args,
                    status,
                    duration_ms,
                    summary,
                    error,
                    ..
                } => {
                    let (lk, tail) = match status {
                        None => (LineKind::ToolPending, "waiting for the answer".to_string()),
                        Some(crate::model::CallStatus::Ok) => (
                            LineKind::ToolOk,
                            format!(
                                "{} · {} ms",
                                summary.clone().unwrap_or_default(),
                                duration_ms.unwrap_or(0)
                            ),
                        ),
                        Some(crate::model::CallStatus::Refused) => (
                            LineKind::ToolRefused,
                            format!("refused: {}", error.clone().unwrap_or_default()),
                        ),
                        Some(crate::model::CallStatus::Error) => (
                            LineKind::ToolError,
                            format!(
                                "{} · {} ms",
                                error.clone().unwrap_or_default(),
                                duration_ms.unwrap_or(0)
                            ),
                        ),
                    };
                    (
                        "tool_call",
                        tool.as_str(),
                        *at,
                        format!("{}\n{}", call_line(tool, args), clean(&tail)),
                        lk,
                    )
                }
                Step::Guidance { at, text, author, .. } => (
                    "guidance",
                    "guidance",
                    *at,
                    clean(&format!("{author}: {text}")),
                    LineKind::Guidance,
                ),
                Step::Hypothesis { at, hypothesis: h, .. } => (
                    "hypothesis",
                    "hypothesis",
                    *at,
                    clean(&format!(
                        "{} {} {:.2}  {}",
                        h.service,
                        h.kind.as_str(),
                        h.confidence,
                        h.statement
                    )),
                    LineKind::Hypothesis,
                ),
                Step::Status { at, status, reason, .. } => (
                    "status",
                    "status",
                    *at,
                    clean(&format!(
                        "{}{}",
                        status.as_str(),
                        reason.as_deref().map(|r| format!(": {r}")).unwrap_or_default()
                    )),
                    LineKind::Status,
                ),
            };
            let target = Target {
                span: step.span(),
                kind: kind.to_string(),
                label: format!("{strategy} {name}"),
            };
            for (n, line) in text.lines().enumerate() {
                let lk = match (lk, n) {
                    (LineKind::ToolOk | LineKind::ToolError | LineKind::ToolRefused | LineKind::ToolPending, 0) => {
                        LineKind::ToolStart
                    }
                    _ => lk,
                };
                out.push(StreamLine {
                    target: target.clone(),
                    at: (n == 0).then_some(at),
                    kind: lk,
                    text: line.to_string(),
                    node_line: n,
                });
            }
        }
        out
    }

    /// The evidence the evidence pane shows: the tool call under the stream
    /// cursor if it brought some, else the branch's latest.
    pub fn evidence_span(&self) -> Option<SpanId> {
        self.evidence_span_in(&self.stream_lines())
    }

    /// [`evidence_span`](Self::evidence_span) with the stream lines already at hand.
    pub fn evidence_span_in(&self, lines: &[StreamLine]) -> Option<SpanId> {
        let b = self.selected_branch()?;
        let evidence = &self.state.as_ref()?.evidence;
        let at_cursor = lines
            .get(self.stream.line.min(lines.len().saturating_sub(1)))
            .map(|l| l.target.span);
        // At the cursor: a finished call's evidence (none when it failed), or
        // the first evidence a hypothesis rests on.
        let here = at_cursor.and_then(|span| b.steps.iter().find(|s| s.span() == span));
        match here {
            Some(Step::ToolCall {
                evidence: Some(e),
                status: Some(_),
                ..
            }) => return Some(*e),
            Some(Step::ToolCall { status: Some(st), .. }) if *st != crate::model::CallStatus::Ok => return None,
            Some(Step::Hypothesis { hypothesis, .. }) => {
                if let Some(e) = hypothesis.evidence.iter().find(|e| evidence.contains_key(e)) {
                    return Some(*e);
                }
            }
            _ => {}
        }
        // Otherwise the latest evidence with something in it.
        let has_body = |span: &SpanId| {
            evidence
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
    }

    pub fn evidence_lines(&self) -> Vec<String> {
        let Some(span) = self.evidence_span() else {
            return vec![];
        };
        let Some(ev) = self.state.as_ref().and_then(|s| s.evidence.get(&span)) else {
            return vec![];
        };
        clean(&ev.evidence.body).lines().map(str::to_string).collect()
    }

    pub fn root_causes(&self) -> &[RootCause] {
        self.state.as_ref().map(|s| s.root_causes.as_slice()).unwrap_or(&[])
    }

    /// The layer keys go to first.
    pub fn layer(&self) -> Layer {
        match &self.mode {
            Mode::Normal => self.focus.layer(),
            Mode::Composer { .. } => Layer::Composer,
            Mode::ConfirmPrune { .. } => Layer::Confirm,
            Mode::Help { .. } => Layer::Help,
            Mode::Search { .. } => Layer::Composer,
        }
    }

    /// Spans with feedback, for markers.
    pub fn feedback_spans(&self) -> BTreeSet<SpanId> {
        self.feedback.iter().map(|f| f.span_id).collect()
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

    /// Handles one key press.
    pub fn on_key(&mut self, ev: &crossterm::event::KeyEvent) -> Vec<Request> {
        let key = Key::from_event(ev);
        if let Mode::Composer { area, .. } = &mut self.mode {
            // The composer's own keys first; everything else is typing.
            match self.keymap.lookup(Layer::Composer, &[key]) {
                Lookup::Run(b) => {
                    let run = b.run.clone();
                    return self.run(&run);
                }
                _ => {
                    area.input(*ev);
                    return vec![];
                }
            }
        }
        if let Mode::Search { input } = &mut self.mode {
            use crossterm::event::KeyCode;
            match ev.code {
                KeyCode::Enter => {
                    let pattern = std::mem::take(input);
                    self.mode = Mode::Normal;
                    if !pattern.is_empty() {
                        self.search = Some(pattern);
                        self.find(true);
                    }
                }
                KeyCode::Esc => self.mode = Mode::Normal,
                KeyCode::Backspace => {
                    input.pop();
                }
                KeyCode::Char(c) if !ev.modifiers.contains(crossterm::event::KeyModifiers::CONTROL) => input.push(c),
                _ => {}
            }
            return vec![];
        }
        self.pending.push(key);
        let layer = self.layer();
        match self.keymap.lookup(layer, &self.pending) {
            Lookup::Run(b) => {
                let run = b.run.clone();
                self.pending.clear();
                self.run(&run)
            }
            Lookup::Prefix => vec![],
            Lookup::None => {
                self.pending.clear();
                vec![]
            }
        }
    }

    fn target_here(&self) -> Option<Target> {
        match self.focus {
            Focus::Tree => self.selected_branch().map(|b| Target {
                span: b.span,
                kind: "branch".into(),
                label: b.strategy.clone(),
            }),
            Focus::Stream => {
                let lines = self.stream_lines();
                lines
                    .get(self.stream.line.min(lines.len().saturating_sub(1)))
                    .map(|l| l.target.clone())
            }
            Focus::Evidence => self.evidence_span().map(|span| Target {
                span,
                kind: "evidence".into(),
                label: self
                    .state
                    .as_ref()
                    .and_then(|s| s.evidence.get(&span))
                    .map(|e| clean(&e.evidence.summary))
                    .unwrap_or_default(),
            }),
            Focus::Causes => self.root_causes().get(self.cause_sel).and_then(|rc| {
                rc.hypotheses.first().map(|h| Target {
                    span: *h,
                    kind: "root_cause".into(),
                    label: format!("{} {}", rc.service, rc.kind.as_str()),
                })
            }),
        }
    }

    fn feedback_for(&self, target: &Target) -> Feedback {
        let s = self.state.as_ref();
        Feedback {
            trace_id: s.map(|s| s.trace_id).unwrap_or_else(crate::model::TraceId::random),
            span_id: target.span,
            target: target.kind.clone(),
            rating: None,
            grade: None,
            highlight: None,
            comment: None,
            author: self.author.clone(),
            at: Timestamp::now(),
            bundle_id: s.map(|s| s.bundle_id.clone()).unwrap_or_default(),
        }
    }

    fn lens(&self) -> (usize, usize, usize, usize) {
        (
            self.tree_rows().len(),
            self.stream_lines().len(),
            self.evidence_lines().len(),
            self.root_causes().len(),
        )
    }

    fn branch_live(&self, span: SpanId) -> bool {
        self.state
            .as_ref()
            .and_then(|s| s.branch(span))
            .is_some_and(|b| b.status.is_live())
    }

    fn not_live(&mut self) -> Vec<Request> {
        self.toast = Some(("this investigation has ended: review only".into(), true));
        vec![]
    }

    fn open_composer(&mut self, purpose: Purpose) {
        let mut area = TextArea::default();
        area.set_cursor_line_style(ratatui::style::Style::default());
        self.mode = Mode::Composer {
            purpose,
            area: Box::new(area),
        };
    }

    /// Moves the cursor of the focused pane (stream or evidence) to the next
    /// (or previous) line holding the last search, wrapping around. Smart
    /// case: a pattern with a capital letter matches case.
    fn find(&mut self, forward: bool) {
        let Some(pattern) = self.search.clone() else { return };
        let lines: Vec<String> = match self.focus {
            Focus::Stream => self.stream_lines().into_iter().map(|l| l.text).collect(),
            Focus::Evidence => self.evidence_lines(),
            _ => return,
        };
        let exact = pattern.chars().any(char::is_uppercase);
        let needle = if exact { pattern.clone() } else { pattern.to_lowercase() };
        let hit = |l: &String| {
            if exact {
                l.contains(&needle)
            } else {
                l.to_lowercase().contains(&needle)
            }
        };
        let hits: Vec<usize> = lines
            .iter()
            .enumerate()
            .filter(|(_, l)| hit(l))
            .map(|(i, _)| i)
            .collect();
        if hits.is_empty() {
            self.toast = Some((format!("no line holds {:?}", clean(&pattern)), true));
            return;
        }
        let cursor = match self.focus {
            Focus::Stream => &mut self.stream,
            _ => &mut self.evidence,
        };
        let at = cursor.line.min(lines.len().saturating_sub(1));
        let next = if forward {
            hits.iter().copied().find(|&i| i > at).unwrap_or(hits[0])
        } else {
            hits.iter()
                .rev()
                .copied()
                .find(|&i| i < at)
                .unwrap_or(hits[hits.len() - 1])
        };
        cursor.line = next;
        let n = hits.iter().position(|&i| i == next).unwrap_or(0) + 1;
        if self.focus == Focus::Stream {
            self.stream_follow = false;
            self.evidence = Cursor::default();
        }
        self.toast = Some((format!("{:?}: match {n} of {}", clean(&pattern), hits.len()), false));
    }

    /// Runs one action by name.
    pub fn run(&mut self, action: &str) -> Vec<Request> {
        let (n_tree, n_stream, n_ev, n_causes) = self.lens();
        let page = 10isize;
        match (&self.mode, action) {
            (Mode::Composer { .. }, "cancel") | (Mode::ConfirmPrune { .. }, "no") => {
                self.mode = Mode::Normal;
                return vec![];
            }
            (Mode::Composer { .. }, "newline") => {
                if let Mode::Composer { area, .. } = &mut self.mode {
                    area.insert_newline();
                }
                return vec![];
            }
            (Mode::Composer { .. }, "submit") => return self.submit(),
            (Mode::ConfirmPrune { branch, .. }, "yes") => {
                let branch = *branch;
                self.mode = Mode::Normal;
                if !self.live {
                    return self.not_live();
                }
                return vec![Request::Command(Command::Prune { branch })];
            }
            (Mode::Help { .. }, "close") => {
                self.mode = Mode::Normal;
                return vec![];
            }
            (Mode::Help { scroll }, "down") => {
                self.mode = Mode::Help {
                    scroll: scroll.saturating_add(1),
                };
                return vec![];
            }
            (Mode::Help { scroll }, "up") => {
                self.mode = Mode::Help {
                    scroll: scroll.saturating_sub(1),
                };
                return vec![];
            }
            (Mode::Normal, _) => {}
            _ => return vec![],
        }
        let focus = self.focus;
        match action {
            "quit" => self.quit = true,
            "help" => self.mode = Mode::Help { scroll: 0 },
            "focus_next" => self.focus = focus.next(),
            "focus_prev" => self.focus = focus.prev(),
            "focus_tree" => self.focus = Focus::Tree,
            "focus_stream" => self.focus = Focus::Stream,
            "focus_evidence" => self.focus = Focus::Evidence,
            "focus_causes" => self.focus = Focus::Causes,
            "open" => self.focus = Focus::Stream,
            "guide" => {
                if !self.live {
                    return self.not_live();
                }
                self.open_composer(Purpose::Guide {
                    branch: None,
                    label: "the whole investigation".into(),
                })
            }
            "down" | "up" | "page_down" | "page_up" | "first" | "last" => {
                let d: isize = match action {
                    "down" => 1,
                    "up" => -1,
                    "page_down" => page,
                    "page_up" => -page,
                    "first" => isize::MIN / 2,
                    _ => isize::MAX / 2,
                };
                match focus {
                    Focus::Tree => {
                        let l = (self.tree_sel as isize).saturating_add(d);
                        self.tree_sel = l.clamp(0, n_tree.saturating_sub(1) as isize) as usize;
                        self.stream = Cursor::default();
                        self.stream_follow = true;
                        self.stream.line = usize::MAX;
                        self.evidence = Cursor::default();
                    }
                    Focus::Stream => {
                        self.stream.clamp(n_stream);
                        self.stream.mv(d, n_stream);
                        self.stream_follow = self.stream.line + 1 >= n_stream;
                        self.evidence = Cursor::default();
                    }
                    Focus::Evidence => {
                        self.evidence.clamp(n_ev);
                        self.evidence.mv(d, n_ev);
                    }
                    Focus::Causes => {
                        let l = (self.cause_sel as isize).saturating_add(d);
                        self.cause_sel = l.clamp(0, n_causes.saturating_sub(1) as isize) as usize;
                    }
                }
            }
            "select" => {
                let c = match focus {
                    Focus::Stream => &mut self.stream,
                    Focus::Evidence => &mut self.evidence,
                    _ => return vec![],
                };
                if c.anchor.is_some() {
                    c.anchor = None;
                } else {
                    c.clamp(if focus == Focus::Stream { n_stream } else { n_ev });
                    c.anchor = Some(c.line);
                    if focus == Focus::Stream {
                        self.stream_follow = false;
                    }
                }
            }
            "cancel" => {
                self.stream.anchor = None;
                self.evidence.anchor = None;
            }
            "search" if matches!(focus, Focus::Stream | Focus::Evidence) => {
                self.mode = Mode::Search { input: String::new() };
            }
            "search_next" | "search_prev" => {
                if self.search.is_some() {
                    self.find(action == "search_next");
                } else {
                    self.toast = Some(("no search yet: / to search".into(), true));
                }
            }
            "guide_branch" | "prune" | "pause" | "fork" => {
                let Some(b) = self.selected_branch().map(|b| (b.span, b.strategy.clone(), b.status)) else {
                    return vec![];
                };
                if !self.live {
                    return self.not_live();
                }
                let (span, label, status) = b;
                if !self.branch_live(span) && action != "fork" {
                    self.toast = Some((format!("{label} is {}", status.as_str()), true));
                    return vec![];
                }
                match action {
                    "guide_branch" => self.open_composer(Purpose::Guide {
                        branch: Some(span),
                        label,
                    }),
                    "fork" => self.open_composer(Purpose::Fork { branch: span, label }),
                    "prune" => self.mode = Mode::ConfirmPrune { branch: span, label },
                    _ => {
                        let c = if status == BranchStatus::Paused {
                            Command::Resume { branch: span }
                        } else {
                            Command::Pause { branch: span }
                        };
                        return vec![Request::Command(c)];
                    }
                }
            }
            "rate_up" | "rate_down" | "grade_correct" | "grade_partly" | "grade_wrong" => {
                let Some(t) = self.target_here() else { return vec![] };
                if action.starts_with("grade") && t.kind != "root_cause" {
                    self.toast = Some(("grades are for root causes; use + or - here".into(), true));
                    return vec![];
                }
                let mut f = self.feedback_for(&t);
                match action {
                    "rate_up" => f.rating = Some(Rating::Up),
                    "rate_down" => f.rating = Some(Rating::Down),
                    "grade_correct" => f.grade = Some(Grade::Correct),
                    "grade_partly" => f.grade = Some(Grade::Partly),
                    _ => f.grade = Some(Grade::Wrong),
                }
                return vec![Request::Feedback(f)];
            }
            "comment" => {
                let Some(target) = self.target_here() else {
                    return vec![];
                };
                let highlight = self.highlight(&target);
                self.open_composer(Purpose::Comment { target, highlight });
            }
            _ => {}
        }
        vec![]
    }

    /// The selected lines of the focused pane as a highlight on `target`.
    fn highlight(&self, target: &Target) -> Option<Highlight> {
        match self.focus {
            Focus::Evidence => {
                let (a, b) = self.evidence.selection()?;
                let lines = self.evidence_lines();
                let quote = lines.get(a..=b.min(lines.len().saturating_sub(1)))?.join("\n");
                Some(Highlight {
                    start_line: a as u32 + 1,
                    end_line: b as u32 + 1,
                    quote,
                })
            }
            Focus::Stream => {
                let (a, b) = self.stream.selection()?;
                let lines = self.stream_lines();
                let picked: Vec<&StreamLine> = lines
                    .get(a..=b.min(lines.len().saturating_sub(1)))?
                    .iter()
                    .filter(|l| l.target.span == target.span)
                    .collect();
                let first = picked.first()?;
                let last = picked.last()?;
                Some(Highlight {
                    start_line: first.node_line as u32 + 1,
                    end_line: last.node_line as u32 + 1,
                    quote: picked.iter().map(|l| l.text.as_str()).collect::<Vec<_>>().join("\n"),
                })
            }
            _ => None,
        }
    }

    fn submit(&mut self) -> Vec<Request> {
        let mode = std::mem::replace(&mut self.mode, Mode::Normal);
        let Mode::Composer { purpose, area } = mode else {
            return vec![];
        };
        let text = area.lines().join("\n").trim().to_string();
        if text.is_empty() {
            self.mode = Mode::Composer { purpose, area };
            return vec![];
        }
        match purpose {
            Purpose::Guide { branch, .. } => {
                let scope = branch.map(Scope::Branch).unwrap_or(Scope::Investigation);
                vec![Request::Command(Command::InjectGuidance { scope, text })]
            }
            Purpose::Fork { branch, .. } => vec![Request::Command(Command::Fork { branch, guidance: text })],
            Purpose::Comment { target, highlight } => {
                self.stream.anchor = None;
                self.evidence.anchor = None;
                let mut f = self.feedback_for(&target);
                f.comment = Some(text);
                f.highlight = highlight;
                vec![Request::Feedback(f)]
            }
        }
    }

    /// Called once feedback is safely stored.
    pub fn feedback_saved(&mut self, f: Feedback) {
        let what = match (&f.rating, &f.grade, &f.comment) {
            (_, Some(g), _) => format!("graded {}", g.name()),
            (Some(Rating::Up), _, _) => "rated up".to_string(),
            (Some(Rating::Down), _, _) => "rated down".to_string(),
            (_, _, Some(_)) => match &f.highlight {
                Some(h) => format!("comment on lines {}-{}", h.start_line, h.end_line),
                None => "comment".to_string(),
            },
            _ => "feedback".to_string(),
        };
        self.toast = Some((format!("saved: {what} on {} {}", f.target, f.span_id.short()), false));
        self.feedback.push(f);
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

/// [`Grade::name`], for callers outside the cockpit that still ask here.
pub fn grade_name(g: Grade) -> &'static str {
    g.name()
}
