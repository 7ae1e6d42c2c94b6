//! The status line on top, and the key hints (or the last message) at the bottom.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::{View, elapsed_ms, tokens};
use crate::model::InvestigationStatus;
use crate::tools::sanitize::clean;
use crate::tui::action::Action;
use crate::tui::app::App;
use crate::tui::theme::Role;

/// "replay 120/480 · 4x" while a review is not at its end, or playing.
fn replay(app: &App) -> Option<String> {
    let r = app.replay.as_ref()?;
    let speed = match r.speed() {
        0 => String::new(),
        x => format!(" · {x}x"),
    };
    (r.at < r.events.len() || r.speed() > 0).then(|| format!("replay {}/{}{speed}", r.at, r.events.len()))
}

/// "with alice, bob": who else is attached to a shared investigation.
fn others(app: &App) -> Option<String> {
    let others = app.others();
    (!others.is_empty()).then(|| format!("with {}", clean(&others.join(", "))))
}

impl View {
    pub(super) fn status(&self, f: &mut Frame, area: Rect, app: &App) {
        let t = &self.theme;
        let line = match &app.state {
            None => Line::from(vec![
                Span::styled(
                    " inquest ─ waiting for the investigation to start…",
                    t.style(Role::StatusBar),
                ),
                Span::styled(
                    app.link_down.as_deref().map(|d| format!(" ─ {d}")).unwrap_or_default(),
                    t.style(Role::StatusWarning),
                ),
            ]),
            Some(s) => {
                let elapsed = elapsed_ms(s) / 1000;
                let sep = || Span::styled(" ─ ", t.style(Role::StatusBar));
                let v = |x: String| Span::styled(x, t.style(Role::StatusValue));
                let (st, role) = match s.status {
                    InvestigationStatus::Running if !app.live => ("review", Role::StatusValue),
                    InvestigationStatus::Running => ("running", Role::StatusValue),
                    InvestigationStatus::Done => ("done", Role::StatusValue),
                    InvestigationStatus::Stopped => ("stopped", Role::StatusWarning),
                    InvestigationStatus::Failed => ("failed", Role::StatusWarning),
                    InvestigationStatus::Interrupted => ("interrupted", Role::StatusWarning),
                };
                // Segments by importance; the less important go first when the line is short.
                let segments: Vec<(u8, Vec<Span<'static>>)> = vec![
                    (0, vec![v(clean(&s.alert.name))]),
                    (1, vec![v(clean(s.alert.service().unwrap_or("?")))]),
                    (5, vec![v(clean(&s.alert.severity))]),
                    (
                        2,
                        vec![Span::styled("trace ", t.style(Role::StatusBar)), v(s.trace_id.short())],
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
                        vec![
                            Span::styled("bundle ", t.style(Role::StatusBar)),
                            v(s.bundle_id.clone()),
                        ],
                    ),
                    (0, vec![Span::styled(st, t.style(role))]),
                    (0, replay(app).map(v).into_iter().collect()),
                    (1, others(app).map(v).into_iter().collect()),
                    (
                        0,
                        app.link_down
                            .iter()
                            .map(|d| Span::styled(d.clone(), t.style(Role::StatusWarning)))
                            .collect(),
                    ),
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
                let mut spans = vec![Span::styled(" inquest", t.style(Role::StatusKey))];
                for seg in keep {
                    spans.push(sep());
                    spans.extend(seg.1.iter().cloned());
                }
                Line::from(spans)
            }
        };
        f.render_widget(Paragraph::new(line).style(t.style(Role::StatusBar)), area);
    }

    pub(super) fn hints(&self, f: &mut Frame, area: Rect, app: &App) {
        let t = &self.theme;
        if let crate::tui::app::Mode::Search { input } = &app.mode {
            let line = Line::from(vec![
                Span::styled(" /", t.style(Role::StatusKey)),
                Span::styled(format!("{}▏", clean(input)), t.style(Role::StatusValue)),
                Span::styled("  <Enter> find  <Esc> cancel", t.style(Role::StatusBar)),
            ]);
            f.render_widget(Paragraph::new(line).style(t.style(Role::StatusBar)), area);
            return;
        }
        if let Some((msg, err)) = &app.toast {
            let role = if *err { Role::StatusWarning } else { Role::StatusValue };
            f.render_widget(Paragraph::new(Line::styled(format!(" {msg}"), t.style(role))), area);
            return;
        }
        let layer = app.layer();
        // Whole hints only, as many as fit; the last (quit, close) always shows.
        let hints: Vec<(String, String)> = Action::hints(layer)
            .iter()
            .filter(|&&a| app.available(a))
            .filter_map(|&a| {
                app.keymap
                    .hint(layer, a)
                    .map(|k| (k, format!(" {}  ", app.hint_label(a))))
            })
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
            spans.push(Span::styled(h.0.clone(), t.style(Role::StatusKey)));
            spans.push(Span::styled(h.1.clone(), t.style(Role::StatusBar)));
        }
        f.render_widget(Paragraph::new(Line::from(spans)).style(t.style(Role::StatusBar)), area);
    }
}
