//! Turns tool data into evidence: a one-line summary and a body in the wire
//! format an engineer would recognise (Prometheus JSON, log lines, Kubernetes JSON).

use serde_json::{Value, json};

use crate::model::{Evidence, EvidenceKind};
use crate::sources::ToolData;
use crate::sources::telemetry::{InstantResult, MetricSeries};

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
