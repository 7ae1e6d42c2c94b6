//! `inquest serve`: alerts in over HTTP (Alertmanager's webhook, PagerDuty
//! webhooks v3 with their signature checked), one headless investigation per
//! new alert, stored for `inquest open`.

use std::collections::HashSet;
use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use hmac::{Hmac, Mac};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{Value, json};
use sha2::Sha256;
use tokio::net::TcpListener;

use crate::config::Settings;
use crate::model::{Alert, Timestamp, TraceId};
use crate::store::Store;
use crate::wire::{Launch, Options, for_alert, launch};

/// Larger bodies are refused.
const MAX_BODY: usize = 1 << 20;

pub struct Intake {
    settings: Settings,
    store: PathBuf,
    pagerduty_secret: Option<Vec<u8>>,
    /// Alert identities already investigated.
    seen: Mutex<HashSet<String>>,
    pub author: String,
}

impl Intake {
    pub fn new(settings: Settings, store: PathBuf, author: String) -> Result<Intake, String> {
        let pagerduty_secret = match &settings.intake.pagerduty {
            Some(p) => Some(
                std::env::var(&p.secret_env)
                    .map_err(|_| {
                        format!(
                            "[intake.pagerduty]: the environment variable {} is not set",
                            p.secret_env
                        )
                    })?
                    .into_bytes(),
            ),
            None => None,
        };
        Ok(Intake {
            settings,
            store,
            pagerduty_secret,
            seen: Mutex::new(HashSet::new()),
            author,
        })
    }

    /// Starts an investigation of `alert` unless it was seen before.
    fn investigate(&self, alert: Alert) -> Result<Option<TraceId>, String> {
        let identity = format!("{}@{}", alert.fingerprint, alert.starts_at.0);
        if !self.seen.lock().map_err(|_| "poisoned")?.insert(identity) {
            return Ok(None);
        }
        let opts = Options {
            author: self.author.clone(),
            ..Options::default()
        };
        let setup = for_alert(alert, &self.settings, &opts).map_err(|e| e.to_string())?;
        let store = Store::open(&self.store).map_err(|e| e.to_string())?;
        let running = launch(Launch::new(setup).store(Some(store)).learned(true));
        let trace = running.trace_id;
        tokio::spawn(async move {
            let state = running.wait().await;
            tracing::info!(%trace, status = ?state.map(|s| s.status), "investigation ended");
        });
        Ok(Some(trace))
    }

    fn alertmanager(&self, body: &[u8]) -> Response<Full<Bytes>> {
        let Ok(v) = serde_json::from_slice::<Value>(body) else {
            return reply(
                StatusCode::BAD_REQUEST,
                json!({"error": "expected an Alertmanager webhook payload (JSON)"}),
            );
        };
        let Some(alerts) = v.get("alerts").and_then(Value::as_array) else {
            return reply(
                StatusCode::BAD_REQUEST,
                json!({"error": "expected {\"alerts\": [...]}"}),
            );
        };
        let (mut started, mut duplicates, mut errors) = (Vec::new(), 0, Vec::new());
        for a in alerts
            .iter()
            .filter(|a| a.get("status").and_then(Value::as_str) != Some("resolved"))
        {
            match Alert::from_json(&a.to_string(), "alertmanager").and_then(|al| self.investigate(al)) {
                Ok(Some(t)) => started.push(t.to_string()),
                Ok(None) => duplicates += 1,
                Err(e) => errors.push(e),
            }
        }
        let status = if errors.is_empty() {
            StatusCode::OK
        } else {
            StatusCode::UNPROCESSABLE_ENTITY
        };
        reply(
            status,
            json!({"started": started, "duplicates": duplicates, "errors": errors}),
        )
    }

    fn pagerduty(&self, signature: Option<&str>, body: &[u8]) -> Response<Full<Bytes>> {
        let Some(secret) = &self.pagerduty_secret else {
            return reply(
                StatusCode::NOT_FOUND,
                json!({"error": "PagerDuty intake is not configured"}),
            );
        };
        if !signed(secret, signature.unwrap_or(""), body) {
            tracing::warn!("PagerDuty webhook with a bad signature refused");
            return reply(StatusCode::UNAUTHORIZED, json!({"error": "bad signature"}));
        }
        let Ok(v) = serde_json::from_slice::<Value>(body) else {
            return reply(
                StatusCode::BAD_REQUEST,
                json!({"error": "expected a PagerDuty webhook v3 event (JSON)"}),
            );
        };
        let ev = &v["event"];
        if ev["event_type"] != "incident.triggered" {
            return reply(StatusCode::OK, json!({"ignored": ev["event_type"]}));
        }
        match pagerduty_alert(ev).and_then(|a| self.investigate(a)) {
            Ok(Some(t)) => reply(StatusCode::OK, json!({"started": [t.to_string()], "duplicates": 0})),
            Ok(None) => reply(StatusCode::OK, json!({"started": [], "duplicates": 1})),
            Err(e) => reply(StatusCode::UNPROCESSABLE_ENTITY, json!({"error": e})),
        }
    }
}

/// Whether any `v1=` signature in the header is the HMAC-SHA256 of the body.
pub fn signed(secret: &[u8], header: &str, body: &[u8]) -> bool {
    header
        .split(',')
        .filter_map(|s| s.trim().strip_prefix("v1="))
        .any(|hex| {
            let Some(sig) = decode_hex(hex) else { return false };
            let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
                return false;
            };
            mac.update(body);
            // Constant-time comparison.
            mac.verify_slice(&sig).is_ok()
        })
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// A triggered incident as an alert.
fn pagerduty_alert(ev: &Value) -> Result<Alert, String> {
    let d = &ev["data"];
    let title = d["title"].as_str().ok_or("data.title: expected the incident's title")?;
    let id = d["id"].as_str().ok_or("data.id: expected the incident's id")?;
    let at = d["created_at"]
        .as_str()
        .or(ev["occurred_at"].as_str())
        .ok_or("expected created_at or occurred_at")?;
    let mut labels = std::collections::BTreeMap::new();
    labels.insert("alertname".to_string(), title.to_string());
    if let Some(s) = d["service"]["summary"].as_str() {
        labels.insert("service".to_string(), s.to_string());
    }
    let severity = d["urgency"].as_str().unwrap_or("high").to_string();
    let mut annotations = std::collections::BTreeMap::new();
    if let Some(u) = d["html_url"].as_str() {
        annotations.insert("url".to_string(), u.to_string());
    }
    Ok(Alert {
        source: "pagerduty".into(),
        name: title.to_string(),
        labels,
        annotations,
        severity,
        starts_at: Timestamp::parse_rfc3339(at).map_err(|e| format!("occurred_at: {e}"))?,
        fingerprint: id.to_string(),
    })
}

fn reply(status: StatusCode, body: Value) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from(body.to_string())));
    *r.status_mut() = status;
    r.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    r
}

async fn handle(intake: Arc<Intake>, req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = req.into_parts();
    let body = match Limited::new(body, MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            return Ok(reply(
                StatusCode::PAYLOAD_TOO_LARGE,
                json!({"error": "body over 1 MiB"}),
            ));
        }
    };
    let sig = parts.headers.get("x-pagerduty-signature").and_then(|v| v.to_str().ok());
    Ok(match (&parts.method, parts.uri.path()) {
        (&Method::GET, "/healthz") => reply(StatusCode::OK, json!({"status": "ok"})),
        (&Method::POST, "/alertmanager") => intake.alertmanager(&body),
        (&Method::POST, "/pagerduty") => intake.pagerduty(sig, &body),
        _ => reply(
            StatusCode::NOT_FOUND,
            json!({"error": "POST /alertmanager or /pagerduty"}),
        ),
    })
}

/// Serves until the task is dropped.
pub async fn serve(listener: TcpListener, intake: Arc<Intake>) -> std::io::Result<()> {
    loop {
        let (stream, peer) = listener.accept().await?;
        let intake = intake.clone();
        tokio::spawn(async move {
            let io = hyper_util::rt::TokioIo::new(stream);
            let svc = hyper::service::service_fn(move |req| handle(intake.clone(), req));
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(io, svc)
                .await
            {
                tracing::debug!(%peer, %e, "connection ended");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_checked_against_the_raw_body() {
        let body = br#"{"event":{"event_type":"incident.triggered"}}"#;
        let mut mac = Hmac::<Sha256>::new_from_slice(b"s3cret").unwrap();
        mac.update(body);
        let good: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
        assert!(signed(b"s3cret", &format!("v1={good}"), body));
        assert!(
            signed(b"s3cret", &format!("v1=00ff, v1={good}"), body),
            "any of several signatures"
        );
        assert!(!signed(b"other", &format!("v1={good}"), body));
        assert!(!signed(b"s3cret", &format!("v1={good}"), b"tampered"));
        assert!(!signed(b"s3cret", "v1=zz", body));
        assert!(!signed(b"s3cret", "", body));
    }
}
