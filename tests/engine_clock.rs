//! The engine under tokio's paused time, with a fixed clock and numbered ids:
//! an investigation is the same events byte for byte every time, budgets
//! bite at exact virtual instants, and the shipped scenarios' event streams
//! match their recorded digests (so a refactor that changes what the engine,
//! the simulator or the built-in reasoner emit is caught).
//!
//! After an intended change of behaviour, re-record the digests with
//! `INQUEST_BLESS=1 cargo test --test engine_clock`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use inquest::engine::{CountingIds, EventSink, FixedClock, Setup, start};
use inquest::model::{BranchStatus, Event, EventKind, InvestigationStatus, Timestamp};
use inquest::sources::sim::Simulator;
use inquest::wire::sinks::Collect;
use inquest::wire::{Options, for_scenario};
use sha2::{Digest, Sha256};

/// The instant the fixed clock starts from: 2026-03-01T10:00:00Z.
const BASE: Timestamp = Timestamp(1_772_359_200_000_000_000);

fn setup(scenario: &str, pace: Option<Duration>) -> Setup {
    let sc = Simulator::load(scenario).expect("scenario loads");
    let opts = Options {
        author: "tester".into(),
        pace: pace.map(|p| (p, p)),
        ..Options::default()
    };
    let mut s = for_scenario(sc, &opts).expect("setup");
    s.clock = Arc::new(FixedClock::new(BASE));
    s.ids = Arc::new(CountingIds::default());
    s
}

async fn run(setup: Setup) -> Vec<Event> {
    let c = Collect::default();
    let sinks: Vec<Box<dyn EventSink>> = vec![Box::new(c.clone())];
    start(setup, sinks).wait().await.expect("the engine ends");
    c.events()
}

fn json_lines(events: &[Event]) -> String {
    events.iter().map(|e| e.to_json_line() + "\n").collect()
}

#[tokio::test(start_paused = true)]
async fn the_same_investigation_is_the_same_bytes() {
    let a = json_lines(&run(setup("checkout-db-pool", None)).await);
    let b = json_lines(&run(setup("checkout-db-pool", None)).await);
    assert!(
        a.lines().count() > 50,
        "a whole investigation: {} events",
        a.lines().count()
    );
    assert!(a == b, "two runs under a fixed clock and numbered ids differ");
    // The ids are the counted ones, and the clock is the fixed one.
    assert!(a.contains("\"trace_id\":\"00000000000000000000000000000001\""));
    assert!(a.contains("\"span_id\":\"0000000000000001\""));
    assert!(a.contains("2026-03-01T10:00:00"));
}

#[tokio::test(start_paused = true)]
async fn time_moves_with_the_paced_backend_and_the_wall_budget_cuts_at_its_instant() {
    // Each tool call takes exactly 1 s of virtual time; the budget allows 5 s.
    let mut s = setup("checkout-db-pool", Some(Duration::from_secs(1)));
    s.budget.wall_ms = 5_000;
    let events = run(s).await;
    let first = events.first().expect("events").at;
    let last = events.last().expect("events");
    assert_eq!(first, BASE);
    assert_eq!(
        last.at,
        Timestamp(BASE.0 + 5_000_000_000),
        "finished at the budget's instant"
    );
    match &last.kind {
        EventKind::InvestigationFinished { status, elapsed_ms, .. } => {
            assert_eq!(*status, InvestigationStatus::Done);
            assert_eq!(*elapsed_ms, 5_000);
        }
        other => panic!("last event is {other:?}"),
    }
    let cut: Vec<&Event> = events
        .iter()
        .filter(|e| {
            matches!(
                &e.kind,
                EventKind::BranchStatusChanged { status: BranchStatus::OutOfBudget, reason: Some(r) }
                    if r == "wall-time budget of 5000 ms spent"
            )
        })
        .collect();
    assert!(!cut.is_empty(), "some branch ran into the wall-time budget");
    // Tool calls took their paced second each, measured on the virtual clock.
    let durations: Vec<u64> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::ToolCallFinished {
                duration_ms,
                error: None,
                ..
            } => Some(*duration_ms),
            _ => None,
        })
        .collect();
    assert!(!durations.is_empty());
    assert!(durations.iter().all(|d| *d == 1_000), "{durations:?}");
}

fn scenario_files() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in ["scenarios", "scenarios-heldout"] {
        for e in std::fs::read_dir(root.join(dir)).expect("scenario folder").flatten() {
            let p = e.path();
            if p.extension().is_some_and(|x| x == "toml") {
                files.push(p);
            }
        }
    }
    files.sort();
    files
}

#[tokio::test(start_paused = true)]
async fn every_shipped_scenario_emits_its_recorded_events() {
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/events.sha256");
    let mut now = BTreeMap::new();
    for f in scenario_files() {
        let name = f.file_stem().and_then(|s| s.to_str()).unwrap_or_default().to_string();
        let events = run(setup(f.to_str().expect("utf-8 path"), None)).await;
        let digest = Sha256::digest(json_lines(&events).as_bytes());
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        now.insert(name, format!("{hex} {}", events.len()));
    }
    let text: String = now.iter().map(|(k, v)| format!("{k} {v}\n")).collect();
    if std::env::var_os("INQUEST_BLESS").is_some() {
        std::fs::create_dir_all(golden.parent().expect("parent")).expect("mkdir");
        std::fs::write(&golden, &text).expect("write digests");
        return;
    }
    let recorded = std::fs::read_to_string(&golden).expect("tests/golden/events.sha256 (INQUEST_BLESS=1 records it)");
    let recorded: BTreeMap<&str, &str> = recorded.lines().filter_map(|l| l.split_once(' ')).collect();
    let mut changed = Vec::new();
    for (k, v) in &now {
        match recorded.get(k.as_str()) {
            Some(r) if r == v => {}
            Some(r) => changed.push(format!("{k}: recorded {r}, now {v}")),
            None => changed.push(format!("{k}: not recorded")),
        }
    }
    for k in recorded.keys() {
        if !now.contains_key(*k) {
            changed.push(format!("{k}: recorded but no longer shipped"));
        }
    }
    assert!(
        changed.is_empty(),
        "the events of {} scenario(s) changed (INQUEST_BLESS=1 re-records them after an intended change):\n{}",
        changed.len(),
        changed.join("\n")
    );
}
