//! A real Prometheus, read through its HTTP API v1: instant and range
//! queries, series and label values. Read-only by construction: only GET
//! requests to the query endpoints exist here.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use super::families::{Families, HTTP_CLIENT, HTTP_SERVER};
use super::http::{Http, backend_err};
use super::rewrite::{Back, Mapping};
use super::telemetry::{InstantResult, MetricSeries};
use super::{Backend, BoxFuture, SourceError, ToolData, required_str, time_arg};
use crate::config::families::{FamiliesTable, Profile};
use crate::model::Timestamp;

/// How a request proves who it is.
#[derive(Clone, Debug, Default)]
pub enum Auth {
    #[default]
    None,
    Bearer(String),
    Basic {
        user: String,
        password: String,
    },
}

#[derive(Clone, Debug)]
pub struct Config {
    /// e.g. `http://127.0.0.1:9090`
    pub url: String,
    pub auth: Auth,
    pub timeout: Duration,
    /// Extra CA certificate (PEM) for a private TLS endpoint.
    pub ca_pem: Option<Vec<u8>>,
    /// Attempts for a request that fails with 5xx, 429 or a connection error.
    pub attempts: u32,
    /// inquest's names → the stack's: families over the plain label map.
    pub mapping: Mapping,
    /// `families = "auto"`: the profile is read from the metric names on first use.
    pub auto: Option<FamiliesTable>,
}

pub struct Prometheus {
    cfg: Config,
    http: Http,
    /// The mapping in force when it needs the server (auto profile, peers from
    /// the scrape targets): read on first use and again from time to time.
    resolved: tokio::sync::Mutex<Option<Resolved>>,
    /// The configured mapping, when it needs nothing from the server.
    fixed: Arc<Mapping>,
}

struct Resolved {
    at: std::time::Instant,
    mapping: Arc<Mapping>,
    /// Whether `auto` found a convention; if not, it looks again sooner (a new Prometheus fills up).
    settled: bool,
}

/// How long a resolved mapping holds: a stack changes conventions rarely, an empty Prometheus soon has data.
const SETTLED_FOR: Duration = Duration::from_secs(3600);
const UNSETTLED_FOR: Duration = Duration::from_secs(60);

fn secs(t: Timestamp) -> String {
    format!("{:.3}", t.secs_f64())
}

/// `[ts, "value"]` as (unix ms, value).
fn sample(v: &Value) -> Option<(i64, f64)> {
    let a = v.as_array()?;
    let t = a.first()?.as_f64()?;
    let x = match a.get(1)? {
        Value::String(s) => match s.as_str() {
            "NaN" => f64::NAN,
            "+Inf" => f64::INFINITY,
            "-Inf" => f64::NEG_INFINITY,
            s => s.parse().ok()?,
        },
        Value::Number(n) => n.as_f64()?,
        _ => return None,
    };
    Some(((t * 1000.0).round() as i64, x))
}

fn labels(v: &Value) -> BTreeMap<String, String> {
    v.as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").to_string()))
                .collect()
        })
        .unwrap_or_default()
}

/// The `data` of a successful API answer, or the error it carries.
pub fn parse_envelope(endpoint: &str, status: u16, body: &str) -> Result<Value, SourceError> {
    let v: Value = serde_json::from_str(body).map_err(|e| {
        let head: String = body.chars().take(120).collect();
        backend_err(
            endpoint,
            format!("HTTP {status}: not a Prometheus API answer ({e}): {head}"),
        )
    })?;
    match v.get("status").and_then(Value::as_str) {
        Some("success") => Ok(v.get("data").cloned().unwrap_or(Value::Null)),
        _ => {
            let kind = v.get("errorType").and_then(Value::as_str).unwrap_or("error");
            let msg = v.get("error").and_then(Value::as_str).unwrap_or("no error message");
            Err(backend_err(endpoint, format!("HTTP {status}: {kind}: {msg}")))
        }
    }
}

/// A query result in the simulator's shapes.
pub fn parse_result(endpoint: &str, data: &Value) -> Result<ToolData, SourceError> {
    let kind = data.get("resultType").and_then(Value::as_str).unwrap_or("");
    let result = data.get("result").cloned().unwrap_or(Value::Null);
    let series = |with_values: bool| -> Vec<MetricSeries> {
        result
            .as_array()
            .map(|items| {
                items
                    .iter()
                    .map(|s| MetricSeries {
                        labels: labels(&s["metric"]),
                        samples: if with_values {
                            s["values"]
                                .as_array()
                                .map(|v| v.iter().filter_map(sample).collect())
                                .unwrap_or_default()
                        } else {
                            sample(&s["value"]).into_iter().collect()
                        },
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    match kind {
        "matrix" => Ok(ToolData::Matrix(series(true))),
        "vector" => Ok(ToolData::Instant(InstantResult::Vector(series(false)))),
        "scalar" => {
            let (t, x) = sample(&result).ok_or_else(|| backend_err(endpoint, "a scalar without a value"))?;
            Ok(ToolData::Instant(InstantResult::Scalar((t, x))))
        }
        other => Err(backend_err(endpoint, format!("unexpected result type {other:?}"))),
    }
}

impl Prometheus {
    pub fn new(cfg: Config) -> Result<Prometheus, String> {
        let http = Http::new(cfg.timeout, cfg.ca_pem.as_deref(), Vec::new())?.with_attempts(cfg.attempts);
        Ok(Prometheus {
            fixed: Arc::new(cfg.mapping.clone()),
            cfg,
            http,
            resolved: tokio::sync::Mutex::new(None),
        })
    }

    /// The mapping queries go through: the configured one, or for `auto` the
    /// profile the metric names present call for; peers named by address are
    /// looked up among the scrape targets. A failed look-up keeps the last mapping.
    pub async fn mapping(&self) -> Result<Arc<Mapping>, SourceError> {
        let m = &self.cfg.mapping;
        if self.cfg.auto.is_none() && m.families.peers.label.is_none() {
            return Ok(self.fixed.clone());
        }
        let mut slot = self.resolved.lock().await;
        if let Some(r) = slot.as_ref() {
            let ttl = if r.settled { SETTLED_FOR } else { UNSETTLED_FOR };
            if r.at.elapsed() < ttl {
                return Ok(r.mapping.clone());
            }
        }
        let mut m = m.clone();
        let mut settled = true;
        if let Some(t) = &self.cfg.auto {
            match self.detect(t).await {
                Ok((f, found)) => {
                    m.families = f;
                    settled = found;
                }
                Err(e) => match slot.as_ref() {
                    Some(r) => return Ok(r.mapping.clone()),
                    None => return Err(e),
                },
            }
        }
        if m.families.peers.label.is_some() {
            // Without the targets, the table and the name patterns still name peers.
            m.families.peers.discovered = self.targets().await.unwrap_or_default();
        }
        let mapping = Arc::new(m);
        *slot = Some(Resolved {
            at: std::time::Instant::now(),
            mapping: mapping.clone(),
            settled,
        });
        Ok(mapping)
    }

    /// Every metric name the Prometheus has (within a window, if given).
    pub async fn metric_names(&self, window: Option<(Timestamp, Timestamp)>) -> Result<Vec<String>, SourceError> {
        let data = self
            .get("/api/v1/label/__name__/values", &window_params(window))
            .await?;
        Ok(strings(&data))
    }

    /// The label names a metric's series carry, in the stack's names.
    pub async fn labels_of(
        &self,
        metric: &str,
        window: Option<(Timestamp, Timestamp)>,
    ) -> Result<Vec<String>, SourceError> {
        let mut params = window_params(window);
        params.push(("match[]", metric.to_string()));
        let data = self.get("/api/v1/labels", &params).await?;
        Ok(strings(&data))
    }

    /// The values of a label (the stack's name) on a metric's series (the stack's name), within a window.
    pub async fn raw_label_values(
        &self,
        label: &str,
        metric: &str,
        window: Option<(Timestamp, Timestamp)>,
    ) -> Result<Vec<String>, SourceError> {
        if !label.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(SourceError::BadArgs(format!("label: {label:?} is not a label name")));
        }
        let mut params = window_params(window);
        params.push(("match[]", metric.to_string()));
        let data = self.get(&format!("/api/v1/label/{label}/values"), &params).await?;
        Ok(strings(&data))
    }

    /// The profile the metric names call for, and how stock OpenTelemetry names its labels here.
    async fn detect(&self, t: &FamiliesTable) -> Result<(Families, bool), SourceError> {
        let names: std::collections::BTreeSet<String> = self.metric_names(None).await?.into_iter().collect();
        let (profile, reason, found) = super::families::detect(&names);
        let mut f =
            Families::new(profile, t, &self.cfg.mapping.families.peers.table, &reason).map_err(SourceError::BadArgs)?;
        if profile != Profile::Otel {
            return Ok((f, found));
        }
        let client = format!("{HTTP_CLIENT}_count");
        if names.contains(&client) && f.peers.label.is_none() {
            let l = self.labels_of(&client, None).await?;
            let has = |n: &str| l.iter().any(|x| x == n);
            if !has("peer_service") && has("server_address") {
                f.peers.label = Some("server_address".into());
                f.peers.port = has("server_port").then(|| "server_port".into());
                f.reason.push_str("; peers from server_address");
            }
        }
        let server = format!("{HTTP_SERVER}_count");
        if names.contains(&server) && !self.cfg.mapping.labels.0.contains_key("service") {
            let l = self.labels_of(&server, None).await?;
            if !l.iter().any(|x| x == "service") && l.iter().any(|x| x == "job") {
                for fam in f.list.iter_mut().filter(|x| x.key.starts_with("http_")) {
                    fam.labels.entry("service".into()).or_insert_with(|| "job".into());
                }
                f.reason.push_str("; service from job");
            }
        }
        Ok((f, found))
    }

    /// host → service from the scrape targets (`up`, and OpenTelemetry's
    /// `target_info`): instance and job, where a host is one job's only.
    async fn targets(&self) -> Result<BTreeMap<String, String>, SourceError> {
        // The targets of the last day: a host that served another job long ago does not blur today's.
        let now = Timestamp::now();
        let mut params = window_params(Some((Timestamp::from_millis(now.millis() - 86_400_000), now)));
        params.push(("match[]", "up".to_string()));
        params.push(("match[]", "target_info".to_string()));
        let data = self.get("/api/v1/series", &params).await?;
        let mut jobs: BTreeMap<String, std::collections::BTreeSet<String>> = BTreeMap::new();
        for s in data.as_array().into_iter().flatten() {
            let l = labels(s);
            let (Some(inst), Some(job)) = (l.get("instance"), l.get("job")) else {
                continue;
            };
            let host = match inst.rsplit_once(':') {
                Some((h, p)) if p.chars().all(|c| c.is_ascii_digit()) => h,
                _ => inst.as_str(),
            };
            // OpenTelemetry's job is `service.namespace/service.name`.
            let job = job.rsplit('/').next().unwrap_or(job);
            jobs.entry(host.trim_matches(['[', ']']).to_string())
                .or_default()
                .insert(job.to_string());
        }
        Ok(jobs
            .into_iter()
            .filter(|(h, j)| j.len() == 1 && !h.is_empty() && h != "localhost" && h != "127.0.0.1")
            .filter_map(|(h, j)| j.into_iter().next().map(|j| (h, j)))
            .collect())
    }

    /// A query in the stack's names, and how its answer comes back.
    async fn query(&self, q: &str) -> Result<(String, Back), SourceError> {
        self.mapping()
            .await?
            .promql(q)
            .map_err(|e| SourceError::BadArgs(format!("query: {e}")))
    }

    /// `match[]` selectors in the stack's names.
    async fn matchers(&self, args: &Value) -> Result<(Vec<(&'static str, String)>, Back), SourceError> {
        let mut back = None;
        let mut out = Vec::new();
        for (k, m) in matchers(args) {
            let (q, b) = self
                .mapping()
                .await?
                .selector_only(&m)
                .map_err(|e| SourceError::BadArgs(format!("match[]: {e}")))?;
            back.get_or_insert(b);
            out.push((k, q));
        }
        let back = match back {
            Some(b) => b,
            None => self.mapping().await?.back_all(),
        };
        Ok((out, back))
    }

    /// The parameters of the metadata endpoints (series, labels, label values):
    /// the `match[]` selectors in the stack's names, and the window (default the last hour).
    async fn metadata_params(
        &self,
        args: &Value,
        now: Timestamp,
    ) -> Result<(Vec<(&'static str, String)>, Back), SourceError> {
        let (start, end) = times(args, now, 3_600_000)?;
        let (mut params, back) = self.matchers(args).await?;
        params.push(("start", secs(start)));
        params.push(("end", secs(end)));
        Ok((params, back))
    }

    /// A result in inquest's names.
    fn back(back: &Back, mut d: ToolData) -> Result<ToolData, SourceError> {
        if let ToolData::Matrix(m) | ToolData::Instant(InstantResult::Vector(m)) = &mut d {
            back.series(m);
        }
        Ok(d)
    }

    fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.cfg.url.trim_end_matches('/'))
    }

    async fn get(&self, path: &str, params: &[(&str, String)]) -> Result<Value, SourceError> {
        let url = self.endpoint(path);
        let auth = |req: reqwest::RequestBuilder| match &self.cfg.auth {
            Auth::None => req,
            Auth::Bearer(t) => req.bearer_auth(t),
            Auth::Basic { user, password } => req.basic_auth(user, Some(password)),
        };
        let (status, body) = self.http.get(&url, params, auth).await?;
        let data = parse_envelope(&url, status, &body)?;
        // A server still failing after the retries, whatever its body says.
        if status == 429 || status >= 500 {
            return Err(backend_err(&url, format!("HTTP {status}")));
        }
        Ok(data)
    }
}

fn times(args: &Value, now: Timestamp, lookback_ms: i64) -> Result<(Timestamp, Timestamp), SourceError> {
    let end = time_arg(args, "end")?.unwrap_or(now);
    let start = time_arg(args, "start")?.unwrap_or(Timestamp(end.0 - lookback_ms * 1_000_000));
    Ok((start, end))
}

fn window_params(window: Option<(Timestamp, Timestamp)>) -> Vec<(&'static str, String)> {
    window
        .map(|(a, b)| vec![("start", secs(a)), ("end", secs(b))])
        .unwrap_or_default()
}

fn strings(data: &Value) -> Vec<String> {
    data.as_array()
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
        .unwrap_or_default()
}

fn matchers(args: &Value) -> Vec<(&'static str, String)> {
    args.get("match")
        .and_then(Value::as_array)
        .map(|m| {
            m.iter()
                .filter_map(Value::as_str)
                .map(|s| ("match[]", s.to_string()))
                .collect()
        })
        .unwrap_or_default()
}

impl Backend for Prometheus {
    fn call<'a>(&'a self, tool: &'a str, args: &'a Value) -> BoxFuture<'a, Result<ToolData, SourceError>> {
        Box::pin(async move {
            let now = Timestamp::now();
            match tool {
                "prometheus_query" => {
                    let (q, back) = self.query(required_str(args, "query")?).await?;
                    let t = time_arg(args, "time")?.unwrap_or(now);
                    let data = self.get("/api/v1/query", &[("query", q), ("time", secs(t))]).await?;
                    Self::back(&back, parse_result(&self.endpoint("/api/v1/query"), &data)?)
                }
                "prometheus_query_range" => {
                    let (q, back) = self.query(required_str(args, "query")?).await?;
                    let (start, end) = times(args, now, 3_600_000)?;
                    let step = args.get("step").and_then(Value::as_str).unwrap_or("30s").to_string();
                    let params = [("query", q), ("start", secs(start)), ("end", secs(end)), ("step", step)];
                    let data = self.get("/api/v1/query_range", &params).await?;
                    Self::back(&back, parse_result(&self.endpoint("/api/v1/query_range"), &data)?)
                }
                "prometheus_series" => {
                    let (params, back) = self.metadata_params(args, now).await?;
                    let data = self.get("/api/v1/series", &params).await?;
                    let mut sets: Vec<BTreeMap<String, String>> = data
                        .as_array()
                        .map(|a| a.iter().map(labels).collect())
                        .unwrap_or_default();
                    for s in &mut sets {
                        back.labels(s);
                    }
                    Ok(ToolData::LabelSets(sets))
                }
                "prometheus_label_values" => {
                    let canon = required_str(args, "label")?;
                    let mapping = self.mapping().await?;
                    // The label's name in the family the first `match[]` selects, else the plain map's.
                    let family = matchers(args).first().and_then(|(_, m)| {
                        let name = m.split(['{', ' ']).next().unwrap_or("");
                        mapping.families.of(name)
                    });
                    let label = mapping.out_label(family, canon);
                    if !label.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                        return Err(SourceError::BadArgs(format!("label: {label:?} is not a label name")));
                    }
                    let (params, _) = self.metadata_params(args, now).await?;
                    let data = self.get(&format!("/api/v1/label/{label}/values"), &params).await?;
                    let mut values = strings(&data);
                    if canon == "__name__" {
                        // inquest's names for the families the stack has under other names.
                        let canon: Vec<String> = values
                            .iter()
                            .filter_map(|v| mapping.families.canon_name(v).map(str::to_string))
                            .collect();
                        values.extend(canon);
                        values.sort();
                        values.dedup();
                    }
                    Ok(ToolData::Strings(values))
                }
                "prometheus_labels" => {
                    let (params, back) = self.metadata_params(args, now).await?;
                    let data = self.get("/api/v1/labels", &params).await?;
                    Ok(ToolData::Strings(back.names(strings(&data))))
                }
                other => Err(SourceError::UnknownTool(other.to_string())),
            }
        })
    }

    fn describe(&self) -> String {
        format!("prometheus:{}", self.cfg.url)
    }

    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_answers_become_tool_data() {
        let body = r#"{"status":"success","data":{"resultType":"matrix","result":[
            {"metric":{"__name__":"up","job":"api"},"values":[[1700000000,"1"],[1700000015.5,"NaN"]]}]}}"#;
        let data = parse_envelope("e", 200, body).unwrap();
        let ToolData::Matrix(m) = parse_result("e", &data).unwrap() else {
            panic!()
        };
        assert_eq!(m[0].labels["job"], "api");
        assert_eq!(m[0].samples[0], (1_700_000_000_000, 1.0));
        assert_eq!(m[0].samples[1].0, 1_700_000_015_500);
        assert!(m[0].samples[1].1.is_nan());
        let v = parse_envelope("e", 200, r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1700000000,"+Inf"]}]}}"#).unwrap();
        let ToolData::Instant(InstantResult::Vector(v)) = parse_result("e", &v).unwrap() else {
            panic!()
        };
        assert_eq!(v[0].samples[0].1, f64::INFINITY);
    }

    #[test]
    fn errors_name_the_endpoint_and_say_what_went_wrong() {
        let e = parse_envelope(
            "http://p:9090/api/v1/query",
            400,
            r#"{"status":"error","errorType":"bad_data","error":"parse error at char 5"}"#,
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("http://p:9090/api/v1/query") && e.contains("bad_data") && e.contains("char 5"),
            "{e}"
        );
        let e = parse_envelope("http://p:9090/api/v1/query", 502, "<html>Bad Gateway</html>")
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("HTTP 502") && e.contains("not a Prometheus API answer"),
            "{e}"
        );
    }
}
