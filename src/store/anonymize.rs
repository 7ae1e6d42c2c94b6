//! Turning what one store learned into patterns another can use without
//! learning a single name: a root cause's service becomes its role in the
//! alert's neighbourhood (derived from the alert's service label and the call
//! graph the investigation's traces revealed), and an alert's name keeps only
//! what no label, service or host of the store spells.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde_json::Value;

use crate::model::{Alert, EvidenceKind, InvestigationState};

/// Where a root cause sat relative to the alerting service.
pub const ROLES: &[&str] = &[
    "alerting-service",
    "callee",
    "callee-database",
    "caller",
    "downstream",
    "downstream-database",
    "upstream",
];

/// In words, for guidance lines.
pub fn role_phrase(role: &str) -> &'static str {
    match role {
        "alerting-service" => "the alerting service itself",
        "callee" => "a service the alerting service calls",
        "callee-database" => "a database behind the alerting service",
        "caller" => "a caller of the alerting service",
        "downstream" => "a service further downstream of the alerting service",
        "downstream-database" => "a database further downstream of the alerting service",
        "upstream" => "a service further upstream of the alerting service",
        _ => "another service",
    }
}

/// Who calls whom, as the spans of traces an investigation fetched show it.
#[derive(Default, Debug)]
pub struct Topology {
    /// caller → callees
    calls: BTreeMap<String, BTreeSet<String>>,
    /// Services whose spans look like database calls.
    databases: BTreeSet<String>,
}

impl Topology {
    /// The call graph from every trace (a list of spans) in the investigation's evidence.
    pub fn of(state: &InvestigationState) -> Topology {
        let mut t = Topology::default();
        for ev in state.evidence.values() {
            if ev.evidence.kind != EvidenceKind::Trace {
                continue;
            }
            // A body cut for size is no longer JSON: it reveals nothing.
            let Ok(Value::Array(spans)) = serde_json::from_str::<Value>(&ev.evidence.body) else {
                continue;
            };
            t.add_spans(&spans);
        }
        t
    }

    fn add_spans(&mut self, spans: &[Value]) {
        let field = |s: &Value, k: &str| s.get(k).and_then(Value::as_str).map(str::to_string);
        let service_of: BTreeMap<String, String> = spans
            .iter()
            .filter_map(|s| Some((field(s, "span_id")?, field(s, "service")?)))
            .collect();
        for s in spans {
            let (Some(service), name) = (field(s, "service"), field(s, "name").unwrap_or_default()) else {
                continue;
            };
            if looks_like_database(&service) || looks_like_database(&name) {
                self.databases.insert(service.clone());
            }
            if let Some(parent) = field(s, "parent_id").and_then(|p| service_of.get(&p))
                && *parent != service
            {
                self.calls.entry(parent.clone()).or_default().insert(service);
            }
        }
    }

    fn reaches(&self, from: &str, to: &str) -> Option<usize> {
        let mut seen = BTreeSet::from([from.to_string()]);
        let mut queue = VecDeque::from([(from.to_string(), 0usize)]);
        while let Some((s, d)) = queue.pop_front() {
            if s == to {
                return Some(d);
            }
            for next in self.calls.get(&s).into_iter().flatten() {
                if seen.insert(next.clone()) {
                    queue.push_back((next.clone(), d + 1));
                }
            }
        }
        None
    }

    /// The role of `service` for an alert on `alerting`, or `None` when the
    /// traces never connected the two (the item is dropped, not guessed).
    pub fn role(&self, alerting: &str, service: &str) -> Option<&'static str> {
        if service == alerting {
            return Some("alerting-service");
        }
        let db = self.databases.contains(service);
        match (self.reaches(alerting, service), self.reaches(service, alerting)) {
            (Some(1), _) if db => Some("callee-database"),
            (Some(1), _) => Some("callee"),
            (Some(_), _) if db => Some("downstream-database"),
            (Some(_), _) => Some("downstream"),
            (None, Some(1)) => Some("caller"),
            (None, Some(_)) => Some("upstream"),
            (None, None) => None,
        }
    }

    /// Every service the traces named.
    pub fn services(&self) -> impl Iterator<Item = &String> {
        self.calls.iter().flat_map(|(k, v)| std::iter::once(k).chain(v.iter()))
    }
}

fn looks_like_database(s: &str) -> bool {
    let s = s.to_ascii_lowercase();
    let words = [
        "postgres",
        "mysql",
        "mariadb",
        "sql",
        "redis",
        "mongo",
        "cassandra",
        "dynamo",
        "memcache",
    ];
    s.split(|c: char| !c.is_ascii_alphanumeric()).any(|w| w == "db") || words.iter().any(|w| s.contains(w))
}

/// The names a store must never give away: every label and annotation value
/// of its alerts, every service its investigations named, split into the
/// words they are made of as well.
#[derive(Default, Debug)]
pub struct Private {
    /// Lowercase alphanumeric forms, at least 3 characters.
    words: BTreeSet<String>,
}

impl Private {
    pub fn add(&mut self, name: &str) {
        let whole = squash(name);
        if whole.chars().count() >= 3 {
            self.words.insert(whole);
        }
        for part in name.split(|c: char| !c.is_ascii_alphanumeric()) {
            let p = part.to_ascii_lowercase();
            // Short numbers ("p99", a port's "443") say nothing of who you are.
            if p.len() >= 4 || (p.len() == 3 && !p.chars().all(|c| c.is_ascii_digit())) {
                self.words.insert(p);
            }
        }
    }

    /// An investigation's alert, the services it suspected and the services its traces named.
    pub fn add_investigation(&mut self, state: &InvestigationState, topology: &Topology) {
        self.add_alert(&state.alert);
        for rc in &state.root_causes {
            self.add(&rc.service);
        }
        for b in &state.branches {
            for (_, h) in &b.hypotheses {
                self.add(&h.service);
            }
        }
        for s in topology.services() {
            self.add(s);
        }
    }

    pub fn add_alert(&mut self, alert: &Alert) {
        for (k, v) in &alert.labels {
            if k != "alertname" {
                self.add(v);
            }
        }
        // Annotations are prose: the identifiers in it (a host, a pod, a URL,
        // an address: words with digits or inner punctuation) are private,
        // not every word of the sentence.
        for v in alert.annotations.values() {
            let v = v.trim_matches(|c: char| !c.is_ascii_alphanumeric());
            for word in v.split_whitespace() {
                let w = word.trim_matches(|c: char| !c.is_ascii_alphanumeric());
                if w.chars().any(|c| c.is_ascii_digit() || !c.is_ascii_alphanumeric()) {
                    self.add(w);
                }
            }
        }
    }

    /// Whether `s` spells any private word.
    pub fn leaks(&self, s: &str) -> bool {
        let s = squash(s);
        self.words.iter().any(|w| s.contains(w.as_str()))
    }
}

fn squash(s: &str) -> String {
    s.chars()
        .filter(char::is_ascii_alphanumeric)
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// An alert's name as a pattern: what its own service label spells becomes
/// `{service}`; `None` when anything else private is left or it holds more
/// than letters, digits, `_` and `-` (a host, an address, a URL).
pub fn alert_pattern(alert: &Alert, private: &Private) -> Option<String> {
    let mut name = alert.name.clone();
    if let Some(service) = alert.service() {
        name = replace_spelled(&name, service, "{service}");
    }
    let bare = name.replace("{service}", "");
    if name.is_empty() || name.len() > 128 || private.leaks(&bare) {
        return None;
    }
    bare.chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        .then_some(name)
}

/// `name` with every spelling of `word` (ignoring case and punctuation:
/// `checkout-api` in `CheckoutApiDown`) replaced by `with`.
fn replace_spelled(name: &str, word: &str, with: &str) -> String {
    let target = squash(word);
    if target.is_empty() {
        return name.to_string();
    }
    let chars: Vec<char> = name.chars().collect();
    let tchars: Vec<char> = target.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        // Match `target` from i, skipping punctuation inside the name.
        let mut j = i;
        let mut k = 0;
        while j < chars.len() && k < tchars.len() {
            let c = chars[j];
            if c.is_ascii_alphanumeric() {
                if c.to_ascii_lowercase() != tchars[k] {
                    break;
                }
                k += 1;
            } else if k == 0 {
                break;
            }
            j += 1;
        }
        if k == tchars.len() && chars[i].is_ascii_alphanumeric() {
            out.push_str(with);
            i = j;
        } else {
            out.push(chars[i]);
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(name: &str, service: &str) -> Alert {
        let json = format!(r#"{{"labels":{{"alertname":"{name}","service":"{service}"}}}}"#);
        Alert::from_json(&json, "test").unwrap()
    }

    #[test]
    fn an_alert_name_keeps_only_what_no_name_spells() {
        let mut p = Private::default();
        p.add("zorblax-checkout");
        p.add("ns-quuxprod");
        let a = alert("ZorblaxCheckoutLatencyHigh", "zorblax-checkout");
        assert_eq!(alert_pattern(&a, &p).as_deref(), Some("{service}LatencyHigh"));
        // Another private word left in the name: dropped, not guessed.
        let b = alert("QuuxprodDown", "zorblax-checkout");
        assert_eq!(alert_pattern(&b, &p), None);
        // An address or a host is never a pattern.
        let c = alert("Down10.1.2.3", "zorblax-checkout");
        assert_eq!(alert_pattern(&c, &p), None);
    }

    #[test]
    fn roles_come_from_the_call_graph_or_not_at_all() {
        let mut t = Topology::default();
        let spans: Vec<Value> = serde_json::from_str(
            r#"[{"span_id":"1","service":"front","name":"GET /"},
                {"span_id":"2","parent_id":"1","service":"checkout","name":"POST /buy"},
                {"span_id":"3","parent_id":"2","service":"orders","name":"rpc"},
                {"span_id":"4","parent_id":"3","service":"orders-db","name":"SELECT"}]"#,
        )
        .unwrap();
        t.add_spans(&spans);
        assert_eq!(t.role("checkout", "checkout"), Some("alerting-service"));
        assert_eq!(t.role("checkout", "orders"), Some("callee"));
        assert_eq!(t.role("checkout", "orders-db"), Some("downstream-database"));
        assert_eq!(t.role("checkout", "front"), Some("caller"));
        assert_eq!(t.role("orders", "orders-db"), Some("callee-database"));
        assert_eq!(t.role("checkout", "payments"), None);
    }
}
