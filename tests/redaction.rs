//! Secrets stay on the machine: the corpus in tests/data/secrets (planted
//! secrets of many kinds, ordinary log lines) against the shipped rules, and
//! an investigation whose alert and logs carry every planted secret, followed
//! through each exit: the model's request bodies, the Markdown report,
//! `feedback --json`, OTLP, Langfuse and LangSmith. Zero leaks; under 1% of
//! ordinary lines touched.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};

use inquest::model::{Feedback, Grade, Highlight, Timestamp, TraceId};
use inquest::store::{DB_FILE, Store};
use inquest::tools::redact::Redactor;
use serde_json::{Value, json};

mod common;

const BIN: &str = env!("CARGO_BIN_EXE_inquest");

/// (kind, secret, line) from planted.tsv.
fn planted() -> Vec<(String, String, String)> {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/secrets/planted.tsv")).unwrap();
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let mut f = l.splitn(3, '\t');
            let (k, s, line) = (f.next().unwrap(), f.next().unwrap(), f.next().unwrap());
            (k.to_string(), s.to_string(), line.replace("\\n", "\n"))
        })
        .collect()
}

fn ordinary() -> Vec<String> {
    std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/secrets/ordinary.log"))
        .unwrap()
        .lines()
        .map(String::from)
        .collect()
}

/// The planted secrets found in `text`.
fn leaks(text: &str) -> Vec<String> {
    planted()
        .into_iter()
        .filter(|(_, s, _)| text.contains(s.as_str()))
        .map(|(k, s, _)| format!("{k}: {s}"))
        .collect()
}

#[test]
fn the_corpus_is_big_enough() {
    let p = planted();
    let kinds: std::collections::HashSet<&str> = p.iter().map(|(k, _, _)| k.as_str()).collect();
    assert!(p.len() >= 60, "{} planted secrets", p.len());
    assert!(kinds.len() >= 25, "{} kinds", kinds.len());
    assert!(ordinary().len() >= 200);
}

#[test]
fn every_planted_secret_is_redacted_and_ordinary_lines_survive() {
    let r = Redactor::new();
    let mut leaked = Vec::new();
    for (kind, secret, line) in planted() {
        let out = r.redact(&line);
        if out.contains(&secret) || !out.contains("[REDACTED:") {
            leaked.push(format!("{kind}: {out}"));
        }
    }
    assert!(leaked.is_empty(), "{} leaks:\n{}", leaked.len(), leaked.join("\n"));
    let lines = ordinary();
    let touched: Vec<String> = lines
        .iter()
        .filter_map(|l| {
            let out = r.redact(l);
            (out != *l).then(|| format!("{l}\n  -> {out}"))
        })
        .collect();
    // Under 1% of ordinary lines, and the ids, hashes, times and values in them intact.
    assert!(
        touched.len() * 100 < lines.len(),
        "{} of {} ordinary lines changed:\n{}",
        touched.len(),
        lines.len(),
        touched.join("\n")
    );
    eprintln!(
        "redaction corpus: 0 leaks, {} of {} ordinary lines changed",
        touched.len(),
        lines.len()
    );
}

#[test]
fn secrets_cut_by_a_truncation_elsewhere_are_still_caught() {
    let r = Redactor::new();
    for (_, secret, _) in planted() {
        if secret.len() < 16 {
            continue;
        }
        let cut = format!("statement: key {}… leaked", &secret[..secret.len() * 2 / 3]);
        let out = r.redact(&cut);
        let start = &secret[..secret.len() / 2];
        // Prefix-shaped keys are caught; a bare random string has no shape to catch.
        if [
            "AKIA", "AIza", "sk_", "sk-", "xox", "gh", "glpat-", "eyJ", "hf_", "npm_", "SG.",
        ]
        .iter()
        .any(|p| secret.starts_with(p))
        {
            assert!(!out.contains(start), "{out}");
        }
    }
}

/// A scenario whose alert summary and recorded logs carry every planted line.
fn hostile_scenario(dir: &Path) -> PathBuf {
    let base =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/checkout-db-pool.toml")).unwrap();
    let lines: Vec<String> = planted().into_iter().map(|(_, _, l)| l).collect();
    let summary = lines.join(" | ").replace('\n', " ");
    let text = base
        .replace(
            "summary = \"checkout p99 latency above 2s for 5m\"",
            &format!("summary = {}", toml_str(&format!("checkout p99 above 2s; {summary}"))),
        )
        .replace("[truth]", "[recorded]\nlogs = \"logs.jsonl\"\n\n[truth]");
    let mut logs = String::new();
    for (i, l) in lines.iter().enumerate() {
        for svc in ["orders-db", "checkout"] {
            let entry = json!({"ts": format!("2026-03-01T10:{:02}:{:02}Z", 41 + i / 60, i % 60),
                "service": svc, "level": "error", "message": l});
            logs.push_str(&format!("{entry}\n"));
        }
    }
    std::fs::write(dir.join("logs.jsonl"), logs).unwrap();
    let path = dir.join("hostile.toml");
    std::fs::write(&path, text).unwrap();
    path
}

fn toml_str(s: &str) -> String {
    serde_json::to_string(s).unwrap()
}

fn inquest(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut c = Command::new(BIN);
    c.args(args)
        .env("INQUEST_DATA_DIR", dir.join("data"))
        .env("INQUEST_CONFIG_HOME", dir.join("config"));
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn temp(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("inquest-redaction-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("config")).unwrap();
    dir
}

#[test]
fn no_planted_secret_leaves_through_the_report_exports_or_feedback() {
    let dir = temp("exits");
    let scenario = hostile_scenario(&dir);
    let out = inquest(&dir, &["run", "--scenario", scenario.to_str().unwrap(), "--json"], &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let events: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    // Stored as they came: the secrets are in the trace (that is what the exits must catch).
    assert!(!leaks(&String::from_utf8_lossy(&out.stdout)).is_empty());
    let trace = events[0]["trace_id"].as_str().unwrap().to_string();
    let root = events[0]["span_id"].as_str().unwrap().to_string();
    let all: Vec<String> = planted().into_iter().map(|(_, _, l)| l).collect();
    let store = Store::open(dir.join("data").join(DB_FILE)).unwrap();
    store
        .save_feedback(&Feedback {
            id: Feedback::new_id(),
            parent: None,
            spans: Vec::new(),
            trace_id: trace.parse::<TraceId>().unwrap(),
            span_id: root.parse().unwrap(),
            target: "investigation".into(),
            rating: None,
            grade: Some(Grade::Correct),
            highlight: Some(Highlight {
                start_line: 0,
                end_line: all.len() as u32,
                quote: all.join("\n"),
            }),
            comment: Some(format!("these leaked: {}", all.join(" "))),
            author: "alice".into(),
            at: Timestamp::now(),
            bundle_id: events[0]["bundle_id"].as_str().unwrap().into(),
        })
        .unwrap();
    drop(store);

    let report = inquest(&dir, &["report", &trace[..8]], &[]);
    assert!(report.status.success());
    let md = String::from_utf8_lossy(&report.stdout);
    assert!(md.contains("REDACTED:"), "{md}");
    assert_eq!(leaks(&md), Vec::<String>::new(), "Markdown report");

    let fb = inquest(&dir, &["feedback", &trace[..8], "--json"], &[]);
    assert!(fb.status.success());
    assert_eq!(
        leaks(&String::from_utf8_lossy(&fb.stdout)),
        Vec::<String>::new(),
        "feedback --json"
    );

    let otlp = inquest(&dir, &["export", &trace[..8], "--otlp", "-"], &[]);
    assert!(otlp.status.success());
    let body = String::from_utf8_lossy(&otlp.stdout);
    assert!(body.contains("REDACTED:"));
    assert_eq!(leaks(&body), Vec::<String>::new(), "OTLP");

    let seen: Arc<Mutex<Vec<common::Req>>> = Arc::default();
    let s2 = seen.clone();
    let port = common::serve(move |req| {
        let seen = s2.clone();
        async move {
            seen.lock().unwrap().push(req);
            common::Reply::new(200, "{}")
        }
    });
    let url = format!("http://127.0.0.1:{port}");
    let lf = inquest(
        &dir,
        &["export", &trace[..8], "--langfuse", &url],
        &[
            ("LANGFUSE_PUBLIC_KEY", "pk-lf-test"),
            ("LANGFUSE_SECRET_KEY", "sk-lf-test"),
        ],
    );
    let ls = inquest(
        &dir,
        &["export", &trace[..8], "--langsmith", &url],
        &[("LANGSMITH_API_KEY", "lsv2_test"), ("LANGSMITH_PROJECT", "oncall")],
    );
    assert!(lf.status.success(), "{}", String::from_utf8_lossy(&lf.stderr));
    assert!(ls.status.success(), "{}", String::from_utf8_lossy(&ls.stderr));
    let reqs = seen.lock().unwrap();
    assert!(reqs.len() >= 4, "{} requests", reqs.len());
    for r in reqs.iter() {
        assert_eq!(leaks(&r.body), Vec::<String>::new(), "{} {}", r.method, r.path);
    }
}

#[test]
fn no_planted_secret_reaches_the_model() {
    let dir = temp("model");
    let scenario = hostile_scenario(&dir);
    let seen: Arc<Mutex<Vec<String>>> = Arc::default();
    let s2 = seen.clone();
    let port = common::serve(move |req| {
        let seen = s2.clone();
        async move {
            let n = {
                let mut s = seen.lock().unwrap();
                s.push(req.body.clone());
                s.len()
            };
            // First turn: read the logs (which carry every planted line); then conclude.
            let chunks: Vec<Value> = if n % 2 == 1 {
                vec![
                    json!({"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "id": format!("c{n}"), "type": "function",
                        "function": {"name": "loki_query_range", "arguments": "{\"query\": \"{service=\\\"orders-db\\\"}\", \"limit\": 500}"}}]}, "finish_reason": null}]}),
                    json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]}),
                ]
            } else {
                vec![
                    json!({"choices": [{"index": 0, "delta": {"content": "Nothing more to read."}, "finish_reason": null}]}),
                    json!({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}),
                ]
            };
            let mut body: String = chunks.iter().map(|c| format!("data: {c}\n\n")).collect();
            body.push_str("data: [DONE]\n\n");
            common::Reply {
                status: 200,
                headers: vec![("content-type", "text/event-stream".to_string())],
                body,
            }
        }
    });
    std::fs::write(
        dir.join("config").join("config.toml"),
        format!(
            "[sources.simulator]\nscenario = {}\n\n[llm]\nprovider = \"openai\"\nbase_url = \"http://127.0.0.1:{port}/v1\"\nmodel = \"scripted\"\napi_key_env = \"INQUEST_TEST_KEY\"\ntimeout = \"10s\"\nmax_turns = 3\n",
            toml_str(scenario.to_str().unwrap())
        ),
    )
    .unwrap();
    let all: Vec<String> = planted().into_iter().map(|(_, _, l)| l).collect();
    std::fs::write(
        dir.join("alert.json"),
        json!({"labels": {"alertname": "CheckoutLatencyHigh", "service": "checkout", "severity": "page"},
               "annotations": {"summary": "p99 above 2s", "description": all.join("\n")},
               "startsAt": "2026-03-01T10:48:00Z"})
        .to_string(),
    )
    .unwrap();
    let out = inquest(
        &dir,
        &[
            "run",
            "--alert",
            dir.join("alert.json").to_str().unwrap(),
            "--json",
            "--reasoner",
            "llm",
            "--strategies",
            "logs-first",
        ],
        &[("INQUEST_TEST_KEY", "sk-test-key-0123456789abcdef")],
    );
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let bodies = seen.lock().unwrap();
    assert!(bodies.len() >= 2, "{} requests", bodies.len());
    // The tool result reached the model (so the logs were in play), redacted.
    assert!(
        bodies
            .iter()
            .any(|b| b.contains("REDACTED:") && b.contains("\"role\":\"tool\""))
    );
    for b in bodies.iter() {
        assert_eq!(leaks(b), Vec::<String>::new(), "a model request");
    }
}
