//! `inquest doctor` without a Prometheus to read: a source that does not
//! answer is said (exit 1), a config that does not parse is bad input (exit 2).

use std::path::Path;
use std::process::{Command, Output};

mod common;

fn doctor(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_inquest"))
        .arg("doctor")
        .args(args)
        .env("INQUEST_DATA_DIR", dir.join("data"))
        .env("INQUEST_CONFIG_HOME", dir)
        .output()
        .unwrap()
}

#[test]
fn an_unreachable_prometheus_is_said_and_a_bad_profile_is_bad_input() {
    let dir = std::env::temp_dir().join(format!("inquest-doctor-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let port = common::free_port();
    std::fs::write(
        dir.join("config.toml"),
        format!("[sources.prometheus]\nurl = \"http://127.0.0.1:{port}\"\ntimeout = \"2s\"\n\n[sources.loki]\nurl = \"http://127.0.0.1:{port}\"\n"),
    )
    .unwrap();
    let out = doctor(&dir, &[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("unreachable: Prometheus does not answer"), "{text}");
    assert!(text.contains("loki") && text.contains("unreachable"), "{text}");
    assert!(!text.contains('\x1b'), "no colour off a terminal: {text}");
    let out = doctor(&dir, &["--json"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["status"], "unreachable");
    assert_eq!(v["prometheus"]["answered"], false);
    assert!(
        v["prometheus"]["error"]
            .as_str()
            .unwrap()
            .contains(&format!("127.0.0.1:{port}")),
        "{v}"
    );

    std::fs::write(
        dir.join("config.toml"),
        "[sources.prometheus]\nurl = \"http://127.0.0.1:9\"\nfamilies = \"prom\"\n",
    )
    .unwrap();
    let out = doctor(&dir, &[]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("config.toml:3") && err.contains("unknown profile \"prom\""),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A Prometheus whose names and label values carry terminal control: shown,
/// never obeyed; and a family present without a label the reasoner groups by is said.
#[test]
fn what_a_prometheus_says_is_escaped_on_the_terminal_and_in_json() {
    let hostile = "checkout\u{1b}]0;pwned\u{7}\u{1b}[2J";
    let port = common::serve(move |req| async move {
        let ok = |data: serde_json::Value| {
            common::Reply::new(200, serde_json::json!({"status": "success", "data": data}).to_string())
        };
        match req.path.as_str() {
            "/api/v1/label/__name__/values" => ok(serde_json::json!([
                "http_server_request_duration_seconds_count",
                "http_server_request_duration_seconds_bucket",
                format!("evil_{hostile}")
            ])),
            "/api/v1/label/error_type/values" => ok(serde_json::json!([hostile])),
            "/api/v1/labels" => ok(serde_json::json!(["__name__", "le", "service"])),
            "/api/v1/query" => ok(serde_json::json!({"resultType": "vector", "result": [
                {"metric": {"service": hostile, "peer_service": hostile}, "value": [1700000000, "1"]}
            ]})),
            _ => ok(serde_json::json!([])),
        }
    });
    let dir = std::env::temp_dir().join(format!("inquest-doctor-hostile-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("config.toml"),
        format!("[sources.prometheus]\nurl = \"http://127.0.0.1:{port}\"\n"),
    )
    .unwrap();
    for args in [&[][..], &["--json"][..]] {
        let out = doctor(&dir, args);
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(out.status.code(), Some(1), "client families are absent: {text}");
        assert!(!text.contains('\u{1b}') && !text.contains('\u{7}'), "{text:?}");
        assert!(text.contains("checkout"), "{text}");
    }
    // The server family is there but says no status code: errors cannot be told from successes.
    let text = String::from_utf8_lossy(&doctor(&dir, &[]).stdout).to_string();
    assert!(
        text.contains("no http_response_status_code label: not told apart by it"),
        "{text}"
    );
    assert!(text.contains("; 1 lacks labels the reasoner groups by"), "{text}");
    let _ = std::fs::remove_dir_all(&dir);
}
