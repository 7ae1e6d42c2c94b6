//! The investigations API under `/v1/investigations`: list and read them,
//! start one (an Alertmanager alert, or a simulated scenario where allowed),
//! follow its events as Server-Sent Events, steer it with commands, and leave
//! feedback, every request under its author's name.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::{Either, Full};
use hyper::header::{CACHE_CONTROL, CONTENT_TYPE, HeaderValue};
use hyper::http::request::Parts;
use hyper::{Method, Response, StatusCode};
use serde_json::{Value, json};

use super::auth::author_name;
use super::hub::{Live, NotDelivered};
use super::routes::{self, Malformed};
use super::server::{Offer, Reply, Server, reply};
use super::sse;
use crate::model::{Authored, Command, Feedback, InvestigationState, InvestigationStatus, TraceId};
use crate::sources::sim::{BUILTIN, Simulator};
use crate::store::{Simulated, Store, StoreError};
use crate::tools::sanitize::{clean, json_pretty};

/// Why a command cannot reach an investigation that has ended.
const NOT_RUNNING: &str = "the investigation is no longer running";

/// How long feedback on a running investigation waits for its first events to be stored.
const STORED_WITHIN: std::time::Duration = std::time::Duration::from_secs(2);

/// Where a trace is.
enum Found {
    /// Running, or queued with its entry open.
    Live(TraceId, Arc<Live>),
    /// Stored and no longer running.
    Stored(TraceId),
}

impl Server {
    /// Answers a request under `/v1/`; `user` is the `[serve.users]` name its token proved.
    pub async fn api(&self, parts: &Parts, body: hyper::body::Incoming, user: Option<&str>) -> Reply {
        let author = match parts.headers.get("x-inquest-user") {
            None => user.unwrap_or(&self.author).to_string(),
            Some(v) => match v.to_str().ok().and_then(author_name) {
                Some(a) => a.to_string(),
                None => {
                    return self.bad("X-Inquest-User: expected 1 to 64 letters, digits and . _ @ + -".into());
                }
            },
        };
        let path = parts.uri.path().trim_end_matches('/');
        if path == "/v1/changes" {
            return match parts.method {
                Method::GET => self.get_changes(parts).await,
                Method::POST => {
                    let length = parts
                        .headers
                        .get(hyper::header::CONTENT_LENGTH)
                        .and_then(|v| v.to_str().ok());
                    match self.body(length, body).await {
                        Ok(b) => self.post_changes(&b, author).await,
                        Err(r) => r,
                    }
                }
                _ => not_found(format!(
                    "no route {} /v1/changes: see GET/POST /v1/changes",
                    parts.method
                )),
            };
        }
        let Some(rest) = path.strip_prefix("/v1/investigations") else {
            return not_found(format!("no route {}", clean(path)));
        };
        let segments: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
        let length = parts
            .headers
            .get(hyper::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok());
        let m = &parts.method;
        match (m, segments.as_slice()) {
            (&Method::GET, []) => self.list().await,
            (&Method::POST, []) => match self.body(length, body).await {
                Ok(b) => self.start(&b).await,
                Err(r) => r,
            },
            (&Method::GET, [trace]) => self.row(trace).await,
            (&Method::GET, [trace, "events"]) => self.events(trace, parts, author).await,
            (&Method::POST, [trace, "commands"]) => match self.body(length, body).await {
                Ok(b) => self.command(trace, &b, author).await,
                Err(r) => r,
            },
            (&Method::POST, [trace, "feedback"]) => match self.body(length, body).await {
                Ok(b) => self.save_feedback(trace, &b, author).await,
                Err(r) => r,
            },
            (&Method::GET, [trace, "feedback"]) => self.feedback(trace).await,
            (&Method::GET, [trace, "report"]) => self.report(trace).await,
            _ => not_found(format!(
                "no route {} {}: see GET/POST /v1/investigations, GET .../{{trace}}, .../events, .../feedback, \
                 .../report, POST .../commands, .../feedback",
                m,
                clean(path)
            )),
        }
    }

    fn bad(&self, why: String) -> Reply {
        self.malformed(Malformed(why))
    }

    async fn store<T: Send + 'static>(
        &self,
        f: impl FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
    ) -> Result<T, Reply> {
        self.queue.blocking(f).await.map_err(|e| {
            tracing::error!(%e, "store call from the API failed");
            reply(StatusCode::SERVICE_UNAVAILABLE, json!({"error": e.to_string()}))
        })
    }

    async fn list(&self) -> Reply {
        match self.store(Store::list).await {
            Ok(rows) => text(StatusCode::OK, "application/json", json_pretty(&rows) + "\n"),
            Err(r) => r,
        }
    }

    /// A trace named by a full id or a unique prefix, running or stored.
    async fn find(&self, prefix: &str) -> Result<Found, Reply> {
        if let Ok(t) = prefix.parse::<TraceId>()
            && let Some(live) = self.hub.get(t)
        {
            return Ok(Found::Live(t, live));
        }
        let p = prefix.to_string();
        match self.queue.blocking(move |s| s.resolve(&p)).await {
            Ok(t) => Ok(match self.hub.get(t) {
                Some(live) => Found::Live(t, live),
                None => Found::Stored(t),
            }),
            Err(super::queue::QueueError::Store(StoreError::UnknownTrace { .. })) => {
                let unknown = || not_found(format!("no investigation {}", clean(prefix)));
                let Ok(t) = prefix.parse::<TraceId>() else {
                    return Err(unknown());
                };
                // Queued, nothing stored yet: its entry is opened before the
                // queue is asked, so the worker cannot close it in between.
                let live = self.hub.open(t);
                match self
                    .store(move |s| Ok((s.intake_pending(t)?, s.get(t)?.is_some())))
                    .await
                {
                    Ok((true, _)) => Ok(Found::Live(t, live)),
                    Ok((false, stored)) => {
                        self.hub.discard(t, &live);
                        if stored { Ok(Found::Stored(t)) } else { Err(unknown()) }
                    }
                    Err(r) => {
                        self.hub.discard(t, &live);
                        Err(r)
                    }
                }
            }
            Err(super::queue::QueueError::Store(
                e @ (StoreError::BadPrefix { .. } | StoreError::AmbiguousTrace { .. }),
            )) => Err(self.bad(e.to_string())),
            Err(e) => Err(reply(StatusCode::SERVICE_UNAVAILABLE, json!({"error": e.to_string()}))),
        }
    }

    async fn row(&self, prefix: &str) -> Reply {
        let t = match self.find(prefix).await {
            Ok(Found::Live(t, _) | Found::Stored(t)) => t,
            Err(r) => return r,
        };
        match self.store(move |s| s.get(t)).await {
            Ok(Some(row)) => text(StatusCode::OK, "application/json", json_pretty(&row) + "\n"),
            Ok(None) => not_found(format!("investigation {t} is queued and has not started")),
            Err(r) => r,
        }
    }

    /// `POST /v1/investigations`: an Alertmanager webhook body (its first
    /// firing alert), or `{"scenario": ..., "pace": ..., "budget_calls": ...}`.
    async fn start(&self, body: &[u8]) -> Reply {
        let v: Value = match serde_json::from_slice(body) {
            Ok(v) => v,
            Err(e) => {
                return self.bad(format!(
                    "expected JSON: an Alertmanager webhook body or {{\"scenario\": NAME}}: line {} column {}",
                    e.line(),
                    e.column()
                ));
            }
        };
        let offer = if v.get("scenario").is_some() {
            match self.scenario(&v) {
                Ok(o) => o,
                Err((StatusCode::BAD_REQUEST, why)) => return self.bad(why),
                Err((status, why)) => return reply(status, json!({"error": why})),
            }
        } else {
            match routes::alertmanager(body, self.limits.max_alerts_per_request) {
                Ok(Ok(p)) => match p.alerts.into_iter().next() {
                    Some(a) => Offer::Alerts(vec![a]),
                    None => return self.bad("no firing alert in the body".into()),
                },
                Ok(Err(n)) => return self.bad(format!("{n} alerts: too many in one request")),
                Err(m) => return self.malformed(m),
            }
        };
        let key = match &offer {
            Offer::Alerts(a) => Some(crate::store::intake_key(&a[0])),
            Offer::Simulated(..) => None,
        };
        self.metrics.received.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let answer = self.admit(offer).await;
        if !answer.status.is_success() {
            return answer.reply();
        }
        let started = answer.body["started"]
            .get(0)
            .and_then(Value::as_str)
            .map(str::to_string);
        match (started, key) {
            (Some(t), _) => reply(StatusCode::ACCEPTED, json!({"trace_id": t})),
            (None, Some(key)) => match self.store(move |s| s.intake_trace(&key)).await {
                Ok(Some(t)) => reply(
                    StatusCode::ACCEPTED,
                    json!({"trace_id": t.to_string(), "duplicate": true}),
                ),
                Ok(None) => reply(
                    StatusCode::CONFLICT,
                    json!({"error": "the alert is a duplicate of one no longer in the queue"}),
                ),
                Err(r) => r,
            },
            (None, None) => reply(
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({"error": "nothing was queued"}),
            ),
        }
    }

    /// A scenario request read, or the status and reason it is refused with.
    fn scenario(&self, v: &Value) -> Result<Offer, (StatusCode, String)> {
        if !self.scenarios {
            return Err((
                StatusCode::FORBIDDEN,
                "this server investigates its configured sources; simulated scenarios need a server \
                 whose only source is [sources.simulator], or [serve] scenarios = true"
                    .into(),
            ));
        }
        let name = v["scenario"]
            .as_str()
            .ok_or_else(|| bad("scenario: expected a scenario name (a string)".into()))?;
        // Built-in scenarios only: a name is never a path on the server.
        let known: Vec<&str> = BUILTIN.iter().map(|(f, _)| f.trim_end_matches(".toml")).collect();
        if !known.contains(&name) {
            return Err((
                StatusCode::NOT_FOUND,
                format!("unknown scenario {:?} (known: {})", clean(name), known.join(", ")),
            ));
        }
        let pace_ms = match v.get("pace") {
            None | Some(Value::Null) => None,
            Some(Value::String(p)) => Some(
                crate::model::parse_duration_ms(p)
                    .map_err(|e| bad(format!("pace: {e}")))?
                    .max(0) as u64,
            ),
            Some(_) => return Err(bad("pace: expected a duration like \"300ms\"".into())),
        };
        let budget_calls = match v.get("budget_calls") {
            None | Some(Value::Null) => None,
            Some(n) => Some(
                n.as_u64()
                    .and_then(|n| u32::try_from(n).ok())
                    .filter(|n| *n > 0)
                    .ok_or_else(|| bad("budget_calls: expected a positive whole number".into()))?,
            ),
        };
        for k in v.as_object().into_iter().flat_map(|o| o.keys()) {
            if !["scenario", "pace", "budget_calls"].contains(&k.as_str()) {
                return Err(bad(format!(
                    "{}: unknown field (expected scenario, pace, budget_calls)",
                    clean(k)
                )));
            }
        }
        let sc = Simulator::load(name).map_err(|e| bad(e.to_string()))?;
        let alert = Simulator::new(sc).map_err(|e| bad(e.to_string()))?.alert();
        Ok(Offer::Simulated(
            alert,
            Simulated {
                scenario: name.to_string(),
                pace_ms,
                budget_calls,
            },
        ))
    }

    async fn events(&self, prefix: &str, parts: &Parts, author: String) -> Reply {
        let mut after = 0u64;
        if let Some(q) = parts.uri.query() {
            for (k, v) in q.split('&').filter_map(|kv| kv.split_once('=')) {
                if k == "after" {
                    match v.parse() {
                        Ok(n) => after = n,
                        Err(_) => return self.bad(format!("after={}: expected an event seq", clean(v))),
                    }
                }
            }
        }
        if let Some(v) = parts.headers.get("last-event-id") {
            match v.to_str().ok().and_then(|s| s.trim().parse::<u64>().ok()) {
                Some(n) => after = after.max(n),
                None => return self.bad("Last-Event-ID: expected an event seq".into()),
            }
        }
        let stream = match self.find(prefix).await {
            Err(r) => return r,
            Ok(Found::Live(t, live)) => {
                let queue = self.queue.clone();
                let feedback = async move { queue.blocking(move |s| s.feedback(t)).await.unwrap_or_default() };
                sse::live(live, author, after, feedback)
            }
            Ok(Found::Stored(t)) => {
                let read = self
                    .store(move |s| Ok((s.events(t)?, s.feedback(t)?, s.get(t)?.map(|r| r.status))))
                    .await;
                match read {
                    Ok((events, feedback, status)) => {
                        let status = status.unwrap_or(InvestigationStatus::Interrupted);
                        sse::stored(events, feedback, status, after)
                    }
                    Err(r) => return r,
                }
            }
        };
        let mut r = Response::new(Either::Right(stream));
        let h = r.headers_mut();
        h.insert(CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
        h.insert(CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        h.insert("x-accel-buffering", HeaderValue::from_static("no"));
        r
    }

    async fn command(&self, prefix: &str, body: &[u8], author: String) -> Reply {
        let command: Command = match serde_json::from_slice(body) {
            Ok(c) => c,
            Err(e) => return self.bad(format!("expected a command (e.g. {{\"command\":\"stop\"}}): {e}")),
        };
        let live = match self.find(prefix).await {
            Ok(Found::Live(_, live)) => live,
            Ok(Found::Stored(_)) => return reply(StatusCode::CONFLICT, json!({"error": NOT_RUNNING})),
            Err(r) => return r,
        };
        tracing::info!(?command, %author, "command from the API");
        match live.order(Authored {
            command,
            author: Some(author),
        }) {
            Ok(()) => reply(StatusCode::ACCEPTED, json!({"accepted": true})),
            Err(NotDelivered::NotStarted) => reply(
                StatusCode::CONFLICT,
                json!({"error": "the investigation is queued and has not started yet"}),
            ),
            Err(NotDelivered::Ended) => reply(StatusCode::CONFLICT, json!({"error": NOT_RUNNING})),
        }
    }

    async fn save_feedback(&self, prefix: &str, body: &[u8], author: String) -> Reply {
        let mut f: Feedback = match serde_json::from_slice(body) {
            Ok(f) => f,
            Err(e) => return self.bad(format!("expected a feedback record: {e}")),
        };
        let (t, live) = match self.find(prefix).await {
            Ok(Found::Live(t, _)) => (t, true),
            Ok(Found::Stored(t)) => (t, false),
            Err(r) => return r,
        };
        if f.trace_id != t {
            return self.bad(format!("trace_id {} is not the trace of the URL ({t})", f.trace_id));
        }
        f.author = author;
        // A client may see an event before the store writer has committed it:
        // feedback on a run just started waits for its first events.
        if live && let Err(r) = self.stored_soon(t).await {
            return r;
        }
        let saved = f.clone();
        match self.queue.blocking(move |s| s.save_feedback(&saved)).await {
            Ok(_) => {
                self.hub.feedback(&f);
                reply(StatusCode::CREATED, json!({"id": f.id}))
            }
            Err(e) => {
                tracing::error!(%e, trace = %t, "feedback not saved");
                reply(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    json!({"error": format!("NOT saved: {e}")}),
                )
            }
        }
    }

    /// Waits up to [`STORED_WITHIN`] for a running investigation's row in the store.
    async fn stored_soon(&self, t: TraceId) -> Result<(), Reply> {
        let t0 = std::time::Instant::now();
        loop {
            if self.store(move |s| s.get(t)).await?.is_some() {
                return Ok(());
            }
            if t0.elapsed() > STORED_WITHIN {
                return Err(reply(
                    StatusCode::CONFLICT,
                    json!({"error": "the investigation has not started: nothing to give feedback on yet"}),
                ));
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
    }

    async fn feedback(&self, prefix: &str) -> Reply {
        let t = match self.find(prefix).await {
            Ok(Found::Live(t, _) | Found::Stored(t)) => t,
            Err(r) => return r,
        };
        match self.store(move |s| s.feedback(t)).await {
            Ok(items) => {
                let mut v = serde_json::to_value(&items).unwrap_or_default();
                crate::tools::redact::Redactor::new().redact_json(&mut v);
                text(StatusCode::OK, "application/json", json_pretty(&v) + "\n")
            }
            Err(r) => r,
        }
    }

    async fn report(&self, prefix: &str) -> Reply {
        let t = match self.find(prefix).await {
            Ok(Found::Live(t, _) | Found::Stored(t)) => t,
            Err(r) => return r,
        };
        let read = self.store(move |s| Ok((s.events(t)?, s.feedback(t)?, s.get(t)?))).await;
        let (events, feedback, row) = match read {
            Ok(r) => r,
            Err(r) => return r,
        };
        if events.is_empty() {
            return not_found(format!("investigation {t} is queued and has not started"));
        }
        let mut state = match InvestigationState::fold(&events) {
            Ok(s) => s,
            Err(e) => {
                return reply(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    json!({"error": format!("trace {t}: {e}")}),
                );
            }
        };
        // As `inquest report`: the store knows a run whose process died.
        if state.status == InvestigationStatus::Running
            && row.is_some_and(|r| r.status == InvestigationStatus::Interrupted)
        {
            state.status = InvestigationStatus::Interrupted;
        }
        text(
            StatusCode::OK,
            "text/markdown; charset=utf-8",
            crate::export::markdown(&state, &feedback),
        )
    }
}

/// A 400 and its reason, before it is answered.
fn bad(why: String) -> (StatusCode, String) {
    (StatusCode::BAD_REQUEST, why)
}

fn not_found(why: String) -> Reply {
    reply(StatusCode::NOT_FOUND, json!({"error": why}))
}

fn text(status: StatusCode, content_type: &'static str, body: String) -> Reply {
    let mut r = Response::new(Either::Left(Full::new(Bytes::from(body))));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}
