//! `inquest capture`: an incident frozen from the configured sources into a
//! `[recorded]` scenario: the metric families the built-in reasoner reads, for
//! the services around the alert (found from the client metrics' call graph),
//! over the window it looks at; logs from Loki or from JSON-lines files;
//! Kubernetes objects where a cluster is configured; the changes in the window
//! (posted to the store by pipelines, or Kubernetes rollout history) as the
//! scenario's `[[event]]` timeline. Everything recorded goes through the same
//! redaction as exports.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use serde_json::{Value, json};

use super::args::CaptureArgs;
use super::{Failure, open_store, runtime, settings};
use crate::model::{Alert, EventKind, FaultKind, Grade, Timestamp, parse_duration_ms};
use crate::sources::telemetry::{Change, LogLine, MetricSeries};
use crate::sources::{Backend, ToolData};
use crate::tools::redact::Redactor;
use crate::tools::sanitize::clean;

/// Counter families recorded summed by the labels the reasoner groups them by,
/// each series' resets removed first so that `rate` of the sum is the sum of
/// the rates; with the matchers the reasoner puts on them (it reads latency
/// only of calls that were answered, so only their buckets are recorded).
const COUNTERS: &[(&str, &str, &[&str])] = &[
    (
        "http_server_request_duration_seconds_count",
        "",
        &["service", "http_response_status_code"],
    ),
    ("http_server_request_duration_seconds_bucket", "", &["service", "le"]),
    (
        "http_client_request_duration_seconds_count",
        "",
        &["service", "peer_service", "http_response_status_code", "error_type"],
    ),
    (
        "http_client_request_duration_seconds_bucket",
        ",error_type=\"\"",
        &["service", "peer_service", "le"],
    ),
    ("container_cpu_cfs_throttled_periods_total", "", &["service"]),
    ("container_cpu_cfs_periods_total", "", &["service"]),
    ("kube_pod_container_status_restarts_total", "", &["service"]),
    ("container_oom_events_total", "", &["service"]),
    ("redis_keyspace_hits_total", "", &["service"]),
    ("redis_keyspace_misses_total", "", &["service"]),
];

/// Gauge families recorded as they are: the reasoner divides them series by series.
const GAUGES: &[&str] = &[
    "container_memory_working_set_bytes",
    "container_spec_memory_limit_bytes",
    "kube_deployment_status_replicas_available",
    "kube_deployment_spec_replicas",
    "kubelet_volume_stats_used_bytes",
    "kubelet_volume_stats_capacity_bytes",
    "pg_stat_activity_count",
    "pg_settings_max_connections",
    "kafka_consumergroup_lag",
    "kube_pod_container_status_last_terminated_reason",
    "up",
    "scrape_duration_seconds",
];

/// What was written, for the summary line.
struct Written {
    services: Vec<String>,
    series: usize,
    samples: usize,
    logs: usize,
    kube: usize,
    changes: usize,
    files: Vec<(PathBuf, u64)>,
}

pub(super) fn capture(a: &CaptureArgs) -> Result<ExitCode, Failure> {
    let (alert, truth) = alert_and_truth(a)?;
    let service = alert
        .service()
        .ok_or_else(|| Failure::BadInput(format!("alert {}: no service label to start from", clean(&alert.name))))?
        .to_string();
    let ms = |flag: &str, v: &str| parse_duration_ms(v).map_err(|e| Failure::BadInput(format!("--{flag} {v}: {e}")));
    let (before, after, step) = (ms("before", &a.before)?, ms("after", &a.after)?, ms("step", &a.step)?);
    if step <= 0 || before <= 0 || after < 0 {
        return Err(Failure::BadInput("--before and --step must be longer than zero".into()));
    }
    let alert_ms = alert.starts_at.millis();
    let start = (alert_ms - before).div_euclid(step) * step;
    let end = (alert_ms + after).min(Timestamp::now().millis());
    if end <= alert_ms - step {
        return Err(Failure::BadInput(format!(
            "alert {} starts at {}, in the future",
            clean(&alert.name),
            alert.starts_at.to_rfc3339()
        )));
    }
    let settings = settings()?;
    if settings.sources.prometheus.is_none() {
        return Err(Failure::BadInput(
            "capture reads metrics from [sources.prometheus] in config.toml; none is configured".into(),
        ));
    }
    // The changes pipelines posted to this machine's store answer `changes_list` beside Kubernetes.
    let posted: Vec<Arc<dyn Backend>> = crate::store::Store::default_path()
        .ok()
        .filter(|p| p.exists())
        .map(|p| Arc::new(crate::wire::changes::Posted::new(p, Timestamp::from_millis(end))) as Arc<dyn Backend>)
        .into_iter()
        .collect();
    let has_loki = settings.sources.loki.is_some();
    let has_kube = settings.sources.kubernetes.is_some();
    let has_changes = has_kube || !posted.is_empty();
    let router =
        crate::sources::configured_with(&settings, Timestamp::from_millis(end), posted).map_err(Failure::BadInput)?;
    let rt = runtime(2)?;
    let window = Window { start, end, step };
    let got = rt.block_on(async {
        let graph = Graph::discover(&router, &window).await?;
        let mut services = graph.neighbourhood(&service, a.hops);
        services.insert(truth.0.clone());
        let series = metrics(&router, &window, &services).await?;
        let mut logs = if has_loki {
            loki_logs(&router, &window, &services).await?
        } else {
            Vec::new()
        };
        for f in &a.log_files {
            logs.extend(file_logs(f, &window, &services)?);
        }
        logs.sort_by_key(|l| l.ts);
        let kube = if has_kube {
            kube_objects(&router, &alert).await?
        } else {
            None
        };
        let changes = if has_changes {
            changes(&router, &window, &services).await?
        } else {
            Vec::new()
        };
        Ok::<_, Failure>((graph, services, series, logs, kube, changes))
    })?;
    let (graph, services, series, logs, kube, changes) = got;
    let recording = Recording {
        series,
        logs: &logs,
        kube,
        changes: &changes,
    };
    let w = write(a, &alert, &truth, &window, &graph, &services, recording)?;
    let total: u64 = w.files.iter().map(|f| f.1).sum();
    eprintln!(
        "captured {} around {} ({} services: {}): {} series, {} samples, {} log lines, {} Kubernetes objects, {} changes",
        clean(&alert.name),
        clean(&service),
        w.services.len(),
        w.services.join(", "),
        w.series,
        w.samples,
        w.logs,
        w.kube,
        w.changes
    );
    for (p, n) in &w.files {
        eprintln!("  {} {}", kib(*n), p.display());
    }
    eprintln!("  {} in all", kib(total));
    Ok(ExitCode::SUCCESS)
}

fn kib(n: u64) -> String {
    format!("{:.1} KiB", n as f64 / 1024.0)
}

/// The alert, and the truth: `--truth`, else the root cause an engineer graded correct.
fn alert_and_truth(a: &CaptureArgs) -> Result<(Alert, (String, FaultKind)), Failure> {
    let given = a.truth.as_deref().map(parse_truth).transpose()?;
    if let Some(path) = &a.alert {
        let text = std::fs::read_to_string(path).map_err(|e| Failure::BadInput(format!("{}: {e}", path.display())))?;
        let alert =
            Alert::from_json(&text, "file").map_err(|e| Failure::BadInput(format!("{}: {e}", path.display())))?;
        let truth = given.ok_or_else(|| {
            Failure::BadInput("--alert needs --truth SERVICE/KIND (the fault that was really there)".into())
        })?;
        return Ok((alert, truth));
    }
    let Some(prefix) = a.trace() else {
        return Err(Failure::BadInput(
            "give a trace id, or --alert FILE with --truth SERVICE/KIND".into(),
        ));
    };
    let store = open_store()?;
    let trace = store.resolve(prefix).map_err(|e| Failure::BadInput(e.to_string()))?;
    let events = store.events(trace)?;
    let alert = events
        .iter()
        .find_map(|e| match &e.kind {
            EventKind::InvestigationStarted { alert, .. } => Some((**alert).clone()),
            _ => None,
        })
        .ok_or_else(|| Failure::BadInput(format!("{}: no investigation_started event", trace.short())))?;
    if let Some(t) = given {
        return Ok((alert, t));
    }
    // Feedback on a root cause names its first hypothesis span.
    let correct: Vec<_> = store
        .feedback(trace)?
        .into_iter()
        .filter(|f| f.grade == Some(Grade::Correct))
        .map(|f| f.span_id)
        .collect();
    let graded = events.iter().find_map(|e| match &e.kind {
        EventKind::HypothesisProposed { hypothesis } if correct.contains(&e.span_id) => {
            Some((hypothesis.service.clone(), hypothesis.kind))
        }
        _ => None,
    });
    graded.map(|t| (alert, t)).ok_or_else(|| {
        Failure::BadInput(format!(
            "{}: no root cause graded correct (grade one in `inquest open {}`, or give --truth SERVICE/KIND)",
            trace.short(),
            trace.short()
        ))
    })
}

fn parse_truth(s: &str) -> Result<(String, FaultKind), Failure> {
    let bad = || {
        Failure::BadInput(format!(
            "--truth {s:?}: expected SERVICE/KIND, e.g. orders-db/connection_pool_exhaustion"
        ))
    };
    let (svc, kind) = s.split_once('/').ok_or_else(bad)?;
    if svc.is_empty() {
        return Err(bad());
    }
    let kind: FaultKind = serde_json::from_value(Value::String(kind.to_string())).map_err(|_| {
        Failure::BadInput(format!(
            "--truth {s:?}: {kind:?} is not a fault kind (see SCENARIOS.md)"
        ))
    })?;
    Ok((svc.to_string(), kind))
}

struct Window {
    start: i64,
    end: i64,
    step: i64,
}

impl Window {
    fn args(&self) -> Value {
        json!({
            "start": Timestamp::from_millis(self.start).to_rfc3339(),
            "end": Timestamp::from_millis(self.end).to_rfc3339(),
        })
    }
}

/// Who calls whom, and what each service is, from the metrics in the window.
#[derive(Default)]
struct Graph {
    edges: BTreeSet<(String, String)>,
    kinds: BTreeMap<String, &'static str>,
}

impl Graph {
    async fn discover(b: &dyn Backend, w: &Window) -> Result<Graph, Failure> {
        let mut g = Graph::default();
        for (family, kind) in [
            ("http_server_request_duration_seconds_count", "http"),
            ("http_client_request_duration_seconds_count", "http"),
            ("pg_settings_max_connections", "db"),
            ("redis_keyspace_hits_total", "cache"),
            ("kafka_consumergroup_lag", "worker"),
        ] {
            let mut args = w.args();
            args["match"] = json!([family]);
            let sets = match b.call("prometheus_series", &args).await {
                Ok(ToolData::LabelSets(s)) => s,
                Ok(_) => Vec::new(),
                Err(e) => return Err(Failure::Other(format!("discovering services from {family}: {e}"))),
            };
            for s in sets {
                let Some(svc) = s.get("service").filter(|v| !v.is_empty()) else {
                    continue;
                };
                let k = g.kinds.entry(svc.clone()).or_insert(kind);
                if kind != "http" {
                    *k = kind;
                }
                if let Some(peer) = s.get("peer_service").filter(|v| !v.is_empty()) {
                    g.edges.insert((svc.clone(), peer.clone()));
                    g.kinds.entry(peer.clone()).or_insert("http");
                }
            }
        }
        Ok(g)
    }

    /// Services within `hops` calls of `from`, either way along the calls.
    fn neighbourhood(&self, from: &str, hops: usize) -> BTreeSet<String> {
        let mut seen = BTreeSet::from([from.to_string()]);
        let mut queue = VecDeque::from([(from.to_string(), 0)]);
        while let Some((s, d)) = queue.pop_front() {
            if d == hops {
                continue;
            }
            for (a, b) in &self.edges {
                let next = if *a == s {
                    b
                } else if *b == s {
                    a
                } else {
                    continue;
                };
                if seen.insert(next.clone()) {
                    queue.push_back((next.clone(), d + 1));
                }
            }
        }
        seen
    }
}

/// The reasoner's metric families for `services`, over the window.
async fn metrics(b: &dyn Backend, w: &Window, services: &BTreeSet<String>) -> Result<Vec<MetricSeries>, Failure> {
    let re: Vec<String> = services.iter().map(|s| regex::escape(s)).collect();
    let sel = format!("service=~\"{}\"", re.join("|").replace('\\', "\\\\"));
    let mut out = Vec::new();
    let families = COUNTERS
        .iter()
        .map(|c| (c.0, c.1))
        .chain(GAUGES.iter().map(|g| (*g, "")));
    for (family, matchers) in families {
        let mut args = w.args();
        args["query"] = json!(format!("{family}{{{sel}{matchers}}}"));
        args["step"] = json!(format!("{}s", w.step as f64 / 1000.0));
        let series = match b.call("prometheus_query_range", &args).await {
            Ok(ToolData::Matrix(m)) => m,
            Ok(_) => Vec::new(),
            Err(e) => return Err(Failure::Other(format!("reading {family}: {e}"))),
        };
        let series = series
            .into_iter()
            .map(|mut s| {
                s.labels.insert("__name__".into(), family.to_string());
                s
            })
            .collect::<Vec<_>>();
        match COUNTERS.iter().find(|c| c.0 == family) {
            Some((_, _, keep)) => out.extend(sum_counters(series, keep)),
            None => out.extend(without_scrape_labels(series)),
        }
    }
    Ok(trim_buckets(out))
}

/// Gauges without the labels the reasoner never reads (`job` and `instance`
/// from the scrape, `namespace`, `container`), unless two series differ only by them.
fn without_scrape_labels(series: Vec<MetricSeries>) -> Vec<MetricSeries> {
    let strip = |s: &MetricSeries| {
        let mut l = s.labels.clone();
        for k in ["job", "instance", "namespace", "container"] {
            l.remove(k);
        }
        l
    };
    let distinct: BTreeSet<_> = series.iter().map(strip).collect();
    if distinct.len() < series.len() {
        return series;
    }
    series
        .into_iter()
        .map(|s| MetricSeries {
            labels: strip(&s),
            samples: s.samples,
        })
        .collect()
}

/// Counters summed by `keep`, each series' resets (a restart) removed first.
fn sum_counters(series: Vec<MetricSeries>, keep: &[&str]) -> Vec<MetricSeries> {
    let mut groups: BTreeMap<BTreeMap<String, String>, BTreeMap<i64, f64>> = BTreeMap::new();
    for s in series {
        let key: BTreeMap<String, String> = s
            .labels
            .iter()
            .filter(|(k, v)| (k.as_str() == "__name__" || keep.contains(&k.as_str())) && !v.is_empty())
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let sum = groups.entry(key).or_default();
        let (mut offset, mut prev) = (0.0, f64::NEG_INFINITY);
        for (t, v) in s.samples {
            if !v.is_finite() {
                continue;
            }
            if v < prev {
                offset += prev;
            }
            prev = v;
            *sum.entry(t).or_insert(0.0) += v + offset;
        }
    }
    groups
        .into_iter()
        .map(|(labels, samples)| MetricSeries {
            labels,
            samples: samples.into_iter().collect(),
        })
        .collect()
}

/// Drops histogram buckets that change no `histogram_quantile` answer: above
/// the lowest bucket that always equals `+Inf`, and below the highest of the
/// buckets that never move (which stays as the next bucket's lower bound).
fn trim_buckets(series: Vec<MetricSeries>) -> Vec<MetricSeries> {
    let mut rest = Vec::new();
    let mut hist: BTreeMap<BTreeMap<String, String>, Vec<(f64, MetricSeries)>> = BTreeMap::new();
    for s in series {
        let le = s.labels.get("le").map(|v| {
            if v == "+Inf" {
                f64::INFINITY
            } else {
                v.parse().unwrap_or(f64::NAN)
            }
        });
        match le {
            Some(le) if s.name().ends_with("_bucket") && !le.is_nan() => {
                let mut key = s.labels.clone();
                key.remove("le");
                hist.entry(key).or_default().push((le, s));
            }
            _ => rest.push(s),
        }
    }
    for (_, mut buckets) in hist {
        buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        let n = buckets.len();
        let same = |i: usize, j: usize| buckets[i].1.samples == buckets[j].1.samples;
        let flat = |i: usize| buckets[i].1.samples.windows(2).all(|w| w[0].1 == w[1].1);
        // `top`: the lowest finite bucket from which every bucket equals +Inf.
        let mut top = n - 1;
        while top > 0 && buckets[top - 1].0.is_finite() && same(top - 1, n - 1) {
            top -= 1;
        }
        // `low`: the highest of the leading buckets that never move.
        let mut low = 0;
        while low + 1 < top && flat(low + 1) && flat(low) {
            low += 1;
        }
        for (i, (_, s)) in buckets.into_iter().enumerate() {
            let keep = i == n - 1 || (i >= low && i <= top);
            if keep {
                rest.push(s);
            }
        }
    }
    rest
}

async fn loki_logs(b: &dyn Backend, w: &Window, services: &BTreeSet<String>) -> Result<Vec<LogLine>, Failure> {
    let mut out = Vec::new();
    for svc in services {
        let mut args = w.args();
        args["query"] = json!(format!(
            "{{service=\"{}\"}}",
            svc.replace('\\', "\\\\").replace('"', "\\\"")
        ));
        args["limit"] = json!(5000);
        args["direction"] = json!("forward");
        let streams = match b.call("loki_query_range", &args).await {
            Ok(ToolData::Streams(s)) => s,
            Ok(_) => Vec::new(),
            Err(e) => return Err(Failure::Other(format!("reading logs of {svc} from Loki: {e}"))),
        };
        for s in streams {
            let level = s.labels.get("level").cloned().unwrap_or_else(|| "info".into());
            for (ts, message) in s.entries {
                out.push(LogLine {
                    ts,
                    service: svc.clone(),
                    namespace: s.labels.get("namespace").cloned(),
                    pod: s.labels.get("pod").cloned(),
                    level: level.clone(),
                    message,
                });
            }
        }
    }
    Ok(out)
}

/// Lines of a JSON-lines log file in the window, for the services recorded.
fn file_logs(path: &Path, w: &Window, services: &BTreeSet<String>) -> Result<Vec<LogLine>, Failure> {
    let text = std::fs::read_to_string(path).map_err(|e| Failure::BadInput(format!("{}: {e}", path.display())))?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let bad = |what: String| Failure::BadInput(format!("{}:{}: {what}", path.display(), n + 1));
        let v: Value = serde_json::from_str(line).map_err(|e| bad(format!("expected a JSON object: {e}")))?;
        let field = |k: &str| v.get(k).and_then(Value::as_str).map(str::to_string);
        let ts = field("ts")
            .ok_or_else(|| bad("expected \"ts\" (RFC 3339)".into()))
            .and_then(|t| Timestamp::parse_rfc3339(&t).map_err(|e| bad(format!("\"ts\": {e}"))))?;
        let service = field("service").ok_or_else(|| bad("expected \"service\"".into()))?;
        if ts.millis() < w.start || ts.millis() > w.end || !services.contains(&service) {
            continue;
        }
        let mut message = field("message").or_else(|| field("msg")).unwrap_or_default();
        // The other fields are part of what an engineer reads: kept as logfmt after the message.
        if let Some(o) = v.as_object() {
            for (k, x) in o {
                if !["ts", "service", "pod", "level", "message", "msg", "namespace"].contains(&k.as_str()) {
                    let x = x.as_str().map(str::to_string).unwrap_or_else(|| x.to_string());
                    message.push_str(&format!(" {k}={x}"));
                }
            }
        }
        out.push(LogLine {
            ts,
            service,
            namespace: field("namespace"),
            pod: field("pod"),
            level: field("level").unwrap_or_else(|| "info".into()),
            message,
        });
    }
    Ok(out)
}

async fn kube_objects(b: &dyn Backend, alert: &Alert) -> Result<Option<Value>, Failure> {
    let mut args = json!({});
    if let Some(ns) = alert.labels.get("namespace") {
        args["namespace"] = json!(ns);
    }
    let mut out = serde_json::Map::new();
    for (tool, key) in [
        ("k8s_list_pods", "pods"),
        ("k8s_events", "events"),
        ("k8s_list_deployments", "deployments"),
        ("k8s_list_replicasets", "replicasets"),
    ] {
        let items = match b.call(tool, &args).await {
            Ok(ToolData::Kube(v)) => v.get("items").cloned().unwrap_or(v),
            Ok(_) => Value::Array(Vec::new()),
            Err(e) => return Err(Failure::Other(format!("reading {key} from Kubernetes: {e}"))),
        };
        let items = if items.is_array() { items } else { json!([items]) };
        out.insert(key.to_string(), items);
    }
    // Kinds an account may not be allowed to list are left out, not a failed capture.
    for (tool, key) in [
        ("k8s_list_statefulsets", "statefulsets"),
        ("k8s_list_jobs", "jobs"),
        ("k8s_list_pvcs", "persistentvolumeclaims"),
    ] {
        if let Ok(ToolData::Kube(v)) = b.call(tool, &args).await
            && let Some(items @ Value::Array(a)) = v.get("items")
            && !a.is_empty()
        {
            out.insert(key.to_string(), items.clone());
        }
    }
    Ok(Some(Value::Object(out)))
}

/// The changes in the window, of the services recorded (a scenario's events name known services).
async fn changes(b: &dyn Backend, w: &Window, services: &BTreeSet<String>) -> Result<Vec<Change>, Failure> {
    match b.call("changes_list", &w.args()).await {
        Ok(ToolData::Changes(c)) => Ok(c.into_iter().filter(|c| services.contains(&c.service)).collect()),
        Ok(_) => Ok(Vec::new()),
        Err(e) => Err(Failure::Other(format!("reading changes: {e}"))),
    }
}

/// A change as a scenario's `[[event]]`: `at` from the start of the window,
/// a kind the scenario format knows (`other` for one it does not), the summary redacted.
fn event_toml(c: &Change, w: &Window, red: &Redactor) -> String {
    const KINDS: &[&str] = &[
        "deploy",
        "config_change",
        "scale",
        "feature_flag",
        "restart",
        "rollback",
    ];
    let kind = if KINDS.contains(&c.kind.as_str()) {
        c.kind.as_str()
    } else {
        "other"
    };
    format!(
        "\n[[event]]\nat = \"{}\"\nkind = \"{kind}\"\ntarget = {}\nsummary = {}\n",
        secs((c.at.millis() - w.start).clamp(0, w.end - w.start)),
        toml_str(&c.service),
        toml_str(&red.redact(&c.summary))
    )
}

/// What was read, to be written.
struct Recording<'a> {
    series: Vec<MetricSeries>,
    logs: &'a [LogLine],
    kube: Option<Value>,
    changes: &'a [Change],
}

/// OpenMetrics text as `promtool tsdb create-blocks-from openmetrics` and the
/// scenario loader read it: one family at a time, timestamps in seconds.
fn openmetrics(series: &[MetricSeries]) -> Vec<u8> {
    let esc = |v: &str| v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n");
    let mut families: BTreeMap<&str, Vec<&MetricSeries>> = BTreeMap::new();
    for s in series {
        families.entry(s.name()).or_default().push(s);
    }
    let mut out = String::new();
    for (name, list) in families {
        out.push_str(&format!("# TYPE {name} unknown\n"));
        for s in list {
            let labels: Vec<String> = s
                .labels
                .iter()
                .filter(|(k, _)| k.as_str() != "__name__")
                .map(|(k, v)| format!("{k}=\"{}\"", esc(v)))
                .collect();
            let head = format!("{name}{{{}}}", labels.join(","));
            for (t, v) in &s.samples {
                let ts = if t % 1000 == 0 {
                    format!("{}", t / 1000)
                } else {
                    format!("{}.{:03}", t.div_euclid(1000), t.rem_euclid(1000))
                };
                let v = if v.is_nan() {
                    "NaN".to_string()
                } else if v.is_infinite() {
                    if *v > 0.0 { "+Inf" } else { "-Inf" }.to_string()
                } else {
                    format!("{v}")
                };
                out.push_str(&format!("{head} {v} {ts}\n"));
            }
        }
    }
    out.push_str("# EOF\n");
    out.into_bytes()
}

fn toml_str(s: &str) -> String {
    // JSON's string escapes are all valid in TOML basic strings.
    Value::String(s.to_string()).to_string()
}

fn secs(ms: i64) -> String {
    format!("{}s", ms / 1000)
}

fn write(
    a: &CaptureArgs,
    alert: &Alert,
    truth: &(String, FaultKind),
    w: &Window,
    g: &Graph,
    services: &BTreeSet<String>,
    rec: Recording,
) -> Result<Written, Failure> {
    let Recording {
        mut series,
        logs,
        kube,
        changes,
    } = rec;
    let red = Redactor::new();
    let io = |p: &Path, e: std::io::Error| Failure::Other(format!("{}: {e}", p.display()));
    let stem = a
        .out
        .file_stem()
        .map(|s| s.to_string_lossy().to_string())
        .unwrap_or_else(|| "captured".into());
    let id: String = stem
        .to_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let id = id.trim_matches('-').to_string();
    let id = if id.is_empty() { "captured".to_string() } else { id };
    let parent = a
        .out
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let dir = parent.join(&stem);
    std::fs::create_dir_all(&dir).map_err(|e| io(&dir, e))?;

    for s in &mut series {
        for v in s.labels.values_mut() {
            *v = red.redact(v);
        }
    }
    let samples = series.iter().map(|s| s.samples.len()).sum();
    let n_series = series.len();
    let om = openmetrics(&series);
    let mut files = Vec::new();
    // Compressed with a fixed header (no name, no time): the same capture gives the same bytes.
    let gz = |bytes: &[u8]| -> std::io::Result<Vec<u8>> {
        use std::io::Write;
        let mut e = flate2::GzBuilder::new().write(Vec::new(), flate2::Compression::best());
        e.write_all(bytes)?;
        e.finish()
    };
    let mut put = |name: &str, bytes: &[u8]| -> Result<String, Failure> {
        let packed = a.gzip;
        let name = if packed { format!("{name}.gz") } else { name.to_string() };
        let p = dir.join(&name);
        let bytes = if packed {
            gz(bytes).map_err(|e| io(&p, e))?
        } else {
            bytes.to_vec()
        };
        std::fs::write(&p, &bytes).map_err(|e| io(&p, e))?;
        files.push((p, bytes.len() as u64));
        Ok(format!("{stem}/{name}"))
    };
    let metrics = put("metrics.om", &om)?;
    let mut recorded = vec![format!("metrics = {}", toml_str(&metrics))];
    if !logs.is_empty() {
        let mut text = String::new();
        for l in logs {
            let mut l = l.clone();
            l.message = red.redact(&l.message);
            let v = serde_json::to_value(&l).map_err(|e| Failure::Other(e.to_string()))?;
            text.push_str(&v.to_string());
            text.push('\n');
        }
        let logs = put("logs.jsonl", text.as_bytes())?;
        recorded.push(format!("logs = {}", toml_str(&logs)));
    }
    let mut n_kube = 0;
    if let Some(mut k) = kube {
        red.redact_json(&mut k);
        n_kube = k
            .as_object()
            .map(|o| o.values().filter_map(Value::as_array).map(Vec::len).sum())
            .unwrap_or(0);
        let objects = put("k8s.json", k.to_string().as_bytes())?;
        recorded.push(format!("kubernetes = {}", toml_str(&objects)));
    }

    let mut t = scenario_toml(&id, alert, truth, w, g, services, &recorded, &red);
    for c in changes {
        t.push_str(&event_toml(c, w, &red));
    }
    std::fs::write(&a.out, &t).map_err(|e| io(&a.out, e))?;
    files.insert(0, (a.out.clone(), t.len() as u64));
    // What was written must load as a scenario: checked here rather than found out later.
    crate::sources::sim::Simulator::load(&a.out.display().to_string())
        .map_err(|e| Failure::Other(format!("the captured scenario does not load: {e}")))?;
    Ok(Written {
        services: services.iter().map(|s| clean(s)).collect(),
        series: n_series,
        samples,
        logs: logs.len(),
        kube: n_kube,
        changes: changes.len(),
        files,
    })
}

/// The scenario file: header, the alert, the services and their calls, the truth, the recording.
#[allow(clippy::too_many_arguments)]
fn scenario_toml(
    id: &str,
    alert: &Alert,
    truth: &(String, FaultKind),
    w: &Window,
    g: &Graph,
    services: &BTreeSet<String>,
    recorded: &[String],
    red: &Redactor,
) -> String {
    let mut t = String::new();
    let start = Timestamp::from_millis(w.start);
    t.push_str(&format!("id = {}\n", toml_str(id)));
    t.push_str(&format!(
        "title = {}\n",
        toml_str(&red.redact(&format!(
            "Recorded: {} on {} at {}",
            alert.name,
            alert.service().unwrap_or("?"),
            alert.starts_at.to_rfc3339()
        )))
    ));
    t.push_str("seed = 1\n");
    t.push_str(&format!(
        "window = \"{}\"\nstep = \"{}\"\n",
        secs(w.end - w.start),
        secs(w.step)
    ));
    t.push_str(&format!("start = {}\n", toml_str(&start.to_rfc3339())));
    t.push_str("tags = [\"recorded\"]\n\n[alert]\n");
    t.push_str(&format!("name = {}\n", toml_str(&red.redact(&alert.name))));
    t.push_str(&format!("at = \"{}\"\n", secs(alert.starts_at.millis() - w.start)));
    let sev = if ["page", "ticket", "info"].contains(&alert.severity.as_str()) {
        alert.severity.as_str()
    } else {
        "page"
    };
    t.push_str(&format!("severity = {}\n", toml_str(sev)));
    let labels: Vec<String> = alert
        .labels
        .iter()
        .filter(|(k, _)| k.as_str() != "alertname")
        .map(|(k, v)| format!("{} = {}", toml_str(k), toml_str(&red.redact(v))))
        .collect();
    t.push_str(&format!("labels = {{ {} }}\n", labels.join(", ")));
    t.push_str(&format!(
        "summary = {}\n",
        toml_str(&red.redact(alert.summary().unwrap_or("")))
    ));
    for s in services {
        let calls: Vec<String> = g
            .edges
            .iter()
            .filter(|(a, b)| a == s && services.contains(b))
            .map(|(_, b)| toml_str(b))
            .collect();
        t.push_str(&format!(
            "\n[[service]]\nname = {}\nkind = \"{}\"\ncalls = [{}]\n",
            toml_str(s),
            g.kinds.get(s.as_str()).copied().unwrap_or("http"),
            calls.join(", ")
        ));
    }
    let kind = serde_json::to_value(truth.1)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default();
    t.push_str(&format!(
        "\n[truth]\nservice = {}\nkind = {}\nnote = {}\n",
        toml_str(&truth.0),
        toml_str(&kind),
        toml_str("Recorded from a real stack; the truth is what was injected or graded correct.")
    ));
    t.push_str(&format!("\n[recorded]\n{}\n", recorded.join("\n")));
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(labels: &[(&str, &str)], v: &[f64]) -> MetricSeries {
        MetricSeries {
            labels: labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            samples: v.iter().enumerate().map(|(i, x)| (i as i64 * 30_000, *x)).collect(),
        }
    }

    #[test]
    fn counters_are_summed_without_their_resets() {
        let a = s(
            &[("__name__", "c"), ("service", "x"), ("pod", "p1")],
            &[10.0, 20.0, 5.0, 15.0],
        );
        let b = s(
            &[("__name__", "c"), ("service", "x"), ("pod", "p2")],
            &[1.0, 2.0, 3.0, 4.0],
        );
        let out = sum_counters(vec![a, b], &["service"]);
        assert_eq!(out.len(), 1);
        assert!(!out[0].labels.contains_key("pod"));
        // p1 restarted between 20 and 5: its count goes on from 20, never down.
        let v: Vec<f64> = out[0].samples.iter().map(|x| x.1).collect();
        assert_eq!(v, vec![11.0, 22.0, 28.0, 39.0]);
    }

    #[test]
    fn buckets_that_change_no_quantile_are_dropped() {
        let b = |le: &str, v: &[f64]| s(&[("__name__", "h_bucket"), ("service", "x"), ("le", le)], v);
        let series = vec![
            b("0.005", &[0.0, 0.0, 0.0]),
            b("0.01", &[0.0, 0.0, 0.0]),
            b("0.025", &[1.0, 3.0, 5.0]),
            b("0.05", &[2.0, 6.0, 9.0]),
            b("0.1", &[4.0, 8.0, 12.0]),
            b("0.25", &[4.0, 8.0, 12.0]),
            b("+Inf", &[4.0, 8.0, 12.0]),
        ];
        let kept: Vec<String> = trim_buckets(series).iter().map(|s| s.label("le").to_string()).collect();
        // 0.01 stays as 0.025's lower bound; 0.1 is the first to hold everything.
        assert_eq!(kept, vec!["0.01", "0.025", "0.05", "0.1", "+Inf"]);
    }

    #[test]
    fn the_neighbourhood_follows_calls_both_ways_within_the_hops() {
        let mut g = Graph::default();
        for (a, b) in [("fe", "co"), ("co", "db"), ("co", "pay"), ("pay", "bank"), ("x", "y")] {
            g.edges.insert((a.into(), b.into()));
        }
        let n = g.neighbourhood("co", 1);
        assert_eq!(n.into_iter().collect::<Vec<_>>(), vec!["co", "db", "fe", "pay"]);
        assert!(g.neighbourhood("co", 2).contains("bank"));
        assert!(!g.neighbourhood("co", 5).contains("x"));
    }

    #[test]
    fn log_files_keep_the_window_and_the_services_and_name_a_bad_line() {
        let dir = std::env::temp_dir().join(format!("inquest-capture-logs-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("svc.log");
        std::fs::write(
            &p,
            concat!(
                r#"{"ts":"2026-12-02T04:00:00Z","service":"db","level":"error","message":"too many connections","route":"/q"}"#,
                "\n",
                r#"{"ts":"2026-12-02T04:00:00Z","service":"other","level":"info","message":"x"}"#,
                "\n",
                r#"{"ts":"2026-12-02T05:00:00Z","service":"db","level":"info","message":"late"}"#,
                "\n"
            ),
        )
        .unwrap();
        let t = Timestamp::parse_rfc3339("2026-12-02T04:00:00Z").unwrap().millis();
        let w = Window {
            start: t - 60_000,
            end: t + 60_000,
            step: 30_000,
        };
        let svcs = BTreeSet::from(["db".to_string()]);
        let got = file_logs(&p, &w, &svcs).ok().unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].message, "too many connections route=/q");
        std::fs::write(&p, "{\"service\":\"db\"}\n").unwrap();
        match file_logs(&p, &w, &svcs) {
            Err(Failure::BadInput(m)) => assert!(m.ends_with("svc.log:1: expected \"ts\" (RFC 3339)"), "{m}"),
            _ => panic!("a line without a time is refused"),
        }
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn changes_become_events_of_a_kind_the_format_knows() {
        let w = Window {
            start: 1_000_000,
            end: 2_800_000,
            step: 30_000,
        };
        let c = |kind: &str, at_ms: i64| Change {
            at: Timestamp::from_millis(at_ms),
            kind: kind.into(),
            service: "payments".into(),
            summary: "payments 2.0.0".into(),
            namespace: None,
        };
        let red = Redactor::new();
        let e = event_toml(&c("rollback", 1_600_000), &w, &red);
        assert!(
            e.contains("at = \"600s\"\nkind = \"rollback\"\ntarget = \"payments\""),
            "{e}"
        );
        let e = event_toml(&c("feature_toggle", 1_000_500), &w, &red);
        assert!(e.contains("at = \"0s\"\nkind = \"other\""), "{e}");
    }

    #[test]
    fn truth_is_service_slash_kind() {
        let (svc, kind) = parse_truth("orders-db/connection_pool_exhaustion").ok().unwrap();
        assert_eq!((svc.as_str(), kind), ("orders-db", FaultKind::ConnectionPoolExhaustion));
        assert!(matches!(parse_truth("orders-db"), Err(Failure::BadInput(_))));
        match parse_truth("orders-db/slow") {
            Err(Failure::BadInput(m)) => assert!(m.contains("not a fault kind"), "{m}"),
            _ => panic!("an unknown kind is refused"),
        }
    }
}
