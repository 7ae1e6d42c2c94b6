//! The evaluation suite: the shipped scenarios meet the accuracy bar, the
//! truth never reaches a reasoner, and bad scenarios are reported, not fatal.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::process::Command;

use inquest::engine::{EventSink, start};
use inquest::eval::{EvalOptions, report, run_builtin};
use inquest::model::FaultKind;
use inquest::sources::sim::{Scenario, Simulator};
use inquest::wire::{Options, for_scenario};
use serde_json::Value;

fn builtin() -> Vec<Scenario> {
    Simulator::builtin()
        .into_iter()
        .map(|r| r.expect("shipped scenarios load"))
        .collect()
}

/// Issue 4's bar: AC@1 service 0.90, service and kind 0.75, AC@3 0.97, nothing failed.
fn meets_the_bar(r: &inquest::eval::Report) {
    let s = &r.summary;
    assert_eq!(s.failed, 0);
    assert!(s.ac1_service >= 0.90, "AC@1 service {}", s.ac1_service);
    assert!(
        s.ac1_service_kind >= 0.75,
        "AC@1 service and kind {}",
        s.ac1_service_kind
    );
    assert!(s.ac3_service >= 0.97, "AC@3 service {}", s.ac3_service);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shipped_suite_meets_the_accuracy_bar() {
    let r = run_builtin(&EvalOptions {
        jobs: 2,
        ..Default::default()
    })
    .await;
    println!("{}", report::table(&r, false));
    let s = &r.summary;
    assert!(s.scenarios >= 40);
    meets_the_bar(&r);
    // The Markdown report carries the same figures.
    let md = report::markdown(&r);
    assert!(md.contains(&format!("AC@1 service **{:.3}**", s.ac1_service)));
    assert!(md.contains("| connection_pool_exhaustion |"));
}

/// The same incidents with other noise, jitter and red-herring timings: every
/// seed changed, the bar still holds (the reasoner is not fitted to one draw).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_bar_holds_when_every_seed_changes() {
    let mut results = Vec::new();
    for mut sc in builtin() {
        sc.seed = sc.seed.wrapping_mul(7).wrapping_add(1_000_003);
        let path = std::path::PathBuf::from(format!("scenarios/{}.toml", sc.id));
        results.push(inquest::eval::investigate(sc, &path, &Options::default()).await);
    }
    let r = inquest::eval::summarise(results);
    println!("{}", report::table(&r, false));
    meets_the_bar(&r);
}

/// Incidents written apart from the reasoner, in domains and topologies the
/// shipped suite does not use (scenarios-heldout/): the same bar.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_held_out_scenarios_meet_the_same_bar() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("scenarios-heldout");
    let paths = inquest::eval::discover(&dir).unwrap();
    assert!(paths.len() >= 12, "{} held-out scenarios", paths.len());
    let r = inquest::eval::run(
        &paths,
        &EvalOptions {
            jobs: 2,
            ..Default::default()
        },
    )
    .await;
    println!("{}", report::table(&r, false));
    meets_the_bar(&r);
}

/// Hops from `from` to `to` along calls (either direction counts as a hop).
fn hops(sc: &Scenario, from: &str, to: &str) -> Option<usize> {
    let mut adj: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for s in &sc.services {
        for c in &s.calls {
            adj.entry(s.name.as_str()).or_default().push(c.as_str());
            adj.entry(c.as_str()).or_default().push(s.name.as_str());
        }
    }
    let mut seen = BTreeSet::from([from]);
    let mut q = VecDeque::from([(from, 0)]);
    while let Some((n, d)) = q.pop_front() {
        if n == to {
            return Some(d);
        }
        for m in adj.get(n).into_iter().flatten() {
            if seen.insert(m) {
                q.push_back((m, d + 1));
            }
        }
    }
    None
}

#[test]
fn the_suite_covers_the_taxonomy_topologies_and_traps() {
    let all = builtin();
    assert!(all.len() >= 40, "{} scenarios", all.len());
    let mut per_kind: BTreeMap<FaultKind, usize> = BTreeMap::new();
    let (mut far, mut herrings, mut subtle, mut close_changes) = (0, 0, 0, 0);
    let (mut smallest, mut largest) = (usize::MAX, 0);
    for sc in &all {
        let t = sc.truth.as_ref().unwrap();
        *per_kind.entry(t.kind).or_default() += 1;
        smallest = smallest.min(sc.services.len());
        largest = largest.max(sc.services.len());
        let alert = sc.alert.labels.get("service").cloned().unwrap_or_default();
        if hops(sc, &alert, &t.service).is_some_and(|h| h >= 2) {
            far += 1;
        }
        if !sc.noise.is_empty() || sc.events.iter().any(|e| e.target != t.service) {
            herrings += 1;
        }
        if sc.faults.iter().any(|f| f.severity < 0.4) {
            subtle += 1;
        }
        let mut at: Vec<i64> = sc.events.iter().map(|e| e.at_ms).collect();
        at.sort();
        if at.windows(2).any(|w| w[1] - w[0] <= 10 * 60_000) {
            close_changes += 1;
        }
    }
    for k in FaultKind::ALL {
        assert!(
            per_kind.get(&k).copied().unwrap_or(0) >= 2,
            "{} has fewer than two scenarios",
            k.as_str()
        );
    }
    assert!(smallest <= 5 && largest >= 30, "services from {smallest} to {largest}");
    assert!(
        far * 3 >= all.len(),
        "alert two or more hops from the cause in only {far}"
    );
    assert!(herrings * 3 >= all.len(), "red herrings in only {herrings}");
    assert!(
        subtle > 0 && close_changes > 0,
        "subtle {subtle}, close changes {close_changes}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stripping_the_truth_leaves_every_ranking_unchanged() {
    for sc in builtin() {
        let mut blind = sc.clone();
        blind.truth = None;
        let mut ranks = Vec::new();
        for s in [sc.clone(), blind] {
            let sinks: Vec<Box<dyn EventSink>> = Vec::new();
            let st = start(for_scenario(s, &Options::default()).unwrap(), sinks)
                .wait()
                .await
                .unwrap();
            ranks.push(
                st.root_causes
                    .iter()
                    .map(|r| (r.service.clone(), r.kind, r.confidence.to_bits(), r.statement.clone()))
                    .collect::<Vec<_>>(),
            );
        }
        assert_eq!(ranks[0], ranks[1], "{}: the truth changed the ranking", sc.id);
    }
}

#[test]
fn malformed_and_failing_scenarios_are_reported_and_the_rest_still_score() {
    let dir = std::env::temp_dir().join(format!("inquest-eval-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("nested")).unwrap();
    let root = env!("CARGO_MANIFEST_DIR");
    for id in ["checkout-db-pool", "stripe-proxy-dns"] {
        std::fs::copy(
            format!("{root}/scenarios/{id}.toml"),
            dir.join("nested").join(format!("{id}.toml")),
        )
        .unwrap();
    }
    std::fs::write(dir.join("broken.toml"), "id = \"broken\"\ntitle = 3\n").unwrap();
    let good = std::fs::read_to_string(format!("{root}/scenarios/checkout-db-pool.toml")).unwrap();
    let no_truth: String = good
        .split("\n[truth]")
        .next()
        .unwrap()
        .replace("checkout-db-pool", "untruthful");
    std::fs::write(dir.join("untruthful.toml"), no_truth).unwrap();

    let out = Command::new(env!("CARGO_BIN_EXE_inquest"))
        .args(["eval", dir.to_str().unwrap(), "--json", "--jobs", "2"])
        .env("INQUEST_DATA_DIR", &dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["summary"]["scenarios"], 4);
    assert_eq!(r["summary"]["failed"], 2);
    assert_eq!(r["summary"]["ac1_service"], 1.0);
    let rows = r["scenarios"].as_array().unwrap();
    let by_path = |name: &str| {
        rows.iter()
            .find(|s| s["path"].as_str().unwrap().ends_with(name))
            .unwrap()
            .clone()
    };
    let broken = by_path("broken.toml");
    let err = broken["error"].as_str().unwrap();
    assert!(err.contains("broken.toml:2"), "{err}");
    assert!(by_path("untruthful.toml")["error"].as_str().unwrap().contains("truth"));
    let scored = by_path("checkout-db-pool.toml");
    assert_eq!(scored["rank_service"], 1);
    assert_eq!(scored["truth"]["service"], "orders-db");
    assert_eq!(scored["ranked"][0]["kind"], "connection_pool_exhaustion");
    assert!(scored["tool_calls"].as_u64().unwrap() > 10);
    assert!(r["by_kind"]["dns_failure"]["ac1_service"].is_number());
    let _ = std::fs::remove_dir_all(&dir);
}
