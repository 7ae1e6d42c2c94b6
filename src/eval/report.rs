//! The evaluation report as a terminal table with a heat map, or as Markdown.

use std::fmt::Write;

use super::{Report, ScenarioResult};
use crate::tools::sanitize::clean;

/// How good a score is, for colouring.
fn band(v: f64) -> usize {
    if v >= 0.9 {
        0
    } else if v >= 0.7 {
        1
    } else {
        2
    }
}

fn cell(v: f64, colour: bool) -> String {
    let text = format!("{v:>6.2}");
    if !colour {
        return text;
    }
    // Black on green, yellow or red: readable in light and dark schemes alike.
    let bg = ["42", "43", "41"][band(v)];
    format!("\x1b[30;{bg}m{text} \x1b[0m")
}

fn square(v: f64) -> &'static str {
    ["🟩", "🟨", "🟥"][band(v)]
}

fn truth_text(s: &ScenarioResult) -> String {
    s.truth
        .as_ref()
        .map(|t| format!("{}/{}", t.service, t.kind.as_str()))
        .unwrap_or_else(|| "—".into())
}

fn top_text(s: &ScenarioResult) -> String {
    s.ranked
        .first()
        .map(|r| format!("{}/{} {:.2}", r.service, r.kind.as_str(), r.confidence))
        .unwrap_or_else(|| "—".into())
}

fn mark(s: &ScenarioResult) -> &'static str {
    match (&s.error, s.rank_service) {
        (Some(_), _) => "!",
        (None, Some(1)) if s.kind_right => "✓",
        (None, Some(1)) => "~",
        _ => "✗",
    }
}

fn fit(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        format!("{s:<n$}")
    } else {
        format!("{}…", s.chars().take(n - 1).collect::<String>())
    }
}

/// The terminal table: one row per scenario, then the heat map per fault kind, then totals.
pub fn table(r: &Report, colour: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "  {:<36} {:<40} {:<44} {:>4} {:>7} {:>5}",
        "scenario", "truth", "top-1", "rank", "wall", "calls"
    );
    for s in &r.scenarios {
        match &s.error {
            Some(e) if s.truth.is_none() || s.ranked.is_empty() => {
                let _ = writeln!(out, "{} {:<36} {}", mark(s), fit(&clean(&s.id), 36), clean(e));
            }
            _ => {
                let _ = writeln!(
                    out,
                    "{} {} {} {} {:>4} {:>5}ms {:>5}",
                    mark(s),
                    fit(&clean(&s.id), 36),
                    fit(&truth_text(s), 40),
                    fit(&clean(&top_text(s)), 44),
                    s.rank_service.map(|r| r.to_string()).unwrap_or_else(|| "—".into()),
                    s.wall_ms,
                    s.tool_calls
                );
            }
        }
    }
    let _ = writeln!(
        out,
        "\n  ✓ right service and kind   ~ right service   ✗ wrong   ! failed\n"
    );
    let _ = writeln!(
        out,
        "  {:<28} {:>3} {:>7} {:>7} {:>7} {:>7}",
        "fault kind", "n", "AC@1", "AC@1+k", "AC@3", "Avg@5"
    );
    for (kind, k) in &r.by_kind {
        let _ = writeln!(
            out,
            "  {:<28} {:>3} {} {} {} {}",
            kind,
            k.scenarios,
            cell(k.ac1_service, colour),
            cell(k.ac1_service_kind, colour),
            cell(k.ac3_service, colour),
            cell(k.avg5_service, colour)
        );
    }
    let s = &r.summary;
    let _ = writeln!(
        out,
        "  {:<28} {:>3} {} {} {} {}",
        "all",
        s.scenarios - s.failed,
        cell(s.ac1_service, colour),
        cell(s.ac1_service_kind, colour),
        cell(s.ac3_service, colour),
        cell(s.avg5_service, colour)
    );
    let _ = writeln!(
        out,
        "\n{} scenarios, {} failed · AC@1 service {:.3} · service and kind {:.3} · AC@3 {:.3} · Avg@5 {:.3} · median {} ms and {} tool calls",
        s.scenarios,
        s.failed,
        s.ac1_service,
        s.ac1_service_kind,
        s.ac3_service,
        s.avg5_service,
        s.median_wall_ms,
        s.median_tool_calls
    );
    out
}

/// The same report in Markdown, for a postmortem or a pull request.
pub fn markdown(r: &Report) -> String {
    let esc = |s: &str| clean(s).replace('|', "\\|");
    let s = &r.summary;
    let mut out = String::new();
    let _ = writeln!(out, "# inquest evaluation\n");
    let _ = writeln!(
        out,
        "{} scenarios, {} failed. AC@1 service **{:.3}**, service and kind **{:.3}**, AC@3 **{:.3}**, Avg@5 **{:.3}**; median {} ms and {} tool calls per investigation.\n",
        s.scenarios,
        s.failed,
        s.ac1_service,
        s.ac1_service_kind,
        s.ac3_service,
        s.avg5_service,
        s.median_wall_ms,
        s.median_tool_calls
    );
    let _ = writeln!(out, "## By fault kind\n");
    let _ = writeln!(out, "| fault kind | n | AC@1 | AC@1 service+kind | AC@3 | Avg@5 |");
    let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|");
    let c = |v: f64| format!("{} {v:.2}", square(v));
    for (kind, k) in &r.by_kind {
        let _ = writeln!(
            out,
            "| {kind} | {} | {} | {} | {} | {} |",
            k.scenarios,
            c(k.ac1_service),
            c(k.ac1_service_kind),
            c(k.ac3_service),
            c(k.avg5_service)
        );
    }
    let _ = writeln!(
        out,
        "| **all** | {} | {} | {} | {} | {} |\n",
        s.scenarios - s.failed,
        c(s.ac1_service),
        c(s.ac1_service_kind),
        c(s.ac3_service),
        c(s.avg5_service)
    );
    let _ = writeln!(out, "## Scenarios\n");
    let _ = writeln!(
        out,
        "| | scenario | truth | top-1 | rank | wall ms | tool calls | error |"
    );
    let _ = writeln!(out, "|---|---|---|---|---:|---:|---:|---|");
    for x in &r.scenarios {
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} | {} | {} |",
            mark(x),
            esc(&x.id),
            esc(&truth_text(x)),
            esc(&top_text(x)),
            x.rank_service.map(|r| r.to_string()).unwrap_or_else(|| "—".into()),
            x.wall_ms,
            x.tool_calls,
            x.error.as_deref().map(esc).unwrap_or_default()
        );
    }
    out
}
