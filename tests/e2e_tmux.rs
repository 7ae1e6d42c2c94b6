//! The real binary in a real terminal: tmux at 100x30, driven as an on-call
//! engineer would, then checked from `inquest feedback --json` and the store.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use inquest::model::{BranchStatus, EventKind, GuidanceScope};
use inquest::store::Store;
use serde_json::Value;

mod common;

use common::tmux::{BIN, Tmux};

#[test]
fn an_engineer_steers_grades_and_comments_in_the_cockpit() {
    let Some(t) = Tmux::prepare("e2e") else { return };
    let dir = t.dir.clone();
    t.start("main", "demo --pace 600ms", &[], 100, 30);

    // The cockpit opens on the tree, the first branch selected.
    let s = t.wait_for("main", "the branch tree", |s| {
        s.contains("Branches") && s.contains("dependency-walk")
    });
    assert!(s.contains("CheckoutLatencyHigh"), "{s}");

    // Down to logs-first and guide it.
    t.keys("main", &["j"]);
    t.wait_for("main", "logs-first's stream", |s| s.contains("Stream: logs-first"));
    t.keys("main", &["i"]);
    t.wait_for("main", "the composer", |s| s.contains("Guidance for logs-first"));
    t.text("main", "look at orders-db connection errors");
    t.keys("main", &["Enter"]);
    t.wait_for("main", "the guidance in the stream", |s| {
        s.contains("tester: look at orders-db")
    });

    // Down to traces-first and prune it, confirming.
    t.keys("main", &["j"]);
    t.wait_for("main", "traces-first's stream", |s| s.contains("Stream: traces-first"));
    t.keys("main", &["x"]);
    t.wait_for("main", "the prune dialog", |s| s.contains("Prune traces-first?"));
    t.keys("main", &["y"]);
    t.wait_for("main", "traces-first pruned", |s| {
        s.lines().any(|l| l.contains("traces-first") && l.contains("pruned"))
    });

    // Back up and down the tree, then to logs-first, and wait for its log evidence.
    t.keys("main", &["k", "k", "j"]);
    t.wait_for("main", "log lines as evidence", |s| {
        s.contains("Stream: logs-first") && s.contains("lines in")
    });

    // Grade the top root cause as correct.
    t.wait_for("main", "a root cause", |s| s.contains("1. "));
    t.keys("main", &["4", "y"]);
    t.wait_for("main", "the grade saved", |s| s.contains("saved: graded correct"));
    // c right after the grade comments on it: one thread.
    t.keys("main", &["c"]);
    t.wait_for("main", "the reply composer", |s| {
        s.contains("Comment on your rating of root cause")
    });
    t.text("main", "the pool, as the config change says");
    t.keys("main", &["Enter"]);
    t.wait_for("main", "the reply saved", |s| s.contains("saved: comment (in reply)"));

    // Select two evidence lines and comment on them.
    t.keys("main", &["3", "j", "v", "j", "c"]);
    t.wait_for("main", "the comment composer", |s| {
        s.contains("Comment on evidence") && s.contains("lines 2-3")
    });
    t.text("main", "these two lines show the pool running dry");
    t.keys("main", &["Enter"]);
    t.wait_for("main", "the comment saved", |s| {
        s.contains("saved: comment on lines 2-3")
    });

    // q while it runs asks first.
    t.keys("main", &["q"]);
    t.wait_for("main", "the quit question", |s| {
        s.contains("Stop it, or keep it running in the background?")
    });
    t.keys("main", &["y"]);
    let store_path = dir.join("inquest.db");
    let t0 = Instant::now();
    let trace = loop {
        let out = Command::new(BIN)
            .args(["list", "--json"])
            .env("INQUEST_DATA_DIR", &dir)
            .output()
            .unwrap();
        let rows: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        if let Some(r) = rows.as_array().and_then(|r| r.first())
            && r["status"] != "running"
        {
            break r["trace_id"].as_str().unwrap().to_string();
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "the investigation never ended: {rows}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    check_store(&store_path, &dir, &trace);
}

fn check_store(db: &Path, dir: &Path, trace: &str) {
    let out = Command::new(BIN)
        .args(["feedback", trace, "--json"])
        .env("INQUEST_DATA_DIR", dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let fb: Value = serde_json::from_slice(&out.stdout).unwrap();
    let fb = fb.as_array().unwrap();
    assert_eq!(fb.len(), 3, "{fb:?}");

    let store = Store::open(db).unwrap();
    let trace_id = store.resolve(trace).unwrap();
    let events = store.events(trace_id).unwrap();
    let branch = |name: &str| {
        events
            .iter()
            .find(|e| matches!(&e.kind, EventKind::BranchStarted { strategy, .. } if strategy == name))
            .map(|e| e.span_id)
            .unwrap()
    };
    let (logs, traces) = (branch("logs-first"), branch("traces-first"));

    // The guidance went to logs-first, by tester.
    assert!(events.iter().any(|e| matches!(&e.kind,
        EventKind::GuidanceApplied { scope: GuidanceScope::Branch, branch: Some(b), text, author }
            if *b == logs && text == "look at orders-db connection errors" && author == "tester")));
    // traces-first was pruned.
    assert!(events.iter().any(|e| e.span_id == traces
        && matches!(
            &e.kind,
            EventKind::BranchStatusChanged {
                status: BranchStatus::Pruned,
                ..
            }
        )));

    // The grade is on a hypothesis span, as a root cause.
    let grade = fb.iter().find(|f| f["grade"] == "correct").expect("a grade");
    assert_eq!(grade["target"], "root_cause");
    assert_eq!(grade["trace_id"], trace_id.to_string());
    assert_eq!(grade["author"], "tester");
    let graded = grade["span_id"].as_str().unwrap();
    assert!(
        events
            .iter()
            .any(|e| e.span_id.to_string() == graded && matches!(e.kind, EventKind::HypothesisProposed { .. }))
    );

    // The reply to the grade names it as its parent; the grade has none.
    assert!(
        grade["parent"].is_null() && grade["id"].as_str().is_some_and(|i| i.len() == 16),
        "{grade}"
    );
    let reply = fb.iter().find(|f| f["parent"].is_string()).expect("a reply");
    assert_eq!(reply["parent"], grade["id"]);
    assert_eq!(reply["span_id"], grade["span_id"]);
    assert_eq!(reply["comment"], "the pool, as the config change says");

    // The comment is on a piece of logs-first's evidence, lines 2-3, quoting them as shown.
    let comment = fb
        .iter()
        .find(|f| f["comment"].is_string() && f["parent"].is_null())
        .expect("a comment");
    assert_eq!(comment["comment"], "these two lines show the pool running dry");
    assert_eq!(comment["target"], "evidence");
    assert_eq!(comment["highlight"]["start_line"], 2);
    assert_eq!(comment["highlight"]["end_line"], 3);
    let span = comment["span_id"].as_str().unwrap();
    let ev = events
        .iter()
        .find(|e| e.span_id.to_string() == span)
        .expect("the evidence event");
    let EventKind::EvidenceAdded { evidence } = &ev.kind else {
        panic!("not evidence: {ev:?}")
    };
    let call = ev.parent_span_id.unwrap();
    let call_event = events.iter().find(|e| e.span_id == call).unwrap();
    assert_eq!(
        call_event.parent_span_id,
        Some(logs),
        "the evidence belongs to logs-first"
    );
    let body = inquest::tools::sanitize::clean(&evidence.body);
    let now = events
        .iter()
        .find_map(|e| match &e.kind {
            EventKind::InvestigationStarted { now, .. } => Some(*now),
            _ => None,
        })
        .unwrap();
    // Log lines read as time, level and message: the quote is what the engineer saw.
    let rows = inquest::tui::readable::readable(evidence.kind, &body, now).expect("logs read as rows");
    let lines: Vec<String> = rows.iter().map(inquest::tui::readable::text).collect();
    assert_eq!(comment["highlight"]["quote"].as_str().unwrap(), lines[1..=2].join("\n"));
}

#[test]
fn a_malformed_theme_still_starts_with_a_visible_message() {
    let Some(t) = Tmux::prepare("e2e-theme") else { return };
    std::fs::write(
        t.dir.join("config/theme.toml"),
        "[tree]\nrunning = { fg = \"chartreuse-ish\" }\n",
    )
    .unwrap();
    t.start("main", "demo --pace 300ms", &[], 100, 30);
    let s = t.wait_for("main", "the cockpit with a message", |s| {
        s.contains("Branches") && s.contains("theme.toml:2")
    });
    assert!(s.contains("chartreuse-ish"), "{s}");
    t.keys("main", &["q"]);
}

#[test]
fn budget_stop_detail_and_ctrl_c_in_the_real_cockpit() {
    let Some(t) = Tmux::prepare("e2e-ctl") else { return };
    t.start("main", "demo --pace 600ms --budget-calls 60", &[], 80, 24);
    t.wait_for("main", "the cockpit", |s| s.contains("/60 calls"));
    // b raises the budget and the engine's answer is confirmed.
    t.keys("main", &["b"]);
    t.wait_for("main", "the budget raised", |s| {
        s.contains("budget raised to 90 tool calls")
    });
    t.wait_for("main", "the new limit in the status line", |s| s.contains("/90 calls"));
    // Ctrl-C asks; n keeps it running.
    t.keys("main", &["C-c"]);
    t.wait_for("main", "the stop question", |s| s.contains("Stop the investigation?"));
    t.keys("main", &["n"]);
    t.wait_for("main", "the question gone", |s| !s.contains("Stop the investigation?"));
    // Ctrl-C then y stops and keeps the review open.
    t.wait_for("main", "a root cause", |s| s.contains("1. "));
    t.keys("main", &["C-c"]);
    t.wait_for("main", "the stop question", |s| s.contains("Stop the investigation?"));
    t.keys("main", &["y"]);
    t.wait_for("main", "the investigation stopped", |s| s.contains("stopped"));
    // Enter on the top cause opens its detail; Esc returns.
    t.keys("main", &["4", "Enter"]);
    t.wait_for("main", "the detail view", |s| {
        s.contains("Root cause 1 of") && s.contains("Proposed by")
    });
    t.keys("main", &["Escape"]);
    t.wait_for("main", "the panes again", |s| {
        s.contains("Root causes") && !s.contains("Proposed by")
    });
    // On a stopped investigation Ctrl-C wants a second press, then quits.
    t.keys("main", &["C-c"]);
    t.wait_for("main", "the second-press hint", |s| s.contains("Ctrl-C again to quit"));
    t.keys("main", &["C-c"]);
    // The program ends, and with it the tmux session.
    t.wait_for("main", "the cockpit gone", |s| {
        s.trim().is_empty() || s.contains("review it with: inquest open")
    });
}
