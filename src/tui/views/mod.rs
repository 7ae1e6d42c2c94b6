//! Drawing: the branch tree, the stream, the evidence, the root causes, the
//! status line and the overlays, one file each. Reads the app; never changes it
//! (beyond keeping its cursors inside what is drawn).

mod causes;
mod detail;
mod evidence;
mod overlays;
mod status;
mod stream;
mod tree;

use ratatui::Frame;
use ratatui::layout::{Constraint, Direction, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders};

use super::app::{App, Mode};
use super::highlight::Highlighter;
use super::theme::Theme;
use crate::model::InvestigationState;
use crate::tui::theme::Role;

/// Which evidence, and whether raw, the readable lines were built for.
type ReadableKey = (crate::model::SpanId, bool);

pub struct View {
    pub theme: Theme,
    pub highlighter: Highlighter,
    /// The sparklines last drawn, by (evidence, width).
    sparks: Option<((crate::model::SpanId, u16), Vec<Line<'static>>)>,
    /// The readable evidence last drawn, by (evidence, raw).
    readable: Option<(ReadableKey, std::rc::Rc<Vec<Line<'static>>>)>,
}

impl View {
    pub fn new(theme: Theme) -> View {
        View {
            theme,
            highlighter: Highlighter::new(),
            sparks: None,
            readable: None,
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
        // Wide enough for the longest strategy name and its confidence from 80 columns up.
        let tree_w = (area.width / 3)
            .clamp(20, 34)
            .max(if area.width >= 80 { 28 } else { 0 });
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
            Mode::Confirm(ask) => self.confirm(f, area, app, ask),
            Mode::Detail { .. } => {
                // Full height: everything between the status line and the hints.
                let body = Rect {
                    height: rows[1].height + rows[2].height,
                    ..rows[1]
                };
                self.detail(f, body, app)
            }
            Mode::Help { scroll, filter, typing } => self.help(f, area, app, *scroll, filter, *typing),
            Mode::Normal | Mode::Search { .. } => {}
        }
    }

    pub(super) fn block<'a>(&self, title: String, focused: bool) -> Block<'a> {
        let border = if focused {
            self.theme.style(Role::PaneBorderFocus)
        } else {
            self.theme.style(Role::PaneBorder)
        };
        Block::default()
            .borders(Borders::ALL)
            .border_type(if focused { BorderType::Thick } else { BorderType::Plain })
            .border_style(border)
            .title(Span::styled(title, self.theme.style(Role::PaneTitle)))
    }
}

pub(super) fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
}

pub(super) fn fit(s: &str, n: usize) -> String {
    if n == 0 {
        return String::new();
    }
    if s.chars().count() <= n {
        format!("{s:<n$}")
    } else {
        format!("{}…", s.chars().take(n - 1).collect::<String>())
    }
}

/// `line` with each occurrence of the search `pattern` underlined and bold
/// (smart case: a capital letter in the pattern matches case).
pub(super) fn mark_matches(line: Line<'static>, pattern: &str) -> Line<'static> {
    if pattern.is_empty() {
        return line;
    }
    let exact = pattern.chars().any(char::is_uppercase);
    // ASCII folding keeps byte offsets, so a match in the folded text is a match in the text.
    let needle = if exact {
        pattern.to_string()
    } else {
        pattern.to_ascii_lowercase()
    };
    let hit = ratatui::style::Style::default()
        .add_modifier(ratatui::style::Modifier::BOLD | ratatui::style::Modifier::UNDERLINED);
    let (style, alignment) = (line.style, line.alignment);
    let mut out: Vec<Span<'static>> = Vec::with_capacity(line.spans.len());
    for span in line.spans {
        let text = span.content.to_string();
        let hay = if exact { text.clone() } else { text.to_ascii_lowercase() };
        let (mut last, mut from) = (0, 0);
        while let Some(i) = hay[from..].find(&needle) {
            let (a, b) = (from + i, from + i + needle.len());
            if !text.is_char_boundary(a) || !text.is_char_boundary(b) {
                break;
            }
            if a > last {
                out.push(Span::styled(text[last..a].to_string(), span.style));
            }
            out.push(Span::styled(text[a..b].to_string(), span.style.patch(hit)));
            last = b;
            from = b;
        }
        if last < text.len() {
            out.push(Span::styled(text[last..].to_string(), span.style));
        }
    }
    let mut l = Line::from(out);
    l.style = style;
    l.alignment = alignment;
    l
}

pub(super) fn clip(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n.saturating_sub(1)).collect::<String>())
    }
}

pub(super) fn tokens(n: u64) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;
    use ratatui::style::{Color, Modifier, Style};

    #[test]
    fn matches_are_marked_across_spans_with_smart_case() {
        let red = Style::default().fg(Color::Red);
        let line = Line::from(vec![
            Span::styled("FATAL: too many ", red),
            Span::raw("clients, fatal again"),
        ]);
        let marked = mark_matches(line.clone(), "fatal");
        let hits: Vec<&str> = marked
            .spans
            .iter()
            .filter(|s| s.style.add_modifier.contains(Modifier::UNDERLINED))
            .map(|s| s.content.as_ref())
            .collect();
        assert_eq!(hits, vec!["FATAL", "fatal"]);
        // The text and the span's own colour are kept.
        let text: String = marked.spans.iter().map(|s| s.content.as_ref()).collect();
        assert_eq!(text, "FATAL: too many clients, fatal again");
        assert_eq!(marked.spans[0].style.fg, Some(Color::Red));
        // A capital letter matches case.
        let exact = mark_matches(line, "FATAL");
        let n = exact
            .spans
            .iter()
            .filter(|s| s.style.add_modifier.contains(Modifier::UNDERLINED))
            .count();
        assert_eq!(n, 1);
        // Non-ASCII text around a match is cut only at character boundaries.
        let m = mark_matches(Line::raw("ünïcode → pool ✓"), "pool");
        let text: String = m.spans.iter().map(|s| s.content.as_ref()).collect();
        assert_eq!(text, "ünïcode → pool ✓");
    }
}
