//! `inquest insights` over a store with planted investigations and grades:
//! the exact numbers per alert, per graded fault kind and per strategy, the
//! `--since` window, "–" (null) where there is no data, and output that is
//! safe for a terminal whatever the alerts were called.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::planted::{HOSTILE, history};
use inquest::store::{DB_FILE, Store};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_inquest");

struct Dir(PathBuf);

impl Dir {
    fn planted(name: &str) -> Dir {
        let dir = std::env::temp_dir().join(format!("inquest-insights-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        history(&Store::open(dir.join(DB_FILE)).unwrap());
        Dir(dir)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn inquest(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut c = Command::new(BIN);
    c.args(args)
        .env("INQUEST_DATA_DIR", dir)
        .env("INQUEST_CONFIG_HOME", dir.join("config"))
        .env_remove("NO_COLOR");
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn json_of(dir: &Path, args: &[&str]) -> Value {
    let mut all = vec!["insights", "--json"];
    all.extend_from_slice(args);
    let out = inquest(dir, &all, &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).unwrap()
}

/// A row's cells as (key, cells) with numbers rounded to 4 places.
fn row(v: &Value, key: &str) -> Value {
    v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["key"] == key)
        .unwrap_or_else(|| panic!("no row {key} in {v:#}"))["cells"]
        .clone()
}

#[test]
fn by_alert_the_numbers_are_exact_and_missing_data_is_null() {
    let dir = Dir::planted("alert");
    let v = json_of(&dir.0, &["--since", "7d"]);
    assert_eq!(v["by"], "alert");
    assert_eq!(v["since"], "7d");
    let ids: Vec<&str> = v["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert_eq!(
        ids,
        [
            "investigations",
            "graded",
            "accepted",
            "partly",
            "wrong",
            "ac1",
            "first_cause_s",
            "right_cause_s",
            "tool_calls",
            "tokens",
            "cost_usd",
            "failed"
        ]
    );
    assert_eq!(v["columns"][2]["better"], "higher");
    assert_eq!(v["columns"][4]["better"], "lower");
    let keys: Vec<&str> = v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["key"].as_str().unwrap())
        .collect();
    assert_eq!(
        keys,
        ["CheckoutLatencyHigh", HOSTILE],
        "busiest first; the old one is outside 7d"
    );
    assert_eq!(
        row(&v, "CheckoutLatencyHigh"),
        json!({
            "investigations": 3, "graded": 0.6667, "accepted": 1, "partly": 0, "wrong": 0,
            // Of the two graded top causes one was right; the re-graded one counts as its last grade.
            "ac1": 0.5,
            // 60+30 s, 120+30 s and 0+40 s after the alerts fired.
            "first_cause_s": 90, "right_cause_s": 120,
            "tool_calls": 20, "tokens": null, "cost_usd": null, "failed": 0.3333
        })
    );
    assert_eq!(
        row(&v, HOSTILE),
        json!({
            "investigations": 1, "graded": 1, "accepted": 0, "partly": 1, "wrong": 0, "ac1": 0,
            "first_cause_s": 15, "right_cause_s": null,
            "tool_calls": 4, "tokens": 1200, "cost_usd": 0.003, "failed": 0
        })
    );
    assert_eq!(
        v["total"],
        json!({"key": "all", "cells": {
            "investigations": 4, "graded": 0.75, "accepted": 0.6667, "partly": 0.3333, "wrong": 0, "ac1": 0.3333,
            "first_cause_s": 65, "right_cause_s": 120,
            "tool_calls": 15, "tokens": 1200, "cost_usd": 0.003, "failed": 0.25
        }})
    );
}

#[test]
fn since_filters_and_a_bad_window_is_bad_input() {
    let dir = Dir::planted("since");
    let all = json_of(&dir.0, &[]);
    assert_eq!(all["since"], Value::Null);
    assert_eq!(all["total"]["cells"]["investigations"], 5);
    assert_eq!(row(&all, "OldAlert")["accepted"], 1);
    let hour = json_of(&dir.0, &["--since", "90m"]);
    assert_eq!(hour["total"]["cells"]["investigations"], 2);
    let none = json_of(&dir.0, &["--since", "1s"]);
    assert_eq!(none["rows"], json!([]));
    assert_eq!(none["total"]["cells"]["investigations"], 0);
    assert_eq!(none["total"]["cells"]["accepted"], Value::Null);

    let out = inquest(&dir.0, &["insights", "--since", "a week"], &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--since") && err.contains("expected a duration"), "{err}");
    let out = inquest(&dir.0, &["insights", "--by", "colour"], &[]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("alert, kind or strategy"));
}

#[test]
fn by_kind_rows_are_the_kinds_the_engineers_graded() {
    let dir = Dir::planted("kind");
    let v = json_of(&dir.0, &["--by", "kind", "--since", "7d"]);
    assert_eq!(v["by"], "kind");
    let keys: Vec<&str> = v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["key"].as_str().unwrap())
        .collect();
    // Both graded-correct causes were pool exhaustion; the ungraded run counts as the kind it proposed.
    assert_eq!(keys, ["connection_pool_exhaustion", "cpu_saturation", "disk_full"]);
    let pool = row(&v, "connection_pool_exhaustion");
    assert_eq!(pool["investigations"], 2);
    assert_eq!(pool["accepted"], 1);
    assert_eq!(pool["ac1"], 0.5);
    assert_eq!(pool["first_cause_s"], 120);
    let cpu = row(&v, "cpu_saturation");
    assert_eq!(cpu["graded"], 0);
    assert_eq!(cpu["accepted"], Value::Null);
    assert_eq!(cpu["failed"], 1);
    assert_eq!(row(&v, "disk_full")["partly"], 1);
    assert_eq!(v["total"]["cells"]["investigations"], 4);
}

#[test]
fn by_strategy_each_strategy_answers_for_the_causes_it_found() {
    let dir = Dir::planted("strategy");
    let v = json_of(&dir.0, &["--by", "strategy", "--since", "7d"]);
    let keys: Vec<&str> = v["rows"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["metrics-first", "logs-first"]);
    assert_eq!(
        row(&v, "metrics-first"),
        json!({
            "investigations": 4, "graded": 0.75, "accepted": 0.3333, "partly": 0.3333, "wrong": 0.3333,
            "ac1": 0.3333, "first_cause_s": 65, "right_cause_s": 90,
            "tool_calls": 9, "tokens": 1200, "cost_usd": null, "failed": 0.25
        })
    );
    assert_eq!(
        row(&v, "logs-first"),
        json!({
            "investigations": 2, "graded": 0.5, "accepted": 1, "partly": 0, "wrong": 0,
            "ac1": 1, "first_cause_s": 150, "right_cause_s": 150,
            "tool_calls": 6, "tokens": null, "cost_usd": null, "failed": 0
        })
    );
    // The total is every investigation once, whatever the rows are.
    assert_eq!(v["total"]["cells"]["investigations"], 4);
}

#[test]
fn the_table_without_colour_is_marked_and_escapes_hostile_names() {
    let dir = Dir::planted("text");
    let out = inquest(&dir.0, &["insights", "--since", "7d"], &[("NO_COLOR", "1")]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        !text.contains('\u{1b}') && !text.contains('\u{202e}') && !text.contains('\u{9b}'),
        "{text}"
    );
    assert!(text.contains("DiskFull␛[2J\\u{202e}evil"), "{text}");
    assert!(
        text.starts_with("Insights by alert · last 7d · 4 investigations\n"),
        "{text}"
    );
    let line = |key: &str| text.lines().find(|l| l.starts_with(key)).unwrap().to_string();
    let checkout = line("CheckoutLatencyHigh");
    // A third failed: the poor cell is marked; no tokens: "–", not 0.
    assert!(checkout.ends_with(" !   33%"), "{checkout}");
    assert!(checkout.contains("   –"), "{checkout}");
    assert!(checkout.contains("1m30s") && checkout.contains("2m"), "{checkout}");
    let hostile = line("DiskFull");
    assert!(hostile.contains(" !    0%"), "accepted none of one graded: {hostile}");
    assert!(text.contains("\nall "), "{text}");

    // Markdown and JSON are as safe.
    let md = inquest(&dir.0, &["insights", "--markdown", "--since", "7d"], &[]);
    let md = String::from_utf8(md.stdout).unwrap();
    assert!(md.contains("| alert | inv | graded |"), "{md}");
    assert!(md.contains("| DiskFull␛[2J\\u{202e}evil | 1 |"), "{md}");
    assert!(!md.contains('\u{1b}') && !md.contains('\u{202e}'));
    let raw = inquest(&dir.0, &["insights", "--json"], &[]).stdout;
    let raw = String::from_utf8(raw).unwrap();
    assert!(!raw.contains('\u{1b}') && !raw.contains('\u{202e}'), "{raw}");
    assert!(raw.contains("\\u001b[2J\\u202eevil"), "{raw}");
}

#[test]
fn an_empty_store_says_so() {
    let dir = std::env::temp_dir().join(format!("inquest-insights-empty-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let out = inquest(&dir, &["insights"], &[]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "No investigations yet. Try: inquest demo\n"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
