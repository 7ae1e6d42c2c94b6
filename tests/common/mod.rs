//! What several integration tests share: a loopback HTTP server driven by a
//! handler, a small HTTP/1.0 client, free ports, whether a tool is installed,
//! and events made stable (ids, clock, durations) for screen snapshots.

// Each test binary uses its own part of this.
#![allow(dead_code)]

pub mod graded;
pub mod planted;

use std::collections::HashMap;
use std::convert::Infallible;
use std::future::Future;
use std::io::{Read, Write};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

pub mod tmux;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response};
use inquest::model::{Event, Timestamp};

/// A request as a fake server sees it.
pub struct Req {
    pub method: String,
    pub path: String,
    pub query: HashMap<String, String>,
    /// Lowercase names.
    pub headers: HashMap<String, String>,
    pub body: String,
}

impl Req {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
}

/// What it answers.
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(&'static str, String)>,
    pub body: String,
}

impl Reply {
    pub fn new(status: u16, body: impl Into<String>) -> Reply {
        Reply {
            status,
            headers: Vec::new(),
            body: body.into(),
        }
    }
}

/// Serves `handler` on 127.0.0.1, on a thread and runtime of its own; returns the port.
pub fn serve<F, Fut>(handler: F) -> u16
where
    F: Fn(Req) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Reply> + Send + 'static,
{
    let handler = Arc::new(handler);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            loop {
                let (stream, _) = listener.accept().await.unwrap();
                let handler = handler.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                        let handler = handler.clone();
                        async move {
                            let url = reqwest::Url::parse(&format!("http://x{}", req.uri())).unwrap();
                            let headers = req
                                .headers()
                                .iter()
                                .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
                                .collect();
                            let method = req.method().to_string();
                            let body = req.into_body().collect().await.unwrap().to_bytes();
                            let reply = handler(Req {
                                method,
                                path: url.path().to_string(),
                                query: url.query_pairs().into_owned().collect(),
                                headers,
                                body: String::from_utf8_lossy(&body).to_string(),
                            })
                            .await;
                            let mut r = Response::new(Full::new(Bytes::from(reply.body)));
                            *r.status_mut() = hyper::StatusCode::from_u16(reply.status).unwrap();
                            for (k, v) in reply.headers {
                                r.headers_mut().insert(k, v.parse().unwrap());
                            }
                            Ok::<_, Infallible>(r)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
    });
    port
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A minimal HTTP/1.0 request over loopback: (status, body).
pub fn http(method: &str, port: u16, path: &str, headers: &[(&str, String)], body: &str) -> Option<(u16, String)> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut req = format!(
        "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1:{port}\r\nContent-Length: {}\r\n",
        body.len()
    );
    if !body.is_empty() {
        req.push_str("Content-Type: application/json\r\n");
    }
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let status = out.split(' ').nth(1)?.parse().ok()?;
    let body = out.split_once("\r\n\r\n").map(|x| x.1.to_string()).unwrap_or_default();
    Some((status, body))
}

/// Whether `cmd --version` runs.
pub fn have(cmd: &str) -> bool {
    Command::new(cmd)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// Events with span and trace ids renumbered in order of appearance, times on
/// a fixed clock and durations fixed, so a screen drawn from them is stable.
pub fn stable(events: &[Event]) -> Vec<Event> {
    let hex = regex::Regex::new(r#""([0-9a-f]{32}|[0-9a-f]{16})""#).unwrap();
    let at = regex::Regex::new(r#""at":"[^"]+""#).unwrap();
    let dur = regex::Regex::new(r#""duration_ms":\d+"#).unwrap();
    let elapsed = regex::Regex::new(r#""elapsed_ms":\d+"#).unwrap();
    let mut ids: HashMap<String, String> = HashMap::new();
    events
        .iter()
        .map(|e| {
            let line = e.to_json_line();
            let line = hex.replace_all(&line, |c: &regex::Captures| {
                let n = ids.len() + 1;
                let id = ids
                    .entry(c[1].to_string())
                    .or_insert_with(|| format!("{:0w$x}", n, w = c[1].len()));
                format!("\"{id}\"")
            });
            let t = Timestamp::from_secs(1_700_000_000 + e.seq as i64).to_rfc3339_nanos();
            let line = at.replace(&line, format!("\"at\":\"{t}\""));
            let line = dur.replace_all(&line, format!("\"duration_ms\":{}", 10 + e.seq % 90));
            let line = elapsed.replace_all(&line, format!("\"elapsed_ms\":{}", e.seq * 40));
            Event::from_json_line(&line).unwrap()
        })
        .collect()
}

/// Writes `scenario`'s alert as a single alert object to `dir/alert.json`.
pub fn write_alert(dir: &std::path::Path, scenario: &str) {
    use inquest::sources::sim::Simulator;
    let alert = Simulator::new(Simulator::load(scenario).unwrap()).unwrap().alert();
    let json = serde_json::json!({
        "labels": alert.labels, "annotations": alert.annotations, "startsAt": alert.starts_at.to_rfc3339()
    });
    std::fs::write(dir.join("alert.json"), json.to_string()).unwrap();
}

/// `inquest run --alert dir/alert.json --json ARGS` with config from `dir` and
/// data under `dir/data`; its events, after checking it succeeded.
pub fn run_alert(dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> Vec<serde_json::Value> {
    let alert = dir.join("alert.json");
    let out = Command::new(env!("CARGO_BIN_EXE_inquest"))
        .args(["run", "--alert", alert.to_str().unwrap(), "--json"])
        .args(args)
        .env("INQUEST_DATA_DIR", dir.join("data"))
        .env("INQUEST_CONFIG_HOME", dir)
        .envs(env.iter().copied())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// A Prometheus on loopback serving a TSDB backfilled by promtool from a
/// scenario's metrics; killed and its directory removed when dropped.
pub struct BackfilledPrometheus {
    child: std::process::Child,
    dir: std::path::PathBuf,
    pub port: u16,
}

impl Drop for BackfilledPrometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Whether prometheus and promtool are here; without them, fails under
/// INQUEST_REQUIRE_PROMETHEUS and otherwise says loudly that the test is skipped.
pub fn have_prometheus() -> bool {
    if have("prometheus") && have("promtool") {
        return true;
    }
    assert!(
        std::env::var_os("INQUEST_REQUIRE_PROMETHEUS").is_none(),
        "prometheus and promtool are required"
    );
    eprintln!("skipped: prometheus is not installed (.ci/run installs it)");
    false
}

impl BackfilledPrometheus {
    /// Exports `scenario`'s metrics, passes the text through `edit`, backfills
    /// it under `dir` (removed on drop) and serves it.
    pub fn start(dir: &std::path::Path, scenario: &str, edit: impl Fn(String) -> String) -> BackfilledPrometheus {
        std::fs::create_dir_all(dir).unwrap();
        let om = dir.join("metrics.om");
        let out = Command::new(env!("CARGO_BIN_EXE_inquest"))
            .args(["sim", "export", scenario, "--openmetrics", om.to_str().unwrap()])
            .env("INQUEST_DATA_DIR", dir.join("data"))
            .env("INQUEST_CONFIG_HOME", dir.join("no-config"))
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let text = edit(std::fs::read_to_string(&om).unwrap());
        BackfilledPrometheus::from_openmetrics(dir, &text)
    }

    /// Backfills OpenMetrics `text` under `dir` (removed on drop) and serves it.
    pub fn from_openmetrics(dir: &std::path::Path, text: &str) -> BackfilledPrometheus {
        use std::process::Stdio;
        std::fs::create_dir_all(dir).unwrap();
        let om = dir.join("metrics.om");
        std::fs::write(&om, text).unwrap();
        let tsdb = dir.join("tsdb");
        let out = Command::new("promtool")
            .args([
                "tsdb",
                "create-blocks-from",
                "openmetrics",
                om.to_str().unwrap(),
                tsdb.to_str().unwrap(),
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "promtool: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let port = free_port();
        std::fs::write(dir.join("prometheus.yml"), "global:\n  scrape_interval: 15s\n").unwrap();
        let child = Command::new("prometheus")
            .args([
                &format!("--config.file={}", dir.join("prometheus.yml").display()),
                &format!("--storage.tsdb.path={}", tsdb.display()),
                &format!("--web.listen-address=127.0.0.1:{port}"),
                "--storage.tsdb.retention.time=100y",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let p = BackfilledPrometheus {
            child,
            dir: dir.to_path_buf(),
            port,
        };
        let t0 = std::time::Instant::now();
        while http("GET", port, "/-/ready", &[], "").is_none_or(|r| r.0 != 200) {
            assert!(
                t0.elapsed() < Duration::from_secs(30),
                "prometheus did not become ready"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        p
    }
}
