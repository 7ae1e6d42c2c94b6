//! One server: its limits, its queue, its metrics, and the answer to each
//! request. Alerts are stored before the answer; investigations run in the
//! worker pool, never in the request.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::Ordering::Relaxed;

use bytes::Bytes;
use http_body_util::{BodyExt, Either, Full, Limited};
use hyper::body::Incoming;
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE, HeaderValue, RETRY_AFTER, WWW_AUTHENTICATE};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{Value, json};

use super::auth::signed;
use super::hub::Hub;
use super::limits::{Limits, Unauthorized};
use super::metrics::{Metrics, Reason};
use super::queue::Queue;
use super::routes::{self, Malformed, PagerDuty};
use crate::model::Alert;
use crate::store::{Admission, Simulated};

/// An answer: a whole body, or an event stream fed as events happen.
pub type Reply = Response<Either<Full<Bytes>, super::sse::Stream>>;

/// Seconds a client is asked to wait when the queue is full or the store is busy.
const RETRY_QUEUE_FULL: &str = "30";
const RETRY_STORE: &str = "5";

pub struct Server {
    pub limits: Limits,
    pub queue: Queue,
    pub metrics: Arc<Metrics>,
    pub pagerduty_secret: Option<Vec<u8>>,
    /// HTTPS when `[serve]` names a certificate and key.
    pub tls: Option<tokio_rustls::TlsAcceptor>,
    /// The investigations running now, for the API.
    pub hub: Arc<Hub>,
    /// Who a request is from when neither its header nor its token names anyone.
    pub author: String,
    /// Whether the API may start simulated scenarios.
    pub scenarios: bool,
}

/// What a request asks the queue to store.
pub enum Offer {
    Alerts(Vec<Alert>),
    Simulated(Alert, Simulated),
}

impl Server {
    /// Answers one request; never fails (a failure is an answer).
    pub async fn handle(self: Arc<Self>, req: Request<Incoming>) -> Result<Reply, Infallible> {
        let (parts, body) = req.into_parts();
        let path = parts.uri.path();
        if path == "/healthz" {
            return Ok(reply(StatusCode::OK, json!({"status": "ok"})));
        }
        let header = |name: &str| parts.headers.get(name).and_then(|v| v.to_str().ok());
        // PagerDuty proves itself with its signature instead.
        let user = match self.limits.authenticate(header("authorization")) {
            Ok(user) => user,
            Err(Unauthorized) if path == "/pagerduty" => None,
            Err(Unauthorized) => {
                self.metrics.refuse_request(Reason::Unauthorized);
                let mut r = reply(
                    StatusCode::UNAUTHORIZED,
                    json!({"error": "expected Authorization: Bearer <token> ([serve] token_env or [serve.users])"}),
                );
                r.headers_mut()
                    .insert(WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
                return Ok(r);
            }
        };
        if path.starts_with("/v1/") {
            self.metrics.api_request(&parts.method, path);
            return Ok(self.api(&parts, body, user).await);
        }
        Ok(match (&parts.method, path) {
            (&Method::GET, "/metrics") => {
                let queued = self.queue.len().await.ok();
                let mut r = Response::new(Either::Left(Full::new(Bytes::from(
                    self.metrics.render(queued, self.hub.following()),
                ))));
                r.headers_mut().insert(
                    CONTENT_TYPE,
                    HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
                );
                r
            }
            (&Method::POST, "/alertmanager") => match self.body(header(CONTENT_LENGTH.as_str()), body).await {
                Ok(b) => self.alertmanager(&b).await,
                Err(r) => r,
            },
            (&Method::POST, "/pagerduty") => {
                let sig = header("x-pagerduty-signature").unwrap_or("").to_string();
                match self.body(header(CONTENT_LENGTH.as_str()), body).await {
                    Ok(b) => self.pagerduty(&sig, &b).await,
                    Err(r) => r,
                }
            }
            _ => reply(
                StatusCode::NOT_FOUND,
                json!({"error": "POST /alertmanager or /pagerduty; GET /healthz or /metrics; /v1/investigations, /v1/changes"}),
            ),
        })
    }

    /// The whole body, within the size and time limits.
    pub(super) async fn body(&self, length: Option<&str>, body: Incoming) -> Result<Bytes, Reply> {
        let max = self.limits.max_body_bytes;
        let too_large = || {
            self.metrics.refuse_request(Reason::TooLarge);
            reply(
                StatusCode::PAYLOAD_TOO_LARGE,
                json!({"error": format!("body over {max} bytes ([serve.limits] max_body_bytes)")}),
            )
        };
        if length.and_then(|l| l.parse::<usize>().ok()).is_some_and(|n| n > max) {
            return Err(too_large());
        }
        match tokio::time::timeout(self.limits.body_timeout, Limited::new(body, max).collect()).await {
            Ok(Ok(b)) => Ok(b.to_bytes()),
            Ok(Err(e)) if e.downcast_ref::<http_body_util::LengthLimitError>().is_some() => Err(too_large()),
            Ok(Err(e)) => {
                self.metrics.refuse_request(Reason::Malformed);
                Err(reply(
                    StatusCode::BAD_REQUEST,
                    json!({"error": format!("reading the body: {e}")}),
                ))
            }
            Err(_) => {
                self.metrics.refuse_request(Reason::Timeout);
                Err(reply(
                    StatusCode::REQUEST_TIMEOUT,
                    json!({"error": "the body did not arrive in time ([serve.limits] body_timeout)"}),
                ))
            }
        }
    }

    async fn alertmanager(&self, body: &[u8]) -> Reply {
        let max = self.limits.max_alerts_per_request;
        let parsed = match routes::alertmanager(body, max) {
            Ok(Ok(p)) => p,
            Ok(Err(n)) => {
                self.metrics.received.fetch_add(n as u64, Relaxed);
                self.metrics.reject_alerts(Reason::TooMany, n);
                tracing::error!(
                    alerts = n,
                    max,
                    "request with too many alerts refused; set max_alerts in Alertmanager's webhook_config"
                );
                return reply(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    json!({"error": format!("{n} alerts in one request, at most {max}: set max_alerts in the webhook_config")}),
                );
            }
            Err(m) => return self.malformed(m),
        };
        self.metrics
            .received
            .fetch_add((parsed.alerts.len() + parsed.errors.len()) as u64, Relaxed);
        self.metrics.reject_alerts(Reason::Malformed, parsed.errors.len());
        let mut answer = self.admit(Offer::Alerts(parsed.alerts)).await;
        if !parsed.errors.is_empty()
            && answer.status.is_success()
            && let Value::Object(o) = &mut answer.body
        {
            o.insert("errors".into(), json!(parsed.errors));
        }
        answer.reply()
    }

    async fn pagerduty(&self, signature: &str, body: &[u8]) -> Reply {
        let Some(secret) = &self.pagerduty_secret else {
            return reply(
                StatusCode::NOT_FOUND,
                json!({"error": "PagerDuty intake is not configured ([intake.pagerduty])"}),
            );
        };
        if !signed(secret, signature, body) {
            tracing::warn!("PagerDuty webhook with a bad signature refused");
            self.metrics.refuse_request(Reason::Unauthorized);
            return reply(StatusCode::UNAUTHORIZED, json!({"error": "bad signature"}));
        }
        match routes::pagerduty(body) {
            Ok(PagerDuty::Triggered(alert)) => {
                self.metrics.received.fetch_add(1, Relaxed);
                self.admit(Offer::Alerts(vec![alert])).await.reply()
            }
            Ok(PagerDuty::Ignored(kind)) => reply(StatusCode::OK, json!({"ignored": kind})),
            Err(m) => self.malformed(m),
        }
    }

    pub(super) fn malformed(&self, Malformed(why): Malformed) -> Reply {
        self.metrics.refuse_request(Reason::Malformed);
        reply(StatusCode::BAD_REQUEST, json!({"error": why}))
    }

    /// Stores the alerts; the answer says which traces they will have.
    pub(super) async fn admit(&self, offer: Offer) -> Answer {
        let (n, offered) = match offer {
            Offer::Alerts(alerts) => (alerts.len(), self.queue.offer(alerts).await),
            Offer::Simulated(alert, sim) => (1, self.queue.offer_simulated(alert, sim).await),
        };
        match offered {
            Ok(Admission::Accepted { started, duplicates }) => {
                self.metrics.accepted.fetch_add(started.len() as u64, Relaxed);
                self.metrics.deduplicated.fetch_add(duplicates as u64, Relaxed);
                if !started.is_empty() {
                    tracing::info!(accepted = started.len(), duplicates, "alerts queued");
                }
                let started: Vec<String> = started.iter().map(ToString::to_string).collect();
                Answer::new(StatusCode::OK, json!({"started": started, "duplicates": duplicates}))
            }
            Ok(Admission::Full { queued }) => {
                self.metrics.reject_alerts(Reason::QueueFull, n);
                tracing::warn!(alerts = n, queued, "queue full; alerts refused for a retry");
                let max = self.limits.max_queue;
                Answer::retry_later(
                    RETRY_QUEUE_FULL,
                    format!("the queue is full ({queued} waiting, [serve] max_queue {max}); nothing was stored"),
                )
            }
            Err(e) => {
                self.metrics.reject_alerts(Reason::StoreUnavailable, n);
                tracing::error!(alerts = n, %e, "cannot store alerts; refused for a retry");
                Answer::retry_later(RETRY_STORE, format!("cannot store the alerts now: {e}"))
            }
        }
    }
}

/// An answer still open to additions.
pub(super) struct Answer {
    pub(super) status: StatusCode,
    pub(super) body: Value,
    retry_after: Option<&'static str>,
}

impl Answer {
    fn new(status: StatusCode, body: Value) -> Answer {
        Answer {
            status,
            body,
            retry_after: None,
        }
    }
    /// 503, which Alertmanager retries (it does not retry 4xx).
    fn retry_later(after: &'static str, why: String) -> Answer {
        Answer {
            status: StatusCode::SERVICE_UNAVAILABLE,
            body: json!({"error": why}),
            retry_after: Some(after),
        }
    }
    pub(super) fn reply(self) -> Reply {
        let mut r = reply(self.status, self.body);
        if let Some(after) = self.retry_after {
            r.headers_mut().insert(RETRY_AFTER, HeaderValue::from_static(after));
        }
        r
    }
}

pub fn reply(status: StatusCode, body: Value) -> Reply {
    let mut r = Response::new(Either::Left(Full::new(Bytes::from(body.to_string()))));
    *r.status_mut() = status;
    r.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    r
}
