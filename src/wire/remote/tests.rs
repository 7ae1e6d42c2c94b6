//! The remote link against a small SSE server on loopback that drops the
//! connection mid-stream, as a flaky network would.

use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::*;
use crate::model::{EventKind, SpanId, Timestamp};

fn event(trace: TraceId, seq: u64) -> String {
    let e = Event {
        v: 1,
        trace_id: trace,
        span_id: SpanId::random(),
        parent_span_id: None,
        seq,
        at: Timestamp::from_secs(1_772_359_300),
        kind: EventKind::ThoughtDelta {
            text: format!("thought {seq}"),
        },
    };
    format!(
        "id: {seq}\r\nevent: event\r\ndata: {}\r\n\r\n",
        serde_json::to_string(&e).unwrap()
    )
}

fn feedback(trace: TraceId, id: &str, author: &str) -> String {
    let f = Feedback {
        id: id.into(),
        parent: None,
        spans: Vec::new(),
        trace_id: trace,
        span_id: SpanId::random(),
        target: "branch".into(),
        rating: Some(crate::model::Rating::Up),
        grade: None,
        highlight: None,
        comment: Some("seen it".into()),
        author: author.into(),
        at: Timestamp::from_secs(1_772_359_301),
        bundle_id: "b-1".into(),
    };
    format!("event: feedback\ndata: {}\n\n", serde_json::to_string(&f).unwrap())
}

/// Reads a request head; returns its request line and headers.
async fn head(s: &mut TcpStream) -> String {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") && s.read(&mut byte).await.unwrap_or(0) == 1 {
        buf.push(byte[0]);
    }
    String::from_utf8_lossy(&buf).to_string()
}

const OK: &str = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nConnection: close\r\n\r\n";

/// Serves each connection the next of `bodies` (the first cut off where it ends); records request heads.
async fn server(bodies: Vec<String>) -> (String, Arc<Mutex<Vec<String>>>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", l.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    tokio::spawn(async move {
        for body in bodies {
            let Ok((mut s, _)) = l.accept().await else { return };
            let h = head(&mut s).await;
            log.lock().unwrap().push(h);
            let _ = s.write_all(OK.as_bytes()).await;
            let _ = s.write_all(body.as_bytes()).await;
            let _ = s.flush().await;
            // Dropped: the connection closes, mid-frame if the body stops there.
        }
    });
    (base, seen)
}

async fn collect(mut replies: mpsc::UnboundedReceiver<Reply>) -> Vec<Reply> {
    let mut out = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while let Ok(Some(r)) = tokio::time::timeout_at(deadline, replies.recv()).await {
        out.push(r);
    }
    out
}

#[tokio::test]
async fn a_dropped_stream_resumes_after_the_last_seq_and_delivers_each_event_once() {
    let trace = TraceId::random();
    let first: String = (1..=3).map(|s| event(trace, s)).collect::<String>() + &event(trace, 4)[..40];
    let second: String = [
        feedback(trace, "f1", "alice"),
        (2..=6).map(|s| event(trace, s)).collect(),
        feedback(trace, "f1", "alice"),
        "event: presence\ndata: {\"attached\": [\"alice\", \"bob\"]}\n\n: keepalive\n\n".into(),
        "event: end\ndata: {\"status\": \"done\"}\n\n".into(),
    ]
    .concat();
    let (base, seen) = server(vec![first, second]).await;
    let remote = Remote::new(&base, Some("s3cret".into()), "INQUEST_TOKEN", "carol").unwrap();
    let (requests, replies) = attach(remote, trace);
    drop(requests);
    let got = collect(replies).await;
    let seqs: Vec<u64> = got
        .iter()
        .filter_map(|r| match r {
            Reply::Event(e) => Some(e.seq),
            _ => None,
        })
        .collect();
    assert_eq!(seqs, vec![1, 2, 3, 4, 5, 6], "{got:?}");
    let heads = seen.lock().unwrap().clone();
    assert_eq!(heads.len(), 2, "{heads:?}");
    assert!(
        heads[0].starts_with(&format!("GET /v1/investigations/{trace}/events?after=0 ")),
        "{}",
        heads[0]
    );
    assert!(
        heads[1].starts_with(&format!("GET /v1/investigations/{trace}/events?after=3 ")),
        "{}",
        heads[1]
    );
    let lower = heads[1].to_lowercase();
    assert!(
        lower.contains("authorization: bearer s3cret") && lower.contains("x-inquest-user: carol"),
        "{lower}"
    );
    assert!(lower.contains("last-event-id: 3"), "{lower}");
    // The cockpit is told of the drop, then of the return, each once.
    let link: Vec<&Reply> = got.iter().filter(|r| matches!(r, Reply::Link(_))).collect();
    assert!(
        matches!(
            link[..],
            [
                Reply::Link(LinkState::Reconnecting { .. }),
                Reply::Link(LinkState::Connected)
            ]
        ),
        "{link:?}"
    );
    let fb = got
        .iter()
        .filter(|r| matches!(r, Reply::FeedbackSeen(f) if f.author == "alice"))
        .count();
    assert_eq!(fb, 1, "feedback is delivered once however often the server sends it");
    assert!(got.contains(&Reply::Presence {
        attached: vec!["alice".into(), "bob".into()]
    }));
}

#[tokio::test]
async fn a_refused_token_ends_the_link_with_a_clear_reason() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", l.local_addr().unwrap());
    tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        head(&mut s).await;
        let body = "{\"error\": \"unauthorized\"}";
        let _ = s
            .write_all(
                format!(
                    "HTTP/1.1 401 Unauthorized\r\nContent-Length: {}\r\n\r\n{body}",
                    body.len()
                )
                .as_bytes(),
            )
            .await;
    });
    let remote = Remote::new(&base, Some("wrong".into()), "TEAM_TOKEN", "carol").unwrap();
    let (_requests, replies) = attach(remote, TraceId::random());
    let got = collect_until_lost(replies).await;
    assert_eq!(
        got,
        Reply::Link(LinkState::Lost {
            reason: format!("{base}: 401 unauthorized (check TEAM_TOKEN)")
        })
    );
}

async fn collect_until_lost(mut replies: mpsc::UnboundedReceiver<Reply>) -> Reply {
    loop {
        let r = tokio::time::timeout(Duration::from_secs(10), replies.recv())
            .await
            .unwrap()
            .unwrap();
        if matches!(r, Reply::Link(LinkState::Lost { .. })) {
            return r;
        }
    }
}

#[tokio::test]
async fn an_unreachable_server_is_said_plainly() {
    // A port nothing listens on: bound, then closed.
    let port = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let remote = Remote::new(&format!("http://127.0.0.1:{port}"), None, "INQUEST_TOKEN", "carol").unwrap();
    let err = remote.list().await.unwrap_err();
    assert!(matches!(err, RemoteError::Unreachable(_)), "{err:?}");
    assert!(err.to_string().contains("cannot reach the server"), "{err}");
}

#[test]
fn backoff_doubles_from_a_quarter_second_to_five() {
    let mut w = BACKOFF_MIN;
    let mut waits = vec![w];
    for _ in 0..6 {
        w = backoff(w);
        waits.push(w);
    }
    let ms: Vec<u128> = waits.iter().map(|d| d.as_millis()).collect();
    assert_eq!(ms, vec![250, 500, 1000, 2000, 4000, 5000, 5000]);
}

#[test]
fn a_bad_server_url_is_refused() {
    assert!(Remote::new("ftp://x", None, "T", "u").is_err());
    assert!(Remote::new("not a url", None, "T", "u").is_err());
}
