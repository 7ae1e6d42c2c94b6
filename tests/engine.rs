//! The engine end to end on simulated incidents: determinism, steering, and
//! the store folding back into the live state.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use inquest::engine::{EventSink, Running, start};
use inquest::model::{BranchStatus, CallStatus, Command, Event, EventKind, InvestigationState, Scope, SpanId};
use inquest::sources::sim::Simulator;
use inquest::store::{Store, StoreWriter};
use inquest::wire::sinks::{Channel, Collect};
use inquest::wire::{Options, for_scenario};
use tokio::sync::mpsc;

fn setup(id: &str, pace_ms: Option<u64>, strategies: &[&str]) -> inquest::engine::Setup {
    let sc = Simulator::load(id).expect("built-in scenario loads");
    let opts = Options {
        strategies: strategies.iter().map(|s| s.to_string()).collect(),
        pace: pace_ms.map(|ms| (Duration::from_millis(ms), Duration::from_millis(ms * 2))),
        author: "tester".into(),
        ..Options::default()
    };
    for_scenario(sc, &opts).expect("setup")
}

async fn run_collect(id: &str) -> (InvestigationState, Vec<Event>) {
    let c = Collect::default();
    let sinks: Vec<Box<dyn EventSink>> = vec![Box::new(c.clone())];
    let st = start(setup(id, None, &[]), sinks).wait().await.expect("engine ends");
    (st, c.events())
}

/// Per strategy, the ordered (tool, args, evidence body) it saw.
fn tool_outputs(events: &[Event]) -> BTreeMap<String, Vec<(String, String, String)>> {
    let mut strategy: BTreeMap<SpanId, String> = BTreeMap::new();
    let mut call: BTreeMap<SpanId, (SpanId, String, String)> = BTreeMap::new();
    let mut out: BTreeMap<String, Vec<(String, String, String)>> = BTreeMap::new();
    for e in events {
        match &e.kind {
            EventKind::BranchStarted { strategy: s, .. } => {
                strategy.insert(e.span_id, s.clone());
            }
            EventKind::ToolCallStarted { tool, args } => {
                call.insert(e.span_id, (e.parent_span_id.unwrap(), tool.clone(), args.to_string()));
            }
            EventKind::EvidenceAdded { evidence } => {
                let (branch, tool, args) = call[&e.parent_span_id.unwrap()].clone();
                out.entry(strategy[&branch].clone())
                    .or_default()
                    .push((tool, args, evidence.body.clone()));
            }
            _ => {}
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_runs_give_identical_tool_outputs_and_conclusion() {
    let (a, ea) = run_collect("redis-catalog-maxmemory-cut").await;
    let (b, eb) = run_collect("redis-catalog-maxmemory-cut").await;
    assert_ne!(a.trace_id, b.trace_id, "each run is its own trace");
    let (oa, ob) = (tool_outputs(&ea), tool_outputs(&eb));
    assert_eq!(oa.len(), 6, "six strategies ran");
    assert!(oa.values().map(Vec::len).sum::<usize>() > 50);
    assert_eq!(oa, ob, "tool outputs differ between runs");
    let key = |s: &InvestigationState| {
        s.root_causes
            .iter()
            .map(|r| (r.service.clone(), r.kind, r.confidence.to_bits()))
            .collect::<Vec<_>>()
    };
    assert_eq!(key(&a), key(&b));
}

/// Starts a paced investigation and hands back the running handle and its event stream.
fn start_live(id: &str, pace_ms: u64, strategies: &[&str]) -> (Running, mpsc::UnboundedReceiver<Event>, Collect) {
    let (tx, rx) = mpsc::unbounded_channel();
    let all = Collect::default();
    let sinks: Vec<Box<dyn EventSink>> = vec![Box::new(Channel(tx)), Box::new(all.clone())];
    (start(setup(id, Some(pace_ms), strategies), sinks), rx, all)
}

/// Waits for the first event that `f` accepts.
async fn wait_for(rx: &mut mpsc::UnboundedReceiver<Event>, mut f: impl FnMut(&Event) -> bool) -> Event {
    let deadline = tokio::time::sleep(Duration::from_secs(20));
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            e = rx.recv() => {
                let e = e.expect("event stream ended before the awaited event");
                if f(&e) {
                    return e;
                }
            }
            _ = &mut deadline => panic!("timed out waiting for an event"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_stops_a_branch_at_once_and_its_hypotheses_leave() {
    // Metrics-first proposes after its RED step, then goes on with resources.
    let (running, mut rx, all) = start_live("checkout-db-pool", 40, &["logs-first", "metrics-first", "traces-first"]);
    let started = wait_for(
        &mut rx,
        |e| matches!(&e.kind, EventKind::BranchStarted { strategy, .. } if strategy == "metrics-first"),
    )
    .await;
    let victim = started.span_id;
    wait_for(&mut rx, |e| {
        e.parent_span_id == Some(victim) && matches!(e.kind, EventKind::HypothesisProposed { .. })
    })
    .await;
    // Wait until the victim's hypothesis is part of the conclusion.
    wait_for(&mut rx, |e| match &e.kind {
        EventKind::ConclusionUpdated { root_causes, .. } => root_causes.iter().any(|r| r.branches.contains(&victim)),
        _ => false,
    })
    .await;
    let sent = Instant::now();
    running.send(Command::Prune { branch: victim });
    let pruned = wait_for(&mut rx, |e| {
        e.span_id == victim
            && matches!(
                e.kind,
                EventKind::BranchStatusChanged {
                    status: BranchStatus::Pruned,
                    ..
                }
            )
    })
    .await;
    let latency = sent.elapsed();
    assert!(latency < Duration::from_millis(100), "prune took {latency:?}");
    // The next conclusion no longer rests on the pruned branch.
    let next = wait_for(&mut rx, |e| matches!(e.kind, EventKind::ConclusionUpdated { .. })).await;
    let EventKind::ConclusionUpdated { root_causes, .. } = &next.kind else {
        unreachable!()
    };
    assert!(
        root_causes.iter().all(|r| !r.branches.contains(&victim)),
        "pruned branch still in the conclusion"
    );
    let state = running.wait().await.unwrap();
    let events = all.events();
    // Nothing from the branch after its prune, and its in-flight call (if any) was closed.
    let after: Vec<&Event> = events
        .iter()
        .filter(|e| e.seq > pruned.seq && (e.parent_span_id == Some(victim) || e.span_id == victim))
        .collect();
    assert!(
        after.iter().all(|e| matches!(
            e.kind,
            EventKind::ToolCallFinished {
                status: CallStatus::Error,
                ..
            }
        )),
        "{after:?}"
    );
    assert!(state.root_causes.iter().all(|r| !r.branches.contains(&victim)));
    assert_eq!(state.branch(victim).unwrap().status, BranchStatus::Pruned);
    let others: Vec<_> = state.branches.iter().filter(|b| b.span != victim).collect();
    assert!(
        others.iter().all(|b| b.status == BranchStatus::Done),
        "the other branches finish"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pause_holds_a_branch_and_resume_lets_it_finish() {
    let (running, mut rx, all) = start_live(
        "checkout-db-pool",
        15,
        &["metrics-first", "logs-first", "kubernetes-first"],
    );
    let started = wait_for(
        &mut rx,
        |e| matches!(&e.kind, EventKind::BranchStarted { strategy, .. } if strategy == "metrics-first"),
    )
    .await;
    let b = started.span_id;
    wait_for(&mut rx, |e| {
        e.parent_span_id == Some(b) && matches!(e.kind, EventKind::ToolCallFinished { .. })
    })
    .await;
    running.send(Command::Pause { branch: b });
    let paused = wait_for(&mut rx, |e| {
        e.span_id == b
            && matches!(
                e.kind,
                EventKind::BranchStatusChanged {
                    status: BranchStatus::Paused,
                    ..
                }
            )
    })
    .await;
    // While paused, the others finish and this one starts no new tool call
    // (one it had already begun as the pause arrived may still show up).
    let mut done = 0;
    let mut started_while_paused = 0;
    while done < 2 {
        let e = wait_for(&mut rx, |e| {
            matches!(
                e.kind,
                EventKind::BranchStatusChanged {
                    status: BranchStatus::Done,
                    ..
                } | EventKind::ToolCallStarted { .. }
            )
        })
        .await;
        match e.kind {
            EventKind::ToolCallStarted { .. } if e.parent_span_id == Some(b) => started_while_paused += 1,
            EventKind::ToolCallStarted { .. } => {}
            _ => done += 1,
        }
    }
    assert!(
        started_while_paused <= 1,
        "a paused branch started {started_while_paused} tool calls"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    running.send(Command::Resume { branch: b });
    let state = running.wait().await.unwrap();
    assert_eq!(state.branch(b).unwrap().status, BranchStatus::Done);
    let events = all.events();
    let resumed = events
        .iter()
        .find(|e| {
            e.span_id == b
                && matches!(
                    e.kind,
                    EventKind::BranchStatusChanged {
                        status: BranchStatus::Running,
                        ..
                    }
                )
                && e.seq > paused.seq
        })
        .expect("resume is in the event log");
    let calls_after = events
        .iter()
        .filter(|e| {
            e.seq > resumed.seq && e.parent_span_id == Some(b) && matches!(e.kind, EventKind::ToolCallStarted { .. })
        })
        .count();
    assert!(calls_after > 0, "the branch went on after resume");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fork_starts_a_child_branch_with_its_guidance() {
    let (running, mut rx, all) = start_live(
        "checkout-db-pool",
        10,
        &["logs-first", "changes-first", "kubernetes-first"],
    );
    let started = wait_for(
        &mut rx,
        |e| matches!(&e.kind, EventKind::BranchStarted { strategy, .. } if strategy == "logs-first"),
    )
    .await;
    running.send(Command::Fork {
        branch: started.span_id,
        guidance: "orders-db is the suspect, look at its connections".into(),
    });
    let state = running.wait().await.unwrap();
    assert_eq!(state.branches.len(), 4);
    let child = state
        .branches
        .iter()
        .find(|b| b.parent == Some(started.span_id))
        .expect("a child branch");
    assert_eq!(child.strategy, "logs-first");
    assert_eq!(child.status, BranchStatus::Done);
    let events = all.events();
    assert!(events.iter().any(|e| matches!(&e.kind, EventKind::GuidanceApplied { branch: Some(b), text, .. } if *b == child.span && text.contains("orders-db"))));
    // The child read the guidance and its ranking honours it.
    let top = child
        .hypotheses
        .iter()
        .map(|h| &h.1)
        .max_by(|a, b| a.confidence.total_cmp(&b.confidence))
        .unwrap();
    assert_eq!(top.service, "orders-db");
}

/// The red herring in checkout-db-pool is a healthy frontend deploy.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guidance_naming_the_red_herring_innocent_changes_the_ranking() {
    let (plain, _) = run_collect("checkout-db-pool").await;
    let rank = |s: &InvestigationState| s.root_causes.iter().position(|r| r.service == "frontend");
    let conf = |s: &InvestigationState| {
        s.root_causes
            .iter()
            .find(|r| r.service == "frontend")
            .map(|r| r.confidence)
            .unwrap_or(0.0)
    };
    assert!(
        rank(&plain).is_some(),
        "frontend's deploy shows up without guidance: {:?}",
        plain.root_causes
    );

    let (running, mut rx, all) = start_live("checkout-db-pool", 5, &[]);
    wait_for(&mut rx, |e| matches!(e.kind, EventKind::BranchStarted { .. })).await;
    running.send(Command::InjectGuidance {
        scope: Scope::Investigation,
        text: "frontend is innocent, its deploy is a red herring".into(),
    });
    let guided = running.wait().await.unwrap();
    assert!(
        conf(&guided) < conf(&plain) * 0.5,
        "frontend {} → {}",
        conf(&plain),
        conf(&guided)
    );
    assert!(
        rank(&guided).is_none_or(|r| r > rank(&plain).unwrap()),
        "{:?}",
        guided.root_causes
    );
    assert_eq!(guided.root_causes[0].service, "orders-db");
    assert!(all.events().iter().any(|e| matches!(&e.kind, EventKind::GuidanceApplied { text, author, .. } if text.contains("innocent") && author == "tester")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn budget_and_stop_commands_are_obeyed_and_logged() {
    let (running, mut rx, all) = start_live(
        "checkout-db-pool",
        20,
        &["metrics-first", "traces-first", "changes-first"],
    );
    wait_for(&mut rx, |e| matches!(e.kind, EventKind::ToolCallFinished { .. })).await;
    running.send(Command::SetBudget {
        budget: inquest::model::BudgetPatch {
            tool_calls: Some(12),
            ..Default::default()
        },
    });
    let state = running.wait().await.unwrap();
    assert!(state.tool_calls <= 12, "{} calls", state.tool_calls);
    assert!(state.branches.iter().any(|b| b.status == BranchStatus::OutOfBudget));
    assert!(
        all.events()
            .iter()
            .any(|e| matches!(e.kind, EventKind::BudgetChanged { .. }))
    );

    let (running, mut rx, _) = start_live("checkout-db-pool", 20, &[]);
    wait_for(&mut rx, |e| matches!(e.kind, EventKind::ToolCallFinished { .. })).await;
    running.send(Command::Stop);
    let state = running.wait().await.unwrap();
    assert_eq!(state.status, inquest::model::InvestigationStatus::Stopped);
    assert!(state.branches.iter().all(|b| !b.status.is_live()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_reloaded_from_sqlite_fold_into_the_live_state() {
    let dir = std::env::temp_dir().join(format!("inquest-engine-test-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let db = dir.join("inquest.db");
    let writer = StoreWriter::spawn(Store::open(&db).unwrap());
    let collect = Collect::default();
    let sinks: Vec<Box<dyn EventSink>> = vec![Box::new(writer), Box::new(collect.clone())];
    let (running, _rx, _) = (start(setup("cart-hpa-replica-loss", None, &[]), sinks), (), ());
    let live = running.wait().await.unwrap();
    // The writer is dropped with the engine, which commits what it was sent.
    let store = Store::open(&db).unwrap();
    let events = store.events(live.trace_id).unwrap();
    assert_eq!(events.len(), collect.events().len());
    assert_eq!(events, collect.events());
    let reloaded = InvestigationState::fold(&events).unwrap();
    assert_eq!(reloaded, live);
    let row = store.get(live.trace_id).unwrap().unwrap();
    assert_eq!(row.status, inquest::model::InvestigationStatus::Done);
    assert_eq!(row.top_service.as_deref(), Some(live.root_causes[0].service.as_str()));
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_branch_budget_ends_each_branch_on_its_own() {
    let mut s = setup(
        "checkout-db-pool",
        None,
        &["metrics-first", "logs-first", "kubernetes-first"],
    );
    s.budget.branch_tool_calls = Some(4);
    let sinks: Vec<Box<dyn EventSink>> = Vec::new();
    let state = start(s, sinks).wait().await.unwrap();
    for b in &state.branches {
        assert!(b.tool_calls <= 4, "{} made {} calls", b.strategy, b.tool_calls);
    }
    // Metrics-first and logs-first need more than four calls; Kubernetes-first does not.
    let status = |n: &str| state.branches.iter().find(|b| b.strategy == n).unwrap().status;
    assert_eq!(status("metrics-first"), BranchStatus::OutOfBudget);
    assert_eq!(status("logs-first"), BranchStatus::OutOfBudget);
    assert_eq!(state.status, inquest::model::InvestigationStatus::Done);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "SLOW in a debug build (about 20 s of CPU): a whole investigation of a generated 1,000-service scenario. \
            benches/investigate.rs (group `scale`) measures it in release; run this with \
            `cargo test --release --test engine -- --ignored thousand`"]
async fn a_thousand_service_investigation_names_the_faulted_database() {
    let n = inquest::sources::sim::scenario::limits::SERVICES;
    let text = inquest::sources::sim::synth::generate(n, 1);
    let sc = inquest::sources::sim::scenario::parse(&text, "synth.toml", None).expect("generated scenario loads");
    assert_eq!(sc.services.len(), n);
    let faulted = sc
        .truth
        .as_ref()
        .expect("the generator writes the truth")
        .service
        .clone();
    let opts = Options {
        author: "tester".into(),
        ..Options::default()
    };
    let c = Collect::default();
    let sinks: Vec<Box<dyn EventSink>> = vec![Box::new(c.clone())];
    let st = start(for_scenario(sc, &opts).expect("setup"), sinks)
        .wait()
        .await
        .expect("engine ends");
    let top = st.root_causes.first().expect("a root cause");
    assert_eq!(top.service, faulted, "top root cause: {top:?}");
}
