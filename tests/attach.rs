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
        .env("INQUEST_DATA_DIR", dir)
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

/// A TCP forwarder between the cockpit and the server that can drop every
/// connection through it at once, as a flaky network does.
struct Proxy {
    port: u16,
    open: std::sync::Arc<std::sync::Mutex<Vec<std::net::TcpStream>>>,
}

impl Proxy {
    fn start(upstream: u16) -> Proxy {
        use std::net::{TcpListener, TcpStream};
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let open = std::sync::Arc::new(std::sync::Mutex::new(Vec::<TcpStream>::new()));
        let conns = open.clone();
        std::thread::spawn(move || {
            for client in l.incoming() {
                let Ok(client) = client else { return };
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                    continue;
                };
                conns
                    .lock()
                    .unwrap()
                    .extend([client.try_clone().unwrap(), server.try_clone().unwrap()]);
                for (mut from, mut to) in [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server, client),
                ] {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(std::net::Shutdown::Both);
                    });
                }
            }
        });
        Proxy { port, open }
    }

    /// Drops every connection now open.
    fn cut(&self) {
        for s in self.open.lock().unwrap().drain(..) {
            let _ = s.shutdown(std::net::Shutdown::Both);
        }
    }
}

/// The seqs of the events a `events?after=N` request asked after, and the commands posted (user, body).
#[derive(Default)]
struct Seen {
    afters: Vec<u64>,
    commands: Vec<(String, String)>,
}

/// A stand-in for `inquest serve`'s attach API, replaying recorded events
/// `pause` apart: enough to drive a real cockpit over real HTTP and SSE.
fn fake_server(
    events: Vec<String>,
    row: String,
    pause: std::time::Duration,
) -> (u16, std::sync::Arc<std::sync::Mutex<Seen>>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Seen::default()));
    let log = seen.clone();
    std::thread::spawn(move || {
        for s in l.incoming() {
            let Ok(s) = s else { return };
            let (events, row, log) = (events.clone(), row.clone(), log.clone());
            std::thread::spawn(move || {
                let mut r = BufReader::new(s.try_clone().unwrap());
                let mut w = s;
                let mut first = String::new();
                let _ = r.read_line(&mut first);
                let mut headers = Vec::new();
                loop {
                    let mut h = String::new();
                    if r.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
                        break;
                    }
                    headers.push(h.trim().to_lowercase());
                }
                let header = |n: &str| {
                    headers
                        .iter()
                        .find_map(|h| h.strip_prefix(&format!("{n}: ")).map(str::to_string))
                        .unwrap_or_default()
                };
                let path = first.split_whitespace().nth(1).unwrap_or("").to_string();
                if first.starts_with("POST") {
                    let mut body = vec![0u8; header("content-length").parse().unwrap_or(0)];
                    let _ = r.read_exact(&mut body);
                    log.lock()
                        .unwrap()
                        .commands
                        .push((header("x-inquest-user"), String::from_utf8_lossy(&body).to_string()));
                    let _ = w.write_all(b"HTTP/1.1 202 Accepted\r\nContent-Length: 17\r\n\r\n{\"accepted\":true}");
                } else if let Some((_, after)) = path.split_once("/events?after=") {
                    let after: u64 = after.parse().unwrap();
                    log.lock().unwrap().afters.push(after);
                    let _ = w.write_all(b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n");
                    let _ = w.write_all(b"event: presence\ndata: {\"attached\": [\"tester\", \"bob\"]}\n\n");
                    for e in &events {
                        let v: serde_json::Value = serde_json::from_str(e).unwrap();
                        let seq = v["seq"].as_u64().unwrap();
                        if seq <= after {
                            continue;
                        }
                        if w.write_all(format!("id: {seq}\nevent: event\ndata: {e}\n\n").as_bytes())
                            .is_err()
                        {
                            return;
                        }
                        std::thread::sleep(pause);
                    }
                    let _ = w.write_all(b"event: end\ndata: {\"status\": \"done\"}\n\n");
                } else {
                    let _ = w
                        .write_all(format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{row}", row.len()).as_bytes());
                }
            });
        }
    });
    (port, seen)
}

#[test]
fn a_cockpit_attached_through_a_dropping_proxy_resumes_steers_and_names_the_others() {
    let Some(t) = common::tmux::Tmux::prepare("attach-proxy") else {
        return;
    };
    // A real investigation's events, recorded.
    let rec = home("record");
    let (code, out, err) = inquest_in(&rec, &["run", "--scenario", "checkout-db-pool", "--json"], &[]);
    assert_eq!(code, 0, "{err}");
    let events: Vec<String> = out.lines().map(str::to_string).collect();
    let (_, rows, _) = inquest_in(&rec, &["list", "--json"], &[]);
    let rows: serde_json::Value = serde_json::from_str(&rows).unwrap();
    let calls = rows[0]["tool_calls"].as_u64().unwrap();
    let trace = rows[0]["trace_id"].as_str().unwrap().to_string();
    let mut row = rows[0].clone();
    row["status"] = "running".into();
    let (port, seen) = fake_server(events.clone(), row.to_string(), std::time::Duration::from_millis(20));
    let proxy = Proxy::start(port);
    let url = format!("http://127.0.0.1:{}", proxy.port);
    t.start(
        "a",
        &format!("--server {url} open {}", &trace[..8]),
        &[("INQUEST_TOKEN", "t")],
        100,
        30,
    );
    let s = t.wait_for("a", "the tree and who else is here", |s| {
        s.contains("Branches") && s.contains("with bob")
    });
    assert!(!s.contains("with tester"), "{s}");
    proxy.cut();
    // Guidance typed in the cockpit goes to the server with its author.
    t.keys("a", &["G"]);
    t.wait_for("a", "the composer", |s| s.contains("Guidance"));
    t.text("a", "check orders-db");
    t.keys("a", &["Enter"]);
    let s = t.wait_for("a", "the end", |s| {
        s.lines().next().is_some_and(|l| l.contains(" done"))
    });
    assert!(
        s.contains(&format!(" {calls}/")),
        "the call count is the run's, {calls}:\n{s}"
    );
    let seen = seen.lock().unwrap();
    assert_eq!(seen.afters.len(), 2, "one reconnection: {:?}", seen.afters);
    assert_eq!(seen.afters[0], 0);
    assert!(
        seen.afters[1] > 0 && seen.afters[1] < events.len() as u64,
        "{:?}",
        seen.afters
    );
    let (user, body) = seen.commands.first().expect("the guidance was posted");
    assert_eq!(user, "tester");
    assert!(
        body.contains("inject_guidance") && body.contains("check orders-db"),
        "{body}"
    );
    // q on a finished investigation leaves; on the server nothing changes.
    t.keys("a", &["q"]);
    let s = t.wait_for("a", "the last word", |s| s.contains("[exited"));
    assert!(s.contains("review it with:") && s.contains("[exited 0]"), "{s}");
}

/// A real `inquest serve` on loopback with simulated sources, a shared token
/// and a token for each of `tester` and `bob`; killed (by its pid) when dropped.
struct Server {
    dir: std::path::PathBuf,
    port: u16,
    child: std::process::Child,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Server {
    fn start(tag: &str) -> Server {
        let dir = home(&format!("server-{tag}"));
        std::fs::write(
            dir.join("config/config.toml"),
            "[sources.simulator]\nscenario = \"checkout-db-pool\"\n\n[serve]\ntoken_env = \"T_SHARED\"\n\n\
             [serve.users]\ntester = { token_env = \"T_TESTER\" }\nbob = { token_env = \"T_BOB\" }\n",
        )
        .unwrap();
        let port = common::free_port();
        let child = std::process::Command::new(BIN)
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .env("INQUEST_DATA_DIR", dir.join("data"))
            .env("INQUEST_CONFIG_HOME", dir.join("config"))
            .env("T_SHARED", "shared-token")
            .env("T_TESTER", "tester-token")
            .env("T_BOB", "bob-token")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut server = Server { dir, port, child };
        let t0 = std::time::Instant::now();
        while common::http("GET", port, "/healthz", &[], "").map(|a| a.0) != Some(200) {
            assert!(server.child.try_wait().ok().flatten().is_none(), "the server exited");
            assert!(
                t0.elapsed() < std::time::Duration::from_secs(30),
                "the server did not start"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        server
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Starts the demo scenario at `pace`; its trace id.
    fn investigate(&self, pace: &str) -> String {
        let body = format!("{{\"scenario\": \"checkout-db-pool\", \"pace\": \"{pace}\"}}");
        let auth = [("Authorization", "Bearer shared-token".to_string())];
        let (status, body) = common::http("POST", self.port, "/v1/investigations", &auth, &body).unwrap();
        assert_eq!(status, 202, "{body}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        v["trace_id"].as_str().unwrap().to_string()
    }

    /// The investigation's row once it is no longer running.
    fn finished(&self, trace: &str) -> serde_json::Value {
        let t0 = std::time::Instant::now();
        loop {
            let (code, out, err) = inquest(
                &["--server", &self.url(), "list", "--json"],
                &[("INQUEST_TOKEN", "tester-token")],
            );
            assert_eq!(code, 0, "{err}");
            let rows: serde_json::Value = serde_json::from_str(&out).unwrap();
            if let Some(r) = rows.as_array().unwrap().iter().find(|r| r["trace_id"] == trace)
                && r["status"] != "running"
            {
                return r.clone();
            }
            assert!(
                t0.elapsed() < std::time::Duration::from_secs(120),
                "never finished: {rows}"
            );
            std::thread::sleep(std::time::Duration::from_millis(300));
        }
    }

    /// The events the server stored for `trace`.
    fn events(&self, trace: &str) -> Vec<inquest::model::Event> {
        let store = inquest::store::Store::open(self.dir.join("data/inquest.db")).unwrap();
        let id = store.resolve(trace).unwrap();
        store.events(id).unwrap()
    }
}

#[test]
fn two_cockpits_share_a_served_investigation_that_outlives_them() {
    let Some(t) = common::tmux::Tmux::prepare("attach-e2e") else {
        return;
    };
    let server = Server::start("share");
    let trace = server.investigate("400ms");
    // The whole id: it may still be queued, which a prefix cannot find.
    let open = format!("--server {} open {trace}", server.url());
    t.start("a", &open, &[("INQUEST_TOKEN", "tester-token")], 100, 30);
    t.start("b", &open, &[("INQUEST_TOKEN", "bob-token"), ("USER", "bob")], 100, 30);
    // Each names the other; the header's call count moves.
    let first = t.wait_for("a", "bob named", |s| s.contains("with bob") && s.contains("calls"));
    t.wait_for("b", "tester named", |s| s.contains("with tester"));
    let calls = |s: &str| {
        s.lines()
            .next()
            .and_then(|l| l.split(" calls").next())
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|n| n.split('/').next())
            .and_then(|n| n.parse::<u32>().ok())
    };
    let c0 = calls(&first).expect("a call count");
    t.wait_for("a", "the call count moving", |s| calls(s).is_some_and(|c| c > c0));
    // Guidance typed in one cockpit shows in the other, with its author.
    t.keys("a", &["G"]);
    t.wait_for("a", "the composer", |s| s.contains("Guidance"));
    t.text("a", "look at orders-db pool");
    t.keys("a", &["Enter"]);
    let sent = std::time::Instant::now();
    t.wait_for("b", "tester's guidance", |s| {
        s.contains("tester: look at orders-db pool")
    });
    let seen_in = sent.elapsed();
    eprintln!("guidance seen by the other cockpit in {} ms", seen_in.as_millis());
    assert!(seen_in < std::time::Duration::from_secs(3), "{seen_in:?}");
    // Feedback one gives shows in the other's threads, with its author.
    t.keys("b", &["+"]);
    t.wait_for("b", "bob's rating saved", |s| s.contains("saved: rated up"));
    t.wait_for("a", "bob's rating", |s| s.contains("bob rated up on branch"));
    // The first cockpit's terminal goes away; the investigation does not.
    t.close("a");
    t.keys("b", &["q"]);
    let s = t.wait_for("b", "the detach note", |s| s.contains("[exited"));
    assert!(s.contains("detached; the investigation continues on"), "{s}");
    let row = server.finished(&trace);
    assert_eq!(row["status"], "done", "{row}");
    let guidance: Vec<String> = server
        .events(&trace)
        .iter()
        .filter_map(|e| match &e.kind {
            inquest::model::EventKind::GuidanceApplied { text, author, .. } if text.contains("orders-db pool") => {
                Some(author.clone())
            }
            _ => None,
        })
        .collect();
    assert!(
        !guidance.is_empty() && guidance.iter().all(|a| a == "tester"),
        "{guidance:?}"
    );
}

#[test]
fn a_cockpit_attached_to_a_server_through_a_cut_proxy_misses_nothing() {
    let Some(t) = common::tmux::Tmux::prepare("attach-cut") else {
        return;
    };
    let server = Server::start("cut");
    let trace = server.investigate("250ms");
    let proxy = Proxy::start(server.port);
    let url = format!("http://127.0.0.1:{}", proxy.port);
    t.start(
        "a",
        &format!("--server {url} open {trace}"),
        &[("INQUEST_TOKEN", "tester-token")],
        100,
        30,
    );
    t.wait_for("a", "the tree", |s| s.contains("Branches") && s.contains("calls"));
    proxy.cut();
    let (_, rows, _) = inquest(
        &["--server", &server.url(), "list", "--json"],
        &[("INQUEST_TOKEN", "tester-token")],
    );
    assert!(rows.contains("\"running\""), "cut after the end: {rows}");
    std::thread::sleep(std::time::Duration::from_millis(1500));
    proxy.cut();
    let s = t.wait_for("a", "the end", |s| {
        s.lines().next().is_some_and(|l| l.contains(" done"))
    });
    let row = server.finished(&trace);
    let calls = row["tool_calls"].as_u64().unwrap();
    assert!(
        s.contains(&format!(" {calls}/")),
        "the cockpit's call count is the server's, {calls}:\n{s}"
    );
    // The events the server holds are whole: 1..N, each once.
    let seqs: Vec<u64> = server.events(&trace).iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>());
    // Wrong token: one line, exit 2.
    let (code, _, err) = inquest(
        &["--server", &server.url(), "open", &trace],
        &[("INQUEST_TOKEN", "nope")],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("401 unauthorized (check INQUEST_TOKEN)"), "{err}");
}
