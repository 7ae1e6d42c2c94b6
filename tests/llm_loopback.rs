//! The model-driven reasoner against loopback servers that speak OpenAI's and
//! Anthropic's streaming formats from a script: the scripted model calls real
//! tools on the simulator and proposes the root cause; a 429 with Retry-After,
//! malformed tool arguments and a stream cut mid tool call are survived; no
//! secret reaches a request body, and the key reaches neither store nor logs.

use std::path::Path;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

mod common;

const BIN: &str = env!("CARGO_BIN_EXE_inquest");
const KEY: &str = "sk-test-key-0123456789abcdef";

#[derive(Default)]
struct Script {
    /// (arrival, authorization header, body) of every request.
    seen: Mutex<Vec<(Instant, String, String)>>,
    requests: AtomicUsize,
    anthropic: bool,
    /// Answer the first request without a 429.
    no_rate_limit: bool,
    /// Hold every answer this long.
    delay_ms: std::sync::atomic::AtomicU64,
    /// The request that got the 429, and when.
    limited: Mutex<Option<(Instant, String)>>,
    /// Anthropic: an `error` event (overloaded) in the middle of the stream.
    overloaded: bool,
}

fn sse_openai(chunks: &[Value], done: bool) -> String {
    let mut s: String = chunks.iter().map(|c| format!("data: {c}\n\n")).collect();
    if done {
        s.push_str("data: [DONE]\n\n");
    }
    s
}

fn text_chunks(text: &str) -> Vec<Value> {
    // Streamed a few words at a time, as models do.
    text.split_inclusive(' ')
        .collect::<Vec<_>>()
        .chunks(3)
        .map(|w| json!({"choices": [{"index": 0, "delta": {"content": w.concat()}, "finish_reason": null}]}))
        .collect()
}

fn call_chunks(id: &str, name: &str, args: &str) -> Vec<Value> {
    let mut v = vec![
        json!({"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0, "id": id, "type": "function",
        "function": {"name": name, "arguments": ""}}]}, "finish_reason": null}]}),
    ];
    // Arguments in fragments, to be joined per index.
    let bytes: Vec<char> = args.chars().collect();
    for part in bytes.chunks(7) {
        v.push(json!({"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 0,
            "function": {"arguments": part.iter().collect::<String>()}}]}, "finish_reason": null}]}));
    }
    v
}

fn finish(reason: &str) -> Vec<Value> {
    vec![
        json!({"choices": [{"index": 0, "delta": {}, "finish_reason": reason}]}),
        json!({"choices": [], "usage": {"prompt_tokens": 900, "completion_tokens": 40, "total_tokens": 940}}),
    ]
}

const QUERY: &str = r#"{"query": "max by (service) (pg_stat_activity_count) / max by (service) (pg_settings_max_connections)", "time": "2026-03-01T10:50:00Z"}"#;
const PROPOSE: &str = r#"{"service": "orders-db", "kind": "connection_pool_exhaustion", "statement": "orders-db is at 100% of max_connections", "confidence": 0.9, "evidence": ["pg connections ratio"]}"#;

impl Script {
    /// What the scripted model says next, from the conversation so far.
    fn openai(&self, body: &Value) -> (u16, Vec<(&'static str, String)>, String) {
        let n = self.requests.fetch_add(1, Ordering::SeqCst);
        if n == 0 && !self.no_rate_limit {
            *self.limited.lock().unwrap() = Some((Instant::now(), body.to_string()));
            return (
                429,
                vec![("retry-after", "1".into())],
                json!({"error": {"message": "rate limited"}}).to_string(),
            );
        }
        let system = body["messages"][0]["content"].as_str().unwrap_or("");
        let tool_msgs: Vec<&Value> = body["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["role"] == "tool")
            .collect();
        let logs_branch = system.contains("# Strategy: Logs first");
        let k8s_branch = system.contains("# Strategy: Kubernetes first");
        let sse = if k8s_branch {
            // Cut mid tool call: no finish, no [DONE].
            let mut c = text_chunks("Checking pods. ");
            c.extend(
                call_chunks("call_k", "k8s_list_pods", r#"{"namespace": "sh"#)
                    .into_iter()
                    .take(2),
            );
            sse_openai(&c, false)
        } else if logs_branch && tool_msgs.len() == 1 {
            // Talked into it by a log line: try to change the system.
            let mut c = text_chunks("The log says to delete the deployment; doing that. ");
            c.extend(call_chunks(
                "call_del",
                "k8s_delete_deployment",
                r#"{"namespace": "shop", "name": "orders-db"}"#,
            ));
            c.extend(finish("tool_calls"));
            sse_openai(&c, true)
        } else if logs_branch && tool_msgs.is_empty() {
            let mut c = text_chunks("Let me look at the connection pool. ");
            c.extend(call_chunks(
                "call_bad",
                "prometheus_query",
                r#"{"query": max by (service"#,
            ));
            c.extend(finish("tool_calls"));
            sse_openai(&c, true)
        } else {
            let useful = tool_msgs
                .iter()
                .filter(|m| !m["content"].as_str().unwrap_or("").starts_with("error"))
                .count();
            let mut c;
            if useful == 0 {
                c = text_chunks(
                    "The alert is checkout latency; a database pool is a usual suspect. Querying connection use. ",
                );
                c.extend(call_chunks("call_1", "prometheus_query", QUERY));
                c.extend(finish("tool_calls"));
            } else if !tool_msgs.iter().any(|m| m["content"] == "recorded") {
                let last = tool_msgs.last().unwrap()["content"].as_str().unwrap_or("");
                assert!(
                    last.contains("<tool-output>") && last.contains("orders-db"),
                    "real simulator output: {last}"
                );
                c = text_chunks("orders-db is at its connection limit while checkout waits on it. ");
                c.extend(call_chunks("call_2", "propose_root_cause", PROPOSE));
                c.extend(finish("tool_calls"));
            } else {
                c = text_chunks("Proposed. Done.");
                c.extend(finish("stop"));
            }
            sse_openai(&c, true)
        };
        (200, vec![("content-type", "text/event-stream".into())], sse)
    }

    fn anthropic(&self, body: &Value) -> String {
        self.requests.fetch_add(1, Ordering::SeqCst);
        let results = body["messages"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|m| m["content"].as_array().cloned().unwrap_or_default())
            .filter(|b| b["type"] == "tool_result")
            .count();
        let ev = |name: &str, data: Value| format!("event: {name}\ndata: {data}\n\n");
        let mut s = ev(
            "message_start",
            json!({"type": "message_start", "message": {"content": [], "usage": {"input_tokens": 700, "output_tokens": 1}}}),
        );
        s += &ev("ping", json!({"type": "ping"}));
        if self.overloaded {
            s += &ev(
                "error",
                json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}),
            );
            return s;
        }
        s += &ev(
            "content_block_start",
            json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}),
        );
        let (text, tool, args) = match results {
            0 => (
                "Checking the database connections first.",
                Some("prometheus_query"),
                QUERY,
            ),
            1 => ("The pool is exhausted.", Some("propose_root_cause"), PROPOSE),
            _ => ("Done.", None, ""),
        };
        for w in text.split_inclusive(' ') {
            s += &ev(
                "content_block_delta",
                json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": w}}),
            );
        }
        s += &ev("content_block_stop", json!({"type": "content_block_stop", "index": 0}));
        if let Some(tool) = tool {
            s += &ev(
                "content_block_start",
                json!({"type": "content_block_start", "index": 1, "content_block": {"type": "tool_use", "id": format!("toolu_{results}"), "name": tool, "input": {}}}),
            );
            let chars: Vec<char> = args.chars().collect();
            for part in chars.chunks(9) {
                s += &ev(
                    "content_block_delta",
                    json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": part.iter().collect::<String>()}}),
                );
            }
            s += &ev("content_block_stop", json!({"type": "content_block_stop", "index": 1}));
        }
        s += &ev(
            "message_delta",
            json!({"type": "message_delta", "delta": {"stop_reason": if tool.is_some() { "tool_use" } else { "end_turn" }}, "usage": {"output_tokens": 35}}),
        );
        s += &ev("message_stop", json!({"type": "message_stop"}));
        s
    }
}

fn serve(script: Arc<Script>) -> u16 {
    common::serve(move |req| {
        let script = script.clone();
        async move {
            let auth = req
                .header("authorization")
                .or(req.header("x-api-key"))
                .unwrap_or("")
                .to_string();
            script
                .seen
                .lock()
                .unwrap()
                .push((Instant::now(), auth, req.body.clone()));
            let v: Value = serde_json::from_str(&req.body).unwrap_or(Value::Null);
            let delay = script.delay_ms.load(Ordering::SeqCst);
            if delay > 0 {
                tokio::time::sleep(Duration::from_millis(delay)).await;
            }
            let (status, headers, body) = if script.anthropic {
                (
                    200,
                    vec![("content-type", "text/event-stream".to_string())],
                    script.anthropic(&v),
                )
            } else {
                script.openai(&v)
            };
            common::Reply { status, headers, body }
        }
    })
}

fn setup_dir(name: &str, llm: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("inquest-llm-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("config.toml"),
        format!("[sources.simulator]\nscenario = \"checkout-db-pool\"\n\n{llm}"),
    )
    .unwrap();
    // The alert carries a secret, as real annotations sometimes do.
    std::fs::write(
        dir.join("alert.json"),
        json!({"labels": {"alertname": "CheckoutLatencyHigh", "service": "checkout", "severity": "page"},
               "annotations": {"summary": "p99 above 2s", "runbook": "psql postgres://app:hunter2-secret@orders-db:5432/shop"},
               "startsAt": "2026-03-01T10:48:00Z"})
        .to_string(),
    )
    .unwrap();
    dir
}

fn run(dir: &Path, strategies: &str) -> Vec<Value> {
    common::run_alert(
        dir,
        &["--reasoner", "llm", "--strategies", strategies],
        &[("INQUEST_TEST_KEY", KEY)],
    )
}

fn no_key_anywhere(dir: &Path) {
    fn walk(p: &Path) {
        for e in std::fs::read_dir(p).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p);
            } else if p.file_name().is_some_and(|n| n != "config.toml" && n != "alert.json") {
                let bytes = std::fs::read(&p).unwrap();
                assert!(
                    !String::from_utf8_lossy(&bytes).contains(KEY),
                    "the key is in {}",
                    p.display()
                );
                assert!(
                    !String::from_utf8_lossy(&bytes).contains("hunter2-secret")
                        || p.extension().is_none_or(|e| e != "log")
                );
            }
        }
    }
    walk(dir);
}

#[test]
fn an_openai_compatible_model_investigates_through_the_tools() {
    let script = Arc::new(Script::default());
    let port = serve(script.clone());
    let dir = setup_dir(
        "openai",
        &format!(
            "[llm]\nprovider = \"openai\"\nbase_url = \"http://127.0.0.1:{port}/v1\"\nmodel = \"scripted\"\napi_key_env = \"INQUEST_TEST_KEY\"\ntimeout = \"10s\"\n"
        ),
    );
    let events = run(&dir, "metrics-first,logs-first,kubernetes-first");
    assert!(
        events[0]["reasoner"]
            .as_str()
            .unwrap()
            .starts_with("llm:openai:scripted")
    );

    // The root cause came from the model, after it read real tool output.
    let fin = events.last().unwrap();
    assert_eq!(fin["type"], "investigation_finished");
    assert_eq!(fin["root_causes"][0]["service"], "orders-db");
    assert_eq!(fin["root_causes"][0]["kind"], "connection_pool_exhaustion");
    let queries: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "tool_call_finished" && e["tool"] == "prometheus_query")
        .collect();
    // Every query that ran answered; the one with malformed arguments never ran (refused, below).
    let ran: Vec<&&Value> = queries.iter().filter(|q| q["status"] != "refused").collect();
    assert!(ran.len() >= 2 && ran.iter().all(|q| q["status"] == "ok"));

    // Thoughts streamed: several deltas into one thought span.
    let mut per_span: std::collections::HashMap<String, usize> = Default::default();
    for e in events.iter().filter(|e| e["type"] == "thought_delta") {
        *per_span.entry(e["span_id"].as_str().unwrap().to_string()).or_default() += 1;
    }
    assert!(per_span.values().any(|n| *n >= 3), "{per_span:?}");

    // The stream cut mid tool call failed one branch; the others finished.
    let status = |name: &str| {
        let span = events
            .iter()
            .find(|e| e["type"] == "branch_started" && e["strategy"] == name)
            .unwrap()["span_id"]
            .clone();
        events
            .iter()
            .rev()
            .find(|e| e["type"] == "branch_status_changed" && e["span_id"] == span)
            .unwrap()
            .clone()
    };
    let k8s = status("kubernetes-first");
    assert_eq!(k8s["status"], "failed");
    assert!(
        k8s["reason"]
            .as_str()
            .unwrap()
            .contains("ended before the model finished"),
        "{k8s}"
    );
    assert_eq!(status("metrics-first")["status"], "done");
    assert_eq!(status("logs-first")["status"], "done");

    let seen = script.seen.lock().unwrap().clone();
    // The 429 was honoured: the retry came after Retry-After.
    assert!(seen.len() >= 7);
    let (limited_at, limited_body) = script
        .limited
        .lock()
        .unwrap()
        .clone()
        .expect("one request was rate limited");
    let retry = seen
        .iter()
        .find(|s| {
            s.0 > limited_at
                && serde_json::from_str::<Value>(&s.2).ok().as_ref().map(|v| v.to_string())
                    == Some(limited_body.clone())
        })
        .expect("the rate-limited request was retried");
    let gap = retry.0.duration_since(limited_at);
    assert!(gap >= Duration::from_millis(900), "retried after {gap:?}");
    // Every request carried the key, and no request carried the planted secret.
    assert!(seen.iter().all(|(_, auth, _)| auth == &format!("Bearer {KEY}")));
    assert!(
        seen.iter().all(|(_, _, body)| !body.contains("hunter2-secret")),
        "a secret reached the model"
    );
    assert!(seen.iter().any(|(_, _, body)| body.contains("[REDACTED:")));
    // The malformed arguments were answered with an error the model could read.
    assert!(seen.iter().any(|(_, _, body)| body.contains("are not a JSON object")));
    // ... and the trace shows the refused call.
    assert!(
        events.iter().any(|e| e["type"] == "tool_call_finished"
            && e["status"] == "refused"
            && e["error"].as_str().is_some_and(|r| r.contains("are not a JSON object"))),
        "the malformed call is not in the trace"
    );
    // A tool that would change the system is refused by the guard, and the model is told so.
    assert!(events.iter().any(|e| e["type"] == "tool_call_finished"
        && e["tool"] == "k8s_delete_deployment"
        && e["status"] == "refused"));
    assert!(
        seen.iter()
            .any(|(_, _, body)| body.contains("only the declared read-only tools exist"))
    );
    // Tool output is framed as data.
    assert!(seen.iter().any(|(_, _, body)| body.contains("<tool-output>")));
    no_key_anywhere(&dir);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_anthropic_model_streams_tool_use_and_proposes() {
    let script = Arc::new(Script {
        anthropic: true,
        ..Default::default()
    });
    let port = serve(script.clone());
    let dir = setup_dir(
        "anthropic",
        &format!(
            "[llm]\nprovider = \"anthropic\"\nbase_url = \"http://127.0.0.1:{port}\"\nmodel = \"scripted\"\napi_key_env = \"INQUEST_TEST_KEY\"\n"
        ),
    );
    let events = run(&dir, "metrics-first");
    let fin = events.last().unwrap();
    assert_eq!(fin["root_causes"][0]["service"], "orders-db");
    assert!(
        events
            .iter()
            .any(|e| e["type"] == "tool_call_finished" && e["tool"] == "prometheus_query" && e["status"] == "ok")
    );
    let used = events.iter().rev().find(|e| e["type"] == "budget_used").unwrap();
    assert!(used["tokens"].as_u64().unwrap() >= 2 * 735, "{used}");
    let seen = script.seen.lock().unwrap().clone();
    assert_eq!(seen.len(), 3);
    assert!(
        seen.iter()
            .all(|(_, key, body)| key == KEY && !body.contains("hunter2-secret"))
    );
    // Tool results went back as tool_result blocks for the tool_use ids.
    assert!(seen[1].2.contains("\"tool_use_id\":\"toolu_0\""), "{}", seen[1].2);
    no_key_anywhere(&dir);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A bundle's model route and temperature reach the model; the trace records
/// the id `bundle show` gives the same file.
#[test]
fn a_bundles_model_route_reaches_the_model_and_names_the_trace() {
    let script = Arc::new(Script {
        anthropic: true,
        ..Default::default()
    });
    let port = serve(script.clone());
    let dir = setup_dir(
        "bundle",
        &format!(
            "[llm]\nprovider = \"anthropic\"\nbase_url = \"http://127.0.0.1:{port}\"\nmodel = \"scripted\"\napi_key_env = \"INQUEST_TEST_KEY\"\n"
        ),
    );
    let bundle = dir.join("candidate.toml");
    std::fs::write(
        &bundle,
        "strategies = [\"metrics-first\"]\n\n[reasoner]\nkind = \"llm\"\n\n[model]\nprovider = \"anthropic\"\nmodel = \"scripted-2\"\ntemperature = 0.3\n",
    )
    .unwrap();
    let events = common::run_alert(
        &dir,
        &["--bundle", bundle.to_str().unwrap()],
        &[("INQUEST_TEST_KEY", KEY)],
    );
    assert_eq!(events[0]["reasoner"], "llm:anthropic:scripted-2");
    assert_eq!(events[0]["strategies"], json!(["metrics-first"]));
    let seen = script.seen.lock().unwrap().clone();
    assert!(!seen.is_empty());
    for (_, _, body) in &seen {
        let v: Value = serde_json::from_str(body).unwrap();
        assert_eq!(v["model"], "scripted-2");
        assert_eq!(v["temperature"], 0.3);
    }
    let shown = Command::new(env!("CARGO_BIN_EXE_inquest"))
        .args(["bundle", "show", bundle.to_str().unwrap(), "--json"])
        .env("INQUEST_DATA_DIR", dir.join("data"))
        .env("INQUEST_CONFIG_HOME", &dir)
        .env("INQUEST_TEST_KEY", KEY)
        .output()
        .unwrap();
    let shown: Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!(shown["id"], events[0]["bundle_id"], "{shown}");
    assert_eq!(shown["model"]["temperature"], 0.3);
    no_key_anywhere(&dir);
    let _ = std::fs::remove_dir_all(&dir);
}

/// An investigation through the library, so commands can be sent while the model works.
fn live(port: u16, tokens: u64) -> inquest::engine::Running {
    live_with_events(port, tokens).0
}

async fn branch_span(rx: &mut tokio::sync::mpsc::UnboundedReceiver<inquest::model::Event>) -> inquest::model::SpanId {
    loop {
        let e = rx.recv().await.expect("events until the branch starts");
        if matches!(e.kind, inquest::model::EventKind::BranchStarted { .. }) {
            return e.span_id;
        }
    }
}

fn live_with_events(
    port: u16,
    tokens: u64,
) -> (
    inquest::engine::Running,
    tokio::sync::mpsc::UnboundedReceiver<inquest::model::Event>,
) {
    use inquest::sources::sim::Simulator;
    let sim = Simulator::new(Simulator::load("checkout-db-pool").unwrap()).unwrap();
    let alert = sim.alert();
    let now = inquest::sources::Backend::now(&sim);
    let opts = inquest::wire::Options {
        strategies: vec!["metrics-first".into()],
        author: "tester".into(),
        llm: Some(inquest::reason::llm::LlmConfig {
            provider: "openai".into(),
            base_url: format!("http://127.0.0.1:{port}/v1"),
            model: "scripted".into(),
            api_key: None,
            timeout: Duration::from_secs(20),
            max_turns: 8,
            max_tool_chars: 12_000,
            price_per_mtok: (3.0, 15.0),
            strategy_models: Default::default(),
            text_tool_calls: false,
            max_output_tokens: None,
            temperature: None,
        }),
        ..Default::default()
    };
    let mut setup = inquest::wire::for_backend(alert, Arc::new(sim), now, &opts).unwrap();
    setup.budget.tokens = tokens;
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let sinks: Vec<Box<dyn inquest::engine::EventSink>> = vec![Box::new(inquest::wire::sinks::Channel(tx))];
    (inquest::engine::start(setup, sinks), rx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn guidance_reaches_the_models_next_request() {
    let script = Arc::new(Script {
        no_rate_limit: true,
        ..Default::default()
    });
    script.delay_ms.store(400, Ordering::SeqCst);
    let port = serve(script.clone());
    let running = live(port, 1_000_000);
    // While the first request is held, the engineer speaks.
    tokio::time::sleep(Duration::from_millis(100)).await;
    running.send(inquest::model::Command::InjectGuidance {
        scope: inquest::model::Scope::Investigation,
        text: "orders-db max_connections was lowered at 10:39".into(),
    });
    let state = running.wait().await.unwrap();
    assert_eq!(state.root_causes[0].service, "orders-db");
    // Three turns at 900 input and 40 output tokens, priced 3 and 15 dollars per million.
    assert_eq!(state.cost_microusd, 3 * (900 * 3 + 40 * 15));
    let seen = script.seen.lock().unwrap().clone();
    assert!(
        !seen[0].2.contains("was lowered at 10:39"),
        "the first request went before the guidance"
    );
    assert!(
        seen[1]
            .2
            .contains("[guidance from the on-call engineer]\\norders-db max_connections was lowered at 10:39"),
        "{}",
        seen[1].2
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_cancels_the_request_in_flight() {
    let script = Arc::new(Script {
        no_rate_limit: true,
        ..Default::default()
    });
    script.delay_ms.store(10_000, Ordering::SeqCst);
    let port = serve(script.clone());
    let (running, mut rx) = live_with_events(port, 1_000_000);
    let branch = branch_span(&mut rx).await;
    // The model is thinking (its answer would take 10 s); prune now.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let t0 = Instant::now();
    running.send(inquest::model::Command::Prune { branch });
    let state = running.wait().await.unwrap();
    assert!(
        t0.elapsed() < Duration::from_secs(2),
        "waited {:?} for the model",
        t0.elapsed()
    );
    assert_eq!(
        state.branch(branch).unwrap().status,
        inquest::model::BranchStatus::Pruned
    );
    assert_eq!(script.seen.lock().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_spent_token_budget_ends_the_branch_as_out_of_budget() {
    let script = Arc::new(Script {
        no_rate_limit: true,
        ..Default::default()
    });
    let port = serve(script.clone());
    // Each scripted turn costs 940 tokens; the budget allows one.
    let state = live(port, 1_000).wait().await.unwrap();
    let b = &state.branches[0];
    assert_eq!(b.status, inquest::model::BranchStatus::OutOfBudget);
    assert!(
        b.steps
            .iter()
            .any(|s| matches!(s, inquest::model::Step::Status { reason: Some(r), .. } if r.contains("token budget")))
    );
    assert_eq!(script.seen.lock().unwrap().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cockpit_shows_the_models_streamed_thoughts() {
    use inquest::tui::app::{App, Focus};
    let script = Arc::new(Script {
        no_rate_limit: true,
        ..Default::default()
    });
    let port = serve(script.clone());
    let (running, mut rx) = live_with_events(port, 1_000_000);
    running.wait().await.unwrap();
    let mut events = Vec::new();
    while let Ok(e) = rx.try_recv() {
        events.push(e);
    }
    // Stable ids, clock and durations, as in the other screen snapshots.
    let mut app = App::new(
        inquest::tui::keymap::Keymap::builtin("default").unwrap(),
        "tester".into(),
        false,
    );
    for e in common::stable(&events) {
        app.on_event(&e);
    }
    app.focus = Focus::Stream;
    let mut view = inquest::tui::views::View::new(inquest::tui::theme::Theme::builtin("default").unwrap());
    let mut term = ratatui::Terminal::new(ratatui::backend::TestBackend::new(120, 30)).unwrap();
    term.draw(|f| view.draw(f, &mut app)).unwrap();
    let screen = term.backend().to_string();
    assert!(screen.contains("orders-db is at its connection limit"), "{screen}");
    insta::assert_snapshot!("llm_stream_120x30", screen);
}

#[test]
fn a_key_goes_to_the_keyring_or_the_user_is_told_to_use_the_environment() {
    use std::io::Write;
    let dir = std::env::temp_dir().join(format!("inquest-auth-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let mut child = Command::new(BIN)
        .args(["auth", "set", "anthropic"])
        .env("INQUEST_DATA_DIR", dir.join("data"))
        .env("INQUEST_CONFIG_HOME", &dir)
        .stdin(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{KEY}\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    match out.status.code() {
        Some(0) => assert!(err.contains("keyring"), "{err}"),
        // No keyring service here: say so, and point at the variable.
        _ => assert!(
            err.contains("no usable keyring") && err.contains("ANTHROPIC_API_KEY"),
            "{err}"
        ),
    }
    assert!(!err.contains(KEY), "the key was echoed");
    if dir.exists() {
        no_key_anywhere(&dir);
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_error_event_in_the_stream_fails_the_branch_with_its_message() {
    let script = Arc::new(Script {
        anthropic: true,
        overloaded: true,
        ..Default::default()
    });
    let port = serve(script.clone());
    let dir = setup_dir(
        "overloaded",
        &format!(
            "[llm]\nprovider = \"anthropic\"\nbase_url = \"http://127.0.0.1:{port}\"\nmodel = \"scripted\"\napi_key_env = \"INQUEST_TEST_KEY\"\n"
        ),
    );
    let events = run(&dir, "metrics-first");
    let failed = events
        .iter()
        .find(|e| e["type"] == "branch_status_changed" && e["status"] == "failed")
        .expect("the branch failed");
    let reason = failed["reason"].as_str().unwrap();
    assert!(
        reason.contains("overloaded_error") && reason.contains(&format!("127.0.0.1:{port}/v1/messages")),
        "{reason}"
    );
    assert_eq!(events.last().unwrap()["type"], "investigation_finished");
    let _ = std::fs::remove_dir_all(&dir);
}
