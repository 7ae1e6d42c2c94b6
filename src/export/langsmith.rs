//! LangSmith: the investigation as runs (`POST /runs/batch`), each grade,
//! rating and comment as feedback on its run (`POST /feedback`).
//!
//! LangSmith run ids are UUIDs; inquest's are W3C span ids. The mapping is
//! fixed, so it needs no table: a run's id is its 16-hex span id followed by
//! the first 16 hex of the trace id, written as a UUID, and every run carries
//! the W3C ids in its metadata. Runs are built from the same spans the OTLP
//! export sends, so both backends see one tree.
//!
//! Keys come from the environment as LangSmith's SDKs read them:
//! `LANGSMITH_API_KEY` (or `LANGCHAIN_API_KEY`), `LANGSMITH_ENDPOINT`,
//! `LANGSMITH_PROJECT` (default `inquest`), `LANGSMITH_TENANT_ID` when a key
//! spans several workspaces.

use serde_json::{Map, Value, json};

use crate::model::{Feedback, Grade, Rating, SpanId, Timestamp, TraceId};
use crate::tools::redact::Redactor;

pub const DEFAULT_ENDPOINT: &str = "https://api.smith.langchain.com";

pub struct LangSmith {
    pub endpoint: String,
    api_key: String,
    tenant: Option<String>,
    pub project: String,
}

impl LangSmith {
    /// From the environment (`env` reads a variable); `endpoint` overrides LANGSMITH_ENDPOINT.
    pub fn from_env(endpoint: Option<&str>, env: impl Fn(&str) -> Option<String>) -> Result<LangSmith, String> {
        let get = |k: &str| env(k).filter(|v| !v.trim().is_empty());
        let api_key = get("LANGSMITH_API_KEY")
            .or_else(|| get("LANGCHAIN_API_KEY"))
            .ok_or("--langsmith: set LANGSMITH_API_KEY (LangSmith → settings → API keys) in the environment")?;
        let endpoint = endpoint
            .map(str::to_string)
            .or_else(|| get("LANGSMITH_ENDPOINT"))
            .unwrap_or_else(|| DEFAULT_ENDPOINT.into());
        super::http_url("LangSmith endpoint", &endpoint)?;
        Ok(LangSmith {
            endpoint: endpoint.trim_end_matches('/').to_string(),
            api_key,
            tenant: get("LANGSMITH_TENANT_ID"),
            project: get("LANGSMITH_PROJECT").unwrap_or_else(|| "inquest".into()),
        })
    }

    fn headers(&self) -> Vec<(&'static str, String)> {
        let mut h = vec![("x-api-key", self.api_key.clone())];
        if let Some(t) = &self.tenant {
            h.push(("x-tenant-id", t.clone()));
        }
        h
    }
}

/// The run id of a span: `span ‖ trace[..16]` as a UUID.
pub fn run_id(trace: &str, span: &str) -> String {
    // Ids are 16 and 32 hex; anything shorter is padded rather than trusted.
    let half = |s: &str| {
        format!(
            "{:0<16}",
            s.chars().filter(char::is_ascii_hexdigit).take(16).collect::<String>()
        )
    };
    uuid(&format!("{}{}", half(span), half(trace)))
}

/// 32 hex digits written as a UUID, 8-4-4-4-12.
fn uuid(hex: &str) -> String {
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}

fn time(ns: &Value) -> Timestamp {
    Timestamp(ns.as_str().and_then(|s| s.parse().ok()).unwrap_or(0))
}

/// `%Y%m%dT%H%M%S%fZ` (microseconds), the stamp a dotted order starts each segment with.
fn stamp(t: Timestamp) -> String {
    let s = t.to_rfc3339_nanos();
    // 2026-03-01T10:48:00.123456789Z
    format!(
        "{}{}{}T{}{}{}{}Z",
        &s[0..4],
        &s[5..7],
        &s[8..10],
        &s[11..13],
        &s[14..16],
        &s[17..19],
        &s[20..26]
    )
}

/// The body of `POST /runs/batch`: one run per span of the OTLP export.
pub fn runs(otlp: &Value, project: &str) -> Value {
    let spans: Vec<&Value> = super::otlp::spans(otlp).iter().collect();
    let by_id: std::collections::HashMap<&str, &Value> = spans
        .iter()
        .filter_map(|s| s["spanId"].as_str().map(|i| (i, *s)))
        .collect();
    let Some(root) = spans.iter().find(|s| s.get("parentSpanId").is_none()) else {
        return json!({"post": []});
    };
    let trace = root["traceId"].as_str().unwrap_or_default();
    let root_run = run_id(trace, root["spanId"].as_str().unwrap_or_default());
    // A span's dotted order is its parent's, then its own stamp and run id.
    let mut orders: std::collections::HashMap<String, String> = Default::default();
    fn order<'a>(
        id: &'a str,
        trace: &str,
        by_id: &std::collections::HashMap<&'a str, &'a Value>,
        orders: &mut std::collections::HashMap<String, String>,
        depth: usize,
    ) -> String {
        if let Some(o) = orders.get(id) {
            return o.clone();
        }
        let Some(s) = by_id.get(id) else { return String::new() };
        let own = format!("{}{}", stamp(time(&s["startTimeUnixNano"])), run_id(trace, id));
        let o = match s["parentSpanId"].as_str().filter(|_| depth < 64) {
            Some(p) if by_id.contains_key(p) => format!("{}.{own}", order(p, trace, by_id, orders, depth + 1)),
            _ => own,
        };
        orders.insert(id.to_string(), o.clone());
        o
    }
    let mut post = Vec::new();
    for s in &spans {
        let id = s["spanId"].as_str().unwrap_or_default();
        let name = s["name"].as_str().unwrap_or_default();
        let mut attrs = Map::new();
        for a in s["attributes"].as_array().into_iter().flatten() {
            let v = &a["value"];
            let v = v
                .get("stringValue")
                .or(v.get("doubleValue"))
                .or(v.get("boolValue"))
                .cloned()
                .or_else(|| {
                    v["intValue"]
                        .as_str()
                        .and_then(|i| i.parse::<i64>().ok())
                        .map(Value::from)
                })
                .unwrap_or(Value::Null);
            attrs.insert(a["key"].as_str().unwrap_or_default().to_string(), v);
        }
        let run_type = if name.starts_with("execute_tool") {
            "tool"
        } else {
            "chain"
        };
        let inputs = match attrs.get("gen_ai.tool.call.arguments").and_then(Value::as_str) {
            Some(args) => serde_json::from_str::<Value>(args).unwrap_or_else(|_| json!({"arguments": args})),
            None => Value::Object(attrs.clone()),
        };
        let error = (s["status"]["code"] == 2).then(|| s["status"]["message"].clone());
        let mut run = json!({
            "id": run_id(trace, id),
            "trace_id": root_run,
            "dotted_order": order(id, trace, &by_id, &mut orders, 0),
            "name": name,
            "run_type": run_type,
            "inputs": inputs,
            "outputs": if run_type == "tool" { Value::Object(attrs.clone()) } else { json!({}) },
            "start_time": time(&s["startTimeUnixNano"]).to_rfc3339_nanos(),
            "end_time": time(&s["endTimeUnixNano"]).to_rfc3339_nanos(),
            "session_name": project,
            "extra": {"metadata": {"w3c_trace_id": trace, "w3c_span_id": id}},
            "tags": ["inquest"],
        });
        if let Some(p) = s["parentSpanId"].as_str() {
            run["parent_run_id"] = json!(run_id(trace, p));
        }
        if let Some(e) = error {
            run["error"] = e;
        }
        post.push(run);
    }
    json!({"post": post})
}

/// One feedback record per piece of feedback, on the run of the span it judges.
pub fn feedback(trace: TraceId, items: &[Feedback]) -> Vec<Value> {
    let red = Redactor::new();
    let t = trace.to_string();
    let run_of = |span: SpanId| run_id(&t, &span.to_string());
    items
        .iter()
        .map(|f| {
            let (key, score, value) = match (f.grade, f.rating) {
                (Some(g), _) => {
                    let score = match g {
                        Grade::Correct => 1.0,
                        Grade::Partly => 0.5,
                        Grade::Wrong => 0.0,
                    };
                    ("root_cause_grade", json!(score), json!(g.name()))
                }
                (None, Some(r)) => (
                    "engineer_rating",
                    json!(if r == Rating::Up { 1 } else { 0 }),
                    Value::Null,
                ),
                (None, None) => ("engineer_comment", Value::Null, json!("comment")),
            };
            let comment = super::feedback_note(f, &red);
            // Stable ids: sending again is the same feedback, not more.
            let id_hex = format!(
                "{:016x}{:016x}",
                f.at.0 as u64,
                fnv(&format!("{}{}{key}", f.trace_id, f.span_id))
            );
            let mut v = json!({
                "id": uuid(&id_hex),
                "run_id": run_of(f.span_id),
                "key": key,
                "feedback_source": {"type": "api", "metadata": {
                    "author": red.redact(&f.author),
                    "target": f.target,
                    "feedback_id": f.id,
                    "parent": f.parent,
                }},
            });
            if !score.is_null() {
                v["score"] = score;
            }
            if !value.is_null() {
                v["value"] = value;
            }
            if !comment.is_empty() {
                v["comment"] = json!(comment);
            }
            v
        })
        .collect()
}

fn fnv(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Sends the runs, then the feedback; returns (runs, feedback) sent.
pub async fn send(
    ls: &LangSmith,
    runs: &Value,
    feedback: &[Value],
    timeout: std::time::Duration,
) -> Result<(usize, usize), String> {
    let poster = super::Poster::new(timeout)?;
    let headers = ls.headers();
    poster
        .post_json(&format!("{}/runs/batch", ls.endpoint), &headers, runs.to_string())
        .await?;
    for f in feedback {
        poster
            .post_json(&format!("{}/feedback", ls.endpoint), &headers, f.to_string())
            .await?;
    }
    Ok((runs["post"].as_array().map_or(0, Vec::len), feedback.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_stamps_and_keys() {
        assert_eq!(
            run_id("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"),
            "00f067aa-0ba9-02b7-4bf9-2f3577b34da6"
        );
        let t = Timestamp::parse_rfc3339("2026-03-01T10:48:00.123456789Z").unwrap();
        assert_eq!(stamp(t), "20260301T104800123456Z");
        let env = |k: &str| (k == "LANGCHAIN_API_KEY").then(|| "lsv2_x".to_string());
        let ls = LangSmith::from_env(None, env).unwrap();
        assert_eq!(ls.endpoint, DEFAULT_ENDPOINT);
        assert_eq!(ls.project, "inquest");
        assert!(
            LangSmith::from_env(None, |_| None)
                .err()
                .unwrap()
                .contains("LANGSMITH_API_KEY")
        );
    }
}
