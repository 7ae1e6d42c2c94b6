//! The evidence of the selected tool call: highlighted, with metric series as sparklines.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use super::{View, clip, fit};
use crate::model::EvidenceKind;
use crate::reason::builtin::stats::change_point;
use crate::tools::sanitize::clean;
use crate::tui::app::{App, Focus, Mode, StreamLine};
use crate::tui::theme::Theme;

const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

impl View {
    pub(super) fn evidence(&mut self, f: &mut Frame, area: Rect, app: &mut App, lines: &[StreamLine]) {
        let focused = app.focus == Focus::Evidence && matches!(app.mode, Mode::Normal);
        let span = app.evidence_span_in(lines);
        let ev = span.and_then(|s| {
            app.state
                .as_ref()
                .and_then(|st| st.evidence.get(&s))
                .map(|e| (s, &e.evidence))
        });
        let title = match &ev {
            Some((_, e)) => format!(" Evidence: {} ", clean(&e.summary)),
            None => " Evidence ".into(),
        };
        let block = self.block(clip(&title, area.width.saturating_sub(4) as usize), focused);
        let inner = block.inner(area);
        f.render_widget(block, area);
        let Some((span, e)) = ev else { return };
        let t = self.theme.clone();
        let mut head: Vec<Line<'static>> = Vec::new();
        if e.kind == EvidenceKind::MetricSeries {
            let key = (span, inner.width);
            if self.sparks.as_ref().is_none_or(|s| s.0 != key) {
                self.sparks = Some((key, sparklines(&e.body, inner.width as usize, &t, 3)));
            }
            head = self.sparks.as_ref().map(|s| s.1.clone()).unwrap_or_default();
        }
        let lines = self.highlighter.lines(span, &e.syntax, &e.body, &t);
        let h = (inner.height as usize).saturating_sub(head.len());
        if !lines.is_empty() {
            app.evidence.line = app.evidence.line.min(lines.len() - 1);
        }
        app.evidence.follow(h);
        let sel = app.evidence.selection();
        let mut out = head;
        for (n, l) in lines.iter().enumerate().skip(app.evidence.scroll).take(h) {
            let mut line = l.clone();
            if sel.is_some_and(|(a, b)| n >= a && n <= b) {
                line = line.patch_style(t.style("evidence.highlight"));
            }
            if focused && n == app.evidence.line {
                line = line.patch_style(t.style("stream.cursor"));
            }
            out.push(line);
        }
        f.render_widget(Paragraph::new(out), inner);
    }
}

/// One line per series (up to `max`): its labels and a sparkline with the onset marked.
fn sparklines(body: &str, width: usize, t: &Theme, max: usize) -> Vec<Line<'static>> {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(body) else {
        return vec![];
    };
    let Some(result) = v.get("result").and_then(|r| r.as_array()) else {
        return vec![];
    };
    let mut out = Vec::new();
    for s in result.iter().take(max) {
        let labels = s["metric"]
            .as_object()
            .map(|m| {
                m.iter()
                    .filter(|(k, _)| *k != "__name__")
                    .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                    .collect::<Vec<_>>()
                    .join(",")
            })
            .unwrap_or_default();
        let xs: Vec<f64> = s["values"]
            .as_array()
            .map(|vals| {
                vals.iter()
                    .filter_map(|p| p.get(1).and_then(|x| x.as_str()).and_then(|x| x.parse::<f64>().ok()))
                    .collect()
            })
            .unwrap_or_default();
        if xs.is_empty() {
            continue;
        }
        let label_w = (width / 3).clamp(8, 40);
        let spark_w = width.saturating_sub(label_w + 2).max(4);
        // Down-sample to the width, keeping each bucket's maximum.
        let buckets: Vec<f64> = (0..spark_w.min(xs.len()))
            .map(|i| {
                let a = i * xs.len() / spark_w.min(xs.len());
                let b = ((i + 1) * xs.len() / spark_w.min(xs.len())).max(a + 1);
                xs[a..b].iter().copied().fold(f64::MIN, f64::max)
            })
            .collect();
        let lo = buckets.iter().copied().fold(f64::MAX, f64::min);
        let hi = buckets.iter().copied().fold(f64::MIN, f64::max);
        let onset = change_point(
            &buckets,
            (buckets.len() / 4).max(3),
            2,
            5.0,
            (hi - lo).abs() * 0.02 + 1e-9,
        );
        let mut spans = vec![Span::styled(
            fit(&clean(&labels), label_w) + "  ",
            t.style("evidence.text"),
        )];
        for (i, x) in buckets.iter().enumerate() {
            let level = if hi > lo {
                ((x - lo) / (hi - lo) * 7.0).round() as usize
            } else {
                0
            };
            let c = BARS[level.min(7)].to_string();
            let style = if Some(i) == onset {
                t.style("evidence.onset")
            } else {
                t.style("evidence.sparkline")
            };
            spans.push(Span::styled(c, style));
        }
        out.push(Line::from(spans));
    }
    if !out.is_empty() {
        out.push(Line::styled("", Style::default()));
    }
    out
}
