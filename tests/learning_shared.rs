//! Which strategy to trust, and patterns shared without names: a strategy
//! that keeps being right for an alert gets more of the budget next time
//! while one with an early miss still runs; an anonymized export carries
//! roles, kinds and counts and no name from the store; another store imports
//! it and its next investigation starts with the shared pattern.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::graded::{causes, grade, inquest, run};
use inquest::model::Grade;
use serde_json::Value;

fn fresh(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("inquest-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Branch span → (strategy, allotment) in start order.
fn branches(events: &[Value]) -> Vec<(String, String, Option<Value>)> {
    events
        .iter()
        .filter(|e| e["type"] == "branch_started")
        .map(|e| {
            (
                e["span_id"].as_str().unwrap().to_string(),
                e["strategy"].as_str().unwrap().to_string(),
                e.get("allotment").cloned(),
            )
        })
        .collect()
}

fn calls(events: &[Value]) -> BTreeMap<String, u64> {
    branches(events)
        .into_iter()
        .map(|(_, n, a)| (n, a.expect("an allotment")["tool_calls"].as_u64().unwrap()))
        .collect()
}

#[test]
fn a_strategy_that_keeps_being_right_gets_more_of_the_budget_and_a_miss_still_runs() {
    let dir = fresh("trust");
    const SC: &str = "checkout-db-pool";
    // traces-first alone finds the pool exhaustion: graded correct.
    let first = run(&dir, SC, &["--strategies", "traces-first"]);
    assert!(
        branches(&first).iter().all(|(_, _, a)| a.is_none()),
        "nothing graded: the budget is as configured"
    );
    assert_eq!(causes(&first)[0]["service"], "orders-db");
    grade(&dir, &first, &causes(&first)[0], Grade::Correct, None);
    // changes-first alone also blames the frontend's deploy: graded wrong, its only record.
    let second = run(&dir, SC, &["--strategies", "changes-first"]);
    let deploy = causes(&second)
        .into_iter()
        .find(|c| c["service"] == "frontend")
        .expect("changes-first ranks the frontend deploy");
    grade(&dir, &second, &deploy, Grade::Wrong, None);

    let all = run(&dir, SC, &[]);
    let n = branches(&all).len() as u64;
    let shares = calls(&all);
    assert_eq!(
        shares.values().sum::<u64>(),
        200,
        "the default budget, shared out: {shares:?}"
    );
    assert_eq!(branches(&all)[0].1, "traces-first", "the trusted strategy starts first");
    for (s, c) in &shares {
        if s != "traces-first" {
            assert!(shares["traces-first"] > *c, "traces-first ≤ {s}: {shares:?}");
        }
    }
    // The early miss keeps at least the floor, half the budget split evenly, and still investigates.
    let floor = 100 / n;
    assert!(shares["changes-first"] >= floor, "{shares:?}");
    assert!(shares["changes-first"] < shares["metrics-first"], "{shares:?}");
    let span = branches(&all)
        .into_iter()
        .find(|(_, s, _)| s == "changes-first")
        .unwrap()
        .0;
    let ran = all
        .iter()
        .filter(|e| e["type"] == "tool_call_started" && e["parent_span_id"] == span.as_str())
        .count();
    assert!(ran > 0, "changes-first still investigates after one miss");
    // The tree says why: the reason rides on branch_started.
    let reason = |events: &[Value], strategy: &str| {
        branches(events)
            .into_iter()
            .find(|(_, s, _)| s == strategy)
            .and_then(|(_, _, a)| a)
            .unwrap()["reason"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(
        reason(&all, "traces-first"),
        format!(
            "budget {} calls: 1 of 1 graded correct on CheckoutLatencyHigh ({})",
            shares["traces-first"],
            causes(&first)[0]["kind"].as_str().unwrap()
        )
    );
    assert_eq!(
        reason(&all, "changes-first"),
        format!(
            "budget {} calls (exploration share): 0 of 1 graded correct on CheckoutLatencyHigh",
            shares["changes-first"]
        )
    );
    assert_eq!(
        reason(&all, "logs-first").split(": ").nth(1),
        Some("no graded record on CheckoutLatencyHigh yet")
    );

    // Right again: more of the budget the next time.
    let again = run(&dir, SC, &["--strategies", "traces-first"]);
    grade(&dir, &again, &causes(&again)[0], Grade::Correct, None);
    let more = calls(&run(&dir, SC, &[]));
    assert!(
        more["traces-first"] > shares["traces-first"],
        "{} then {}",
        shares["traces-first"],
        more["traces-first"]
    );
    // Off with --no-learned: the budget as configured.
    let off = run(&dir, SC, &["--no-learned"]);
    assert!(branches(&off).iter().all(|(_, _, a)| a.is_none()));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Names planted in the scenario's alert, services and namespace, and in an engineer's comment.
const PLANTED: &[&str] = &[
    "zorblax",
    "quuxly",
    "plughpay",
    "wibblecat",
    "xyzzy",
    "frobnitz",
    "grault",
    "garply",
    "thud",
    "waldo",
    "10.77.42.9",
    "qrvwx",
    "corp.example",
];

fn planted_scenario(dir: &Path) -> PathBuf {
    let base =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios/checkout-db-pool.toml")).unwrap();
    let text = base
        .replace("checkout-db-pool", "zorblax-incident")
        .replace("CheckoutLatencyHigh", "ZorblaxCheckoutLatencyHigh")
        .replace("\"checkout\"", "\"zorblax-checkout\"")
        .replace("orders-db", "quuxly-orders-db")
        .replace("\"payments\"", "\"plughpay\"")
        .replace("\"catalog\"", "\"wibblecat\"")
        .replace("frontend", "xyzzy-front")
        .replace("\"shop\"", "\"ns-frobnitz\"")
        .replace(
            "labels = { service = \"zorblax-checkout\", namespace = \"ns-frobnitz\" }",
            "labels = { service = \"zorblax-checkout\", namespace = \"ns-frobnitz\", pod = \"zorblax-checkout-7f9c5d-qrvwx\", \
             host = \"node-grault.corp.example\", instance = \"10.77.42.9:9100\" }",
        )
        .replace(
            "summary = \"checkout p99 latency above 2s for 5m\"",
            "summary = \"p99 above 2s on 10.77.42.9, see https://grafana.garply.corp.example/d/waldo or mail oncall-thud@garply.corp.example\"",
        );
    assert!(
        text.contains("grault") && text.contains("waldo"),
        "the scenario was planted"
    );
    let path = dir.join("zorblax-incident.toml");
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn an_anonymized_export_carries_patterns_and_no_name_and_another_store_uses_it() {
    let a = fresh("share-a");
    let scenario = planted_scenario(&a);
    let scenario = scenario.to_str().unwrap();
    for _ in 0..2 {
        let events = run(&a, scenario, &[]);
        let top = &causes(&events)[0];
        assert!(top["service"].as_str().unwrap().contains("quuxly"), "{top}");
        grade(
            &a,
            &events,
            top,
            Grade::Correct,
            Some("pool cut on node-grault.corp.example, ask oncall-thud@garply.corp.example"),
        );
    }
    let lines = inquest(&a, &["learned"]);
    assert!(
        String::from_utf8_lossy(&lines.stdout).contains("quuxly"),
        "the store itself keeps names"
    );

    // Without --anonymize nothing is written.
    let file = a.join("patterns.jsonl");
    let refused = inquest(&a, &["learned", "--export", file.to_str().unwrap()]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--anonymize"));
    assert!(!file.exists());

    let out = inquest(&a, &["learned", "--export", file.to_str().unwrap(), "--anonymize"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let bytes = std::fs::read(&file).unwrap();
    let lower = String::from_utf8(bytes.clone()).unwrap().to_lowercase();
    for name in PLANTED {
        assert!(!lower.contains(name), "{name} leaked into the export:\n{lower}");
    }
    // The pattern itself: the alert with its service as a role, the cause's role, kind and counts.
    let patterns: Vec<Value> = lower
        .lines()
        .skip(1)
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let p = patterns
        .iter()
        .find(|p| p["kind"] == "connection_pool_exhaustion")
        .unwrap_or_else(|| panic!("{lower}"));
    assert_eq!(p["alert"], "{service}latencyhigh");
    assert_eq!(p["role"], "callee-database");
    assert_eq!(p["correct"], 2);
    assert!(!p["strategies"].as_array().unwrap().is_empty());

    // Store B, with the same kind of alert on its own service, imports the patterns.
    let b = fresh("share-b");
    let bad = b.join("bad.jsonl");
    std::fs::write(
        &bad,
        String::from_utf8_lossy(&bytes).replace("callee-database", "my-db"),
    )
    .unwrap();
    let refused = inquest(&b, &["learned", "--import", bad.to_str().unwrap()]);
    assert_eq!(refused.status.code(), Some(2));
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("bad.jsonl:2:") && err.contains("role"), "{err}");

    let imported = inquest(&b, &["learned", "--import", file.to_str().unwrap()]);
    assert!(
        imported.status.success(),
        "{}",
        String::from_utf8_lossy(&imported.stderr)
    );
    let events = run(&b, "checkout-db-pool", &[]);
    let shared: Vec<&str> = events
        .iter()
        .filter(|e| e["type"] == "guidance_applied" && e["author"] == "shared pattern")
        .map(|e| e["text"].as_str().unwrap())
        .collect();
    assert_eq!(shared.len(), 1, "{shared:?}");
    assert!(
        shared[0].contains("a database behind the alerting service")
            && shared[0].contains("connection_pool_exhaustion"),
        "{shared:?}"
    );
    let reasons: Vec<String> = branches(&events)
        .into_iter()
        .filter_map(|(_, _, a)| Some(a?["reason"].as_str()?.to_string()))
        .collect();
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("shared pattern 2 of 2 graded correct")),
        "{reasons:?}"
    );
    // The report names it too.
    let trace = events[0]["trace_id"].as_str().unwrap();
    let report = inquest(&b, &["report", trace]);
    assert!(report.status.success(), "{}", String::from_utf8_lossy(&report.stderr));
    assert!(String::from_utf8_lossy(&report.stdout).contains("shared pattern"));
    let _ = std::fs::remove_dir_all(&a);
    let _ = std::fs::remove_dir_all(&b);
}
