//! The branch tree: status, strategy, best confidence, feedback markers.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::{View, clip, fit};
use crate::model::BranchStatus;
use crate::tools::sanitize::clean;
use crate::tui::app::{App, Focus, Mode};
use crate::tui::theme::Role;

const SPINNER: [&str; 10] = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

impl View {
    pub(super) fn tree(&self, f: &mut Frame, area: Rect, app: &mut App) {
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
        let own = app.feedback_marks();
        let Some(s) = &app.state else { return };
        let h = inner.height as usize;
        // Where there is room, a second line under each branch: its calls and best guess.
        let per = if rows.len() * 2 <= h { 2 } else { 1 };
        let visible = (h / per).max(1);
        let start = app.tree_sel.saturating_sub(visible - 1);
        let mut lines = Vec::new();
        for (row, (i, depth)) in rows.iter().enumerate().skip(start).take(visible) {
            let b = &s.branches[*i];
            let (icon, role) = match b.status {
                BranchStatus::Running => (SPINNER[(app.tick as usize) % SPINNER.len()], Role::TreeRunning),
                BranchStatus::Queued => ("○", Role::TreeQueued),
                BranchStatus::Paused => ("‖", Role::TreePaused),
                BranchStatus::Pruned => ("✗", Role::TreePruned),
                BranchStatus::Done => ("✓", Role::TreeDone),
                BranchStatus::Failed => ("!", Role::TreeFailed),
                BranchStatus::OutOfBudget => ("$", Role::TreeOutOfBudget),
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
            // The branch's own feedback, else a dot for feedback on something in it.
            let mark = match own.get(&b.span) {
                Some(m) => m,
                None if marked.contains(&b.span) => "•",
                None => " ",
            };
            let name_w = (inner.width as usize).saturating_sub(indent.chars().count() + 2 + 7 + 1);
            let mut spans = vec![
                Span::raw(indent),
                Span::styled(format!("{icon} "), t.style(role)),
                Span::styled(fit(&b.strategy, name_w), t.style(role)),
                Span::styled(format!("{conf:>6}"), t.style(Role::TreeConfidence)),
                Span::styled(mark, t.style(Role::TreeFeedback)),
            ];
            if row == app.tree_sel {
                let sel = t.style(Role::TreeSelected);
                for sp in &mut spans {
                    sp.style = sp.style.patch(sel);
                }
            }
            lines.push(Line::from(spans));
            if per == 2 {
                let pad = "  ".repeat(*depth + 1);
                // A branch with its own share of the budget shows how much of it is spent.
                let calls = match (b.tool_calls, &b.allotment) {
                    (n, Some(a)) => format!("{n} of {} calls", a.tool_calls),
                    (1, None) => "1 call".to_string(),
                    (n, None) => format!("{n} calls"),
                };
                // A failed branch says why where it is listed.
                let failure = b.steps.iter().rev().find_map(|st| match st {
                    crate::model::Step::Status {
                        status: BranchStatus::Failed,
                        reason: Some(r),
                        ..
                    } => Some(r.as_str()),
                    _ => None,
                });
                let detail = match (failure, b.best()) {
                    (Some(r), _) => format!("{pad}{calls} · {}", clean(r)),
                    (None, Some(h)) => format!("{pad}{calls} · {} {}", clean(&h.service), h.kind),
                    (None, None) => format!("{pad}{calls}"),
                };
                lines.push(Line::styled(
                    clip(&detail, inner.width as usize),
                    t.style(Role::StreamTime),
                ));
            }
        }
        f.render_widget(Paragraph::new(lines), inner);
    }
}
