//! Drawing: the branch tree, the stream, the evidence, the root causes, the
//! status line and the overlays. Reads the app; never changes it.

use ratatui::Frame;
use ratatui::layout::{Constraint, Direction, Layout, Rect};
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Clear, Paragraph, Wrap};

use super::app::{App, Focus, LineKind, Mode, Purpose, grade_name};
use super::highlight::Highlighter;
use super::keymap::Layer;
use super::theme::Theme;
use crate::model::{BranchStatus, EvidenceKind, InvestigationState, InvestigationStatus};
use crate::reason::builtin::stats::change_point;
use crate::tools::sanitize::clean;

const SPINNER: [&str; 10] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];
const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// What stays between frames: the theme and the highlighted evidence.
pub struct View {
    pub theme: Theme,
    pub highlighter: Highlighter,
    /// The sparklines last drawn, by (evidence, width).
    sparks: Option<((crate::model::SpanId, u16), Vec<Line<'static>>)>,
}

impl View {
    pub fn new(theme: Theme) -> View {
        View {
            theme,
            highlighter: Highlighter::new(),
            sparks: None,
        }
    }

    pub fn draw(&mut self, f: &mut Frame, app: &mut App) {
        let area = f.area();
        let compact = area.height < 30 || area.width < 100;
        let causes_h = if compact { 4 } else { 6 };
        let rows = Layout::default()
            .direction(Direction::Vertical)
            .constraints([
                Constraint::Length(1),
                Constraint::Min(6),
                Constraint::Length(causes_h),
                Constraint::Length(1),
            ])
            .split(area);
        let tree_w = (area.width / 3).clamp(20, 34);
        let mid = Layout::default()
            .direction(Direction::Horizontal)
            .constraints([Constraint::Length(tree_w), Constraint::Min(20)])
            .split(rows[1]);
        let right = Layout::default()
            .direction(Direction::Vertical)
            .constraints([Constraint::Percentage(50), Constraint::Percentage(50)])
            .split(mid[1]);
        self.status(f, rows[0], app);
        self.tree(f, mid[0], app);
        // Built once a frame; both panes read them.
        let lines = app.stream_lines();
        self.stream(f, right[0], app, &lines);
        self.evidence(f, right[1], app, &lines);
        self.causes(f, rows[2], app);
        self.hints(f, rows[3], app);
        match &app.mode {
            Mode::Composer { .. } => self.composer(f, area, app),
            Mode::ConfirmPrune { label, .. } => self.confirm(f, area, label),
            Mode::Help { scroll } => self.help(f, area, app, *scroll),
            Mode::Normal => {}
        }
    }

    fn block<'a>(&self, title: String, focused: bool) -> Block<'a> {
        let border = if focused {
            self.theme.style("pane.border_focus")
        } else {
            self.theme.style("pane.border")
        };
        Block::default()
            .borders(Borders::ALL)
            .border_type(if focused { BorderType::Thick } else { BorderType::Plain })
            .border_style(border)
            .title(Span::styled(title, self.theme.style("pane.title")))
    }

    fn status(&self, f: &mut Frame, area: Rect, app: &App) {
        let t = &self.theme;
        let line = match &app.state {
            None => Line::styled(
                " inquest ─ waiting for the investigation to start…",
                t.style("status.bar"),
            ),
            Some(s) => {
                let elapsed = elapsed_ms(s) / 1000;
                let sep = || Span::styled(" ─ ", t.style("status.bar"));
                let v = |x: String| Span::styled(x, t.style("status.value"));
                let (st, role) = match s.status {
                    InvestigationStatus::Running if !app.live => ("review", "status.value"),
                    InvestigationStatus::Running => ("running", "status.value"),
                    InvestigationStatus::Done => ("done", "status.value"),
                    InvestigationStatus::Stopped => ("stopped", "status.warning"),
                    InvestigationStatus::Failed => ("failed", "status.warning"),
                    InvestigationStatus::Interrupted => ("interrupted", "status.warning"),
                };
                // Segments by importance; the less important go first when the line is short.
                let segments: Vec<(u8, Vec<Span<'static>>)> = vec![
                    (0, vec![v(clean(&s.alert.name))]),
                    (1, vec![v(clean(s.alert.service().unwrap_or("?")))]),
                    (5, vec![v(clean(&s.alert.severity))]),
                    (
                        2,
                        vec![Span::styled("trace ", t.style("status.bar")), v(s.trace_id.short())],
                    ),
                    (0, vec![v(format!("{:02}:{:02}", elapsed / 60, elapsed % 60))]),
                    (1, vec![v(format!("{}/{} calls", s.tool_calls, s.budget.tool_calls))]),
                    (4, vec![v(format!("{} tok", tokens(s.tokens)))]),
                    (
                        3,
                        if s.cost_microusd > 0 {
                            vec![v(format!("${:.3}", s.cost_microusd as f64 / 1e6))]
                        } else {
                            vec![]
                        },
                    ),
                    (4, vec![v(s.reasoner.clone())]),
                    (
                        5,
                        vec![Span::styled("bundle ", t.style("status.bar")), v(s.bundle_id.clone())],
                    ),
                    (0, vec![Span::styled(st, t.style(role))]),
                ];
                let width = |segs: &[&(u8, Vec<Span>)]| -> usize {
                    9 + segs
                        .iter()
                        .map(|s| s.1.iter().map(|x| x.content.chars().count()).sum::<usize>() + 3)
                        .sum::<usize>()
                };
                let mut keep: Vec<&(u8, Vec<Span>)> = segments.iter().filter(|s| !s.1.is_empty()).collect();
                for level in (1..=5).rev() {
                    if width(&keep) <= area.width as usize {
                        break;
                    }
                    keep.retain(|s| s.0 < level);
                }
                let mut spans = vec![Span::styled(" inquest", t.style("status.key"))];
                for seg in keep {
                    spans.push(sep());
                    spans.extend(seg.1.iter().cloned());
                }
                Line::from(spans)
            }
        };
        f.render_widget(Paragraph::new(line).style(t.style("status.bar")), area);
    }

    fn tree(&self, f: &mut Frame, area: Rect, app: &mut App) {
        let t = &self.theme;
        let focused = app.focus == Focus::Tree && matches!(app.mode, Mode::Normal);
        let block = self.block(" Branches ".into(), focused);
        let inner = block.inner(area);
        f.render_widget(block, area);
        let rows = app.tree_rows();
        if rows.is_empty() {
            return;
        }
        app.tree_sel = app.tree_sel.min(rows.len() - 1);
        let marked = app.branches_with_feedback();
        let Some(s) = &app.state else { return };
        let h = inner.height as usize;
        let start = app.tree_sel.saturating_sub(h.saturating_sub(1));
        let mut lines = Vec::new();
        for (row, (i, depth)) in rows.iter().enumerate().skip(start).take(h) {
            let b = &s.branches[*i];
            let (icon, role) = match b.status {
                BranchStatus::Running => (SPINNER[(app.tick as usize) % SPINNER.len()], "tree.running"),
                BranchStatus::Queued => ("○", "tree.queued"),
                BranchStatus::Paused => ("‖", "tree.paused"),
                BranchStatus::Pruned => ("✗", "tree.pruned"),
                BranchStatus::Done => ("✓", "tree.done"),
                BranchStatus::Failed => ("!", "tree.failed"),
                BranchStatus::OutOfBudget => ("$", "tree.out_of_budget"),
            };
            let indent = if *depth > 0 {
                format!("{}└ ", "  ".repeat(depth - 1))
            } else {
                String::new()
            };
            let conf = match (b.status, b.best_confidence()) {
                (BranchStatus::Pruned, _) => "pruned".to_string(),
                (_, Some(c)) => format!("{c:.2}"),
                _ => String::new(),
            };
            let mark = if marked.contains(&b.span) { "✎" } else { " " };
            let name_w = (inner.width as usize).saturating_sub(indent.chars().count() + 2 + 7 + 1);
            let mut spans = vec![
                Span::raw(indent),
                Span::styled(format!("{icon} "), t.style(role)),
                Span::styled(fit(&b.strategy, name_w), t.style(role)),
                Span::styled(format!("{conf:>6}"), t.style("tree.confidence")),
                Span::styled(mark, t.style("tree.feedback")),
            ];
            if row == app.tree_sel {
                let sel = t.style("tree.selected");
                for sp in &mut spans {
                    sp.style = sp.style.patch(sel);
                }
            }
            lines.push(Line::from(spans));
        }
        f.render_widget(Paragraph::new(lines), inner);
    }

    fn stream(&self, f: &mut Frame, area: Rect, app: &mut App, lines: &[super::app::StreamLine]) {
        let t = &self.theme;
        let focused = app.focus == Focus::Stream && matches!(app.mode, Mode::Normal);
        let title = match app.selected_branch() {
            Some(b) => format!(" Stream: {} ", b.strategy),
            None => " Stream ".into(),
        };
        let block = self.block(title, focused);
        let inner = block.inner(area);
        f.render_widget(block, area);
        if lines.is_empty() {
            return;
        }
        let h = inner.height as usize;
        app.stream.line = app.stream.line.min(lines.len() - 1);
        app.stream.follow(h);
        let sel = app.stream.selection();
        let marked = app.feedback_spans();
        let mut out = Vec::new();
        for (n, l) in lines.iter().enumerate().skip(app.stream.scroll).take(h) {
            let time = l.at.map(|a| a.clock()).unwrap_or_else(|| "        ".into());
            let (icon, role) = match l.kind {
                LineKind::Thought => ("·", "stream.thought"),
                LineKind::ToolStart => ("▶", "stream.tool"),
                LineKind::ToolOk => ("✓", "stream.ok"),
                LineKind::ToolError => ("✗", "stream.error"),
                LineKind::ToolRefused => ("⊘", "stream.refused"),
                LineKind::ToolPending => ("…", "stream.args"),
                LineKind::Guidance => ("»", "stream.guidance"),
                LineKind::Hypothesis => ("◆", "stream.hypothesis"),
                LineKind::Status => ("■", "stream.args"),
            };
            let icon = if l.node_line > 0 && l.kind == LineKind::Thought {
                " "
            } else {
                icon
            };
            let mark = if l.node_line == 0 && marked.contains(&l.target.span) {
                "✎"
            } else {
                " "
            };
            let mut spans = vec![
                Span::styled(format!("{time} "), t.style("stream.time")),
                Span::styled(format!("{icon}{mark}"), t.style(role)),
            ];
            if l.kind == LineKind::ToolStart {
                let (tool, args) = l.text.split_once(' ').unwrap_or((l.text.as_str(), ""));
                spans.push(Span::styled(tool.to_string(), t.style("stream.tool")));
                spans.push(Span::styled(format!(" {args}"), t.style("stream.args")));
            } else {
                spans.push(Span::styled(l.text.clone(), t.style(role)));
            }
            let mut line = Line::from(spans);
            if sel.is_some_and(|(a, b)| n >= a && n <= b) {
                line = line.patch_style(t.style("stream.selection"));
            }
            if focused && n == app.stream.line {
                line = line.patch_style(t.style("stream.cursor"));
            }
            out.push(line);
        }
        f.render_widget(Paragraph::new(out), inner);
    }

    fn evidence(&mut self, f: &mut Frame, area: Rect, app: &mut App, lines: &[super::app::StreamLine]) {
        let focused = app.focus == Focus::Evidence && matches!(app.mode, Mode::Normal);
        let span = app.evidence_span_in(lines);
        let ev = span.and_then(|s| {
            app.state
                .as_ref()
                .and_then(|st| st.evidence.get(&s))
                .map(|e| (s, &e.evidence))
        });
        let title = match &ev {
            Some((_, e)) => format!(" Evidence: {} ", clean(&e.summary)),
            None => " Evidence ".into(),
        };
        let block = self.block(clip(&title, area.width.saturating_sub(4) as usize), focused);
        let inner = block.inner(area);
        f.render_widget(block, area);
        let Some((span, e)) = ev else { return };
        let t = self.theme.clone();
        let mut head: Vec<Line<'static>> = Vec::new();
        if e.kind == EvidenceKind::MetricSeries {
            let key = (span, inner.width);
            if self.sparks.as_ref().is_none_or(|s| s.0 != key) {
                self.sparks = Some((key, sparklines(&e.body, inner.width as usize, &t, 3)));
            }
            head = self.sparks.as_ref().map(|s| s.1.clone()).unwrap_or_default();
        }
        let lines = self.highlighter.lines(span, &e.syntax, &e.body, &t);
        let h = (inner.height as usize).saturating_sub(head.len());
        if !lines.is_empty() {
            app.evidence.line = app.evidence.line.min(lines.len() - 1);
        }
        app.evidence.follow(h);
        let sel = app.evidence.selection();
        let mut out = head;
        for (n, l) in lines.iter().enumerate().skip(app.evidence.scroll).take(h) {
            let mut line = l.clone();
            if sel.is_some_and(|(a, b)| n >= a && n <= b) {
                line = line.patch_style(t.style("evidence.highlight"));
            }
            if focused && n == app.evidence.line {
                line = line.patch_style(t.style("stream.cursor"));
            }
            out.push(line);
        }
        f.render_widget(Paragraph::new(out), inner);
    }

    fn causes(&self, f: &mut Frame, area: Rect, app: &mut App) {
        let t = &self.theme;
        let focused = app.focus == Focus::Causes && matches!(app.mode, Mode::Normal);
        let block = self.block(" Root causes ".into(), focused);
        let inner = block.inner(area);
        f.render_widget(block, area);
        let rcs = app.root_causes();
        if rcs.is_empty() {
            let msg = if app.finished() {
                "No root cause found."
            } else {
                "Nothing proposed yet."
            };
            f.render_widget(Paragraph::new(Line::styled(msg, t.style("causes.kind"))), inner);
            return;
        }
        let grades = app.grades();
        let sel = app.cause_sel.min(rcs.len() - 1);
        let h = inner.height as usize;
        let start = sel.saturating_sub(h.saturating_sub(1));
        let mut out = Vec::new();
        for (i, rc) in rcs.iter().enumerate().skip(start).take(h) {
            let grade = rc
                .hypotheses
                .iter()
                .find_map(|h| grades.get(h))
                .map(|g| format!(" [{}]", grade_name(*g)));
            let mut line = Line::from(vec![
                Span::styled(format!("{}. ", i + 1), t.style("causes.rank")),
                Span::styled(clean(&rc.service), t.style("causes.service")),
                Span::styled(format!(" · {} · ", rc.kind.as_str()), t.style("causes.kind")),
                Span::styled(format!("{:.2}", rc.confidence), t.style("causes.confidence")),
                Span::styled(grade.unwrap_or_default(), t.style("causes.graded")),
                Span::styled(format!("  {}", clean(&rc.statement)), t.style("causes.kind")),
            ]);
            if focused && i == sel {
                line = line.patch_style(t.style("causes.selected"));
            }
            out.push(line);
        }
        f.render_widget(Paragraph::new(out), inner);
    }

    fn hints(&self, f: &mut Frame, area: Rect, app: &App) {
        let t = &self.theme;
        if let Some((msg, err)) = &app.toast {
            let role = if *err { "status.warning" } else { "status.value" };
            f.render_widget(Paragraph::new(Line::styled(format!(" {msg}"), t.style(role))), area);
            return;
        }
        let layer = app.layer();
        let wanted: &[(&str, &str)] = match layer {
            Layer::Composer => &[("submit", "send"), ("newline", "new line"), ("cancel", "cancel")],
            Layer::Confirm => &[("yes", "prune"), ("no", "keep")],
            Layer::Help => &[("close", "close")],
            Layer::Tree => &[
                ("help", "help"),
                ("guide_branch", "guide"),
                ("guide", "guide all"),
                ("prune", "prune"),
                ("pause", "pause"),
                ("fork", "fork"),
                ("rate_up", "good"),
                ("rate_down", "bad"),
                ("focus_next", "focus"),
                ("quit", "quit"),
            ],
            Layer::Causes => &[
                ("help", "help"),
                ("grade_correct", "correct"),
                ("grade_partly", "partly"),
                ("grade_wrong", "wrong"),
                ("comment", "comment"),
                ("focus_next", "focus"),
                ("quit", "quit"),
            ],
            _ => &[
                ("help", "help"),
                ("select", "select"),
                ("comment", "comment"),
                ("rate_up", "good"),
                ("rate_down", "bad"),
                ("focus_next", "focus"),
                ("quit", "quit"),
            ],
        };
        let mut spans = vec![Span::raw(" ")];
        for (run, label) in wanted {
            if let Some(k) = app.keymap.hint(layer, run) {
                spans.push(Span::styled(k, t.style("status.key")));
                spans.push(Span::styled(format!(" {label}  "), t.style("status.bar")));
            }
        }
        f.render_widget(Paragraph::new(Line::from(spans)).style(t.style("status.bar")), area);
    }

    fn composer(&self, f: &mut Frame, area: Rect, app: &mut App) {
        let t = &self.theme;
        let Mode::Composer { purpose, area: text } = &mut app.mode else {
            return;
        };
        let (title, context) = match purpose {
            Purpose::Guide { branch: None, .. } => (" Guidance for the whole investigation ".to_string(), None),
            Purpose::Guide { label, .. } => (format!(" Guidance for {label} "), None),
            Purpose::Fork { label, .. } => (format!(" Fork {label} with guidance "), None),
            Purpose::Comment { target, highlight } => (
                format!(
                    " Comment on {} {} ",
                    target.kind.replace('_', " "),
                    clean(&target.label)
                ),
                highlight.as_ref().map(|h| {
                    format!(
                        "lines {}-{}: {}",
                        h.start_line,
                        h.end_line,
                        h.quote.lines().next().unwrap_or("")
                    )
                }),
            ),
        };
        let w = area.width.saturating_sub(8).clamp(30, 100);
        let h = if context.is_some() { 9 } else { 7 };
        let r = centered(area, w, h);
        f.render_widget(Clear, r);
        let block = Block::default()
            .borders(Borders::ALL)
            .border_type(BorderType::Rounded)
            .border_style(t.style("composer.border"))
            .title(Span::styled(fit(&title, w as usize - 2), t.style("pane.title")));
        let inner = block.inner(r);
        f.render_widget(block, r);
        let mut text_area = inner;
        if let Some(c) = context {
            let ctx = Rect { height: 2, ..inner };
            f.render_widget(
                Paragraph::new(Line::styled(clean(&c), t.style("evidence.highlight"))).wrap(Wrap { trim: true }),
                ctx,
            );
            text_area = Rect {
                y: inner.y + 2,
                height: inner.height.saturating_sub(2),
                ..inner
            };
        }
        text.set_style(t.style("composer.text"));
        f.render_widget(&**text, text_area);
    }

    fn confirm(&self, f: &mut Frame, area: Rect, label: &str) {
        let t = &self.theme;
        let r = centered(area, 44.min(area.width), 5);
        f.render_widget(Clear, r);
        let block = Block::default()
            .borders(Borders::ALL)
            .border_type(BorderType::Rounded)
            .border_style(t.style("dialog.border"))
            .title(" Prune ");
        let p = Paragraph::new(vec![
            Line::styled(format!("Prune {label}?"), t.style("dialog.text")),
            Line::styled("Its hypotheses leave the conclusion.", t.style("dialog.text")),
            Line::styled("y prune · n keep", t.style("help.key")),
        ])
        .block(block);
        f.render_widget(p, r);
    }

    fn help(&self, f: &mut Frame, area: Rect, app: &App, scroll: u16) {
        let t = &self.theme;
        let r = centered(
            area,
            area.width.saturating_sub(6).min(90),
            area.height.saturating_sub(4),
        );
        f.render_widget(Clear, r);
        let mut lines = Vec::new();
        let focus_layer = app.focus.layer();
        for layer in [focus_layer, Layer::Global, Layer::Composer] {
            lines.push(Line::styled(
                format!("{} keys", layer.name()),
                t.style("pane.title").add_modifier(Modifier::BOLD),
            ));
            // One line per action, with every key bound to it.
            let mut rows: Vec<(String, Vec<String>, String)> = Vec::new();
            for b in app.keymap.bindings(layer) {
                let keys: Vec<String> = b.on.iter().map(|k| k.to_string()).collect();
                match rows.iter_mut().find(|r| r.0 == b.run) {
                    Some(r) => r.1.push(keys.join(" ")),
                    None => rows.push((b.run.clone(), vec![keys.join(" ")], b.desc.clone())),
                }
            }
            for (_, keys, desc) in rows {
                lines.push(Line::from(vec![
                    Span::styled(format!("  {:<18}", keys.join(", ")), t.style("help.key")),
                    Span::styled(desc, t.style("help.desc")),
                ]));
            }
            lines.push(Line::raw(""));
        }
        let block = Block::default()
            .borders(Borders::ALL)
            .border_type(BorderType::Rounded)
            .border_style(t.style("dialog.border"))
            .title(" Help ");
        f.render_widget(Paragraph::new(lines).block(block).scroll((scroll, 0)), r);
    }
}

fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

fn fit(s: &str, n: usize) -> String {
    if n == 0 {
        return String::new();
    }
    if s.chars().count() <= n {
        format!("{s:<n$}")
    } else {
        format!("{}…", s.chars().take(n - 1).collect::<String>())
    }
}

fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n.saturating_sub(1)).collect::<String>())
    }
}

fn tokens(n: u64) -> String {
    if n >= 1000 {
        format!("{:.1}k", n as f64 / 1000.0)
    } else {
        n.to_string()
    }
}

/// Wall time of an investigation, from its events only (so a replay shows what the run showed).
pub fn elapsed_ms(s: &InvestigationState) -> u64 {
    match s.finished_at {
        Some(f) => ((f.0 - s.started_at.0).max(0) / 1_000_000) as u64,
        None => s.elapsed_ms,
    }
}

/// One line per series (up to `max`): its labels and a sparkline with the onset marked.
fn sparklines(body: &str, width: usize, t: &Theme, max: usize) -> Vec<Line<'static>> {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(body) else {
        return vec![];
    };
    let Some(result) = v.get("result").and_then(|r| r.as_array()) else {
        return vec![];
    };
    let mut out = Vec::new();
    for s in result.iter().take(max) {
        let labels = s["metric"]
            .as_object()
            .map(|m| {
                m.iter()
                    .filter(|(k, _)| *k != "__name__")
                    .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .unwrap_or_default();
        let xs: Vec<f64> = s["values"]
            .as_array()
            .map(|vals| {
                vals.iter()
                    .filter_map(|p| p.get(1).and_then(|x| x.as_str()).and_then(|x| x.parse::<f64>().ok()))
                    .collect()
            })
            .unwrap_or_default();
        if xs.is_empty() {
            continue;
        }
        let label_w = (width / 3).clamp(8, 40);
        let spark_w = width.saturating_sub(label_w + 2).max(4);
        // Down-sample to the width, keeping each bucket's maximum.
        let buckets: Vec<f64> = (0..spark_w.min(xs.len()))
            .map(|i| {
                let a = i * xs.len() / spark_w.min(xs.len());
                let b = ((i + 1) * xs.len() / spark_w.min(xs.len())).max(a + 1);
                xs[a..b].iter().copied().fold(f64::MIN, f64::max)
            })
            .collect();
        let lo = buckets.iter().copied().fold(f64::MAX, f64::min);
        let hi = buckets.iter().copied().fold(f64::MIN, f64::max);
        let onset = change_point(
            &buckets,
            (buckets.len() / 4).max(3),
            2,
            5.0,
            (hi - lo).abs() * 0.02 + 1e-9,
        );
        let mut spans = vec![Span::styled(
            fit(&clean(&labels), label_w) + "  ",
            t.style("evidence.text"),
        )];
        for (i, x) in buckets.iter().enumerate() {
            let level = if hi > lo {
                ((x - lo) / (hi - lo) * 7.0).round() as usize
            } else {
                0
            };
            let c = BARS[level.min(7)].to_string();
            let style = if Some(i) == onset {
                t.style("evidence.onset")
            } else {
                t.style("evidence.sparkline")
            };
            spans.push(Span::styled(c, style));
        }
        out.push(Line::from(spans));
    }
    if !out.is_empty() {
        out.push(Line::styled("", Style::default()));
    }
    out
}
