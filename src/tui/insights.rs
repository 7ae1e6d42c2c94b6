//! A heat map drawn in the cockpit: aligned columns, each cell styled good,
//! fair or poor for its column (`heat.*` in the theme) and marked `!` when
//! poor, so the information survives a theme without colour.

use ratatui::style::Modifier;
use ratatui::text::{Line, Span};

use super::theme::{Role, Theme};
use crate::model::{HeatMap, HeatRow, Shade};
use crate::tools::sanitize::clean;

/// Widest a row key is drawn before it is cut with `…`.
const KEY_MAX: usize = 30;

fn key_text(key: &str, n: usize) -> String {
    let k = clean(key).replace(['\n', '\t'], " ");
    if k.chars().count() <= n {
        format!("{k:<n$}")
    } else {
        format!("{}…", k.chars().take(n.saturating_sub(1)).collect::<String>())
    }
}

/// The table's lines for `width` columns of screen: the header, one line per
/// row, a rule and the total, then how many columns did not fit.
pub fn lines(map: &HeatMap, t: &Theme, width: u16) -> Vec<Line<'static>> {
    let width = width as usize;
    let longest = map
        .rows
        .iter()
        .map(|r| clean(&r.key).chars().count())
        .chain([map.by.chars().count(), 3])
        .max()
        .unwrap_or(3);
    let key_w = longest.min(KEY_MAX).min(width / 3).max(3);
    let all: Vec<&HeatRow> = map.rows.iter().chain(std::iter::once(&map.total)).collect();
    // Each shown column: its index and width (a marker column in front of the value).
    let mut shown: Vec<(usize, usize)> = Vec::new();
    let mut used = key_w;
    for (i, c) in map.columns.iter().enumerate() {
        let w = all
            .iter()
            .map(|r| c.format(r.cells.get(i).copied().flatten()).chars().count())
            .chain([c.label.chars().count()])
            .max()
            .unwrap_or(1);
        if used + w + 2 > width {
            break;
        }
        used += w + 2;
        shown.push((i, w));
    }
    let mut out = Vec::new();
    let mut head = vec![Span::styled(key_text(&map.by, key_w), t.style(Role::PaneTitle))];
    for (i, w) in &shown {
        head.push(Span::styled(
            format!("  {:>w$}", map.columns[*i].label),
            t.style(Role::PaneTitle).add_modifier(Modifier::BOLD),
        ));
    }
    out.push(Line::from(head));
    let row = |key: String, r: &HeatRow| {
        let mut spans = vec![Span::styled(key, t.style(Role::CausesService))];
        for (i, w) in &shown {
            let v = r.cells.get(*i).copied().flatten();
            let text = map.columns[*i].format(v);
            let shade = map.shade(*i, v);
            spans.push(Span::raw(if shade == Some(Shade::Poor) { " !" } else { "  " }));
            let role = match shade {
                Some(Shade::Good) => Some(Role::HeatGood),
                Some(Shade::Fair) => Some(Role::HeatFair),
                Some(Shade::Poor) => Some(Role::HeatPoor),
                None => None,
            };
            let cell = format!("{text:>w$}");
            spans.push(match role {
                Some(role) => Span::styled(cell, t.style(role)),
                None => Span::raw(cell),
            });
        }
        Line::from(spans)
    };
    for r in &map.rows {
        out.push(row(key_text(&r.key, key_w), r));
    }
    out.push(Line::styled("─".repeat(used), t.style(Role::PaneBorder)));
    out.push(row(key_text("all", key_w), &map.total));
    let hidden = map.columns.len() - shown.len();
    if hidden > 0 {
        let names: Vec<&str> = map.columns[shown.len()..].iter().map(|c| c.label).collect();
        out.push(Line::styled(
            format!(
                "{hidden} more column{} ({}): a wider terminal, or inquest insights",
                if hidden == 1 { "" } else { "s" },
                names.join(", ")
            ),
            t.style(Role::CausesKind),
        ));
    }
    out
}
