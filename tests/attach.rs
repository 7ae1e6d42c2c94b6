//! `inquest --server URL …` from the outside: the real binary against a
//! server on loopback: what a refused token, an unreachable server and the
//! server's answers look like to the engineer.

mod common;

use common::tmux::BIN;
use common::{Reply, serve};

/// A data and config directory of the test's own.
fn home(tag: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("inquest-attach-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("config")).unwrap();
    dir
}

fn inquest(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    inquest_in(&home("cli"), args, env)
}

fn inquest_in(dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let out = std::process::Command::new(BIN)
        .args(args)
        .env("INQUEST_DATA_DIR", &dir)
        .env("INQUEST_CONFIG_HOME", dir.join("config"))
        .env_remove("INQUEST_TOKEN")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    )
}

const ROW: &str = r#"[{"trace_id":"3f9c2a1e00000000000000000000abcd","started_at":"2026-03-01T10:00:00Z",
"alert_name":"CheckoutLatencyHigh","service":"checkout","source":"scenario","reasoner":"builtin",
"bundle_id":"b-1","status":"running","top_service":null,"top_kind":null,"top_confidence":null,
"tool_calls":12,"finished_at":null,"tokens":0,"estimated_tokens":0,"cost_microusd":0}]"#;

#[test]
fn a_wrong_token_is_one_clear_line_and_exit_2() {
    let port = serve(|req| async move {
        match req.header("authorization") {
            Some("Bearer right") => Reply::new(200, ROW),
            _ => Reply::new(401, r#"{"error":"unauthorized"}"#),
        }
    });
    let url = format!("http://127.0.0.1:{port}");
    let (code, _, err) = inquest(&["--server", &url, "list"], &[("INQUEST_TOKEN", "wrong")]);
    assert_eq!(code, 2, "{err}");
    assert_eq!(
        err.trim(),
        format!("inquest: {url}: 401 unauthorized (check INQUEST_TOKEN)")
    );
    let (code, out, err) = inquest(&["--server", &url, "list"], &[("INQUEST_TOKEN", "right")]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("3f9c2a1e") && out.contains("CheckoutLatencyHigh") && out.contains("running"),
        "{out}"
    );
}

#[test]
fn an_unreachable_server_is_exit_1_and_says_so() {
    let port = common::free_port();
    let url = format!("http://127.0.0.1:{port}");
    let (code, _, err) = inquest(&["--server", &url, "report", "3f9c"], &[]);
    assert_eq!(code, 1, "{err}");
    assert!(
        err.starts_with(&format!("inquest: {url}: cannot reach the server")),
        "{err}"
    );
}

#[test]
fn server_for_a_command_that_cannot_use_one_is_bad_input() {
    let (code, _, err) = inquest(&["--server", "http://127.0.0.1:1", "scenarios"], &[]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--server works with"), "{err}");
}

#[test]
fn the_config_names_the_server_and_the_token_variable() {
    let port = serve(|req| async move {
        let ok = req.header("authorization") == Some("Bearer t0k") && req.header("x-inquest-user") == Some("alice");
        match (ok, req.path.as_str()) {
            (true, "/v1/investigations/3f9c/feedback") => Reply::new(200, "[]"),
            _ => Reply::new(401, r#"{"error":"unauthorized"}"#),
        }
    });
    let dir = home("config");
    std::fs::write(
        dir.join("config/config.toml"),
        format!("[remote]\nurl = \"http://127.0.0.1:{port}\"\ntoken_env = \"TEAM_TOKEN\"\nuser = \"alice\"\n"),
    )
    .unwrap();
    let (code, out, err) = inquest_in(&dir, &["feedback", "3f9c"], &[("TEAM_TOKEN", "t0k")]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), "No feedback on 3f9c.");
    let (code, _, err) = inquest_in(&dir, &["feedback", "3f9c"], &[("TEAM_TOKEN", "nope")]);
    assert_eq!(code, 2);
    assert!(err.contains("401 unauthorized (check TEAM_TOKEN)"), "{err}");
}
