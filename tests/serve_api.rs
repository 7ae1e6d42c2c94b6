//! The investigations API of `inquest serve`, over loopback against the real
//! server: tokens and authors, starting a simulated investigation, following
//! its Server-Sent Events to the end (every seq once, resumed mid-run without a
//! duplicate or a gap), steering it, feedback seen by another client, who is
//! attached, and the answers for an investigation that has ended or never was.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

mod common;

const BIN: &str = env!("CARGO_BIN_EXE_inquest");
const SHARED: &str = "Bearer shared-token";
const ALICE: &str = "Bearer alice-token";
const BOB: &str = "Bearer bob-token";

struct Site {
    dir: PathBuf,
    port: u16,
    child: Option<Child>,
}

impl Drop for Site {
    fn drop(&mut self) {
        if let Some(c) = &mut self.child {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Site {
    fn start(name: &str) -> Site {
        let dir = std::env::temp_dir().join(format!("inquest-api-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("config")).unwrap();
        std::fs::write(
            dir.join("config/config.toml"),
            "[sources.simulator]\nscenario = \"checkout-db-pool\"\n\n[serve]\ntoken_env = \"T_SHARED\"\n\
             strategies = [\"logs-first\", \"metrics-first\"]\n\n[serve.users]\n\
             alice = { token_env = \"T_ALICE\" }\nbob = { token_env = \"T_BOB\" }\n",
        )
        .unwrap();
        let port = common::free_port();
        let mut site = Site { dir, port, child: None };
        let child = site
            .command()
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        site.child = Some(child);
        let t0 = Instant::now();
        while call(port, "GET", "/healthz", None, &[], "").map(|a| a.0) != Some(200) {
            assert!(t0.elapsed() < Duration::from_secs(20), "the server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        site
    }

    fn command(&self) -> Command {
        let mut c = Command::new(BIN);
        c.env("INQUEST_DATA_DIR", self.dir.join("data"))
            .env("INQUEST_CONFIG_HOME", self.dir.join("config"))
            .env("USER", "server-oncall")
            .env("T_SHARED", "shared-token")
            .env("T_ALICE", "alice-token")
            .env("T_BOB", "bob-token");
        c
    }
}

/// One request, on its own connection: (status, lower-cased headers, body).
fn call(
    port: u16,
    method: &str,
    path: &str,
    auth: Option<&str>,
    extra: &[(&str, &str)],
    body: &str,
) -> Option<(u16, String, String)> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(15))).ok()?;
    s.write_all(head(method, path, auth, extra, body).as_bytes()).ok()?;
    let mut out = String::new();
    s.read_to_string(&mut out).ok()?;
    let (head, body) = out.split_once("\r\n\r\n")?;
    let status = head.split(' ').nth(1)?.parse().ok()?;
    Some((status, head.to_ascii_lowercase(), body.to_string()))
}

/// HTTP/1.0, so a streamed answer ends with the connection, unchunked.
fn head(method: &str, path: &str, auth: Option<&str>, extra: &[(&str, &str)], body: &str) -> String {
    let mut h = format!(
        "{method} {path} HTTP/1.0\r\nHost: 127.0.0.1\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some(a) = auth {
        h.push_str(&format!("Authorization: {a}\r\n"));
    }
    for (k, v) in extra {
        h.push_str(&format!("{k}: {v}\r\n"));
    }
    h + "\r\n" + body
}

fn json_call(port: u16, method: &str, path: &str, auth: &str, body: &str) -> (u16, Value) {
    let (status, _, body) = call(port, method, path, Some(auth), &[], body).expect("the server answers");
    (
        status,
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}")),
    )
}

/// One Server-Sent Event.
#[derive(Debug)]
struct Sse {
    event: String,
    id: Option<u64>,
    data: Value,
}

/// A client following a trace's events.
struct Follow(BufReader<TcpStream>);

impl Follow {
    fn open(port: u16, trace: &str, auth: &str, extra: &[(&str, &str)], after: u64) -> Follow {
        let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        let path = format!("/v1/investigations/{trace}/events?after={after}");
        s.write_all(head("GET", &path, Some(auth), extra, "").as_bytes())
            .unwrap();
        let mut r = BufReader::new(s);
        let mut status = String::new();
        r.read_line(&mut status).unwrap();
        assert!(status.contains(" 200 "), "{status}");
        let mut line = String::new();
        let mut event_stream = false;
        loop {
            line.clear();
            r.read_line(&mut line).unwrap();
            event_stream |= line.to_ascii_lowercase().starts_with("content-type: text/event-stream");
            if line.trim().is_empty() {
                break;
            }
        }
        assert!(event_stream, "not an event stream");
        Follow(r)
    }

    /// The next event, keep-alive comments skipped; `None` once the server closed the stream.
    fn next(&mut self) -> Option<Sse> {
        let (mut event, mut id, mut data) = (String::new(), None, String::new());
        let mut line = String::new();
        loop {
            line.clear();
            if self.0.read_line(&mut line).ok()? == 0 {
                return None;
            }
            let l = line.trim_end_matches('\n');
            if l.is_empty() {
                if event.is_empty() {
                    continue;
                }
                let data = serde_json::from_str(&data).unwrap_or_else(|e| panic!("{e}: {data}"));
                return Some(Sse { event, id, data });
            }
            if let Some(v) = l.strip_prefix("event: ") {
                event = v.to_string();
            } else if let Some(v) = l.strip_prefix("id: ") {
                id = Some(v.parse().unwrap());
            } else if let Some(v) = l.strip_prefix("data: ") {
                data = v.to_string();
            } else {
                assert!(l.starts_with(':'), "not SSE: {l}");
            }
        }
    }

    /// Events until `f` holds for one, which is returned.
    fn until(&mut self, seqs: &mut Vec<u64>, mut f: impl FnMut(&Sse) -> bool) -> Sse {
        loop {
            let e = self.next().expect("the stream ended early");
            if e.event == "event" {
                seqs.push(e.id.unwrap());
                assert_eq!(e.data["seq"].as_u64(), e.id, "id is the event's seq");
            }
            if f(&e) {
                return e;
            }
        }
    }
}

fn kind(e: &Sse) -> &str {
    e.data["type"].as_str().unwrap_or("")
}

#[test]
fn the_api_starts_follows_steers_and_shares_an_investigation() {
    let site = Site::start("main");
    let port = site.port;

    // Tokens: none or a wrong one is 401 with the challenge; a user's names them.
    for auth in [None, Some("Bearer nope")] {
        let (status, head, body) = call(port, "GET", "/v1/investigations", auth, &[], "").unwrap();
        assert_eq!(status, 401, "{body}");
        assert!(head.contains("www-authenticate: bearer"), "{head}");
        assert!(serde_json::from_str::<Value>(&body).unwrap()["error"].is_string());
    }
    assert_eq!(
        json_call(port, "GET", "/v1/investigations", SHARED, ""),
        (200, json!([]))
    );

    // Starting: bad bodies are 400, an unknown scenario 404, a known one 202 with its trace.
    assert_eq!(json_call(port, "POST", "/v1/investigations", SHARED, "{").0, 400);
    assert_eq!(
        json_call(port, "POST", "/v1/investigations", SHARED, "{\"x\":1}").0,
        400
    );
    let (status, body) = json_call(port, "POST", "/v1/investigations", SHARED, r#"{"scenario":"no-such"}"#);
    assert_eq!(status, 404, "{body}");
    assert!(body["error"].as_str().unwrap().contains("checkout-db-pool"), "{body}");
    let start = r#"{"scenario":"checkout-db-pool","pace":"150ms"}"#;
    let (status, body) = json_call(port, "POST", "/v1/investigations", ALICE, start);
    assert_eq!(status, 202, "{body}");
    let trace = body["trace_id"].as_str().unwrap().to_string();
    assert_eq!(trace.len(), 32);

    // Two clients follow it; each sees both attached.
    let mut a = Follow::open(port, &trace, ALICE, &[], 0);
    let mut b = Follow::open(port, &trace, BOB, &[], 0);
    let mut seqs_a = Vec::new();
    let mut seqs_b = Vec::new();
    let both = |e: &Sse| e.event == "presence" && e.data["attached"] == json!(["alice", "bob"]);
    a.until(&mut seqs_a, both);
    b.until(&mut seqs_b, both);

    // Commands go to a running engine (a queued investigation answers 409):
    // one under another name, and the engine's answer names its author.
    b.until(&mut seqs_b, |e| kind(e) == "investigation_started");
    let guidance = r#"{"command":"inject_guidance","scope":{"scope":"investigation"},"text":"check the db pool"}"#;
    let (status, _, body) = call(
        port,
        "POST",
        &format!("/v1/investigations/{trace}/commands"),
        Some(ALICE),
        &[("X-Inquest-User", "carol@example.com")],
        guidance,
    )
    .unwrap();
    assert_eq!((status, body.as_str()), (202, r#"{"accepted":true}"#));
    let bad = call(
        port,
        "GET",
        "/v1/investigations",
        Some(SHARED),
        &[("X-Inquest-User", "eve smith")],
        "",
    );
    assert_eq!(bad.unwrap().0, 400);
    let g = a.until(&mut seqs_a, |e| {
        kind(e) == "guidance_applied" && e.data["text"] == "check the db pool"
    });
    assert_eq!(g.data["author"], "carol@example.com");

    // Feedback from bob (by his token) reaches alice's stream, and is stored.
    let branch = b.until(&mut seqs_b, |e| kind(e) == "branch_started");
    let f = inquest::model::Feedback {
        id: inquest::model::Feedback::new_id(),
        parent: None,
        spans: Vec::new(),
        trace_id: trace.parse().unwrap(),
        span_id: branch.data["span_id"].as_str().unwrap().parse().unwrap(),
        target: "branch".into(),
        rating: Some(inquest::model::Rating::Up),
        grade: None,
        highlight: None,
        comment: Some("good lead".into()),
        author: "whoever".into(),
        at: inquest::model::Timestamp::now(),
        bundle_id: "b".into(),
    };
    let fb = format!("/v1/investigations/{trace}/feedback");
    let (status, body) = json_call(port, "POST", &fb, BOB, &serde_json::to_string(&f).unwrap());
    assert_eq!((status, body["id"].as_str()), (201, Some(f.id.as_str())), "{body}");
    let seen = a.until(&mut seqs_a, |e| e.event == "feedback");
    assert_eq!(
        (seen.data["author"].as_str(), seen.data["id"].as_str()),
        (Some("bob"), Some(f.id.as_str()))
    );
    let (_, stored) = json_call(port, "GET", &fb, SHARED, "");
    assert_eq!(stored[0]["comment"], "good lead");
    assert_eq!(stored[0]["author"], "bob");
    let mut other = f.clone();
    other.trace_id = inquest::model::TraceId::random();
    assert_eq!(
        json_call(port, "POST", &fb, BOB, &serde_json::to_string(&other).unwrap()).0,
        400
    );

    // Bob leaves mid-run and comes back after the last seq he saw: nothing twice, nothing missed.
    let k = *seqs_b.last().unwrap();
    drop(b);
    a.until(&mut seqs_a, |e| {
        e.event == "presence" && e.data["attached"] == json!(["alice"])
    });
    let mut b = Follow::open(port, &trace, BOB, &[], k);
    let end_b = b.until(&mut seqs_b, |e| e.event == "end");
    let end_a = a.until(&mut seqs_a, |e| e.event == "end");
    assert_eq!(end_a.data, json!({"status": "done"}));
    assert_eq!(end_b.data, json!({"status": "done"}));
    assert!(a.next().is_none() && b.next().is_none(), "the stream closes after end");
    let n = *seqs_a.last().unwrap();
    assert_eq!(seqs_a, (1..=n).collect::<Vec<_>>(), "alice: every seq once, in order");
    assert_eq!(
        seqs_b,
        (1..=n).collect::<Vec<_>>(),
        "bob, resumed after {k}: every seq once"
    );

    // Ended: the stored events in order (Last-Event-ID wins when larger), then end.
    let mut c = Follow::open(port, &trace, SHARED, &[("Last-Event-ID", "3")], 1);
    let mut stored = Vec::new();
    loop {
        let e = c.next().expect("the stored stream ends with end");
        match e.event.as_str() {
            "event" => stored.push(e.data),
            "end" => break,
            _ => {}
        }
    }
    let seqs_c: Vec<u64> = stored.iter().map(|e| e["seq"].as_u64().unwrap()).collect();
    assert_eq!(seqs_c, (4..=n).collect::<Vec<_>>());
    assert_eq!(stored.last().unwrap()["type"], "investigation_finished");
    let g_stored = stored.iter().find(|e| e["type"] == "guidance_applied").unwrap();
    assert_eq!(g_stored, &g.data, "the stored event is the one streamed live");
    let (status, body) = json_call(
        port,
        "POST",
        &format!("/v1/investigations/{trace}/commands"),
        SHARED,
        r#"{"command":"stop"}"#,
    );
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("the investigation is no longer running"))
    );

    // Read back: by prefix as `inquest list --json` and `inquest report` print it.
    let (status, row) = json_call(port, "GET", &format!("/v1/investigations/{}", &trace[..8]), SHARED, "");
    assert_eq!((status, row["trace_id"].as_str()), (200, Some(trace.as_str())));
    assert_eq!(row["status"], "done");
    let list = site.command().args(["list", "--json"]).output().unwrap();
    let (_, _, listed) = call(port, "GET", "/v1/investigations", Some(SHARED), &[], "").unwrap();
    assert_eq!(listed, String::from_utf8(list.stdout).unwrap());
    let report = site.command().args(["report", &trace]).output().unwrap();
    let (status, head, md) = call(
        port,
        "GET",
        &format!("/v1/investigations/{trace}/report"),
        Some(SHARED),
        &[],
        "",
    )
    .unwrap();
    assert_eq!(status, 200);
    assert!(head.contains("content-type: text/markdown; charset=utf-8"), "{head}");
    assert_eq!(md, String::from_utf8(report.stdout).unwrap());

    // Unknown traces are 404 on every route.
    let unknown = "0123456789abcdef0123456789abcdef";
    for (m, path) in [
        ("GET", ""),
        ("GET", "/events"),
        ("GET", "/report"),
        ("POST", "/commands"),
    ] {
        let (status, body) = json_call(
            port,
            m,
            &format!("/v1/investigations/{unknown}{path}"),
            SHARED,
            r#"{"command":"stop"}"#,
        );
        assert_eq!(status, 404, "{m} {path}: {body}");
    }

    // An Alertmanager webhook body starts its first alert; sent again, the same trace.
    let hook = json!({"alerts": [{"status": "firing", "labels": {"alertname": "HighLatency", "service": "checkout"},
        "startsAt": "2026-03-01T10:48:00Z", "fingerprint": "fp-1"}]})
    .to_string();
    let (status, first) = json_call(port, "POST", "/v1/investigations", SHARED, &hook);
    assert_eq!(status, 202, "{first}");
    let (status, again) = json_call(port, "POST", "/v1/investigations", SHARED, &hook);
    assert_eq!((status, &again["trace_id"]), (202, &first["trace_id"]));
}
