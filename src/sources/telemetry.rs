//! The shapes telemetry takes on its way from any source to the tools: metric
//! series, log lines, spans and changes. Real backends and the simulator both
//! produce these.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::Timestamp;

/// Label set of a series; `__name__` holds the metric name.
pub type Labels = BTreeMap<String, String>;

/// One series with samples at millisecond timestamps, oldest first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetricSeries {
    pub labels: Labels,
    pub samples: Vec<(i64, f64)>,
}

impl MetricSeries {
    pub fn name(&self) -> &str {
        self.labels.get("__name__").map(String::as_str).unwrap_or("")
    }
    pub fn label(&self, k: &str) -> &str {
        self.labels.get(k).map(String::as_str).unwrap_or("")
    }
}

/// What an instant query returns.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "resultType", content = "result", rename_all = "snake_case")]
pub enum InstantResult {
    /// Each series carries exactly one sample.
    Vector(Vec<MetricSeries>),
    Scalar((i64, f64)),
}

/// One log line.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LogLine {
    pub ts: Timestamp,
    pub service: String,
    #[serde(default)]
    pub namespace: Option<String>,
    #[serde(default)]
    pub pod: Option<String>,
    pub level: String,
    pub message: String,
}

impl LogLine {
    /// The stream labels Loki would index this line under.
    pub fn stream_labels(&self) -> Labels {
        let mut l = Labels::new();
        l.insert("service".into(), self.service.clone());
        l.insert("level".into(), self.level.clone());
        if let Some(ns) = &self.namespace {
            l.insert("namespace".into(), ns.clone());
        }
        if let Some(p) = &self.pod {
            l.insert("pod".into(), p.clone());
        }
        l
    }
}

/// A log stream as Loki returns it: labels and (time, line) entries.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LogStream {
    pub labels: Labels,
    pub entries: Vec<(Timestamp, String)>,
}

/// One span of a distributed trace.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Span {
    pub trace_id: String,
    pub span_id: String,
    #[serde(default)]
    pub parent_id: Option<String>,
    pub service: String,
    pub name: String,
    pub start: Timestamp,
    pub duration_ms: f64,
    pub error: bool,
}

/// A trace found by a search: its root and a digest of its spans.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TraceSummary {
    pub trace_id: String,
    pub root_service: String,
    pub root_name: String,
    pub start: Timestamp,
    pub duration_ms: f64,
    pub span_count: usize,
    pub error_count: usize,
    /// Services that carried an error span.
    pub error_services: Vec<String>,
}

/// A change on the timeline: a deploy, a config change, a scale, a flag, a restart.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Change {
    pub at: Timestamp,
    pub kind: String,
    pub service: String,
    pub summary: String,
    #[serde(default)]
    pub namespace: Option<String>,
}
