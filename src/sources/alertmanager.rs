//! Alertmanager's API v2: the alerts firing now.

use std::time::Duration;

use serde_json::Value;

use super::SourceError;
use crate::model::Alert;

pub struct Alertmanager {
    url: String,
    http: reqwest::Client,
}

impl Alertmanager {
    pub fn new(url: &str, timeout: Duration) -> Result<Alertmanager, String> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| format!("HTTP client: {e}"))?;
        Ok(Alertmanager {
            url: url.trim_end_matches('/').to_string(),
            http,
        })
    }

    /// Active alerts, neither silenced nor inhibited.
    pub async fn alerts(&self) -> Result<Vec<Alert>, SourceError> {
        let endpoint = format!("{}/api/v2/alerts", self.url);
        let err = |m: String| SourceError::Backend {
            endpoint: endpoint.clone(),
            message: m,
        };
        let resp = self
            .http
            .get(&endpoint)
            .query(&[("active", "true"), ("silenced", "false"), ("inhibited", "false")])
            .send()
            .await
            .map_err(|e| {
                err(if e.is_timeout() {
                    "timed out".into()
                } else {
                    format!("unreachable: {e}")
                })
            })?;
        let status = resp.status().as_u16();
        let body = resp.text().await.map_err(|e| err(format!("reading the answer: {e}")))?;
        if status != 200 {
            return Err(err(format!(
                "HTTP {status}: {}",
                body.chars().take(200).collect::<String>()
            )));
        }
        let items: Vec<Value> =
            serde_json::from_str(&body).map_err(|e| err(format!("expected a JSON array of alerts: {e}")))?;
        items
            .iter()
            .map(|v| Alert::from_json(&v.to_string(), "alertmanager").map_err(&err))
            .collect()
    }
}
