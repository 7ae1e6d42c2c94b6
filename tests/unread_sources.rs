//! A source that is not configured or whose calls fail gives no all-clear:
//! its branch says "could not read <source>: <cause>", and the conclusion,
//! the run summary and the report name it as unavailable.

use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use inquest::engine::{EventSink, start};
use inquest::model::{EventKind, InvestigationState};
use inquest::sources::Backend;
use inquest::sources::http::Http;
use inquest::sources::jaeger::Jaeger;
use inquest::sources::router::Router;
use inquest::sources::sim::Simulator;
use inquest::wire::sinks::Collect;
use inquest::wire::{Options, for_backend};

mod common;

const SCENARIO: &str = "catalog-memory-leak-oomkills";

/// Phrases that would claim a source was read and found healthy or empty.
const ALL_CLEAR: &[&str] = &[
    "pods running",
    "nothing restarting",
    "replicas as desired",
    "nothing sampled",
    "no clear origin",
];

/// A trace backend on loopback that answers every request with a 500.
fn broken_jaeger() -> String {
    let port = common::serve(|_req| async {
        common::Reply::new(500, "{\"errors\":[{\"code\":500,\"msg\":\"storage unavailable\"}]}")
    });
    format!("http://127.0.0.1:{port}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unconfigured_kubernetes_and_failing_traces_are_said_and_never_cleared() {
    let sim = Arc::new(Simulator::new(Simulator::load(SCENARIO).unwrap()).unwrap());
    let jaeger = Jaeger::new(
        &broken_jaeger(),
        Http::new(Duration::from_millis(800), None, Vec::new()).unwrap(),
    );
    // Metrics, logs and changes from the simulator; traces from the broken
    // Jaeger; no Kubernetes at all.
    let router = Router::new(sim.now())
        .route("prometheus", sim.clone())
        .route("loki", sim.clone())
        .route("changes", sim.clone())
        .route("traces", Arc::new(jaeger));
    let opts = Options {
        strategies: vec!["kubernetes-first".into(), "traces-first".into(), "metrics-first".into()],
        author: "tester".into(),
        ..Options::default()
    };
    let setup = for_backend(sim.alert(), Arc::new(router), sim.now(), &opts).unwrap();
    let c = Collect::default();
    let sinks: Vec<Box<dyn EventSink>> = vec![Box::new(c.clone())];
    let st: InvestigationState = start(setup, sinks).wait().await.expect("engine ends");
    let events = c.events();

    let thoughts: Vec<&str> = events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::ThoughtDelta { text } => Some(text.as_str()),
            _ => None,
        })
        .collect();
    assert!(
        thoughts
            .iter()
            .any(|t| t.contains("could not read kubernetes: no kubernetes source is configured")),
        "{thoughts:#?}"
    );
    assert!(
        thoughts
            .iter()
            .any(|t| t.starts_with("Traces: could not read traces:") && t.contains("500")),
        "{thoughts:#?}"
    );
    for t in &thoughts {
        for phrase in ALL_CLEAR {
            assert!(!t.contains(phrase), "all-clear {phrase:?} from unread data: {t}");
        }
    }

    // The conclusion says what it rests on, in the fold and on the final event.
    let names: Vec<&str> = st.sources.unavailable.iter().map(|u| u.source.as_str()).collect();
    assert_eq!(names, ["kubernetes", "traces"], "{:?}", st.sources);
    assert!(st.sources.read.contains(&"prometheus".to_string()), "{:?}", st.sources);
    assert!(!st.sources.read.contains(&"kubernetes".to_string()));
    let EventKind::InvestigationFinished { sources, .. } = &events.last().unwrap().kind else {
        panic!("the last event finishes the investigation");
    };
    assert_eq!(sources, &st.sources);
    assert_eq!(
        st.sources.unavailable_line().as_deref(),
        Some("could not read: kubernetes, traces")
    );
}

fn inquest(dir: &std::path::Path, args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_inquest"))
        .args(args)
        .env("INQUEST_DATA_DIR", dir.join("data"))
        .env("INQUEST_CONFIG_HOME", dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn the_run_summary_the_report_and_the_json_name_the_source_that_failed() {
    let base = broken_jaeger();
    let dir = std::env::temp_dir().join(format!("inquest-unread-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("config.toml"),
        format!(
            "[sources.jaeger]\nurl = \"{base}\"\ntimeout = \"800ms\"\n\n[sources.simulator]\nscenario = \"{SCENARIO}\"\n"
        ),
    )
    .unwrap();
    common::write_alert(&dir, SCENARIO);
    let alert = dir.join("alert.json");
    let strategies = ["--strategies", "traces-first,kubernetes-first"];

    // JSON: the final event lists the sources read and the one that was not.
    let events = common::run_alert(&dir, &strategies, &[]);
    let fin = events.last().unwrap();
    assert_eq!(fin["type"], "investigation_finished");
    assert_eq!(fin["sources"]["unavailable"][0]["source"], "traces", "{fin}");
    assert!(
        fin["sources"]["unavailable"][0]["cause"]
            .as_str()
            .unwrap()
            .contains("500"),
        "{fin}"
    );
    let read: Vec<&str> = fin["sources"]["read"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s.as_str().unwrap())
        .collect();
    assert!(read.contains(&"kubernetes") && !read.contains(&"traces"), "{read:?}");

    // The headless summary.
    let mut args = vec!["run", "--alert", alert.to_str().unwrap()];
    args.extend(strategies);
    let summary = inquest(&dir, &args);
    let line = summary
        .lines()
        .find(|l| l.starts_with("Sources: "))
        .unwrap_or_else(|| panic!("no Sources line in:\n{summary}"));
    assert!(line.contains("read ") && line.contains("kubernetes"), "{line}");
    assert!(line.contains("could not read traces ("), "{line}");

    // The report of the saved run.
    let id = summary
        .lines()
        .find_map(|l| l.strip_prefix("Report: inquest report "))
        .unwrap_or_else(|| panic!("no report hint in:\n{summary}"))
        .trim()
        .to_string();
    let report = inquest(&dir, &["report", &id]);
    assert!(
        report
            .lines()
            .any(|l| l.starts_with("| Sources | ") && l.contains("could not read traces (")),
        "{report}"
    );
    assert!(report.contains("_Could not read traces: the causes below rest only on the sources that answered._"));
    let _ = std::fs::remove_dir_all(&dir);
}
