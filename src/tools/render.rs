//! Turns tool data into evidence: a one-line summary and a body in the wire
//! format an engineer would recognise (Prometheus JSON, log lines, Kubernetes JSON);
//! and evidence and calls back into what a reader is shown of them.

use serde_json::{Value, json};

use crate::model::{Evidence, EvidenceKind};
use crate::sources::ToolData;
use crate::sources::telemetry::{InstantResult, MetricSeries};
use crate::tools::sanitize::clean;
use crate::tools::stats::change_point;

/// Bodies longer than this are cut, with a note of how much was left out.
pub const MAX_BODY: usize = 256 * 1024;

fn fmt_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf".into() } else { "-Inf".into() }
    } else {
        let s = format!("{v}");
        s
    }
}

fn series_json(s: &MetricSeries, instant: bool) -> Value {
    let values: Vec<Value> = s
        .samples
        .iter()
        .map(|(t, v)| json!([*t as f64 / 1000.0, fmt_value(*v)]))
        .collect();
    if instant {
        json!({"metric": s.labels, "value": values.first().cloned().unwrap_or(Value::Null)})
    } else {
        json!({"metric": s.labels, "values": values})
    }
}

fn cut(mut body: String) -> String {
    if body.len() > MAX_BODY {
        let mut end = MAX_BODY;
        while !body.is_char_boundary(end) {
            end -= 1;
        }
        let dropped = body.len() - end;
        body.truncate(end);
        body.push_str(&format!("\n… {dropped} more bytes not shown"));
    }
    body
}

fn label_text(s: &MetricSeries) -> String {
    let inner: Vec<String> = s
        .labels
        .iter()
        .filter(|(k, _)| k.as_str() != "__name__")
        .map(|(k, v)| format!("{k}=\"{v}\""))
        .collect();
    format!("{}{{{}}}", s.name(), inner.join(","))
}

/// Evidence for a tool's result.
pub fn evidence(data: &ToolData) -> Evidence {
    match data {
        ToolData::Matrix(series) => {
            let lines: Vec<String> = series.iter().map(|s| series_json(s, false).to_string()).collect();
            let summary = match series.len() {
                0 => "no series".to_string(),
                1 if series[0].labels.is_empty() => "1 series".to_string(),
                1 => format!("1 series {}", label_text(&series[0])),
                n => format!("{n} series"),
            };
            Evidence {
                kind: EvidenceKind::MetricSeries,
                summary,
                syntax: "json".into(),
                body: cut(format!(
                    "{{\"resultType\":\"matrix\",\"result\":[\n{}\n]}}",
                    lines.join(",\n")
                )),
            }
        }
        ToolData::Instant(InstantResult::Vector(v)) => Evidence {
            kind: EvidenceKind::MetricSeries,
            summary: plural(v.len(), "sample", "samples"),
            syntax: "json".into(),
            body: cut(format!(
                "{{\"resultType\":\"vector\",\"result\":[\n{}\n]}}",
                v.iter()
                    .map(|s| series_json(s, true).to_string())
                    .collect::<Vec<_>>()
                    .join(",\n")
            )),
        },
        ToolData::Instant(InstantResult::Scalar((t, v))) => Evidence {
            kind: EvidenceKind::MetricSeries,
            summary: format!("scalar {}", fmt_value(*v)),
            syntax: "json".into(),
            body: json!({"resultType": "scalar", "result": [*t as f64 / 1000.0, fmt_value(*v)]}).to_string(),
        },
        ToolData::LabelSets(sets) => Evidence {
            kind: EvidenceKind::MetricSeries,
            summary: format!("{} series", sets.len()),
            syntax: "json".into(),
            body: cut(sets.iter().map(|s| json!(s).to_string()).collect::<Vec<_>>().join("\n")),
        },
        ToolData::Strings(v) => Evidence {
            kind: EvidenceKind::Text,
            summary: format!("{} values", v.len()),
            syntax: "text".into(),
            body: cut(v.join("\n")),
        },
        ToolData::Streams(streams) => {
            let mut lines: Vec<(crate::model::Timestamp, String)> = Vec::new();
            for s in streams {
                // The pod names its service; a stream without a pod is named by its service.
                let origin = ["pod", "service", "app", "job"]
                    .iter()
                    .find_map(|k| s.labels.get(*k).filter(|v| !v.is_empty()))
                    .map(String::as_str)
                    .unwrap_or("-");
                for (t, l) in &s.entries {
                    lines.push((*t, format!("{} {origin} | {l}", t.to_rfc3339())));
                }
            }
            lines.sort_by_key(|l| l.0);
            Evidence {
                kind: EvidenceKind::LogLines,
                summary: format!(
                    "{} in {}",
                    plural(lines.len(), "line", "lines"),
                    plural(streams.len(), "stream", "streams")
                ),
                syntax: "log".into(),
                body: cut(lines.into_iter().map(|l| l.1).collect::<Vec<_>>().join("\n")),
            }
        }
        ToolData::TraceList(list) => {
            let errors = list.iter().filter(|t| t.error_count > 0).count();
            Evidence {
                kind: EvidenceKind::Trace,
                summary: format!("{}, {errors} with errors", plural(list.len(), "trace", "traces")),
                syntax: "json".into(),
                body: cut(serde_json::to_string_pretty(list).unwrap_or_default()),
            }
        }
        ToolData::Trace(spans) => Evidence {
            kind: EvidenceKind::Trace,
            summary: format!(
                "{} spans, {} in error",
                spans.len(),
                spans.iter().filter(|s| s.error).count()
            ),
            syntax: "json".into(),
            body: cut(serde_json::to_string_pretty(spans).unwrap_or_default()),
        },
        ToolData::Kube(v) => {
            let items = v.get("items").and_then(Value::as_array).map(Vec::len).unwrap_or(0);
            let kind = v.get("kind").and_then(Value::as_str).unwrap_or("object");
            Evidence {
                kind: EvidenceKind::KubernetesObject,
                summary: format!("{kind}: {items} items"),
                syntax: "json".into(),
                body: cut(serde_json::to_string_pretty(v).unwrap_or_default()),
            }
        }
        ToolData::Changes(changes) => Evidence {
            kind: EvidenceKind::Changes,
            summary: format!("{} changes", changes.len()),
            syntax: "text".into(),
            body: cut(changes
                .iter()
                .map(|c| format!("{} {:<13} {:<24} {}", c.at.to_rfc3339(), c.kind, c.service, c.summary))
                .collect::<Vec<_>>()
                .join("\n")),
        },
        ToolData::Lines(lines) => Evidence {
            kind: EvidenceKind::LogLines,
            summary: format!("{} lines", lines.len()),
            syntax: "log".into(),
            body: cut(lines.join("\n")),
        },
    }
}

/// "1 line", "2 lines".
fn plural(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

/// A tool call as one line, escaped: the tool, then its arguments, the query first.
pub fn call_line(tool: &str, args: &Value) -> String {
    clean(&format!("{tool} {}", call_args(args)))
}

/// A tool call's arguments on one line, not escaped: what was asked first (the
/// query, the service, the trace) and the window and limits last.
pub fn call_args(args: &Value) -> String {
    let o = match args {
        Value::Object(o) => o,
        Value::Null => return String::new(),
        Value::String(s) => return s.clone(),
        other => return other.to_string(),
    };
    const LAST: [&str; 8] = [
        "start",
        "end",
        "time",
        "step",
        "since",
        "limit",
        "direction",
        "previous",
    ];
    let mut keys: Vec<&String> = o.keys().collect();
    keys.sort_by_key(|k| (LAST.iter().position(|l| l == k), k.as_str() != "query"));
    keys.iter()
        .map(|k| match o[k.as_str()].as_str() {
            Some(s) => format!("{k}={s}"),
            None => format!("{k}={}", o[k.as_str()]),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// One metric series of a range query, ready to draw in `points` columns.
#[derive(Clone, Debug, PartialEq)]
pub struct SeriesView {
    /// `k=v,k=v` without the metric's name, escaped.
    pub labels: String,
    /// The samples down-sampled to at most `points`, each the maximum of its bucket.
    pub values: Vec<f64>,
    pub lo: f64,
    pub hi: f64,
    /// Where the series changed, an index into `values`.
    pub onset: Option<usize>,
    /// The level before the onset and the peak (or trough) after it.
    pub change: Option<(f64, f64)>,
}

/// The series of a metric evidence body (a Prometheus matrix), those that
/// moved most first (the query's order otherwise), each down-sampled to
/// `points` and its onset found; none if the body is not a matrix.
pub fn metric_series(body: &str, points: usize) -> Vec<SeriesView> {
    let Ok(v) = serde_json::from_str::<Value>(body) else {
        return vec![];
    };
    let Some(result) = v.get("result").and_then(|r| r.as_array()) else {
        return vec![];
    };
    let mut series: Vec<(f64, SeriesView)> = result.iter().filter_map(|s| one_series(s, points)).collect();
    // Stable: equal scores keep the query's order.
    series.sort_by(|a, b| b.0.total_cmp(&a.0));
    series.into_iter().map(|s| s.1).collect()
}

/// One series and how much it moved (0 when it did not).
fn one_series(s: &Value, points: usize) -> Option<(f64, SeriesView)> {
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
                .filter(|x| x.is_finite())
                .collect()
        })
        .unwrap_or_default();
    if xs.is_empty() {
        return None;
    }
    // Down-sample, keeping each bucket's maximum.
    let n = points.max(1).min(xs.len());
    let buckets: Vec<f64> = (0..n)
        .map(|i| {
            let a = i * xs.len() / n;
            let b = ((i + 1) * xs.len() / n).max(a + 1);
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
    let (score, change) = match onset {
        Some(i) => {
            let before = buckets[..i].iter().sum::<f64>() / i as f64;
            let after = &buckets[i..];
            let peak = if after.iter().sum::<f64>() / after.len() as f64 >= before {
                after.iter().copied().fold(f64::MIN, f64::max)
            } else {
                after.iter().copied().fold(f64::MAX, f64::min)
            };
            let score = (peak - before).abs() / (before.abs().max((hi - lo).abs() * 1e-3) + 1e-12);
            (1.0 + score, Some((before, peak)))
        }
        None => (0.0, None),
    };
    let view = SeriesView {
        labels: clean(&labels),
        values: buckets,
        lo,
        hi,
        onset,
        change,
    };
    Some((score, view))
}
