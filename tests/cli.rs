//! The `inquest` binary, headless: every shipped scenario through
//! `run --json`, the store surviving a SIGKILL, list and report.

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use inquest::sources::sim::Simulator;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_inquest");

fn data_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("inquest-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn inquest(dir: &PathBuf, args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .env("INQUEST_DATA_DIR", dir)
        .env("USER", "tester")
        .output()
        .expect("runs")
}

fn is_hex(s: &str, n: usize) -> bool {
    s.len() == n && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Checks one run's output line by line; returns the final root causes and branch count.
fn check_events(id: &str, stdout: &str) -> (Vec<Value>, usize) {
    let mut last_seq = 0u64;
    let mut trace = String::new();
    let mut branch_of: BTreeMap<String, String> = BTreeMap::new();
    let mut order: Vec<String> = Vec::new();
    let mut finished = None;
    for (i, line) in stdout.lines().enumerate() {
        let e: Value =
            serde_json::from_str(line).unwrap_or_else(|err| panic!("{id}: line {} is not JSON ({err}): {line}", i + 1));
        assert_eq!(e["v"], 1, "{id}: {line}");
        let seq = e["seq"].as_u64().expect("seq");
        assert!(seq > last_seq, "{id}: seq {seq} after {last_seq}");
        last_seq = seq;
        let t = e["trace_id"].as_str().unwrap();
        assert!(is_hex(t, 32), "{id}: trace id {t}");
        if trace.is_empty() {
            trace = t.to_string();
        }
        assert_eq!(t, trace, "{id}: one trace per run");
        assert!(is_hex(e["span_id"].as_str().unwrap(), 16));
        assert!(e["parent_span_id"].is_null() || is_hex(e["parent_span_id"].as_str().unwrap(), 16));
        let at = e["at"].as_str().unwrap();
        assert!(
            at.len() == 30 && at.ends_with('Z') && at.as_bytes()[19] == b'.',
            "{id}: at {at} is RFC 3339 with nanoseconds"
        );
        let kind = e["type"].as_str().unwrap();
        let span = e["span_id"].as_str().unwrap().to_string();
        let parent = e["parent_span_id"].as_str().unwrap_or("").to_string();
        match kind {
            "investigation_started" => assert_eq!(i, 0),
            "branch_started" => {
                branch_of.insert(span.clone(), span.clone());
            }
            "tool_call_started" => {
                assert!(e["tool"].is_string() && e["args"].is_object());
            }
            "tool_call_finished" => {
                assert!(e["status"].is_string() && e["duration_ms"].is_u64() && e["summary"].is_string());
                assert!(e["evidence_span_id"].is_null() || is_hex(e["evidence_span_id"].as_str().unwrap(), 16));
            }
            "investigation_finished" => finished = Some(e.clone()),
            _ => {}
        }
        // Attribute the event to its branch, if any, for the interleaving check.
        let owner = branch_of.get(&span).or_else(|| branch_of.get(&parent)).cloned();
        if let Some(b) = owner {
            if kind != "branch_started" {
                branch_of.insert(span, b.clone());
            }
            order.push(b);
        }
    }
    let fin = finished.unwrap_or_else(|| panic!("{id}: no investigation_finished"));
    assert_eq!(
        stdout.lines().last().map(|l| l.contains("investigation_finished")),
        Some(true)
    );
    // At least three branches whose events interleave: each has another branch's event inside its own span of events.
    let mut span_of: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
    for (i, b) in order.iter().enumerate() {
        let e = span_of.entry(b.as_str()).or_insert((i, i));
        e.1 = i;
    }
    let interleaved: BTreeSet<&str> = span_of
        .iter()
        .filter(|(b, (lo, hi))| order[*lo..=*hi].iter().any(|o| o != *b))
        .map(|(b, _)| *b)
        .collect();
    assert!(
        interleaved.len() >= 3,
        "{id}: only {} branches interleave",
        interleaved.len()
    );
    let rcs = fin["root_causes"].as_array().cloned().unwrap_or_default();
    for rc in &rcs {
        for k in ["service", "kind", "confidence", "statement", "evidence", "branches"] {
            assert!(rc.get(k).is_some(), "{id}: root cause lacks {k}");
        }
    }
    (rcs, span_of.len())
}

#[test]
fn every_shipped_scenario_runs_headless_and_the_table_meets_the_bar() {
    let dir = data_dir("all");
    let mut rows = Vec::new();
    let mut hits = 0;
    let scenarios: Vec<_> = Simulator::builtin()
        .into_iter()
        .map(|r| r.expect("shipped scenarios load"))
        .collect();
    assert!(scenarios.len() >= 12);
    let kinds: BTreeSet<_> = scenarios
        .iter()
        .filter_map(|s| s.truth.as_ref().map(|t| t.kind))
        .collect();
    assert!(kinds.len() >= 12, "{} fault kinds", kinds.len());
    for sc in &scenarios {
        let t0 = Instant::now();
        let out = inquest(&dir, &["run", "--scenario", &sc.id, "--json"]);
        let ms = t0.elapsed().as_millis();
        assert!(
            out.status.success(),
            "{}: exit {:?}: {}",
            sc.id,
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        let (rcs, branches) = check_events(&sc.id, &String::from_utf8(out.stdout).unwrap());
        assert!(branches >= 3);
        let truth = sc.truth.as_ref().expect("every shipped scenario has a truth");
        let top = rcs
            .first()
            .map(|r| r["service"].as_str().unwrap_or("").to_string())
            .unwrap_or_default();
        let kind = rcs
            .first()
            .map(|r| r["kind"].as_str().unwrap_or("").to_string())
            .unwrap_or_default();
        let ok = truth.accepts_service(&top);
        hits += ok as usize;
        rows.push(format!(
            "{} {:<38} {:<24} {:<28} {:<24} {:<28} {:>5} ms",
            if ok { "✓" } else { "✗" },
            sc.id,
            truth.service,
            truth.kind.as_str(),
            top,
            kind,
            ms
        ));
    }
    println!(
        "  {:<38} {:<24} {:<28} {:<24} {:<28}",
        "scenario", "truth", "kind", "top-1", "kind"
    );
    for r in &rows {
        println!("{r}");
    }
    println!("top-1 service: {hits}/{}", rows.len());
    // At least 10 of 12, and the same share over however many ship.
    assert!(
        hits * 12 >= rows.len() * 10,
        "top-1 service right in only {hits} of {}",
        rows.len()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_killed_run_leaves_a_store_that_lists_it_as_interrupted() {
    let dir = data_dir("kill");
    let mut child = Command::new(BIN)
        .args(["run", "--scenario", "checkout-db-pool", "--json", "--pace", "400ms"])
        .env("INQUEST_DATA_DIR", &dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    // Wait until some events have been written, then kill -9.
    let db = dir.join("inquest.db");
    let t0 = Instant::now();
    let mut stdout = child.stdout.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut stdout, &mut s);
        s
    });
    loop {
        std::thread::sleep(Duration::from_millis(100));
        let listed = inquest(&dir, &["list", "--json"]);
        let rows: Value = serde_json::from_slice(&listed.stdout).unwrap_or(Value::Null);
        if rows.as_array().is_some_and(|r| !r.is_empty()) && t0.elapsed() > Duration::from_millis(1200) {
            assert_eq!(rows[0]["status"], "running", "while it runs, it lists as running");
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "the run never showed up in the store"
        );
    }
    // SIGKILL: no chance to clean up.
    let _ = Command::new("kill").args(["-9", &child.id().to_string()]).status();
    let _ = child.wait();
    let printed = reader.join().unwrap();
    assert!(!printed.contains("investigation_finished"));
    assert!(db.exists());
    let listed = inquest(&dir, &["list", "--json"]);
    assert!(listed.status.success(), "{}", String::from_utf8_lossy(&listed.stderr));
    let rows: Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(rows.as_array().unwrap().len(), 1);
    assert_eq!(rows[0]["status"], "interrupted");
    let human = String::from_utf8(inquest(&dir, &["list"]).stdout).unwrap();
    assert!(human.contains("interrupted"), "{human}");
    // What was written before the kill is still readable as a report.
    let trace = rows[0]["trace_id"].as_str().unwrap();
    let report = inquest(&dir, &["report", &trace[..8]]);
    assert!(report.status.success(), "{}", String::from_utf8_lossy(&report.stderr));
    assert!(String::from_utf8_lossy(&report.stdout).contains("CheckoutLatencyHigh"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_human_run_prints_the_conclusion_and_the_report_explains_it() {
    let dir = data_dir("human");
    let out = inquest(
        &dir,
        &[
            "run",
            "--scenario",
            "checkout-db-pool",
            "--strategies",
            "metrics-first,logs-first,dependency-walk",
        ],
    );
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("Root causes"), "{text}");
    assert!(
        text.lines().any(|l| l.trim_start().starts_with("1  orders-db")),
        "{text}"
    );
    for s in ["metrics-first", "logs-first", "dependency-walk"] {
        assert!(text.contains(s));
    }
    assert!(!text.contains("traces-first"));
    let rows: Value = serde_json::from_slice(&inquest(&dir, &["list", "--json"]).stdout).unwrap();
    assert_eq!(rows[0]["status"], "done");
    assert_eq!(rows[0]["top_service"], "orders-db");
    let trace = rows[0]["trace_id"].as_str().unwrap();
    let report = String::from_utf8(inquest(&dir, &["report", trace]).stdout).unwrap();
    assert!(report.starts_with('#'), "Markdown: {report}");
    assert!(report.contains("orders-db"));
    assert!(report.contains("metrics-first"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn scenarios_lists_every_built_in_one() {
    let dir = data_dir("list");
    let out = inquest(&dir, &["scenarios", "--json"]);
    let rows: Value = serde_json::from_slice(&out.stdout).unwrap();
    let n = Simulator::builtin().len();
    assert_eq!(rows.as_array().unwrap().len(), n);
    assert!(rows.as_array().unwrap().iter().any(|r| r["id"] == "checkout-db-pool"));
    let _ = std::fs::remove_dir_all(&dir);
}
