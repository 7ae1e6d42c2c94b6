//! `[sources.prometheus] families`: which naming convention the configured
//! Prometheus speaks (a built-in profile), and per-family overrides.
//!
//! ```toml
//! [sources.prometheus]
//! families = "classic"            # otel | classic | istio | nginx | auto
//! # or, with overrides:
//! [sources.prometheus.families]
//! profile = "classic"
//! http_server = { count = "api_requests_total", labels = { service = "app" } }
//! [sources.prometheus.families.metrics]
//! pg_stat_activity_count = { count = "pgbouncer_pools_client_active_connections" }
//! ```

use std::collections::BTreeMap;

/// A built-in mapping from inquest's (OpenTelemetry) names to a stack's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Profile {
    /// OpenTelemetry HTTP semantic conventions (`http_server_request_duration_seconds`).
    #[default]
    Otel,
    /// `http_requests_total` / `http_request_duration_seconds` with `job`/`instance`.
    Classic,
    /// Istio's `istio_requests_total` / `istio_request_duration_milliseconds`.
    Istio,
    /// ingress-nginx's `nginx_ingress_controller_requests`.
    Nginx,
    /// Picked from the metric names the Prometheus has.
    Auto,
}

impl Profile {
    pub const ALL: [Profile; 5] = [
        Profile::Otel,
        Profile::Classic,
        Profile::Istio,
        Profile::Nginx,
        Profile::Auto,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Profile::Otel => "otel",
            Profile::Classic => "classic",
            Profile::Istio => "istio",
            Profile::Nginx => "nginx",
            Profile::Auto => "auto",
        }
    }
}

/// One family's names in the stack, over the profile's.
#[derive(Clone, Debug, Default, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FamilyOverride {
    /// The stack's metric for the family's `_count` (a histogram family) or for the metric itself.
    pub count: Option<String>,
    /// The stack's `_bucket` metric.
    pub bucket: Option<String>,
    /// The stack's `_sum` metric.
    pub sum: Option<String>,
    /// inquest's label names → the stack's, for this family only.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Matchers added to every selector of the family, e.g. `{ reporter = "destination" }`.
    #[serde(default)]
    pub matchers: BTreeMap<String, String>,
    /// The unit of the stack's buckets and sums: `s` (default) or `ms`.
    pub unit: Option<Unit>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Deserialize)]
pub enum Unit {
    #[serde(rename = "s")]
    Seconds,
    #[serde(rename = "ms")]
    Milliseconds,
}

/// `[sources.prometheus.families]` as a table.
#[derive(Clone, Debug, Default, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FamiliesTable {
    #[serde(default)]
    pub profile: Profile,
    /// The label naming a call's peer when `peer_service` is absent, e.g. `server_address`.
    pub peer_label: Option<String>,
    /// Servers' view of their own HTTP traffic.
    pub http_server: Option<FamilyOverride>,
    /// Callers' view of their HTTP calls.
    pub http_client: Option<FamilyOverride>,
    /// Any other metric inquest reads, by its name → the stack's name (`count`) and labels.
    #[serde(default)]
    pub metrics: BTreeMap<String, FamilyOverride>,
}

impl FamiliesTable {
    /// Every override with the family it applies to.
    pub fn overrides(&self) -> Vec<(&str, &FamilyOverride)> {
        let mut out = Vec::new();
        out.extend(self.http_server.iter().map(|o| ("http_server", o)));
        out.extend(self.http_client.iter().map(|o| ("http_client", o)));
        out.extend(self.metrics.iter().map(|(k, o)| (k.as_str(), o)));
        out
    }
}

/// `families = "classic"` or a `[sources.prometheus.families]` table.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FamiliesSetting(pub FamiliesTable);

impl<'de> serde::Deserialize<'de> for FamiliesSetting {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = FamiliesSetting;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str(
                    "a profile name (otel, classic, istio, nginx, auto) or a table with `profile` and overrides",
                )
            }
            fn visit_str<E: serde::de::Error>(self, s: &str) -> Result<FamiliesSetting, E> {
                let profile = Profile::ALL.into_iter().find(|p| p.name() == s).ok_or_else(|| {
                    E::custom(format!(
                        "unknown profile {s:?}, expected otel, classic, istio, nginx or auto"
                    ))
                })?;
                Ok(FamiliesSetting(FamiliesTable {
                    profile,
                    ..Default::default()
                }))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<FamiliesSetting, A::Error> {
                let t = <FamiliesTable as serde::Deserialize>::deserialize(
                    serde::de::value::MapAccessDeserializer::new(map),
                )?;
                Ok(FamiliesSetting(t))
            }
        }
        d.deserialize_any(V)
    }
}

#[cfg(test)]
mod tests {
    use crate::config::PrometheusSource;

    fn parse(text: &str) -> Result<PrometheusSource, String> {
        toml::from_str::<PrometheusSource>(text).map_err(|e| e.to_string())
    }

    #[test]
    fn a_profile_by_name_or_as_a_table_with_overrides() {
        let p = parse("url = \"http://p\"\nfamilies = \"istio\"\n").unwrap();
        assert_eq!(p.families.unwrap().0.profile, super::Profile::Istio);
        let p = parse(
            "url = \"http://p\"\n[families]\nprofile = \"classic\"\nhttp_server = { count = \"api_requests_total\", labels = { service = \"app\" } }\n[peers]\n\"10.0.3.7:5432\" = \"orders-db\"\n",
        )
        .unwrap();
        let f = p.families.unwrap().0;
        assert_eq!(f.profile, super::Profile::Classic);
        assert_eq!(f.http_server.unwrap().count.as_deref(), Some("api_requests_total"));
        assert_eq!(p.peers["10.0.3.7:5432"], "orders-db");
    }

    #[test]
    fn a_bad_profile_or_override_is_named() {
        let e = parse("url = \"http://p\"\nfamilies = \"prom\"\n").unwrap_err();
        assert!(e.contains("unknown profile \"prom\"") && e.contains("line 2"), "{e}");
        let e = parse("url = \"http://p\"\n[families]\nhttp_server = { unit = \"minutes\" }\n").unwrap_err();
        assert!(e.contains("minutes") && e.contains("line 3"), "{e}");
        let e = parse("url = \"http://p\"\n[families]\nhttp_server = { bukket = \"x\" }\n").unwrap_err();
        assert!(e.contains("bukket"), "{e}");
    }
}
