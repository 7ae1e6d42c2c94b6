//! Bad input gets a clear error naming the file, the line and what was
//! expected, and exit code 2; nothing else is touched.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_inquest");
const GOOD: &str = include_str!("../scenarios/checkout-db-pool.toml");

struct Case {
    dir: PathBuf,
}

impl Case {
    fn new(name: &str) -> Case {
        let dir = std::env::temp_dir().join(format!("inquest-bad-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Case { dir }
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .args(args)
            .env("INQUEST_DATA_DIR", &self.dir)
            .output()
            .unwrap()
    }

    /// Writes `text` as a scenario and runs it.
    fn scenario(&self, text: &str) -> (PathBuf, Output) {
        let path = self.dir.join("incident.toml");
        std::fs::write(&path, text).unwrap();
        let out = self.run(&["run", "--scenario", path.to_str().unwrap()]);
        (path, out)
    }
}

impl Drop for Case {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// The good scenario with the first `from` replaced by `to`, and the 1-based line of the change.
fn defect(from: &str, to: &str) -> (String, usize) {
    let at = GOOD.find(from).unwrap_or_else(|| panic!("{from:?} is in the scenario"));
    let line = GOOD[..at].matches('\n').count() + 1;
    (GOOD.replacen(from, to, 1), line)
}

fn assert_bad(out: &Output, path: &Path, line: usize, expects: &[&str]) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "exit code; stderr: {err}");
    assert!(
        out.stdout.is_empty(),
        "nothing on stdout: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let located = format!("{}:{line}:", path.display());
    assert!(err.contains(&located), "expected {located} in: {err}");
    for e in expects {
        assert!(err.contains(e), "expected {e:?} in: {err}");
    }
}

#[test]
fn an_unknown_key_names_the_key_and_what_is_expected() {
    let c = Case::new("key");
    let (text, line) = defect("replicas = 3", "replicas = 3\nreplica_count = 3");
    let (path, out) = c.scenario(&text);
    assert_bad(&out, &path, line + 1, &["unknown key", "replica_count", "replicas"]);
}

#[test]
fn a_bad_duration_says_how_durations_are_written() {
    let c = Case::new("duration");
    let (text, line) = defect("at = \"40m\"", "at = \"40 minutes\"");
    let (path, out) = c.scenario(&text);
    assert_bad(&out, &path, line, &["40 minutes", "duration"]);
}

#[test]
fn an_unknown_fault_kind_lists_the_taxonomy() {
    let c = Case::new("kind");
    let (text, line) = defect("kind = \"connection_pool_exhaustion\"", "kind = \"gremlins\"");
    let (path, out) = c.scenario(&text);
    assert_bad(
        &out,
        &path,
        line,
        &["gremlins", "connection_pool_exhaustion", "dns_failure"],
    );
}

#[test]
fn a_call_to_no_service_names_it() {
    let c = Case::new("calls");
    let (text, line) = defect(
        "calls = [\"orders-db\", \"payments\"]",
        "calls = [\"orders-db\", \"payment\"]",
    );
    let (path, out) = c.scenario(&text);
    assert_bad(&out, &path, line, &["payment", "no service"]);
}

#[test]
fn broken_toml_points_at_the_line() {
    let c = Case::new("toml");
    let (text, line) = defect("window = \"60m\"", "window = \"60m");
    let (path, out) = c.scenario(&text);
    assert_bad(&out, &path, line, &[]);
}

#[test]
fn an_unknown_scenario_lists_the_built_in_ones() {
    let c = Case::new("unknown");
    let out = c.run(&["run", "--scenario", "no-such-incident"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no-such-incident") && err.contains("checkout-db-pool"),
        "{err}"
    );
}

#[test]
fn an_unknown_strategy_lists_the_known_ones() {
    let c = Case::new("strategy");
    let out = c.run(&[
        "run",
        "--scenario",
        "checkout-db-pool",
        "--strategies",
        "metrics-first,astrology",
    ]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("astrology") && err.contains("logs-first"), "{err}");
}

#[test]
fn an_unknown_trace_is_bad_input() {
    let c = Case::new("trace");
    let out = c.run(&["report", "0000beef"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("0000beef"));
}

#[test]
fn a_bad_flag_is_bad_input() {
    let c = Case::new("flag");
    let out = c.run(&["run", "--scenario", "checkout-db-pool", "--budget-calls", "lots"]);
    assert_eq!(out.status.code(), Some(2));
    let out = c.run(&["run", "--scenario", "checkout-db-pool", "--pace", "soon"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--pace"));
}

#[test]
fn unsupported_promql_names_the_construct() {
    use inquest::sources::sim::promql;
    let set = inquest::sources::sim::series::SeriesSet::default();
    for (q, construct) in [
        ("predict_linear(up[5m], 60)", "predict_linear"),
        ("label_replace(up, \"a\", \"$1\", \"b\", \"(.*)\")", "label_replace"),
        ("sum(up) by (job) * on(job) group_left up", "group_left"),
        ("up @ 1700000000", "@"),
    ] {
        let err = promql::query_range(&set, q, 0, 60_000, 15_000).unwrap_err().to_string();
        assert!(err.contains(construct), "{q}: {err}");
    }
}
