//! The ranked root causes, with the grades given to them.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::View;
use crate::model::RootCause;
use crate::tools::sanitize::clean;
use crate::tui::app::{App, Focus, Mode};
use crate::tui::theme::Role;

/// Evidence alone at or above this, a guidance demotion is called out.
const STRONG: f64 = 0.7;

/// " ↑ guidance (evidence 0.28)" where guidance moved the cause, else nothing.
pub(super) fn guided(rc: &RootCause) -> String {
    match rc.evidence_confidence {
        Some(e) if rc.confidence > e => format!(" ↑ guidance (evidence {e:.2})"),
        Some(e) if rc.confidence < e => format!(" ↓ guidance (evidence {e:.2})"),
        _ => String::new(),
    }
}

/// Guidance pushed down a cause the evidence strongly supports.
pub(super) fn disagrees(rc: &RootCause) -> bool {
    rc.evidence_confidence.is_some_and(|e| e >= STRONG && rc.confidence < e)
}

impl View {
    pub(super) fn causes(&self, f: &mut Frame, area: Rect, app: &mut App) {
        let t = &self.theme;
        let focused = app.focus == Focus::Causes && matches!(app.mode, Mode::Normal);
        let block = self.block(" Root causes ".into(), focused);
        let inner = block.inner(area);
        f.render_widget(block, area);
        // What the conclusion could not rest on comes first: it qualifies every cause below.
        let mut out: Vec<Line> = app
            .unread_line()
            .map(|u| Line::styled(clean(&u), t.style(Role::StatusWarning)))
            .into_iter()
            .collect();
        let rcs = app.root_causes();
        if rcs.is_empty() {
            let msg = if app.finished() {
                "No root cause found."
            } else {
                "Nothing proposed yet."
            };
            out.insert(0, Line::styled(msg, t.style(Role::CausesKind)));
            f.render_widget(Paragraph::new(out), inner);
            return;
        }
        let grades = app.grades();
        let sel = app.cause_sel.min(rcs.len() - 1);
        let h = (inner.height as usize).saturating_sub(out.len()).max(1);
        let start = sel.saturating_sub(h.saturating_sub(1));
        for (i, rc) in rcs.iter().enumerate().skip(start).take(h) {
            let grade = rc
                .hypotheses
                .iter()
                .find_map(|h| grades.get(h))
                .map(|g| format!(" [{}]", g.name()));
            let mut line = Line::from(vec![
                Span::styled(format!("{}. ", i + 1), t.style(Role::CausesRank)),
                Span::styled(clean(&rc.service), t.style(Role::CausesService)),
                Span::styled(format!(" · {} · ", rc.kind.as_str()), t.style(Role::CausesKind)),
                Span::styled(format!("{:.2}", rc.confidence), t.style(Role::CausesConfidence)),
                Span::styled(guided(rc), t.style(Role::StreamGuidance)),
                Span::styled(
                    if disagrees(rc) { " evidence disagrees" } else { "" },
                    t.style(Role::StatusWarning),
                ),
                Span::styled(grade.unwrap_or_default(), t.style(Role::CausesGraded)),
                Span::styled(format!("  {}", clean(&rc.statement)), t.style(Role::CausesKind)),
            ]);
            if focused && i == sel {
                line = line.patch_style(t.style(Role::CausesSelected));
            }
            out.push(line);
        }
        f.render_widget(Paragraph::new(out), inner);
    }
}
