//! What opens over the panes: the composer, the prune confirmation, the help.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Clear, Paragraph, Wrap};

use super::{View, centered, fit};
use crate::tools::sanitize::clean;
use crate::tui::action::Action;
use crate::tui::app::{App, Ask, Mode, Purpose};
use crate::tui::keymap::Layer;
use crate::tui::theme::Role;

/// What the marks in the panes mean, for the help's legend.
const LEGEND: &[(&str, &str)] = &[
    ("○", "queued (a spinner while running)"),
    ("✓", "done, or a tool call that succeeded"),
    ("✗", "pruned, or a tool call that failed"),
    ("!", "failed"),
    ("‖", "paused"),
    ("$", "out of budget (b raises the budget)"),
    ("▲ ▼", "rated up · rated down"),
    ("✎", "commented"),
    ("◆", "graded (root causes show the grade)"),
    ("•", "feedback on something in this branch"),
    ("↑ ↓", "guidance raised · lowered this cause's rank"),
];

impl View {
    pub(super) fn composer(&self, f: &mut Frame, area: Rect, app: &mut App) {
        let t = &self.theme;
        let Mode::Composer { purpose, area: text } = &mut app.mode else {
            return;
        };
        let (title, context) = match purpose {
            Purpose::Guide { branch: None, .. } => (" Guidance for the whole investigation ".to_string(), None),
            Purpose::Guide { label, .. } => (format!(" Guidance for {label} "), None),
            Purpose::Fork { label, .. } => (format!(" Fork {label} with guidance "), None),
            Purpose::Comment {
                target,
                highlight,
                parent,
                spans,
            } => (
                format!(
                    " {} {} {} ",
                    if parent.is_some() {
                        "Comment on your rating of"
                    } else {
                        "Comment on"
                    },
                    target.kind.replace('_', " "),
                    clean(&target.label)
                ),
                highlight.as_ref().map(|h| {
                    let across = if spans.len() > 1 {
                        format!(" across {} nodes", spans.len())
                    } else {
                        String::new()
                    };
                    format!(
                        "lines {}-{}{across}: {}",
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
            .border_style(t.style(Role::ComposerBorder))
            .title(Span::styled(fit(&title, w as usize - 2), t.style(Role::PaneTitle)));
        let inner = block.inner(r);
        f.render_widget(block, r);
        let mut text_area = inner;
        if let Some(c) = context {
            let ctx = Rect { height: 2, ..inner };
            f.render_widget(
                Paragraph::new(Line::styled(clean(&c), t.style(Role::EvidenceHighlight))).wrap(Wrap { trim: true }),
                ctx,
            );
            text_area = Rect {
                y: inner.y + 2,
                height: inner.height.saturating_sub(2),
                ..inner
            };
        }
        text.set_style(t.style(Role::ComposerText));
        f.render_widget(&**text, text_area);
    }

    pub(super) fn confirm(&self, f: &mut Frame, area: Rect, app: &App, ask: &Ask) {
        let t = &self.theme;
        let key = |a: Action| {
            app.keymap
                .hint(Layer::Confirm, a)
                .unwrap_or_else(|| a.name().to_string())
        };
        let (title, question, why, yes, no) = match ask {
            Ask::Prune { label, .. } => (
                " Prune ",
                format!("Prune {}?", clean(label)),
                "Its hypotheses leave the conclusion.".to_string(),
                "prune",
                "keep",
            ),
            Ask::Quit => (
                " Quit ",
                "Stop it, or keep it running in the background?".to_string(),
                "Kept, it runs on after the cockpit closes, and is stored.".to_string(),
                "stop",
                "stay",
            ),
            Ask::Stop => (
                " Stop ",
                "Stop the investigation?".to_string(),
                format!("The review stays open. {} again: quit.", key(Action::Interrupt)),
                "stop",
                "keep running",
            ),
        };
        let r = centered(area, 60.min(area.width), 5);
        f.render_widget(Clear, r);
        let block = Block::default()
            .borders(Borders::ALL)
            .border_type(BorderType::Rounded)
            .border_style(t.style(Role::DialogBorder))
            .title(title);
        let p = Paragraph::new(vec![
            Line::styled(question, t.style(Role::DialogText)),
            Line::styled(why, t.style(Role::DialogText)),
            Line::styled(
                match ask {
                    Ask::Quit => format!(
                        "{} {yes} · {} keep running · {} {no}",
                        key(Action::Yes),
                        key(Action::Keep),
                        key(Action::No)
                    ),
                    _ => format!("{} {yes} · {} {no}", key(Action::Yes), key(Action::No)),
                },
                t.style(Role::HelpKey),
            ),
        ])
        .block(block);
        f.render_widget(p, r);
    }

    pub(super) fn help(&self, f: &mut Frame, area: Rect, app: &App, scroll: u16, filter: &str, typing: bool) {
        let t = &self.theme;
        let r = centered(
            area,
            area.width.saturating_sub(6).min(90),
            area.height.saturating_sub(4),
        );
        f.render_widget(Clear, r);
        let mut lines = Vec::new();
        let needle = filter.to_lowercase();
        if typing || !filter.is_empty() {
            lines.push(Line::from(vec![
                Span::styled("  filter: ", t.style(Role::HelpKey)),
                Span::styled(
                    format!("{}{}", clean(filter), if typing { "▏" } else { "" }),
                    t.style(Role::HelpDesc),
                ),
            ]));
        }
        let focus_layer = app.focus.layer();
        for layer in [focus_layer, Layer::Global, Layer::Composer] {
            // One line per action available now, with every key bound to it.
            let mut rows: Vec<(Action, Vec<String>, String)> = Vec::new();
            for b in app.keymap.bindings(layer) {
                if layer != Layer::Composer && !app.available(b.run) {
                    continue;
                }
                let keys: Vec<String> = b.on.iter().map(|k| k.to_string()).collect();
                match rows.iter_mut().find(|r| r.0 == b.run) {
                    Some(r) => r.1.push(keys.join(" ")),
                    None => rows.push((b.run, vec![keys.join(" ")], b.desc.clone())),
                }
            }
            rows.retain(|(_, keys, desc)| {
                needle.is_empty() || desc.to_lowercase().contains(&needle) || keys.iter().any(|k| k.contains(filter))
            });
            if rows.is_empty() {
                continue;
            }
            lines.push(Line::styled(
                format!("{} keys", layer.name()),
                t.style(Role::PaneTitle).add_modifier(Modifier::BOLD),
            ));
            for (_, keys, desc) in rows {
                lines.push(Line::from(vec![
                    Span::styled(format!("  {:<18}", keys.join(", ")), t.style(Role::HelpKey)),
                    Span::styled(desc, t.style(Role::HelpDesc)),
                ]));
            }
            lines.push(Line::raw(""));
        }
        lines.push(Line::styled(
            "legend",
            t.style(Role::PaneTitle).add_modifier(Modifier::BOLD),
        ));
        for (mark, what) in LEGEND {
            if needle.is_empty() || what.contains(&needle) {
                lines.push(Line::from(vec![
                    Span::styled(format!("  {mark:<18}"), t.style(Role::HelpKey)),
                    Span::styled(*what, t.style(Role::HelpDesc)),
                ]));
            }
        }
        let block = Block::default()
            .borders(Borders::ALL)
            .border_type(BorderType::Rounded)
            .border_style(t.style(Role::DialogBorder))
            .title(" Help ");
        f.render_widget(Paragraph::new(lines).block(block).scroll((scroll, 0)), r);
    }
}
