//! The orchestrator on its own, under paused time: a scripted reasoner and a
//! stub backend, so each test states exactly what the branches do and checks
//! what the engine makes of it (statuses, rejections, budgets, the conclusion).

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::sync::mpsc;

use super::{CountingIds, EventSink, FixedClock, Running, Setup, start};
use crate::model::{
    Alert, BoxFuture, BranchStatus, Budget, BudgetPatch, Command, Event, EventKind, FaultKind, Hypothesis,
    InvestigationStatus, Scope, Step, Timestamp,
};
use crate::reason::{BranchCtx, BranchEnd, Reasoner};
use crate::sources::{Backend, SourceError, ToolData};
use crate::tools::{Catalog, Guard};

/// Answers every call after `delay` of (virtual) time with no changes.
struct Stub {
    delay: Duration,
}

impl Backend for Stub {
    fn call<'a>(&'a self, _tool: &'a str, _args: &'a Value) -> BoxFuture<'a, Result<ToolData, SourceError>> {
        Box::pin(async move {
            tokio::time::sleep(self.delay).await;
            Ok(ToolData::Changes(Vec::new()))
        })
    }
    fn describe(&self) -> String {
        "stub".into()
    }
    fn now(&self) -> Timestamp {
        Timestamp(0)
    }
}

/// Makes `calls` tool calls, then proposes the service named after its strategy.
struct Scripted {
    calls: usize,
}

impl Reasoner for Scripted {
    fn name(&self) -> String {
        "scripted".into()
    }
    fn fingerprint(&self) -> String {
        "scripted".into()
    }
    fn run<'a>(&'a self, ctx: &'a BranchCtx) -> BoxFuture<'a, Result<(), BranchEnd>> {
        Box::pin(async move {
            ctx.think(format!("{} looks around", ctx.strategy.name));
            let mut evidence = Vec::new();
            for _ in 0..self.calls {
                if let Some(c) = ctx.call("changes_list", json!({})).await? {
                    evidence.push(c.evidence);
                }
            }
            ctx.propose(Hypothesis {
                service: format!("svc-{}", ctx.strategy.name),
                kind: FaultKind::BadDeploy,
                statement: "scripted".into(),
                confidence: 0.5,
                evidence,
                kind_confidence: 1.0,
            })
            .await?;
            Ok(())
        })
    }
}

struct Chan(mpsc::UnboundedSender<Event>);

impl EventSink for Chan {
    fn emit(&mut self, e: &Event) {
        let _ = self.0.send(e.clone());
    }
}

fn setup(strategies: &[&str], calls: usize, delay_ms: u64) -> Setup {
    let catalog = Arc::new(Catalog::builtin().expect("built-in catalog"));
    let strategies = strategies
        .iter()
        .map(|n| catalog.strategy(n).cloned().expect("known strategy"))
        .collect();
    Setup {
        alert: Alert::from_json(r#"{"labels":{"alertname":"Test","service":"web"}}"#, "test").expect("alert"),
        guard: Arc::new(Guard::new(
            catalog,
            Arc::new(Stub {
                delay: Duration::from_millis(delay_ms),
            }),
        )),
        reasoner: Arc::new(Scripted { calls }),
        strategies,
        budget: Budget::default(),
        now: Timestamp(0),
        author: "tester".into(),
        bundle_id: "test".into(),
        learned: Vec::new(),
        shared_patterns: Vec::new(),
        records: Vec::new(),
        clock: Arc::new(FixedClock::new(Timestamp(0))),
        ids: Arc::new(CountingIds::default()),
        recheck: super::Recheck::never(),
    }
}

fn launch(s: Setup) -> (Running, mpsc::UnboundedReceiver<Event>) {
    let (tx, rx) = mpsc::unbounded_channel();
    (start(s, vec![Box::new(Chan(tx))]), rx)
}

async fn until(rx: &mut mpsc::UnboundedReceiver<Event>, f: impl Fn(&Event) -> bool) -> Event {
    loop {
        let e = rx.recv().await.expect("the engine ended first");
        if f(&e) {
            return e;
        }
    }
}

fn started(name: &str) -> impl Fn(&Event) -> bool + '_ {
    move |e| matches!(&e.kind, EventKind::BranchStarted { strategy, .. } if strategy == name)
}

#[tokio::test(start_paused = true)]
async fn every_branch_ends_done_and_the_conclusion_holds_their_causes() {
    let (run, _rx) = launch(setup(&["metrics-first", "logs-first"], 2, 100));
    let st = run.wait().await.expect("state");
    assert_eq!(st.status, InvestigationStatus::Done);
    assert!(st.branches.iter().all(|b| b.status == BranchStatus::Done));
    let services: Vec<&str> = st.root_causes.iter().map(|r| r.service.as_str()).collect();
    assert!(services.contains(&"svc-metrics-first") && services.contains(&"svc-logs-first"));
    assert_eq!(st.tool_calls, 4);
}

#[tokio::test(start_paused = true)]
async fn a_prune_cuts_the_call_in_flight_and_a_second_prune_is_rejected() {
    // Two branches, so the investigation outlives the pruned one.
    let (run, mut rx) = launch(setup(&["metrics-first", "logs-first"], 10, 1_000));
    let b = until(&mut rx, started("metrics-first")).await.span_id;
    until(&mut rx, |e| {
        matches!(e.kind, EventKind::ToolCallStarted { .. }) && e.parent_span_id == Some(b)
    })
    .await;
    run.send(Command::Prune { branch: b });
    let closed = until(&mut rx, |e| {
        matches!(e.kind, EventKind::ToolCallFinished { .. }) && e.parent_span_id == Some(b)
    })
    .await;
    match closed.kind {
        EventKind::ToolCallFinished { summary, error, .. } => {
            assert_eq!(summary, "cancelled");
            assert!(error.is_some_and(|e| e.starts_with("cancelled: pruned by tester")));
        }
        _ => unreachable!(),
    }
    run.send(Command::Prune { branch: b });
    let rejected = until(&mut rx, |e| matches!(e.kind, EventKind::CommandRejected { .. })).await;
    assert!(
        matches!(&rejected.kind, EventKind::CommandRejected { command, reason }
            if command == "prune" && reason.ends_with("is already pruned")),
        "{:?}",
        rejected.kind
    );
    let st = run.wait().await.expect("state");
    assert_eq!(st.branches[0].status, BranchStatus::Pruned);
    assert_eq!(st.branches[1].status, BranchStatus::Done);
    let services: Vec<&str> = st.root_causes.iter().map(|r| r.service.as_str()).collect();
    assert_eq!(services, ["svc-logs-first"], "a pruned branch proposes nothing");
}

#[tokio::test(start_paused = true)]
async fn commands_on_the_wrong_branch_state_are_rejected_with_a_reason() {
    let (run, mut rx) = launch(setup(&["metrics-first"], 5, 1_000));
    let b = until(&mut rx, started("metrics-first")).await.span_id;
    run.send(Command::Resume { branch: b });
    let e = until(&mut rx, |e| matches!(e.kind, EventKind::CommandRejected { .. })).await;
    match e.kind {
        EventKind::CommandRejected { command, reason } => {
            assert_eq!(command, "resume");
            assert!(reason.ends_with("not paused"), "{reason}");
        }
        _ => unreachable!(),
    }
    run.send(Command::Stop);
    let st = run.wait().await.expect("state");
    assert_eq!(st.status, InvestigationStatus::Stopped);
}

#[tokio::test(start_paused = true)]
async fn a_paused_branch_spends_no_calls_until_resumed() {
    let (run, mut rx) = launch(setup(&["metrics-first"], 3, 1_000));
    let b = until(&mut rx, started("metrics-first")).await.span_id;
    run.send(Command::Pause { branch: b });
    until(&mut rx, |e| {
        matches!(
            e.kind,
            EventKind::BranchStatusChanged {
                status: BranchStatus::Paused,
                ..
            }
        )
    })
    .await;
    // A minute of virtual time passes; the call in flight may finish, no new one starts.
    tokio::time::sleep(Duration::from_secs(60)).await;
    let mut started_calls = 0;
    while let Ok(e) = rx.try_recv() {
        if matches!(e.kind, EventKind::ToolCallStarted { .. }) {
            started_calls += 1;
        }
    }
    assert!(started_calls <= 1, "{started_calls} calls started while paused");
    run.send(Command::Resume { branch: b });
    let st = run.wait().await.expect("state");
    assert_eq!(st.branches[0].status, BranchStatus::Done);
    assert_eq!(st.tool_calls, 3);
}

#[tokio::test(start_paused = true)]
async fn a_fork_runs_the_same_strategy_with_its_guidance() {
    let (run, mut rx) = launch(setup(&["metrics-first"], 2, 1_000));
    let b = until(&mut rx, started("metrics-first")).await.span_id;
    run.send(Command::Fork {
        branch: b,
        guidance: "look at the cache".into(),
    });
    let st = run.wait().await.expect("state");
    assert_eq!(st.branches.len(), 2);
    let child = &st.branches[1];
    assert_eq!(child.strategy, "metrics-first");
    assert_eq!(child.parent, Some(b));
    assert!(
        child
            .steps
            .iter()
            .any(|s| matches!(s, Step::Guidance { text, .. } if text == "look at the cache")),
        "the fork's guidance is its first step"
    );
}

#[tokio::test(start_paused = true)]
async fn the_call_budget_ends_branches_and_a_raised_budget_is_logged() {
    let mut s = setup(&["metrics-first", "logs-first"], 5, 10);
    s.budget.tool_calls = 3;
    let (run, mut rx) = launch(s);
    run.send(Command::SetBudget {
        budget: BudgetPatch {
            tool_calls: Some(4),
            ..BudgetPatch::default()
        },
    });
    until(&mut rx, |e| matches!(e.kind, EventKind::BudgetChanged { .. })).await;
    let st = run.wait().await.expect("state");
    assert_eq!(st.tool_calls, 4, "the raised budget is what was spent");
    assert!(st.branches.iter().all(|b| b.status == BranchStatus::OutOfBudget));
}

#[tokio::test(start_paused = true)]
async fn investigation_guidance_reaches_branches_started_later() {
    let (run, mut rx) = launch(setup(&["metrics-first"], 2, 1_000));
    let b = until(&mut rx, started("metrics-first")).await.span_id;
    run.send(Command::InjectGuidance {
        scope: Scope::Investigation,
        text: "svc-metrics-first is innocent".into(),
    });
    until(&mut rx, |e| matches!(e.kind, EventKind::GuidanceApplied { .. })).await;
    run.send(Command::Fork {
        branch: b,
        guidance: "again".into(),
    });
    let st = run.wait().await.expect("state");
    // Named innocent, the cause drops in the merged ranking.
    let rc = st
        .root_causes
        .iter()
        .find(|r| r.service == "svc-metrics-first")
        .expect("still listed");
    assert!(rc.confidence < 0.5, "{}", rc.confidence);
}

#[tokio::test(start_paused = true)]
async fn strategy_records_order_the_branches_and_each_stops_at_its_share() {
    let mut s = setup(&["metrics-first", "logs-first"], 30, 10);
    s.budget.tool_calls = 40;
    s.records = vec![crate::model::StrategyRecord {
        strategy: "logs-first".into(),
        correct: 4,
        ..Default::default()
    }];
    let (run, mut rx) = launch(s);
    // The trusted strategy starts first, with why on its start.
    let first = until(&mut rx, |e| matches!(e.kind, EventKind::BranchStarted { .. })).await;
    let EventKind::BranchStarted {
        strategy, allotment, ..
    } = first.kind
    else {
        unreachable!()
    };
    assert_eq!(strategy, "logs-first");
    let a = allotment.expect("an allotment");
    assert_eq!(
        a.reason,
        format!("budget {} calls: 4 of 4 graded correct on Test", a.tool_calls)
    );
    let st = run.wait().await.expect("state");
    let b = |name: &str| st.branches.iter().find(|b| b.strategy == name).unwrap();
    let (logs, metrics) = (b("logs-first"), b("metrics-first"));
    // Each ran out of its own share, never the other's.
    assert_eq!(logs.tool_calls, logs.allotment.as_ref().unwrap().tool_calls);
    assert_eq!(metrics.tool_calls, metrics.allotment.as_ref().unwrap().tool_calls);
    assert_eq!(logs.tool_calls + metrics.tool_calls, 40);
    assert!(logs.tool_calls > metrics.tool_calls && metrics.tool_calls >= 10);
    assert_eq!(metrics.status, BranchStatus::OutOfBudget);
}

#[tokio::test(start_paused = true)]
async fn raising_the_budget_raises_every_share() {
    let mut s = setup(&["metrics-first", "logs-first"], 30, 1_000);
    s.budget.tool_calls = 20;
    s.records = vec![crate::model::StrategyRecord {
        strategy: "logs-first".into(),
        correct: 1,
        ..Default::default()
    }];
    let (run, mut rx) = launch(s);
    until(&mut rx, started("metrics-first")).await;
    run.send(Command::SetBudget {
        budget: BudgetPatch {
            tool_calls: Some(40),
            ..Default::default()
        },
    });
    let st = run.wait().await.expect("state");
    let total: u32 = st.branches.iter().map(|b| b.tool_calls).sum();
    assert!(total > 20, "the shares grew with the budget: {total}");
    assert!(total <= 40);
}
