//! The simulator: a scenario's telemetry, generated from its seed (and any
//! recorded telemetry laid on top), answering the same tools as a real stack.
//! The scenario's `[truth]` never leaves this module except to the evaluator.

mod answer;
pub mod dynamics;
pub mod export;
mod kube;
pub mod logql;
mod logs;
mod metrics;
pub mod promql;
pub mod recorded;
mod rng;
pub mod scenario;
pub mod series;
pub mod synth;
mod traces;

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::model::{Alert, Timestamp};
use crate::sources::telemetry::{Change, LogLine, Span};
use dynamics::Dynamics;
pub use scenario::{Scenario, ScenarioError, Truth};
use series::SeriesSet;

/// Built-in scenarios, compiled in.
pub const BUILTIN: &[(&str, &str)] = include!(concat!(env!("OUT_DIR"), "/scenarios.rs"));

/// The id of the scenario `inquest demo` opens by default.
pub const DEFAULT_SCENARIO: &str = "checkout-db-pool";

/// Telemetry generated for one scenario.
pub struct Simulator {
    scenario: Scenario,
    dynamics: Option<Dynamics>,
    series: SeriesSet,
    logs: Vec<LogLine>,
    spans: Vec<Span>,
    traces: HashMap<String, Vec<usize>>,
    kube_recorded: BTreeMap<String, Vec<Value>>,
    changes: Vec<Change>,
    now: Timestamp,
    /// Simulated backend latency per call, to make demos unfold at a human pace.
    pace: Option<(Duration, Duration)>,
    /// Held while a PromQL query is evaluated: the simulator evaluates one
    /// query at a time, like a Prometheus with a query concurrency of one.
    /// Evaluation is CPU-bound work in this process, so running branches'
    /// queries side by side buys little on a small machine, while their
    /// aggregation accumulators (tens of MB each at 1,000 services) would
    /// peak together. Answers do not depend on the order, only the memory.
    promql_gate: std::sync::Mutex<()>,
}

impl Simulator {
    /// Generates all telemetry for a scenario. Deterministic for its seed.
    pub fn new(scenario: Scenario) -> Result<Self, ScenarioError> {
        let mut dynamics =
            (!scenario.faults.is_empty() || scenario.recorded.is_none()).then(|| dynamics::simulate(&scenario));
        let (mut series, mut logs, mut spans, mut changes) = match &dynamics {
            Some(d) => (
                metrics::render(d, scenario.seed),
                logs::render(&scenario, d),
                traces::render(d, scenario.seed),
                d.changes
                    .iter()
                    .map(|c| Change {
                        at: c.at,
                        kind: c.kind.as_str().to_string(),
                        service: c.target.clone(),
                        summary: c.summary.clone(),
                        namespace: scenario.service(&c.target).map(|s| s.namespace.clone()),
                    })
                    .collect(),
            ),
            None => (SeriesSet::default(), vec![], vec![], vec![]),
        };
        let mut kube_recorded = BTreeMap::new();
        if let Some(rec) = &scenario.recorded {
            if let Some(p) = &rec.metrics {
                series.extend(recorded::load_metrics(p)?);
            }
            if let Some(p) = &rec.logs {
                logs.extend(recorded::load_logs(p)?);
                logs.sort_by_key(|l| l.ts);
            }
            if let Some(p) = &rec.spans {
                spans.extend(recorded::load_spans(p)?);
            }
            if let Some(p) = &rec.kubernetes {
                kube_recorded = recorded::load_kubernetes(p)?;
            }
        }
        if dynamics.is_none() {
            changes = scenario
                .events
                .iter()
                .map(|e| Change {
                    at: scenario.start + e.at_ms * 1_000_000,
                    kind: e.kind.as_str().to_string(),
                    service: e.target.clone(),
                    summary: e.summary.clone(),
                    namespace: scenario.service(&e.target).map(|s| s.namespace.clone()),
                })
                .collect();
        }
        if let Some(d) = &mut dynamics {
            d.keep_for_answers();
        }
        // Generation grows these by doubling; give the slack back.
        logs.shrink_to_fit();
        spans.shrink_to_fit();
        let mut traces: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, s) in spans.iter().enumerate() {
            traces.entry(s.trace_id.clone()).or_default().push(i);
        }
        // Rendering freed the model and its scratch space; hand it back to
        // the system rather than keep it resident for the investigation.
        crate::sources::heap::give_back();
        // The investigation looks back from two minutes after the alert.
        let now = (scenario.alert_time() + 120_000_000_000).min(scenario.end_time());
        Ok(Simulator {
            scenario,
            dynamics,
            series,
            logs,
            spans,
            traces,
            kube_recorded,
            changes,
            now,
            pace: None,
            promql_gate: std::sync::Mutex::new(()),
        })
    }

    /// Loads a scenario by id (built in) or by path.
    pub fn load(name_or_path: &str) -> Result<Scenario, ScenarioError> {
        if let Some((file, text)) = BUILTIN
            .iter()
            .find(|(file, _)| file.trim_end_matches(".toml") == name_or_path)
        {
            return scenario::parse(text, &format!("scenarios/{file}"), None);
        }
        let p = Path::new(name_or_path);
        if p.exists() {
            return scenario::load_file(p);
        }
        let ids: Vec<&str> = BUILTIN.iter().map(|(f, _)| f.trim_end_matches(".toml")).collect();
        Err(ScenarioError {
            path: name_or_path.to_string(),
            line: 0,
            column: 0,
            message: format!(
                "no such scenario file, and no built-in scenario by that id (built in: {})",
                ids.join(", ")
            ),
        })
    }

    /// Every built-in scenario, parsed.
    pub fn builtin() -> Vec<Result<Scenario, ScenarioError>> {
        BUILTIN
            .iter()
            .map(|(file, text)| scenario::parse(text, &format!("scenarios/{file}"), None))
            .collect()
    }

    /// Adds a simulated latency to every call, uniformly between `min` and `max`.
    pub fn with_pace(mut self, min: Duration, max: Duration) -> Self {
        self.pace = Some((min, max));
        self
    }

    pub fn scenario(&self) -> &Scenario {
        &self.scenario
    }

    /// The alert the scenario fires, as an alert source would deliver it.
    pub fn alert(&self) -> Alert {
        let sc = &self.scenario;
        let mut annotations = BTreeMap::new();
        if !sc.alert.summary.is_empty() {
            annotations.insert("summary".to_string(), sc.alert.summary.clone());
        }
        let mut labels = sc.alert.labels.clone();
        labels.insert("alertname".into(), sc.alert.name.clone());
        labels.insert("severity".into(), sc.alert.severity.clone());
        let fp = {
            let mut h: u64 = 0xcbf2_9ce4_8422_2325;
            for (k, v) in &labels {
                for b in k.bytes().chain(v.bytes()) {
                    h ^= b as u64;
                    h = h.wrapping_mul(0x0000_0100_0000_01b3);
                }
            }
            format!("{h:016x}")
        };
        Alert {
            source: "scenario".into(),
            name: sc.alert.name.clone(),
            labels,
            annotations,
            severity: sc.alert.severity.clone(),
            starts_at: sc.alert_time(),
            fingerprint: fp,
        }
    }

    /// Number of metric series, log lines and spans generated.
    pub fn sizes(&self) -> (usize, usize, usize) {
        (self.series.len(), self.logs.len(), self.spans.len())
    }

    pub fn series(&self) -> &SeriesSet {
        &self.series
    }

    pub fn logs(&self) -> &[LogLine] {
        &self.logs
    }
}
