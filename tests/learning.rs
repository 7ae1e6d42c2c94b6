//! Graded traces make the next investigation of the same alert better: a
//! grade becomes guidance the next run starts with, visible in its trace, and
//! it moves the ranking; `--no-learned` and `inquest learned --forget` undo it.

mod common;

use std::path::{Path, PathBuf};

use common::graded::{causes, grade, inquest};
use inquest::model::Grade;
use serde_json::Value;

const SCENARIO: &str = "checkout-db-pool";

fn run(dir: &Path, extra: &[&str]) -> Vec<Value> {
    common::graded::run(dir, SCENARIO, extra)
}

fn learned_lines(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .filter(|e| e["type"] == "guidance_applied" && e["author"] == "learned")
        .map(|e| e["text"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_grade_becomes_guidance_for_the_next_run_of_the_alert() {
    let dir: PathBuf = std::env::temp_dir().join(format!("inquest-learn-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();

    let first = run(&dir, &[]);
    assert!(learned_lines(&first).is_empty(), "nothing graded yet");
    let ranked = causes(&first);
    assert_eq!(ranked[0]["service"], "orders-db");
    let top = ranked[0]["confidence"].as_f64().unwrap();

    // The engineer says the top cause was wrong: the next run starts knowing it.
    grade(&dir, &first, &ranked[0], Grade::Wrong, None);
    let second = run(&dir, &[]);
    let lines = learned_lines(&second);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].contains("graded wrong by alice") && lines[0].contains("orders-db"),
        "{lines:?}"
    );
    // Applied before any branch starts, to the whole investigation.
    let applied = second.iter().position(|e| e["type"] == "guidance_applied").unwrap();
    let first_branch = second.iter().position(|e| e["type"] == "branch_started").unwrap();
    assert!(applied < first_branch);
    assert_eq!(second[applied]["scope"], "investigation");
    let after = causes(&second);
    let demoted = after.iter().find(|c| c["service"] == "orders-db");
    assert!(
        after[0]["service"] != "orders-db" || demoted.unwrap()["confidence"].as_f64().unwrap() < top,
        "{after:?}"
    );

    // Re-grading the same cause replaces the lesson rather than adding one.
    grade(&dir, &first, &ranked[0], Grade::Correct, None);
    let third = run(&dir, &[]);
    let lines = learned_lines(&third);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].contains("graded correct") && lines[0].contains("suspect orders-db"),
        "{lines:?}"
    );
    assert_eq!(causes(&third)[0]["service"], "orders-db");

    // Strategy records on this alert, and a way to see and forget what was learned.
    let out = inquest(&dir, &["learned", "--json"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    let alert = &v[0];
    assert_eq!(alert["alert"], "CheckoutLatencyHigh");
    assert_eq!(alert["guidance"].as_array().unwrap().len(), 1);
    let stats = alert["strategies"].as_array().unwrap();
    assert!(!stats.is_empty());
    assert!(
        stats
            .iter()
            .all(|s| s["correct"] == 1 && s["wrong"] == 0 && s["runs"] == 1),
        "{stats:?}"
    );

    assert!(learned_lines(&run(&dir, &["--no-learned"])).is_empty());
    let out = inquest(&dir, &["learned", "--forget", "CheckoutLatencyHigh"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(learned_lines(&run(&dir, &[])).is_empty());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_partly_grade_never_raises_the_kind_it_rules_out() {
    let dir: PathBuf = std::env::temp_dir().join(format!("inquest-learn-partly-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let first = run(&dir, &[]);
    let ranked = causes(&first);
    let checkout = ranked
        .iter()
        .find(|c| c["service"] == "checkout" && c["kind"] == "bad_deploy")
        .expect("checkout · bad_deploy is ranked");
    grade(&dir, &first, checkout, Grade::Partly, None);
    let confidence = |events: &[Value]| {
        causes(events).iter().find(|c| c["service"] == "checkout").map(|c| {
            (
                c["kind"].as_str().unwrap().to_string(),
                c["confidence"].as_f64().unwrap(),
            )
        })
    };
    let learned = run(&dir, &[]);
    assert!(learned_lines(&learned)[0].contains("the kind was not bad_deploy"));
    let without = run(&dir, &["--no-learned"]);
    let (_, base) = confidence(&without).unwrap();
    match confidence(&learned) {
        Some((kind, c)) if kind == "bad_deploy" => assert!(c <= base, "{c} > {base} without learning"),
        _ => {}
    }
    let _ = std::fs::remove_dir_all(&dir);
}
