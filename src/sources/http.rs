//! The HTTP side every real source shares: GET only, a timeout per request,
//! bounded retries with backoff and jitter for 5xx, 429 and connection errors,
//! and errors that name the endpoint.

use std::time::Duration;

use super::SourceError;
use crate::model::Timestamp;

#[derive(Clone, Debug)]
pub struct Http {
    client: reqwest::Client,
    timeout: Duration,
    attempts: u32,
    headers: Vec<(String, String)>,
}

pub fn backend_err(endpoint: &str, message: impl Into<String>) -> SourceError {
    SourceError::Backend {
        endpoint: endpoint.to_string(),
        message: message.into(),
    }
}

impl Http {
    pub fn new(timeout: Duration, ca_pem: Option<&[u8]>, headers: Vec<(String, String)>) -> Result<Http, String> {
        let mut b = reqwest::Client::builder()
            .timeout(timeout)
            .user_agent(concat!("inquest/", env!("CARGO_PKG_VERSION")));
        if let Some(pem) = ca_pem {
            b = b
                .add_root_certificate(reqwest::Certificate::from_pem(pem).map_err(|e| format!("CA certificate: {e}"))?);
        }
        Ok(Http {
            client: b.build().map_err(|e| format!("HTTP client: {e}"))?,
            timeout,
            attempts: 3,
            headers,
        })
    }

    pub fn with_attempts(mut self, n: u32) -> Http {
        self.attempts = n.max(1);
        self
    }

    /// GETs `url` and returns (status, body) of the first answer that is not worth retrying.
    pub async fn get(
        &self,
        url: &str,
        params: &[(&str, String)],
        auth: impl Fn(reqwest::RequestBuilder) -> reqwest::RequestBuilder,
    ) -> Result<(u16, String), SourceError> {
        let mut last = None;
        let mut unreachable = None;
        for attempt in 0..self.attempts {
            if attempt > 0 {
                let base = 200u64 << (attempt - 1).min(5);
                let jitter = (Timestamp::now().0 as u64 / 1000) % (base / 2 + 1);
                tokio::time::sleep(Duration::from_millis(base + jitter)).await;
            }
            let mut req = self.client.get(url).query(params);
            for (k, v) in &self.headers {
                req = req.header(k, v);
            }
            match auth(req).send().await {
                Ok(resp) => {
                    let status = resp.status().as_u16();
                    let body = resp
                        .text()
                        .await
                        .map_err(|e| backend_err(url, format!("reading the answer: {e}")))?;
                    if status == 429 || status >= 500 {
                        last = Some((status, body));
                        unreachable = None;
                        continue;
                    }
                    return Ok((status, body));
                }
                Err(e) if e.is_timeout() => {
                    return Err(backend_err(
                        url,
                        format!("timed out after {} ms", self.timeout.as_millis()),
                    ));
                }
                Err(e) => {
                    let mut msg = e.to_string();
                    let mut src = std::error::Error::source(&e);
                    while let Some(s) = src {
                        msg = format!("{msg}: {s}");
                        src = s.source();
                    }
                    // Unreachable now may be reachable in a moment (a restart, a blip).
                    unreachable = Some(backend_err(url, format!("unreachable: {msg}")));
                }
            }
        }
        if let Some(e) = unreachable {
            return Err(e);
        }
        match last {
            Some((status, body)) => Ok((status, body)),
            None => Err(backend_err(url, "no attempt made")),
        }
    }
}

/// The start of a body, for an error message (error bodies are often not JSON).
pub fn head(body: &str) -> String {
    let one: String = body.split_whitespace().collect::<Vec<_>>().join(" ");
    let cut: String = one.chars().take(160).collect();
    if one.chars().count() > 160 {
        format!("{cut}…")
    } else {
        cut
    }
}
