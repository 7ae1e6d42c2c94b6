//! `inquest serve` as an operator runs it, on loopback: accepted alerts survive
//! SIGTERM and a restart (each investigated once, a resend deduplicated), a
//! store that cannot take alerts answers 503 and the resend is investigated,
//! the bearer token is required, one request of 3,500 alerts neither sinks
//! nor half-fills the server, idle connections under a low file limit do not
//! end it, 1,000 investigations give their memory back, and with a
//! certificate it speaks HTTPS.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

mod common;

const BIN: &str = env!("CARGO_BIN_EXE_inquest");

/// A data and config directory, and the servers started on it.
struct Site {
    dir: PathBuf,
    port: u16,
    children: Vec<Child>,
}

impl Drop for Site {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Site {
    fn new(name: &str, serve: &str) -> Site {
        let dir = std::env::temp_dir().join(format!("inquest-serve-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("config")).unwrap();
        // One short strategy against the simulator: investigations take tens of milliseconds.
        std::fs::write(
            dir.join("config/config.toml"),
            format!(
                "[sources.simulator]\nscenario = \"checkout-db-pool\"\n\n[serve]\nstrategies = [\"logs-first\"]\n{serve}\n"
            ),
        )
        .unwrap();
        Site {
            dir,
            port: common::free_port(),
            children: Vec::new(),
        }
    }

    fn command(&self, program: &str) -> Command {
        let mut c = Command::new(program);
        c.env("INQUEST_DATA_DIR", self.dir.join("data"))
            .env("INQUEST_CONFIG_HOME", self.dir.join("config"))
            .env("INQUEST_TEST_TOKEN", "s3cret-token");
        c
    }

    /// Starts `inquest serve` (under `sh -c PREFIX` when given) and waits for its health check.
    fn start(&mut self, shell_prefix: Option<&str>) -> u32 {
        let listen = format!("127.0.0.1:{}", self.port);
        let mut c = match shell_prefix {
            Some(prefix) => {
                let mut c = self.command("sh");
                c.args(["-c", &format!("{prefix} && exec \"$0\" serve --listen {listen}"), BIN]);
                c
            }
            None => {
                let mut c = self.command(BIN);
                c.args(["serve", "--listen", &listen]);
                c
            }
        };
        let child = c.stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
        let pid = child.id();
        self.children.push(child);
        let port = self.port;
        wait("the server's health check", 20, || {
            request(port, "GET", "/healthz", &[], "").is_some_and(|r| r.status == 200)
        });
        pid
    }

    /// Sends `signal` to the newest server and waits for it to exit; its exit code and stderr.
    fn stop(&mut self, signal: &str) -> (Option<i32>, String) {
        let mut child = self.children.pop().unwrap();
        let ok = Command::new("kill")
            .args([&format!("-{signal}"), &child.id().to_string()])
            .status()
            .unwrap();
        assert!(ok.success());
        let t0 = Instant::now();
        let status = loop {
            if let Some(s) = child.try_wait().unwrap() {
                break s;
            }
            assert!(t0.elapsed() < Duration::from_secs(20), "the server did not stop");
            std::thread::sleep(Duration::from_millis(50));
        };
        let mut err = String::new();
        if let Some(mut e) = child.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        (status.code(), err)
    }

    fn list(&self) -> Vec<Value> {
        let out = self.command(BIN).args(["list", "--json"]).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice::<Value>(&out.stdout)
            .unwrap()
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    fn metric(&self, name: &str) -> f64 {
        let auth = [("Authorization", "Bearer s3cret-token".to_string())];
        let r = request(self.port, "GET", "/metrics", &auth, "").expect("/metrics answers");
        r.body
            .lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("{name} not in\n{}", r.body))
    }
}

struct Answer {
    status: u16,
    headers: HashMap<String, String>,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

/// One HTTP/1.1 request on its own connection.
fn request(port: u16, method: &str, path: &str, headers: &[(&str, String)], body: &str) -> Option<Answer> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(15))).ok()?;
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    s.write_all(req.as_bytes()).ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let (head, body) = out.split_once("\r\n\r\n")?;
    let mut lines = head.lines();
    let status = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Some(Answer {
        status,
        headers,
        body: body.to_string(),
    })
}

/// An Alertmanager webhook payload of `n` firing alerts named `{prefix}{i}`.
fn payload(prefix: &str, n: usize) -> String {
    let alerts: Vec<Value> = (0..n)
        .map(|i| {
            json!({"status": "firing", "labels": {"alertname": format!("{prefix}{i}"), "service": "checkout",
                "severity": "page", "instance": "10.0.0.1:9100"},
                "annotations": {"summary": "p99 latency above 2s for 5 minutes"},
                "startsAt": "2026-03-01T10:48:00Z", "endsAt": "0001-01-01T00:00:00Z",
                "fingerprint": format!("{prefix}-{i:06}")})
        })
        .collect();
    json!({"version": "4", "status": "firing", "receiver": "inquest", "alerts": alerts}).to_string()
}

fn post(port: u16, body: &str) -> Answer {
    let auth = [("Authorization", "Bearer s3cret-token".to_string())];
    request(port, "POST", "/alertmanager", &auth, body).expect("the server answers")
}

fn wait(what: &str, secs: u64, mut f: impl FnMut() -> bool) {
    let t0 = Instant::now();
    while !f() {
        assert!(t0.elapsed() < Duration::from_secs(secs), "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn rss_mb(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

fn started(a: &Answer) -> Vec<String> {
    a.json()["started"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn accepted_alerts_survive_sigterm_and_a_restart_and_each_is_investigated_once() {
    let mut site = Site::new("restart", "drain = \"300ms\"\ntoken_env = \"INQUEST_TEST_TOKEN\"");
    site.start(None);
    let mut traces = Vec::new();
    for batch in 0..3 {
        let a = post(site.port, &payload(&format!("R{batch}-"), 100));
        assert_eq!(a.status, 200, "{}", a.body);
        traces.extend(started(&a));
    }
    assert_eq!(traces.len(), 300);
    let (code, err) = site.stop("TERM");
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("stopped:"), "{err}");
    let before = site.list();
    eprintln!("after SIGTERM: {} of 300 started; {}", before.len(), err.trim());

    site.start(None);
    let cut = settled(&site, 300);
    eprintln!("after restart: 300 done, {cut} interrupted runs re-run under a new trace");

    // Alertmanager resends the first batch to the new process: nothing new starts.
    let again = post(site.port, &payload("R0-", 100));
    assert_eq!(again.status, 200);
    assert_eq!(again.json()["duplicates"], 100);
    assert!(started(&again).is_empty());

    // kill -9 with investigations running: the next start runs them again.
    assert_eq!(post(site.port, &payload("K-", 100)).status, 200);
    wait("investigations under way", 30, || site.list().len() > 310);
    let (code, _) = site.stop("KILL");
    assert_eq!(code, None);
    site.start(None);
    let cut = settled(&site, 400);
    eprintln!("after kill -9 and a restart: 400 done, {cut} interrupted runs re-run under a new trace");
    let (code, err) = site.stop("INT");
    assert_eq!(code, Some(0), "{err}");
    assert!(err.contains("from the last run"), "{err}");
    eprintln!("{}", err.trim());
}

/// Waits until `n` alerts each have one finished investigation; the number of runs cut off and re-run.
fn settled(site: &Site, n: usize) -> usize {
    wait(&format!("all {n} investigated"), 120, || {
        let f = final_rows(&site.list());
        f.len() == n && f.values().all(|v| v[0]["status"] == "done")
    });
    let rows = site.list();
    let f = final_rows(&rows);
    assert!(f.values().all(|v| v.len() == 1), "an alert investigated twice");
    let cut: Vec<&Value> = rows.iter().filter(|r| r.get("rerun_as").is_some()).collect();
    assert!(cut.iter().all(|r| r["status"] == "interrupted"));
    cut.len()
}

/// The rows that are an alert's last word (not cut off and re-run), by alert name.
fn final_rows(rows: &[Value]) -> HashMap<String, Vec<Value>> {
    let mut by_alert: HashMap<String, Vec<Value>> = HashMap::new();
    for r in rows.iter().filter(|r| r.get("rerun_as").is_none()) {
        by_alert
            .entry(r["alert_name"].as_str().unwrap_or_default().to_string())
            .or_default()
            .push(r.clone());
    }
    by_alert
}

#[test]
fn a_store_that_cannot_take_the_alert_answers_503_and_the_resend_is_investigated() {
    let mut site = Site::new("store", "");
    site.start(None);
    let db = rusqlite::Connection::open(site.dir.join("data/inquest.db")).unwrap();
    db.execute_batch("BEGIN EXCLUSIVE").unwrap();
    let body = payload("S", 1);
    let a = request(site.port, "POST", "/alertmanager", &[], &body).unwrap();
    assert_eq!(a.status, 503, "{}", a.body);
    assert!(a.headers.contains_key("retry-after"));
    assert!(a.json()["error"].as_str().unwrap().contains("cannot store"));
    db.execute_batch("ROLLBACK").unwrap();
    drop(db);
    let a = request(site.port, "POST", "/alertmanager", &[], &body).unwrap();
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.json()["duplicates"], 0, "a refused alert is not marked seen");
    assert_eq!(started(&a).len(), 1);
    wait("the resent alert investigated", 30, || {
        site.list()
            .iter()
            .any(|r| r["alert_name"] == "S0" && r["status"] == "done")
    });
}

#[test]
fn without_the_bearer_token_every_route_but_health_is_401() {
    let mut site = Site::new("token", "token_env = \"INQUEST_TEST_TOKEN\"");
    site.start(None);
    let body = payload("T", 1);
    for auth in [vec![], vec![("Authorization", "Bearer wrong".to_string())]] {
        let a = request(site.port, "POST", "/alertmanager", &auth, &body).unwrap();
        assert_eq!(a.status, 401, "{}", a.body);
        assert_eq!(a.headers.get("www-authenticate").map(String::as_str), Some("Bearer"));
        assert_eq!(request(site.port, "GET", "/metrics", &auth, "").unwrap().status, 401);
    }
    assert_eq!(request(site.port, "GET", "/healthz", &[], "").unwrap().status, 200);
    let a = post(site.port, &body);
    assert_eq!(a.status, 200, "{}", a.body);
    let bad = post(site.port, "{\"alerts\": ");
    assert_eq!(bad.status, 400);
    assert_eq!(bad.body.lines().count(), 1);
    assert_eq!(site.metric("inquest_intake_alerts_accepted_total"), 1.0);
    assert_eq!(
        site.metric("inquest_intake_requests_refused_total{reason=\"unauthorized\"}"),
        4.0
    );

    // Without a token, serve refuses to listen beyond loopback unless told to.
    std::fs::write(
        site.dir.join("config/config.toml"),
        "[sources.simulator]\nscenario = \"checkout-db-pool\"\n",
    )
    .unwrap();
    let out = site
        .command(BIN)
        .args(["serve", "--listen", "0.0.0.0:0"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--insecure-no-auth"));
}

#[test]
fn one_request_of_3500_alerts_is_queued_whole_or_refused_whole() {
    let mut site = Site::new(
        "burst",
        "max_queue = 4000\n[serve.limits]\nmax_alerts_per_request = 4000",
    );
    let pid = site.start(None);
    let idle = rss_mb(pid);
    let body = payload("B", 3500);
    let t0 = Instant::now();
    let a = request(site.port, "POST", "/alertmanager", &[], &body).unwrap();
    let took = t0.elapsed();
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(started(&a).len(), 3500);
    // The workers are busy now; the health check is not.
    let slowest = (0..10)
        .map(|_| {
            let t = Instant::now();
            assert_eq!(request(site.port, "GET", "/healthz", &[], "").unwrap().status, 200);
            std::thread::sleep(Duration::from_millis(30));
            t.elapsed() - Duration::from_millis(30)
        })
        .max()
        .unwrap();
    let rss = rss_mb(pid);
    eprintln!(
        "3500 alerts ({} KB) queued in {took:?}; health at most {slowest:?} under load; RSS {idle:.0} -> {rss:.0} MB",
        body.len() / 1024
    );
    assert!(slowest < Duration::from_secs(1));
    assert!(rss < idle + 100.0, "RSS {idle} -> {rss} MB");

    // The queue cannot take another 3,500: refused whole, for a retry.
    let a = request(site.port, "POST", "/alertmanager", &[], &payload("C", 3500)).unwrap();
    assert_eq!(a.status, 503, "{}", a.body);
    assert!(a.headers.contains_key("retry-after"));
    assert!(site.metric("inquest_intake_queue_length") <= 3500.0);
    assert_eq!(
        site.metric("inquest_intake_alerts_rejected_total{reason=\"queue_full\"}"),
        3500.0
    );
    // Past the per-request cap: refused with the reason.
    let a = request(site.port, "POST", "/alertmanager", &[], &payload("D", 4001)).unwrap();
    assert_eq!(a.status, 413);
    assert!(a.body.contains("max_alerts"), "{}", a.body);
    assert_eq!(request(site.port, "GET", "/healthz", &[], "").unwrap().status, 200);
}

#[test]
fn idle_connections_past_the_file_limit_do_not_end_the_server() {
    // The default header timeout (10s) is left as is: room is made by closing
    // the oldest idle connection, not by waiting for it to time out.
    let mut site = Site::new("idle", "");
    let pid = site.start(Some("ulimit -n 256"));
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    assert!(
        limits
            .lines()
            .any(|l| l.starts_with("Max open files") && l.contains(" 256 ")),
        "{limits}"
    );
    let idle: Vec<TcpStream> = (0..300)
        .map(|_| TcpStream::connect(("127.0.0.1", site.port)).unwrap())
        .collect();
    let t0 = Instant::now();
    let health = request(site.port, "GET", "/healthz", &[], "").map(|r| r.status);
    let took = t0.elapsed();
    eprintln!("health {health:?} in {took:?} with 300 idle connections open under ulimit -n 256");
    assert_eq!(health, Some(200));
    assert!(took < Duration::from_secs(3), "{took:?}");
    assert!(site.children[0].try_wait().unwrap().is_none(), "the server ended");
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).unwrap().count();
    assert!(fds < 256, "{fds} open files");
    // The oldest idle ones were closed to make room.
    let mut first = &idle[0];
    first.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    assert_eq!(
        first.read(&mut [0u8; 16]).unwrap_or(usize::MAX),
        0,
        "an idle connection stays open"
    );
    let a = request(site.port, "POST", "/alertmanager", &[], &payload("I", 1)).unwrap();
    assert_eq!(a.status, 200);
}

#[test]
fn a_thousand_investigations_give_their_memory_back() {
    let mut site = Site::new("memory", "");
    let pid = site.start(None);
    let done = |n: f64| site.metric("inquest_investigations_finished_total{outcome=\"done\"}") >= n;
    assert_eq!(post(site.port, &payload("W", 1)).status, 200);
    wait("a first investigation", 30, || done(1.0));
    let idle = rss_mb(pid);
    let t0 = Instant::now();
    assert_eq!(post(site.port, &payload("M", 1000)).status, 200);
    let mut peak = idle;
    wait("1,000 investigations", 240, || {
        peak = peak.max(rss_mb(pid));
        done(1001.0)
    });
    std::thread::sleep(Duration::from_millis(500));
    let after = rss_mb(pid);
    eprintln!(
        "1000 investigations in {:?}: RSS idle {idle:.0} MB, peak {peak:.0} MB, after {after:.0} MB",
        t0.elapsed()
    );
    assert!(after < idle + 100.0, "RSS {idle} -> {after} MB");
    assert_eq!(site.metric("inquest_investigations_running"), 0.0);
    assert_eq!(site.metric("inquest_intake_queue_length"), 0.0);
}

#[test]
fn with_a_certificate_it_serves_https() {
    if !common::have("curl") || Command::new("openssl").arg("version").output().is_err() {
        eprintln!("skipped: needs openssl and curl");
        return;
    }
    let mut site = Site::new("tls", "tls_cert_file = \"tls.crt\"\ntls_key_file = \"tls.key\"");
    // Relative paths are the server's working directory: the config directory here.
    let config = site.dir.join("config");
    let made = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
        ])
        .args([
            "-keyout",
            "tls.key",
            "-out",
            "tls.crt",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
        ])
        .args(["-addext", "subjectAltName=IP:127.0.0.1"])
        .current_dir(&config)
        .output()
        .unwrap();
    assert!(made.status.success(), "{}", String::from_utf8_lossy(&made.stderr));
    let child = site
        .command(BIN)
        .args(["serve", "--listen", &format!("127.0.0.1:{}", site.port)])
        .current_dir(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    site.children.push(child);
    let curl = |path: &str, extra: &[&str]| {
        let out = Command::new("curl")
            .args([
                "-sS",
                "--max-time",
                "5",
                "--cacert",
                "tls.crt",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
            ])
            .args(extra)
            .arg(format!("https://127.0.0.1:{}{path}", site.port))
            .current_dir(&config)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    wait("the health check over HTTPS", 20, || curl("/healthz", &[]) == "200");
    let body = payload("H", 1);
    assert_eq!(curl("/alertmanager", &["-d", &body]), "200");
    // Plain HTTP on the same port gets no answer.
    assert!(request(site.port, "GET", "/healthz", &[], "").is_none_or(|r| r.status != 200));
}
