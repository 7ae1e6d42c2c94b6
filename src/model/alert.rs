//! An alert as it arrives from Alertmanager, PagerDuty, a file or a scenario.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Timestamp;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    /// Where it came from: `scenario`, `alertmanager`, `pagerduty`, `file`.
    pub source: String,
    pub name: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    /// `page`, `ticket` or `info` (or whatever the source says).
    pub severity: String,
    pub starts_at: Timestamp,
    pub fingerprint: String,
}

impl Alert {
    /// The service the alert is about, by the usual label names.
    pub fn service(&self) -> Option<&str> {
        ["service", "app", "app.kubernetes.io/name", "job"]
            .iter()
            .find_map(|k| self.labels.get(*k).map(String::as_str))
    }
    pub fn summary(&self) -> Option<&str> {
        self.annotations
            .get("summary")
            .or_else(|| self.annotations.get("description"))
            .map(String::as_str)
    }
}
