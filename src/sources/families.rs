//! Metric families: the reasoner asks in OpenTelemetry names and inquest's
//! labels (`http_server_request_duration_seconds`, `service`, `peer_service`,
//! `error_type`); a stack may speak another convention. A profile says, per
//! family, which metrics and labels the stack uses instead, which matchers
//! select the right view (Istio's `reporter`), the unit of its buckets, and
//! how its label values map to inquest's (exception class names → classes).
//! src/sources/rewrite.rs applies it to queries and results.

use std::collections::{BTreeMap, BTreeSet};

use crate::config::families::{FamiliesTable, FamilyOverride, Profile, Unit};

/// The histogram families of HTTP traffic the reasoner reads.
pub const HTTP_SERVER: &str = "http_server_request_duration_seconds";
pub const HTTP_CLIENT: &str = "http_client_request_duration_seconds";

/// How a label's values in the stack map to inquest's.
#[derive(Clone, Debug, PartialEq)]
pub struct Values {
    /// inquest's label name.
    pub label: String,
    /// Stack values that mean "no value" for inquest (a regex), e.g. Istio's `-`.
    pub empty: Option<String>,
    /// inquest's value → a regex of the stack's values that mean it.
    pub classes: Vec<(String, String)>,
}

impl Values {
    /// inquest's value for a stack's, as the query's `label_replace` steps give it
    /// (Prometheus anchors the regexes): `""` for an empty one, the raw value when no class matches.
    pub fn class_of(&self, raw: &str) -> String {
        let full = |re: &str| regex::Regex::new(&format!("^(?:{re})$")).is_ok_and(|r| r.is_match(raw));
        let mut out = raw.to_string();
        if self.empty.as_deref().is_some_and(full) {
            out.clear();
        }
        for (class, re) in &self.classes {
            if full(re) {
                out = class.clone();
            }
        }
        out
    }
}

/// One family: inquest's metric names mapped to the stack's, with the labels,
/// matchers, unit and values that go with them.
#[derive(Clone, Debug, PartialEq)]
pub struct Family {
    /// `http_server`, `http_client`, or the metric name for a plain metric.
    pub key: String,
    /// inquest's full metric name → the stack's.
    pub names: Vec<(String, String)>,
    /// inquest's label name → the stack's, for this family.
    pub labels: BTreeMap<String, String>,
    /// Equality matchers added to each selector (stack names).
    pub matchers: Vec<(String, String)>,
    /// Stack units per second in `_bucket` bounds and `_sum` (1000 for milliseconds).
    pub scale: f64,
    pub values: Vec<Values>,
}

impl Family {
    fn histogram(key: &str, canon: &str, count: &str, bucket: &str, sum: &str) -> Family {
        Family {
            key: key.to_string(),
            names: vec![
                (format!("{canon}_count"), count.to_string()),
                (format!("{canon}_bucket"), bucket.to_string()),
                (format!("{canon}_sum"), sum.to_string()),
            ],
            labels: BTreeMap::new(),
            matchers: Vec::new(),
            scale: 1.0,
            values: Vec::new(),
        }
    }

    fn otel(key: &str, canon: &str) -> Family {
        Family::histogram(
            key,
            canon,
            &format!("{canon}_count"),
            &format!("{canon}_bucket"),
            &format!("{canon}_sum"),
        )
    }

    fn labels(mut self, pairs: &[(&str, &str)]) -> Family {
        self.labels = pairs.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect();
        self
    }

    fn matcher(mut self, name: &str, value: &str) -> Family {
        self.matchers.push((name.to_string(), value.to_string()));
        self
    }

    /// The stack's name for one of inquest's metric names.
    pub fn stack_name(&self, canon: &str) -> Option<&str> {
        self.names.iter().find(|(c, _)| c == canon).map(|(_, s)| s.as_str())
    }

    /// Whether inquest's `canon` is a bucket or sum in the stack's unit.
    pub fn scaled(&self, canon: &str) -> bool {
        self.scale != 1.0 && (canon.ends_with("_bucket") || canon.ends_with("_sum"))
    }
}

/// Exception class names (Python, Java, Go, .NET, Node) and inquest's own
/// values, by the class inquest reads them as. A fully qualified name
/// (`requests.exceptions.ReadTimeout`) matches by its last part.
pub const ERROR_CLASSES: &[(&str, &[&str])] = &[
    (
        "connection_refused",
        &[
            "ConnectionRefusedError",
            "ConnectionResetError",
            "ConnectException",
            "ConnectionRefused",
            "ECONNREFUSED",
            "ECONNRESET",
            "connection_refused",
        ],
    ),
    (
        "timeout",
        &[
            "TimeoutError",
            "Timeout",
            "ReadTimeout",
            "ConnectTimeout",
            "ReadTimeoutError",
            "ConnectTimeoutError",
            "DeadlineExceeded",
            "DEADLINE_EXCEEDED",
            "SocketTimeoutException",
            "TimeoutException",
            "HttpTimeoutException",
            "TaskCanceledException",
            "ETIMEDOUT",
            "timeout",
        ],
    ),
    (
        "tls_error",
        &[
            "SSLError",
            "SSLCertVerificationError",
            "CertificateError",
            "SSLHandshakeException",
            "CertificateExpiredException",
            "CertPathValidatorException",
            "AuthenticationException",
            "CERT_HAS_EXPIRED",
            "tls_error",
        ],
    ),
    (
        "dns_error",
        &[
            "gaierror",
            "NameResolutionError",
            "UnknownHostException",
            "ENOTFOUND",
            "EAI_AGAIN",
            "dns_error",
        ],
    ),
    ("other", &["_OTHER"]),
];

/// Envoy's response flags (Istio's `response_flags`) by the class inquest reads
/// them as: UF upstream connection failure, UH no healthy upstream, URX retries
/// or connects exhausted, UC upstream connection termination, UT upstream
/// request timeout, DF DNS resolution failure.
const ENVOY_FLAGS: &[(&str, &str)] = &[
    ("connection_refused", "(.*,)?(UF|UH|URX|UC)(,.*)?"),
    ("timeout", "(.*,)?UT(,.*)?"),
    ("dns_error", "(.*,)?DF(,.*)?"),
];

/// Stock OpenTelemetry's `error.type` values as inquest's transport failure classes.
fn otel_error_type() -> Values {
    Values {
        label: "error_type".into(),
        // An HTTP status code in `error.type` is an answered call, not a transport failure.
        empty: Some("[0-9]{3}".into()),
        classes: ERROR_CLASSES
            .iter()
            .map(|(class, names)| (class.to_string(), format!("(.*[.:$])?({})", names.join("|"))))
            .collect(),
    }
}

/// A profile's HTTP families.
pub fn profile(p: Profile) -> Vec<Family> {
    let client = Family::otel("http_client", HTTP_CLIENT);
    let client = Family {
        values: vec![otel_error_type()],
        ..client
    };
    match p {
        Profile::Otel | Profile::Auto => vec![Family::otel("http_server", HTTP_SERVER), client],
        Profile::Classic => vec![
            Family::histogram(
                "http_server",
                HTTP_SERVER,
                "http_requests_total",
                "http_request_duration_seconds_bucket",
                "http_request_duration_seconds_sum",
            )
            .labels(&[
                ("service", "job"),
                ("http_response_status_code", "code"),
                ("http_route", "handler"),
                ("http_request_method", "method"),
            ]),
            // Classic client libraries have no standard client family; OTel's is read if present.
            client,
        ],
        Profile::Istio => {
            let h = |key: &str, canon: &str| {
                let mut f = Family::histogram(
                    key,
                    canon,
                    "istio_requests_total",
                    "istio_request_duration_milliseconds_bucket",
                    "istio_request_duration_milliseconds_sum",
                );
                f.scale = 1000.0;
                f
            };
            let mut client = h("http_client", HTTP_CLIENT)
                .labels(&[
                    ("service", "source_workload"),
                    ("peer_service", "destination_workload"),
                    ("http_response_status_code", "response_code"),
                    ("error_type", "response_flags"),
                ])
                .matcher("reporter", "source");
            client.values = vec![Values {
                label: "error_type".into(),
                empty: Some("-".into()),
                classes: ENVOY_FLAGS
                    .iter()
                    .map(|(c, r)| (c.to_string(), r.to_string()))
                    .collect(),
            }];
            vec![
                h("http_server", HTTP_SERVER)
                    .labels(&[
                        ("service", "destination_workload"),
                        ("http_response_status_code", "response_code"),
                    ])
                    .matcher("reporter", "destination"),
                client,
            ]
        }
        Profile::Nginx => {
            let h = |key: &str, canon: &str| {
                Family::histogram(
                    key,
                    canon,
                    "nginx_ingress_controller_requests",
                    "nginx_ingress_controller_request_duration_seconds_bucket",
                    "nginx_ingress_controller_request_duration_seconds_sum",
                )
            };
            vec![
                // The backend's answers as the ingress sees them: the closest thing to its own metrics.
                h("http_server", HTTP_SERVER).labels(&[("http_response_status_code", "status")]),
                // The ingress as the caller of each backend service.
                h("http_client", HTTP_CLIENT).labels(&[
                    ("service", "ingress"),
                    ("peer_service", "service"),
                    ("http_response_status_code", "status"),
                ]),
            ]
        }
    }
}

/// Where a call's peer is named when the stack has no `peer_service`.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Peers {
    /// The stack's label holding the peer's host (`server_address`).
    pub label: Option<String>,
    /// The stack's label holding its port (`server_port`), if separate.
    pub port: Option<String>,
    /// `host:port` or `host` → service, from config.
    pub table: BTreeMap<String, String>,
    /// host → service, from the scrape targets (`up`'s instance → job).
    pub discovered: BTreeMap<String, String>,
}

impl Peers {
    /// `(regex, replacement)` steps over `peer_service:host:port` (anchored, in
    /// order, the last match winning), each matching only where the stack gave
    /// no peer (the joined value then starts with ':'): a host as it is, a
    /// Kubernetes Service DNS name as the Service, then the scrape targets' and
    /// the table's addresses.
    pub fn rules(&self) -> Vec<(String, String)> {
        let any_port = "(:[0-9]*)?:?";
        let mut out = vec![
            (format!(":\\[?([^:\\]]+)\\]?{any_port}"), "$1".to_string()),
            (
                format!(
                    ":([a-z0-9]([-a-z0-9]*[a-z0-9])?)\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?\\.svc(\\.cluster\\.local)?\\.?{any_port}"
                ),
                "$1".to_string(),
            ),
        ];
        for (addr, svc) in self.discovered.iter().chain(self.table.iter()) {
            let re = match addr.rsplit_once(':') {
                Some((h, port)) if port.chars().all(|c| c.is_ascii_digit()) && !h.contains(':') => {
                    format!(":{}:{port}:?", regex::escape(h))
                }
                _ => format!(":{}{any_port}", regex::escape(addr)),
            };
            out.push((re, svc.clone()));
        }
        out
    }

    /// The service a call's peer is, from its labels (the stack's names), as the rules read it.
    pub fn name(&self, peer: &str, host: &str, port: &str) -> Option<String> {
        let joined = format!("{peer}:{host}:{port}");
        let mut out = None;
        for (re, repl) in self.rules() {
            if let Ok(r) = regex::Regex::new(&format!("^(?:{re})$"))
                && let Some(c) = r.captures(&joined)
            {
                let mut s = String::new();
                c.expand(&repl, &mut s);
                out = Some(s);
            }
        }
        out
    }
}

/// The mapping in force: the profile (never `auto` once resolved) and its families.
#[derive(Clone, Debug, PartialEq)]
pub struct Families {
    pub profile: Profile,
    pub list: Vec<Family>,
    pub peers: Peers,
    /// Why this profile: `configured`, or what `auto` saw.
    pub reason: String,
}

impl Default for Families {
    fn default() -> Self {
        Families {
            profile: Profile::Otel,
            list: profile(Profile::Otel),
            peers: Peers::default(),
            reason: "configured".into(),
        }
    }
}

impl Families {
    /// A profile with the config's overrides and peers table over it.
    pub fn new(
        p: Profile,
        t: &FamiliesTable,
        peers: &BTreeMap<String, String>,
        reason: &str,
    ) -> Result<Families, String> {
        let mut list = profile(p);
        for (key, o) in t.overrides() {
            apply(&mut list, key, o)?;
        }
        let label = t
            .peer_label
            .clone()
            .or_else(|| (!peers.is_empty()).then(|| "server_address".to_string()));
        // The port beside the host, in the current and the older semantic conventions.
        let port = match label.as_deref() {
            Some("server_address") => Some("server_port".to_string()),
            Some("net_peer_name") => Some("net_peer_port".to_string()),
            _ => None,
        };
        Ok(Families {
            profile: p,
            list,
            peers: Peers {
                label,
                port,
                table: peers.clone(),
                discovered: BTreeMap::new(),
            },
            reason: reason.to_string(),
        })
    }

    /// The family a metric of inquest's belongs to.
    pub fn of(&self, canon: &str) -> Option<usize> {
        self.list.iter().position(|f| f.stack_name(canon).is_some())
    }

    /// inquest's metric name for a stack's, when a family renames it.
    pub fn canon_name(&self, stack: &str) -> Option<&str> {
        self.list
            .iter()
            .flat_map(|f| f.names.iter())
            .find(|(c, s)| s == stack && c != s)
            .map(|(c, _)| c.as_str())
    }
}

fn apply(list: &mut Vec<Family>, key: &str, o: &FamilyOverride) -> Result<(), String> {
    let canon = match key {
        "http_server" => Some(HTTP_SERVER),
        "http_client" => Some(HTTP_CLIENT),
        _ => None,
    };
    let i = match list.iter().position(|f| f.key == key) {
        Some(i) => i,
        None => {
            if o.bucket.is_some() || o.sum.is_some() {
                return Err(format!(
                    "[sources.prometheus.families] {key}: bucket and sum are for http_server and http_client; \
                     a plain metric takes count (its name in the stack)"
                ));
            }
            list.push(Family {
                key: key.to_string(),
                names: vec![(key.to_string(), key.to_string())],
                labels: BTreeMap::new(),
                matchers: Vec::new(),
                scale: 1.0,
                values: Vec::new(),
            });
            list.len() - 1
        }
    };
    let f = &mut list[i];
    let set = |f: &mut Family, suffix: &str, v: &Option<String>| {
        if let Some(v) = v {
            let c = canon.map(|c| format!("{c}{suffix}")).unwrap_or_else(|| key.to_string());
            match f.names.iter_mut().find(|(n, _)| *n == c) {
                Some(x) => x.1 = v.clone(),
                None => f.names.push((c, v.clone())),
            }
        }
    };
    set(f, "_count", &o.count);
    set(f, "_bucket", &o.bucket);
    set(f, "_sum", &o.sum);
    for name in f
        .names
        .iter()
        .map(|(_, s)| s)
        .chain(o.labels.values())
        .chain(o.matchers.keys())
    {
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
            return Err(format!(
                "[sources.prometheus.families] {key}: {name:?} is not a metric or label name"
            ));
        }
    }
    f.labels.extend(o.labels.clone());
    for (k, v) in &o.matchers {
        f.matchers.retain(|(n, _)| n != k);
        f.matchers.push((k.clone(), v.clone()));
    }
    match o.unit {
        Some(Unit::Milliseconds) => f.scale = 1000.0,
        Some(Unit::Seconds) => f.scale = 1.0,
        None => {}
    }
    Ok(())
}

/// The profile `auto` picks from the metric names a Prometheus has: the first
/// convention whose HTTP families are there, OpenTelemetry first.
/// The third value says whether a convention was found at all.
pub fn detect(names: &BTreeSet<String>) -> (Profile, String, bool) {
    let has = |n: &str| names.contains(n);
    let seen = |p: Profile, n: &str| (p, format!("auto: {n} is present"), true);
    for (p, n) in [
        (Profile::Otel, "http_server_request_duration_seconds_bucket"),
        (Profile::Otel, "http_client_request_duration_seconds_bucket"),
        (Profile::Istio, "istio_requests_total"),
        (Profile::Classic, "http_requests_total"),
        (Profile::Classic, "http_request_duration_seconds_bucket"),
        (Profile::Nginx, "nginx_ingress_controller_requests"),
    ] {
        if has(n) {
            return seen(p, n);
        }
    }
    (
        Profile::Otel,
        "auto: no known HTTP family is present; reading OpenTelemetry names".into(),
        false,
    )
}

/// One family the reasoner reads, and what its absence costs an investigation.
pub struct Read {
    pub metric: &'static str,
    pub cost: &'static str,
    /// Read on every investigation (its absence degrades them all), or only for some kinds of service.
    pub core: bool,
}

pub const READS: &[Read] = &[
    Read {
        metric: "http_server_request_duration_seconds_count",
        cost: "no server metrics: services' own error rates and traffic unavailable",
        core: true,
    },
    Read {
        metric: "http_server_request_duration_seconds_bucket",
        cost: "no server histogram: services' own latency unavailable",
        core: true,
    },
    Read {
        metric: "http_client_request_duration_seconds_count",
        cost: "no client metrics: the call graph and callers' view of failures unavailable",
        core: true,
    },
    Read {
        metric: "http_client_request_duration_seconds_bucket",
        cost: "no client metrics: callers' view of latency unavailable",
        core: true,
    },
    Read {
        metric: "container_cpu_cfs_throttled_periods_total",
        cost: "no cAdvisor CPU throttling: CPU saturation cannot be seen",
        core: true,
    },
    Read {
        metric: "container_memory_working_set_bytes",
        cost: "no cAdvisor memory: memory pressure cannot be seen",
        core: true,
    },
    Read {
        metric: "container_spec_memory_limit_bytes",
        cost: "no memory limits: memory use cannot be read against a limit",
        core: true,
    },
    Read {
        metric: "kube_pod_container_status_restarts_total",
        cost: "no kube-state-metrics restarts: crash loops unseen in metrics",
        core: true,
    },
    Read {
        metric: "kube_deployment_status_replicas_available",
        cost: "no kube-state-metrics replicas: lost replicas unseen in metrics",
        core: true,
    },
    Read {
        metric: "pg_stat_activity_count",
        cost: "no postgres_exporter: connection pool use unavailable",
        core: false,
    },
    Read {
        metric: "redis_keyspace_hits_total",
        cost: "no redis_exporter: cache hit rate unavailable",
        core: false,
    },
    Read {
        metric: "kafka_consumergroup_lag",
        cost: "no kafka_exporter: consumer lag unavailable",
        core: false,
    },
    Read {
        metric: "kubelet_volume_stats_used_bytes",
        cost: "no kubelet volume stats: a filling disk cannot be seen",
        core: false,
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_reads_the_convention_from_the_names_present() {
        let names = |l: &[&str]| l.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
        assert_eq!(
            detect(&names(&["up", "http_requests_total", "process_cpu_seconds_total"])).0,
            Profile::Classic
        );
        assert_eq!(
            detect(&names(&["istio_requests_total", "http_requests_total"])).0,
            Profile::Istio
        );
        assert_eq!(
            detect(&names(&[
                "http_server_request_duration_seconds_bucket",
                "istio_requests_total"
            ]))
            .0,
            Profile::Otel
        );
        assert_eq!(detect(&names(&["nginx_ingress_controller_requests"])).0, Profile::Nginx);
        let (p, why, found) = detect(&names(&["up"]));
        assert_eq!(p, Profile::Otel);
        assert!(!found);
        assert!(why.contains("no known HTTP family"), "{why}");
    }

    #[test]
    fn overrides_rename_a_family_and_add_plain_metrics() {
        let t: FamiliesTable = toml::from_str(
            "profile = \"classic\"\nhttp_server = { count = \"api_requests_total\", unit = \"ms\" }\n[metrics]\npg_stat_activity_count = { count = \"pgbouncer_pools_client_active_connections\", labels = { service = \"database\" } }\n",
        )
        .unwrap();
        let f = Families::new(Profile::Classic, &t, &BTreeMap::new(), "configured").unwrap();
        let s = &f.list[f.of("http_server_request_duration_seconds_count").unwrap()];
        assert_eq!(
            s.stack_name("http_server_request_duration_seconds_count"),
            Some("api_requests_total")
        );
        assert_eq!(s.labels["service"], "job");
        assert_eq!(s.scale, 1000.0);
        let pg = &f.list[f.of("pg_stat_activity_count").unwrap()];
        assert_eq!(pg.labels["service"], "database");
        let bad: FamiliesTable = toml::from_str("[metrics]\nx = { count = \"a b\" }\n").unwrap();
        let e = Families::new(Profile::Otel, &bad, &BTreeMap::new(), "configured").unwrap_err();
        assert!(e.contains("\"a b\" is not a metric or label name"), "{e}");
    }
}
