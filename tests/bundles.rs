//! Bundles through the binary: `bundle show` round-trips into `--bundle` with
//! the same id, a malformed bundle is refused with its line, `eval --against`
//! compares and gates two bundles on one suite, and `replay` re-runs stored
//! investigations from their recorded tool answers.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_inquest");

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("inquest-bundles-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn inquest(data: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("INQUEST_DATA_DIR", data)
        .env("INQUEST_CONFIG_HOME", data.join("config"))
        .env("USER", "tester")
        .output()
        .expect("runs")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn json(o: &Output) -> Value {
    serde_json::from_slice(&o.stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {}\n{}", stdout(o), stderr(o)))
}

/// The default bundle written to `dir/default.toml`, and its id.
fn default_bundle(data: &Path) -> (PathBuf, String) {
    let shown = inquest(data, &["bundle", "show"]);
    assert!(shown.status.success(), "{}", stderr(&shown));
    let path = data.join("default.toml");
    std::fs::write(&path, &shown.stdout).unwrap();
    let j = json(&inquest(data, &["bundle", "show", "--json"]));
    (path, j["id"].as_str().unwrap().to_string())
}

fn started_bundle(run: &Output) -> String {
    let first: Value = serde_json::from_str(stdout(run).lines().next().expect("events")).unwrap();
    assert_eq!(first["type"], "investigation_started");
    first["bundle_id"].as_str().unwrap().to_string()
}

#[test]
fn show_round_trips_into_the_same_id_as_a_plain_run() {
    let data = temp_dir("show");
    let (path, id) = default_bundle(&data);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("strategies = [") && text.contains("[budget]") && text.contains("kind = \"builtin\""));
    let again = json(&inquest(&data, &["bundle", "show", path.to_str().unwrap(), "--json"]));
    assert_eq!(again["id"], id.as_str(), "show FILE of what show wrote keeps the id");
    let plain = inquest(&data, &["run", "--scenario", "checkout-db-pool", "--json"]);
    let bundled = inquest(
        &data,
        &[
            "run",
            "--scenario",
            "checkout-db-pool",
            "--json",
            "--bundle",
            path.to_str().unwrap(),
        ],
    );
    assert!(
        plain.status.success() && bundled.status.success(),
        "{}",
        stderr(&bundled)
    );
    assert_eq!(started_bundle(&plain), id, "the trace records the default bundle's id");
    assert_eq!(started_bundle(&bundled), id, "the same bundle from a file, the same id");
    // Fewer strategies is another bundle, and the trace says so.
    let fewer = data.join("fewer.toml");
    std::fs::write(&fewer, "strategies = [\"metrics-first\", \"changes-first\"]\n").unwrap();
    let shown = json(&inquest(&data, &["bundle", "show", fewer.to_str().unwrap(), "--json"]));
    let other = shown["id"].as_str().unwrap();
    assert_ne!(other, id);
    let run = inquest(
        &data,
        &[
            "run",
            "--scenario",
            "checkout-db-pool",
            "--json",
            "--bundle",
            fewer.to_str().unwrap(),
        ],
    );
    assert_eq!(started_bundle(&run), other);
    let _ = std::fs::remove_dir_all(&data);
}

#[test]
fn a_malformed_bundle_is_refused_with_its_line_and_what_was_expected() {
    let data = temp_dir("bad");
    let cases = [
        (
            "strategies = [\"metrics-first\"]\n\n[budget]\ntool_calls = \"many\"\n",
            ":4:",
            "u32",
        ),
        (
            "strategies = [\"metrics-first\"]\nwhat = 1\n",
            ":2:",
            "unknown field `what`",
        ),
        ("[reasoner]\nkind = \"gpt\"\n", ":2:", "expected builtin, llm or hybrid"),
        (
            "strategies = [\"no-such-strategy\"]\n",
            "",
            "unknown strategy `no-such-strategy`",
        ),
        ("skills = \"sha256:0000000000000000\"\n", "", "skills: the bundle says"),
    ];
    for (i, (text, line, says)) in cases.iter().enumerate() {
        let path = data.join(format!("bad{i}.toml"));
        std::fs::write(&path, text).unwrap();
        let o = inquest(
            &data,
            &[
                "run",
                "--scenario",
                "checkout-db-pool",
                "--bundle",
                path.to_str().unwrap(),
            ],
        );
        let err = stderr(&o);
        assert_eq!(o.status.code(), Some(2), "{text}: {err}");
        assert!(err.contains(says), "{text}: {err}");
        if !line.is_empty() {
            assert!(err.contains(&format!("bad{i}.toml{line}")), "{text}: {err}");
        }
    }
    let _ = std::fs::remove_dir_all(&data);
}

/// A few shipped scenarios of different kinds, copied to a suite of their own.
fn small_suite(dir: &Path) -> PathBuf {
    let suite = dir.join("suite");
    std::fs::create_dir_all(&suite).unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios");
    for id in ["checkout-db-pool", "stripe-proxy-dns", "recs-svc-crashloop-schema"] {
        std::fs::copy(root.join(format!("{id}.toml")), suite.join(format!("{id}.toml"))).unwrap();
    }
    suite
}

#[test]
fn eval_compares_two_bundles_on_one_suite_and_gates_the_candidate() {
    let data = temp_dir("compare");
    let suite = small_suite(&data);
    let (baseline, base_id) = default_bundle(&data);
    let candidate = data.join("candidate.toml");
    std::fs::write(&candidate, "strategies = [\"metrics-first\"]\n").unwrap();
    let (s, c, b) = (
        suite.to_str().unwrap(),
        candidate.to_str().unwrap(),
        baseline.to_str().unwrap(),
    );
    // One strategy makes fewer calls: a gate that asks for at least as many fails, and says which clause.
    let o = inquest(
        &data,
        &[
            "eval",
            s,
            "--bundle",
            c,
            "--against",
            b,
            "--json",
            "--gate",
            "ac3>=-1,calls>=+0%",
            "--jobs",
            "2",
        ],
    );
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    let j = json(&o);
    assert_eq!(j["baseline"]["bundle_id"], base_id.as_str());
    assert_ne!(j["candidate"]["bundle_id"], base_id.as_str());
    let all = &j["overall"];
    assert_eq!(all["baseline"]["scenarios"], 3);
    assert_eq!(all["candidate"]["scenarios"], 3);
    let (bc, cc) = (
        all["baseline"]["tool_calls"].as_f64().unwrap(),
        all["candidate"]["tool_calls"].as_f64().unwrap(),
    );
    assert!(cc < bc, "one strategy makes fewer calls: {cc} vs {bc}");
    for kind in ["connection_pool_exhaustion", "dns_failure", "pod_crashloop"] {
        assert!(
            j["by_kind"][kind]["candidate"]["ac1_service"].is_number(),
            "{kind}: {j}"
        );
    }
    let gate = j["gate"].as_array().unwrap();
    assert_eq!(gate[0]["passed"], true, "{gate:?}");
    assert_eq!(gate[1]["passed"], false, "{gate:?}");
    assert_eq!(gate[1]["clause"], "calls>=+0%");
    // The table, with a gate that holds: exit 0.
    let o = inquest(
        &data,
        &[
            "eval",
            s,
            "--bundle",
            c,
            "--against",
            b,
            "--gate",
            "calls<=+20%",
            "--jobs",
            "2",
        ],
    );
    let table = stdout(&o);
    assert_eq!(o.status.code(), Some(0), "{table}{}", stderr(&o));
    for want in [
        "baseline",
        "candidate",
        "delta",
        "AC@1",
        "Avg@5",
        "svc+kind",
        "calls",
        "tokens",
        "wall ms",
    ] {
        assert!(table.contains(want), "{want}: {table}");
    }
    assert!(table.contains("dns_failure (n=1)"), "{table}");
    assert!(table.contains("gate passed calls<=+20%"), "{table}");
    // A gate that does not parse is bad input, before anything runs.
    let o = inquest(
        &data,
        &["eval", s, "--bundle", c, "--against", b, "--gate", "calls=+20%"],
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("expected a comparison"), "{}", stderr(&o));
    let _ = std::fs::remove_dir_all(&data);
}

fn traces(data: &Path) -> Vec<String> {
    let l = json(&inquest(data, &["list", "--json"]));
    l.as_array()
        .unwrap()
        .iter()
        .map(|r| r["trace_id"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn replay_answers_from_the_record_and_compares_conclusions() {
    let data = temp_dir("replay");
    for sc in ["checkout-db-pool", "stripe-proxy-dns"] {
        let o = inquest(&data, &["run", "--scenario", sc]);
        assert!(o.status.success(), "{}", stderr(&o));
    }
    let stored = traces(&data);
    assert_eq!(stored.len(), 2);
    let mut args = vec!["replay", "--json"];
    args.extend(stored.iter().map(String::as_str));
    // Under the default bundle: the same conclusions, from the same calls, all answered.
    let o = inquest(&data, &args);
    assert!(o.status.success(), "{}", stderr(&o));
    let j = json(&o);
    assert_eq!(j["summary"]["same"], 2, "{j}");
    for t in j["traces"].as_array().unwrap() {
        assert_eq!(t["verdict"], "same", "{t}");
        assert_eq!(t["unanswered"], 0, "{t}");
        assert_eq!(t["candidate"]["tool_calls"], t["original"]["tool_calls"], "{t}");
        assert_eq!(t["candidate"]["bundle_id"], t["original"]["bundle_id"], "{t}");
        assert!(!t["original"]["causes"].as_array().unwrap().is_empty(), "{t}");
    }
    assert_eq!(traces(&data).len(), 2, "a shadow replay is not stored");
    // Under a candidate with one strategy: fewer calls, shown beside the original.
    let fewer = data.join("fewer.toml");
    std::fs::write(&fewer, "strategies = [\"metrics-first\"]\n").unwrap();
    let mut args = vec!["replay", "--bundle", fewer.to_str().unwrap(), "--save"];
    args.extend(stored.iter().map(String::as_str));
    let o = inquest(&data, &args);
    let text = stdout(&o);
    assert!(o.status.success(), "{text}{}", stderr(&o));
    assert!(text.contains("original ") && text.contains("candidate "), "{text}");
    assert!(text.contains("2 replayed:"), "{text}");
    let summary = text.lines().last().unwrap();
    let (before, after) = summary
        .split("tool calls ")
        .nth(1)
        .and_then(|r| r.split(" · ").next())
        .and_then(|r| r.split_once(" → "))
        .expect("the summary gives the calls before and after");
    assert!(
        after.trim().parse::<u32>().unwrap() < before.trim().parse::<u32>().unwrap(),
        "{summary}"
    );
    assert_eq!(traces(&data).len(), 4, "--save stores the replays");
    // A trace that is not there is bad input.
    let o = inquest(&data, &["replay", "ffffffff"]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    let _ = std::fs::remove_dir_all(&data);
}
