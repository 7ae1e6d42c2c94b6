//! Sources answer tool calls: the simulator, and (in time) Prometheus, Loki,
//! Kubernetes, Tempo/Jaeger and Alertmanager. Every source answers the same
//! tools with the same data shapes, so reasoners never know which one it is.

pub mod alertmanager;
pub mod changes;
pub mod families;
pub mod heap;
pub mod http;
pub mod jaeger;
pub mod kubernetes;
pub mod labels;
pub mod loki;
pub mod prometheus;
pub mod rewrite;
pub mod router;
mod settings;
pub mod sim;
pub mod telemetry;
pub mod tempo;

use serde_json::Value;

use crate::model::Timestamp;
use telemetry::{Change, InstantResult, Labels, LogStream, MetricSeries, Span, TraceSummary};

pub use crate::model::BoxFuture;

/// Why a tool call failed at the source.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SourceError {
    /// The arguments do not make a valid request.
    #[error("bad arguments: {0}")]
    BadArgs(String),
    /// The query uses something this source cannot answer; names the construct.
    #[error("{0}")]
    Unsupported(String),
    /// The backend answered with an error, timed out or could not be reached.
    #[error("{endpoint}: {message}")]
    Backend { endpoint: String, message: String },
    /// No source here answers this tool.
    #[error("no source answers the tool {0:?}")]
    UnknownTool(String),
}

/// What a tool call brings back, in a shape reasoners can compute on. Stored
/// as JSON (`{"type": "matrix", "data": [...]}`) so a replay can answer from it.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "type", content = "data", rename_all = "snake_case")]
pub enum ToolData {
    Matrix(Vec<MetricSeries>),
    Instant(InstantResult),
    LabelSets(Vec<Labels>),
    Strings(Vec<String>),
    Streams(Vec<LogStream>),
    TraceList(Vec<TraceSummary>),
    Trace(Vec<Span>),
    /// A Kubernetes object or list in the API server's own JSON shape.
    Kube(Value),
    Changes(Vec<Change>),
    /// Plain text lines (pod logs).
    Lines(Vec<String>),
}

/// A source of telemetry that answers tools.
pub trait Backend: Send + Sync {
    /// Answers one tool call. Only reads: a backend has no way to write.
    fn call<'a>(&'a self, tool: &'a str, args: &'a Value) -> BoxFuture<'a, Result<ToolData, SourceError>>;
    /// A short description for the trace, e.g. `sim:checkout-db-pool`.
    fn describe(&self) -> String;
    /// The instant "now" for this source (wall clock for real stacks).
    fn now(&self) -> Timestamp;
}

/// Reads a time argument: RFC 3339, or unix seconds as a number or string.
pub fn time_arg(args: &Value, key: &str) -> Result<Option<Timestamp>, SourceError> {
    match args.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_f64()
            .map(|s| Some(Timestamp((s * 1e9) as i64)))
            .ok_or_else(|| SourceError::BadArgs(format!("{key}: expected unix seconds"))),
        Some(Value::String(s)) => {
            if let Ok(secs) = s.parse::<f64>() {
                return Ok(Some(Timestamp((secs * 1e9) as i64)));
            }
            Timestamp::parse_rfc3339(s)
                .map(Some)
                .map_err(|e| SourceError::BadArgs(format!("{key}: {e}")))
        }
        Some(_) => Err(SourceError::BadArgs(format!(
            "{key}: expected an RFC 3339 time or unix seconds"
        ))),
    }
}

pub fn str_arg<'a>(args: &'a Value, key: &str) -> Option<&'a str> {
    args.get(key).and_then(Value::as_str).filter(|s| !s.is_empty())
}

pub fn required_str<'a>(args: &'a Value, key: &str) -> Result<&'a str, SourceError> {
    str_arg(args, key).ok_or_else(|| SourceError::BadArgs(format!("{key} is required")))
}

/// The sources `config.toml` names, behind one router, looking back from `now`.
pub fn configured(settings: &crate::config::Settings, now: crate::model::Timestamp) -> Result<router::Router, String> {
    configured_with(settings, now, Vec::new())
}

/// The configured sources, with `changes` (e.g. the store's posted changes)
/// answering `changes_list` beside any configured source that also does.
pub fn configured_with(
    settings: &crate::config::Settings,
    now: crate::model::Timestamp,
    mut changes: Vec<std::sync::Arc<dyn Backend>>,
) -> Result<router::Router, String> {
    use std::sync::Arc;
    let mut names: Vec<String> = changes.iter().map(|c| c.describe()).collect();
    let mut r = router::Router::new(now);
    let mut any = false;
    if let Some(p) = &settings.sources.prometheus {
        r = r.route("prometheus", Arc::new(prometheus::Prometheus::new(p.client()?)?));
        any = true;
    }
    if let Some(l) = &settings.sources.loki {
        let labels = labels::LabelMap(l.labels.clone());
        r = r.route(
            "loki",
            Arc::new(loki::Loki::new(&l.url, l.http("loki")?).with_labels(labels)),
        );
        any = true;
    }
    if settings.sources.jaeger.is_some() && settings.sources.tempo.is_some() {
        return Err("configure one trace source: [sources.jaeger] or [sources.tempo], not both".into());
    }
    if let Some(t) = &settings.sources.tempo {
        r = r.route("traces", Arc::new(tempo::Tempo::new(&t.url, t.http("tempo")?)));
        any = true;
    }
    if let Some(j) = &settings.sources.jaeger {
        r = r.route("traces", Arc::new(jaeger::Jaeger::new(&j.url, j.http("jaeger")?)));
        any = true;
    }
    if let Some(k) = &settings.sources.kubernetes {
        let client: Arc<dyn Backend> = Arc::new(k.client()?);
        changes.push(client.clone());
        names.push("kubernetes".into());
        r = r.route("kubernetes", client);
        any = true;
    }
    let beyond_sim = !changes.is_empty();
    if let Some(s) = &settings.sources.simulator {
        let sc = sim::Simulator::load(&s.scenario).map_err(|e| e.to_string())?;
        let sim: Arc<dyn Backend> = Arc::new(sim::Simulator::new(sc).map_err(|e| e.to_string())?);
        changes.push(sim.clone());
        names.push("simulator".into());
        r = r.fallback(sim);
        any = true;
    }
    // The simulator alone answers its changes as the fallback, as before.
    if beyond_sim {
        let label = format!("changes from {}", names.join(", "));
        r = r.route("changes", Arc::new(changes::Merged::new(changes, label, now)));
    }
    if !any {
        return Err(
            "no sources configured: add [sources.prometheus] (and [sources.simulator] for the rest) to config.toml"
                .into(),
        );
    }
    Ok(r)
}
