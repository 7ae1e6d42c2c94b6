//! Loki and Jaeger as loopback servers that answer in those systems' JSON,
//! built from a scenario's telemetry; then the same servers answering with an
//! error body, a 500, nothing in time, and broken JSON. Each fault fails the
//! tool calls it touches, names the endpoint, and the investigation goes on.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use inquest::model::Timestamp;
use inquest::sources::sim::Simulator;
use inquest::sources::{Backend, ToolData};
use serde_json::{Value, json};

mod common;

const SCENARIO: &str = "checkout-db-pool";

#[derive(Clone, Copy, PartialEq, Debug)]
enum Mode {
    Real = 0,
    ErrorBody = 1,
    Status500 = 2,
    Slow = 3,
    Malformed = 4,
}

struct Fake {
    sim: Simulator,
    mode: AtomicU8,
    /// Answer trace requests as Tempo does, not as Jaeger.
    tempo: bool,
}

fn b64(hex: &str) -> String {
    use base64::Engine;
    let bytes: Vec<u8> = (0..hex.len() / 2)
        .map(|i| u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).unwrap())
        .collect();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn tempo_trace(spans: &[inquest::sources::telemetry::Span]) -> Value {
    let mut by_service: std::collections::BTreeMap<&str, Vec<Value>> = Default::default();
    for s in spans {
        let start = s.start.0;
        let end = start + (s.duration_ms * 1e6) as i64;
        by_service.entry(&s.service).or_default().push(json!({
            "traceId": b64(&s.trace_id), "spanId": b64(&s.span_id),
            "parentSpanId": s.parent_id.as_deref().map(b64).unwrap_or_default(),
            "name": s.name, "kind": "SPAN_KIND_SERVER",
            "startTimeUnixNano": start.to_string(), "endTimeUnixNano": end.to_string(),
            "status": if s.error { json!({"code": 2}) } else { json!({}) }
        }));
    }
    let batches: Vec<Value> = by_service
        .into_iter()
        .map(|(svc, spans)| {
            json!({
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": svc}}]},
                "scopeSpans": [{"scope": {"name": "sim"}, "spans": spans}]
            })
        })
        .collect();
    json!({"batches": batches})
}

fn ns_to_rfc(ns: &str) -> String {
    Timestamp(ns.parse().unwrap_or(0)).to_rfc3339()
}

fn us_to_rfc(us: &str) -> String {
    Timestamp(us.parse::<i64>().unwrap_or(0) * 1000).to_rfc3339()
}

fn jaeger_trace(spans: &[inquest::sources::telemetry::Span]) -> Value {
    let mut processes = serde_json::Map::new();
    let mut out = Vec::new();
    for s in spans {
        let pid = format!("p-{}", s.service);
        processes.insert(pid.clone(), json!({"serviceName": s.service, "tags": []}));
        let refs = s
            .parent_id
            .iter()
            .map(|p| json!({"refType": "CHILD_OF", "traceID": s.trace_id, "spanID": p}))
            .collect::<Vec<_>>();
        let tags = if s.error {
            vec![json!({"key": "error", "type": "bool", "value": true})]
        } else {
            vec![]
        };
        out.push(json!({
            "traceID": s.trace_id, "spanID": s.span_id, "operationName": s.name, "references": refs,
            "startTime": s.start.0 / 1000, "duration": (s.duration_ms * 1000.0).round() as i64,
            "processID": pid, "tags": tags, "logs": []
        }));
    }
    json!({"traceID": spans.first().map(|s| s.trace_id.clone()).unwrap_or_default(), "spans": out, "processes": processes, "warnings": null})
}

impl Fake {
    async fn answer(&self, path: &str, q: &std::collections::HashMap<String, String>) -> (u16, String) {
        match Mode::of(self.mode.load(Ordering::SeqCst)) {
            Mode::ErrorBody => {
                return (
                    400,
                    "parse error at line 1, col 7: syntax error: unexpected IDENTIFIER".into(),
                );
            }
            Mode::Status500 => return (500, "{\"error\":\"internal\"}".into()),
            Mode::Slow => {
                tokio::time::sleep(Duration::from_secs(3)).await;
                return (200, "{}".into());
            }
            Mode::Malformed => return (200, "{\"status\":\"success\",\"data\":{\"resultType\":".into()),
            Mode::Real => {}
        }
        if path == "/loki/api/v1/query_range" {
            let args = json!({
                "query": q["query"], "start": ns_to_rfc(&q["start"]), "end": ns_to_rfc(&q["end"]),
                "limit": q["limit"].parse::<u64>().unwrap_or(100), "direction": q["direction"]
            });
            let ToolData::Streams(streams) = self.sim.call("loki_query_range", &args).await.unwrap() else {
                panic!()
            };
            let result: Vec<Value> = streams
                .iter()
                .map(|s| json!({"stream": s.labels, "values": s.entries.iter().map(|(t, l)| json!([t.0.to_string(), l])).collect::<Vec<_>>()}))
                .collect();
            return (
                200,
                json!({"status": "success", "data": {"resultType": "streams", "result": result, "stats": {}}})
                    .to_string(),
            );
        }
        if path == "/loki/api/v1/labels" || path.starts_with("/loki/api/v1/label/") {
            let mut args = json!({"start": ns_to_rfc(&q["start"]), "end": ns_to_rfc(&q["end"])});
            if let Some(name) = path
                .strip_prefix("/loki/api/v1/label/")
                .and_then(|p| p.strip_suffix("/values"))
            {
                args["label"] = json!(name);
            }
            let ToolData::Strings(data) = self.sim.call("loki_labels", &args).await.unwrap() else {
                panic!()
            };
            return (200, json!({"status": "success", "data": data}).to_string());
        }
        if self.tempo && path == "/api/search" {
            let tags = q.get("tags").cloned().unwrap_or_default();
            let mut args = json!({"start": Timestamp::from_secs(q["start"].parse().unwrap()).to_rfc3339(),
                "end": Timestamp::from_secs(q["end"].parse().unwrap()).to_rfc3339(),
                "limit": q["limit"].parse::<u64>().unwrap_or(20)});
            for t in tags.split_whitespace() {
                match t.split_once('=') {
                    Some(("service.name", s)) => args["service"] = json!(s),
                    Some(("status", "error")) => args["error"] = json!(true),
                    _ => {}
                }
            }
            let ToolData::TraceList(list) = self.sim.call("traces_search", &args).await.unwrap() else {
                panic!()
            };
            let traces: Vec<Value> = list
                .iter()
                .map(|t| {
                    json!({"traceID": t.trace_id, "rootServiceName": t.root_service, "rootTraceName": t.root_name,
                    "startTimeUnixNano": t.start.0.to_string(), "durationMs": t.duration_ms.round() as i64})
                })
                .collect();
            return (
                200,
                json!({"traces": traces, "metrics": {"inspectedTraces": traces.len()}}).to_string(),
            );
        }
        if self.tempo
            && let Some(id) = path.strip_prefix("/api/traces/")
        {
            return match self.sim.call("trace_get", &json!({"trace_id": id})).await {
                Ok(ToolData::Trace(spans)) => (200, tempo_trace(&spans).to_string()),
                _ => (404, "trace not found".into()),
            };
        }
        if path == "/api/traces" {
            let mut args = json!({"service": q["service"], "start": us_to_rfc(&q["start"]), "end": us_to_rfc(&q["end"]),
                "limit": q["limit"].parse::<u64>().unwrap_or(20)});
            if q.get("tags").is_some_and(|t| t.contains("error")) {
                args["error"] = json!(true);
            }
            let ToolData::TraceList(list) = self.sim.call("traces_search", &args).await.unwrap() else {
                panic!()
            };
            let mut data = Vec::new();
            for t in list {
                if let Ok(ToolData::Trace(spans)) = self.sim.call("trace_get", &json!({"trace_id": t.trace_id})).await {
                    data.push(jaeger_trace(&spans));
                }
            }
            return (
                200,
                json!({"data": data, "total": 0, "limit": 0, "offset": 0, "errors": null}).to_string(),
            );
        }
        if let Some(id) = path.strip_prefix("/api/traces/") {
            return match self.sim.call("trace_get", &json!({"trace_id": id})).await {
                Ok(ToolData::Trace(spans)) => {
                    (200, json!({"data": [jaeger_trace(&spans)], "errors": null}).to_string())
                }
                _ => (
                    404,
                    json!({"data": null, "errors": [{"code": 404, "msg": "trace not found"}]}).to_string(),
                ),
            };
        }
        (404, "404 page not found".into())
    }
}

impl Mode {
    fn of(v: u8) -> Mode {
        match v {
            1 => Mode::ErrorBody,
            2 => Mode::Status500,
            3 => Mode::Slow,
            4 => Mode::Malformed,
            _ => Mode::Real,
        }
    }
}

/// Starts the fake on a thread of its own; returns its port and the handle to switch modes.
fn start_fake(tempo: bool) -> (u16, Arc<Fake>) {
    let fake = Arc::new(Fake {
        sim: Simulator::new(Simulator::load(SCENARIO).unwrap()).unwrap(),
        mode: AtomicU8::new(0),
        tempo,
    });
    let f = fake.clone();
    let port = common::serve(move |req| {
        let f = f.clone();
        async move {
            let (status, body) = f.answer(&req.path, &req.query).await;
            common::Reply::new(status, body)
        }
    });
    (port, fake)
}

fn run(dir: &Path, strategies: &str) -> Vec<Value> {
    common::run_alert(dir, &["--strategies", strategies], &[])
}

fn finished(events: &[Value], family: &str) -> Vec<Value> {
    events
        .iter()
        .filter(|e| e["type"] == "tool_call_finished" && e["tool"].as_str().unwrap().starts_with(family))
        .cloned()
        .collect()
}

#[test]
fn loki_and_jaeger_answer_and_their_failures_fail_only_their_calls() {
    let (port, fake) = start_fake(false);
    let dir = std::env::temp_dir().join(format!("inquest-loopback-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let base = format!("http://127.0.0.1:{port}");
    std::fs::write(
        dir.join("config.toml"),
        format!(
            "[sources.loki]\nurl = \"{base}\"\ntimeout = \"800ms\"\n\n[sources.jaeger]\nurl = \"{base}\"\ntimeout = \"800ms\"\n\n[sources.simulator]\nscenario = \"{SCENARIO}\"\n"
        ),
    )
    .unwrap();
    common::write_alert(&dir, SCENARIO);

    // Real answers: logs and traces come over HTTP, the conclusion is the simulated one's.
    let events = run(&dir, "logs-first,traces-first,metrics-first");
    let logs = finished(&events, "loki");
    let traces = finished(&events, "trace");
    assert!(
        logs.len() >= 2 && traces.len() >= 5,
        "{} log and {} trace calls",
        logs.len(),
        traces.len()
    );
    assert!(
        logs.iter().chain(&traces).all(|c| c["status"] == "ok"),
        "{:?}",
        logs.iter().chain(&traces).find(|c| c["status"] != "ok")
    );
    let fin = events.last().unwrap();
    assert_eq!(fin["type"], "investigation_finished");
    assert_eq!(fin["root_causes"][0]["service"], "orders-db");

    // Discovery: Loki's label names and one label's values, over the same configuration.
    let (settings, msgs) = inquest::config::settings(Some(&dir));
    assert!(msgs.is_empty(), "{msgs:?}");
    let router = inquest::sources::configured(&settings, Timestamp::now()).unwrap();
    let alert = Simulator::new(Simulator::load(SCENARIO).unwrap()).unwrap().alert();
    let window = json!({
        "start": Timestamp::from_millis(alert.starts_at.millis() - 3_600_000).to_rfc3339(),
        "end": alert.starts_at.to_rfc3339(),
    });
    let rt = tokio::runtime::Runtime::new().unwrap();
    let ToolData::Strings(names) = rt.block_on(router.call("loki_labels", &window)).unwrap() else {
        panic!()
    };
    assert!(
        names.contains(&"service".to_string()) && names.contains(&"level".to_string()),
        "{names:?}"
    );
    let mut args = window.clone();
    args["label"] = json!("service");
    let ToolData::Strings(services) = rt.block_on(router.call("loki_labels", &args)).unwrap() else {
        panic!()
    };
    assert!(services.contains(&"checkout".to_string()), "{services:?}");
    args["label"] = json!("service\"}/../x");
    let err = rt.block_on(router.call("loki_labels", &args)).unwrap_err();
    assert!(err.to_string().contains("not a label name"), "{err}");

    // Each fault: the calls fail with the endpoint named, the investigation still ends well.
    for (mode, expect) in [
        (Mode::ErrorBody, "HTTP 400: parse error at line 1"),
        (Mode::Status500, "HTTP 500"),
        (Mode::Slow, "timed out after 800 ms"),
        (Mode::Malformed, "not a"),
    ] {
        fake.mode.store(mode as u8, Ordering::SeqCst);
        let events = run(&dir, "logs-first,traces-first,metrics-first");
        let calls: Vec<Value> = finished(&events, "loki")
            .into_iter()
            .chain(finished(&events, "traces_search"))
            .collect();
        assert!(!calls.is_empty(), "{mode:?}");
        for c in &calls {
            assert_eq!(c["status"], "error", "{mode:?}: {c}");
            let err = c["error"].as_str().unwrap();
            assert!(err.contains(&base), "{mode:?}: the endpoint is named: {err}");
            assert!(err.contains(expect), "{mode:?}: {err}");
        }
        let fin = events.last().unwrap();
        assert_eq!(fin["type"], "investigation_finished", "{mode:?}");
        assert_eq!(fin["status"], "done", "{mode:?}");
        // Metrics still answer from the simulator, so a cause is still found.
        assert_eq!(fin["root_causes"][0]["service"], "orders-db", "{mode:?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn tempo_answers_in_otlp_json_with_base64_ids_and_its_failures_fail_only_its_calls() {
    let (port, fake) = start_fake(true);
    let dir = std::env::temp_dir().join(format!("inquest-tempo-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let base = format!("http://127.0.0.1:{port}");
    std::fs::write(
        dir.join("config.toml"),
        format!(
            "[sources.tempo]\nurl = \"{base}\"\ntimeout = \"800ms\"\n\n[sources.simulator]\nscenario = \"{SCENARIO}\"\n"
        ),
    )
    .unwrap();
    common::write_alert(&dir, SCENARIO);
    let events = run(&dir, "traces-first,metrics-first");
    let gets = finished(&events, "trace_get");
    assert!(gets.len() >= 5 && gets.iter().all(|c| c["status"] == "ok"), "{gets:?}");
    // The spans came back with hex ids, parents linked and errors marked.
    let in_error = |c: &Value| -> usize {
        let s = c["summary"].as_str().unwrap_or("");
        s.split(", ")
            .nth(1)
            .and_then(|x| x.split(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0)
    };
    assert!(gets.iter().any(|c| in_error(c) > 0), "{gets:?}");
    let bodies: Vec<&str> = events
        .iter()
        .filter(|e| e["type"] == "evidence_added" && e["evidence"]["kind"] == "trace")
        .map(|e| e["evidence"]["body"].as_str().unwrap_or(""))
        .collect();
    assert!(
        bodies
            .iter()
            .any(|b| b.contains("\"parent_id\": \"") && b.contains("\"service\": \"orders-db\""))
    );
    assert_eq!(events.last().unwrap()["root_causes"][0]["service"], "orders-db");

    for (mode, expect) in [
        (Mode::ErrorBody, "HTTP 400: parse error"),
        (Mode::Status500, "HTTP 500"),
        (Mode::Slow, "timed out after 800 ms"),
        (Mode::Malformed, "not a Tempo answer"),
    ] {
        fake.mode.store(mode as u8, Ordering::SeqCst);
        let events = run(&dir, "traces-first,metrics-first");
        let calls = finished(&events, "traces_search");
        assert!(!calls.is_empty());
        for c in &calls {
            let err = c["error"].as_str().unwrap();
            let named = err.contains(&format!("{base}/api/search"));
            assert!(c["status"] == "error" && named && err.contains(expect), "{mode:?}: {c}");
        }
        assert_eq!(events.last().unwrap()["status"], "done");
    }
    let _ = std::fs::remove_dir_all(&dir);
}
