//! The real-time path: an investigation that begins seconds after its alert
//! fired looks again once more data has arrived (a live stack), visible as
//! re-run branches and a new `conclusion_updated`; against a recorded or
//! simulated incident whose data ends right after the alert it says so and
//! guesses nothing past the end.

use std::sync::Arc;

use inquest::engine::{Clock, EventSink, FixedClock, Recheck, start};
use inquest::model::{BoxFuture, BranchStatus, Event, EventKind, InvestigationStatus, Timestamp};
use inquest::sources::sim::Simulator;
use inquest::sources::{Backend, SourceError, ToolData, time_arg};
use inquest::wire::sinks::Collect;
use inquest::wire::{Options, for_backend, for_scenario};
use serde_json::{Value, json};

/// A live stack in miniature: the simulator's telemetry, of which only what
/// the clock has reached exists yet.
struct Arriving {
    sim: Simulator,
    clock: FixedClock,
}

impl Backend for Arriving {
    fn call<'a>(&'a self, tool: &'a str, args: &'a Value) -> BoxFuture<'a, Result<ToolData, SourceError>> {
        let now = self.clock.now();
        let mut args = args.clone();
        for key in ["end", "time"] {
            if let Ok(Some(t)) = time_arg(&args, key)
                && t > now
            {
                args[key] = json!(now.to_rfc3339());
            }
        }
        Box::pin(async move { self.sim.call(tool, &args).await })
    }
    fn describe(&self) -> String {
        format!("arriving:{}", self.sim.describe())
    }
    fn now(&self) -> Timestamp {
        self.clock.now()
    }
}

const SEC: i64 = 1_000_000_000;

async fn run(setup: inquest::engine::Setup) -> Vec<Event> {
    let c = Collect::default();
    let sinks: Vec<Box<dyn EventSink>> = vec![Box::new(c.clone())];
    let st = start(setup, sinks).wait().await.expect("the engine ends");
    assert_eq!(st.status, InvestigationStatus::Done);
    c.events()
}

fn recheck_thoughts(events: &[Event]) -> String {
    let note = events
        .iter()
        .find(|e| matches!(&e.kind, EventKind::BranchStarted { strategy, .. } if strategy == "recheck"))
        .map(|e| e.span_id);
    events
        .iter()
        .filter(|e| e.parent_span_id == note)
        .filter_map(|e| match &e.kind {
            EventKind::ThoughtDelta { text } => Some(text.clone()),
            _ => None,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn titles(events: &[Event]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::BranchStarted { title, .. } => Some(title.clone()),
            _ => None,
        })
        .collect()
}

fn first_cause(e: &Event) -> Option<String> {
    match &e.kind {
        EventKind::ConclusionUpdated { root_causes, .. } => Some(
            root_causes
                .first()
                .map(|r| format!("{}/{}", r.service, r.kind.as_str()))
                .unwrap_or_default(),
        ),
        _ => None,
    }
}

/// The pool runs dry at 40 min and the alert fires 45 s later: at 5 s after
/// the alert, under a minute of the fault is in the data.
fn fresh_pool_exhaustion() -> inquest::sources::sim::Scenario {
    let mut sc = Simulator::load("checkout-db-pool").expect("scenario loads");
    sc.alert.at_ms = 40 * 60_000 + 45_000;
    sc
}

/// The fresh pool exhaustion investigated live 5 s after its alert, its data
/// arriving with the clock.
fn live_from_alert_plus_5s() -> inquest::engine::Setup {
    let sim = Simulator::new(fresh_pool_exhaustion()).expect("simulator");
    let alert = sim.alert();
    let now = alert.starts_at + 5 * SEC;
    let clock = FixedClock::new(now);
    let mut setup = for_backend(alert, Arc::new(Arriving { sim, clock }), now, &Options::default()).expect("setup");
    setup.clock = Arc::new(clock);
    setup.recheck = Recheck::live();
    setup
}

#[tokio::test(start_paused = true)]
async fn a_live_investigation_begun_at_the_alert_looks_again_as_data_arrives() {
    let sc = fresh_pool_exhaustion();
    let sim = Simulator::new(sc).expect("simulator");
    let alert = sim.alert();
    let now = alert.starts_at + 5 * SEC;
    let clock = FixedClock::new(now);
    let backend = Arriving { sim, clock };
    let mut setup = for_backend(alert, Arc::new(backend), now, &Options::default()).expect("setup");
    setup.clock = Arc::new(clock);
    setup.recheck = Recheck::live();
    // The default budget, as `serve` gives each alert.
    let strategies = setup.strategies.len();
    let events = run(setup).await;

    let t = titles(&events);
    assert!(
        t.iter()
            .any(|t| t == "Re-check: the investigation began 5 s after the alert"),
        "{t:?}"
    );
    for later in ["65 s", "125 s"] {
        let n = t
            .iter()
            .filter(|t| t.ends_with(&format!("(again, from {later} after the alert)")))
            .count();
        assert_eq!(n, strategies, "every strategy runs again from {later}: {t:?}");
    }
    let said = recheck_thoughts(&events);
    assert!(said.contains("Looking again from"), "{said}");
    assert!(said.contains("Looked again from 65 s after the alert: "), "{said}");
    assert!(
        said.contains("Looked again from 125 s after the alert: orders-db"),
        "{said}"
    );

    // Each look ends with its conclusion announced, the last one naming the culprit.
    let again = events
        .iter()
        .position(|e| matches!(&e.kind, EventKind::BranchStarted { title, .. } if title.contains("(again")))
        .expect("a second look");
    let later: Vec<String> = events[again..].iter().filter_map(first_cause).collect();
    assert!(later.len() >= 2, "a conclusion after each re-check: {later:?}");
    assert_eq!(
        later.last().map(String::as_str),
        Some("orders-db/connection_pool_exhaustion")
    );
    // The branches of the first look are not mixed into the later conclusion.
    let finished = events.last().expect("events");
    assert!(
        matches!(&finished.kind, EventKind::InvestigationFinished { root_causes, .. }
        if root_causes.first().is_some_and(|r| r.service == "orders-db"))
    );
    // The re-check branch itself is done, not left running.
    let note = events
        .iter()
        .find(|e| matches!(&e.kind, EventKind::BranchStarted { strategy, .. } if strategy == "recheck"))
        .expect("re-check branch")
        .span_id;
    let last_status = events.iter().rev().find_map(|e| match &e.kind {
        EventKind::BranchStatusChanged { status, .. } if e.span_id == note => Some(*status),
        _ => None,
    });
    assert_eq!(last_status, Some(BranchStatus::Done));
}

#[tokio::test(start_paused = true)]
async fn a_recorded_incident_that_ends_at_the_alert_says_it_cannot_look_again() {
    let mut sc = fresh_pool_exhaustion();
    // The data ends 5 s after the alert, as a capture taken by `serve` does.
    sc.window_ms = sc.alert.at_ms + 5_000;
    let setup = for_scenario(sc, &Options::default()).expect("setup");
    let strategies = setup.strategies.len();
    let events = run(setup).await;
    let said = recheck_thoughts(&events);
    assert!(
        said.contains("ends 5 s after the alert") && said.contains("no later data"),
        "{said}"
    );
    let t = titles(&events);
    assert_eq!(t.len(), strategies + 1, "no second look: {t:?}");
    assert!(!t.iter().any(|t| t.contains("(again")));
}

#[tokio::test(start_paused = true)]
async fn an_investigation_begun_minutes_after_the_alert_does_not_look_again() {
    let sc = Simulator::load("checkout-db-pool").expect("scenario loads");
    let mut setup = for_scenario(sc, &Options::default()).expect("setup");
    setup.recheck = Recheck::live();
    let strategies = setup.strategies.len();
    let events = run(setup).await;
    assert_eq!(titles(&events).len(), strategies);
    assert!(recheck_thoughts(&events).is_empty());
}

/// Events as they come, for a test that steers.
struct Chan(tokio::sync::mpsc::UnboundedSender<Event>);

impl EventSink for Chan {
    fn emit(&mut self, e: &Event) {
        let _ = self.0.send(e.clone());
    }
}

#[tokio::test(start_paused = true)]
async fn pruning_the_re_check_branch_stops_looking_again() {
    let mut setup = live_from_alert_plus_5s();
    setup.budget.tool_calls = 2_000;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let running = start(setup, vec![Box::new(Chan(tx))]);
    let mut seen = Vec::new();
    let note = loop {
        let e = rx.recv().await.expect("events until the re-check branch");
        seen.push(e.clone());
        if matches!(&e.kind, EventKind::BranchStarted { strategy, .. } if strategy == "recheck") {
            break e.span_id;
        }
    };
    running.send(inquest::model::Command::Prune { branch: note });
    let st = running.wait().await.expect("the engine ends");
    assert_eq!(st.status, InvestigationStatus::Done);
    while let Ok(e) = rx.try_recv() {
        seen.push(e);
    }
    assert!(
        !titles(&seen).iter().any(|t| t.contains("(again")),
        "{:?}",
        titles(&seen)
    );
    assert_eq!(st.branch(note).map(|b| b.status), Some(BranchStatus::Pruned));
    assert!(!st.root_causes.is_empty(), "the first look's conclusion stands");
}

#[tokio::test(start_paused = true)]
async fn each_look_gets_the_tool_calls_the_first_made_and_says_so() {
    let mut setup = live_from_alert_plus_5s();
    setup.budget.tool_calls = 150;
    let events = run(setup).await;
    let said = recheck_thoughts(&events);
    assert!(said.contains("The tool-call budget grows to "), "{said}");
    let grown: Vec<u32> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::BudgetChanged { budget } => Some(budget.tool_calls),
            _ => None,
        })
        .collect();
    assert!(!grown.is_empty() && grown.iter().all(|&n| n > 150), "{grown:?}");
    assert!(titles(&events).iter().any(|t| t.contains("(again, from 125 s")));
    assert!(
        said.contains("Looked again from 125 s after the alert: orders-db"),
        "{said}"
    );
}
