//! The detail view: everything about one node, full height, wrapped and
//! scrolled: a root cause's whole statement, the evidence it rests on, the
//! branches that proposed it, the guidance that names it, its feedback; a
//! call's arguments and answer; a thought, hypothesis or evidence whole.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};

use super::{View, clip};
use crate::model::{CallStatus, Feedback, InvestigationState, Rating, RootCause, SpanId, Step};
use crate::tools::render::call_line;
use crate::tools::sanitize::clean;
use crate::tui::app::{App, Mode, Target};
use crate::tui::theme::Role;

/// Lines of evidence shown under each item of a cause's evidence chain.
const EVIDENCE_PREVIEW: usize = 6;

/// One logical line before wrapping: its text, role and indent.
struct Row(String, Role, usize);

impl View {
    pub(super) fn detail(&self, f: &mut Frame, area: Rect, app: &mut App) {
        let t = &self.theme;
        let Mode::Detail { target, scroll } = &mut app.mode else {
            return;
        };
        let target = target.clone();
        let (title, rows, links) = match &app.state {
            Some(s) => content(s, &app.feedback, &target),
            None => (String::new(), vec![], vec![]),
        };
        let pick = app.detail_pick.filter(|i| *i < links.len());
        let picked_row = pick.map(|i| links[i].0);
        app.detail_links = links.into_iter().map(|(_, t)| t).collect();
        f.render_widget(Clear, area);
        let block = self.block(clip(&format!(" {title} "), area.width.saturating_sub(4) as usize), true);
        let inner = block.inner(area);
        f.render_widget(block, area);
        let w = (inner.width as usize).max(8);
        let mut lines: Vec<Line<'static>> = Vec::new();
        let mut picked_line = None;
        for (i, Row(text, role, indent)) in rows.into_iter().enumerate() {
            let style = t.style(role);
            let style = if role == Role::PaneTitle {
                style.add_modifier(Modifier::BOLD)
            } else if picked_row == Some(i) {
                picked_line = Some(lines.len());
                style.add_modifier(Modifier::REVERSED)
            } else {
                style
            };
            for piece in wrap(&text, w.saturating_sub(indent).max(4)) {
                lines.push(Line::from(vec![
                    Span::raw(" ".repeat(indent)),
                    Span::styled(piece, style),
                ]));
            }
        }
        let h = inner.height as usize;
        let max = lines.len().saturating_sub(h);
        // A picked link is kept in sight.
        if let Some(at) = picked_line
            && (at < *scroll || at >= *scroll + h)
        {
            *scroll = at.saturating_sub(h / 3);
        }
        *scroll = (*scroll).min(max);
        let shown: Vec<Line> = lines.into_iter().skip(*scroll).take(h).collect();
        f.render_widget(Paragraph::new(shown), inner);
    }
}

/// A row that opens another node's detail, and that node.
type Link = (usize, Target);

/// The title, the rows about `target`, and the rows that link further.
fn content(s: &InvestigationState, feedback: &[Feedback], target: &Target) -> (String, Vec<Row>, Vec<Link>) {
    let mut rows = Vec::new();
    let mut links = Vec::new();
    let title;
    let cause = s
        .root_causes
        .iter()
        .enumerate()
        .find(|(_, rc)| rc.hypotheses.contains(&target.span));
    if let (Some((i, rc)), "root_cause") = (cause, target.kind.as_str()) {
        title = format!(
            "Root cause {} of {}: {} · {}",
            i + 1,
            s.root_causes.len(),
            clean(&rc.service),
            rc.kind.as_str()
        );
        root_cause(s, rc, &mut rows, &mut links);
    } else if let Some(ev) = s.evidence.get(&target.span) {
        title = format!("Evidence: {}", clean(&ev.evidence.summary));
        rows.push(Row(clean(&ev.evidence.summary), Role::PaneTitle, 0));
        for l in clean(&ev.evidence.body).lines() {
            rows.push(Row(l.to_string(), Role::EvidenceText, 0));
        }
    } else if let Some(b) = s.branch(target.span) {
        title = format!("Branch {}", clean(&b.strategy));
        rows.push(Row(
            format!("{} · {} · {} calls", clean(&b.title), b.status.as_str(), b.tool_calls),
            Role::PaneTitle,
            0,
        ));
        if let Some(a) = &b.allotment {
            rows.push(Row(clean(&a.reason), Role::StreamGuidance, 2));
        }
        rows.push(Row("Hypotheses".into(), Role::PaneTitle, 0));
        for (_, h) in &b.hypotheses {
            rows.push(Row(
                format!(
                    "{:.2} {} · {} — {}",
                    h.confidence,
                    clean(&h.service),
                    h.kind.as_str(),
                    clean(&h.statement)
                ),
                Role::StreamHypothesis,
                2,
            ));
        }
    } else if let Some((branch, step)) = find_step(s, target.span) {
        title = format!("{} in {}", target.kind.replace('_', " "), clean(branch));
        step_rows(s, step, &mut rows);
    } else {
        title = clean(&target.label);
        rows.push(Row("Nothing more is known of this node.".into(), Role::StreamArgs, 0));
    }
    feedback_rows(feedback, target.span, &mut rows);
    (title, rows, links)
}

fn root_cause(s: &InvestigationState, rc: &RootCause, rows: &mut Vec<Row>, links: &mut Vec<Link>) {
    rows.push(Row(
        format!("confidence {:.2}", rc.confidence),
        Role::CausesConfidence,
        0,
    ));
    if let Some(e) = rc.evidence_confidence {
        let moved = if rc.confidence > e { "raised" } else { "lowered" };
        rows.push(Row(
            format!("guidance {moved} it: the evidence alone gives {e:.2}"),
            Role::StreamGuidance,
            0,
        ));
        if super::causes::disagrees(rc) {
            rows.push(Row(
                format!(
                    "evidence disagrees: {} rests on {} pieces of evidence from {} branches, which alone rank it at {e:.2}; \
                     the guidance below pushed it to {:.2}. Grade it, or guide again, if the guidance was wrong.",
                    clean(&rc.service),
                    rc.evidence.len(),
                    rc.branches.len(),
                    rc.confidence
                ),
                Role::StatusWarning,
                0,
            ));
        }
    }
    rows.push(Row(clean(&rc.statement), Role::StreamHypothesis, 0));
    rows.push(Row(String::new(), Role::PaneTitle, 0));
    rows.push(Row("Proposed by".into(), Role::PaneTitle, 0));
    for (strategy, h) in crate::tui::app::proposals(s, rc) {
        rows.push(Row(
            format!("{} {:.2} — {}", clean(strategy), h.confidence, clean(&h.statement)),
            Role::StreamThought,
            2,
        ));
    }
    rows.push(Row(String::new(), Role::PaneTitle, 0));
    rows.push(Row("Evidence it rests on".into(), Role::PaneTitle, 0));
    // In the order the most confident hypotheses cite it, then the rest.
    let mut chain: Vec<SpanId> = Vec::new();
    let cited = crate::tui::app::proposals(s, rc);
    let mut rest = rc.evidence.clone();
    rest.sort();
    for span in cited.iter().flat_map(|(_, h)| h.evidence.iter()).chain(rest.iter()) {
        if !chain.contains(span) && s.evidence.contains_key(span) {
            chain.push(*span);
        }
    }
    for (n, span) in chain.iter().enumerate() {
        let Some(ev) = s.evidence.get(span) else { continue };
        let from = ev.branch.and_then(|b| s.branch(b)).map(|b| clean(&b.strategy));
        links.push((
            rows.len(),
            Target {
                span: *span,
                kind: "evidence".into(),
                label: clean(&ev.evidence.summary),
            },
        ));
        rows.push(Row(
            format!(
                "{}. {}{}",
                n + 1,
                clean(&ev.evidence.summary),
                from.map(|f| format!("  ({f})")).unwrap_or_default()
            ),
            Role::StreamOk,
            2,
        ));
        if let Some(call) = ev.tool_call.and_then(|c| find_step(s, c)).and_then(|(_, st)| match st {
            Step::ToolCall { tool, args, .. } => Some(call_line(tool, args)),
            _ => None,
        }) {
            rows.push(Row(call, Role::StreamArgs, 5));
        }
        // Only what the preview shows is read: log bodies run to thousands of lines.
        let body = match ev.evidence.kind {
            crate::model::EvidenceKind::LogLines => clean(
                &ev.evidence
                    .body
                    .lines()
                    .take(EVIDENCE_PREVIEW)
                    .collect::<Vec<_>>()
                    .join("\n"),
            ),
            _ => clean(&ev.evidence.body),
        };
        let preview: Vec<String> = match crate::tui::readable::readable(ev.evidence.kind, &body, s.now) {
            Some(r) => r
                .iter()
                .take(EVIDENCE_PREVIEW)
                .map(crate::tui::readable::text)
                .collect(),
            None => body.lines().take(EVIDENCE_PREVIEW).map(str::to_string).collect(),
        };
        for l in preview {
            rows.push(Row(l, Role::EvidenceText, 5));
        }
    }
    let named: Vec<String> = guidance(s)
        .into_iter()
        .filter(|(text, _)| text.to_lowercase().contains(&rc.service.to_lowercase()))
        .map(|(text, author)| format!("\"{}\" — {}", clean(&text), clean(&author)))
        .collect();
    rows.push(Row(String::new(), Role::PaneTitle, 0));
    rows.push(Row("Guidance that names it".into(), Role::PaneTitle, 0));
    if named.is_empty() {
        rows.push(Row("none: its rank is the evidence's".into(), Role::StreamArgs, 2));
    }
    for g in named {
        rows.push(Row(g, Role::StreamGuidance, 2));
    }
}

/// Every guidance text given, with its author.
fn guidance(s: &InvestigationState) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let steps = s
        .guidance_steps
        .iter()
        .chain(s.branches.iter().flat_map(|b| b.steps.iter()));
    for st in steps {
        if let Step::Guidance { text, author, .. } = st
            && !out.iter().any(|(t, _)| t == text)
        {
            out.push((text.clone(), author.clone()));
        }
    }
    out
}

fn step_rows(s: &InvestigationState, step: &Step, rows: &mut Vec<Row>) {
    match step {
        Step::Thought { text, .. } => rows.push(Row(clean(text), Role::StreamThought, 0)),
        Step::Guidance { text, author, .. } => rows.push(Row(
            format!("{}: {}", clean(author), clean(text)),
            Role::StreamGuidance,
            0,
        )),
        Step::Status { status, reason, .. } => rows.push(Row(
            format!(
                "{}{}",
                status.as_str(),
                reason.as_deref().map(|r| format!(": {}", clean(r))).unwrap_or_default()
            ),
            Role::StreamArgs,
            0,
        )),
        Step::Hypothesis { hypothesis: h, .. } => {
            rows.push(Row(
                format!("{} · {} · {:.2}", clean(&h.service), h.kind.as_str(), h.confidence),
                Role::PaneTitle,
                0,
            ));
            rows.push(Row(clean(&h.statement), Role::StreamHypothesis, 0));
            rows.push(Row("Evidence it rests on".into(), Role::PaneTitle, 0));
            for span in &h.evidence {
                if let Some(ev) = s.evidence.get(span) {
                    rows.push(Row(clean(&ev.evidence.summary), Role::StreamOk, 2));
                }
            }
        }
        Step::ToolCall {
            tool,
            args,
            status,
            duration_ms,
            summary,
            evidence,
            error,
            ..
        } => {
            rows.push(Row(call_line(tool, args), Role::StreamTool, 0));
            let pretty = serde_json::to_string_pretty(args).unwrap_or_default();
            for l in clean(&pretty).lines() {
                rows.push(Row(l.to_string(), Role::StreamArgs, 2));
            }
            let word = |st: &CallStatus| match st {
                CallStatus::Ok => "answered",
                CallStatus::Error => "failed",
                CallStatus::Refused => "refused",
            };
            let outcome = match (status, duration_ms) {
                (Some(st), Some(ms)) => format!("{} in {ms} ms", word(st)),
                (Some(st), None) => word(st).to_string(),
                _ => "waiting for the answer".into(),
            };
            rows.push(Row(outcome, Role::StreamOk, 0));
            if let Some(e) = error {
                rows.push(Row(format!("✗ {}", clean(e)), Role::StreamError, 0));
            }
            if let Some(sm) = summary {
                rows.push(Row(clean(sm), Role::StreamOk, 0));
            }
            if let Some(ev) = evidence.and_then(|e| s.evidence.get(&e)) {
                rows.push(Row(String::new(), Role::PaneTitle, 0));
                for l in clean(&ev.evidence.body).lines() {
                    rows.push(Row(l.to_string(), Role::EvidenceText, 0));
                }
            }
        }
    }
}

fn feedback_rows(feedback: &[Feedback], span: SpanId, rows: &mut Vec<Row>) {
    let on: Vec<&Feedback> = feedback
        .iter()
        .filter(|f| f.span_id == span || f.spans.contains(&span))
        .collect();
    // One thread: each record, then the comments that refine it, indented under it.
    let roots = on
        .iter()
        .filter(|f| f.parent.as_ref().is_none_or(|p| !on.iter().any(|x| &x.id == p)));
    let mut mine: Vec<(&Feedback, usize)> = Vec::new();
    for r in roots {
        mine.push((r, 2));
        for c in on.iter().filter(|c| c.parent.as_ref() == Some(&r.id)) {
            mine.push((c, 4));
        }
    }
    rows.push(Row(String::new(), Role::PaneTitle, 0));
    rows.push(Row("Feedback".into(), Role::PaneTitle, 0));
    if mine.is_empty() {
        rows.push(Row(
            "none yet: + - rate, c comment (y m n grade a cause)".into(),
            Role::StreamArgs,
            2,
        ));
    }
    for (f, indent) in mine {
        let what = match (&f.grade, &f.rating) {
            (Some(g), _) => format!("◆ graded {}", g.name()),
            (_, Some(Rating::Up)) => "▲ rated up".into(),
            (_, Some(Rating::Down)) => "▼ rated down".into(),
            _ if indent > 2 => "↳ ✎".into(),
            _ => "✎".into(),
        };
        let mut text = format!("{what} by {} at {}", clean(&f.author), f.at.clock());
        if let Some(c) = &f.comment {
            text.push_str(&format!(": {}", clean(c)));
        }
        rows.push(Row(text, Role::TreeFeedback, indent));
        if let Some(h) = &f.highlight {
            rows.push(Row(
                format!("lines {}-{}: {}", h.start_line, h.end_line, clean(&h.quote)),
                Role::EvidenceHighlight,
                indent + 2,
            ));
        }
    }
}

/// The step with `span` in any branch, with its branch's strategy.
fn find_step(s: &InvestigationState, span: SpanId) -> Option<(&str, &Step)> {
    s.branches
        .iter()
        .find_map(|b| {
            b.steps
                .iter()
                .find(|st| st.span() == span)
                .map(|st| (b.strategy.as_str(), st))
        })
        .or_else(|| {
            s.guidance_steps
                .iter()
                .find(|st| st.span() == span)
                .map(|st| ("the investigation", st))
        })
}

/// `text` broken into rows of at most `w` characters, at spaces where it can.
pub(super) fn wrap(text: &str, w: usize) -> Vec<String> {
    let mut out = Vec::new();
    for para in text.split('\n') {
        let mut row = String::new();
        let mut n = 0;
        for word in para.split(' ') {
            let len = word.chars().count();
            if n > 0 && n + 1 + len > w {
                out.push(std::mem::take(&mut row));
                n = 0;
            }
            if n > 0 {
                row.push(' ');
                n += 1;
            }
            // A word longer than the row is cut.
            let mut chars: Vec<char> = word.chars().collect();
            while n + chars.len() > w {
                let take = w - n;
                row.extend(chars.drain(..take));
                out.push(std::mem::take(&mut row));
                n = 0;
            }
            n += chars.len();
            row.extend(chars);
        }
        out.push(row);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::wrap;

    #[test]
    fn wrap_breaks_at_spaces_and_cuts_long_words() {
        assert_eq!(wrap("aa bb cc", 5), vec!["aa bb", "cc"]);
        assert_eq!(wrap("abcdefgh", 3), vec!["abc", "def", "gh"]);
        assert_eq!(wrap("a\nb", 10), vec!["a", "b"]);
    }
}
