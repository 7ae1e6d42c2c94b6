//! What a headless investigation prints: one line per step worth seeing, and the summary at the end.

use crate::model::BranchStatus;
use crate::model::Event;
use crate::model::EventKind;
use crate::model::InvestigationState;
use crate::model::Step;
use crate::tools::sanitize::clean;
use std::io::Write;

/// One line per thing worth seeing, for the headless demo.
pub(super) fn progress_printer() -> impl FnMut(&Event) + Send {
    use std::collections::HashMap;
    let mut names: HashMap<crate::model::SpanId, String> = HashMap::new();
    let mut calls: HashMap<crate::model::SpanId, String> = HashMap::new();
    move |e: &Event| {
        let who = |names: &HashMap<_, String>, s: Option<crate::model::SpanId>| {
            s.and_then(|s| names.get(&s).cloned()).unwrap_or_default()
        };
        let line = match &e.kind {
            EventKind::InvestigationStarted { alert, .. } => Some(format!(
                "▶ {} on {} · trace {}",
                clean(&alert.name),
                clean(alert.service().unwrap_or("?")),
                e.trace_id
            )),
            EventKind::BranchStarted {
                strategy, allotment, ..
            } => {
                names.insert(e.span_id, strategy.clone());
                match allotment {
                    Some(a) => Some(format!("  {strategy:<17} started · {}", clean(&a.reason))),
                    None => Some(format!("  {strategy:<17} started")),
                }
            }
            EventKind::GuidanceApplied { text, author, .. } => {
                Some(format!("  » {}: {}", clean(author), truncate(&clean(text), 140)))
            }
            EventKind::ThoughtDelta { text } => {
                Some(format!("  {:<17} {}", who(&names, e.parent_span_id), clean(text)))
            }
            EventKind::ToolCallStarted { tool, args } => {
                calls.insert(
                    e.span_id,
                    crate::tools::render::call_line(tool, args).trim_end().to_string(),
                );
                None
            }
            EventKind::ToolCallFinished {
                tool,
                summary,
                duration_ms,
                error,
                ..
            } => {
                let call = calls.remove(&e.span_id).unwrap_or_else(|| tool.clone());
                let outcome = match error {
                    Some(err) => format!("failed: {}", clean(err)),
                    None => clean(summary),
                };
                Some(format!(
                    "  {:<17} → {} · {outcome} · {duration_ms} ms",
                    who(&names, e.parent_span_id),
                    truncate(&call, 90)
                ))
            }
            EventKind::HypothesisProposed { hypothesis } => Some(format!(
                "  {:<17} ◆ {} {} {:.2}",
                who(&names, e.parent_span_id),
                clean(&hypothesis.service),
                hypothesis.kind.as_str(),
                hypothesis.confidence
            )),
            EventKind::BranchStatusChanged { status, reason } if *status != BranchStatus::Running => Some(format!(
                "  {:<17} {}{}",
                who(&names, Some(e.span_id)),
                status.as_str(),
                reason.as_deref().map(|r| format!(": {}", clean(r))).unwrap_or_default()
            )),
            _ => None,
        };
        if let Some(l) = line {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{}", truncate(&l, 160));
        }
    }
}

pub(super) fn truncate(s: &str, n: usize) -> String {
    let first = s.lines().next().unwrap_or("");
    if first.chars().count() <= n {
        first.to_string()
    } else {
        format!("{}…", first.chars().take(n - 1).collect::<String>())
    }
}

pub(super) fn print_summary(s: &InvestigationState, label: &str, saved: bool) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "\n{} on {} · {}\ntrace {} · bundle {} · {} branches · {} tool calls{} · {} ms · {}\n",
        clean(&s.alert.name),
        clean(s.alert.service().unwrap_or("?")),
        clean(label),
        s.trace_id,
        s.bundle_id,
        s.branches.len(),
        s.tool_calls,
        if s.tokens > 0 {
            format!(
                " · {}",
                super::list::usage(s.tokens, s.estimated_tokens, s.cost_microusd)
            )
        } else {
            String::new()
        },
        s.finished_at
            .map(|f| (f.0 - s.started_at.0) / 1_000_000)
            .unwrap_or(s.elapsed_ms as i64),
        s.status.as_str()
    );
    if s.root_causes.is_empty() {
        let _ = writeln!(out, "No root cause found.");
    } else {
        let _ = writeln!(out, "Root causes");
        for (i, rc) in s.root_causes.iter().enumerate() {
            let _ = writeln!(
                out,
                "  {}  {:<20} {:<28} {:.2}  {}",
                i + 1,
                clean(&rc.service),
                rc.kind.as_str(),
                rc.confidence,
                truncate(&clean(&rc.statement), 100)
            );
        }
    }
    if !s.sources.is_empty() {
        let _ = writeln!(out, "\nSources: {}", truncate(&clean(&s.sources.describe()), 300));
    }
    if !s.guidance_steps.is_empty() {
        let _ = writeln!(out, "\nGuidance");
        for g in &s.guidance_steps {
            if let Step::Guidance { text, author, .. } = g {
                let _ = writeln!(out, "  {}: {}", clean(author), truncate(&clean(text), 120));
            }
        }
    }
    let _ = writeln!(out, "\nBranches");
    for b in &s.branches {
        let _ = writeln!(
            out,
            "  {:<17} {:<13} {:>3} calls  best {}",
            b.strategy,
            b.status.as_str(),
            b.tool_calls,
            b.best_confidence()
                .map(|c| format!("{c:.2}"))
                .unwrap_or_else(|| "—".into())
        );
        // Why the branch had the share of the budget it had.
        if let Some(a) = &b.allotment {
            let _ = writeln!(out, "  {:<17} {}", "", truncate(&clean(&a.reason), 120));
        }
    }
    if saved {
        let _ = writeln!(out, "\nReport: inquest report {}", s.trace_id.short());
    }
}
