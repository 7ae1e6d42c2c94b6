//! Logs as real services write them, replayed from a recorded scenario: the
//! one or two lines a dying container leaves, logfmt lines whose cause is in
//! `error=`, and a surge that ended before the alert fired.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};

const START: &str = "2026-11-20T10:00:00Z";

/// A recorded scenario of `services` with these log lines (minute, service,
/// level, message) and an alert on `alert` at minute 25 of 30.
fn scenario(dir: &Path, name: &str, alert: &str, services: &[&str], lines: &[(f64, &str, &str, String)]) -> PathBuf {
    let d = dir.join(name);
    std::fs::create_dir_all(&d).unwrap();
    let t0 = inquest::model::Timestamp::parse_rfc3339(START).unwrap().millis();
    let jsonl: Vec<String> = lines
        .iter()
        .map(|(m, svc, level, msg)| {
            let ts = inquest::model::Timestamp::from_millis(t0 + (m * 60_000.0) as i64).to_rfc3339();
            json!({"ts": ts, "service": svc, "pod": format!("{svc}-0"), "level": level, "message": msg}).to_string()
        })
        .collect();
    std::fs::write(d.join("logs.jsonl"), jsonl.join("\n") + "\n").unwrap();
    let mut toml = format!(
        "id = \"{name}\"\ntitle = \"t\"\nseed = 1\nwindow = \"30m\"\nstep = \"30s\"\nstart = \"{START}\"\n\n[alert]\nname = \"HighErrorRate\"\nat = \"25m\"\nseverity = \"page\"\nlabels = {{ service = \"{alert}\", namespace = \"shop\" }}\nsummary = \"s\"\n"
    );
    for s in services {
        toml.push_str(&format!("\n[[service]]\nname = \"{s}\"\nkind = \"http\"\ncalls = []\n"));
    }
    toml.push_str(&format!("\n[recorded]\nlogs = \"{name}/logs.jsonl\"\n"));
    let path = dir.join(format!("{name}.toml"));
    std::fs::write(&path, toml).unwrap();
    path
}

/// `inquest run --scenario FILE --strategies logs-first --json`: the final event and the branch's thoughts.
fn run(dir: &Path, scenario: &Path) -> (Value, Vec<String>) {
    let out = Command::new(env!("CARGO_BIN_EXE_inquest"))
        .args(["run", "--json", "--strategies", "logs-first", "--scenario"])
        .arg(scenario)
        .env("INQUEST_DATA_DIR", dir.join("data"))
        .env("INQUEST_CONFIG_HOME", dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let events: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let thoughts = events
        .iter()
        .filter_map(|e| e["text"].as_str().filter(|t| t.starts_with("Logs:")))
        .map(str::to_string)
        .collect();
    (events.last().unwrap().clone(), thoughts)
}

fn tmp(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("inquest-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn two_fatal_lines_of_a_dying_container_name_the_cause() {
    let dir = tmp("fatal");
    let mut lines = vec![(3.0, "billing", "warn", "slow query took 1200ms".to_string())];
    lines.push((
        21.2,
        "billing",
        "error",
        "/scripts/export.sh: line 42: syntax error near unexpected token `fi'".into(),
    ));
    lines.push((
        23.9,
        "billing",
        "error",
        "/scripts/export.sh: line 42: syntax error near unexpected token `fi'".into(),
    ));
    let sc = scenario(&dir, "fatal", "billing", &["billing"], &lines);
    let (fin, thoughts) = run(&dir, &sc);
    assert_eq!(fin["root_causes"][0]["service"], "billing", "{fin} {thoughts:?}");
    assert_eq!(fin["root_causes"][0]["kind"], "config_error", "{fin}");
    // One such line among ordinary noise words is not enough for a weak kind.
    let lines = vec![(22.0, "billing", "warn", "retrying request to ledger".to_string())];
    let sc = scenario(&dir, "weak", "billing", &["billing", "ledger"], &lines);
    let (fin, _) = run(&dir, &sc);
    assert!(fin["root_causes"].as_array().unwrap().is_empty(), "{fin}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn logfmt_lines_are_read_with_their_error_field_and_the_peer_they_name() {
    let dir = tmp("logfmt");
    let lines: Vec<(f64, &str, &str, String)> = (0..600)
        .map(|i| {
            let m = 15.0 + i as f64 / 60.0;
            (m, "frontend", "error", format!(
                "ts=2026-11-20T10:{:02}:{:02}Z level=error msg=\"upstream call failed\" peer=checkout route=/cart error=\"[Errno 111] Connection refused\"",
                m as u32, (i % 60)
            ))
        })
        .collect();
    let sc = scenario(&dir, "logfmt", "frontend", &["frontend", "checkout"], &lines);
    let (fin, thoughts) = run(&dir, &sc);
    let t = thoughts.join(" ");
    assert!(
        !t.contains("nothing new that names a cause") && t.contains("Connection refused"),
        "{t}"
    );
    assert_eq!(fin["root_causes"][0]["service"], "checkout", "{fin} {t}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_surge_that_ended_before_the_alert_is_left_out() {
    let dir = tmp("ended");
    let mut lines: Vec<(f64, &str, &str, String)> = Vec::new();
    // An earlier incident: DNS failures from minute 12 to 17, over before the alert at 25.
    for i in 0..300 {
        let m = 12.0 + i as f64 / 60.0;
        lines.push((
            m,
            "catalog",
            "error",
            "call to inventory failed: dial tcp: lookup inventory.shop.internal: no such host".into(),
        ));
    }
    // What the alert is about: a new version throwing from minute 22.
    for i in 0..200 {
        let m = 22.0 + i as f64 / 60.0;
        lines.push((
            m,
            "payments",
            "error",
            format!("RuntimeError: KeyError: 'three_ds_version' in charge handler request={i}"),
        ));
    }
    let sc = scenario(&dir, "ended", "payments", &["catalog", "inventory", "payments"], &lines);
    let (fin, thoughts) = run(&dir, &sc);
    assert_eq!(fin["root_causes"][0]["service"], "payments", "{fin} {thoughts:?}");
    assert_eq!(fin["root_causes"][0]["kind"], "bad_deploy", "{fin}");
    assert!(
        !fin["root_causes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["service"] == "inventory"),
        "{fin}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
