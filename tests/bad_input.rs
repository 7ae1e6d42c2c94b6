//! Bad input through the real binary: each test breaks a copy of a valid
//! scenario in one place and checks that `inquest run --scenario` exits 2 with
//! an error that names the file, the line of the defect and what was expected.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

const BIN: &str = env!("CARGO_BIN_EXE_inquest");
const BASE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/scenarios/checkout-db-pool.toml");

/// A fresh, empty directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let d = std::env::temp_dir().join(format!(
            "inquest-bad-input-{name}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("creates a temp dir");
        TempDir(d)
    }
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs the binary with its data directory inside `tmp`.
fn inquest(tmp: &TempDir, args: &[&str]) -> Output {
    let data = tmp.path().join("data");
    std::fs::create_dir_all(&data).expect("creates the data dir");
    Command::new(BIN)
        .args(args)
        .env("INQUEST_DATA_DIR", &data)
        .env("USER", "tester")
        .env("NO_COLOR", "1")
        .output()
        .expect("runs the binary")
}

fn base() -> String {
    std::fs::read_to_string(BASE).expect("reads the base scenario")
}

/// The 1-based line on which `needle` starts in `text`.
fn line_of(text: &str, needle: &str) -> usize {
    let at = text
        .find(needle)
        .unwrap_or_else(|| panic!("{needle:?} not in the broken scenario"));
    text[..at].matches('\n').count() + 1
}

/// Replaces the only occurrence of `from` in `text` with `to`.
fn replace_once(text: &str, from: &str, to: &str) -> String {
    assert_eq!(
        text.matches(from).count(),
        1,
        "{from:?} should occur exactly once in the base scenario"
    );
    text.replacen(from, to, 1)
}

/// Writes `text` as a scenario file, runs it, and checks the common part of the
/// error: exit code 2, one `inquest: path:line:col: message` line naming the
/// file and `line`. Returns the message.
fn run_broken(name: &str, text: &str, line: usize) -> String {
    let tmp = TempDir::new(name);
    let file = tmp.path().join(format!("{name}.toml"));
    std::fs::write(&file, text).expect("writes the scenario");
    let file = file.display().to_string();
    let out = inquest(&tmp, &["run", "--scenario", &file]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{name}: exit code; stderr: {stderr}");
    assert!(out.stdout.is_empty(), "{name}: nothing on stdout");
    let first = stderr.lines().next().unwrap_or("");
    let prefix = format!("inquest: {file}:{line}:");
    assert!(
        first.starts_with(&prefix),
        "{name}: expected the error to start with {prefix:?}, got: {stderr}"
    );
    // After `path:line:` come the column and the message.
    let rest = &first[prefix.len()..];
    let (col, message) = rest
        .split_once(": ")
        .unwrap_or_else(|| panic!("{name}: no column and message in {first:?}"));
    assert!(
        col.parse::<usize>().is_ok_and(|c| c >= 1),
        "{name}: column {col:?} in {first:?}"
    );
    assert!(!message.trim().is_empty(), "{name}: empty message");
    message.to_string()
}

#[test]
fn base_scenario_is_valid() {
    let tmp = TempDir::new("base");
    let file = tmp.path().join("base.toml");
    std::fs::write(&file, base()).unwrap();
    let out = inquest(&tmp, &["run", "--scenario", &file.display().to_string()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "the unbroken copy runs; stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn unknown_key() {
    // `replicas` misspelt in the first [[service]].
    let text = replace_once(&base(), "replicas = 3\n", "replica = 3\n");
    let line = line_of(&text, "replica = 3");
    let msg = run_broken("unknown-key", &text, line);
    assert!(msg.contains("unknown key"), "says the key is unknown: {msg}");
    assert!(msg.contains("`replica`"), "names the key: {msg}");
    for k in ["name", "kind", "calls", "replicas", "rps", "namespace"] {
        assert!(msg.contains(&format!("`{k}`")), "lists the expected key {k}: {msg}");
    }
}

#[test]
fn bad_duration() {
    // The fault's start, the only `at = "40m"`.
    let text = replace_once(&base(), "at = \"40m\"", "at = \"40 minutes\"");
    let line = line_of(&text, "at = \"40 minutes\"");
    let msg = run_broken("bad-duration", &text, line);
    assert!(msg.contains("\"40 minutes\""), "quotes what was found: {msg}");
    assert!(
        msg.contains("expected a duration"),
        "says a duration was expected: {msg}"
    );
    assert!(msg.contains("\"15m\""), "gives an example of one: {msg}");
}

#[test]
fn unknown_fault_kind() {
    // In [[fault]]; the same kind appears again in [truth], which stays valid.
    let base = base();
    let fault = base.find("[[fault]]").expect("a [[fault]] section");
    let (head, tail) = base.split_at(fault);
    let text = format!(
        "{head}{}",
        tail.replacen("kind = \"connection_pool_exhaustion\"", "kind = \"pool_exhaustion\"", 1)
    );
    let line = line_of(&text, "kind = \"pool_exhaustion\"");
    let msg = run_broken("unknown-fault-kind", &text, line);
    assert!(msg.contains("`pool_exhaustion`"), "names the bad kind: {msg}");
    for k in ["cpu_saturation", "connection_pool_exhaustion", "queue_backlog"] {
        assert!(msg.contains(k), "lists the valid kind {k}: {msg}");
    }
}

#[test]
fn calls_entry_names_no_service() {
    let text = replace_once(
        &base(),
        "calls = [\"orders-db\", \"payments\"]",
        "calls = [\"orders-db\", \"paymnets\"]",
    );
    let line = line_of(&text, "\"paymnets\"");
    let msg = run_broken("calls-no-service", &text, line);
    assert!(msg.contains("\"paymnets\""), "names the entry: {msg}");
    assert!(msg.contains("names no service"), "says what is wrong: {msg}");
    for s in ["frontend", "checkout", "orders-db", "payments", "catalog"] {
        assert!(msg.contains(s), "lists the service {s}: {msg}");
    }
}

#[test]
fn invalid_toml_syntax() {
    // An unterminated string in [alert].
    let text = replace_once(
        &base(),
        "name = \"CheckoutLatencyHigh\"\n",
        "name = \"CheckoutLatencyHigh\n",
    );
    let line = line_of(&text, "name = \"CheckoutLatencyHigh\n");
    let msg = run_broken("invalid-toml", &text, line);
    assert!(msg.contains("expected"), "says what was expected: {msg}");
    assert!(msg.contains('"'), "names the missing quote: {msg}");
}

#[test]
fn unclosed_table_header() {
    let text = replace_once(&base(), "[[fault]]\n", "[[fault]\n");
    let line = line_of(&text, "[[fault]\n");
    let msg = run_broken("unclosed-header", &text, line);
    assert!(msg.contains("expected `]`"), "says a bracket was expected: {msg}");
}

#[test]
fn neither_file_nor_builtin_id() {
    let tmp = TempDir::new("no-such");
    let missing = tmp.path().join("no-such-scenario.toml");
    let name = missing.display().to_string();
    let out = inquest(&tmp, &["run", "--scenario", &name]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    assert!(
        stderr.starts_with(&format!("inquest: {name}: ")),
        "names what was asked for: {stderr}"
    );
    assert!(stderr.contains("no such scenario file"), "{stderr}");
    assert!(stderr.contains("no built-in scenario"), "{stderr}");
    assert!(stderr.contains("checkout-db-pool"), "lists the built-in ids: {stderr}");

    // A bare id that is not built in reads the same way.
    let out = inquest(&tmp, &["run", "--scenario", "checkout-db-pol"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    assert!(stderr.starts_with("inquest: checkout-db-pol: "), "{stderr}");
    assert!(stderr.contains("checkout-db-pool"), "lists the built-in ids: {stderr}");
}

#[test]
fn unknown_strategy() {
    let tmp = TempDir::new("strategy");
    let out = inquest(&tmp, &["run", "--scenario", "checkout-db-pool", "--strategies", "nope"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    assert!(out.stdout.is_empty(), "nothing on stdout");
    assert!(stderr.starts_with("inquest: "), "{stderr}");
    assert!(stderr.contains("nope"), "names the unknown strategy: {stderr}");
    for s in ["metrics-first", "logs-first", "dependency-walk"] {
        assert!(stderr.contains(s), "lists the known strategy {s}: {stderr}");
    }
}

#[test]
fn json_run_prints_only_json_lines() {
    let tmp = TempDir::new("json");
    let out = inquest(&tmp, &["run", "--scenario", "checkout-db-pool", "--json"]);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!stdout.trim().is_empty(), "prints events");
    for (i, line) in stdout.lines().enumerate() {
        let v: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("line {} is not JSON ({e}): {line}", i + 1));
        assert!(v.is_object(), "line {} is not an object: {line}", i + 1);
        assert_eq!(v["v"], 1, "line {}: {line}", i + 1);
    }
}

#[test]
fn report_of_unknown_trace_in_empty_store() {
    let tmp = TempDir::new("report");
    let out = inquest(&tmp, &["report", "0000"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "stderr: {stderr}");
    assert!(out.stdout.is_empty(), "no report on stdout");
    assert!(stderr.starts_with("inquest: "), "{stderr}");
    assert!(stderr.contains("\"0000\""), "names the prefix: {stderr}");
    assert!(stderr.contains("no investigation"), "says none matches: {stderr}");
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
}

#[test]
fn a_bad_flag_is_bad_input() {
    let tmp = TempDir::new("flag");
    let out = inquest(
        &tmp,
        &["run", "--scenario", "checkout-db-pool", "--budget-calls", "lots"],
    );
    assert_eq!(out.status.code(), Some(2));
    let out = inquest(&tmp, &["run", "--scenario", "checkout-db-pool", "--pace", "soon"]);
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

/// A key carrying terminal escapes is named in the error, escaped: the
/// message quotes the file, and the file is untrusted.
#[test]
fn escapes_in_a_quoted_key_are_shown_not_obeyed() {
    let text = replace_once(
        &base(),
        "replicas = 3\n",
        "\"\\u001b[2J\\u001b]52;c;cm0gLXJm\\u0007\" = 3\n",
    );
    let line = line_of(&text, "\"\\u001b[2J");
    let msg = run_broken("escaped-key", &text, line);
    assert!(
        !msg.contains('\u{1b}') && !msg.contains('\u{7}'),
        "raw control in {msg:?}"
    );
    assert!(msg.contains("␛[2J"), "the key is shown escaped: {msg}");
}

#[test]
fn more_services_than_the_simulator_takes() {
    // The largest scenario the simulator takes, from the generator, plus one service.
    let tmp = TempDir::new("services-gen");
    let out = inquest(&tmp, &["sim", "generate", "--services", "1000"]);
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let text =
        String::from_utf8(out.stdout).expect("utf-8") + "\n[[service]]\nname = \"one-too-many\"\nkind = \"http\"\n";
    let header = line_of(&text, "name = \"one-too-many\"") - 1;
    let tmp = TempDir::new("services");
    let file = tmp.path().join("services.toml");
    std::fs::write(&file, &text).unwrap();
    let out = inquest(&tmp, &["run", "--scenario", &file.display().to_string()]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let at_line = |l: usize| stderr.starts_with(&format!("inquest: {}:{l}:", file.display()));
    assert!(
        at_line(header) || at_line(header + 1),
        "names the extra service's line: {stderr}"
    );
    assert!(
        stderr.contains("expected at most 1000 services, found 1001"),
        "{stderr}"
    );
    // And the generator refuses what the simulator would.
    let out = inquest(&tmp, &["sim", "generate", "--services", "1001"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("expected between 8 and 1000"));
}
