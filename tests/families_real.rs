//! A real Prometheus on loopback holding an incident recorded from the lab,
//! once in OpenTelemetry names and once in the classic ones
//! (`http_requests_total{job,code}`, `http_request_duration_seconds`, no client
//! metrics, as `lab/run up --classic` exposes them): the investigation reads
//! the classic families through the profile `auto` picks and names the
//! service that broke (read as OpenTelemetry names, it misses it), and
//! `inquest capture` records it in inquest's names; `inquest doctor` tells the two stacks apart.

use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

mod common;

const BIN: &str = env!("CARGO_BIN_EXE_inquest");
const RECORDED: &str = "scenarios-recorded/lab-orders-db-pool-exhaustion";

fn inquest(dir: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env("INQUEST_DATA_DIR", dir.join("data"))
        .env("INQUEST_CONFIG_HOME", dir)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

/// The recorded metrics as a stack with the classic naming exposes them.
fn classic(om: &str) -> String {
    om.lines()
        .filter(|l| !l.contains("http_client_request_duration_seconds"))
        .map(|l| {
            if !l.contains("http_server_request_duration_seconds") {
                return l.to_string();
            }
            l.replace("http_server_request_duration_seconds_count", "http_requests_total")
                .replace(
                    "http_server_request_duration_seconds_bucket",
                    "http_request_duration_seconds_bucket",
                )
                .replace("{service=\"", "{job=\"")
                .replace(",service=\"", ",job=\"")
                .replace("http_response_status_code=\"", "code=\"")
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

fn config(dir: &Path, port: u16, families: &str) {
    std::fs::write(
        dir.join("config.toml"),
        format!(
            "[sources.prometheus]\nurl = \"http://127.0.0.1:{port}\"\ntimeout = \"10s\"\nfamilies = \"{families}\"\n"
        ),
    )
    .unwrap();
}

fn events(out: &Output) -> Vec<Value> {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn top_service(events: &[Value]) -> Option<String> {
    let last = events.last().unwrap();
    assert_eq!(last["type"], "investigation_finished");
    last["root_causes"][0]["service"].as_str().map(str::to_string)
}

/// `inquest doctor --json` over the incident's window, and its exit code.
fn doctor(dir: &Path, at: &str) -> (Value, Option<i32>) {
    let out = inquest(dir, &["doctor", "--json", "--at", at, "--window", "30m"]);
    let v: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    (v, out.status.code())
}

fn family<'a>(report: &'a Value, metric: &str) -> &'a Value {
    report["prometheus"]["families"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["metric"] == metric)
        .unwrap()
}

#[test]
fn a_classic_stack_is_read_through_its_own_families() {
    if !common::have_prometheus() {
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let om = shipped_metrics(&root.join(RECORDED));
    let dir = std::env::temp_dir().join(format!("inquest-families-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    common::write_alert(&dir, root.join(format!("{RECORDED}.toml")).to_str().unwrap());
    let alert: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("alert.json")).unwrap()).unwrap();
    let at = alert["startsAt"].as_str().unwrap().to_string();

    // OpenTelemetry names: auto reads them as they are, and doctor finds every family.
    let otel = common::BackfilledPrometheus::from_openmetrics(&dir.join("otel"), &om);
    config(&dir, otel.port, "auto");
    let (report, code) = doctor(&dir, &at);
    assert_eq!(report["prometheus"]["profile"], "otel", "{report:#}");
    assert_eq!(
        family(&report, "http_client_request_duration_seconds_bucket")["present"],
        true
    );
    assert_eq!(code, Some(0), "{report:#}");
    assert_eq!(report["status"], "healthy");
    let alert_file = dir.join("alert.json");
    let run = || {
        events(&inquest(
            &dir,
            &["run", "--alert", alert_file.to_str().unwrap(), "--json"],
        ))
    };
    assert_eq!(top_service(&run()).as_deref(), Some("orders-db"));
    drop(otel);

    // The classic names: auto picks the classic profile, doctor says what is missing and what it costs.
    let prom = common::BackfilledPrometheus::from_openmetrics(&dir.join("classic"), &classic(&om));
    config(&dir, prom.port, "auto");
    let (report, code) = doctor(&dir, &at);
    assert_eq!(report["prometheus"]["profile"], "classic", "{report:#}");
    let server = family(&report, "http_server_request_duration_seconds_count");
    assert_eq!(server["present"], true);
    assert_eq!(server["as_name"], "http_requests_total");
    assert_eq!(server["labels"]["service"], "job");
    let client = family(&report, "http_client_request_duration_seconds_bucket");
    assert_eq!(client["present"], false);
    assert!(
        client["cost"]
            .as_str()
            .unwrap()
            .contains("callers' view of latency unavailable"),
        "{client}"
    );
    assert_eq!(code, Some(1), "degraded: {report:#}");
    let services = &report["prometheus"]["labels"][0];
    assert_eq!(services["label"], "service");
    assert_eq!(services["from"], "job");
    assert!(
        services["values"].as_array().unwrap().iter().any(|v| v == "checkout"),
        "{services}"
    );
    let text = String::from_utf8_lossy(&inquest(&dir, &["doctor", "--at", &at, "--window", "30m"]).stdout).to_string();
    eprintln!("{text}");
    assert!(text.contains("profile       classic"), "{text}");
    assert!(text.contains("as http_requests_total {"), "{text}");
    assert!(text.contains("degraded: 2 of 9 families"), "{text}");

    // A query joining a classic family with cAdvisor's (`job` against `service`) still matches.
    let (settings, msgs) = inquest::config::settings(Some(&dir));
    assert!(msgs.is_empty(), "{msgs:?}");
    let router = inquest::sources::configured(&settings, inquest::model::Timestamp::now()).unwrap();
    let q = "sum by (service) (rate(http_server_request_duration_seconds_count[5m])) / on (service) group_left sum by (service) (container_memory_working_set_bytes)";
    let args = serde_json::json!({"query": q, "time": at});
    use inquest::sources::Backend;
    let rt = tokio::runtime::Runtime::new().unwrap();
    let answer = rt.block_on(router.call("prometheus_query", &args)).unwrap();
    let inquest::sources::ToolData::Instant(inquest::sources::telemetry::InstantResult::Vector(v)) = answer else {
        panic!("{answer:?}")
    };
    let joined: Vec<&str> = v.iter().map(|s| s.label("service")).collect();
    assert!(joined.contains(&"checkout") && joined.contains(&"frontend"), "{v:?}");

    // The investigation reads the classic families and names the service that broke.
    let classic_run = run();
    let calls: Vec<&Value> = classic_run
        .iter()
        .filter(|e| e["type"] == "tool_call_finished" && e["tool"].as_str().unwrap().starts_with("prometheus"))
        .collect();
    assert!(
        calls.iter().all(|c| c["status"] == "ok"),
        "{:?}",
        calls.iter().find(|c| c["status"] != "ok")
    );
    assert_eq!(top_service(&classic_run).as_deref(), Some("orders-db"));
    let finished = classic_run.last().unwrap().to_string();
    assert!(
        finished.contains("checkout errors"),
        "the classic server family was read: {finished}"
    );

    // Captured from the classic stack, the incident is recorded in inquest's names and replays offline.
    config(&dir, prom.port, "auto");
    let out_file = dir.join("recorded/pool.toml");
    let cap = inquest(
        &dir,
        &[
            "capture",
            "--alert",
            alert_file.to_str().unwrap(),
            "--truth",
            "orders-db/connection_pool_exhaustion",
            "--out",
            out_file.to_str().unwrap(),
        ],
    );
    assert!(cap.status.success(), "{}", String::from_utf8_lossy(&cap.stderr));
    let recorded = std::fs::read_to_string(dir.join("recorded/pool/metrics.om")).unwrap();
    assert!(
        recorded.contains(
            "http_server_request_duration_seconds_count{http_response_status_code=\"200\",service=\"frontend\"}"
        ),
        "{}",
        &recorded[..recorded.len().min(2000)]
    );
    assert!(!recorded.contains("http_requests_total") && !recorded.contains("job=\""));
    let replay = Command::new(BIN)
        .args(["run", "--scenario-file", out_file.to_str().unwrap(), "--json"])
        .env("INQUEST_DATA_DIR", dir.join("data"))
        .env("INQUEST_CONFIG_HOME", dir.join("no-config"))
        .output()
        .unwrap();
    assert_eq!(top_service(&events(&replay)).as_deref(), Some("orders-db"));

    // Read as OpenTelemetry names, the same stack shows no HTTP traffic and the cause is missed.
    config(&dir, prom.port, "otel");
    let (report, _) = doctor(&dir, &at);
    assert_eq!(
        family(&report, "http_server_request_duration_seconds_count")["present"],
        false
    );
    assert_ne!(top_service(&run()).as_deref(), Some("orders-db"));
    drop(prom);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The recorded metrics as stock OpenTelemetry instrumentation writes its
/// client metric: exception class names in `error_type` (and the status code
/// of an answered call that failed), the peer in `server_address` and
/// `server_port` (a Kubernetes Service name, a bare host, an IP), no `peer_service`.
fn stock_otel(om: &str) -> String {
    let peer = regex::Regex::new(r#"peer_service="([^"]+)""#).unwrap();
    let err = regex::Regex::new(r#"error_type="([^"]+)""#).unwrap();
    let status = regex::Regex::new(r#"http_response_status_code="(5..)""#).unwrap();
    om.lines()
        .map(|l| {
            if !l.starts_with("http_client_request_duration_seconds") {
                return l.to_string();
            }
            let l = peer.replace(l, |c: &regex::Captures| {
                let (host, port) = match &c[1] {
                    "inventory" => ("inventory.lab.svc.cluster.local", "8080"),
                    "orders-db" => ("10.0.3.7", "5432"),
                    "checkout" => ("checkout.lab.svc", "8080"),
                    other => (other, "8080"),
                };
                format!(r#"server_address="{host}",server_port="{port}""#)
            });
            let l = err.replace(&l, |c: &regex::Captures| {
                let class = match &c[1] {
                    "connection_refused" => "ConnectionRefusedError",
                    "dns_error" => "NameResolutionError",
                    "timeout" => "ReadTimeout",
                    "tls_error" => "SSLCertVerificationError",
                    other => other,
                };
                format!(r#"error_type="{class}""#)
            });
            status
                .replace(&l, |c: &regex::Captures| {
                    format!(r#"error_type="{0}",http_response_status_code="{0}""#, &c[1])
                })
                .to_string()
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}

#[test]
fn stock_opentelemetry_values_read_as_inquests_own() {
    if !common::have_prometheus() {
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let recorded = root.join("scenarios-recorded/lab-inventory-dns-catalog.toml");
    let om = shipped_metrics(&root.join("scenarios-recorded/lab-inventory-dns-frontend"));
    let stock = stock_otel(&om);
    assert!(stock.contains("NameResolutionError") && !stock.contains("peer_service="));
    let dir = std::env::temp_dir().join(format!("inquest-stock-otel-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    common::write_alert(&dir, recorded.to_str().unwrap());
    let alert: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("alert.json")).unwrap()).unwrap();
    let at = alert["startsAt"].as_str().unwrap().to_string();
    let alert_file = dir.join("alert.json");
    let causes = |dir: &Path| ranked_causes(dir, &alert_file);

    let own = common::BackfilledPrometheus::from_openmetrics(&dir.join("own"), &om);
    config(&dir, own.port, "auto");
    let want = causes(&dir);
    assert_eq!(want[0], ("inventory".to_string(), "dns_failure".to_string()));
    drop(own);

    // The database's exporter is scraped on the host its clients call (10.0.3.7), lately.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let up = format!(
        "# TYPE up gauge\nup{{instance=\"10.0.3.7:9187\",job=\"orders-db\"}} 1 {}\nup{{instance=\"10.0.3.7:9187\",job=\"orders-db\"}} 1 {}\n# EOF",
        now - 600,
        now - 300
    );
    let stock = stock.replace("# EOF", &up);
    let prom = common::BackfilledPrometheus::from_openmetrics(&dir.join("stock"), &stock);
    std::fs::write(
        dir.join("config.toml"),
        format!(
            "[sources.prometheus]\nurl = \"http://127.0.0.1:{}\"\nfamilies = \"auto\"\n\n[sources.prometheus.peers]\n\"10.0.3.7:5432\" = \"orders-db\"\n",
            prom.port
        ),
    )
    .unwrap();
    assert_eq!(causes(&dir), want, "the same ranking from stock OpenTelemetry values");

    // doctor shows what the values and peers were read as.
    let (report, _) = doctor(&dir, &at);
    let labels = report["prometheus"]["labels"].as_array().unwrap();
    let peers = labels.iter().find(|l| l["label"] == "peer_service").unwrap();
    assert!(peers["from"].as_str().unwrap().contains("server_address"), "{peers}");
    let edges: Vec<&str> = peers["values"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(edges.contains(&"catalog → inventory"), "{edges:?}");
    assert!(edges.contains(&"checkout → orders-db, payments"), "{edges:?}");
    let errors = labels.iter().find(|l| l["label"] == "error_type").unwrap().to_string();
    assert!(
        errors.contains("NameResolutionError → dns_error") && errors.contains("502 → (an answered call)"),
        "{errors}"
    );

    // Without the table, the scrape targets name the host: the same calls, the same ranking.
    config(&dir, prom.port, "auto");
    let (report, _) = doctor(&dir, &at);
    let peers = report["prometheus"]["labels"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["label"] == "peer_service")
        .unwrap()
        .clone();
    assert!(
        peers["from"]
            .as_str()
            .unwrap()
            .contains("0 in the peers table, 1 from the scrape targets"),
        "{peers}"
    );
    assert!(peers.to_string().contains("checkout → orders-db, payments"), "{peers}");
    assert_eq!(causes(&dir), want);
    drop(prom);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The recorded metrics as Istio's sidecars report them: one
/// `istio_requests_total` and one millisecond histogram, the server's view
/// with `reporter="destination"`, the caller's with `reporter="source"`,
/// transport failures as Envoy response flags.
fn istio(om: &str) -> String {
    let label = regex::Regex::new(r#"([a-z_]+)="([^"]*)""#).unwrap();
    let mut families: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for l in om.lines().filter(|l| !l.starts_with('#') && !l.is_empty()) {
        let (series, rest) = l.split_once(' ').unwrap();
        let (name, labels) = series.split_once('{').unwrap_or((series, "}"));
        let client = name.starts_with("http_client_request_duration_seconds");
        let server = name.starts_with("http_server_request_duration_seconds");
        if !client && !server {
            families.entry(name.to_string()).or_default().push(l.to_string());
            continue;
        }
        let mut out = vec![format!(
            "reporter=\"{}\"",
            if client { "source" } else { "destination" }
        )];
        let mut flags = "-";
        let mut code = None;
        for c in label.captures_iter(labels) {
            match (&c[1], &c[2]) {
                ("service", v) if client => out.push(format!("source_workload=\"{v}\"")),
                ("service", v) => out.push(format!("destination_workload=\"{v}\"")),
                ("peer_service", v) => out.push(format!("destination_workload=\"{v}\"")),
                ("http_response_status_code", v) => code = Some(v.to_string()),
                ("error_type", e) => {
                    flags = match e {
                        "timeout" => "UT",
                        "dns_error" => "DF",
                        _ => "UF",
                    }
                }
                ("le", v) => {
                    let ms = if v == "+Inf" {
                        v.to_string()
                    } else {
                        format!("{}", v.parse::<f64>().unwrap() * 1000.0)
                    };
                    out.push(format!("le=\"{ms}\""));
                }
                (k, v) => out.push(format!("{k}=\"{v}\"")),
            }
        }
        let istio = if name.ends_with("_bucket") {
            "istio_request_duration_milliseconds_bucket"
        } else {
            out.push(format!("response_flags=\"{flags}\""));
            out.push(format!("response_code=\"{}\"", code.unwrap_or_else(|| "503".into())));
            "istio_requests_total"
        };
        families
            .entry(istio.to_string())
            .or_default()
            .push(format!("{istio}{{{}}} {rest}", out.join(",")));
    }
    let mut text = String::new();
    for (name, lines) in families {
        text.push_str(&format!("# TYPE {name} unknown\n"));
        for l in lines {
            text.push_str(&l);
            text.push('\n');
        }
    }
    text + "# EOF\n"
}

#[test]
fn istio_millisecond_histograms_read_in_seconds_through_each_reporter() {
    if !common::have_prometheus() {
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let recorded = root.join("scenarios-recorded/lab-inventory-dns-catalog.toml");
    let om = shipped_metrics(&root.join("scenarios-recorded/lab-inventory-dns-frontend"));
    let dir = std::env::temp_dir().join(format!("inquest-istio-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    common::write_alert(&dir, recorded.to_str().unwrap());
    let alert: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("alert.json")).unwrap()).unwrap();
    let at = alert["startsAt"].as_str().unwrap().to_string();
    let p99 = |dir: &Path| -> f64 {
        let q = "histogram_quantile(0.99, sum by (le) (rate(http_server_request_duration_seconds_bucket{service=\"catalog\"}[5m])))";
        let (settings, msgs) = inquest::config::settings(Some(dir));
        assert!(msgs.is_empty(), "{msgs:?}");
        let router = inquest::sources::configured(&settings, inquest::model::Timestamp::now()).unwrap();
        let rt = tokio::runtime::Runtime::new().unwrap();
        let args = serde_json::json!({"query": q, "time": at});
        use inquest::sources::Backend;
        match rt.block_on(router.call("prometheus_query", &args)).unwrap() {
            inquest::sources::ToolData::Instant(inquest::sources::telemetry::InstantResult::Vector(v)) => {
                v[0].samples[0].1
            }
            other => panic!("{other:?}"),
        }
    };
    let alert_file = dir.join("alert.json");
    let causes = |dir: &Path| ranked_causes(dir, &alert_file);

    let own = common::BackfilledPrometheus::from_openmetrics(&dir.join("own"), &om);
    config(&dir, own.port, "otel");
    let (want_p99, want) = (p99(&dir), causes(&dir));
    drop(own);

    let prom = common::BackfilledPrometheus::from_openmetrics(&dir.join("istio"), &istio(&om));
    config(&dir, prom.port, "auto");
    let (report, _) = doctor(&dir, &at);
    assert_eq!(report["prometheus"]["profile"], "istio", "{report:#}");
    let got = p99(&dir);
    eprintln!(
        "p99 of catalog: {got} s through Istio, {want_p99} s in OpenTelemetry names; top cause {:?}",
        want[0]
    );
    assert!(
        want_p99 > 0.0 && (got - want_p99).abs() < 1e-9 * want_p99.max(1.0),
        "p99 {got} s, in OpenTelemetry names {want_p99} s"
    );
    assert_eq!(causes(&dir)[0], want[0], "the same top cause through Istio's names");
    drop(prom);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A shipped recording's metrics as text (they ship gzip-compressed).
fn shipped_metrics(dir: &Path) -> String {
    use std::io::Read;
    let bytes = std::fs::read(dir.join("metrics.om.gz")).unwrap();
    let mut text = String::new();
    flate2::read::GzDecoder::new(&bytes[..])
        .read_to_string(&mut text)
        .unwrap();
    text
}

/// The ranked (service, kind) of `inquest run --alert FILE` on `dir`'s
/// configuration, every Prometheus call of it answered.
fn ranked_causes(dir: &Path, alert_file: &Path) -> Vec<(String, String)> {
    let run = events(&inquest(
        dir,
        &["run", "--alert", alert_file.to_str().unwrap(), "--json"],
    ));
    let calls = run
        .iter()
        .filter(|e| e["type"] == "tool_call_finished" && e["tool"].as_str().unwrap().starts_with("prometheus"));
    for c in calls {
        assert_eq!(c["status"], "ok", "{c}");
    }
    run.last().unwrap()["root_causes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["service"].as_str().unwrap().into(),
                r["kind"].as_str().unwrap().into(),
            )
        })
        .collect()
}
