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
