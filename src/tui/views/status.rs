//! The status line on top, and the key hints (or the last message) at the bottom.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::{View, elapsed_ms, tokens};
use crate::model::InvestigationStatus;
use crate::tools::sanitize::clean;
use crate::tui::app::App;
use crate::tui::keymap::Layer;

impl View {
    pub(super) fn status(&self, f: &mut Frame, area: Rect, app: &App) {
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
                    (
                        4,
                        // Tokens mean something once a model is in the loop.
                        if s.tokens > 0 || s.reasoner != "builtin" {
                            // `~`: estimated, the server reported no usage.
                            let approx = if s.estimated_tokens > 0 { "~" } else { "" };
                            vec![v(format!("{approx}{} tok", tokens(s.tokens)))]
                        } else {
                            vec![]
                        },
                    ),
                    (
                        3,
                        if s.cost_microusd > 0 {
                            let approx = if s.estimated_tokens > 0 { "~" } else { "" };
                            vec![v(format!("{approx}${:.3}", s.cost_microusd as f64 / 1e6))]
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

    pub(super) fn hints(&self, f: &mut Frame, area: Rect, app: &App) {
        let t = &self.theme;
        if let crate::tui::app::Mode::Search { input } = &app.mode {
            let line = Line::from(vec![
                Span::styled(" /", t.style("status.key")),
                Span::styled(format!("{}▏", clean(input)), t.style("status.value")),
                Span::styled("  <Enter> find  <Esc> cancel", t.style("status.bar")),
            ]);
            f.render_widget(Paragraph::new(line).style(t.style("status.bar")), area);
            return;
        }
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
        // Whole hints only, as many as fit; the last (quit, close) always shows.
        let hints: Vec<(String, String)> = wanted
            .iter()
            .filter_map(|(run, label)| app.keymap.hint(layer, run).map(|k| (k, format!(" {label}  "))))
            .collect();
        let width = |h: &(String, String)| h.0.chars().count() + h.1.chars().count();
        let mut room = (area.width as usize).saturating_sub(1 + hints.last().map(width).unwrap_or(0));
        let mut spans = vec![Span::raw(" ")];
        for (i, h) in hints.iter().enumerate() {
            let last = i + 1 == hints.len();
            if !last {
                if width(h) > room {
                    continue;
                }
                room -= width(h);
            }
            spans.push(Span::styled(h.0.clone(), t.style("status.key")));
            spans.push(Span::styled(h.1.clone(), t.style("status.bar")));
        }
        f.render_widget(Paragraph::new(Line::from(spans)).style(t.style("status.bar")), area);
    }
}
