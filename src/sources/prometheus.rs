//! A real Prometheus, read through its HTTP API v1: instant and range
//! queries, series and label values. Read-only by construction: only GET
//! requests to the query endpoints exist here.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use super::http::{Http, backend_err};
use super::telemetry::{InstantResult, MetricSeries};
use super::{Backend, BoxFuture, SourceError, ToolData, required_str, time_arg};
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
    /// inquest's label names → the stack's.
    pub labels: super::labels::LabelMap,
}

pub struct Prometheus {
    cfg: Config,
    http: Http,
}

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
        Ok(Prometheus { cfg, http })
    }

    /// A query in the stack's label names.
    fn query(&self, q: &str) -> Result<String, SourceError> {
        self.cfg
            .labels
            .promql(q)
            .map_err(|e| SourceError::BadArgs(format!("query: {e}")))
    }

    /// `match[]` selectors in the stack's label names.
    fn matchers(&self, args: &Value) -> Result<Vec<(&'static str, String)>, SourceError> {
        matchers(args)
            .into_iter()
            .map(|(k, m)| Ok((k, self.query(&m)?)))
            .collect()
    }

    /// The parameters of the metadata endpoints (series, labels, label values):
    /// the `match[]` selectors in the stack's names, and the window (default the last hour).
    fn metadata_params(&self, args: &Value, now: Timestamp) -> Result<Vec<(&'static str, String)>, SourceError> {
        let (start, end) = times(args, now, 3_600_000)?;
        let mut params = self.matchers(args)?;
        params.push(("start", secs(start)));
        params.push(("end", secs(end)));
        Ok(params)
    }

    /// A result in inquest's label names.
    fn back(&self, mut d: ToolData) -> Result<ToolData, SourceError> {
        if let ToolData::Matrix(m) | ToolData::Instant(InstantResult::Vector(m)) = &mut d {
            self.cfg.labels.back_series(m);
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
                    let q = self.query(required_str(args, "query")?)?;
                    let t = time_arg(args, "time")?.unwrap_or(now);
                    let data = self.get("/api/v1/query", &[("query", q), ("time", secs(t))]).await?;
                    self.back(parse_result(&self.endpoint("/api/v1/query"), &data)?)
                }
                "prometheus_query_range" => {
                    let q = self.query(required_str(args, "query")?)?;
                    let (start, end) = times(args, now, 3_600_000)?;
                    let step = args.get("step").and_then(Value::as_str).unwrap_or("30s").to_string();
                    let params = [("query", q), ("start", secs(start)), ("end", secs(end)), ("step", step)];
                    let data = self.get("/api/v1/query_range", &params).await?;
                    self.back(parse_result(&self.endpoint("/api/v1/query_range"), &data)?)
                }
                "prometheus_series" => {
                    let params = self.metadata_params(args, now)?;
                    let data = self.get("/api/v1/series", &params).await?;
                    let mut sets: Vec<BTreeMap<String, String>> = data
                        .as_array()
                        .map(|a| a.iter().map(labels).collect())
                        .unwrap_or_default();
                    for s in &mut sets {
                        self.cfg.labels.back(s);
                    }
                    Ok(ToolData::LabelSets(sets))
                }
                "prometheus_label_values" => {
                    let label = required_str(args, "label")?;
                    let label = self.cfg.labels.0.get(label).map(String::as_str).unwrap_or(label);
                    if !label.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                        return Err(SourceError::BadArgs(format!("label: {label:?} is not a label name")));
                    }
                    let params = self.metadata_params(args, now)?;
                    let data = self.get(&format!("/api/v1/label/{label}/values"), &params).await?;
                    Ok(ToolData::Strings(
                        data.as_array()
                            .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
                            .unwrap_or_default(),
                    ))
                }
                "prometheus_labels" => {
                    let params = self.metadata_params(args, now)?;
                    let data = self.get("/api/v1/labels", &params).await?;
                    let names = data
                        .as_array()
                        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_string).collect())
                        .unwrap_or_default();
                    Ok(ToolData::Strings(self.cfg.labels.back_names(names)))
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
