//! What each route reads: an Alertmanager webhook payload or a PagerDuty
//! webhook v3 event, turned into alerts or a one-line reason why not.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::model::{Alert, Timestamp};

/// The alerts of a request, and the reasons some of them could not be read.
#[derive(Debug, Default)]
pub struct Parsed {
    pub alerts: Vec<Alert>,
    /// Alerts sent but not firing (resolved), which start nothing.
    pub resolved: usize,
    pub errors: Vec<String>,
}

/// A request that is not what the route reads; answered 400 with this line.
#[derive(Debug, PartialEq)]
pub struct Malformed(pub String);

/// The firing alerts of an Alertmanager webhook payload. Alerts that cannot
/// be read are reported and the rest still count.
pub fn alertmanager(body: &[u8], max_alerts: usize) -> Result<Result<Parsed, usize>, Malformed> {
    let v: Value = serde_json::from_slice(body).map_err(|e| {
        Malformed(format!(
            "expected an Alertmanager webhook payload (JSON): line {} column {}",
            e.line(),
            e.column()
        ))
    })?;
    let Some(list) = v.get("alerts").and_then(Value::as_array) else {
        return Err(Malformed("expected {\"alerts\": [...]}".into()));
    };
    if list.len() > max_alerts {
        return Ok(Err(list.len()));
    }
    let mut parsed = Parsed::default();
    for (i, a) in list.iter().enumerate() {
        if a.get("status").and_then(Value::as_str) == Some("resolved") {
            parsed.resolved += 1;
            continue;
        }
        match Alert::from_json(&a.to_string(), "alertmanager") {
            Ok(alert) => parsed.alerts.push(alert),
            Err(e) => parsed.errors.push(format!("alerts[{i}]: {e}")),
        }
    }
    if parsed.alerts.is_empty() && !parsed.errors.is_empty() {
        return Err(Malformed(parsed.errors.swap_remove(0)));
    }
    Ok(Ok(parsed))
}

/// What a PagerDuty webhook says.
#[derive(Debug)]
pub enum PagerDuty {
    Triggered(Alert),
    /// Another event type, acknowledged and ignored.
    Ignored(Value),
}

pub fn pagerduty(body: &[u8]) -> Result<PagerDuty, Malformed> {
    let v: Value =
        serde_json::from_slice(body).map_err(|_| Malformed("expected a PagerDuty webhook v3 event (JSON)".into()))?;
    let ev = &v["event"];
    if ev["event_type"] != "incident.triggered" {
        return Ok(PagerDuty::Ignored(ev["event_type"].clone()));
    }
    pagerduty_alert(ev).map(PagerDuty::Triggered).map_err(Malformed)
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
    let mut labels = BTreeMap::new();
    labels.insert("alertname".to_string(), title.to_string());
    if let Some(s) = d["service"]["summary"].as_str() {
        labels.insert("service".to_string(), s.to_string());
    }
    let severity = d["urgency"].as_str().unwrap_or("high").to_string();
    let mut annotations = BTreeMap::new();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_webhook_payload_gives_its_firing_alerts() {
        let body = br#"{"alerts":[
            {"status":"firing","labels":{"alertname":"A"},"startsAt":"2026-03-01T10:00:00Z","fingerprint":"f1"},
            {"status":"resolved","labels":{"alertname":"B"},"startsAt":"2026-03-01T10:00:00Z"},
            {"status":"firing","labels":{"nope":"x"}}]}"#;
        let p = alertmanager(body, 10).unwrap().unwrap();
        assert_eq!(p.alerts.len(), 1);
        assert_eq!(p.resolved, 1);
        assert!(p.errors[0].starts_with("alerts[2]: ") && p.errors[0].contains("alertname"));
        assert_eq!(alertmanager(body, 2).unwrap().unwrap_err(), 3, "over the cap");
        assert!(alertmanager(b"nope", 10).unwrap_err().0.contains("line 1 column 2"));
        assert!(alertmanager(b"{}", 10).unwrap_err().0.contains("alerts"));
    }
}
