//! The evidence of the selected tool call: highlighted, with metric series as sparklines.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::{View, clip, fit};
use crate::model::{CallStatus, EvidenceKind, Step};
use crate::tools::render::{SeriesView, call_line, metric_series};
use crate::tools::sanitize::clean;
use crate::tui::app::{App, Focus, LineKind, Mode, StreamLine};
use crate::tui::theme::Role;
use crate::tui::theme::Theme;

const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

impl View {
    pub(super) fn evidence(&mut self, f: &mut Frame, area: Rect, app: &mut App, lines: &[StreamLine]) {
        let focused = app.focus == Focus::Evidence && matches!(app.mode, Mode::Normal);
        let t = self.theme.clone();
        let span = app.evidence_span_in(lines);
        let ev = span.and_then(|s| {
            app.state
                .as_ref()
                .and_then(|st| st.evidence.get(&s))
                .map(|e| (s, &e.evidence))
        });
        let cursor = lines.get(app.stream.line.min(lines.len().saturating_sub(1)));
        let steps: &[Step] = app.selected_branch().map(|b| b.steps.as_slice()).unwrap_or(&[]);
        // A failed call at the cursor: the call and its error, whole.
        let failed = cursor.and_then(|l| {
            steps.iter().find_map(|s| match s {
                Step::ToolCall {
                    span,
                    tool,
                    args,
                    status: Some(st),
                    error,
                    ..
                } if *span == l.target.span && *st != CallStatus::Ok => {
                    Some((call_line(tool, args), clean(error.as_deref().unwrap_or("refused"))))
                }
                _ => None,
            })
        });
        // A thought, hypothesis or guidance the engineer is reading in the stream: its whole text.
        let reading = cursor
            .filter(|l| {
                app.focus == Focus::Stream
                    && matches!(l.kind, LineKind::Thought | LineKind::Hypothesis | LineKind::Guidance)
            })
            .map(|l| {
                let text: Vec<&str> = lines
                    .iter()
                    .filter(|x| x.target.span == l.target.span)
                    .map(|x| x.text.as_str())
                    .collect();
                let role = match l.kind {
                    LineKind::Hypothesis => Role::StreamHypothesis,
                    LineKind::Guidance => Role::StreamGuidance,
                    _ => Role::StreamThought,
                };
                (text.join(" "), role)
            });
        let title = match (&ev, &failed, &reading) {
            (_, Some(_), _) => " Call failed ".to_string(),
            (Some((_, e)), _, _) => format!(
                " Evidence: {}{} ",
                clean(&e.summary),
                super::stream::selected(app.evidence.selection())
            ),
            // What is read has no evidence of its own: say what it is, not "evidence".
            (None, None, Some((_, Role::StreamGuidance))) => " Guidance ".into(),
            (None, None, Some((_, Role::StreamHypothesis))) => " Hypothesis ".into(),
            (None, None, Some(_)) => " Thought ".into(),
            (None, None, None) => " Evidence ".into(),
        };
        let block = self.block(clip(&title, area.width.saturating_sub(4) as usize), focused);
        let inner = block.inner(area);
        f.render_widget(block, area);
        let w = (inner.width as usize).max(8);
        let room = (inner.height as usize / 2).max(1);
        let mut head: Vec<Line<'static>> = Vec::new();
        if let Some((text, role)) = &reading {
            head.extend(wrapped(text, w, room.min(4), t.style(*role)));
        }
        if let Some((call, error)) = &failed {
            head.extend(wrapped(call, w, 2, t.style(Role::StreamArgs)));
            head.extend(wrapped(
                &format!("✗ {error}"),
                w,
                room.saturating_sub(2).max(1),
                t.style(Role::StreamError),
            ));
            f.render_widget(Paragraph::new(head), inner);
            return;
        }
        let Some((span, e)) = ev else {
            f.render_widget(Paragraph::new(head), inner);
            return;
        };
        // The call that found it, whole (the stream clips it).
        let call = steps.iter().find_map(|s| match s {
            Step::ToolCall {
                tool,
                args,
                evidence: Some(ev),
                ..
            } if *ev == span => Some(call_line(tool, args)),
            _ => None,
        });
        if let Some(call) = call.filter(|_| inner.height >= 8) {
            let max = if reading.is_some() { 2 } else { 3 };
            head.extend(wrapped(&call, w, max, t.style(Role::StreamArgs)));
        }
        if e.kind == EvidenceKind::MetricSeries {
            let key = (span, inner.width);
            if self.sparks.as_ref().is_none_or(|s| s.0 != key) {
                self.sparks = Some((key, sparklines(&e.body, inner.width as usize, &t, 3)));
            }
            head.extend(self.sparks.as_ref().map(|s| s.1.clone()).unwrap_or_default());
        }
        let readable = self.readable_lines(app, span);
        let lines: &[Line<'static>] = match &readable {
            Some(l) => l,
            None => self.highlighter.lines(span, &e.syntax, &e.body, &t),
        };
        let h = (inner.height as usize).saturating_sub(head.len());
        if !lines.is_empty() {
            app.evidence.line = app.evidence.line.min(lines.len() - 1);
        }
        app.evidence.follow(h);
        let sel = app.evidence.selection();
        let mut out = head;
        let bottom = out.len() + h;
        for (n, l) in lines.iter().enumerate().skip(app.evidence.scroll) {
            if out.len() >= bottom {
                break;
            }
            let mut line = if app.evidence_wrap {
                l.clone()
            } else {
                shift(l, app.evidence_hscroll)
            };
            if let Some(p) = &app.search {
                line = super::mark_matches(line, p);
            }
            if sel.is_some_and(|(a, b)| n >= a && n <= b) {
                line = line.patch_style(t.style(Role::EvidenceHighlight));
            }
            if focused && n == app.evidence.line {
                line = line.patch_style(t.style(Role::StreamCursor));
            }
            if app.evidence_wrap {
                out.extend(wrap_line(line, w));
            } else {
                out.push(line);
            }
        }
        out.truncate(bottom);
        f.render_widget(Paragraph::new(out), inner);
    }
}

impl View {
    /// The readable form of the evidence `span` in colour, built once per evidence.
    fn readable_lines(&mut self, app: &App, span: crate::model::SpanId) -> Option<std::rc::Rc<Vec<Line<'static>>>> {
        match &self.readable {
            Some((key, lines)) if *key == (span, app.evidence_raw) => Some(lines.clone()),
            _ => app.readable_evidence(span).map(|rows| {
                let lines: std::rc::Rc<Vec<Line<'static>>> =
                    std::rc::Rc::new(rows.iter().map(|r| tones(r, &self.theme)).collect());
                self.readable = Some(((span, app.evidence_raw), lines.clone()));
                lines
            }),
        }
    }
}

/// A readable row in the theme's colours.
fn tones(row: &crate::tui::readable::Row, t: &Theme) -> Line<'static> {
    use crate::tui::readable::Tone;
    Line::from(
        row.iter()
            .map(|(text, tone)| {
                let role = match tone {
                    Tone::Time => Role::StreamTime,
                    Tone::Error => Role::EvidenceError,
                    Tone::Warn => Role::EvidenceWarn,
                    Tone::Info => Role::EvidenceKeyword,
                    Tone::Text => Role::EvidenceText,
                    Tone::Dim => Role::EvidenceComment,
                    Tone::Header => Role::PaneTitle,
                };
                Span::styled(text.clone(), t.style(role))
            })
            .collect::<Vec<_>>(),
    )
}

/// `line` without its first `n` characters (scrolled right).
fn shift(line: &Line<'static>, n: usize) -> Line<'static> {
    if n == 0 {
        return line.clone();
    }
    let mut skip = n;
    let mut spans = Vec::new();
    for s in &line.spans {
        let len = s.content.chars().count();
        if skip >= len {
            skip -= len;
            continue;
        }
        spans.push(Span::styled(s.content.chars().skip(skip).collect::<String>(), s.style));
        skip = 0;
    }
    Line::from(spans).style(line.style)
}

/// `line` cut into rows of `w` characters, its styles kept.
fn wrap_line(line: Line<'static>, w: usize) -> Vec<Line<'static>> {
    let mut rows: Vec<Line<'static>> = vec![Line::default().style(line.style)];
    let mut n = 0;
    for s in line.spans {
        let mut chars: Vec<char> = s.content.chars().collect();
        while !chars.is_empty() {
            if n == w {
                rows.push(Line::default().style(line.style));
                n = 0;
            }
            let take = (w - n).min(chars.len());
            let piece: String = chars.drain(..take).collect();
            n += take;
            if let Some(r) = rows.last_mut() {
                r.spans.push(Span::styled(piece, s.style));
            }
        }
    }
    rows
}

/// `text` cut into rows of `w` characters, at most `max` rows, the last ending in … when cut.
fn wrapped(text: &str, w: usize, max: usize, style: Style) -> Vec<Line<'static>> {
    let chars: Vec<char> = text.chars().collect();
    let mut rows: Vec<String> = chars.chunks(w.max(1)).take(max).map(|c| c.iter().collect()).collect();
    if chars.len() > max * w
        && let Some(last) = rows.last_mut()
    {
        *last = clip(&chars[(max - 1) * w..].iter().collect::<String>(), w);
    }
    rows.into_iter().map(|r| Line::styled(r, style)).collect()
}

/// One line per series (up to `max`, those that moved most first): its
/// labels, a sparkline with the onset marked, and the level before the onset
/// and the peak after it (or the range, where nothing changed).
fn sparklines(body: &str, width: usize, t: &Theme, max: usize) -> Vec<Line<'static>> {
    let label_w = (width / 3).clamp(8, 40);
    // The levels beside the sparkline, where there is room for them.
    let value_w = if width >= 48 { 18 } else { 0 };
    let spark_w = width.saturating_sub(label_w + 2 + value_w).max(4);
    let mut out: Vec<Line<'static>> = metric_series(body, spark_w)
        .into_iter()
        .take(max)
        .map(|s| sparkline(&s, label_w, value_w > 0, t))
        .collect();
    if !out.is_empty() {
        out.push(Line::styled("", Style::default()));
    }
    out
}

fn sparkline(s: &SeriesView, label_w: usize, levels: bool, t: &Theme) -> Line<'static> {
    let (lo, hi) = (s.lo, s.hi);
    let mut spans = vec![Span::styled(
        fit(&s.labels, label_w) + "  ",
        t.style(Role::EvidenceText),
    )];
    for (i, x) in s.values.iter().enumerate() {
        let level = if hi > lo {
            ((x - lo) / (hi - lo) * 7.0).round() as usize
        } else {
            0
        };
        let c = BARS[level.min(7)].to_string();
        let style = if Some(i) == s.onset {
            t.style(Role::EvidenceOnset)
        } else {
            t.style(Role::EvidenceSparkline)
        };
        spans.push(Span::styled(c, style));
    }
    if levels {
        let value = match s.change {
            Some((before, peak)) => format!("{} → {}", compact(before), compact(peak)),
            None if compact(lo) == compact(hi) => compact(lo),
            None => format!("{} – {}", compact(lo), compact(hi)),
        };
        spans.push(Span::styled(format!(" {value}"), t.style(Role::EvidenceText)));
    }
    Line::from(spans)
}

/// A value in at most 7 characters: 0.0067, 2.31, 1.4k, 3.2M.
fn compact(x: f64) -> String {
    let a = x.abs();
    if a == 0.0 {
        "0".into()
    } else if a >= 1e9 {
        format!("{:.1}G", x / 1e9)
    } else if a >= 1e6 {
        format!("{:.1}M", x / 1e6)
    } else if a >= 1e4 {
        format!("{:.1}k", x / 1e3)
    } else if a >= 100.0 {
        format!("{x:.0}")
    } else if a >= 1.0 {
        format!("{x:.2}")
    } else if a >= 0.001 {
        // Two significant digits.
        let decimals = (1 - a.log10().floor() as i32).max(0) as usize;
        format!("{x:.decimals$}")
    } else {
        format!("{x:.1e}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_compact() {
        assert_eq!(compact(0.0), "0");
        assert_eq!(compact(0.006_666), "0.0067");
        assert_eq!(compact(2.314), "2.31");
        assert_eq!(compact(512.4), "512");
        assert_eq!(compact(14_200.0), "14.2k");
        assert_eq!(compact(3_200_000.0), "3.2M");
        assert_eq!(compact(0.000_012), "1.2e-5");
    }

    #[test]
    fn the_series_that_moved_comes_first_with_its_levels() {
        let flat: Vec<String> = (0..40)
            .map(|i| format!("[{i},\"{}\"]", 1.0 + (i % 3) as f64 * 0.01))
            .collect();
        let step: Vec<String> = (0..40)
            .map(|i| format!("[{i},\"{}\"]", if i < 25 { 0.01 } else { 0.5 }))
            .collect();
        let body = format!(
            r#"{{"resultType":"matrix","result":[{{"metric":{{"service":"calm"}},"values":[{}]}},{{"metric":{{"service":"db"}},"values":[{}]}}]}}"#,
            flat.join(","),
            step.join(",")
        );
        let lines = sparklines(&body, 100, &Theme::builtin("default").unwrap(), 3);
        let text: Vec<String> = lines
            .iter()
            .map(|l| l.spans.iter().map(|s| s.content.as_ref()).collect())
            .collect();
        assert!(text[0].starts_with("service=db"), "{text:?}");
        assert!(text[0].ends_with("0.010 → 0.50"), "{text:?}");
        assert!(
            text[1].starts_with("service=calm") && text[1].ends_with("1.00 – 1.02"),
            "{text:?}"
        );
    }
}
