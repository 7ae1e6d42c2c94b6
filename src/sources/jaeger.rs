//! Jaeger's query API (`/api/traces`): trace search and trace by id.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use super::http::{Http, backend_err, head};
use super::telemetry::{Span, TraceSummary};
use super::{Backend, BoxFuture, SourceError, ToolData, required_str, str_arg, time_arg};
use crate::model::Timestamp;

pub struct Jaeger {
    url: String,
    http: Http,
}

impl Jaeger {
    pub fn new(url: &str, http: Http) -> Jaeger {
        Jaeger {
            url: url.trim_end_matches('/').to_string(),
            http,
        }
    }
}

fn body_data(endpoint: &str, status: u16, body: &str) -> Result<Vec<Value>, SourceError> {
    if status != 200 {
        return Err(backend_err(endpoint, format!("HTTP {status}: {}", head(body))));
    }
    let v: Value = serde_json::from_str(body)
        .map_err(|e| backend_err(endpoint, format!("not a Jaeger answer ({e}): {}", head(body))))?;
    if let Some(errs) = v["errors"].as_array().filter(|e| !e.is_empty()) {
        return Err(backend_err(endpoint, format!("errors: {}", Value::Array(errs.clone()))));
    }
    v["data"]
        .as_array()
        .cloned()
        .ok_or_else(|| backend_err(endpoint, "no data list in the answer"))
}

/// One Jaeger trace as spans.
pub fn spans(trace: &Value) -> Vec<Span> {
    let procs: BTreeMap<&str, &str> = trace["processes"]
        .as_object()
        .map(|o| {
            o.iter()
                .map(|(k, p)| (k.as_str(), p["serviceName"].as_str().unwrap_or("")))
                .collect()
        })
        .unwrap_or_default();
    trace["spans"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|s| {
            let parent = s["references"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|r| r["refType"] == "CHILD_OF")
                .and_then(|r| r["spanID"].as_str())
                .map(str::to_string);
            let error = s["tags"].as_array().into_iter().flatten().any(|t| {
                t["key"] == "error" && (t["value"] == true || t["value"] == "true")
                    || t["key"] == "otel.status_code" && t["value"] == "ERROR"
            });
            Span {
                trace_id: s["traceID"]
                    .as_str()
                    .or(trace["traceID"].as_str())
                    .unwrap_or("")
                    .to_string(),
                span_id: s["spanID"].as_str().unwrap_or("").to_string(),
                parent_id: parent,
                service: procs
                    .get(s["processID"].as_str().unwrap_or(""))
                    .copied()
                    .unwrap_or("")
                    .to_string(),
                name: s["operationName"].as_str().unwrap_or("").to_string(),
                start: Timestamp(s["startTime"].as_i64().unwrap_or(0) * 1000),
                duration_ms: s["duration"].as_f64().unwrap_or(0.0) / 1000.0,
                error,
            }
        })
        .collect()
}

fn summary(trace: &Value) -> Option<TraceSummary> {
    let sp = spans(trace);
    let ids: BTreeSet<&str> = sp.iter().map(|s| s.span_id.as_str()).collect();
    let root = sp
        .iter()
        .find(|s| s.parent_id.as_deref().is_none_or(|p| !ids.contains(p)))?;
    let error_services: BTreeSet<String> = sp.iter().filter(|s| s.error).map(|s| s.service.clone()).collect();
    Some(TraceSummary {
        trace_id: root.trace_id.clone(),
        root_service: root.service.clone(),
        root_name: root.name.clone(),
        start: root.start,
        duration_ms: root.duration_ms,
        span_count: sp.len(),
        error_count: sp.iter().filter(|s| s.error).count(),
        error_services: error_services.into_iter().collect(),
    })
}

impl Backend for Jaeger {
    fn call<'a>(&'a self, tool: &'a str, args: &'a Value) -> BoxFuture<'a, Result<ToolData, SourceError>> {
        Box::pin(async move {
            match tool {
                "traces_search" => {
                    let service = str_arg(args, "service").ok_or_else(|| {
                        SourceError::BadArgs("service: Jaeger searches within one service; name it".into())
                    })?;
                    let end = time_arg(args, "end")?.unwrap_or_else(Timestamp::now);
                    let start = time_arg(args, "start")?.unwrap_or(Timestamp(end.0 - 3_600_000_000_000));
                    let limit = args.get("limit").and_then(Value::as_u64).unwrap_or(20).min(1000);
                    let mut params = vec![
                        ("service", service.to_string()),
                        ("start", (start.0 / 1000).to_string()),
                        ("end", (end.0 / 1000).to_string()),
                        ("limit", limit.to_string()),
                    ];
                    if let Some(ms) = args.get("min_duration_ms").and_then(Value::as_f64) {
                        params.push(("minDuration", format!("{}ms", ms.round() as i64)));
                    }
                    let want_error = args.get("error").and_then(Value::as_bool);
                    if want_error == Some(true) {
                        params.push(("tags", json!({"error": "true"}).to_string()));
                    }
                    let endpoint = format!("{}/api/traces", self.url);
                    let (status, body) = self.http.get(&endpoint, &params, |r| r).await?;
                    let data = body_data(&endpoint, status, &body)?;
                    let mut out: Vec<TraceSummary> = data.iter().filter_map(summary).collect();
                    if want_error == Some(false) {
                        out.retain(|t| t.error_count == 0);
                    }
                    Ok(ToolData::TraceList(out))
                }
                "trace_get" => {
                    let id = required_str(args, "trace_id")?;
                    if !id.chars().all(|c| c.is_ascii_hexdigit()) || id.is_empty() || id.len() > 32 {
                        return Err(SourceError::BadArgs(format!("trace_id: {id:?} is not a hex trace id")));
                    }
                    let endpoint = format!("{}/api/traces/{id}", self.url);
                    let (status, body) = self.http.get(&endpoint, &[], |r| r).await?;
                    let data = body_data(&endpoint, status, &body)?;
                    let trace = data
                        .first()
                        .ok_or_else(|| backend_err(&endpoint, format!("trace {id} not found")))?;
                    Ok(ToolData::Trace(spans(trace)))
                }
                other => Err(SourceError::UnknownTool(other.to_string())),
            }
        })
    }

    fn describe(&self) -> String {
        format!("jaeger:{}", self.url)
    }

    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}
