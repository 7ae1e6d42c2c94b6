//! Untrusted text never reaches the terminal as control: an investigation of a
//! scenario whose alert, labels and recorded logs carry escape sequences, C1
//! controls, DEL and bidi overrides, then every subcommand that shows it, plain
//! and JSON. No raw control character in any output.

use std::path::{Path, PathBuf};
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_inquest");
const NASTY: &str = "\u{1b}[2J\u{1b}]52;c;cm0gLXJm\u{7}\u{9b}31m\u{7f}\u{202e}gnp.exe\u{2066}";

fn forbidden(c: char) -> bool {
    (c < ' ' && c != '\n' && c != '\t')
        || ('\u{7f}'..='\u{9f}').contains(&c)
        || ('\u{202a}'..='\u{202e}').contains(&c)
        || ('\u{2066}'..='\u{2069}').contains(&c)
}

fn scenario(dir: &Path) -> PathBuf {
    let base = include_str!("../scenarios/checkout-db-pool.toml");
    // TOML escapes for every character that is not plain printable ASCII.
    let esc: String = NASTY
        .chars()
        .map(|c| {
            if (' '..='~').contains(&c) && c != '"' && c != '\\' {
                c.to_string()
            } else {
                format!("\\u{:04X}", c as u32)
            }
        })
        .collect();
    let esc = esc.as_str();
    let text = base
        .replacen(
            "name = \"CheckoutLatencyHigh\"",
            &format!("name = \"CheckoutLatencyHigh{esc}\""),
            1,
        )
        .replacen(
            "summary = \"checkout p99 latency above 2s for 5m\"",
            &format!("summary = \"p99 {esc} high\""),
            1,
        )
        .replacen(
            "namespace = \"shop\" }",
            &format!("namespace = \"shop\", team = \"{esc}\" }}"),
            1,
        )
        .replacen("[truth]", "[recorded]\nlogs = \"logs.jsonl\"\n\n[truth]", 1);
    let mut logs = String::new();
    for i in 0..30 {
        let line = serde_json::json!({"ts": format!("2026-03-01T10:{:02}:00Z", 40 + i % 10), "service": "orders-db",
            "level": "error", "message": format!("too many connections {NASTY} client {i}")});
        logs.push_str(&format!("{line}\n"));
    }
    std::fs::write(dir.join("logs.jsonl"), logs).unwrap();
    let p = dir.join("nasty.toml");
    std::fs::write(&p, text).unwrap();
    p
}

fn run(dir: &Path, args: &[&str]) -> (String, String, Option<i32>) {
    let out = Command::new(BIN)
        .args(args)
        .env("INQUEST_DATA_DIR", dir.join("data"))
        .env("INQUEST_CONFIG_HOME", dir.join("config"))
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.status.code(),
    )
}

#[test]
fn no_subcommand_prints_raw_control_from_untrusted_text() {
    let dir = std::env::temp_dir().join(format!("inquest-hostile-out-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("config")).unwrap();
    let sc = scenario(&dir);
    let sc = sc.to_str().unwrap();
    let (json, _, code) = run(&dir, &["run", "--scenario", sc, "--json"]);
    assert_eq!(code, Some(0));
    let first: serde_json::Value = serde_json::from_str(json.lines().next().unwrap()).unwrap();
    let trace = first["trace_id"].as_str().unwrap().to_string();
    // The hostile text is in the events, whole (JSON escapes it, the parse restores it).
    assert!(first.to_string().contains("gnp.exe"));
    assert!(json.contains("\\u001b") && json.contains("\\u202e"), "JSON escapes");
    let t = &trace[..8];
    let commands: Vec<Vec<&str>> = vec![
        vec!["run", "--scenario", sc],
        vec!["run", "--scenario", sc, "--json"],
        vec!["demo", sc, "--headless", "--pace", "0s"],
        vec!["list"],
        vec!["list", "--json"],
        vec!["report", t],
        vec!["export", t, "--otlp", "-"],
        vec!["feedback", t],
        vec!["feedback", t, "--json"],
        vec!["learned"],
        vec!["learned", "--json"],
        vec!["scenarios", "--json"],
    ];
    let mut bad = Vec::new();
    for args in &commands {
        let (out, err, code) = run(&dir, args);
        if code != Some(0) {
            bad.push(format!("{args:?} exited {code:?}: {err}"));
        }
        for (stream, text) in [("stdout", &out), ("stderr", &err)] {
            if let Some(c) = text.chars().find(|c| forbidden(*c)) {
                bad.push(format!("{args:?} {stream} (exit {code:?}): raw U+{:04X}", c as u32));
            }
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
    let _ = std::fs::remove_dir_all(&dir);
}
