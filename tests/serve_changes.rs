//! `POST /v1/changes` over loopback against the real server: the bearer token,
//! validation errors a CI/CD pipeline can act on, changes stored (redacted)
//! and listed; then an alert from the webhook whose investigation's
//! `changes_list` answers the deploy the pipeline posted.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

mod common;

const BIN: &str = env!("CARGO_BIN_EXE_inquest");
/// The token `[serve.users]` gives the pipeline, named `ci`.
const AUTH: &str = "Bearer ci-token";

struct Site {
    dir: PathBuf,
    port: u16,
    child: Child,
}

impl Drop for Site {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Site {
    fn start(name: &str) -> Site {
        let dir = std::env::temp_dir().join(format!("inquest-changes-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("config")).unwrap();
        std::fs::write(
            dir.join("config/config.toml"),
            "[sources.simulator]\nscenario = \"checkout-db-pool\"\n\n[serve]\ntoken_env = \"T_SHARED\"\n\
             strategies = [\"changes-first\"]\n\n[serve.users]\nci = { token_env = \"T_CI\" }\n",
        )
        .unwrap();
        let port = common::free_port();
        let child = Command::new(BIN)
            .env("INQUEST_DATA_DIR", dir.join("data"))
            .env("INQUEST_CONFIG_HOME", dir.join("config"))
            .env("USER", "server-oncall")
            .env("T_CI", "ci-token")
            .env("T_SHARED", "shared-token")
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let site = Site { dir, port, child };
        let t0 = Instant::now();
        while call(port, "GET", "/healthz", None, "").map(|a| a.0) != Some(200) {
            assert!(t0.elapsed() < Duration::from_secs(20), "the server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        site
    }
}

/// One request on its own connection: (status, body).
fn call(port: u16, method: &str, path: &str, auth: Option<&str>, body: &str) -> Option<(u16, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(15))).ok()?;
    let mut h = format!(
        "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(a) = auth {
        h.push_str(&format!("Authorization: {a}\r\n"));
    }
    s.write_all((h + "\r\n" + body).as_bytes()).ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let (head, body) = out.split_once("\r\n\r\n")?;
    Some((head.split(' ').nth(1)?.parse().ok()?, body.to_string()))
}

fn json_call(port: u16, method: &str, path: &str, body: &str) -> (u16, Value) {
    let (status, body) = call(port, method, path, Some(AUTH), body).expect("the server answers");
    (
        status,
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}")),
    )
}

#[test]
fn changes_are_posted_with_the_token_validated_stored_redacted_and_listed() {
    let site = Site::start("post");
    let p = site.port;
    let deploy = json!({"service": "checkout", "kind": "deploy", "summary": "rollout of checkout",
        "version": "v2.4.1", "at": "2026-03-01T10:40:00Z"})
    .to_string();
    assert_eq!(call(p, "POST", "/v1/changes", None, &deploy).unwrap().0, 401);
    assert_eq!(
        call(p, "POST", "/v1/changes", Some("Bearer wrong"), &deploy).unwrap().0,
        401
    );

    let (status, err) = json_call(
        p,
        "POST",
        "/v1/changes",
        r#"{"service":"checkout","kind":"redeploy","summary":"x"}"#,
    );
    assert_eq!(status, 400);
    let why = err["error"].as_str().unwrap();
    assert!(
        why.contains("changes[0].kind") && why.contains("deploy, config"),
        "{why}"
    );
    let (status, err) = json_call(
        p,
        "POST",
        "/v1/changes",
        r#"[{"service":"ok","kind":"deploy","summary":"x"},{"service":"no way","kind":"deploy","summary":"x"}]"#,
    );
    assert_eq!(status, 400);
    assert!(
        err["error"].as_str().unwrap().starts_with("changes[1].service"),
        "{err}"
    );
    let (_, listed) = json_call(p, "GET", "/v1/changes", "");
    assert_eq!(listed, json!([]), "a refused batch stores none of its changes");

    let (status, ok) = json_call(p, "POST", "/v1/changes", &deploy);
    assert_eq!((status, ok), (201, json!({"stored": 1})));
    let batch = json!([
        {"service": "payments", "kind": "config", "summary": "DB_PASSWORD=hunter2 rotated \u{1b}[2J", "at": "2026-03-01T10:30:00Z", "author": "deploy-bot"},
        {"service": "checkout", "kind": "rollback", "summary": "back to v2.4.0", "at": "2026-03-01T10:55:00Z"}
    ])
    .to_string();
    assert_eq!(json_call(p, "POST", "/v1/changes", &batch), (201, json!({"stored": 2})));

    let (status, all) = json_call(p, "GET", "/v1/changes", "");
    assert_eq!(status, 200);
    let all = all.as_array().unwrap();
    assert_eq!(all.len(), 3);
    assert_eq!(all[0]["service"], "payments", "oldest first");
    let text = all[0]["summary"].as_str().unwrap();
    assert!(!text.contains("hunter2"), "stored redacted: {text}");
    assert!(!text.contains('\u{1b}'), "sanitized: {text}");
    assert_eq!(all[0]["author"], "deploy-bot");
    assert_eq!(all[1]["version"], "v2.4.1");
    assert_eq!(all[1]["author"], "ci", "the token's author when none is given");

    let (_, checkout) = json_call(
        p,
        "GET",
        "/v1/changes?service=checkout&since=2026-03-01T10%3A45%3A00Z",
        "",
    );
    assert_eq!(checkout.as_array().unwrap().len(), 1, "{checkout}");
    assert_eq!(checkout[0]["kind"], "rollback");
    let (status, _) = json_call(p, "GET", "/v1/changes?since=yesterday", "");
    assert_eq!(status, 400);
}

#[test]
fn an_alert_investigation_lists_the_deploy_a_pipeline_posted() {
    let site = Site::start("alert");
    let p = site.port;
    let deploy = json!({"service": "checkout", "kind": "deploy", "summary": "checkout rollout",
        "version": "v9.41.7", "at": "2026-03-01T10:43:00Z"})
    .to_string();
    assert_eq!(json_call(p, "POST", "/v1/changes", &deploy).0, 201);
    let alert = json!({"version": "4", "status": "firing", "receiver": "inquest", "alerts": [
        {"status": "firing", "labels": {"alertname": "CheckoutLatencyHigh", "service": "checkout", "severity": "page"},
         "annotations": {"summary": "p99 latency above 2s"}, "startsAt": "2026-03-01T10:48:00Z",
         "fingerprint": "posted-deploy-1"}]})
    .to_string();
    let (status, _) = call(p, "POST", "/alertmanager", Some(AUTH), &alert).unwrap();
    assert_eq!(status, 200);
    let t0 = Instant::now();
    let trace = loop {
        let (_, rows) = json_call(p, "GET", "/v1/investigations", "");
        let done = rows
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["status"] != "running" && r["status"] != "queued");
        if let Some(r) = done {
            assert_eq!(r["status"], "done", "{r}");
            break r["trace_id"].as_str().unwrap().to_string();
        }
        assert!(
            t0.elapsed() < Duration::from_secs(60),
            "the investigation did not end: {rows}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let db = rusqlite::Connection::open(site.dir.join("data/inquest.db")).unwrap();
    let bodies: Vec<String> = db
        .prepare("SELECT body FROM evidence WHERE trace_id = ?1 AND kind = 'changes'")
        .unwrap()
        .query_map([&trace], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(!bodies.is_empty(), "changes_list was called");
    assert!(
        bodies
            .iter()
            .any(|b| b.contains("checkout") && b.contains("v9.41.7") && b.contains("deploy")),
        "the posted deploy is in the change timeline: {bodies:?}"
    );
}

#[test]
fn inquest_run_alert_reads_the_changes_in_its_store() {
    use inquest::model::Timestamp;
    use inquest::store::{DB_FILE, RecordedChange, Store};
    let dir = std::env::temp_dir().join(format!("inquest-changes-run-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("data")).unwrap();
    std::fs::write(
        dir.join("config.toml"),
        "[sources.simulator]\nscenario = \"checkout-db-pool\"\n",
    )
    .unwrap();
    common::write_alert(&dir, "checkout-db-pool");
    let alert: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("alert.json")).unwrap()).unwrap();
    let start = Timestamp::parse_rfc3339(alert["startsAt"].as_str().unwrap()).unwrap();
    let store = Store::open(dir.join("data").join(DB_FILE)).unwrap();
    store
        .add_changes(&[RecordedChange {
            at: Timestamp(start.0 - 180_000_000_000),
            service: "checkout".into(),
            kind: "deploy".into(),
            summary: "checkout rollout".into(),
            version: Some("v7.77.7".into()),
            author: "deploy-bot".into(),
        }])
        .unwrap();
    drop(store);
    let events = common::run_alert(&dir, &["--strategies", "changes-first"], &[]);
    let started = events.iter().find(|e| e["type"] == "investigation_started").unwrap();
    assert!(
        started.to_string().contains("changes from posted changes, simulator"),
        "{started}"
    );
    let timeline: Vec<String> = events
        .iter()
        .filter(|e| e["type"] == "evidence_added" && e["evidence"]["kind"] == "changes")
        .map(|e| e["evidence"]["body"].as_str().unwrap_or_default().to_string())
        .collect();
    assert!(
        timeline
            .iter()
            .any(|b| b.contains("v7.77.7") && b.contains("posted by deploy-bot")),
        "{timeline:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
