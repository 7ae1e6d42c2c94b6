//! The read-only guard between reasoners and sources, and what a failing
//! source does to an investigation: it fails one tool call, not the run.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use inquest::engine::{EventSink, start};
use inquest::model::{BranchStatus, CallStatus, EventKind, InvestigationStatus, Timestamp};
use inquest::sources::sim::Simulator;
use inquest::sources::{Backend, BoxFuture, SourceError, ToolData};
use inquest::tools::catalog::{Access, ToolSpec};
use inquest::tools::{CallError, Catalog, Guard, Refusal};
use inquest::wire::sinks::Collect;
use inquest::wire::{Options, for_scenario};
use serde_json::{Value, json};

/// Counts calls and answers every one with an empty list.
#[derive(Default)]
struct Counting(AtomicU32);

impl Backend for Counting {
    fn call<'a>(&'a self, _tool: &'a str, _args: &'a Value) -> BoxFuture<'a, Result<ToolData, SourceError>> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Box::pin(async { Ok(ToolData::Changes(vec![])) })
    }
    fn describe(&self) -> String {
        "counting".into()
    }
    fn now(&self) -> Timestamp {
        Timestamp::from_secs(1_700_000_000)
    }
}

/// The built-in catalog plus a tool that would write, as a careless skill might declare.
fn catalog_with_a_write_tool() -> Catalog {
    let mut c = Catalog::builtin().unwrap();
    c.skills[0].tools.push(ToolSpec {
        name: "k8s_delete_pod".into(),
        description: "deletes a pod".into(),
        access: Access::Write,
        args: json!({"type": "object", "properties": {"pod": {"type": "string"}}}),
    });
    c
}

#[tokio::test]
async fn a_write_tool_is_refused_and_never_reaches_the_source() {
    let backend = Arc::new(Counting::default());
    let guard = Guard::new(Arc::new(catalog_with_a_write_tool()), backend.clone());
    let err = guard
        .call("k8s_delete_pod", &json!({"pod": "checkout-1"}))
        .await
        .unwrap_err();
    assert_eq!(err, CallError::Refused(Refusal::NotReadOnly("k8s_delete_pod".into())));
    assert!(err.to_string().contains("not read-only"));
    // Nor anything the catalog does not declare.
    let err = guard
        .call("kubectl_exec", &json!({"cmd": "rm -rf /"}))
        .await
        .unwrap_err();
    assert!(matches!(err, CallError::Refused(Refusal::UnknownTool(_))));
    assert_eq!(backend.0.load(Ordering::SeqCst), 0, "the source saw a refused call");
    // A declared read tool goes through.
    guard.call("changes_list", &json!({})).await.unwrap();
    assert_eq!(backend.0.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn arguments_are_checked_against_the_schema() {
    let backend = Arc::new(Counting::default());
    let guard = Guard::new(Arc::new(Catalog::builtin().unwrap()), backend.clone());
    for (tool, args) in [
        ("trace_get", json!({})),
        ("trace_get", json!({"trace_id": 42})),
        ("prometheus_query", json!({"query": "up", "surprise": true})),
        ("k8s_pod_logs", json!({"pod": "x", "tail_lines": "many"})),
    ] {
        let err = guard.call(tool, &args).await.unwrap_err();
        assert!(
            matches!(err, CallError::Refused(Refusal::BadArgs { .. })),
            "{tool} {args}: {err}"
        );
    }
    assert_eq!(backend.0.load(Ordering::SeqCst), 0);
}

/// The simulator, except that Loki answers 500 and trace search never answers.
struct Flaky(Simulator);

impl Backend for Flaky {
    fn call<'a>(&'a self, tool: &'a str, args: &'a Value) -> BoxFuture<'a, Result<ToolData, SourceError>> {
        match tool {
            "loki_query_range" => Box::pin(async {
                Err(SourceError::Backend {
                    endpoint: "http://loki:3100/loki/api/v1/query_range".into(),
                    message: "HTTP 500 Internal Server Error".into(),
                })
            }),
            "traces_search" => Box::pin(async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                Ok(ToolData::TraceList(vec![]))
            }),
            _ => self.0.call(tool, args),
        }
    }
    fn describe(&self) -> String {
        self.0.describe()
    }
    fn now(&self) -> Timestamp {
        self.0.now()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_source_fails_one_call_not_the_investigation() {
    let sc = Simulator::load("checkout-db-pool").unwrap();
    let mut setup = for_scenario(sc.clone(), &Options::default()).unwrap();
    let flaky: Arc<dyn Backend> = Arc::new(Flaky(Simulator::new(sc).unwrap()));
    setup.guard = Arc::new(Guard::new(setup.guard.catalog().clone(), flaky).with_timeout_ms(300));
    let collect = Collect::default();
    let sinks: Vec<Box<dyn EventSink>> = vec![Box::new(collect.clone())];
    let state = start(setup, sinks).wait().await.unwrap();
    assert_eq!(state.status, InvestigationStatus::Done);
    let failed: Vec<(String, String)> = collect
        .events()
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::ToolCallFinished {
                tool,
                status: CallStatus::Error,
                error,
                ..
            } => Some((tool.clone(), error.clone().unwrap_or_default())),
            _ => None,
        })
        .collect();
    assert!(
        failed.iter().any(|(t, e)| t == "loki_query_range" && e.contains("500")),
        "{failed:?}"
    );
    assert!(
        failed
            .iter()
            .any(|(t, e)| t == "traces_search" && e.contains("timed out")),
        "{failed:?}"
    );
    assert!(
        failed
            .iter()
            .all(|(t, _)| t == "loki_query_range" || t == "traces_search")
    );
    // Every branch still ends normally, and the conclusion still stands on what did answer.
    assert!(
        state.branches.iter().all(|b| b.status == BranchStatus::Done),
        "{:?}",
        state.branches.iter().map(|b| b.status).collect::<Vec<_>>()
    );
    assert_eq!(state.root_causes[0].service, "orders-db");
}
