//! A Markdown root-cause analysis of one investigation, ready to paste into a
//! postmortem: summary, ranked root causes with their evidence, a timeline,
//! what each branch did, and the engineers' feedback.
//!
//! Everything but the headings comes from untrusted text (alert labels, tool
//! output, log lines, model output), so it passes through [`inline`] (or a
//! fenced block) on the way in: terminal control is stripped and Markdown
//! that could break the layout is escaped. On the way in it is also redacted
//! (before any cut), with one [`Redactor`] for the whole report so that one
//! secret is one placeholder throughout.

use std::cell::RefCell;
use std::fmt::Write;

use crate::tools::redact::Redactor;

use crate::tools::render::call_args;
use crate::tools::sanitize::clean;

use crate::model::{
    BranchState, CallStatus, Feedback, Grade, InvestigationState, InvestigationStatus, Rating, SpanId, Step, Timestamp,
    format_duration_ms,
};

/// Longest rendering of a tool call's arguments in the branch tables.
const ARGS_MAX: usize = 120;
/// Longest statement or summary in a table cell.
const CELL_MAX: usize = 300;

thread_local! {
    /// The redactor of the report being written on this thread.
    static RED: RefCell<Option<Redactor>> = const { RefCell::new(None) };
}

/// `s` redacted by the report's redactor.
fn red(s: &str) -> String {
    RED.with(|r| match r.borrow().as_ref() {
        Some(r) => r.redact(s),
        None => Redactor::new().redact(s),
    })
}

/// The whole report.
pub fn markdown(state: &InvestigationState, feedback: &[Feedback]) -> String {
    RED.with(|r| *r.borrow_mut() = Some(Redactor::new()));
    let out = markdown_body(state, feedback);
    RED.with(|r| *r.borrow_mut() = None);
    out
}

fn markdown_body(state: &InvestigationState, feedback: &[Feedback]) -> String {
    let mut out = String::new();
    title(&mut out, state);
    summary(&mut out, state);
    root_causes(&mut out, state, feedback);
    timeline(&mut out, state);
    branches(&mut out, state);
    feedback_section(&mut out, state, feedback);
    out
}

fn title(out: &mut String, st: &InvestigationState) {
    let alert = inline(&st.alert.name);
    match st.alert.service() {
        Some(svc) => {
            let _ = writeln!(out, "# RCA: {alert} on {}", inline(svc));
        }
        None => {
            let _ = writeln!(out, "# RCA: {alert}");
        }
    }
    out.push('\n');
    if let Some(s) = st.alert.summary().map(inline).filter(|s| !s.is_empty()) {
        let _ = writeln!(out, "> {s}\n");
    }
}

fn summary(out: &mut String, st: &InvestigationState) {
    let mut rows: Vec<(&str, String)> = vec![
        ("Trace", format!("`{}`", st.trace_id)),
        (
            "Alert",
            format!("{} (from {})", inline(&st.alert.name), inline(&st.alert.source)),
        ),
        ("Severity", inline(&st.alert.severity)),
        ("Alert started", utc(st.alert.starts_at)),
        ("Investigation started", utc(st.started_at)),
        ("Status", status_str(st.status).to_string()),
        ("Reasoner", inline(&st.reasoner)),
        ("Bundle", inline(&st.bundle_id)),
        ("Source", inline(&st.source)),
        ("Tool calls", st.tool_calls.to_string()),
    ];
    if !st.sources.is_empty() {
        rows.push(("Sources", inline(&st.sources.describe())));
    }
    if st.tokens > 0 {
        let tokens = if st.estimated_tokens > 0 {
            format!(
                "{} ({} estimated at ~4 bytes/token: the server reported no usage)",
                st.tokens, st.estimated_tokens
            )
        } else {
            st.tokens.to_string()
        };
        rows.push(("Tokens", tokens));
    }
    if st.cost_microusd > 0 {
        let approx = if st.estimated_tokens > 0 { "about " } else { "" };
        rows.push(("Model cost", format!("{approx}${:.4}", st.cost_microusd as f64 / 1e6)));
    }
    rows.push(("Elapsed", elapsed(st)));
    out.push_str("| Field | Value |\n|---|---|\n");
    for (k, v) in rows {
        let _ = writeln!(out, "| {k} | {v} |");
    }
    out.push('\n');
}

fn root_causes(out: &mut String, st: &InvestigationState, feedback: &[Feedback]) {
    out.push_str("## Root causes\n\n");
    if !st.sources.unavailable.is_empty() {
        let names: Vec<&str> = st.sources.unavailable.iter().map(|u| u.source.as_str()).collect();
        let _ = writeln!(
            out,
            "_Could not read {}: the causes below rest only on the sources that answered._\n",
            inline(&names.join(", "))
        );
    }
    if st.root_causes.is_empty() {
        out.push_str(if st.status == InvestigationStatus::Running {
            "No root cause yet: the investigation is still running.\n\n"
        } else {
            "No root cause was concluded.\n\n"
        });
        return;
    }
    for (i, rc) in st.root_causes.iter().enumerate() {
        let _ = writeln!(
            out,
            "{}. **{}**: {}, {} confidence",
            i + 1,
            inline(&rc.service),
            rc.kind.as_str(),
            pct(rc.confidence)
        );
        let statement = inline(&rc.statement);
        if !statement.is_empty() {
            let _ = writeln!(out, "   {statement}");
        }
        if !rc.evidence.is_empty() {
            let _ = writeln!(out, "   - Evidence:");
            for span in &rc.evidence {
                let _ = writeln!(out, "     - {}", evidence_line(st, *span));
            }
        }
        if !rc.branches.is_empty() {
            let names: Vec<String> = rc.branches.iter().map(|b| branch_name(st, *b)).collect();
            let _ = writeln!(out, "   - Supported by: {}", names.join(", "));
        }
        for f in feedback
            .iter()
            .filter(|f| f.grade.is_some() && rc.hypotheses.contains(&f.span_id))
        {
            let _ = writeln!(
                out,
                "   - Graded **{}** by {}",
                f.grade.map(Grade::name).unwrap_or_default(),
                inline(&f.author)
            );
        }
    }
    out.push('\n');
}

fn timeline(out: &mut String, st: &InvestigationState) {
    out.push_str("## Timeline\n\nTimes are UTC.\n\n");
    let mut lines: Vec<(Timestamp, String)> = Vec::new();
    lines.push((
        st.alert.starts_at,
        format!(
            "Alert {} started firing ({})",
            inline(&st.alert.name),
            inline(&st.alert.severity)
        ),
    ));
    lines.push((
        st.started_at,
        format!(
            "Investigation started: {} reasoner, strategies {}",
            inline(&st.reasoner),
            inline(&st.strategies.join(", "))
        ),
    ));
    for b in &st.branches {
        let name = inline(&b.strategy);
        let mut started = format!("Branch {name} started");
        if !b.title.is_empty() {
            let _ = write!(started, ": {}", cell(&b.title));
        }
        if let Some(p) = b.parent {
            let _ = write!(started, " (forked from {})", branch_name(st, p));
        }
        lines.push((b.started_at, started));
        for step in &b.steps {
            match step {
                Step::Hypothesis { at, hypothesis: h, .. } => lines.push((
                    *at,
                    format!(
                        "{name} proposed {} · {} · {}: {}",
                        inline(&h.service),
                        h.kind.as_str(),
                        pct(h.confidence),
                        cell(&h.statement)
                    ),
                )),
                Step::Guidance { at, text, author, .. } => lines.push((
                    *at,
                    format!("Guidance to {name} from {}: {}", inline(author), cell(text)),
                )),
                Step::Status { at, status, reason, .. } => {
                    let mut line = format!("Branch {name} {}", status.as_str());
                    if let Some(r) = reason.as_deref().filter(|r| !r.is_empty()) {
                        let _ = write!(line, ": {}", cell(r));
                    }
                    lines.push((*at, line));
                }
                Step::Thought { .. } | Step::ToolCall { .. } => {}
            }
        }
    }
    if let Some(at) = st.finished_at {
        let mut line = format!("Investigation finished: {}", status_str(st.status));
        if let Some(rc) = st.root_causes.first() {
            let _ = write!(
                line,
                "; top cause {} · {} · {}",
                inline(&rc.service),
                rc.kind.as_str(),
                pct(rc.confidence)
            );
        }
        lines.push((at, line));
    }
    // Stable: events at the same instant keep the order they happened in.
    lines.sort_by_key(|(at, _)| *at);
    out.push_str("| Time | Event |\n|---|---|\n");
    for (at, line) in lines {
        let _ = writeln!(out, "| {} | {line} |", at.clock());
    }
    out.push('\n');
    if !st.guidance_steps.is_empty() {
        out.push_str(
            "Guidance to the whole investigation, in order (`learned` is what past grades of this alert left, `shared pattern` what an imported pattern suggests):\n\n",
        );
        for g in &st.guidance_steps {
            if let Step::Guidance { at, text, author, .. } = g {
                let _ = writeln!(out, "- {} {}: {}", at.clock(), inline(author), inline(text));
            }
        }
        out.push('\n');
    }
    if !st.rejected.is_empty() {
        out.push_str("Commands the engine refused:\n\n");
        for (cmd, reason) in &st.rejected {
            let _ = writeln!(out, "- {}: {}", inline(cmd), inline(reason));
        }
        out.push('\n');
    }
}

fn branches(out: &mut String, st: &InvestigationState) {
    out.push_str("## What each branch did\n\n");
    if st.branches.is_empty() {
        out.push_str("No branch ran.\n\n");
        return;
    }
    for (i, b) in st.branches.iter().enumerate() {
        branch(out, st, i + 1, b);
    }
}

fn branch(out: &mut String, st: &InvestigationState, n: usize, b: &BranchState) {
    let _ = writeln!(out, "### {n}. {}: {}\n", inline(&b.strategy), b.status.as_str());
    let mut facts = Vec::new();
    if !b.title.is_empty() {
        facts.push(inline(&b.title));
    }
    if let Some(p) = b.parent {
        facts.push(format!("forked from {}", branch_name(st, p)));
    }
    if let Some(a) = &b.allotment {
        facts.push(inline(&a.reason));
    }
    match b.ended_at {
        Some(end) => facts.push(format!(
            "ran {}–{} ({})",
            b.started_at.clock(),
            end.clock(),
            format_duration_ms(end.millis().saturating_sub(b.started_at.millis()).max(0))
        )),
        None => facts.push(format!("started {}", b.started_at.clock())),
    }
    facts.push(plural(b.tool_calls as usize, "tool call"));
    if b.tokens > 0 {
        facts.push(format!("{} tokens", b.tokens));
    }
    if let Some(c) = b.best_confidence() {
        facts.push(format!("best confidence {}", pct(c)));
    }
    let _ = writeln!(out, "{}\n", facts.join(" · "));

    let calls: Vec<&Step> = b.steps.iter().filter(|s| matches!(s, Step::ToolCall { .. })).collect();
    if !calls.is_empty() {
        out.push_str("| Time | Tool | Arguments | Status | Duration | Summary |\n");
        out.push_str("|---|---|---|---|---|---|\n");
        for step in calls {
            if let Step::ToolCall {
                at,
                tool,
                args,
                status,
                duration_ms,
                summary,
                error,
                ..
            } = step
            {
                let mut sum = summary.as_deref().map(cell).unwrap_or_default();
                if let Some(e) = error.as_deref().filter(|e| !e.is_empty()) {
                    if !sum.is_empty() {
                        sum.push_str("; ");
                    }
                    let _ = write!(sum, "error: {}", cell(e));
                }
                let _ = writeln!(
                    out,
                    "| {} | {} | {} | {} | {} | {sum} |",
                    at.clock(),
                    inline(tool),
                    inline(&truncate(&call_args(args), ARGS_MAX)),
                    status.map_or("running", call_status_str),
                    duration_ms.map_or(String::new(), |d| {
                        format_duration_ms(i64::try_from(d).unwrap_or(i64::MAX))
                    }),
                );
            }
        }
        out.push('\n');
    }

    if !b.hypotheses.is_empty() {
        out.push_str("Hypotheses:\n\n");
        for (_, h) in &b.hypotheses {
            let _ = write!(
                out,
                "- {} · {} · {}: {}",
                inline(&h.service),
                h.kind.as_str(),
                pct(h.confidence),
                inline(&h.statement)
            );
            let ev: Vec<String> = h.evidence.iter().map(|s| evidence_line(st, *s)).collect();
            if !ev.is_empty() {
                let _ = write!(out, " (evidence: {})", ev.join("; "));
            }
            out.push('\n');
        }
        out.push('\n');
    }

    let guidance: Vec<String> = b
        .steps
        .iter()
        .filter_map(|s| match s {
            Step::Guidance { at, text, author, .. } => {
                Some(format!("- {} {}: {}", at.clock(), inline(author), inline(text)))
            }
            _ => None,
        })
        .collect();
    if !guidance.is_empty() {
        out.push_str("Guidance:\n\n");
        for g in guidance {
            let _ = writeln!(out, "{g}");
        }
        out.push('\n');
    }
}

fn feedback_section(out: &mut String, st: &InvestigationState, feedback: &[Feedback]) {
    if feedback.is_empty() {
        return;
    }
    out.push_str("## Feedback\n\n");
    for f in feedback {
        let mut head = Vec::new();
        if let Some(g) = f.grade {
            head.push(format!("graded **{}**", g.name()));
        }
        if let Some(r) = f.rating {
            head.push(match r {
                Rating::Up => "rated up".to_string(),
                Rating::Down => "rated down".to_string(),
            });
        }
        if head.is_empty() {
            head.push("comment".to_string());
        }
        let _ = writeln!(
            out,
            "- {} on {} by {} at {}",
            head.join(", "),
            describe_span(st, f),
            inline(&f.author),
            utc(f.at)
        );
        if let Some(c) = f.comment.as_deref().map(|c| clean(&red(c))) {
            for line in c.trim_end().lines() {
                let _ = writeln!(out, "  > {}", block_line(line));
            }
        }
        if let Some(h) = &f.highlight {
            let lines = if h.start_line == h.end_line {
                format!("line {}", h.start_line)
            } else {
                format!("lines {}–{}", h.start_line, h.end_line)
            };
            let _ = writeln!(out, "\n  Highlighted {lines}:\n");
            fenced(out, &h.quote, "  ");
        }
    }
    out.push('\n');
}

/// What a piece of feedback is about, in words.
fn describe_span(st: &InvestigationState, f: &Feedback) -> String {
    let span = f.span_id;
    let short = format!("`{}`", span.short());
    if let Some(rc) = st.root_causes.iter().find(|rc| rc.hypotheses.contains(&span)) {
        return format!("root cause {} · {} {short}", inline(&rc.service), rc.kind.as_str());
    }
    if let Some(b) = st.branch(span) {
        return format!("branch {} {short}", inline(&b.strategy));
    }
    if let Some(e) = st.evidence.get(&span) {
        return format!("evidence “{}” {short}", inline(&e.evidence.summary));
    }
    for b in &st.branches {
        for step in b.steps.iter().filter(|s| s.span() == span) {
            match step {
                Step::ToolCall { tool, .. } => {
                    return format!("tool call {} in {} {short}", inline(tool), inline(&b.strategy));
                }
                Step::Hypothesis { hypothesis: h, .. } => {
                    return format!(
                        "hypothesis {} · {} in {} {short}",
                        inline(&h.service),
                        h.kind.as_str(),
                        inline(&b.strategy)
                    );
                }
                _ => {}
            }
        }
    }
    format!("{} {short}", inline(&f.target))
}

fn evidence_line(st: &InvestigationState, span: SpanId) -> String {
    match st.evidence.get(&span) {
        Some(e) => format!("{} (`{}`)", cell(&e.evidence.summary), span.short()),
        None => format!("evidence `{}` (not in this trace)", span.short()),
    }
}

fn branch_name(st: &InvestigationState, span: SpanId) -> String {
    match st.branch(span) {
        Some(b) => inline(&b.strategy),
        None => format!("branch `{}`", span.short()),
    }
}

fn elapsed(st: &InvestigationState) -> String {
    let ms = if st.elapsed_ms > 0 {
        i64::try_from(st.elapsed_ms).unwrap_or(i64::MAX)
    } else if let Some(end) = st.finished_at {
        end.millis().saturating_sub(st.started_at.millis()).max(0)
    } else {
        return "still running".to_string();
    };
    format_duration_ms(ms)
}

fn utc(t: Timestamp) -> String {
    let s = t.to_rfc3339();
    // `2026-03-01T10:48:00Z` reads better as `2026-03-01 10:48:00 UTC`.
    format!("{} UTC", s.trim_end_matches('Z').replacen('T', " ", 1))
}

fn pct(c: f64) -> String {
    if c.is_finite() {
        format!("{:.0}%", (c * 100.0).clamp(0.0, 100.0))
    } else {
        "?%".to_string()
    }
}

fn plural(n: usize, what: &str) -> String {
    if n == 1 {
        format!("1 {what}")
    } else {
        format!("{n} {what}s")
    }
}

fn status_str(s: InvestigationStatus) -> &'static str {
    s.as_str()
}

fn call_status_str(s: CallStatus) -> &'static str {
    match s {
        CallStatus::Ok => "ok",
        CallStatus::Error => "error",
        CallStatus::Refused => "refused",
    }
}

fn truncate(s: &str, max: usize) -> String {
    let s = &red(s);
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// Untrusted text for a table cell: [`inline`], and cut to a readable length.
fn cell(s: &str) -> String {
    inline(&truncate(s, CELL_MAX))
}

/// Untrusted text made safe for one line of Markdown (a heading, list item or
/// table cell): control stripped, line breaks folded into spaces, and the
/// characters that could end a cell or start markup escaped.
fn inline(s: &str) -> String {
    let cleaned = clean(&red(s));
    let mut out = String::with_capacity(cleaned.len());
    let mut space = false;
    for c in cleaned.trim().chars() {
        if c.is_whitespace() {
            if !space {
                out.push(' ');
            }
            space = true;
            continue;
        }
        space = false;
        match c {
            '\\' | '|' | '*' | '`' | '[' | ']' => {
                out.push('\\');
                out.push(c);
            }
            '<' => out.push_str("&lt;"),
            c => out.push(c),
        }
    }
    out
}

/// One line of a multi-line block (a quoted comment): [`inline`], and a line
/// that would open a heading, quote or list is escaped.
fn block_line(line: &str) -> String {
    let s = inline(line);
    let starts_block = s.starts_with(['#', '>', '-', '+', '='])
        || s.find(|c: char| !c.is_ascii_digit())
            .is_some_and(|i| i > 0 && s[i..].starts_with(['.', ')']));
    if starts_block { format!("\\{s}") } else { s }
}

/// Verbatim text in a fenced code block whose fence no backtick run inside can close.
fn fenced(out: &mut String, text: &str, indent: &str) {
    let text = clean(&red(text));
    let longest = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest.max(2) + 1);
    let _ = writeln!(out, "{indent}{fence}text");
    for line in text.trim_end_matches('\n').lines() {
        let _ = writeln!(out, "{indent}{line}");
    }
    let _ = writeln!(out, "{indent}{fence}");
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::model::{
        Alert, BranchStatus, Budget, EVENT_VERSION, Event, EventKind, Evidence, EvidenceKind, FaultKind, GuidanceScope,
        Highlight, Hypothesis, RootCause, SourcesRead, TraceId, Unavailable,
    };

    struct Builder {
        trace: TraceId,
        seq: u64,
        at: Timestamp,
        events: Vec<Event>,
    }

    impl Builder {
        fn push(&mut self, span: SpanId, parent: Option<SpanId>, kind: EventKind) {
            self.seq += 1;
            self.at = self.at + 1_000_000_000;
            self.events.push(Event {
                v: EVENT_VERSION,
                trace_id: self.trace,
                span_id: span,
                parent_span_id: parent,
                seq: self.seq,
                at: self.at,
                kind,
            });
        }
    }

    struct Fixture {
        state: InvestigationState,
        hyp_db: SpanId,
        evidence: SpanId,
        logs: SpanId,
    }

    fn fixture() -> Fixture {
        let start = Timestamp::parse_rfc3339("2026-03-01T10:15:00Z").unwrap();
        let mut b = Builder {
            trace: TraceId::random(),
            seq: 0,
            at: start,
            events: Vec::new(),
        };
        let root = SpanId::random();
        let metrics = SpanId::random();
        let logs = SpanId::random();
        let fork = SpanId::random();
        let call = SpanId::random();
        let evidence = SpanId::random();
        let call2 = SpanId::random();
        let hyp_db = SpanId::random();
        let hyp_co = SpanId::random();
        b.push(
            root,
            None,
            EventKind::InvestigationStarted {
                alert: Box::new(Alert {
                    source: "alertmanager".into(),
                    name: "CheckoutLatencyHigh".into(),
                    labels: BTreeMap::from([("service".into(), "checkout".into())]),
                    annotations: BTreeMap::from([("summary".into(), "p99 above 2s for 5m".into())]),
                    severity: "page".into(),
                    starts_at: Timestamp::parse_rfc3339("2026-03-01T10:12:00Z").unwrap(),
                    fingerprint: "abc".into(),
                }),
                bundle_id: "b-42".into(),
                reasoner: "builtin".into(),
                budget: Budget::default(),
                strategies: vec!["metrics-first".into(), "logs-first".into()],
                source: "sim:pg-pool".into(),
                now: start,
            },
        );
        for (span, strategy) in [(metrics, "metrics-first"), (logs, "logs-first")] {
            b.push(
                span,
                Some(root),
                EventKind::BranchStarted {
                    strategy: strategy.into(),
                    title: format!("{strategy} plan"),
                    parent_branch: None,
                    guidance: None,
                    allotment: None,
                },
            );
            b.push(
                span,
                Some(root),
                EventKind::BranchStatusChanged {
                    status: BranchStatus::Running,
                    reason: None,
                },
            );
        }
        b.push(
            call,
            Some(metrics),
            EventKind::ToolCallStarted {
                tool: "prometheus_query_range".into(),
                args: serde_json::json!({"query": "histogram_quantile(0.99, rate(x[5m]))", "step": "15s"}),
            },
        );
        b.push(
            call,
            Some(metrics),
            EventKind::ToolCallFinished {
                tool: "prometheus_query_range".into(),
                status: CallStatus::Ok,
                duration_ms: 120,
                summary: "p99 | 2.3s \u{1b}[31mred\u{1b}[0m\u{7}".into(),
                evidence_span_id: Some(evidence),
                error: None,
            },
        );
        b.push(
            evidence,
            Some(call),
            EventKind::EvidenceAdded {
                evidence: Evidence {
                    kind: EvidenceKind::MetricSeries,
                    summary: "orders-db | connections at max\u{1b}]0;pwned\u{7}".into(),
                    syntax: "json".into(),
                    body: "[]".into(),
                },
            },
        );
        b.push(
            call2,
            Some(logs),
            EventKind::ToolCallStarted {
                tool: "loki_query_range".into(),
                args: serde_json::json!({"query": "{service=\"checkout\"}"}),
            },
        );
        b.push(
            call2,
            Some(logs),
            EventKind::ToolCallFinished {
                tool: "loki_query_range".into(),
                status: CallStatus::Error,
                duration_ms: 3000,
                summary: String::new(),
                evidence_span_id: None,
                error: Some("timeout".into()),
            },
        );
        b.push(
            SpanId::random(),
            None,
            EventKind::GuidanceApplied {
                scope: GuidanceScope::Investigation,
                branch: None,
                text: "ignore the CDN".into(),
                author: "alice".into(),
            },
        );
        b.push(
            SpanId::random(),
            Some(logs),
            EventKind::GuidanceApplied {
                scope: GuidanceScope::Branch,
                branch: Some(logs),
                text: "look at orders-db".into(),
                author: "alice".into(),
            },
        );
        b.push(
            fork,
            Some(root),
            EventKind::BranchStarted {
                strategy: "dependency-walk".into(),
                title: "forked".into(),
                parent_branch: Some(logs),
                guidance: Some("walk from orders-db".into()),
                allotment: None,
            },
        );
        let hyp = |service: &str, kind, confidence, evidence: Vec<SpanId>| Hypothesis {
            service: service.into(),
            kind,
            statement: format!("{service} is at fault"),
            confidence,
            evidence,
            kind_confidence: 1.0,
        };
        b.push(
            hyp_co,
            Some(logs),
            EventKind::HypothesisProposed {
                hypothesis: hyp("checkout", FaultKind::BadDeploy, 0.31, vec![]),
            },
        );
        b.push(
            hyp_db,
            Some(metrics),
            EventKind::HypothesisProposed {
                hypothesis: hyp("orders-db", FaultKind::ConnectionPoolExhaustion, 0.82, vec![evidence]),
            },
        );
        b.push(
            logs,
            Some(root),
            EventKind::BranchStatusChanged {
                status: BranchStatus::Pruned,
                reason: Some("pruned by alice".into()),
            },
        );
        let causes = vec![
            RootCause {
                service: "orders-db".into(),
                kind: FaultKind::ConnectionPoolExhaustion,
                confidence: 0.82,
                statement: "orders-db ran out of connections".into(),
                evidence: vec![evidence],
                branches: vec![metrics, fork],
                hypotheses: vec![hyp_db],
                evidence_confidence: None,
            },
            RootCause {
                service: "checkout".into(),
                kind: FaultKind::BadDeploy,
                confidence: 0.31,
                statement: "a deploy of checkout".into(),
                evidence: vec![],
                branches: vec![logs],
                hypotheses: vec![hyp_co],
                evidence_confidence: None,
            },
        ];
        b.push(
            root,
            None,
            EventKind::InvestigationFinished {
                status: InvestigationStatus::Done,
                root_causes: causes,
                tool_calls: 2,
                tokens: 0,
                elapsed_ms: 134_000,
                sources: SourcesRead::default(),
            },
        );
        Fixture {
            state: InvestigationState::fold(&b.events).unwrap(),
            hyp_db,
            evidence,
            logs,
        }
    }

    #[test]
    fn a_report_has_every_section_with_the_top_cause_first() {
        let fx = fixture();
        let fb = vec![
            Feedback {
                id: Feedback::new_id(),
                parent: None,
                spans: Vec::new(),
                trace_id: fx.state.trace_id,
                span_id: fx.hyp_db,
                target: "root_cause".into(),
                rating: Some(Rating::Up),
                grade: Some(Grade::Correct),
                highlight: None,
                comment: Some("spot on\n# not a heading".into()),
                author: "alice".into(),
                at: Timestamp::parse_rfc3339("2026-03-01T10:30:00Z").unwrap(),
                bundle_id: "b-42".into(),
            },
            Feedback {
                id: Feedback::new_id(),
                parent: None,
                spans: Vec::new(),
                trace_id: fx.state.trace_id,
                span_id: fx.evidence,
                target: "evidence".into(),
                rating: Some(Rating::Down),
                grade: None,
                highlight: Some(Highlight {
                    start_line: 2,
                    end_line: 3,
                    quote: "has ``` fences | and \u{1b}[2J".into(),
                }),
                comment: None,
                author: "bob".into(),
                at: Timestamp::parse_rfc3339("2026-03-01T10:31:00Z").unwrap(),
                bundle_id: "b-42".into(),
            },
        ];
        let md = markdown(&fx.state, &fb);

        assert!(md.starts_with("# RCA: CheckoutLatencyHigh on checkout\n"), "{md}");
        let pos = |needle: &str| md.find(needle).unwrap_or_else(|| panic!("no {needle:?} in\n{md}"));
        let sections = [
            "| Trace | `",
            "## Root causes",
            "## Timeline",
            "## What each branch did",
            "## Feedback",
        ];
        for w in sections.windows(2) {
            assert!(pos(w[0]) < pos(w[1]), "{} before {}", w[0], w[1]);
        }
        for row in [
            "| Severity | page |",
            "| Status | done |",
            "| Reasoner | builtin |",
            "| Bundle | b-42 |",
            "| Tool calls | 2 |",
            "| Elapsed | 2m14s |",
            "| Investigation started | 2026-03-01 10:15:01 UTC |",
        ] {
            pos(row);
        }

        // Ranked, with evidence and supporting branches.
        let first = pos("1. **orders-db**: connection_pool_exhaustion, 82% confidence");
        let second = pos("2. **checkout**: bad_deploy, 31% confidence");
        assert!(first < second);
        pos("   orders-db ran out of connections");
        pos("     - orders-db \\| connections at max␛\\]0;pwned␇ (`");
        pos("   - Supported by: metrics-first, dependency-walk");
        pos("   - Graded **correct** by alice");

        // Escaped: the pipe can't split a cell, no terminal control survives.
        pos("| p99 \\| 2.3s ␛\\[31mred␛\\[0m␇ |");
        assert!(!md.contains('\u{1b}'));
        assert!(!md.contains('\u{7}'));
        // What the sequences said stays visible, as text.
        assert!(md.contains("␛\\[31m") && md.contains("␛\\]0;pwned␇"), "{md}");

        // Timeline in time order, with the branch events in it.
        let tl = &md[pos("## Timeline")..pos("## What each branch did")];
        let times: Vec<&str> = tl
            .lines()
            .filter(|l| l.starts_with("| ") && l.as_bytes().get(4) == Some(&b':'))
            .map(|l| &l[2..10])
            .collect();
        assert!(times.len() >= 10, "{tl}");
        assert!(times.windows(2).all(|w| w[0] <= w[1]), "{times:?}");
        assert_eq!(times[0], "10:12:00");
        for needle in [
            "Alert CheckoutLatencyHigh started firing (page)",
            "Branch logs-first started: logs-first plan",
            "Branch dependency-walk started: forked (forked from logs-first)",
            "metrics-first proposed orders-db · connection_pool_exhaustion · 82%",
            "Guidance to logs-first from alice: look at orders-db",
            "Branch logs-first pruned: pruned by alice",
            "Investigation finished: done; top cause orders-db",
        ] {
            assert!(tl.contains(needle), "no {needle:?} in\n{tl}");
        }
        assert!(tl.contains("- 10:15:11 alice: ignore the CDN"), "{tl}");

        // What each branch did.
        pos("### 1. metrics-first: running");
        pos("### 2. logs-first: pruned");
        pos("| prometheus_query_range | query=histogram_quantile(0.99, rate(x\\[5m\\])) step=15s | ok | 120ms |");
        pos("| loki_query_range | query={service=\"checkout\"} | error | 3s | error: timeout |");
        pos("- orders-db · connection_pool_exhaustion · 82%: orders-db is at fault (evidence: orders-db");
        pos("- 10:15:");

        // Feedback: grade, rating, quoted comment with its heading defused, highlight fenced.
        pos("- graded **correct**, rated up on root cause orders-db · connection_pool_exhaustion");
        pos("  > spot on\n  > \\# not a heading\n");
        pos("- rated down on evidence “orders-db \\| connections at max␛\\]0;pwned␇”");
        pos("  Highlighted lines 2–3:\n\n  ````text\n  has ``` fences | and ␛[2J\n  ````\n");
        let _ = fx.logs;
    }

    #[test]
    fn a_running_investigation_without_causes_or_feedback() {
        let fx = fixture();
        let mut st = fx.state;
        st.root_causes.clear();
        st.status = InvestigationStatus::Running;
        st.finished_at = None;
        st.elapsed_ms = 0;
        let md = markdown(&st, &[]);
        assert!(md.contains("No root cause yet"), "{md}");
        assert!(md.contains("| Elapsed | still running |"), "{md}");
        assert!(!md.contains("## Feedback"));
    }

    #[test]
    fn the_report_names_the_sources_read_and_those_that_could_not_be() {
        let fx = fixture();
        let mut st = fx.state;
        let md = markdown(&st, &[]);
        assert!(
            !md.contains("| Sources |"),
            "no line without the field (older traces): {md}"
        );
        st.sources = SourcesRead {
            read: vec!["loki".into(), "prometheus".into()],
            unavailable: vec![
                Unavailable {
                    source: "kubernetes".into(),
                    cause: "no kubernetes source is configured".into(),
                },
                Unavailable {
                    source: "traces".into(),
                    cause: "http://jaeger:16686: HTTP 500 | \u{1b}[2J".into(),
                },
            ],
        };
        let md = markdown(&st, &[]);
        assert!(
            md.contains(
                "| Sources | read loki, prometheus; could not read kubernetes (no kubernetes source is configured), \
                 traces (http://jaeger:16686: HTTP 500 \\| ␛\\[2J) |"
            ),
            "{md}"
        );
        assert!(
            md.contains(
                "_Could not read kubernetes, traces: the causes below rest only on the sources that answered._"
            ),
            "{md}"
        );
    }

    #[test]
    fn control_and_markup_are_neutralised() {
        assert_eq!(clean("a\u{1b}[1;31mb\u{1b}[0m c"), "a␛[1;31mb␛[0m c");
        assert_eq!(
            clean("tab\tnl\ncr\rdel\u{7f}bs\u{8}c1\u{9b}2Jend"),
            "tab\tnl\ncr␍del␡bs␈c1\\x9b2Jend"
        );
        assert_eq!(
            inline("a | b\nc  \\ <x> *y* `z` [l](u)"),
            "a \\| b c \\\\ &lt;x> \\*y\\* \\`z\\` \\[l\\](u)"
        );
        assert_eq!(block_line("1. item"), "\\1. item");
        assert_eq!(block_line("10 items"), "10 items");
        assert_eq!(truncate("abcdef", 4), "abc…");
        let mut out = String::new();
        fenced(&mut out, "plain", "");
        assert_eq!(out, "```text\nplain\n```\n");
    }
}
