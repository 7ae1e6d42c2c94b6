//! `inquest capture` against a real Prometheus on loopback, backfilled with a
//! scenario's metrics: the incident is frozen into a recorded scenario that
//! is small, holds only what the reasoner reads, and investigated offline
//! names the service that really broke.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

mod common;

const BIN: &str = env!("CARGO_BIN_EXE_inquest");

fn inquest(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("INQUEST_DATA_DIR", dir.join("data"))
        .env("INQUEST_CONFIG_HOME", dir.join("config"))
        .output()
        .unwrap()
}

fn top(out: &Output) -> (String, String) {
    let text = String::from_utf8_lossy(&out.stdout);
    let last: Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(last["type"], "investigation_finished");
    let rc = &last["root_causes"][0];
    (
        rc["service"].as_str().unwrap().into(),
        rc["kind"].as_str().unwrap().into(),
    )
}

#[test]
fn a_captured_incident_replays_offline_to_the_service_that_broke() {
    if !common::have_prometheus() {
        return;
    }
    let scenario = "checkout-db-pool";
    let dir = std::env::temp_dir().join(format!("inquest-capture-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let prom = common::BackfilledPrometheus::start(&dir.join("prom"), scenario, |t| t);
    std::fs::create_dir_all(dir.join("config")).unwrap();
    std::fs::write(
        dir.join("config/config.toml"),
        format!(
            "[sources.prometheus]\nurl = \"http://127.0.0.1:{}\"\ntimeout = \"10s\"\n",
            prom.port
        ),
    )
    .unwrap();
    common::write_alert(&dir, scenario);
    let alert = dir.join("alert.json");
    let out_file = dir.join("recorded/db-pool.toml");
    std::fs::create_dir_all(dir.join("recorded")).unwrap();

    // Without the truth an alert file cannot be captured: bad input, exit 2, saying what to add.
    let bad = inquest(
        &dir,
        &[
            "capture",
            "--alert",
            alert.to_str().unwrap(),
            "--out",
            out_file.to_str().unwrap(),
        ],
    );
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("--truth SERVICE/KIND"));

    // Changes a pipeline posted: the one in the window, of a recorded service, becomes an event.
    post_changes(
        &dir,
        &[
            (
                "2026-03-01T10:35:00Z",
                "frontend",
                "deploy",
                "frontend v2.14.1 token=hunter2hunter2",
            ),
            (
                "2026-03-01T10:41:00Z",
                "billing-batch",
                "deploy",
                "a service the incident never touches",
            ),
            (
                "2026-03-01T08:00:00Z",
                "orders-db",
                "rollback",
                "long before the window",
            ),
        ],
    );
    let cap = inquest(
        &dir,
        &[
            "capture",
            "--alert",
            alert.to_str().unwrap(),
            "--truth",
            "orders-db/connection_pool_exhaustion",
            "--out",
            out_file.to_str().unwrap(),
        ],
    );
    let said = String::from_utf8_lossy(&cap.stderr);
    assert!(cap.status.success(), "{said}");
    assert!(said.contains("KiB in all"), "{said}");
    eprintln!("{said}");

    // Small, and only the families the reasoner reads.
    let om = std::fs::read_to_string(dir.join("recorded/db-pool/metrics.om")).unwrap();
    assert!(om.len() < 1024 * 1024, "metrics.om is {} bytes", om.len());
    assert!(om.trim_end().ends_with("# EOF"));
    let families: std::collections::BTreeSet<&str> = om
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .map(|l| l.split(['{', ' ']).next().unwrap())
        .collect();
    assert!(families.contains("pg_stat_activity_count"), "{families:?}");
    assert!(
        families.contains("http_client_request_duration_seconds_bucket"),
        "{families:?}"
    );
    assert!(!families.iter().any(|f| f.ends_with("_sum")), "{families:?}");
    let toml = std::fs::read_to_string(&out_file).unwrap();
    assert!(
        toml.contains("[recorded]") && toml.contains("service = \"orders-db\""),
        "{toml}"
    );
    let events: Vec<&str> = toml.split("[[event]]").skip(1).collect();
    assert_eq!(events.len(), 1, "{toml}");
    assert!(
        events[0].contains("at = \"1020s\"\nkind = \"deploy\"\ntarget = \"frontend\""),
        "{toml}"
    );
    assert!(events[0].contains("frontend v2.14.1"), "{toml}");
    assert!(
        !events[0].contains("hunter2"),
        "a secret in a change summary is redacted: {toml}"
    );
    assert!(said.contains("1 changes"), "{said}");

    // From a stored investigation: its alert, and the truth from the root cause graded correct.
    let run = inquest(&dir, &["run", "--alert", alert.to_str().unwrap(), "--json"]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    let text = String::from_utf8_lossy(&run.stdout);
    let last: Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    let trace = last["trace_id"].as_str().unwrap().to_string();
    let rc = &last["root_causes"][0];
    let graded = store_grade(&dir, &trace, rc["hypotheses"][0].as_str().unwrap());
    let from_trace = dir.join("recorded/from-trace.toml");
    let cap = inquest(
        &dir,
        &["capture", &trace[..8], "--out", from_trace.to_str().unwrap(), "--gzip"],
    );
    assert!(cap.status.success(), "{}", String::from_utf8_lossy(&cap.stderr));
    let toml = std::fs::read_to_string(&from_trace).unwrap();
    assert!(
        toml.contains(&format!(
            "[truth]\nservice = \"{}\"\nkind = \"{}\"",
            rc["service"].as_str().unwrap(),
            rc["kind"].as_str().unwrap()
        )),
        "{graded:?}\n{toml}"
    );

    // Offline, from the recording alone: no Prometheus, no simulator behind it.
    drop(prom);
    std::fs::write(dir.join("config/config.toml"), "").unwrap();
    let run = inquest(&dir, &["run", "--scenario-file", out_file.to_str().unwrap(), "--json"]);
    assert!(run.status.success(), "{}", String::from_utf8_lossy(&run.stderr));
    assert_eq!(top(&run).0, "orders-db");
    // The compressed capture: a tenth of the size, replayed the same.
    let gz = std::fs::metadata(dir.join("recorded/from-trace/metrics.om.gz"))
        .unwrap()
        .len();
    assert!(gz * 4 < om.len() as u64, "{gz} bytes compressed against {}", om.len());
    assert!(
        std::fs::read_to_string(&from_trace)
            .unwrap()
            .contains("from-trace/metrics.om.gz")
    );
    let again = inquest(
        &dir,
        &["run", "--scenario-file", from_trace.to_str().unwrap(), "--json"],
    );
    assert!(again.status.success(), "{}", String::from_utf8_lossy(&again.stderr));
    assert_eq!(top(&again), top(&run));
    let _ = std::fs::remove_dir_all(&dir);
}

/// Changes as `POST /v1/changes` stores them: (at, service, kind, summary).
fn post_changes(dir: &Path, changes: &[(&str, &str, &str, &str)]) {
    use inquest::model::Timestamp;
    use inquest::store::RecordedChange;
    let store = inquest::store::Store::open(dir.join("data/inquest.db")).unwrap();
    let rows: Vec<RecordedChange> = changes
        .iter()
        .map(|(at, service, kind, summary)| RecordedChange {
            at: Timestamp::parse_rfc3339(at).unwrap(),
            service: service.to_string(),
            kind: kind.to_string(),
            summary: summary.to_string(),
            version: None,
            author: "ci".into(),
        })
        .collect();
    store.add_changes(&rows).unwrap();
}

/// Grades a root cause (by its first hypothesis span) correct in the store under `dir/data`.
fn store_grade(dir: &Path, trace: &str, hypothesis: &str) -> inquest::model::Feedback {
    use inquest::model::{Feedback, Grade, SpanId, Timestamp, TraceId};
    let store = inquest::store::Store::open(dir.join("data/inquest.db")).unwrap();
    let f = Feedback {
        id: Feedback::new_id(),
        parent: None,
        trace_id: trace.parse::<TraceId>().unwrap(),
        span_id: hypothesis.parse::<SpanId>().unwrap(),
        target: "root_cause".into(),
        rating: None,
        grade: Some(Grade::Correct),
        highlight: None,
        comment: None,
        author: "sre".into(),
        at: Timestamp::now(),
        bundle_id: String::new(),
        spans: Vec::new(),
    };
    store.save_feedback(&f).unwrap();
    f
}
