//! `inquest export TRACE --otlp URL | --langfuse | --langsmith`: a stored
//! investigation and its feedback, to loopback servers that take each
//! backend's requests. The trace and span ids are the investigation's, the
//! tree is whole, secrets are redacted, credentials come from the environment,
//! and a refusing backend is an error that names it.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};

use inquest::model::{Feedback, Grade, Highlight, Timestamp, TraceId};
use inquest::store::{DB_FILE, Store};
use serde_json::Value;

mod common;

const BIN: &str = env!("CARGO_BIN_EXE_inquest");

fn inquest(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut c = Command::new(BIN);
    c.args(args)
        .env("INQUEST_DATA_DIR", dir)
        .env("INQUEST_CONFIG_HOME", dir.join("config"))
        .env_remove("OTEL_EXPORTER_OTLP_HEADERS")
        .env_remove("LANGFUSE_PUBLIC_KEY")
        .env_remove("LANGFUSE_SECRET_KEY")
        .env_remove("LANGFUSE_HOST")
        .env_remove("LANGSMITH_API_KEY")
        .env_remove("LANGCHAIN_API_KEY")
        .env_remove("LANGSMITH_ENDPOINT")
        .env_remove("LANGSMITH_PROJECT");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn attr<'a>(span: &'a Value, key: &str) -> Option<&'a Value> {
    span["attributes"]
        .as_array()?
        .iter()
        .find(|a| a["key"] == key)
        .map(|a| &a["value"])
}

#[test]
fn an_investigation_reaches_a_collector_as_one_trace_with_its_feedback() {
    let dir = std::env::temp_dir().join(format!("inquest-otlp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let out = inquest(&dir, &["run", "--scenario", "checkout-db-pool", "--json"], &[]);
    assert!(out.status.success());
    let events: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let trace = events[0]["trace_id"].as_str().unwrap().to_string();
    let top = events.last().unwrap()["root_causes"][0].clone();

    // A grade with a comment that carries a secret.
    let store = Store::open(dir.join(DB_FILE)).unwrap();
    let span = top["hypotheses"][0].as_str().unwrap();
    store
        .save_feedback(&Feedback {
            id: Feedback::new_id(),
            parent: None,
            spans: Vec::new(),
            trace_id: trace.parse::<TraceId>().unwrap(),
            span_id: span.parse().unwrap(),
            target: "root_cause".into(),
            rating: None,
            grade: Some(Grade::Correct),
            highlight: Some(Highlight {
                start_line: 0,
                end_line: 1,
                quote: "pool exhausted".into(),
            }),
            comment: Some("right; the key sk-proj-abcdefghijklmnopqrstuvwx123456 leaked in the runbook".into()),
            author: "alice".into(),
            at: Timestamp::now(),
            bundle_id: events[0]["bundle_id"].as_str().unwrap().into(),
        })
        .unwrap();
    drop(store);

    let seen: Arc<Mutex<Vec<common::Req>>> = Arc::default();
    let status = Arc::new(Mutex::new(200u16));
    let (s2, st2) = (seen.clone(), status.clone());
    let port = common::serve(move |req| {
        let (seen, status) = (s2.clone(), st2.clone());
        async move {
            let code = *status.lock().unwrap();
            seen.lock().unwrap().push(req);
            if code == 200 {
                common::Reply::new(200, "{}")
            } else {
                common::Reply::new(code, "{\"code\":8,\"message\":\"ingestion limit exceeded\"}")
            }
        }
    });
    let url = format!("http://127.0.0.1:{port}");
    let out = inquest(
        &dir,
        &["export", &trace[..8], "--otlp", &url],
        &[(
            "OTEL_EXPORTER_OTLP_HEADERS",
            "Authorization=Basic%20cGs6c2s=,x-scope-orgid=oncall",
        )],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("sent to") && stderr.contains("/v1/traces"), "{stderr}");

    let req = seen.lock().unwrap().pop().unwrap();
    assert_eq!(req.method, "POST");
    assert_eq!(req.path, "/v1/traces");
    assert_eq!(req.header("content-type"), Some("application/json"));
    assert_eq!(req.header("authorization"), Some("Basic cGs6c2s="));
    assert_eq!(req.header("x-scope-orgid"), Some("oncall"));
    assert!(
        !req.body.contains("sk-proj-abcdefghijklmnopqrstuvwx123456"),
        "a secret left for the collector"
    );
    let body: Value = serde_json::from_str(&req.body).unwrap();
    let rs = &body["resourceSpans"][0];
    assert_eq!(attr(&rs["resource"], "service.name").unwrap()["stringValue"], "inquest");
    let spans = rs["scopeSpans"][0]["spans"].as_array().unwrap();

    // One trace, the investigation's; every span id unique and 16 hex; every parent sent.
    assert!(spans.iter().all(|s| s["traceId"] == trace));
    let ids: HashSet<&str> = spans.iter().map(|s| s["spanId"].as_str().unwrap()).collect();
    assert_eq!(ids.len(), spans.len());
    assert!(
        ids.iter()
            .all(|i| i.len() == 16 && i.chars().all(|c| c.is_ascii_hexdigit()))
    );
    let roots: Vec<&Value> = spans.iter().filter(|s| s.get("parentSpanId").is_none()).collect();
    assert_eq!(roots.len(), 1);
    assert_eq!(roots[0]["spanId"], events[0]["span_id"]);
    assert!(roots[0]["name"].as_str().unwrap().starts_with("invoke_workflow"));
    assert_eq!(
        attr(roots[0], "inquest.root_cause.1.service").unwrap()["stringValue"],
        top["service"]
    );
    // Every source answered in the simulated run: all read, none unavailable.
    let read = attr(roots[0], "inquest.sources.read").unwrap()["stringValue"]
        .as_str()
        .unwrap();
    assert!(read.split(',').any(|s| s == "prometheus"), "{read}");
    assert!(attr(roots[0], "inquest.sources.unavailable").is_none());
    assert!(
        spans
            .iter()
            .filter_map(|s| s["parentSpanId"].as_str())
            .all(|p| ids.contains(p))
    );

    // Branches and tool calls as GenAI spans, with the ids and times the events gave them.
    let by_id: HashMap<&str, &Value> = spans.iter().map(|s| (s["spanId"].as_str().unwrap(), s)).collect();
    let branches: Vec<&Value> = spans
        .iter()
        .filter(|s| s["name"].as_str().unwrap().starts_with("invoke_agent "))
        .collect();
    assert_eq!(branches.len(), 6);
    let calls: Vec<&Value> = spans
        .iter()
        .filter(|s| s["name"].as_str().unwrap().starts_with("execute_tool "))
        .collect();
    let started = events.iter().filter(|e| e["type"] == "tool_call_started").count();
    assert_eq!(calls.len(), started);
    for c in &calls {
        let parent = by_id[c["parentSpanId"].as_str().unwrap()];
        assert!(parent["name"].as_str().unwrap().starts_with("invoke_agent "));
        assert_eq!(attr(c, "gen_ai.operation.name").unwrap()["stringValue"], "execute_tool");
        let start: u128 = c["startTimeUnixNano"].as_str().unwrap().parse().unwrap();
        let end: u128 = c["endTimeUnixNano"].as_str().unwrap().parse().unwrap();
        assert!(end >= start);
    }
    let first_call = events.iter().find(|e| e["type"] == "tool_call_started").unwrap();
    let span = by_id[first_call["span_id"].as_str().unwrap()];
    assert_eq!(
        attr(span, "gen_ai.tool.name").unwrap()["stringValue"],
        first_call["tool"]
    );

    // The grade is an event on the hypothesis span it judged, its secret replaced.
    let judged = by_id[top["hypotheses"][0].as_str().unwrap()];
    assert_eq!(judged["name"], "propose_root_cause");
    let ev = &judged["events"][0];
    assert_eq!(ev["name"], "inquest.feedback");
    assert_eq!(attr(ev, "inquest.feedback.grade").unwrap()["stringValue"], "correct");
    let comment = attr(ev, "inquest.feedback.comment").unwrap()["stringValue"]
        .as_str()
        .unwrap();
    assert!(
        comment.contains("[REDACTED:openai-key:1]") && comment.contains("leaked in the runbook"),
        "{comment}"
    );

    // `-` prints the same body; a refusing collector is an error naming it.
    let out = inquest(&dir, &["export", &trace, "--otlp", "-"], &[]);
    assert!(out.status.success());
    let printed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        printed["resourceSpans"][0]["scopeSpans"][0]["spans"]
            .as_array()
            .unwrap()
            .len(),
        spans.len()
    );
    *status.lock().unwrap() = 429;
    let out = inquest(&dir, &["export", &trace, "--otlp", &format!("{url}/v1/traces")], &[]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("HTTP 429") && stderr.contains("ingestion limit exceeded") && stderr.contains(&url),
        "{stderr}"
    );
    let out = inquest(&dir, &["export", &trace, "--otlp", "ftp://x"], &[]);
    assert_eq!(out.status.code(), Some(2));

    // Langfuse: the same spans through its OTLP endpoint, the grade as a score on the judged observation.
    *status.lock().unwrap() = 200;
    seen.lock().unwrap().clear();
    let host = format!("http://127.0.0.1:{port}");
    let keys = [
        ("LANGFUSE_PUBLIC_KEY", "pk-lf-test"),
        ("LANGFUSE_SECRET_KEY", "sk-lf-test"),
    ];
    let out = inquest(&dir, &["export", &trace, "--langfuse", &host], &keys);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("1 scores sent"), "{stderr}");
    let reqs = std::mem::take(&mut *seen.lock().unwrap());
    assert_eq!(reqs.len(), 2);
    for r in &reqs {
        assert_eq!(r.header("authorization"), Some("Basic cGstbGYtdGVzdDpzay1sZi10ZXN0"));
        assert_eq!(r.header("x-langfuse-ingestion-version"), Some("4"));
    }
    assert_eq!(reqs[0].path, "/api/public/otel/v1/traces");
    let otlp: Value = serde_json::from_str(&reqs[0].body).unwrap();
    assert_eq!(
        otlp["resourceSpans"][0]["scopeSpans"][0]["spans"]
            .as_array()
            .unwrap()
            .len(),
        spans.len()
    );
    assert_eq!(reqs[1].path, "/api/public/scores");
    let score: Value = serde_json::from_str(&reqs[1].body).unwrap();
    assert_eq!(score["traceId"], trace);
    assert_eq!(score["observationId"], top["hypotheses"][0]);
    assert_eq!(score["name"], "root_cause_grade");
    assert_eq!(score["value"], "correct");
    assert_eq!(score["dataType"], "CATEGORICAL");
    let comment = score["comment"].as_str().unwrap();
    assert!(
        comment.contains("[REDACTED:openai-key:1]") && comment.contains("pool exhausted"),
        "{comment}"
    );
    assert!(!reqs[1].body.contains("sk-proj-"));
    // Without keys: a clear bad-input error, nothing sent.
    let out = inquest(&dir, &["export", &trace, "--langfuse", &host], &keys[..1]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("LANGFUSE_SECRET_KEY"));
    assert!(seen.lock().unwrap().is_empty());

    // LangSmith: one run per span, the tree in parent ids and dotted order, the grade as feedback.
    let keys = [("LANGSMITH_API_KEY", "lsv2_test"), ("LANGSMITH_PROJECT", "oncall")];
    let out = inquest(&dir, &["export", &trace, "--langsmith", &host], &keys);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let reqs = std::mem::take(&mut *seen.lock().unwrap());
    assert_eq!(reqs.len(), 2);
    assert!(reqs.iter().all(|r| r.header("x-api-key") == Some("lsv2_test")));
    assert_eq!(reqs[0].path, "/runs/batch");
    let batch: Value = serde_json::from_str(&reqs[0].body).unwrap();
    let runs = batch["post"].as_array().unwrap();
    assert_eq!(runs.len(), spans.len());
    let run_of = |span: &str| inquest::export::langsmith::run_id(&trace, span);
    let root_run = run_of(events[0]["span_id"].as_str().unwrap());
    assert!(stderr.contains(&root_run), "{stderr}");
    let by_run: HashMap<&str, &Value> = runs.iter().map(|r| (r["id"].as_str().unwrap(), r)).collect();
    for r in runs {
        assert_eq!(r["trace_id"], root_run.as_str());
        assert_eq!(r["session_name"], "oncall");
        let order = r["dotted_order"].as_str().unwrap();
        assert!(
            order.starts_with("20") && order.ends_with(r["id"].as_str().unwrap()),
            "{order}"
        );
        match r["parent_run_id"].as_str() {
            Some(p) => assert!(order.starts_with(&format!("{}.", by_run[p]["dotted_order"].as_str().unwrap()))),
            None => assert_eq!(r["id"], root_run.as_str()),
        }
    }
    let call = by_run[run_of(first_call["span_id"].as_str().unwrap()).as_str()];
    assert_eq!(call["run_type"], "tool");
    assert_eq!(call["inputs"], first_call["args"]);
    assert_eq!(reqs[1].path, "/feedback");
    let fb: Value = serde_json::from_str(&reqs[1].body).unwrap();
    assert_eq!(fb["run_id"], run_of(top["hypotheses"][0].as_str().unwrap()).as_str());
    assert_eq!(fb["key"], "root_cause_grade");
    assert_eq!(fb["score"], 1.0);
    assert!(!reqs[1].body.contains("sk-proj-"));
    let _ = std::fs::remove_dir_all(&dir);
}
