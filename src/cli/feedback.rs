//! `inquest feedback` and `inquest learned`: what engineers said of an investigation, and what it taught.

use std::io::Write;
use std::process::ExitCode;

use super::Failure;
use super::open_store;
use crate::tools::sanitize::clean;

pub(super) fn learned_cmd(alert: Option<&str>, json: bool, forget: bool) -> Result<ExitCode, Failure> {
    let store = open_store()?;
    if forget {
        let n = store.forget(alert)?;
        if alert.is_none() {
            let shared = store.forget_shared()?;
            if shared > 0 {
                eprintln!(
                    "forgot {shared} imported shared pattern{}",
                    if shared == 1 { "" } else { "s" }
                );
            }
        }
        eprintln!(
            "forgot {n} learned line{} {}",
            if n == 1 { "" } else { "s" },
            alert
                .map(|a| format!("for {a}"))
                .unwrap_or_else(|| "for every alert".into())
        );
        return Ok(ExitCode::SUCCESS);
    }
    let mut all = store.learned_all()?;
    if let Some(a) = alert {
        all.retain(|(name, _)| name == a);
    }
    let mut out = Vec::new();
    for (name, lines) in all {
        let stats = store.strategy_stats(&name)?;
        out.push((name, lines, stats));
    }
    if json {
        let v: Vec<serde_json::Value> = out
            .iter()
            .map(|(name, lines, stats)| serde_json::json!({"alert": name, "guidance": lines, "strategies": stats}))
            .collect();
        println!("{}", crate::tools::sanitize::json_line(&serde_json::Value::Array(v)));
        return Ok(ExitCode::SUCCESS);
    }
    let shared = store.shared_patterns()?;
    if !shared.is_empty() && alert.is_none() {
        println!("Shared patterns (imported; they count less than this store's own grades)");
        for p in &shared {
            println!(
                "  {:<32} {:<20} {:<20} {} correct, {} partly, {} wrong",
                clean(&p.alert),
                p.role,
                p.kind,
                p.correct,
                p.partly,
                p.wrong
            );
        }
        println!();
    }
    if out.is_empty() && (shared.is_empty() || alert.is_some()) {
        println!(
            "Nothing learned yet: grade a root cause in the cockpit (inquest open TRACE) and the next investigation of that alert starts with it."
        );
        return Ok(ExitCode::SUCCESS);
    }
    for (name, lines, stats) in &out {
        println!("{}", crate::tools::sanitize::clean(name));
        for l in lines {
            println!("  {}", crate::tools::sanitize::clean(l));
        }
        if !stats.is_empty() {
            println!(
                "  {:<20} {:>5} {:>8} {:>7} {:>6}",
                "strategy", "runs", "correct", "partly", "wrong"
            );
            for s in stats {
                println!(
                    "  {:<20} {:>5} {:>8} {:>7} {:>6}",
                    s.strategy, s.runs, s.correct, s.partly, s.wrong
                );
            }
        }
        println!();
    }
    Ok(ExitCode::SUCCESS)
}

pub(super) fn feedback(prefix: &str, json: bool) -> Result<ExitCode, Failure> {
    let store = open_store()?;
    let trace = store.resolve(prefix).map_err(|e| Failure::BadInput(e.to_string()))?;
    let items = store.feedback(trace)?;
    print_feedback(&items, json, &trace.short());
    Ok(ExitCode::SUCCESS)
}

/// Feedback as lines, or as JSON (redacted, as every exit is).
pub(super) fn print_feedback(items: &[crate::model::Feedback], json: bool, trace: &str) {
    let mut out = std::io::stdout().lock();
    if json {
        // Quotes and comments may carry what a log line leaked: redacted, as every exit is.
        let mut v = serde_json::to_value(items).unwrap_or_default();
        crate::tools::redact::Redactor::new().redact_json(&mut v);
        let _ = writeln!(out, "{}", crate::tools::sanitize::json_pretty(&v));
        return;
    }
    if items.is_empty() {
        let _ = writeln!(out, "No feedback on {}.", clean(trace));
    }
    for f in items {
        let what = match (&f.rating, &f.grade) {
            (_, Some(g)) => g.name().to_string(),
            (Some(crate::model::Rating::Up), _) => "+1".into(),
            (Some(crate::model::Rating::Down), _) => "-1".into(),
            _ => "comment".into(),
        };
        let _ = writeln!(
            out,
            "{} {} {:<10} {:<8} {}{}",
            f.at.to_rfc3339().get(..19).unwrap_or(""),
            f.span_id.short(),
            clean(&f.target),
            what,
            clean(&f.author),
            f.comment
                .as_deref()
                .map(|c| format!(": {}", clean(c)))
                .unwrap_or_default()
        );
    }
}
