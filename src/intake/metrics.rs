//! The server's own health in Prometheus' text format (`GET /metrics`).

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// Why alerts or requests were turned away; one label value each.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reason {
    /// Not JSON, or not the shape the route expects.
    Malformed,
    /// More alerts in one request than `max_alerts_per_request`.
    TooMany,
    /// The queue is at `max_queue`.
    QueueFull,
    /// The store could not take them.
    StoreUnavailable,
    /// No or a wrong bearer token, or a bad PagerDuty signature.
    Unauthorized,
    /// The body is over `max_body_bytes`.
    TooLarge,
    /// The body did not arrive within `body_timeout`.
    Timeout,
}

const REASONS: [Reason; 7] = [
    Reason::Malformed,
    Reason::TooMany,
    Reason::QueueFull,
    Reason::StoreUnavailable,
    Reason::Unauthorized,
    Reason::TooLarge,
    Reason::Timeout,
];

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Malformed => "malformed",
            Reason::TooMany => "too_many",
            Reason::QueueFull => "queue_full",
            Reason::StoreUnavailable => "store_unavailable",
            Reason::Unauthorized => "unauthorized",
            Reason::TooLarge => "too_large",
            Reason::Timeout => "timeout",
        }
    }
    fn index(self) -> usize {
        REASONS.iter().position(|r| *r == self).unwrap_or(0)
    }
}

/// The API's routes, one label value each.
const ROUTES: [&str; 9] = [
    "list", "start", "get", "events", "commands", "feedback", "report", "changes", "other",
];

/// The route label of an API request.
fn route(method: &hyper::Method, path: &str) -> usize {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let name = match (segments.as_slice(), method == hyper::Method::POST) {
        (["v1", "investigations"], false) => "list",
        (["v1", "investigations"], true) => "start",
        (["v1", "investigations", _], false) => "get",
        (["v1", "investigations", _, "events"], _) => "events",
        (["v1", "investigations", _, "commands"], _) => "commands",
        (["v1", "investigations", _, "feedback"], _) => "feedback",
        (["v1", "investigations", _, "report"], _) => "report",
        (["v1", "changes"], _) => "changes",
        _ => "other",
    };
    ROUTES.iter().position(|r| *r == name).unwrap_or(ROUTES.len() - 1)
}

/// Upper bounds (seconds) of the investigation duration histogram.
const BUCKETS: [f64; 10] = [1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0];

#[derive(Default)]
pub struct Metrics {
    pub received: AtomicU64,
    pub accepted: AtomicU64,
    pub deduplicated: AtomicU64,
    alerts_rejected: [AtomicU64; REASONS.len()],
    requests_refused: [AtomicU64; REASONS.len()],
    pub running: AtomicU64,
    pub connections: AtomicU64,
    pub done: AtomicU64,
    pub failed: AtomicU64,
    pub interrupted: AtomicU64,
    buckets: [AtomicU64; BUCKETS.len()],
    duration_count: AtomicU64,
    duration_micros: AtomicU64,
    api_requests: [AtomicU64; ROUTES.len()],
}

impl Metrics {
    /// `n` alerts turned away for `why`.
    pub fn reject_alerts(&self, why: Reason, n: usize) {
        self.alerts_rejected[why.index()].fetch_add(n as u64, Relaxed);
    }
    /// An authenticated request to the investigations API.
    pub fn api_request(&self, method: &hyper::Method, path: &str) {
        self.api_requests[route(method, path)].fetch_add(1, Relaxed);
    }
    /// A request turned away before its alerts were read.
    pub fn refuse_request(&self, why: Reason) {
        self.requests_refused[why.index()].fetch_add(1, Relaxed);
    }
    pub fn observe_duration(&self, d: Duration) {
        let secs = d.as_secs_f64();
        for (i, le) in BUCKETS.iter().enumerate() {
            if secs <= *le {
                self.buckets[i].fetch_add(1, Relaxed);
            }
        }
        self.duration_count.fetch_add(1, Relaxed);
        self.duration_micros.fetch_add(d.as_micros() as u64, Relaxed);
    }

    /// The exposition, with the queue length read by the caller from the store.
    /// The exposition; `live` is the investigations the API follows now.
    pub fn render(&self, queue_len: Option<usize>, live: usize) -> String {
        let mut o = String::with_capacity(4096);
        let mut counter = |name: &str, help: &str, v: u64| {
            let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {v}");
        };
        counter(
            "inquest_intake_alerts_received_total",
            "Alerts received in requests.",
            self.received.load(Relaxed),
        );
        counter(
            "inquest_intake_alerts_accepted_total",
            "Alerts stored in the intake queue.",
            self.accepted.load(Relaxed),
        );
        counter(
            "inquest_intake_alerts_deduplicated_total",
            "Alerts already seen (by fingerprint and start, or PagerDuty incident id).",
            self.deduplicated.load(Relaxed),
        );
        let labelled = |o: &mut String, name: &str, help: &str, values: &[AtomicU64; REASONS.len()]| {
            let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} counter");
            for r in REASONS {
                let _ = writeln!(
                    o,
                    "{name}{{reason=\"{}\"}} {}",
                    r.as_str(),
                    values[r.index()].load(Relaxed)
                );
            }
        };
        labelled(
            &mut o,
            "inquest_intake_alerts_rejected_total",
            "Alerts turned away, by reason.",
            &self.alerts_rejected,
        );
        labelled(
            &mut o,
            "inquest_intake_requests_refused_total",
            "Requests turned away before their alerts were read, by reason.",
            &self.requests_refused,
        );
        let gauge = |o: &mut String, name: &str, help: &str, v: u64| {
            let _ = writeln!(o, "# HELP {name} {help}\n# TYPE {name} gauge\n{name} {v}");
        };
        if let Some(q) = queue_len {
            gauge(
                &mut o,
                "inquest_intake_queue_length",
                "Alerts waiting for a worker.",
                q as u64,
            );
        }
        gauge(
            &mut o,
            "inquest_investigations_running",
            "Investigations running now.",
            self.running.load(Relaxed),
        );
        gauge(
            &mut o,
            "inquest_http_connections_open",
            "Open client connections.",
            self.connections.load(Relaxed),
        );
        gauge(
            &mut o,
            "inquest_api_investigations_live",
            "Investigations running or followed while queued, as the API sees them.",
            live as u64,
        );
        let name = "inquest_api_requests_total";
        let _ = writeln!(
            o,
            "# HELP {name} Authenticated requests to /v1/investigations, by route.\n# TYPE {name} counter"
        );
        for (i, r) in ROUTES.iter().enumerate() {
            let _ = writeln!(o, "{name}{{route=\"{r}\"}} {}", self.api_requests[i].load(Relaxed));
        }
        let name = "inquest_investigations_finished_total";
        let _ = writeln!(
            o,
            "# HELP {name} Investigations that ended, by outcome.\n# TYPE {name} counter"
        );
        for (outcome, v) in [
            ("done", &self.done),
            ("failed", &self.failed),
            ("interrupted", &self.interrupted),
        ] {
            let _ = writeln!(o, "{name}{{outcome=\"{outcome}\"}} {}", v.load(Relaxed));
        }
        let name = "inquest_investigation_duration_seconds";
        let _ = writeln!(
            o,
            "# HELP {name} Wall time of investigations run by this server.\n# TYPE {name} histogram"
        );
        for (le, n) in BUCKETS.iter().zip(&self.buckets) {
            let _ = writeln!(o, "{name}_bucket{{le=\"{le}\"}} {}", n.load(Relaxed));
        }
        let count = self.duration_count.load(Relaxed);
        let _ = writeln!(o, "{name}_bucket{{le=\"+Inf\"}} {count}");
        let _ = writeln!(o, "{name}_sum {}", self.duration_micros.load(Relaxed) as f64 / 1e6);
        let _ = writeln!(o, "{name}_count {count}");
        o
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exposition_counts_by_reason_and_bucket() {
        let m = Metrics::default();
        m.received.fetch_add(3, Relaxed);
        m.reject_alerts(Reason::QueueFull, 2);
        m.observe_duration(Duration::from_millis(1500));
        m.api_request(&hyper::Method::GET, "/v1/investigations/abcd/events");
        let text = m.render(Some(7), 1);
        assert!(
            text.contains("inquest_api_requests_total{route=\"events\"} 1\n"),
            "{text}"
        );
        assert!(
            text.contains("inquest_api_requests_total{route=\"list\"} 0\n"),
            "{text}"
        );
        assert!(text.contains("inquest_intake_alerts_received_total 3\n"), "{text}");
        assert!(text.contains("inquest_intake_alerts_rejected_total{reason=\"queue_full\"} 2\n"));
        assert!(text.contains("inquest_intake_queue_length 7\n"));
        assert!(text.contains("inquest_investigation_duration_seconds_bucket{le=\"1\"} 0\n"));
        assert!(text.contains("inquest_investigation_duration_seconds_bucket{le=\"2.5\"} 1\n"));
        assert!(text.contains("inquest_investigation_duration_seconds_count 1\n"));
    }
}
