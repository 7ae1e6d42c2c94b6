//! Grafana Loki, read through `/loki/api/v1/query_range`, `/labels` and `/label/<name>/values`.

use std::collections::BTreeMap;

use serde_json::Value;

use super::http::{Http, backend_err, head};
use super::telemetry::LogStream;
use super::{Backend, BoxFuture, SourceError, ToolData, required_str, str_arg, time_arg};
use crate::model::Timestamp;

pub struct Loki {
    url: String,
    http: Http,
    labels: super::labels::LabelMap,
}

impl Loki {
    pub fn new(url: &str, http: Http) -> Loki {
        Loki {
            url: url.trim_end_matches('/').to_string(),
            http,
            labels: Default::default(),
        }
    }

    /// inquest's label names → the stack's (`service` → `app`, say).
    pub fn with_labels(mut self, labels: super::labels::LabelMap) -> Loki {
        self.labels = labels;
        self
    }
}

impl Loki {
    /// Label names, or one label's values: `{"status":"success","data":[...]}`.
    async fn labels_call(&self, args: &Value) -> Result<ToolData, SourceError> {
        let (start, end) = window(args)?;
        let path = match str_arg(args, "label") {
            Some(l) => {
                let theirs = self.labels.0.get(l).map(String::as_str).unwrap_or(l);
                if theirs.is_empty()
                    || !theirs
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
                {
                    return Err(SourceError::BadArgs(format!("label: {l:?} is not a label name")));
                }
                format!("/loki/api/v1/label/{theirs}/values")
            }
            None => "/loki/api/v1/labels".to_string(),
        };
        let endpoint = format!("{}{path}", self.url);
        let params = [("start", start.0.to_string()), ("end", end.0.to_string())];
        let (status, body) = self.http.get(&endpoint, &params, |r| r).await?;
        let v = envelope(&endpoint, status, &body)?;
        let items: Vec<String> = v["data"]
            .as_array()
            .ok_or_else(|| backend_err(&endpoint, "data is not a list"))?
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect();
        Ok(ToolData::Strings(if str_arg(args, "label").is_some() {
            items
        } else {
            self.labels.back_names(items)
        }))
    }
}

/// A Loki answer's `{"status": "success", ...}` envelope, or the error it is.
fn envelope(endpoint: &str, status: u16, body: &str) -> Result<Value, SourceError> {
    if status != 200 {
        return Err(backend_err(endpoint, format!("HTTP {status}: {}", head(body))));
    }
    let v: Value = serde_json::from_str(body)
        .map_err(|e| backend_err(endpoint, format!("not a Loki answer ({e}): {}", head(body))))?;
    if v["status"] != "success" {
        return Err(backend_err(endpoint, format!("status {}: {}", v["status"], head(body))));
    }
    Ok(v)
}

/// The window a call asks for: `end` (default now) and `start` (default an hour before it).
fn window(args: &Value) -> Result<(Timestamp, Timestamp), SourceError> {
    let end = time_arg(args, "end")?.unwrap_or_else(Timestamp::now);
    let start = time_arg(args, "start")?.unwrap_or(Timestamp(end.0 - 3_600_000_000_000));
    Ok((start, end))
}

/// A Loki answer as log streams.
pub fn parse(endpoint: &str, status: u16, body: &str) -> Result<Vec<LogStream>, SourceError> {
    let v = envelope(endpoint, status, body)?;
    if v["data"]["resultType"] != "streams" {
        return Err(backend_err(
            endpoint,
            format!("expected streams, got {}", v["data"]["resultType"]),
        ));
    }
    let items = v["data"]["result"]
        .as_array()
        .ok_or_else(|| backend_err(endpoint, "data.result is not a list"))?;
    let mut out = Vec::new();
    for s in items {
        let labels: BTreeMap<String, String> = s["stream"]
            .as_object()
            .map(|o| {
                o.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                    .collect()
            })
            .unwrap_or_default();
        let mut entries = Vec::new();
        for e in s["values"].as_array().into_iter().flatten() {
            let ns = e[0].as_str().and_then(|t| t.parse::<i64>().ok());
            let line = e[1].as_str();
            match (ns, line) {
                (Some(ns), Some(line)) => entries.push((Timestamp(ns), line.to_string())),
                _ => {
                    return Err(backend_err(
                        endpoint,
                        format!("a value that is not [\"<ns>\", \"<line>\"]: {e}"),
                    ));
                }
            }
        }
        out.push(LogStream { labels, entries });
    }
    Ok(out)
}

impl Backend for Loki {
    fn call<'a>(&'a self, tool: &'a str, args: &'a Value) -> BoxFuture<'a, Result<ToolData, SourceError>> {
        Box::pin(async move {
            if tool == "loki_labels" {
                return self.labels_call(args).await;
            }
            if tool != "loki_query_range" {
                return Err(SourceError::UnknownTool(tool.to_string()));
            }
            let q = required_str(args, "query")?;
            let (start, end) = window(args)?;
            let limit = args.get("limit").and_then(Value::as_u64).unwrap_or(100).min(5000);
            let direction = str_arg(args, "direction").unwrap_or("backward");
            if direction != "backward" && direction != "forward" {
                return Err(SourceError::BadArgs(format!(
                    "direction: {direction:?} (backward or forward)"
                )));
            }
            let endpoint = format!("{}/loki/api/v1/query_range", self.url);
            let params = [
                ("query", self.labels.logql(q)),
                ("start", start.0.to_string()),
                // Loki's end is exclusive; the tool's is not.
                ("end", (end.0 + 1).to_string()),
                ("limit", limit.to_string()),
                ("direction", direction.to_string()),
            ];
            let (status, body) = self.http.get(&endpoint, &params, |r| r).await?;
            let mut streams = parse(&endpoint, status, &body)?;
            for s in &mut streams {
                self.labels.back(&mut s.labels);
            }
            Ok(ToolData::Streams(streams))
        })
    }

    fn describe(&self) -> String {
        format!("loki:{}", self.url)
    }

    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}
