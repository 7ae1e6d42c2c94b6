//! The list of firing alerts the cockpit opens on when Alertmanager is
//! configured: pick one, and its investigation starts.

use ratatui::Frame;
use ratatui::layout::{Constraint, Direction, Layout};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Paragraph};

use super::action::Action;
use super::keymap::{Key, Keymap, Layer, Lookup};
use super::theme::Theme;
use crate::model::Alert;
use crate::tools::sanitize::clean;
use crate::tui::theme::Role;

pub struct AlertList {
    pub alerts: Vec<Alert>,
    pub sel: usize,
    /// Where they came from, for the title.
    pub source: String,
    pub error: Option<String>,
}

/// What a key asks of the list.
#[derive(Debug, PartialEq)]
pub enum Pick {
    None,
    Investigate(usize),
    Refresh,
    Quit,
}

/// A list the cockpit opens on, to pick one item from.
pub trait Pickable {
    type Item: Clone;
    fn on_key(&mut self, keymap: &Keymap, ev: &crossterm::event::KeyEvent) -> Pick;
    fn draw(&self, f: &mut Frame, t: &Theme, keymap: &Keymap);
    fn item(&self, i: usize) -> Option<Self::Item>;
    /// A refresh's outcome: the new items, or why there are none.
    fn refreshed(&mut self, items: Result<Vec<Self::Item>, String>);
}

/// What a key does in a list of `n` items with `sel` chosen.
pub fn navigate(keymap: &Keymap, ev: &crossterm::event::KeyEvent, sel: &mut usize, n: usize) -> Pick {
    let key = Key::from_event(ev);
    if key.code == crossterm::event::KeyCode::Char('r') {
        return Pick::Refresh;
    }
    let run = match keymap.lookup(Layer::Tree, &[key]) {
        Lookup::Run(b) => b.run,
        _ => return Pick::None,
    };
    match run {
        Action::Down => *sel = (*sel + 1).min(n.saturating_sub(1)),
        Action::Up => *sel = sel.saturating_sub(1),
        Action::First => *sel = 0,
        Action::Last => *sel = n.saturating_sub(1),
        Action::Open | Action::Detail if n > 0 => return Pick::Investigate(*sel),
        Action::Quit => return Pick::Quit,
        _ => {}
    }
    Pick::None
}

/// A pick list's frame: the header, the bordered list of `lines` with the
/// `sel`ected one kept in view, and the key hints (`verb` for Enter).
pub struct ListFrame<'a> {
    pub header: String,
    pub title: &'a str,
    pub lines: Vec<Line<'static>>,
    /// The selected line's index in `lines`.
    pub sel: usize,
    pub verb: &'a str,
}

impl ListFrame<'_> {
    pub fn draw(self, f: &mut Frame, t: &Theme, keymap: &Keymap) {
        let rows = Layout::default()
            .direction(Direction::Vertical)
            .constraints([Constraint::Length(1), Constraint::Min(3), Constraint::Length(1)])
            .split(f.area());
        f.render_widget(
            Paragraph::new(Line::from(vec![
                Span::styled(" inquest", t.style(Role::StatusKey)),
                Span::styled(format!(" ─ {}", clean(&self.header)), t.style(Role::StatusBar)),
            ]))
            .style(t.style(Role::StatusBar)),
            rows[0],
        );
        let block = Block::default()
            .borders(Borders::ALL)
            .border_type(BorderType::Thick)
            .border_style(t.style(Role::PaneBorderFocus))
            .title(Span::styled(format!(" {} ", self.title), t.style(Role::PaneTitle)));
        let inner = block.inner(rows[1]);
        f.render_widget(block, rows[1]);
        let h = inner.height as usize;
        let start = self.sel.saturating_sub(h.saturating_sub(1));
        let lines: Vec<Line> = self.lines.into_iter().skip(start).take(h).collect();
        f.render_widget(Paragraph::new(lines), inner);
        let hint = |run: Action, label: &str| {
            keymap
                .hint(Layer::Tree, run)
                .map(|k| {
                    vec![
                        Span::styled(k, t.style(Role::StatusKey)),
                        Span::styled(format!(" {label}  "), t.style(Role::StatusBar)),
                    ]
                })
                .unwrap_or_default()
        };
        let mut spans = vec![Span::raw(" ")];
        spans.extend(hint(Action::Detail, self.verb));
        spans.extend(hint(Action::Down, "down"));
        spans.extend(hint(Action::Up, "up"));
        spans.push(Span::styled("r", t.style(Role::StatusKey)));
        spans.push(Span::styled(" refresh  ", t.style(Role::StatusBar)));
        spans.extend(hint(Action::Quit, "quit"));
        f.render_widget(
            Paragraph::new(Line::from(spans)).style(t.style(Role::StatusBar)),
            rows[2],
        );
    }
}

impl Pickable for AlertList {
    type Item = Alert;
    fn on_key(&mut self, keymap: &Keymap, ev: &crossterm::event::KeyEvent) -> Pick {
        AlertList::on_key(self, keymap, ev)
    }
    fn draw(&self, f: &mut Frame, t: &Theme, keymap: &Keymap) {
        AlertList::draw(self, f, t, keymap)
    }
    fn item(&self, i: usize) -> Option<Alert> {
        self.alerts.get(i).cloned()
    }
    fn refreshed(&mut self, items: Result<Vec<Alert>, String>) {
        match items {
            Ok(a) => {
                self.alerts = a;
                self.sel = self.sel.min(self.alerts.len().saturating_sub(1));
                self.error = None;
            }
            Err(e) => self.error = Some(e),
        }
    }
}

impl AlertList {
    pub fn on_key(&mut self, keymap: &Keymap, ev: &crossterm::event::KeyEvent) -> Pick {
        navigate(keymap, ev, &mut self.sel, self.alerts.len())
    }

    pub fn draw(&self, f: &mut Frame, t: &Theme, keymap: &Keymap) {
        let mut lines = Vec::new();
        if let Some(e) = &self.error {
            lines.push(Line::styled(clean(e), t.style(Role::StatusWarning)));
        } else if self.alerts.is_empty() {
            lines.push(Line::styled("No alerts firing.", t.style(Role::CausesKind)));
        }
        let offset = lines.len();
        for (i, a) in self.alerts.iter().enumerate() {
            let mut line = Line::from(vec![
                Span::styled(format!("{} ", a.starts_at.clock()), t.style(Role::StreamTime)),
                Span::styled(format!("{:<8} ", clean(&a.severity)), t.style(Role::CausesRank)),
                Span::styled(format!("{:<30} ", clean(&a.name)), t.style(Role::CausesService)),
                Span::styled(
                    format!("{:<18} ", clean(a.service().unwrap_or(""))),
                    t.style(Role::CausesKind),
                ),
                Span::styled(clean(a.summary().unwrap_or("")), t.style(Role::StreamThought)),
            ]);
            if i == self.sel {
                line = line.patch_style(t.style(Role::TreeSelected));
            }
            lines.push(line);
        }
        ListFrame {
            header: format!("{} firing ─ {}", self.alerts.len(), self.source),
            title: "Alerts",
            lines,
            sel: self.sel + offset,
            verb: "investigate",
        }
        .draw(f, t, keymap);
    }
}
