//! The selected branch as it streams: thoughts, tool calls, guidance, hypotheses.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::View;
use crate::tui::app::{App, Focus, LineKind, Mode, StreamLine};
use crate::tui::theme::Role;

/// " · 3 lines selected" while a selection is open, so its size shows as it moves.
pub(super) fn selected(sel: Option<(usize, usize)>) -> String {
    match sel {
        Some((a, b)) if a == b => " · 1 line selected".into(),
        Some((a, b)) => format!(" · {} lines selected", b - a + 1),
        None => String::new(),
    }
}

impl View {
    pub(super) fn stream(&self, f: &mut Frame, area: Rect, app: &mut App, lines: &[StreamLine]) {
        let t = &self.theme;
        let focused = app.focus == Focus::Stream && matches!(app.mode, Mode::Normal);
        let size = selected(app.stream.selection());
        let title = match app.selected_branch() {
            Some(b) => format!(" Stream: {}{size} ", b.strategy),
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
        let marked = app.feedback_marks();
        let mut out = Vec::new();
        for (n, l) in lines.iter().enumerate().skip(app.stream.scroll).take(h) {
            let time = l.at.map(|a| a.clock()).unwrap_or_else(|| "        ".into());
            let (icon, role) = match l.kind {
                LineKind::Thought => ("·", Role::StreamThought),
                LineKind::ToolStart => ("▶", Role::StreamTool),
                LineKind::ToolOk => ("✓", Role::StreamOk),
                LineKind::ToolError => ("✗", Role::StreamError),
                LineKind::ToolRefused => ("⊘", Role::StreamRefused),
                LineKind::ToolPending => ("…", Role::StreamArgs),
                LineKind::Guidance => ("»", Role::StreamGuidance),
                LineKind::Hypothesis => ("◆", Role::StreamHypothesis),
                LineKind::Status => ("■", Role::StreamArgs),
            };
            let icon = if l.node_line > 0 && l.kind == LineKind::Thought {
                " "
            } else {
                icon
            };
            let mark = match marked.get(&l.target.span) {
                Some(m) if l.node_line == 0 => m,
                _ => " ",
            };
            let mut spans = vec![
                Span::styled(format!("{time} "), t.style(Role::StreamTime)),
                Span::styled(format!("{icon}{mark}"), t.style(role)),
            ];
            if l.kind == LineKind::ToolStart {
                let (tool, args) = l.text.split_once(' ').unwrap_or((l.text.as_str(), ""));
                spans.push(Span::styled(tool.to_string(), t.style(Role::StreamTool)));
                spans.push(Span::styled(format!(" {args}"), t.style(Role::StreamArgs)));
            } else {
                spans.push(Span::styled(l.text.clone(), t.style(role)));
            }
            let mut line = Line::from(spans);
            if let Some(p) = &app.search {
                line = super::mark_matches(line, p);
            }
            if sel.is_some_and(|(a, b)| n >= a && n <= b) {
                line = line.patch_style(t.style(Role::StreamSelection));
            }
            if focused && n == app.stream.line {
                line = line.patch_style(t.style(Role::StreamCursor));
            }
            out.push(line);
        }
        f.render_widget(Paragraph::new(out), inner);
    }
}
