//! The simulator answers tools as a real stack would: PromQL over its series,
//! LogQL over its logs, trace search, Kubernetes objects and the change timeline.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::{Simulator, kube, logql, promql};
use crate::model::Timestamp;
use crate::sources::telemetry::TraceSummary;
use crate::sources::{Backend, BoxFuture, SourceError, ToolData, required_str, str_arg, time_arg};

impl Simulator {
    fn range(&self, args: &Value, default_lookback_ms: i64) -> Result<(Timestamp, Timestamp), SourceError> {
        let end = time_arg(args, "end")?.unwrap_or(self.now).min(self.now);
        let start = time_arg(args, "start")?.unwrap_or(end + -(default_lookback_ms * 1_000_000));
        if start > end {
            return Err(SourceError::BadArgs("start is after end".into()));
        }
        Ok((start, end))
    }

    fn step_at(&self, t: Timestamp) -> usize {
        match &self.dynamics {
            Some(d) => d.step_at(t).unwrap_or(if t < d.start { 0 } else { d.n - 1 }),
            None => 0,
        }
    }

    fn answer(&self, tool: &str, args: &Value) -> Result<ToolData, SourceError> {
        match tool {
            "prometheus_query_range" => self.prom_query_range(args),
            "prometheus_query" => self.prom_query(args),
            "prometheus_series" => self.prom_series(args),
            "prometheus_label_values" => self.prom_label_values(args),
            "prometheus_labels" => self.prom_label_names(args),
            "loki_labels" => self.loki_labels(args),
            "loki_query_range" => self.loki_query(args),
            "traces_search" => self.traces_search(args),
            "trace_get" => self.trace_get(args),
            "k8s_list_pods"
            | "k8s_events"
            | "k8s_list_deployments"
            | "k8s_list_replicasets"
            | "k8s_list_statefulsets"
            | "k8s_list_jobs"
            | "k8s_list_pvcs" => self.kubernetes(tool, args),
            "k8s_pod_logs" => self.pod_logs(args),
            "changes_list" => self.changes_list(args),
            other => Err(SourceError::UnknownTool(other.to_string())),
        }
    }

    /// PromQL over a range, at the step asked or the scenario's own.
    fn prom_query_range(&self, args: &Value) -> Result<ToolData, SourceError> {
        let q = required_str(args, "query")?;
        let (start, end) = self.range(args, 3_600_000)?;
        let step = match str_arg(args, "step") {
            Some(s) => crate::model::parse_duration_ms(s)
                .or_else(|_| s.parse::<f64>().map(|x| (x * 1000.0) as i64).map_err(|_| ()))
                .map_err(|_| SourceError::BadArgs(format!("step: expected a duration, found {s:?}")))?,
            None => args
                .get("step")
                .and_then(Value::as_f64)
                .map(|x| (x * 1000.0) as i64)
                .unwrap_or(self.scenario.step_ms),
        };
        if step <= 0 {
            return Err(SourceError::BadArgs("step must be positive".into()));
        }
        if (end.millis() - start.millis()) / step > 11_000 {
            return Err(SourceError::BadArgs(
                "exceeded maximum resolution of 11,000 points per timeseries; use a larger step".into(),
            ));
        }
        let _one_at_a_time = self.promql_gate.lock().unwrap_or_else(|e| e.into_inner());
        promql::query_range(&self.series, q, start.millis(), end.millis(), step)
            .map(ToolData::Matrix)
            .map_err(|e| SourceError::Unsupported(e.to_string()))
    }

    fn prom_query(&self, args: &Value) -> Result<ToolData, SourceError> {
        let q = required_str(args, "query")?;
        let t = time_arg(args, "time")?.unwrap_or(self.now).min(self.now);
        let _one_at_a_time = self.promql_gate.lock().unwrap_or_else(|e| e.into_inner());
        promql::query_instant(&self.series, q, t.millis())
            .map(ToolData::Instant)
            .map_err(|e| SourceError::Unsupported(e.to_string()))
    }

    fn prom_series(&self, args: &Value) -> Result<ToolData, SourceError> {
        let matches = string_list(args, "match")?;
        let (start, end) = self.range(args, 3_600_000)?;
        let refs: Vec<&str> = matches.iter().map(String::as_str).collect();
        promql::series(&self.series, &refs, start.millis(), end.millis())
            .map(ToolData::LabelSets)
            .map_err(|e| SourceError::Unsupported(e.to_string()))
    }

    fn prom_label_values(&self, args: &Value) -> Result<ToolData, SourceError> {
        let label = required_str(args, "label")?;
        let matches = string_list(args, "match").unwrap_or_default();
        let (start, end) = self.range(args, 3_600_000)?;
        let refs: Vec<&str> = matches.iter().map(String::as_str).collect();
        promql::label_values(&self.series, label, &refs, start.millis(), end.millis())
            .map(ToolData::Strings)
            .map_err(|e| SourceError::Unsupported(e.to_string()))
    }

    fn prom_label_names(&self, args: &Value) -> Result<ToolData, SourceError> {
        let matches = string_list(args, "match").unwrap_or_default();
        let (start, end) = self.range(args, 3_600_000)?;
        let refs: Vec<&str> = matches.iter().map(String::as_str).collect();
        promql::label_names(&self.series, &refs, start.millis(), end.millis())
            .map(ToolData::Strings)
            .map_err(|e| SourceError::Unsupported(e.to_string()))
    }

    fn loki_labels(&self, args: &Value) -> Result<ToolData, SourceError> {
        let (start, end) = self.range(args, 3_600_000)?;
        let label = str_arg(args, "label");
        let mut out: BTreeSet<String> = BTreeSet::new();
        for line in self.logs.iter().filter(|l| l.ts >= start && l.ts <= end) {
            let labels = line.stream_labels();
            match label {
                Some(name) => out.extend(labels.get(name).cloned()),
                None => out.extend(labels.into_keys()),
            }
        }
        Ok(ToolData::Strings(out.into_iter().collect()))
    }

    fn loki_query(&self, args: &Value) -> Result<ToolData, SourceError> {
        let q = required_str(args, "query")?;
        let (start, end) = self.range(args, 3_600_000)?;
        let limit = args.get("limit").and_then(Value::as_u64).unwrap_or(100).min(5000) as usize;
        let dir = match str_arg(args, "direction") {
            Some("forward") => logql::Direction::Forward,
            None | Some("backward") => logql::Direction::Backward,
            Some(other) => {
                return Err(SourceError::BadArgs(format!(
                    "direction: expected forward or backward, found {other:?}"
                )));
            }
        };
        // Loki's end is exclusive; include the instant "now" itself.
        logql::query(&self.logs, q, start, end + 1, limit, dir)
            .map(ToolData::Streams)
            .map_err(|e| SourceError::Unsupported(e.to_string()))
    }

    fn traces_search(&self, args: &Value) -> Result<ToolData, SourceError> {
        let (start, end) = self.range(args, 3_600_000)?;
        let service = str_arg(args, "service");
        let error = args.get("error").and_then(Value::as_bool);
        let min_ms = args.get("min_duration_ms").and_then(Value::as_f64).unwrap_or(0.0);
        let limit = args.get("limit").and_then(Value::as_u64).unwrap_or(20).min(1000) as usize;
        let mut found: Vec<TraceSummary> = Vec::new();
        let mut ids: Vec<&String> = self.traces.keys().collect();
        ids.sort();
        for id in ids {
            let spans: Vec<_> = self.traces[id].iter().map(|i| &self.spans[*i]).collect();
            let Some(root) = spans.iter().find(|s| s.parent_id.is_none()).or(spans.first()) else {
                continue;
            };
            if root.start < start || root.start > end {
                continue;
            }
            if service.is_some_and(|s| !spans.iter().any(|x| x.service == s)) {
                continue;
            }
            let errs: BTreeSet<String> = spans.iter().filter(|s| s.error).map(|s| s.service.clone()).collect();
            let has_error = !errs.is_empty();
            if error.is_some_and(|e| e != has_error) || root.duration_ms < min_ms {
                continue;
            }
            found.push(TraceSummary {
                trace_id: id.clone(),
                root_service: root.service.clone(),
                root_name: root.name.clone(),
                start: root.start,
                duration_ms: root.duration_ms,
                span_count: spans.len(),
                error_count: spans.iter().filter(|s| s.error).count(),
                error_services: errs.into_iter().collect(),
            });
        }
        // Newest first, as trace backends list them.
        found.sort_by(|a, b| b.start.cmp(&a.start).then(a.trace_id.cmp(&b.trace_id)));
        found.truncate(limit);
        Ok(ToolData::TraceList(found))
    }

    fn trace_get(&self, args: &Value) -> Result<ToolData, SourceError> {
        let id = required_str(args, "trace_id")?;
        match self.traces.get(id) {
            Some(ix) => Ok(ToolData::Trace(ix.iter().map(|i| self.spans[*i].clone()).collect())),
            None => Err(SourceError::Backend {
                endpoint: "sim:traces".into(),
                message: format!("trace {id} not found"),
            }),
        }
    }

    /// Kubernetes lists: recorded ones if the scenario has them, else the model's at "now".
    fn kubernetes(&self, tool: &str, args: &Value) -> Result<ToolData, SourceError> {
        let ns = str_arg(args, "namespace");
        let key = match tool {
            "k8s_list_pods" => "pods",
            "k8s_events" => "events",
            "k8s_list_deployments" => "deployments",
            "k8s_list_statefulsets" => "statefulsets",
            "k8s_list_jobs" => "jobs",
            "k8s_list_pvcs" => "persistentvolumeclaims",
            _ => "replicasets",
        };
        if !self.kube_recorded.is_empty() {
            let items: Vec<&Value> = self
                .kube_recorded
                .get(key)
                .into_iter()
                .flatten()
                .filter(|it| ns.is_none_or(|n| it["metadata"]["namespace"].as_str() == Some(n)))
                .collect();
            return Ok(ToolData::Kube(json!({"kind": "List", "items": items})));
        }
        let Some(d) = &self.dynamics else {
            return Ok(ToolData::Kube(json!({"kind": "List", "items": []})));
        };
        let i = self.step_at(self.now);
        let selector = label_selector(args)?;
        Ok(ToolData::Kube(match tool {
            "k8s_list_pods" => kube::pods(d, i, ns, selector.as_deref()),
            "k8s_events" => kube::events(d, i, ns, str_arg(args, "involved_object")),
            "k8s_list_deployments" => kube::deployments(d, i, ns),
            "k8s_list_replicasets" => kube::replicasets(d, i, ns, selector.as_deref()),
            // The model runs Deployments only.
            _ => json!({"kind": "List", "items": []}),
        }))
    }

    fn pod_logs(&self, args: &Value) -> Result<ToolData, SourceError> {
        let pod = required_str(args, "pod")?;
        let previous = args.get("previous").and_then(Value::as_bool).unwrap_or(false);
        let tail = args.get("tail_lines").and_then(Value::as_u64).unwrap_or(100).min(5000) as usize;
        let mut lines: Vec<&crate::sources::telemetry::LogLine> = self
            .logs
            .iter()
            .filter(|l| l.pod.as_deref() == Some(pod) && l.ts <= self.now)
            .collect();
        if lines.is_empty() && !self.logs.iter().any(|l| l.pod.as_deref() == Some(pod)) {
            return Err(SourceError::Backend {
                endpoint: "sim:kubernetes".into(),
                message: format!("pods \"{pod}\" not found"),
            });
        }
        // The previous container's logs end at its last restart.
        let restart = self.dynamics.as_ref().and_then(|d| {
            d.svcs
                .iter()
                .flat_map(|s| s.pods.iter())
                .find(|p| p.name == pod)
                .and_then(|p| {
                    p.restarts
                        .iter()
                        .rev()
                        .find(|(k, _, _)| d.time(*k) <= self.now)
                        .map(|(k, _, _)| d.time(*k))
                })
        });
        match (previous, restart) {
            (true, Some(r)) => lines.retain(|l| l.ts < r),
            // Recorded logs hold what was collected from the pod, its earlier containers included.
            (true, None) if self.dynamics.is_none() => {}
            (true, None) => {
                return Err(SourceError::Backend {
                    endpoint: "sim:kubernetes".into(),
                    message: format!("previous terminated container \"{pod}\" not found"),
                });
            }
            (false, Some(r)) => lines.retain(|l| l.ts >= r),
            (false, None) => {}
        }
        let skip = lines.len().saturating_sub(tail);
        Ok(ToolData::Lines(
            lines[skip..].iter().map(|l| l.message.clone()).collect(),
        ))
    }

    fn changes_list(&self, args: &Value) -> Result<ToolData, SourceError> {
        let (start, end) = self.range(args, 7_200_000)?;
        let service = str_arg(args, "service");
        Ok(ToolData::Changes(
            self.changes
                .iter()
                .filter(|c| c.at >= start && c.at <= end)
                .filter(|c| service.is_none_or(|s| c.service == s))
                .cloned()
                .collect(),
        ))
    }
}

fn string_list(args: &Value, key: &str) -> Result<Vec<String>, SourceError> {
    match args.get(key) {
        Some(Value::String(s)) => Ok(vec![s.clone()]),
        Some(Value::Array(a)) => a
            .iter()
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| SourceError::BadArgs(format!("{key}: expected strings")))
            })
            .collect(),
        _ => Err(SourceError::BadArgs(format!("{key} is required"))),
    }
}

/// `service=x` or `app.kubernetes.io/name=x` (the only selectors simulated pods carry).
fn label_selector(args: &Value) -> Result<Option<String>, SourceError> {
    let Some(sel) = str_arg(args, "label_selector") else {
        return Ok(None);
    };
    for part in sel.split(',') {
        if let Some((k, v)) = part.split_once('=') {
            let k = k.trim().trim_end_matches('=');
            if ["service", "app", "app.kubernetes.io/name"].contains(&k) {
                return Ok(Some(v.trim().trim_start_matches('=').to_string()));
            }
        }
    }
    Err(SourceError::Unsupported(format!(
        "label selector {sel:?}: the simulator selects by service=, app= or app.kubernetes.io/name="
    )))
}

impl Backend for Simulator {
    fn call<'a>(&'a self, tool: &'a str, args: &'a Value) -> BoxFuture<'a, Result<ToolData, SourceError>> {
        Box::pin(async move {
            if let Some((min, max)) = self.pace {
                // Deterministic per call so a demo replays at the same rhythm.
                let mut h: u64 = 0xcbf2_9ce4_8422_2325;
                for b in tool.bytes().chain(args.to_string().bytes()) {
                    h ^= b as u64;
                    h = h.wrapping_mul(0x0000_0100_0000_01b3);
                }
                let span = max.saturating_sub(min).as_millis() as u64;
                let ms = min.as_millis() as u64 + if span > 0 { h % span } else { 0 };
                tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
            }
            let out = self.answer(tool, args);
            tokio::task::yield_now().await;
            out
        })
    }

    fn describe(&self) -> String {
        format!("sim:{}", self.scenario.id)
    }

    fn now(&self) -> Timestamp {
        self.now
    }
}
