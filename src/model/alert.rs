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
    /// The service the alert is about, by the usual label names. An alert
    /// on a metric of an exporter (kube-state-metrics, node-exporter, the
    /// kubelet's cAdvisor) carries the exporter's own `job` and often its
    /// `service`: the workload it describes (`deployment`, `statefulset`,
    /// `daemonset`, `job_name`, `container`, or the pod's name without its
    /// generated suffixes) is what the alert is about.
    pub fn service(&self) -> Option<&str> {
        let named = |k: &str| {
            self.labels
                .get(k)
                .map(String::as_str)
                .filter(|v| !v.is_empty() && !is_exporter(v))
        };
        ["service", "app", "app.kubernetes.io/name"]
            .into_iter()
            .find_map(named)
            .or_else(|| {
                ["deployment", "statefulset", "daemonset", "job_name", "container"]
                    .into_iter()
                    .find_map(named)
            })
            .or_else(|| named("pod").map(workload_of_pod))
            .or_else(|| self.labels.get("job").map(String::as_str))
    }
    pub fn summary(&self) -> Option<&str> {
        self.annotations
            .get("summary")
            .or_else(|| self.annotations.get("description"))
            .map(String::as_str)
    }
}

/// Exporters whose series describe other workloads.
fn is_exporter(v: &str) -> bool {
    let v = v.to_ascii_lowercase();
    [
        "kube-state-metrics",
        "node-exporter",
        "node_exporter",
        "cadvisor",
        "blackbox-exporter",
    ]
    .iter()
    .any(|e| v.contains(e))
        || v == "kubelet"
        || v.ends_with("/kubelet")
}

/// `checkout-7d9f8b6c4-x2kqz` → `checkout`; `orders-db-0` → `orders-db`;
/// a name without generated suffixes stays as it is.
fn workload_of_pod(pod: &str) -> &str {
    let parts: Vec<&str> = pod.split('-').collect();
    let generated = |p: &str, n: std::ops::RangeInclusive<usize>| {
        n.contains(&p.len()) && p.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
    };
    let ordinal = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    let mut keep = parts.len();
    if keep >= 3 && generated(parts[keep - 1], 5..=5) && generated(parts[keep - 2], 8..=10) {
        keep -= 2; // a Deployment's ReplicaSet hash and the pod's own
    } else if keep >= 2 && (generated(parts[keep - 1], 5..=5) || ordinal(parts[keep - 1])) {
        keep -= 1; // a DaemonSet's or StatefulSet's pod
    }
    let len = parts[..keep].iter().map(|p| p.len()).sum::<usize>() + keep.saturating_sub(1);
    &pod[..len]
}

/// An alert as Alertmanager sends and serves it (webhook payloads and API v2).
#[derive(Deserialize)]
struct WireAlert {
    #[serde(default)]
    status: Option<serde_json::Value>,
    labels: BTreeMap<String, String>,
    #[serde(default)]
    annotations: BTreeMap<String, String>,
    /// Alertmanager takes a missing `startsAt` as now; so does inquest.
    #[serde(rename = "startsAt", default)]
    starts_at: Option<String>,
    #[serde(default)]
    fingerprint: Option<String>,
}

#[derive(Deserialize)]
struct Webhook {
    alerts: Vec<WireAlert>,
}

impl Alert {
    /// Reads an Alertmanager webhook payload (the first firing alert) or a
    /// single alert object. Errors say where in `text` and what was expected.
    pub fn from_json(text: &str, source: &str) -> Result<Alert, String> {
        // serde_json's messages end with " at line L column C"; the location goes first instead.
        let at = |e: &serde_json::Error| {
            let msg = e.to_string();
            let msg = msg.split(" at line ").next().unwrap_or_default().to_string();
            format!("line {} column {}: {msg}", e.line(), e.column())
        };
        let value: serde_json::Value = serde_json::from_str(text).map_err(|e| at(&e))?;
        // Parsed again from the text, typed, so a wrong field is reported at its line.
        let wire: WireAlert = if value.get("alerts").is_some() {
            let hook: Webhook = serde_json::from_str(text).map_err(|e| {
                format!(
                    "{}; expected an Alertmanager webhook payload {{\"alerts\": [...]}}",
                    at(&e)
                )
            })?;
            let firing = |a: &WireAlert| match &a.status {
                Some(serde_json::Value::String(s)) => s == "firing",
                Some(serde_json::Value::Object(o)) => o.get("state").and_then(|s| s.as_str()) == Some("active"),
                _ => true,
            };
            let mut alerts = hook.alerts;
            let i = alerts
                .iter()
                .position(firing)
                .ok_or("the payload has no firing alert")?;
            alerts.swap_remove(i)
        } else {
            serde_json::from_str(text).map_err(|e| {
                format!(
                    "{}; expected an alert {{\"labels\": {{...}}, \"annotations\": {{...}}}}",
                    at(&e)
                )
            })?
        };
        let starts_at = match &wire.starts_at {
            Some(t) => Timestamp::parse_rfc3339(t).map_err(|e| format!("startsAt: {e}"))?,
            None => Timestamp::now(),
        };
        let name = wire
            .labels
            .get("alertname")
            .cloned()
            .ok_or("labels: expected an `alertname` label")?;
        let severity = wire.labels.get("severity").cloned().unwrap_or_else(|| "page".into());
        let fingerprint = wire.fingerprint.unwrap_or_else(|| {
            // Alertmanager's own fingerprints are hashes of the label set; so is this one.
            let mut h: u64 = 0xcbf2_9ce4_8422_2325;
            for (k, v) in &wire.labels {
                for b in k.bytes().chain([0xff]).chain(v.bytes()).chain([0xff]) {
                    h ^= b as u64;
                    h = h.wrapping_mul(0x0000_0100_0000_01b3);
                }
            }
            format!("{h:016x}")
        });
        Ok(Alert {
            source: source.to_string(),
            name,
            labels: wire.labels,
            annotations: wire.annotations,
            severity,
            starts_at,
            fingerprint,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn webhook_payloads_and_single_alerts_are_read() {
        let hook = r#"{"version":"4","status":"firing","receiver":"inquest","groupKey":"{}:{}","alerts":[
            {"status":"resolved","labels":{"alertname":"Old"},"annotations":{},"startsAt":"2026-03-01T10:00:00Z"},
            {"status":"firing","labels":{"alertname":"CheckoutLatencyHigh","service":"checkout","severity":"page"},
             "annotations":{"summary":"p99 above 2s"},"startsAt":"2026-03-01T10:48:00Z","fingerprint":"abc123"}]}"#;
        let a = Alert::from_json(hook, "file").unwrap();
        assert_eq!(a.name, "CheckoutLatencyHigh");
        assert_eq!(a.service(), Some("checkout"));
        assert_eq!(a.fingerprint, "abc123");
        assert_eq!(a.starts_at, Timestamp::parse_rfc3339("2026-03-01T10:48:00Z").unwrap());
        let one = r#"{"labels":{"alertname":"DiskFull","service":"wiki-db"},"startsAt":"2026-03-01T10:48:00Z"}"#;
        let b = Alert::from_json(one, "file").unwrap();
        assert_eq!(b.severity, "page");
        assert_eq!(b.fingerprint.len(), 16);
    }

    #[test]
    fn an_alert_on_an_exporters_series_is_about_the_workload_it_describes() {
        let on = |labels: &[(&str, &str)]| Alert {
            labels: labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            ..Alert::from_json(r#"{"labels":{"alertname":"A"},"startsAt":"2026-03-01T10:48:00Z"}"#, "f").unwrap()
        };
        // kube-state-metrics through a ServiceMonitor: its own service and job.
        let ksm = on(&[
            ("job", "kube-state-metrics"),
            ("service", "prometheus-kube-state-metrics"),
            ("namespace", "shop"),
            ("pod", "checkout-7d9f8b6c4-x2kqz"),
            ("container", "checkout"),
        ]);
        assert_eq!(ksm.service(), Some("checkout"));
        let by_pod = on(&[("job", "kube-state-metrics"), ("pod", "checkout-7d9f8b6c4-x2kqz")]);
        assert_eq!(by_pod.service(), Some("checkout"));
        let sts = on(&[("job", "kubelet"), ("pod", "orders-db-0")]);
        assert_eq!(sts.service(), Some("orders-db"));
        let dep = on(&[("job", "kube-state-metrics"), ("deployment", "payments")]);
        assert_eq!(dep.service(), Some("payments"));
        // An application's own job, or nothing better, stays as it was.
        assert_eq!(on(&[("job", "checkout")]).service(), Some("checkout"));
        assert_eq!(
            on(&[("job", "kube-state-metrics")]).service(),
            Some("kube-state-metrics")
        );
        assert_eq!(on(&[("service", "web"), ("pod", "x-1")]).service(), Some("web"));
    }

    #[test]
    fn bad_alerts_say_where_and_what() {
        assert!(
            Alert::from_json("{\n  \"labels\": {,\n}", "f")
                .unwrap_err()
                .contains("line 2")
        );
        assert!(
            Alert::from_json(r#"{"labels":{"a":"b"},"startsAt":"2026-03-01T10:48:00Z"}"#, "f")
                .unwrap_err()
                .contains("alertname")
        );
        assert!(
            Alert::from_json(r#"{"labels":{"alertname":"x"},"startsAt":"yesterday"}"#, "f")
                .unwrap_err()
                .contains("startsAt")
        );
        let typed = Alert::from_json("{\"alerts\": [\n  {\"labels\": {\"alertname\": 3}}\n]}", "f").unwrap_err();
        assert!(typed.starts_with("line 2 column"), "{typed}");
        assert!(
            typed.contains("expected a string") && typed.contains("webhook"),
            "{typed}"
        );
        assert_eq!(typed.matches("line 2").count(), 1, "{typed}");
    }

    #[test]
    fn a_missing_starts_at_is_now() {
        let before = Timestamp::now();
        let a = Alert::from_json(r#"{"labels":{"alertname":"x"}}"#, "f").unwrap();
        assert!(a.starts_at >= before);
    }
}
