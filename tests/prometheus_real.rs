//! A real Prometheus on loopback, backfilled with a scenario's metrics by
//! promtool; `inquest run --alert` reads metrics from it (and the rest from
//! the simulator) and reaches the same top root cause as the simulated run.

use std::path::Path;
use std::process::Command;

use inquest::sources::sim::Simulator;
use inquest::sources::{Backend, ToolData};
use serde_json::{Value, json};

mod common;

const BIN: &str = env!("CARGO_BIN_EXE_inquest");

fn run(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new(BIN)
        .args(args)
        .env("INQUEST_DATA_DIR", dir.join("data"))
        .env("INQUEST_CONFIG_HOME", dir.join("config"))
        .output()
        .unwrap()
}

fn top(stdout: &[u8]) -> (String, String) {
    let last = String::from_utf8_lossy(stdout).lines().last().unwrap_or("").to_string();
    let e: Value = serde_json::from_str(&last).expect("the last line is an event");
    assert_eq!(e["type"], "investigation_finished");
    let rc = &e["root_causes"][0];
    (
        rc["service"].as_str().unwrap().to_string(),
        rc["kind"].as_str().unwrap().to_string(),
    )
}

#[test]
fn metrics_from_a_real_prometheus_reach_the_same_root_cause() {
    check(false);
}

/// The stack calls `service` `job` and `peer_service` `peer`: the queries and results are mapped.
#[test]
fn other_label_names_are_mapped_by_config() {
    check(true);
}

fn check(renamed: bool) {
    if !common::have_prometheus() {
        return;
    }
    let scenario = "checkout-db-pool";
    let dir = std::env::temp_dir().join(format!("inquest-prom-{}-{renamed}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("config")).unwrap();

    // The scenario's metrics, backfilled into a TSDB a Prometheus on loopback serves.
    let _server = common::BackfilledPrometheus::start(&dir, scenario, |text| {
        if !renamed {
            return text;
        }
        let text = text
            .replace("peer_service=\"", "peer=\"")
            .replace("{service=\"", "{job=\"")
            .replace(",service=\"", ",job=\"");
        assert!(!text.contains("service=\""));
        text
    });
    let base = format!("http://127.0.0.1:{}", _server.port);

    // The scenario's alert as Alertmanager would send it; metrics from Prometheus, the rest simulated.
    let alert = Simulator::new(Simulator::load(scenario).unwrap()).unwrap().alert();
    let payload = json!({
        "version": "4", "status": "firing", "receiver": "inquest",
        "alerts": [{
            "status": "firing", "labels": alert.labels, "annotations": alert.annotations,
            "startsAt": alert.starts_at.to_rfc3339(), "fingerprint": alert.fingerprint
        }]
    });
    std::fs::write(dir.join("alert.json"), payload.to_string()).unwrap();
    std::fs::write(
        dir.join("config/config.toml"),
        format!(
            "[sources.prometheus]\nurl = \"{base}\"\ntimeout = \"10s\"\n{}\n[sources.simulator]\nscenario = \"{scenario}\"\n",
            if renamed { "labels = { service = \"job\", peer_service = \"peer\" }\n" } else { "" }
        ),
    )
    .unwrap();

    // Strategies that read metrics only, so the answer must come through Prometheus.
    let only_metrics = "metrics-first,dependency-walk";
    let real = run(
        &dir,
        &[
            "run",
            "--alert",
            dir.join("alert.json").to_str().unwrap(),
            "--json",
            "--strategies",
            only_metrics,
        ],
    );
    assert!(real.status.success(), "{}", String::from_utf8_lossy(&real.stderr));
    let sim = run(
        &dir,
        &["run", "--scenario", scenario, "--json", "--strategies", only_metrics],
    );
    assert!(sim.status.success());
    let text = String::from_utf8_lossy(&real.stdout);
    let first: Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
    assert!(
        first["source"]
            .as_str()
            .unwrap()
            .contains(&format!("prometheus:{base}")),
        "{}",
        first["source"]
    );
    // Every Prometheus call went to the real server and came back.
    let calls: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .filter(|e| e["type"] == "tool_call_finished" && e["tool"].as_str().unwrap().starts_with("prometheus"))
        .collect();
    assert!(calls.len() > 20);
    assert!(
        calls.iter().all(|c| c["status"] == "ok"),
        "{:?}",
        calls.iter().find(|c| c["status"] != "ok")
    );
    assert_eq!(top(&real.stdout), top(&sim.stdout));
    assert_eq!(top(&real.stdout).0, "orders-db");

    // Discovery through the same configuration: label names and values, in inquest's names.
    let (settings, msgs) = inquest::config::settings(Some(&dir.join("config")));
    assert!(msgs.is_empty(), "{msgs:?}");
    let router = inquest::sources::configured(&settings, inquest::model::Timestamp::now()).unwrap();
    let window = json!({
        "start": inquest::model::Timestamp::from_millis(alert.starts_at.millis() - 3_600_000).to_rfc3339(),
        "end": alert.starts_at.to_rfc3339(),
    });
    let rt = tokio::runtime::Runtime::new().unwrap();
    let names = rt.block_on(router.call("prometheus_labels", &window)).unwrap();
    let ToolData::Strings(names) = names else {
        panic!("{names:?}")
    };
    assert!(
        names.contains(&"service".to_string()) && names.contains(&"peer_service".to_string()),
        "{names:?}"
    );
    assert!(!names.contains(&"job".to_string()) || !renamed, "{names:?}");
    let mut args = window.clone();
    args["label"] = json!("service");
    args["match"] = json!(["{__name__=~\"http_server_request_duration_seconds_count|pg_stat_activity_count\"}"]);
    let values = rt.block_on(router.call("prometheus_label_values", &args)).unwrap();
    let ToolData::Strings(values) = values else {
        panic!("{values:?}")
    };
    assert!(
        values.contains(&"checkout".to_string()) && values.contains(&"orders-db".to_string()),
        "{values:?}"
    );
}
