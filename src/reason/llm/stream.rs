//! The HTTP side of a streamed model turn: the POST with its retries (429
//! honours Retry-After; 5xx, timeouts and connection errors back off with
//! jitter) and the server-sent events that come back.

use std::time::Duration;

use serde_json::Value;

use super::provider::{Endpoint, LlmError};

/// A client for one endpoint: the timeout bounds the wait for each read of the stream.
pub(super) fn client(ep: &Endpoint) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .read_timeout(ep.timeout)
        .build()
        .map_err(|e| e.to_string())
}

/// POSTs `body` and gives back its event stream.
pub(super) async fn open(
    http: &reqwest::Client,
    ep: &Endpoint,
    url: &str,
    headers: &[(&str, String)],
    body: &Value,
) -> Result<Sse, LlmError> {
    Ok(Sse {
        resp: post(http, ep, url, headers, body).await?,
        buf: Vec::new(),
        url: url.to_string(),
    })
}

/// POSTs `body` without streaming and gives back the whole answer as JSON.
pub(super) async fn fetch_json(
    http: &reqwest::Client,
    ep: &Endpoint,
    url: &str,
    headers: &[(&str, String)],
    body: &Value,
) -> Result<Value, LlmError> {
    let resp = post(http, ep, url, headers, body).await?;
    let text = resp.text().await.map_err(|e| LlmError::Broken {
        endpoint: url.to_string(),
        message: format!("the answer broke off: {e}"),
    })?;
    serde_json::from_str(&text).map_err(|e| LlmError::Stream {
        endpoint: url.to_string(),
        message: format!(
            "an answer that is not JSON ({e}): {}",
            text.chars().take(120).collect::<String>()
        ),
    })
}

/// Sends `body`, retrying what is worth retrying; gives back the streaming response.
async fn post(
    http: &reqwest::Client,
    ep: &Endpoint,
    url: &str,
    headers: &[(&str, String)],
    body: &Value,
) -> Result<reqwest::Response, LlmError> {
    let mut last = None;
    for attempt in 0..ep.attempts.max(1) {
        let mut req = http
            .post(url)
            .header("content-type", "application/json")
            .body(body.to_string());
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        let wait_default = Duration::from_millis(300 << attempt.min(5));
        match req.send().await {
            Ok(resp) if resp.status().is_success() => return Ok(resp),
            Ok(resp) => {
                let status = resp.status().as_u16();
                let retry_after = resp
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<f64>().ok())
                    .map(|s| Duration::from_secs_f64(s.clamp(0.0, 60.0)));
                let message: String = resp.text().await.unwrap_or_default().chars().take(300).collect();
                // A refused request feature is answered at once, not retried as it stands.
                let refusal = !super::compat::names(&message).is_empty();
                let err = LlmError::Http {
                    endpoint: url.to_string(),
                    status,
                    message,
                };
                if (status == 429 || status >= 500) && !refusal {
                    last = Some(err);
                    if attempt + 1 < ep.attempts {
                        // Honour Retry-After; otherwise back off with jitter.
                        let jitter = Duration::from_millis(crate::model::Timestamp::now().0 as u64 % 97);
                        tokio::time::sleep(retry_after.unwrap_or(wait_default) + jitter).await;
                    }
                    continue;
                }
                return Err(err);
            }
            Err(e) if e.is_timeout() => {
                last = Some(LlmError::Timeout {
                    endpoint: url.to_string(),
                    ms: ep.timeout.as_millis() as u64,
                });
                tokio::time::sleep(wait_default).await;
            }
            Err(e) => {
                last = Some(LlmError::Stream {
                    endpoint: url.to_string(),
                    message: format!("unreachable: {e}"),
                });
                tokio::time::sleep(wait_default).await;
            }
        }
    }
    Err(last.unwrap_or(LlmError::Stream {
        endpoint: url.to_string(),
        message: "no attempt made".into(),
    }))
}

/// Server-sent events from a streaming response: (event name, data).
pub(super) struct Sse {
    resp: reqwest::Response,
    buf: Vec<u8>,
    url: String,
}

impl Sse {
    pub(super) async fn next(&mut self) -> Result<Option<(String, String)>, LlmError> {
        let mut event = String::new();
        let mut data = String::new();
        loop {
            while let Some(pos) = self.buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=pos).collect();
                let line = String::from_utf8_lossy(&line);
                let line = line.trim_end_matches(['\n', '\r']);
                if line.is_empty() {
                    if !data.is_empty() || !event.is_empty() {
                        return Ok(Some((std::mem::take(&mut event), std::mem::take(&mut data))));
                    }
                    continue;
                }
                if let Some(v) = line.strip_prefix("data:") {
                    if !data.is_empty() {
                        data.push('\n');
                    }
                    data.push_str(v.strip_prefix(' ').unwrap_or(v));
                } else if let Some(v) = line.strip_prefix("event:") {
                    event = v.trim().to_string();
                }
            }
            match self.resp.chunk().await {
                Ok(Some(bytes)) => self.buf.extend_from_slice(&bytes),
                Ok(None) => {
                    return Ok((!data.is_empty()).then_some((event, data)));
                }
                Err(e) => {
                    return Err(LlmError::Broken {
                        endpoint: self.url.clone(),
                        message: format!("the stream broke: {e}"),
                    });
                }
            }
        }
    }
}
