//! Investigations run through the binary on a directory of their own, and
//! root causes graded in its store as an engineer would in the cockpit.

use std::path::Path;
use std::process::{Command, Output};

use inquest::model::{Feedback, Grade, Timestamp, TraceId};
use inquest::store::{DB_FILE, Store};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_inquest");

/// `inquest ARGS` with `dir` as its data and config home.
pub fn inquest(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("INQUEST_DATA_DIR", dir)
        .env("INQUEST_CONFIG_HOME", dir.join("config"))
        .output()
        .unwrap()
}

/// `inquest run --scenario SCENARIO --json EXTRA...`: its events, the run having succeeded.
pub fn run(dir: &Path, scenario: &str, extra: &[&str]) -> Vec<Value> {
    let mut args = vec!["run", "--scenario", scenario, "--json"];
    args.extend_from_slice(extra);
    let out = inquest(dir, &args);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// The root causes the run ended with.
pub fn causes(events: &[Value]) -> Vec<Value> {
    events.last().unwrap()["root_causes"].as_array().unwrap().clone()
}

/// Grades `cause` (one of [`causes`]) by alice, with an optional comment.
pub fn grade(dir: &Path, events: &[Value], cause: &Value, grade: Grade, comment: Option<&str>) {
    let store = Store::open(dir.join(DB_FILE)).unwrap();
    let trace: TraceId = events[0]["trace_id"].as_str().unwrap().parse().unwrap();
    let span = cause["hypotheses"][0]
        .as_str()
        .or(cause["evidence"][0].as_str())
        .unwrap();
    store
        .save_feedback(&Feedback {
            id: Feedback::new_id(),
            parent: None,
            spans: Vec::new(),
            trace_id: trace,
            span_id: span.parse().unwrap(),
            target: "root_cause".into(),
            rating: None,
            grade: Some(grade),
            highlight: None,
            comment: comment.map(str::to_string),
            author: "alice".into(),
            at: Timestamp::now(),
            bundle_id: events[0]["bundle_id"].as_str().unwrap().into(),
        })
        .unwrap();
}
