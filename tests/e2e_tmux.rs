//! The real binary in a real terminal: tmux at 100x30, driven as an on-call
//! engineer would, then checked from `inquest feedback --json` and the store.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use inquest::model::{BranchStatus, EventKind, GuidanceScope};
use inquest::store::Store;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_inquest");

struct Tmux {
    session: String,
    dir: PathBuf,
}

impl Tmux {
    /// A session named for the test, with its own data and config directories;
    /// `None` (the test skipped, loudly) where tmux is missing and not required.
    fn prepare(tag: &str) -> Option<Tmux> {
        if !have_tmux() {
            assert!(
                std::env::var_os("INQUEST_REQUIRE_TMUX").is_none(),
                "tmux is required for this test"
            );
            eprintln!("skipped: tmux is not installed (.ci/run installs it)");
            return None;
        }
        let name = format!("inquest-e2e{tag}-{}", std::process::id());
        let dir = std::env::temp_dir().join(&name);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("config")).unwrap();
        Some(Tmux { session: name, dir })
    }

    /// Starts `inquest ARGS` in a `width`x`height` terminal on the session's directories.
    fn start(&self, args: &str, width: u16, height: u16) {
        let command = format!(
            "env INQUEST_DATA_DIR={} INQUEST_CONFIG_HOME={} USER=tester TERM=xterm-256color {BIN} {args}",
            self.dir.display(),
            self.dir.join("config").display(),
        );
        let (w, h) = (width.to_string(), height.to_string());
        self.cmd(&["new-session", "-d", "-s", &self.session, "-x", &w, "-y", &h, &command]);
    }

    fn cmd(&self, args: &[&str]) -> String {
        let out = Command::new("tmux").args(args).output().expect("tmux runs");
        String::from_utf8_lossy(&out.stdout).to_string()
    }
    fn keys(&self, keys: &[&str]) {
        for k in keys {
            self.cmd(&["send-keys", "-t", &self.session, k]);
            std::thread::sleep(Duration::from_millis(120));
        }
    }
    fn text(&self, s: &str) {
        self.cmd(&["send-keys", "-t", &self.session, "-l", s]);
        std::thread::sleep(Duration::from_millis(150));
    }
    fn screen(&self) -> String {
        self.cmd(&["capture-pane", "-p", "-t", &self.session])
    }
    fn wait_for(&self, what: &str, f: impl Fn(&str) -> bool) -> String {
        let t0 = Instant::now();
        loop {
            let s = self.screen();
            if f(&s) {
                return s;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(40),
                "timed out waiting for {what}; screen:\n{s}"
            );
            std::thread::sleep(Duration::from_millis(150));
        }
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.session])
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn have_tmux() -> bool {
    Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success())
}

#[test]
fn an_engineer_steers_grades_and_comments_in_the_cockpit() {
    let Some(t) = Tmux::prepare("") else { return };
    let dir = t.dir.clone();
    t.start("demo --pace 600ms", 100, 30);

    // The cockpit opens on the tree, the first branch selected.
    let s = t.wait_for("the branch tree", |s| {
        s.contains("Branches") && s.contains("dependency-walk")
    });
    assert!(s.contains("CheckoutLatencyHigh"), "{s}");

    // Down to logs-first and guide it.
    t.keys(&["j"]);
    t.wait_for("logs-first's stream", |s| s.contains("Stream: logs-first"));
    t.keys(&["i"]);
    t.wait_for("the composer", |s| s.contains("Guidance for logs-first"));
    t.text("look at orders-db connection errors");
    t.keys(&["Enter"]);
    t.wait_for("the guidance in the stream", |s| {
        s.contains("tester: look at orders-db")
    });

    // Down to traces-first and prune it, confirming.
    t.keys(&["j"]);
    t.wait_for("traces-first's stream", |s| s.contains("Stream: traces-first"));
    t.keys(&["x"]);
    t.wait_for("the prune dialog", |s| s.contains("Prune traces-first?"));
    t.keys(&["y"]);
    t.wait_for("traces-first pruned", |s| {
        s.lines().any(|l| l.contains("traces-first") && l.contains("pruned"))
    });

    // Back up and down the tree, then to logs-first, and wait for its log evidence.
    t.keys(&["k", "k", "j"]);
    t.wait_for("log lines as evidence", |s| {
        s.contains("Stream: logs-first") && s.contains("lines in")
    });

    // Grade the top root cause as correct.
    t.wait_for("a root cause", |s| s.contains("1. "));
    t.keys(&["4", "y"]);
    t.wait_for("the grade saved", |s| s.contains("saved: graded correct"));
    // c right after the grade comments on it: one thread.
    t.keys(&["c"]);
    t.wait_for("the reply composer", |s| {
        s.contains("Comment on your rating of root cause")
    });
    t.text("the pool, as the config change says");
    t.keys(&["Enter"]);
    t.wait_for("the reply saved", |s| s.contains("saved: comment (in reply)"));

    // Select two evidence lines and comment on them.
    t.keys(&["3", "j", "v", "j", "c"]);
    t.wait_for("the comment composer", |s| {
        s.contains("Comment on evidence") && s.contains("lines 2-3")
    });
    t.text("these two lines show the pool running dry");
    t.keys(&["Enter"]);
    t.wait_for("the comment saved", |s| s.contains("saved: comment on lines 2-3"));

    // q while it runs asks first.
    t.keys(&["q"]);
    t.wait_for("the quit question", |s| {
        s.contains("Stop it, or keep it running in the background?")
    });
    t.keys(&["y"]);
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
    let Some(t) = Tmux::prepare("-theme") else { return };
    std::fs::write(
        t.dir.join("config/theme.toml"),
        "[tree]\nrunning = { fg = \"chartreuse-ish\" }\n",
    )
    .unwrap();
    t.start("demo --pace 300ms", 100, 30);
    let s = t.wait_for("the cockpit with a message", |s| {
        s.contains("Branches") && s.contains("theme.toml:2")
    });
    assert!(s.contains("chartreuse-ish"), "{s}");
    t.keys(&["q"]);
}

#[test]
fn budget_stop_detail_and_ctrl_c_in_the_real_cockpit() {
    let Some(t) = Tmux::prepare("-ctl") else { return };
    t.start("demo --pace 600ms --budget-calls 60", 80, 24);
    t.wait_for("the cockpit", |s| s.contains("/60 calls"));
    // b raises the budget and the engine's answer is confirmed.
    t.keys(&["b"]);
    t.wait_for("the budget raised", |s| s.contains("budget raised to 90 tool calls"));
    t.wait_for("the new limit in the status line", |s| s.contains("/90 calls"));
    // Ctrl-C asks; n keeps it running.
    t.keys(&["C-c"]);
    t.wait_for("the stop question", |s| s.contains("Stop the investigation?"));
    t.keys(&["n"]);
    t.wait_for("the question gone", |s| !s.contains("Stop the investigation?"));
    // Ctrl-C then y stops and keeps the review open.
    t.wait_for("a root cause", |s| s.contains("1. "));
    t.keys(&["C-c"]);
    t.wait_for("the stop question", |s| s.contains("Stop the investigation?"));
    t.keys(&["y"]);
    t.wait_for("the investigation stopped", |s| s.contains("stopped"));
    // Enter on the top cause opens its detail; Esc returns.
    t.keys(&["4", "Enter"]);
    t.wait_for("the detail view", |s| {
        s.contains("Root cause 1 of") && s.contains("Proposed by")
    });
    t.keys(&["Escape"]);
    t.wait_for("the panes again", |s| {
        s.contains("Root causes") && !s.contains("Proposed by")
    });
    // On a stopped investigation Ctrl-C wants a second press, then quits.
    t.keys(&["C-c"]);
    t.wait_for("the second-press hint", |s| s.contains("Ctrl-C again to quit"));
    t.keys(&["C-c"]);
    // The program ends, and with it the tmux session.
    t.wait_for("the cockpit gone", |s| {
        s.trim().is_empty() || s.contains("review it with: inquest open")
    });
}
