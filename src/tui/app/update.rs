//! The cockpit's update: keys become actions, actions change the state and
//! may ask for commands and feedback, as requests.

use ratatui_textarea::TextArea;

use super::lines::StreamLine;
use super::state::{App, Ask, Cursor, Focus, Mode, Purpose, Target};
use crate::model::{BranchStatus, Command, Feedback, Grade, Highlight, Rating, Request, Scope, SpanId, Timestamp};
use crate::tools::sanitize::clean;
use crate::tui::action::Action;
use crate::tui::keymap::{Key, Layer, Lookup};

/// How long after a rating `c` comments on it.
const COMMENT_OFFER: std::time::Duration = std::time::Duration::from_secs(8);

/// Columns `h` and `l` scroll the evidence by.
const HSCROLL: usize = 8;

impl App {
    /// Handles one key press.
    pub fn on_key(&mut self, ev: &crossterm::event::KeyEvent) -> Vec<Request> {
        let key = Key::from_event(ev);
        if matches!(self.mode, Mode::Composer { .. } | Mode::Search { .. }) {
            // The composer's own keys first (chords too, as emacs's C-c C-c); everything else is typing.
            self.pending.push(key);
            let run = match self.keymap.lookup(Layer::Composer, &self.pending) {
                Lookup::Prefix => return vec![],
                Lookup::Run(b) => Some(b.run),
                Lookup::None => None,
            };
            self.pending.clear();
            match (run, &mut self.mode) {
                (Some(Action::Submit), Mode::Search { input }) => {
                    let pattern = std::mem::take(input);
                    self.mode = Mode::Normal;
                    if !pattern.is_empty() {
                        self.search = Some(pattern);
                        self.find(true);
                    }
                    return vec![];
                }
                (Some(Action::Cancel), Mode::Search { .. }) => {
                    self.mode = Mode::Normal;
                    return vec![];
                }
                (Some(run), Mode::Composer { .. }) => return self.run(run),
                (None, Mode::Composer { area, .. }) => {
                    area.input(*ev);
                    return vec![];
                }
                _ => {}
            }
        }
        if let Mode::Help {
            filter, typing: true, ..
        } = &mut self.mode
        {
            use crossterm::event::KeyCode;
            match ev.code {
                KeyCode::Enter | KeyCode::Esc => {
                    if let Mode::Help { typing, .. } = &mut self.mode {
                        *typing = false;
                    }
                }
                KeyCode::Char('g') if ev.modifiers.contains(crossterm::event::KeyModifiers::CONTROL) => {
                    filter.clear();
                    if let Mode::Help { typing, .. } = &mut self.mode {
                        *typing = false;
                    }
                }
                KeyCode::Backspace => {
                    filter.pop();
                }
                KeyCode::Char(c) if !ev.modifiers.contains(crossterm::event::KeyModifiers::CONTROL) => filter.push(c),
                _ => {}
            }
            return vec![];
        }
        if let Mode::Search { input } = &mut self.mode {
            use crossterm::event::KeyCode;
            match ev.code {
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
                let run = b.run;
                self.pending.clear();
                self.run(run)
            }
            Lookup::Prefix => vec![],
            Lookup::None => {
                self.pending.clear();
                vec![]
            }
        }
    }

    pub(super) fn target_here(&self) -> Option<Target> {
        if let Mode::Detail { target, .. } = &self.mode {
            return Some(target.clone());
        }
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
            id: Feedback::new_id(),
            parent: None,
            spans: Vec::new(),
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

    pub(super) fn open_composer(&mut self, purpose: Purpose) {
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
            Focus::Stream => self.stream_lines().iter().map(|l| l.text.clone()).collect(),
            Focus::Evidence => self.evidence_lines(),
            Focus::Tree => {
                let Some(s) = &self.state else { return };
                self.tree_rows()
                    .iter()
                    .map(|(i, _)| s.branches[*i].strategy.clone())
                    .collect()
            }
            Focus::Causes => self
                .root_causes()
                .iter()
                .map(|rc| format!("{} {} {}", rc.service, rc.kind.as_str(), rc.statement))
                .collect(),
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
        let mut picked = Cursor {
            line: match self.focus {
                Focus::Tree => self.tree_sel,
                Focus::Causes => self.cause_sel,
                _ => 0,
            },
            ..Cursor::default()
        };
        let cursor = match self.focus {
            Focus::Stream => &mut self.stream,
            Focus::Evidence => &mut self.evidence,
            _ => &mut picked,
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
        match self.focus {
            Focus::Stream => {
                self.stream_follow = false;
                self.evidence = Cursor::default();
            }
            Focus::Tree => {
                self.tree_sel = next;
                self.stream = Cursor {
                    line: usize::MAX,
                    ..Cursor::default()
                };
                self.stream_follow = true;
                self.evidence = Cursor::default();
            }
            Focus::Causes => self.cause_sel = next,
            Focus::Evidence => {}
        }
        self.toast = Some((format!("{:?}: match {n} of {}", clean(&pattern), hits.len()), false));
    }

    /// Runs one action: first as the open overlay or composer takes it, else in the focused pane.
    pub fn run(&mut self, action: Action) -> Vec<Request> {
        if action == Action::Interrupt {
            return self.interrupt();
        }
        self.interrupted = false;
        match self.run_in_mode(action) {
            Some(requests) => requests,
            None => self.run_normal(action),
        }
    }

    /// An action in a mode other than [`Mode::Normal`]; `None` to run it normally.
    fn run_in_mode(&mut self, action: Action) -> Option<Vec<Request>> {
        let done = Some(vec![]);
        match (&mut self.mode, action) {
            (Mode::Composer { .. }, Action::Cancel) | (Mode::Confirm(_), Action::No) => {
                self.mode = Mode::Normal;
                done
            }
            (Mode::Composer { area, .. }, Action::Newline) => {
                area.insert_newline();
                done
            }
            (Mode::Composer { .. }, Action::Submit) => Some(self.submit()),
            (Mode::Confirm(Ask::Quit), Action::Keep) => {
                self.mode = Mode::Normal;
                self.keep_running();
                done
            }
            (Mode::Confirm(ask), Action::Yes) => {
                let ask = ask.clone();
                self.mode = Mode::Normal;
                match ask {
                    Ask::Quit => {
                        self.quit = true;
                        done
                    }
                    Ask::Stop => Some(self.stop()),
                    Ask::Prune { .. } if !self.live => Some(self.not_live()),
                    Ask::Prune { branch, .. } => Some(self.command(Command::Prune { branch })),
                }
            }
            (Mode::Help { .. }, Action::Close) => {
                self.mode = Mode::Normal;
                done
            }
            (Mode::Help { typing, scroll, .. }, Action::Search) => {
                *typing = true;
                *scroll = 0;
                done
            }
            (Mode::Help { scroll, .. }, Action::Down) => {
                *scroll = scroll.saturating_add(1);
                done
            }
            (Mode::Help { scroll, .. }, Action::Up) => {
                *scroll = scroll.saturating_sub(1);
                done
            }
            (Mode::Detail { .. }, _) => self.run_detail(action),
            (Mode::Normal, _) => None,
            _ => done,
        }
    }

    fn run_normal(&mut self, action: Action) -> Vec<Request> {
        let requests = self.run_pane(action);
        if self.focus != Focus::Evidence {
            self.evidence_source = self.focus;
        }
        requests
    }

    fn run_pane(&mut self, action: Action) -> Vec<Request> {
        let focus = self.focus;
        match action {
            Action::Quit => self.ask_quit(),
            Action::Stop => return self.stop(),
            Action::RaiseBudget => return self.raise_budget(),
            Action::Interrupt => return self.interrupt(),
            Action::Help => {
                self.mode = Mode::Help {
                    scroll: 0,
                    filter: String::new(),
                    typing: false,
                }
            }
            Action::FocusNext => self.focus = focus.next(),
            Action::FocusPrev => self.focus = focus.prev(),
            Action::FocusTree => self.focus = Focus::Tree,
            Action::FocusStream | Action::Open => self.focus = Focus::Stream,
            Action::FocusEvidence => self.focus = Focus::Evidence,
            Action::FocusCauses => self.focus = Focus::Causes,
            Action::Guide => {
                if !self.live {
                    return self.not_live();
                }
                self.open_composer(Purpose::Guide {
                    branch: None,
                    label: "the whole investigation".into(),
                })
            }
            Action::Down | Action::Up | Action::PageDown | Action::PageUp | Action::First | Action::Last => {
                self.move_by(action)
            }
            Action::Select => self.select(),
            Action::StepBack | Action::StepForward => self.step(action == Action::StepForward, false),
            Action::CallBack | Action::CallForward => self.step(action == Action::CallForward, true),
            Action::Play => self.play(),
            Action::Raw => {
                self.evidence_raw = !self.evidence_raw;
                self.evidence = Cursor::default();
                let shown = if self.evidence_raw { "raw body" } else { "readable view" };
                self.toast = Some((format!("evidence: {shown} (r toggles)"), false));
            }
            Action::Wrap => {
                self.evidence_wrap = !self.evidence_wrap;
                self.evidence_hscroll = 0;
            }
            Action::ScrollLeft => self.evidence_hscroll = self.evidence_hscroll.saturating_sub(HSCROLL),
            Action::ScrollRight if !self.evidence_wrap => self.evidence_hscroll += HSCROLL,
            Action::ScrollRight => self.toast = Some(("wrapping: w to scroll sideways instead".into(), true)),
            Action::Detail => self.open_detail(),
            Action::Cancel => {
                self.stream.anchor = None;
                self.evidence.anchor = None;
            }
            Action::Search => {
                self.mode = Mode::Search { input: String::new() };
            }
            Action::SearchNext | Action::SearchPrev => {
                if self.search.is_some() {
                    self.find(action == Action::SearchNext);
                } else {
                    self.toast = Some(("no search yet: / to search".into(), true));
                }
            }
            Action::GuideBranch | Action::Prune | Action::Pause | Action::Fork => return self.steer(action),
            Action::RateUp | Action::RateDown | Action::GradeCorrect | Action::GradePartly | Action::GradeWrong => {
                return self.rate(action);
            }
            Action::Comment => {
                let Some(target) = self.target_here() else {
                    return vec![];
                };
                let (target, highlight, spans) = self.highlight(target);
                let parent = self.rated_parent(&target);
                self.open_composer(Purpose::Comment {
                    target,
                    highlight,
                    parent,
                    spans,
                });
            }
            Action::Submit | Action::Newline | Action::Yes | Action::Keep | Action::No | Action::Close => {}
            // The alert list's own: the investigation cockpit never binds them.
            Action::Refresh | Action::Insights | Action::Noop => {}
        }
        vec![]
    }

    /// Moves the focused pane's cursor (or selection) by a line, a page, or to an end.
    fn move_by(&mut self, action: Action) {
        const PAGE: isize = 10;
        let d: isize = match action {
            Action::Down => 1,
            Action::Up => -1,
            Action::PageDown => PAGE,
            Action::PageUp => -PAGE,
            Action::First => isize::MIN / 2,
            _ => isize::MAX / 2,
        };
        match self.focus {
            Focus::Tree => {
                let n = self.tree_rows().len();
                let l = (self.tree_sel as isize).saturating_add(d);
                self.tree_sel = l.clamp(0, n.saturating_sub(1) as isize) as usize;
                self.stream = Cursor::default();
                self.stream_follow = true;
                self.stream.line = usize::MAX;
                self.evidence = Cursor::default();
            }
            Focus::Stream => {
                let n = self.stream_lines().len();
                self.stream.clamp(n);
                self.stream.mv(d, n);
                self.stream_follow = self.stream.line + 1 >= n;
                self.evidence = Cursor::default();
            }
            Focus::Evidence => {
                let n = self.evidence_lines().len();
                self.evidence.clamp(n);
                self.evidence.mv(d, n);
            }
            Focus::Causes => {
                let n = self.root_causes().len();
                let l = (self.cause_sel as isize).saturating_add(d);
                self.cause_sel = l.clamp(0, n.saturating_sub(1) as isize) as usize;
            }
        }
    }

    /// Starts or drops a selection in the stream or the evidence.
    fn select(&mut self) {
        let n = match self.focus {
            Focus::Stream => self.stream_lines().len(),
            Focus::Evidence => self.evidence_lines().len(),
            _ => return,
        };
        let c = if self.focus == Focus::Stream {
            &mut self.stream
        } else {
            &mut self.evidence
        };
        if c.anchor.is_some() {
            c.anchor = None;
        } else {
            c.clamp(n);
            c.anchor = Some(c.line);
            if self.focus == Focus::Stream {
                self.stream_follow = false;
            }
        }
    }

    /// Guides, prunes, pauses (or resumes) or forks the selected branch.
    fn steer(&mut self, action: Action) -> Vec<Request> {
        let Some((span, label, status)) = self.selected_branch().map(|b| (b.span, b.strategy.clone(), b.status)) else {
            return vec![];
        };
        if !self.live {
            return self.not_live();
        }
        if !self.branch_live(span) && action != Action::Fork {
            self.toast = Some((format!("{label} is {}", status.as_str()), true));
            return vec![];
        }
        match action {
            Action::GuideBranch => self.open_composer(Purpose::Guide {
                branch: Some(span),
                label,
            }),
            Action::Fork => self.open_composer(Purpose::Fork { branch: span, label }),
            Action::Prune => self.mode = Mode::Confirm(Ask::Prune { branch: span, label }),
            _ => {
                let c = if status == BranchStatus::Paused {
                    Command::Resume { branch: span }
                } else {
                    Command::Pause { branch: span }
                };
                return self.command(c);
            }
        }
        vec![]
    }

    /// A rating of what is under the cursor, or a grade of a root cause.
    pub(super) fn rate(&mut self, action: Action) -> Vec<Request> {
        let Some(t) = self.target_here() else { return vec![] };
        let grade = match action {
            Action::GradeCorrect => Some(Grade::Correct),
            Action::GradePartly => Some(Grade::Partly),
            Action::GradeWrong => Some(Grade::Wrong),
            _ => None,
        };
        if grade.is_some() && t.kind != "root_cause" {
            self.toast = Some(("grades are for root causes; use + or - here".into(), true));
            return vec![];
        }
        let mut f = self.feedback_for(&t);
        f.grade = grade;
        match action {
            Action::RateUp => f.rating = Some(Rating::Up),
            Action::RateDown => f.rating = Some(Rating::Down),
            _ => {}
        }
        // A merged root cause is every branch's hypothesis at once: the record names them all.
        if t.kind == "root_cause"
            && let Some(rc) = self.root_causes().iter().find(|rc| rc.hypotheses.contains(&t.span))
            && rc.hypotheses.len() > 1
        {
            f.spans = rc.hypotheses.clone();
        }
        self.rated = Some((f.id.clone(), t, std::time::Instant::now() + COMMENT_OFFER));
        vec![Request::Feedback(f)]
    }

    /// The selected lines of the focused pane as a highlight on `target`.
    /// The selected lines of the focused pane as a highlight: the node it
    /// starts in (`target` when nothing is selected), the range and quote, and
    /// every span it covers when it crosses nodes.
    fn highlight(&self, target: Target) -> (Target, Option<Highlight>, Vec<SpanId>) {
        match self.focus {
            Focus::Evidence => {
                let Some((a, b)) = self.evidence.selection() else {
                    return (target, None, vec![]);
                };
                let lines = self.evidence_lines();
                let quote = lines
                    .get(a..=b.min(lines.len().saturating_sub(1)))
                    .map(|l| l.join("\n"))
                    .unwrap_or_default();
                let h = Highlight {
                    start_line: a as u32 + 1,
                    end_line: b as u32 + 1,
                    quote,
                };
                (target, Some(h), vec![])
            }
            Focus::Stream => {
                let lines = self.stream_lines();
                let picked: &[StreamLine] = match self.stream.selection() {
                    Some((a, b)) => lines.get(a..=b.min(lines.len().saturating_sub(1))).unwrap_or(&[]),
                    None => &[],
                };
                let (Some(first), Some(last)) = (picked.first(), picked.last()) else {
                    return (target, None, vec![]);
                };
                let mut spans: Vec<SpanId> = Vec::new();
                for l in picked {
                    if !spans.contains(&l.target.span) {
                        spans.push(l.target.span);
                    }
                }
                let start = first.node_line as u32 + 1;
                // Within one node, its own line numbers; across nodes, as many lines as were picked.
                let end = if spans.len() == 1 {
                    last.node_line as u32 + 1
                } else {
                    start + picked.len() as u32 - 1
                };
                let h = Highlight {
                    start_line: start,
                    end_line: end,
                    quote: picked.iter().map(|l| l.text.as_str()).collect::<Vec<_>>().join("\n"),
                };
                let spans = if spans.len() > 1 { spans } else { vec![] };
                (first.target.clone(), Some(h), spans)
            }
            _ => (target, None, vec![]),
        }
    }

    /// The id of the rating just given to `target`, while `c` still answers it.
    pub(super) fn rated_parent(&self, target: &Target) -> Option<String> {
        match &self.rated {
            Some((id, t, until)) if t.span == target.span && std::time::Instant::now() < *until => Some(id.clone()),
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
                self.command(Command::InjectGuidance { scope, text })
            }
            Purpose::Fork { branch, .. } => self.command(Command::Fork { branch, guidance: text }),
            Purpose::Comment {
                target,
                highlight,
                parent,
                spans,
            } => {
                self.stream.anchor = None;
                self.evidence.anchor = None;
                let mut f = self.feedback_for(&target);
                f.comment = Some(text);
                f.highlight = highlight;
                f.parent = parent;
                f.spans = spans;
                vec![Request::Feedback(f)]
            }
        }
    }
}
