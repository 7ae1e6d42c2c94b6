//! The remote end of a cockpit's link: an `inquest serve` reached over HTTP.
//! Its event stream (Server-Sent Events) becomes replies, requests become
//! POSTs, behind the same two channels the local link gives. A dropped stream
//! is resumed after the last event seen, so none is lost or shown twice.

use std::collections::HashSet;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::mpsc;

use super::sse::{Frame, Parser};
use crate::model::{Command, Event, Feedback, LinkState, Reply, Request, TraceId};

/// The first wait before reconnecting; it doubles up to [`BACKOFF_MAX`].
pub const BACKOFF_MIN: Duration = Duration::from_millis(250);
pub const BACKOFF_MAX: Duration = Duration::from_secs(5);
/// The server sends a keepalive every 15 s: this long without a byte, the stream is dead.
pub const SILENCE: Duration = Duration::from_secs(45);
/// How long a plain request (not the stream) may take.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// Why a request to the server failed.
#[derive(Debug, Clone, PartialEq)]
pub enum RemoteError {
    /// 401: the token is missing or wrong.
    Unauthorized(String),
    /// 400, 404, 409: the server understood and said no.
    Refused(u16, String),
    /// The server could not be reached, or failed (5xx, a broken answer).
    Unreachable(String),
}

impl std::fmt::Display for RemoteError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RemoteError::Unauthorized(m) | RemoteError::Refused(_, m) | RemoteError::Unreachable(m) => f.write_str(m),
        }
    }
}

/// A server, and who this client is to it.
#[derive(Clone)]
pub struct Remote {
    base: String,
    token: Option<String>,
    /// The environment variable the token came from, to say which to check.
    token_env: String,
    user: String,
    http: reqwest::Client,
}

impl Remote {
    /// `base` like `http://127.0.0.1:9797`; `token` sent as a bearer token;
    /// `user` names the author of what this client sends.
    pub fn new(base: &str, token: Option<String>, token_env: &str, user: &str) -> Result<Remote, String> {
        let base = base.trim_end_matches('/').to_string();
        let parsed = reqwest::Url::parse(&base).map_err(|e| format!("--server {base}: {e}"))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(format!("--server {base}: expected an http:// or https:// URL"));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .build()
            .map_err(|e| format!("HTTP client: {e}"))?;
        Ok(Remote {
            base,
            token,
            token_env: token_env.to_string(),
            user: user.to_string(),
            http,
        })
    }

    /// The server's address, as given.
    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn user(&self) -> &str {
        &self.user
    }

    fn url(&self, path: &str) -> String {
        format!("{}/v1/investigations{path}", self.base)
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        let mut r = self
            .http
            .request(method, self.url(path))
            .header("X-Inquest-User", &self.user);
        if let Some(t) = &self.token {
            r = r.bearer_auth(t);
        }
        r
    }

    /// Sends, and turns a failure or an error status into what went wrong.
    async fn send(&self, r: reqwest::RequestBuilder, what: &str) -> Result<reqwest::Response, RemoteError> {
        let resp = r.send().await.map_err(|e| {
            RemoteError::Unreachable(format!("{}: cannot reach the server: {}", self.base, error_chain(&e)))
        })?;
        let status = resp.status().as_u16();
        if resp.status().is_success() {
            return Ok(resp);
        }
        let body = resp.text().await.unwrap_or_default();
        let said = serde_json::from_str::<Value>(&body)
            .ok()
            .and_then(|v| v.get("error").and_then(Value::as_str).map(str::to_string))
            .unwrap_or_else(|| body.chars().take(200).collect());
        Err(match status {
            401 => RemoteError::Unauthorized(format!("{}: 401 unauthorized (check {})", self.base, self.token_env)),
            400 | 404 | 409 | 413 | 422 => RemoteError::Refused(status, format!("{what}: {status} {said}")),
            _ => RemoteError::Unreachable(format!("{what}: {}: {status} {said}", self.base)),
        })
    }

    async fn json(&self, path: &str, what: &str) -> Result<Value, RemoteError> {
        let r = self.request(reqwest::Method::GET, path).timeout(REQUEST_TIMEOUT);
        let resp = self.send(r, what).await?;
        self.body(resp, what).await
    }

    /// A JSON answer's body.
    async fn body(&self, resp: reqwest::Response, what: &str) -> Result<Value, RemoteError> {
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| RemoteError::Unreachable(format!("{what}: {}: {}", self.base, error_chain(&e))))?;
        serde_json::from_slice(&bytes)
            .map_err(|e| RemoteError::Unreachable(format!("{what}: {}: not JSON: {e}", self.base)))
    }

    fn post(&self, path: &str, body: &impl serde::Serialize) -> reqwest::RequestBuilder {
        self.request(reqwest::Method::POST, path)
            .timeout(REQUEST_TIMEOUT)
            .header("Content-Type", "application/json")
            .body(serde_json::to_vec(body).unwrap_or_default())
    }

    /// Every investigation the server holds, as `inquest list --json` prints them.
    pub async fn list(&self) -> Result<Value, RemoteError> {
        self.json("", "investigations").await
    }

    /// One investigation by trace id or a unique prefix of one.
    pub async fn get(&self, trace: &str) -> Result<Value, RemoteError> {
        self.json(&format!("/{}", segment(trace)), &format!("investigation {trace}"))
            .await
    }

    /// The feedback on an investigation, as `inquest feedback TRACE --json` prints it.
    pub async fn feedback(&self, trace: &str) -> Result<Value, RemoteError> {
        self.json(
            &format!("/{}/feedback", segment(trace)),
            &format!("feedback on {trace}"),
        )
        .await
    }

    /// The Markdown report of an investigation.
    pub async fn report(&self, trace: &str) -> Result<String, RemoteError> {
        let what = format!("report of {trace}");
        let r = self
            .request(reqwest::Method::GET, &format!("/{}/report", segment(trace)))
            .timeout(REQUEST_TIMEOUT);
        let resp = self.send(r, &what).await?;
        resp.text()
            .await
            .map_err(|e| RemoteError::Unreachable(format!("{what}: {e}")))
    }

    /// Starts an investigation: `body` is an Alertmanager webhook body or `{"scenario": ...}`.
    pub async fn start(&self, body: &Value) -> Result<TraceId, RemoteError> {
        let resp = self.send(self.post("", body), "new investigation").await?;
        let v = self.body(resp, "new investigation").await?;
        v.get("trace_id")
            .and_then(Value::as_str)
            .and_then(|t| t.parse().ok())
            .ok_or_else(|| RemoteError::Unreachable(format!("new investigation: no trace_id in {v}")))
    }

    /// Sends a command; the engine's answer arrives as events on the stream.
    pub async fn command(&self, trace: TraceId, c: &Command) -> Result<(), RemoteError> {
        let r = self.post(&format!("/{trace}/commands"), c);
        self.send(r, "command").await.map(|_| ())
    }

    /// Saves feedback; returns once the server has committed it.
    pub async fn save_feedback(&self, trace: TraceId, f: &Feedback) -> Result<(), RemoteError> {
        let r = self.post(&format!("/{trace}/feedback"), f);
        self.send(r, "feedback").await.map(|_| ())
    }
}

/// A trace id or prefix as one path segment: anything but hex is refused by
/// the server anyway, and must not change the path.
fn segment(trace: &str) -> String {
    trace
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_string()
            } else {
                format!("%{:02X}", c as u32 & 0xff)
            }
        })
        .collect()
}

/// An error with its causes, which reqwest keeps apart ("error sending request" alone says little).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}

/// Links a cockpit to investigation `trace` on `remote`: the event stream as
/// replies (from the first event), requests as POSTs. Must be called inside a
/// tokio runtime. The replies end after the server says the investigation is over.
pub fn attach(remote: Remote, trace: TraceId) -> (mpsc::UnboundedSender<Request>, mpsc::UnboundedReceiver<Reply>) {
    let (req_tx, requests) = mpsc::unbounded_channel();
    let (reply_tx, replies) = mpsc::unbounded_channel();
    tokio::spawn(follow(remote.clone(), trace, reply_tx.clone()));
    tokio::spawn(answer(remote, trace, requests, reply_tx));
    (req_tx, replies)
}

async fn answer(
    remote: Remote,
    trace: TraceId,
    mut requests: mpsc::UnboundedReceiver<Request>,
    replies: mpsc::UnboundedSender<Reply>,
) {
    while let Some(r) = requests.recv().await {
        let name = r.name().to_string();
        let reply = match r {
            Request::Command(c) => match remote.command(trace, &c).await {
                Ok(()) => {
                    tracing::info!(command = ?c, "command sent");
                    continue;
                }
                Err(e) => Reply::Refused {
                    request: name,
                    reason: refusal(&e),
                },
            },
            Request::Feedback(f) => match remote.save_feedback(trace, &f).await {
                Ok(()) => Reply::FeedbackSaved(f),
                Err(e) => {
                    tracing::error!(%e, "feedback not saved");
                    Reply::Refused {
                        request: name,
                        reason: format!("NOT saved: {}", refusal(&e)),
                    }
                }
            },
        };
        if replies.send(reply).is_err() {
            break;
        }
    }
}

/// What the server said, without the request's name in front (the cockpit adds its own).
fn refusal(e: &RemoteError) -> String {
    match e {
        RemoteError::Refused(_, m) => m.split_once(": ").map(|(_, m)| m).unwrap_or(m).to_string(),
        other => other.to_string(),
    }
}

/// Where a followed stream is: what has been delivered, so a reconnection
/// resumes after it and nothing is delivered twice.
#[derive(Debug, Default)]
pub struct Follow {
    /// The last event seq delivered.
    pub last_seq: Option<u64>,
    feedback: HashSet<String>,
    /// The server said the investigation is over.
    pub ended: bool,
}

impl Follow {
    /// The replies one frame makes: none for a duplicate, or what is not understood.
    pub fn take(&mut self, f: &Frame) -> Option<Reply> {
        match f.event.as_str() {
            "event" => {
                let e: Event = match serde_json::from_str(&f.data) {
                    Ok(e) => e,
                    Err(err) => {
                        tracing::warn!(%err, "an event the server sent does not parse");
                        return None;
                    }
                };
                if self.last_seq.is_some_and(|last| e.seq <= last) {
                    return None;
                }
                self.last_seq = Some(e.seq);
                Some(Reply::Event(e))
            }
            "feedback" => {
                let fb: Feedback = serde_json::from_str(&f.data)
                    .map_err(|err| tracing::warn!(%err, "feedback the server sent does not parse"))
                    .ok()?;
                self.feedback.insert(fb.id.clone()).then_some(Reply::FeedbackSeen(fb))
            }
            "presence" => {
                let v: Value = serde_json::from_str(&f.data).ok()?;
                let attached = v
                    .get("attached")?
                    .as_array()?
                    .iter()
                    .filter_map(|n| n.as_str().map(str::to_string))
                    .collect();
                Some(Reply::Presence { attached })
            }
            "end" => {
                self.ended = true;
                None
            }
            _ => None,
        }
    }

    /// The `after` to resume from.
    pub fn after(&self) -> u64 {
        self.last_seq.unwrap_or(0)
    }
}

/// The next wait before reconnecting.
pub fn backoff(now: Duration) -> Duration {
    (now * 2).clamp(BACKOFF_MIN, BACKOFF_MAX)
}

async fn follow(remote: Remote, trace: TraceId, replies: mpsc::UnboundedSender<Reply>) {
    let mut state = Follow::default();
    let mut wait = BACKOFF_MIN;
    let mut down: Option<String> = None;
    loop {
        let outcome = stream_once(&remote, trace, &mut state, &replies, &mut down, &mut wait).await;
        if replies.is_closed() || state.ended {
            return;
        }
        let reason = match outcome {
            Err(RemoteError::Unauthorized(m)) | Err(RemoteError::Refused(_, m)) => {
                let _ = replies.send(Reply::Link(LinkState::Lost { reason: m }));
                return;
            }
            Err(RemoteError::Unreachable(m)) => m,
            Ok(()) => "the server closed the stream".to_string(),
        };
        tracing::warn!(%reason, after = state.after(), "event stream dropped; reconnecting");
        if down.is_none() {
            let _ = replies.send(Reply::Link(LinkState::Reconnecting { reason: reason.clone() }));
        }
        down = Some(reason);
        tokio::time::sleep(wait).await;
        wait = backoff(wait);
    }
}

/// One connection to the event stream, until it ends or drops.
async fn stream_once(
    remote: &Remote,
    trace: TraceId,
    state: &mut Follow,
    replies: &mpsc::UnboundedSender<Reply>,
    down: &mut Option<String>,
    wait: &mut Duration,
) -> Result<(), RemoteError> {
    let after = state.after();
    let r = remote
        .request(reqwest::Method::GET, &format!("/{trace}/events?after={after}"))
        .header("Accept", "text/event-stream")
        .header("Last-Event-ID", after.to_string());
    let mut resp = remote.send(r, &format!("events of {}", trace.short())).await?;
    if down.take().is_some() {
        let _ = replies.send(Reply::Link(LinkState::Connected));
    }
    let mut parser = Parser::new();
    loop {
        let chunk = match tokio::time::timeout(SILENCE, resp.chunk()).await {
            Err(_) => {
                return Err(RemoteError::Unreachable(format!(
                    "no word from the server for {} s",
                    SILENCE.as_secs()
                )));
            }
            Ok(Err(e)) => return Err(RemoteError::Unreachable(error_chain(&e))),
            Ok(Ok(None)) => return Ok(()),
            Ok(Ok(Some(c))) => c,
        };
        for frame in parser.feed(&chunk) {
            *wait = BACKOFF_MIN;
            if let Some(reply) = state.take(&frame)
                && replies.send(reply).is_err()
            {
                return Ok(());
            }
            if state.ended {
                return Ok(());
            }
        }
    }
}

#[cfg(test)]
mod tests;
