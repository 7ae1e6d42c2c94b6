//! The list of firing alerts the cockpit opens on when Alertmanager is
//! configured: pick one, and its investigation starts. From here the
//! insights across past investigations show on a key, as a heat map.

use ratatui::Frame;
use ratatui::layout::{Constraint, Direction, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Clear, Paragraph, Wrap};

use super::action::Action;
use super::keymap::{Key, Keymap, Layer, Lookup};
use super::theme::Theme;
use crate::model::{Alert, HeatMap};
use crate::tools::sanitize::clean;
use crate::tui::theme::Role;

pub struct AlertList {
    pub alerts: Vec<Alert>,
    pub sel: usize,
    /// Where they came from, for the title.
    pub source: String,
    pub error: Option<String>,
    /// Insights across the stored investigations, one table per grouping (by
    /// alert, fault kind, strategy), or why there are none.
    pub insights: Result<Vec<HeatMap>, String>,
    /// The line the insights legend explains the columns with.
    pub legend: String,
    pub screen: Screen,
    /// The key map's help over the screen.
    pub help: bool,
    pending: Vec<Key>,
}

/// What the alert list shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Screen {
    Alerts,
    /// The insights table `table` (an index into the groupings), scrolled.
    Insights {
        table: usize,
        scroll: usize,
    },
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
    let run = match keymap.lookup(Layer::Alerts, &[key]) {
        Lookup::Run(b) => b.run,
        _ => return Pick::None,
    };
    match run {
        Action::Down => *sel = (*sel + 1).min(n.saturating_sub(1)),
        Action::Up => *sel = sel.saturating_sub(1),
        Action::First => *sel = 0,
        Action::Last => *sel = n.saturating_sub(1),
        Action::Open | Action::Detail if n > 0 => return Pick::Investigate(*sel),
        Action::Refresh => return Pick::Refresh,
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
                .hint(Layer::Alerts, run)
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
        spans.extend(hint(Action::Refresh, "refresh"));
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
    pub fn new(alerts: Vec<Alert>, source: String, error: Option<String>) -> AlertList {
        AlertList {
            alerts,
            sel: 0,
            source,
            error,
            insights: Ok(Vec::new()),
            legend: String::new(),
            screen: Screen::Alerts,
            help: false,
            pending: Vec::new(),
        }
    }

    pub fn on_key(&mut self, keymap: &Keymap, ev: &crossterm::event::KeyEvent) -> Pick {
        self.pending.push(Key::from_event(ev));
        let run = match keymap.lookup(Layer::Alerts, &self.pending) {
            Lookup::Run(b) => b.run,
            Lookup::Prefix => return Pick::None,
            Lookup::None => {
                self.pending.clear();
                return Pick::None;
            }
        };
        self.pending.clear();
        if self.help {
            // Any of these leaves the help; the rest wait for it to close.
            if matches!(run, Action::Close | Action::Help | Action::Quit) {
                self.help = false;
            }
            return Pick::None;
        }
        match (run, &mut self.screen) {
            (Action::Help, _) => self.help = true,
            (Action::Insights, Screen::Alerts) => self.screen = Screen::Insights { table: 0, scroll: 0 },
            (Action::Insights | Action::Close | Action::Quit, Screen::Insights { .. }) => self.screen = Screen::Alerts,
            (Action::FocusNext, Screen::Insights { table, scroll }) => {
                let n = self.insights.as_ref().map(Vec::len).unwrap_or(0).max(1);
                *table = (*table + 1) % n;
                *scroll = 0;
            }
            (Action::Down, Screen::Insights { scroll, .. }) => *scroll += 1,
            (Action::Up, Screen::Insights { scroll, .. }) => *scroll = scroll.saturating_sub(1),
            (Action::PageDown, Screen::Insights { scroll, .. }) => *scroll += 10,
            (Action::PageUp, Screen::Insights { scroll, .. }) => *scroll = scroll.saturating_sub(10),
            (Action::First, Screen::Insights { scroll, .. }) => *scroll = 0,
            (Action::Refresh, _) => return Pick::Refresh,
            (_, Screen::Insights { .. }) => {}
            (run, Screen::Alerts) => return self.on_list(run),
        }
        Pick::None
    }

    fn on_list(&mut self, run: Action) -> Pick {
        let n = self.alerts.len();
        match run {
            Action::Down => self.sel = (self.sel + 1).min(n.saturating_sub(1)),
            Action::Up => self.sel = self.sel.saturating_sub(1),
            Action::PageDown => self.sel = (self.sel + 10).min(n.saturating_sub(1)),
            Action::PageUp => self.sel = self.sel.saturating_sub(10),
            Action::First => self.sel = 0,
            Action::Last => self.sel = n.saturating_sub(1),
            Action::Open | Action::Detail if n > 0 => return Pick::Investigate(self.sel),
            Action::Quit => return Pick::Quit,
            _ => {}
        }
        Pick::None
    }

    pub fn draw(&self, f: &mut Frame, t: &Theme, keymap: &Keymap) {
        let rows = Layout::default()
            .direction(Direction::Vertical)
            .constraints([Constraint::Length(1), Constraint::Min(3), Constraint::Length(1)])
            .split(f.area());
        let (title, hints): (String, &[(Action, &str)]) = match self.screen {
            Screen::Alerts => (
                format!(" ─ {} firing ─ {}", self.alerts.len(), clean(&self.source)),
                &[
                    (Action::Detail, "investigate"),
                    (Action::Down, "down"),
                    (Action::Up, "up"),
                    (Action::Refresh, "refresh"),
                    (Action::Insights, "insights"),
                    (Action::Help, "help"),
                    (Action::Quit, "quit"),
                ],
            ),
            Screen::Insights { table, .. } => (
                match self.table(table) {
                    Some(m) => format!(
                        " ─ insights by {} ─ {} investigations",
                        m.by,
                        m.total.cells.first().copied().flatten().unwrap_or(0.0) as u64
                    ),
                    None => " ─ insights".into(),
                },
                &[
                    (Action::FocusNext, "next grouping"),
                    (Action::Down, "down"),
                    (Action::Up, "up"),
                    (Action::Help, "help"),
                    (Action::Close, "back"),
                ],
            ),
        };
        f.render_widget(
            Paragraph::new(Line::from(vec![
                Span::styled(" inquest", t.style(Role::StatusKey)),
                Span::styled(title, t.style(Role::StatusBar)),
            ]))
            .style(t.style(Role::StatusBar)),
            rows[0],
        );
        match self.screen {
            Screen::Alerts => self.draw_alerts(f, rows[1], t),
            Screen::Insights { table, scroll } => self.draw_insights(f, rows[1], t, table, scroll),
        }
        let mut spans = vec![Span::raw(" ")];
        for (run, label) in hints {
            if let Some(k) = keymap.hint(Layer::Alerts, *run) {
                spans.push(Span::styled(k, t.style(Role::StatusKey)));
                spans.push(Span::styled(format!(" {label}  "), t.style(Role::StatusBar)));
            }
        }
        f.render_widget(
            Paragraph::new(Line::from(spans)).style(t.style(Role::StatusBar)),
            rows[2],
        );
        if self.help {
            draw_help(f, rows[1], t, keymap);
        }
    }

    fn table(&self, i: usize) -> Option<&HeatMap> {
        self.insights.as_ref().ok().and_then(|ts| ts.get(i))
    }

    fn draw_alerts(&self, f: &mut Frame, area: Rect, t: &Theme) {
        let block = Block::default()
            .borders(Borders::ALL)
            .border_type(BorderType::Thick)
            .border_style(t.style(Role::PaneBorderFocus))
            .title(Span::styled(" Alerts ", t.style(Role::PaneTitle)));
        let inner = block.inner(area);
        f.render_widget(block, area);
        let mut lines = Vec::new();
        if let Some(e) = &self.error {
            lines.push(Line::styled(clean(e), t.style(Role::StatusWarning)));
        } else if self.alerts.is_empty() {
            lines.push(Line::styled("No alerts firing.", t.style(Role::CausesKind)));
        }
        let h = inner.height as usize;
        let start = self.sel.saturating_sub(h.saturating_sub(1));
        for (i, a) in self.alerts.iter().enumerate().skip(start).take(h) {
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
        f.render_widget(Paragraph::new(lines), inner);
    }

    fn draw_insights(&self, f: &mut Frame, area: Rect, t: &Theme, table: usize, scroll: usize) {
        let block = Block::default()
            .borders(Borders::ALL)
            .border_type(BorderType::Thick)
            .border_style(t.style(Role::PaneBorderFocus))
            .title(Span::styled(
                " Insights: where past investigations were weak ",
                t.style(Role::PaneTitle),
            ));
        let inner = block.inner(area);
        f.render_widget(block, area);
        let mut lines = match (&self.insights, self.table(table)) {
            (Err(e), _) => vec![Line::styled(clean(e), t.style(Role::StatusWarning))],
            (Ok(_), Some(m)) if !m.rows.is_empty() => super::insights::lines(m, t, inner.width),
            _ => vec![Line::styled(
                "No investigations stored yet: insights fill in as investigations run and their root causes are graded.",
                t.style(Role::CausesKind),
            )],
        };
        lines.push(Line::raw(""));
        lines.push(Line::styled(clean(&self.legend), t.style(Role::StreamTime)));
        let scroll = scroll.min(lines.len().saturating_sub(1));
        f.render_widget(
            Paragraph::new(lines)
                .wrap(Wrap { trim: false })
                .scroll((u16::try_from(scroll).unwrap_or(u16::MAX), 0)),
            inner,
        );
    }
}

/// The alerts layer's bindings, one line per action with all its keys.
fn draw_help(f: &mut Frame, area: Rect, t: &Theme, keymap: &Keymap) {
    let mut rows: Vec<(Action, Vec<String>, String)> = Vec::new();
    for b in keymap.bindings(Layer::Alerts) {
        let keys: String = b.on.iter().map(|k| k.to_string()).collect::<Vec<_>>().join(" ");
        match rows.iter_mut().find(|r| r.0 == b.run) {
            Some(r) => r.1.push(keys),
            None => rows.push((b.run, vec![keys], b.desc.clone())),
        }
    }
    let lines: Vec<Line> = rows
        .into_iter()
        .map(|(_, keys, desc)| {
            Line::from(vec![
                Span::styled(format!("  {:<18}", keys.join(", ")), t.style(Role::HelpKey)),
                Span::styled(desc, t.style(Role::HelpDesc)),
            ])
        })
        .collect();
    let w = area.width.saturating_sub(4).min(90);
    let h = (lines.len() as u16 + 2).min(area.height);
    let r = Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    };
    f.render_widget(Clear, r);
    let block = Block::default()
        .borders(Borders::ALL)
        .border_type(BorderType::Rounded)
        .border_style(t.style(Role::DialogBorder))
        .title(" Help ");
    f.render_widget(Paragraph::new(lines).block(block), r);
}
