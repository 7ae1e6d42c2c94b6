//! `inquest insights`: where the agent is weak across the stored
//! investigations, as a heat map per alert, graded fault kind or strategy.

use std::io::Write;
use std::process::ExitCode;

use super::Failure;
use super::heatmap;
use super::open_store;
use crate::model::{GroupBy, HeatMap, INSIGHTS_LEGEND, Timestamp, parse_duration_ms};
use crate::store::Store;

/// The instant `--since DURATION` reaches back to from now.
pub(super) fn since_instant(since: Option<&str>) -> Result<Option<Timestamp>, Failure> {
    since
        .map(|s| {
            let ms = parse_duration_ms(s).map_err(|e| Failure::BadInput(format!("--since: {e}")))?;
            Ok(Timestamp(
                Timestamp::now().0.saturating_sub(ms.saturating_mul(1_000_000)),
            ))
        })
        .transpose()
}

/// The table from `store`, for the command and for the cockpit.
pub(super) fn table(store: &Store, by: GroupBy, since: Option<&str>) -> Result<HeatMap, Failure> {
    let from = since_instant(since)?;
    Ok(store.insights(by, from, since.map(str::to_string))?)
}

/// Whether the terminal table is coloured: stdout is a terminal and `NO_COLOR` is not set.
pub(super) fn colour() -> bool {
    use std::io::IsTerminal;
    std::io::stdout().is_terminal() && !crate::config::no_color()
}

pub(super) fn insights(by: &str, since: Option<&str>, json: bool, markdown: bool) -> Result<ExitCode, Failure> {
    let by: GroupBy = by.parse().map_err(|e| Failure::BadInput(format!("--by: {e}")))?;
    // A bad --since is bad input whatever the store holds.
    since_instant(since)?;
    let store = open_store()?;
    let map = table(&store, by, since)?;
    let text = if json {
        crate::tools::sanitize::json_pretty(&map.to_json()) + "\n"
    } else if map.rows.is_empty() {
        match since {
            Some(s) => format!("No investigations in the last {}.\n", heatmap::key_text(s)),
            None => "No investigations yet. Try: inquest demo\n".into(),
        }
    } else {
        let heading = heading(&map);
        if markdown {
            format!(
                "## Insights {heading}\n\n{}\n{INSIGHTS_LEGEND}\n",
                heatmap::markdown(&map)
            )
        } else {
            format!(
                "Insights {heading}\n\n{}\n{}",
                heatmap::text(&map, colour()),
                wrap(INSIGHTS_LEGEND, 100)
            )
        }
    };
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
    Ok(ExitCode::SUCCESS)
}

/// The legend in lines of at most `width` characters, broken between its parts where it can.
fn wrap(text: &str, width: usize) -> String {
    let mut out = String::new();
    let mut line = String::new();
    for part in text.split(" · ") {
        if !line.is_empty() && line.chars().count() + 3 + part.chars().count() > width {
            out.push_str(&line);
            out.push('\n');
            line.clear();
        }
        if !line.is_empty() {
            line.push_str(" · ");
        }
        line.push_str(part);
    }
    out.push_str(&line);
    out.push('\n');
    out
}

/// `by alert · last 7d · 12 investigations`.
fn heading(map: &HeatMap) -> String {
    let n = map.total.cells.first().copied().flatten().unwrap_or(0.0) as u64;
    let window = match &map.since {
        Some(s) => format!(" · last {}", heatmap::key_text(s)),
        None => String::new(),
    };
    format!(
        "by {}{window} · {n} investigation{}",
        map.by,
        if n == 1 { "" } else { "s" }
    )
}
