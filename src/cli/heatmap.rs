//! A heat map written out: an aligned terminal table with each cell coloured
//! good, fair or poor for its column (16 ANSI colours), the same without
//! colour and with `!` on the poor cells, or a Markdown table.

use std::fmt::Write;

use crate::model::{HeatMap, HeatRow, Shade};
use crate::tools::sanitize::clean;

/// Widest a row key is written before it is cut with `…`.
const KEY_MAX: usize = 34;

/// A row key safe for a terminal on one line: controls escaped, line breaks and tabs as spaces.
pub(super) fn key_text(key: &str) -> String {
    clean(key).replace(['\n', '\t'], " ")
}

fn cut(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n - 1).collect::<String>())
    }
}

fn pad_left(s: &str, n: usize) -> String {
    format!("{}{s}", " ".repeat(n.saturating_sub(s.chars().count())))
}

fn pad_right(s: &str, n: usize) -> String {
    format!("{s}{}", " ".repeat(n.saturating_sub(s.chars().count())))
}

/// The table for a terminal. With `colour`, cells get a black-on-green,
/// yellow or red background; without, poor cells are marked `!`.
pub(super) fn text(map: &HeatMap, colour: bool) -> String {
    let keys: Vec<String> = map.rows.iter().map(|r| cut(&key_text(&r.key), KEY_MAX)).collect();
    let key_w = keys
        .iter()
        .map(|k| k.chars().count())
        .chain([map.by.len(), 3])
        .max()
        .unwrap_or(3);
    let all = map.rows.iter().chain(std::iter::once(&map.total));
    let widths: Vec<usize> = map
        .columns
        .iter()
        .enumerate()
        .map(|(i, c)| {
            all.clone()
                .map(|r| c.format(r.cells.get(i).copied().flatten()).chars().count())
                .chain([c.label.chars().count()])
                .max()
                .unwrap_or(1)
        })
        .collect();
    let mut out = String::new();
    let mut head = pad_right(&map.by, key_w);
    for (c, w) in map.columns.iter().zip(&widths) {
        let _ = write!(head, "  {}", pad_left(c.label, *w));
    }
    let _ = writeln!(out, "{}", head.trim_end());
    let line = |out: &mut String, key: &str, r: &HeatRow| {
        let mut s = pad_right(key, key_w);
        for (i, (c, w)) in map.columns.iter().zip(&widths).enumerate() {
            let v = r.cells.get(i).copied().flatten();
            let cell = pad_left(&c.format(v), *w);
            match (map.shade(i, v), colour) {
                (Some(shade), true) => {
                    let bg = match shade {
                        Shade::Good => "42",
                        Shade::Fair => "43",
                        Shade::Poor => "41",
                    };
                    let _ = write!(s, " \x1b[30;{bg}m {cell}\x1b[0m");
                }
                (Some(Shade::Poor), false) => {
                    let _ = write!(s, " !{cell}");
                }
                _ => {
                    let _ = write!(s, "  {cell}");
                }
            }
        }
        let _ = writeln!(out, "{}", s.trim_end());
    };
    for (k, r) in keys.iter().zip(&map.rows) {
        line(&mut out, k, r);
    }
    let _ = writeln!(
        out,
        "{}",
        "─".repeat(key_w + widths.iter().map(|w| w + 2).sum::<usize>())
    );
    line(&mut out, "all", &map.total);
    out
}

/// The table in Markdown, a coloured square before each shaded cell.
pub(super) fn markdown(map: &HeatMap) -> String {
    let esc = |s: &str| key_text(s).replace('|', "\\|");
    let mut out = String::new();
    let _ = write!(out, "| {} |", map.by);
    for c in &map.columns {
        let _ = write!(out, " {} |", c.label);
    }
    let _ = write!(out, "\n|---|");
    for _ in &map.columns {
        out.push_str("---:|");
    }
    out.push('\n');
    let line = |out: &mut String, key: String, r: &HeatRow| {
        let _ = write!(out, "| {key} |");
        for (i, c) in map.columns.iter().enumerate() {
            let v = r.cells.get(i).copied().flatten();
            let square = match map.shade(i, v) {
                Some(Shade::Good) => "🟩 ",
                Some(Shade::Fair) => "🟨 ",
                Some(Shade::Poor) => "🟥 ",
                None => "",
            };
            let _ = write!(out, " {square}{} |", c.format(v));
        }
        out.push('\n');
    };
    for r in &map.rows {
        line(&mut out, esc(&r.key), r);
    }
    line(&mut out, "**all**".into(), &map.total);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Better, Column, Unit};

    fn map() -> HeatMap {
        HeatMap {
            by: "alert".into(),
            since: None,
            columns: vec![
                Column::new("investigations", "inv", Better::Higher, Unit::Count),
                Column::share("accepted", "accept", Better::Higher, 0.8, 0.5),
            ],
            rows: vec![
                HeatRow {
                    key: "Good|One".into(),
                    cells: vec![Some(2.0), Some(1.0)],
                },
                HeatRow {
                    key: "Bad\u{1b}[2J\u{202e}".into(),
                    cells: vec![Some(1.0), Some(0.0)],
                },
                HeatRow {
                    key: "Ungraded".into(),
                    cells: vec![Some(1.0), None],
                },
            ],
            total: HeatRow {
                key: "all".into(),
                cells: vec![Some(4.0), Some(0.5)],
            },
        }
    }

    #[test]
    fn without_colour_the_poor_cells_are_marked_and_no_escape_is_written() {
        let t = text(&map(), false);
        assert!(!t.contains('\u{1b}') && !t.contains('\u{202e}'), "{t}");
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0], "alert            inv  accept");
        assert_eq!(lines[1], "Good|One           2    100%");
        assert_eq!(lines[2], "Bad␛[2J\\u{202e}    1 !    0%");
        assert_eq!(lines[3], "Ungraded           1       –");
        assert_eq!(lines[5], "all                4     50%");
    }

    #[test]
    fn with_colour_each_shaded_cell_has_its_background() {
        let t = text(&map(), true);
        assert!(t.contains("\x1b[30;42m   100%\x1b[0m"), "{t}");
        assert!(t.contains("\x1b[30;41m     0%\x1b[0m"), "{t}");
        assert!(t.contains("\x1b[30;43m    50%\x1b[0m"), "{t}");
        let md = markdown(&map());
        assert!(md.contains("| Good\\|One | 2 | 🟩 100% |"), "{md}");
        assert!(md.contains("| Ungraded | 1 | – |"), "{md}");
        assert!(md.contains("| **all** | 4 | 🟨 50% |"), "{md}");
    }
}
