//! `inquest list`: the stored investigations.

use std::io::Write;
use std::process::ExitCode;

use super::Failure;
use super::open_store;
use super::print::truncate;
use crate::tools::sanitize::clean;

pub(super) fn list(json: bool) -> Result<ExitCode, Failure> {
    let store = open_store()?;
    let rows = store.list()?;
    let mut out = std::io::stdout().lock();
    if json {
        let _ = writeln!(out, "{}", crate::tools::sanitize::json_pretty(&rows));
        return Ok(ExitCode::SUCCESS);
    }
    if rows.is_empty() {
        let _ = writeln!(out, "No investigations yet. Try: inquest demo");
        return Ok(ExitCode::SUCCESS);
    }
    let _ = writeln!(
        out,
        "{:<10} {:<20} {:<11} {:<28} {:<18} TOP CAUSE",
        "TRACE", "STARTED", "STATUS", "ALERT", "SERVICE"
    );
    for r in rows {
        let top = match (&r.top_service, r.top_kind, r.top_confidence) {
            (Some(s), Some(k), Some(c)) => format!("{} {} {:.2}", clean(s), k.as_str(), c),
            _ => "—".into(),
        };
        let _ = writeln!(
            out,
            "{:<10} {:<20} {:<11} {:<28} {:<18} {}",
            r.trace_id.short(),
            r.started_at.to_rfc3339().get(..19).unwrap_or(""),
            r.status.as_str(),
            truncate(&clean(&r.alert_name), 28),
            truncate(&clean(r.service.as_deref().unwrap_or("")), 18),
            top
        );
    }
    Ok(ExitCode::SUCCESS)
}
