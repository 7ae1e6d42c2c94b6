//! The model path against a real local model server: llama.cpp's
//! `llama-server` or llama-cpp-python's server, at the OpenAI-compatible URL in
//! `INQUEST_LLAMA_SERVER` (e.g. `http://127.0.0.1:8080/v1`; the model name from
//! `INQUEST_LLAMA_MODEL`, default `local`). One investigation runs end to end
//! through the binary; whatever the model says, the events are well formed,
//! tokens are counted (estimated when the server sends no usage), and the run
//! ends cleanly. Without the variable the test says loudly that it skipped;
//! with `INQUEST_REQUIRE_LLAMA=1` a missing server fails it instead.

use std::io::Write;
use std::process::Command;
use std::time::Instant;

use serde_json::Value;

#[test]
fn a_real_local_model_investigates_end_to_end() {
    let Some(url) = std::env::var("INQUEST_LLAMA_SERVER").ok().filter(|u| !u.is_empty()) else {
        assert!(
            std::env::var_os("INQUEST_REQUIRE_LLAMA").is_none(),
            "INQUEST_REQUIRE_LLAMA is set but INQUEST_LLAMA_SERVER is not"
        );
        // Straight to stderr: the test harness captures only print macros.
        let _ = writeln!(
            std::io::stderr(),
            "\n*** SKIPPED llm_real: INQUEST_LLAMA_SERVER is not set; no real model was tried. \
             Start a llama.cpp or llama-cpp-python server and set INQUEST_LLAMA_SERVER=http://127.0.0.1:PORT/v1 ***\n"
        );
        return;
    };
    let model = std::env::var("INQUEST_LLAMA_MODEL").unwrap_or_else(|_| "local".into());
    let reasoner = std::env::var("INQUEST_LLAMA_REASONER").unwrap_or_else(|_| "llm".into());
    let dir = std::env::temp_dir().join(format!("inquest-llama-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("config.toml"),
        format!(
            "[llm]\nprovider = \"openai\"\nbase_url = \"{url}\"\nmodel = \"{model}\"\ntimeout = \"300s\"\n\
             max_turns = 4\nmax_tool_chars = 3000\ntext_tool_calls = true\nmax_output_tokens = 256\n"
        ),
    )
    .unwrap();
    let started = Instant::now();
    let out = Command::new(env!("CARGO_BIN_EXE_inquest"))
        .args(["run", "--scenario", "checkout-db-pool", "--reasoner", &reasoner])
        .args(["--strategies", "metrics-first", "--json"])
        .env("INQUEST_DATA_DIR", dir.join("data"))
        .env("INQUEST_CONFIG_HOME", &dir)
        .output()
        .unwrap();
    let wall = started.elapsed();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let events: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();

    // The figures first, so a failure still shows what the model did.
    let used = events
        .iter()
        .rev()
        .find(|e| e["type"] == "budget_used")
        .cloned()
        .unwrap_or_default();
    let tokens = used["tokens"].as_u64().unwrap_or(0);
    let ends: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "branch_status_changed" && e["status"] != "running")
        .collect();
    let calls = events.iter().filter(|e| e["type"] == "tool_call_finished").count();
    let proposed = events.iter().filter(|e| e["type"] == "hypothesis_proposed").count();
    let thoughts: String = events
        .iter()
        .filter(|e| e["type"] == "thought_delta")
        .filter_map(|e| e["text"].as_str())
        .collect();
    let _ = writeln!(
        std::io::stderr(),
        "llm_real: {reasoner} against {url} ({model}): {wall:?} wall, {tokens} tokens ({} estimated), \
         {calls} tool calls, {proposed} hypotheses, branch ends {:?}, reasons {:?}\nthoughts: {}",
        used["estimated_tokens"].as_u64().unwrap_or(0),
        ends.iter()
            .map(|e| e["status"].as_str().unwrap_or(""))
            .collect::<Vec<_>>(),
        ends.iter().filter_map(|e| e["reason"].as_str()).collect::<Vec<_>>(),
        thoughts.chars().take(1500).collect::<String>()
    );
    // Well formed: one trace, versioned, seq strictly increasing, started then finished.
    assert_eq!(events.first().unwrap()["type"], "investigation_started");
    assert_eq!(events.last().unwrap()["type"], "investigation_finished");
    let trace = events[0]["trace_id"].clone();
    assert!(events.iter().all(|e| e["trace_id"] == trace && e["v"] == 1));
    assert!(events.windows(2).all(|w| w[0]["seq"].as_u64() < w[1]["seq"].as_u64()));
    // Every branch ended, and a failure says why.
    assert!(!ends.is_empty());
    for e in &ends {
        if e["status"] == "failed" {
            assert!(e["reason"].as_str().is_some_and(|r| !r.is_empty()), "{e}");
        }
    }
    // Tokens counted, estimated or reported.
    assert!(tokens > 0, "{used}");

    let _ = std::fs::remove_dir_all(&dir);
}
