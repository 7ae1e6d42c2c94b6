//! A real Alertmanager on loopback: alerts pushed through its API v2 show in
//! `inquest alerts`, its webhook starts one investigation per new alert in
//! `inquest serve`, a repeat starts none, and a badly signed PagerDuty
//! webhook is refused.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use hmac::{Hmac, Mac};
use inquest::sources::sim::Simulator;
use serde_json::{Value, json};
use sha2::Sha256;

mod common;

const BIN: &str = env!("CARGO_BIN_EXE_inquest");

struct Procs(Vec<Child>, PathBuf);

impl Drop for Procs {
    fn drop(&mut self) {
        for c in &mut self.0 {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_dir_all(&self.1);
    }
}

fn inquest(dir: &Path, args: &[&str]) -> Value {
    let out = Command::new(BIN)
        .args(args)
        .env("INQUEST_DATA_DIR", dir.join("data"))
        .env("INQUEST_CONFIG_HOME", dir.join("config"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn wait(what: &str, mut f: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !f() {
        assert!(t0.elapsed() < Duration::from_secs(30), "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn alerts_flow_from_a_real_alertmanager_into_investigations() {
    let am_bin = "prometheus-alertmanager";
    if !common::have(am_bin) {
        assert!(
            std::env::var_os("INQUEST_REQUIRE_PROMETHEUS").is_none(),
            "{am_bin} is required"
        );
        eprintln!("skipped: {am_bin} is not installed (.ci/run installs it)");
        return;
    }
    let dir = std::env::temp_dir().join(format!("inquest-am-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("config")).unwrap();
    let (am_port, serve_port) = (common::free_port(), common::free_port());
    std::fs::write(
        dir.join("config/config.toml"),
        format!(
            "[sources.alertmanager]\nurl = \"http://127.0.0.1:{am_port}\"\n\n[sources.simulator]\nscenario = \"checkout-db-pool\"\n\n[intake.pagerduty]\nsecret_env = \"PD_SECRET\"\n"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("am.yml"),
        format!(
            "route:\n  receiver: inquest\n  group_wait: 1s\n  group_interval: 1s\n  repeat_interval: 1h\nreceivers:\n  - name: inquest\n    webhook_configs:\n      - url: http://127.0.0.1:{serve_port}/alertmanager\n        send_resolved: false\n"
        ),
    )
    .unwrap();
    let serve = Command::new(BIN)
        .args(["serve", "--listen", &format!("127.0.0.1:{serve_port}")])
        .env("INQUEST_DATA_DIR", dir.join("data"))
        .env("INQUEST_CONFIG_HOME", dir.join("config"))
        .env("PD_SECRET", "s3cret")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let am = Command::new(am_bin)
        .args([
            &format!("--web.listen-address=127.0.0.1:{am_port}"),
            "--cluster.listen-address=",
            &format!("--storage.path={}", dir.join("am").display()),
            &format!("--config.file={}", dir.join("am.yml").display()),
        ])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let _procs = Procs(vec![serve, am], dir.clone());
    wait("inquest serve", || {
        common::http("GET", serve_port, "/healthz", &[], "").is_some_and(|r| r.0 == 200)
    });
    wait("alertmanager", || {
        common::http("GET", am_port, "/-/ready", &[], "").is_some_and(|r| r.0 == 200)
    });

    // The scenario's alert, pushed into Alertmanager.
    let alert = Simulator::new(Simulator::load("checkout-db-pool").unwrap())
        .unwrap()
        .alert();
    let push =
        json!([{"labels": alert.labels, "annotations": alert.annotations, "startsAt": alert.starts_at.to_rfc3339()}]);
    let (status, _) = common::http("POST", am_port, "/api/v2/alerts", &[], &push.to_string()).unwrap();
    assert_eq!(status, 200);
    wait("the alert in `inquest alerts`", || {
        inquest(&dir, &["alerts", "--json"])
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x["name"] == "CheckoutLatencyHigh"))
    });
    let listed = inquest(&dir, &["alerts", "--json"]);
    let fingerprint = listed[0]["fingerprint"].as_str().unwrap().to_string();
    assert_eq!(listed[0]["source"], "alertmanager");
    assert_eq!(listed[0]["labels"]["service"], "checkout");

    // Alertmanager's webhook starts one investigation.
    let investigations = || {
        inquest(&dir, &["list", "--json"])
            .as_array()
            .cloned()
            .unwrap_or_default()
    };
    wait("an investigation started by the webhook", || {
        investigations().len() == 1
    });
    let row = &investigations()[0];
    assert_eq!(row["alert_name"], "CheckoutLatencyHigh");
    wait("the investigation to end", || investigations()[0]["status"] == "done");
    assert_eq!(investigations()[0]["top_service"], "orders-db");

    // The same alert again, as Alertmanager would resend it: nothing new.
    let hook = json!({"version": "4", "status": "firing", "receiver": "inquest", "alerts": [{
        "status": "firing", "labels": alert.labels, "annotations": alert.annotations,
        "startsAt": alert.starts_at.to_rfc3339(), "endsAt": "0001-01-01T00:00:00Z", "fingerprint": fingerprint}]});
    let (status, body) = common::http("POST", serve_port, "/alertmanager", &[], &hook.to_string()).unwrap();
    assert_eq!(status, 200, "{body}");
    let r: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(r["duplicates"], 1, "{body}");
    assert_eq!(r["started"].as_array().unwrap().len(), 0);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(investigations().len(), 1);

    // A PagerDuty webhook with a bad signature is refused and starts nothing.
    let pd = json!({"event": {"id": "e1", "event_type": "incident.triggered", "resource_type": "incident",
        "occurred_at": alert.starts_at.to_rfc3339(), "data": {"id": "PGR0VU2", "type": "incident",
        "title": "CheckoutLatencyHigh", "urgency": "high", "created_at": alert.starts_at.to_rfc3339(),
        "service": {"id": "PF9KMXH", "summary": "checkout", "type": "service_reference"}}}})
    .to_string();
    let (status, _) = common::http(
        "POST",
        serve_port,
        "/pagerduty",
        &[("X-PagerDuty-Signature", "v1=00ff00ff".into())],
        &pd,
    )
    .unwrap();
    assert_eq!(status, 401);
    let (status, _) = common::http("POST", serve_port, "/pagerduty", &[], &pd).unwrap();
    assert_eq!(status, 401, "no signature at all");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(investigations().len(), 1);
    // Signed with the secret, it starts one.
    let mut mac = Hmac::<Sha256>::new_from_slice(b"s3cret").unwrap();
    mac.update(pd.as_bytes());
    let sig: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
    let (status, body) = common::http(
        "POST",
        serve_port,
        "/pagerduty",
        &[("X-PagerDuty-Signature", format!("v1={sig}"))],
        &pd,
    )
    .unwrap();
    assert_eq!(status, 200, "{body}");
    wait("the PagerDuty investigation", || investigations().len() == 2);

    // `inquest run --alertmanager --pick NAME`: the firing alert, investigated headless.
    let run = |pick: &str| {
        Command::new(BIN)
            .args([
                "run",
                "--alertmanager",
                "--pick",
                pick,
                "--json",
                "--strategies",
                "metrics-first",
            ])
            .env("INQUEST_DATA_DIR", dir.join("data"))
            .env("INQUEST_CONFIG_HOME", dir.join("config"))
            .output()
            .unwrap()
    };
    let out = run("CheckoutLatencyHigh");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let events: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(events[0]["alert"]["name"], "CheckoutLatencyHigh");
    assert_eq!(events[0]["alert"]["fingerprint"], fingerprint.as_str());
    assert_eq!(events.last().unwrap()["type"], "investigation_finished");
    assert_eq!(investigations().len(), 3);
    let out = run("NoSuchAlert");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no firing alert \"NoSuchAlert\"") && err.contains("CheckoutLatencyHigh"),
        "{err}"
    );

    // `inquest` with Alertmanager configured opens on the firing alerts; Enter investigates one.
    if Command::new("tmux")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success())
    {
        let session = format!("inquest-alerts-{}", std::process::id());
        let cmd = format!(
            "env INQUEST_DATA_DIR={} INQUEST_CONFIG_HOME={} TERM=xterm-256color {BIN}",
            dir.join("data").display(),
            dir.join("config").display()
        );
        let tmux = |args: &[&str]| Command::new("tmux").args(args).output().unwrap();
        tmux(&["new-session", "-d", "-s", &session, "-x", "100", "-y", "30", &cmd]);
        let screen = || String::from_utf8_lossy(&tmux(&["capture-pane", "-p", "-t", &session]).stdout).to_string();
        wait("the alert list", || {
            screen().contains("1 firing") && screen().contains("CheckoutLatencyHigh")
        });
        tmux(&["send-keys", "-t", &session, "Enter"]);
        wait("the cockpit", || {
            screen().contains("Branches") && screen().contains("trace ")
        });
        tmux(&["send-keys", "-t", &session, "q"]);
        wait("a fourth investigation", || investigations().len() == 4);
        tmux(&["kill-session", "-t", &session]);
    } else {
        assert!(
            std::env::var_os("INQUEST_REQUIRE_TMUX").is_none(),
            "tmux is required for this test"
        );
    }
}
