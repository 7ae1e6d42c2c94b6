//! Grafana Tempo: `/api/search` (tags) and `/api/traces/<id>` (OTLP JSON,
//! base64 ids, `batches`).

use base64::Engine;
use serde_json::Value;

use super::http::{Http, backend_err, head};
use super::telemetry::{Span, TraceSummary};
use super::{Backend, BoxFuture, SourceError, ToolData, required_str, str_arg, time_arg};
use crate::model::Timestamp;

pub struct Tempo {
    url: String,
    http: Http,
}

impl Tempo {
    pub fn new(url: &str, http: Http) -> Tempo {
        Tempo {
            url: url.trim_end_matches('/').to_string(),
            http,
        }
    }
}

fn json(endpoint: &str, status: u16, body: &str) -> Result<Value, SourceError> {
    if status != 200 {
        return Err(backend_err(endpoint, format!("HTTP {status}: {}", head(body))));
    }
    serde_json::from_str(body).map_err(|e| backend_err(endpoint, format!("not a Tempo answer ({e}): {}", head(body))))
}

/// A base64 (or already hex) id as lowercase hex.
fn hex_id(v: &Value) -> String {
    let s = v.as_str().unwrap_or("");
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_hexdigit()) && (s.len() == 16 || s.len() == 32) {
        return s.to_ascii_lowercase();
    }
    base64::engine::general_purpose::STANDARD
        .decode(s)
        .map(|b| b.iter().map(|x| format!("{x:02x}")).collect())
        .unwrap_or_default()
}

fn nanos(v: &Value) -> i64 {
    v.as_str()
        .and_then(|s| s.parse().ok())
        .or_else(|| v.as_i64())
        .unwrap_or(0)
}

/// The spans of an OTLP JSON trace (`batches` or `resourceSpans`).
pub fn spans(trace: &Value) -> Vec<Span> {
    let mut out = Vec::new();
    let batches = trace["batches"].as_array().or(trace["resourceSpans"].as_array());
    for b in batches.into_iter().flatten() {
        let service = b["resource"]["attributes"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|a| a["key"] == "service.name")
            .and_then(|a| a["value"]["stringValue"].as_str())
            .unwrap_or("")
            .to_string();
        let scopes = b["scopeSpans"]
            .as_array()
            .or(b["instrumentationLibrarySpans"].as_array());
        for sc in scopes.into_iter().flatten() {
            for s in sc["spans"].as_array().into_iter().flatten() {
                let start = nanos(&s["startTimeUnixNano"]);
                let end = nanos(&s["endTimeUnixNano"]);
                let code = &s["status"]["code"];
                let parent = hex_id(&s["parentSpanId"]);
                out.push(Span {
                    trace_id: hex_id(&s["traceId"]),
                    span_id: hex_id(&s["spanId"]),
                    parent_id: (!parent.is_empty()).then_some(parent),
                    service: service.clone(),
                    name: s["name"].as_str().unwrap_or("").to_string(),
                    start: Timestamp(start),
                    duration_ms: (end - start).max(0) as f64 / 1e6,
                    error: code == 2 || code == "STATUS_CODE_ERROR",
                });
            }
        }
    }
    out
}

impl Backend for Tempo {
    fn call<'a>(&'a self, tool: &'a str, args: &'a Value) -> BoxFuture<'a, Result<ToolData, SourceError>> {
        Box::pin(async move {
            match tool {
                "traces_search" => {
                    let end = time_arg(args, "end")?.unwrap_or_else(Timestamp::now);
                    let start = time_arg(args, "start")?.unwrap_or(Timestamp(end.0 - 3_600_000_000_000));
                    let limit = args.get("limit").and_then(Value::as_u64).unwrap_or(20).min(1000);
                    let want_error = args.get("error").and_then(Value::as_bool);
                    let mut tags = Vec::new();
                    if let Some(s) = str_arg(args, "service") {
                        tags.push(format!("service.name={s}"));
                    }
                    if want_error == Some(true) {
                        tags.push("status=error".to_string());
                    }
                    let mut params = vec![
                        ("start", (start.0 / 1_000_000_000).to_string()),
                        ("end", (end.0 / 1_000_000_000 + 1).to_string()),
                        ("limit", limit.to_string()),
                    ];
                    if !tags.is_empty() {
                        params.push(("tags", tags.join(" ")));
                    }
                    if let Some(ms) = args.get("min_duration_ms").and_then(Value::as_f64) {
                        params.push(("minDuration", format!("{}ms", ms.round() as i64)));
                    }
                    let endpoint = format!("{}/api/search", self.url);
                    let (status, body) = self.http.get(&endpoint, &params, |r| r).await?;
                    let v = json(&endpoint, status, &body)?;
                    let list = v["traces"].as_array().cloned().unwrap_or_default();
                    Ok(ToolData::TraceList(
                        list.iter()
                            .map(|t| TraceSummary {
                                trace_id: hex_id(&t["traceID"]),
                                root_service: t["rootServiceName"].as_str().unwrap_or("").to_string(),
                                root_name: t["rootTraceName"].as_str().unwrap_or("").to_string(),
                                start: Timestamp(nanos(&t["startTimeUnixNano"])),
                                duration_ms: t["durationMs"].as_f64().unwrap_or(0.0),
                                span_count: t["spanSets"][0]["matched"].as_u64().unwrap_or(0) as usize,
                                // A search for errors only returns traces with an error in them.
                                error_count: usize::from(want_error == Some(true)),
                                error_services: Vec::new(),
                            })
                            .collect(),
                    ))
                }
                "trace_get" => {
                    let id = required_str(args, "trace_id")?;
                    if id.is_empty() || id.len() > 32 || !id.chars().all(|c| c.is_ascii_hexdigit()) {
                        return Err(SourceError::BadArgs(format!("trace_id: {id:?} is not a hex trace id")));
                    }
                    let endpoint = format!("{}/api/traces/{id}", self.url);
                    let (status, body) = self.http.get(&endpoint, &[], |r| r).await?;
                    let v = json(&endpoint, status, &body)?;
                    let sp = spans(&v);
                    if sp.is_empty() {
                        return Err(backend_err(&endpoint, format!("trace {id} has no spans")));
                    }
                    Ok(ToolData::Trace(sp))
                }
                other => Err(SourceError::UnknownTool(other.to_string())),
            }
        })
    }

    fn describe(&self) -> String {
        format!("tempo:{}", self.url)
    }

    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}
