//! `inquest list`: the stored investigations.

use std::io::Write;
use std::process::ExitCode;

use super::Failure;
use super::open_store;
use super::print::truncate;
use crate::store::InvestigationRow;
use crate::tools::sanitize::clean;

pub(super) fn list(json: bool) -> Result<ExitCode, Failure> {
    let store = open_store()?;
    let rows = store.list()?;
    if json {
        let _ = writeln!(
            std::io::stdout().lock(),
            "{}",
            crate::tools::sanitize::json_pretty(&rows)
        );
        return Ok(ExitCode::SUCCESS);
    }
    print_rows(&rows, "inquest demo");
    Ok(ExitCode::SUCCESS)
}

/// The investigations as a table; `start` says how to start one when there are none.
pub(super) fn print_rows(rows: &[InvestigationRow], start: &str) {
    let mut out = std::io::stdout().lock();
    if rows.is_empty() {
        let _ = writeln!(out, "No investigations yet. Try: {start}");
        return;
    }
    // A model column only where a model was used.
    let model = rows.iter().any(|r| r.tokens > 0);
    let _ = writeln!(
        out,
        "{:<10} {:<20} {:<11} {:<28} {:<18} {}TOP CAUSE",
        "TRACE",
        "STARTED",
        "STATUS",
        "ALERT",
        "SERVICE",
        if model {
            format!("{:<16} ", "MODEL")
        } else {
            String::new()
        }
    );
    for r in rows {
        let top = top(r);
        let usage = if model {
            format!("{:<16} ", usage(r.tokens, r.estimated_tokens, r.cost_microusd))
        } else {
            String::new()
        };
        let _ = writeln!(
            out,
            "{:<10} {:<20} {:<11} {:<28} {:<18} {usage}{}",
            r.trace_id.short(),
            r.started_at.to_rfc3339().get(..19).unwrap_or(""),
            r.status.as_str(),
            truncate(&clean(&r.alert_name), 28),
            truncate(&clean(r.service.as_deref().unwrap_or("")), 18),
            top
        );
    }
}

/// The top cause in a few words: `checkout pool_exhaustion 0.82`.
pub(super) fn top(r: &InvestigationRow) -> String {
    match (&r.top_service, r.top_kind, r.top_confidence, r.rerun_as) {
        // Cut off in `inquest serve` and run again under another trace.
        (_, _, _, Some(t)) => format!("re-run as {}", t.short()),
        (Some(s), Some(k), Some(c), None) => format!("{} {} {:.2}", clean(s), k.as_str(), c),
        _ => "—".into(),
    }
}

/// Tokens and cost in a few characters: `~12.3k tok $0.004`; `~` when any were estimated.
pub(super) fn usage(tokens: u64, estimated: u64, cost_microusd: u64) -> String {
    if tokens == 0 {
        return "—".into();
    }
    let approx = if estimated > 0 { "~" } else { "" };
    let n = if tokens >= 1000 {
        format!("{:.1}k", tokens as f64 / 1000.0)
    } else {
        tokens.to_string()
    };
    if cost_microusd > 0 {
        format!("{approx}{n} tok ${:.3}", cost_microusd as f64 / 1e6)
    } else {
        format!("{approx}{n} tok")
    }
}
