//! Log step: mine templates before and after the onset, find the new and
//! surging ones, read what they say and whom they name.

use std::collections::BTreeMap;

use serde_json::json;

use super::board::Board;
use super::drain::{self, Template};
use super::metrics::BASELINE_MS;
use super::query::{Since, clip, ts};
use crate::model::{FaultKind, SpanId};
use crate::reason::{BranchCtx, BranchEnd};
use crate::sources::ToolData;

/// The fault a message template describes, and whether it speaks of itself or of a named dependency.
pub(super) fn classify(text: &str) -> Option<(FaultKind, bool, f64)> {
    let t = text.to_lowercase();
    let rules: &[(&[&str], FaultKind, bool, f64)] = &[
        (
            &[
                "no such host",
                "nameresolutionerror",
                "could not resolve host",
                "name or service not known",
                "temporary failure in name resolution",
                "could not translate host name",
                "failed to resolve '",
                "getaddrinfo enotfound",
            ],
            FaultKind::DnsFailure,
            false,
            3.0,
        ),
        (
            &[
                "x509",
                "certificate has expired",
                "certificate expired",
                "expiredcertexception",
                "certificateexpiredexception",
            ],
            FaultKind::CertificateExpired,
            false,
            3.0,
        ),
        (
            &[
                "too many clients",
                "too many connections",
                "remaining connection slots are reserved",
                "connection is not available",
                "could not acquire a connection",
                "no available connection",
                "queue has reached its max size",
            ],
            FaultKind::ConnectionPoolExhaustion,
            true,
            3.0,
        ),
        (&["no space left on device"], FaultKind::DiskFull, true, 3.0),
        (
            &["oomkilled", "memory cgroup out of memory"],
            FaultKind::MemoryLeak,
            true,
            3.0,
        ),
        (
            &["out of memory", "outofmemory", "gc pause"],
            FaultKind::MemoryLeak,
            true,
            2.5,
        ),
        (&["syntax error"], FaultKind::ConfigError, true, 3.0),
        (
            &["failed to start", "migration", "missing environment variable"],
            FaultKind::PodCrashloop,
            true,
            2.5,
        ),
        (
            &[
                "nullpointerexception",
                "classcastexception",
                "arrayindexoutofboundsexception",
                "keyerror",
                "typeerror",
                "attributeerror",
                "indexerror",
                "zerodivisionerror",
                "nil pointer",
                "unhandled exception",
                "panic recovered",
            ],
            FaultKind::BadDeploy,
            true,
            2.5,
        ),
        (
            &["invalid configuration", "config validation failed"],
            FaultKind::ConfigError,
            true,
            3.0,
        ),
        (&["authentication failed"], FaultKind::AuthFailure, true, 2.5),
        (&["401 unauthorized"], FaultKind::AuthFailure, false, 2.5),
        (
            &["messages behind on topic", "consumer lag"],
            FaultKind::QueueBacklog,
            true,
            3.0,
        ),
        (&["evicting keys", "maxmemory"], FaultKind::CacheFailure, true, 2.5),
        (
            &["loading from the database", "cache miss"],
            FaultKind::CacheFailure,
            false,
            1.5,
        ),
        (
            &["connection reset by peer", "retrying request"],
            FaultKind::PacketLoss,
            false,
            2.0,
        ),
        (
            &["request queue saturated", "event loop blocked"],
            FaultKind::CpuSaturation,
            true,
            2.5,
        ),
        (&["connection refused"], FaultKind::ReplicaLoss, false, 1.5),
        (&["received sigterm"], FaultKind::NodePressure, true, 1.0),
        (&["slow upstream"], FaultKind::NetworkDelay, false, 1.0),
    ];
    for (pats, kind, own, w) in rules {
        if pats.iter().any(|p| t.contains(p)) {
            return Some((*kind, *own, *w));
        }
    }
    None
}

/// Kinds whose words say where, not what: a refused connection, a slow upstream, a SIGTERM.
pub(super) fn generic(kind: FaultKind) -> bool {
    matches!(
        kind,
        FaultKind::ReplicaLoss | FaultKind::NetworkDelay | FaultKind::NodePressure
    )
}

/// Where a line names a peer: prose (`request to X`, `lookup X`), the fields
/// of HTTP clients (`host='X'`, `Failed to resolve 'X'`, `tried: X:port`), a
/// URL's host, and logfmt peer fields. The name stops at a port or a domain.
const PEER_MARKERS: &[&str] = &[
    "request to ",
    "call to ",
    "upstream ",
    "lookup ",
    "connection to ",
    "retrying request to ",
    "loading from ",
    "host='",
    "host=\"",
    "host name \"",
    "resolve host: ",
    "resolve '",
    "tried: ",
    "dial tcp ",
    "://",
];

/// Fields that hold a peer's service name by convention: what they name is
/// taken as a service even when nothing else has shown it yet (a service that
/// is down writes no lines and may export no metrics).
const PEER_FIELDS: &[&str] = &["peer=", "peer.service=", "peer_service="];

/// The service among `services` a line names as its peer (or the one its peer field names), if any.
pub(super) fn peer(text: &str, services: &[String]) -> Option<String> {
    let t = text.to_lowercase();
    for field in PEER_FIELDS {
        for (i, _) in t.match_indices(field) {
            if i > 0 && !t[..i].ends_with(' ') {
                continue;
            }
            let word: String = t[i + field.len()..]
                .trim_start_matches('"')
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '-' || *c == '_')
                .collect();
            if word.chars().next().is_some_and(|c| c.is_ascii_lowercase()) {
                return Some(
                    services
                        .iter()
                        .find(|s| s.to_lowercase() == word)
                        .cloned()
                        .unwrap_or(word),
                );
            }
        }
    }
    for marker in PEER_MARKERS {
        for (i, _) in t.match_indices(marker) {
            let rest = &t[i + marker.len()..];
            let word: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '-' || *c == '_')
                .collect();
            if let Some(s) = services.iter().find(|s| s.to_lowercase() == word) {
                return Some(s.clone());
            }
        }
    }
    None
}

/// Error and warning lines from `start` to `end`: (service, unix ms, line).
async fn fetch(
    ctx: &BranchCtx,
    start: i64,
    end: i64,
) -> Result<Option<(Vec<(String, i64, String)>, SpanId)>, BranchEnd> {
    let args = json!({"query": "{level=~\"error|warn\"}", "start": ts(start), "end": ts(end), "limit": 4000, "direction": "backward"});
    Ok(match ctx.call("loki_query_range", args).await? {
        Some(c) => match c.data {
            ToolData::Streams(streams) => {
                let mut lines = Vec::new();
                for s in streams {
                    let svc = s.labels.get("service").cloned().unwrap_or_default();
                    for (t, l) in s.entries {
                        lines.push((svc.clone(), t.millis(), l));
                    }
                }
                Some((lines, c.evidence))
            }
            _ => None,
        },
        None => None,
    })
}

/// Follows the names down: a service that blames another hands its weight on.
/// `pointers` are (caller, named dependency, weight).
fn follow(pointers: &[(String, String, f64)]) -> BTreeMap<String, f64> {
    let mut credit: BTreeMap<String, f64> = BTreeMap::new();
    for (_, tg, w) in pointers {
        *credit.entry(tg.clone()).or_default() += w;
    }
    for _ in 0..4 {
        let mut next = credit.clone();
        for (svc, c) in &credit {
            let outs: Vec<&(String, String, f64)> = pointers.iter().filter(|p| &p.0 == svc).collect();
            let out_w: f64 = outs.iter().map(|p| p.2).sum();
            if out_w > 0.0 {
                for p in outs {
                    *next.entry(p.1.clone()).or_default() += c * 0.8 * p.2 / out_w;
                }
                *next.entry(svc.clone()).or_default() -= c * 0.8;
            }
        }
        credit = next;
    }
    credit
}

pub async fn scan(ctx: &BranchCtx, b: &mut Board) -> Result<(), BranchEnd> {
    let now = ctx.now.millis();
    let onset = b
        .onset
        .unwrap_or(ctx.alert.starts_at.millis() - super::metrics::NO_ONSET_MS);
    let before_start = onset - BASELINE_MS;
    let since = Since::mark(ctx, "loki");
    let Some((after, ev_after)) = fetch(ctx, onset, now).await? else {
        let unread = since.unread(ctx).unwrap_or_else(|| "could not read loki".to_string());
        ctx.think(format!("Logs: {unread} (after the onset)."));
        return Ok(());
    };
    let before = fetch(ctx, before_start, onset).await?;
    let (before_lines, ev_before) = before.map(|(l, e)| (l, Some(e))).unwrap_or_default();
    let after_min = ((now - onset) as f64 / 60_000.0).max(1.0);
    let before_min = ((onset - before_start) as f64 / 60_000.0).max(1.0);
    let mut services: Vec<String> = b.services.iter().cloned().collect();
    for (s, _, _) in after.iter().chain(before_lines.iter()) {
        if !services.contains(s) {
            services.push(s.clone());
        }
    }
    // service → (lines before the onset, (unix ms, line) after it)
    type Split<'a> = (Vec<&'a str>, Vec<(i64, &'a str)>);
    let mut by_svc: BTreeMap<&str, Split> = BTreeMap::new();
    for (s, t, l) in &after {
        by_svc.entry(s).or_default().1.push((*t, l));
    }
    for (s, _, l) in &before_lines {
        by_svc.entry(s).or_default().0.push(l);
    }
    // Lines that stopped well before the alert fired belong to something that ended.
    let ended_before = ctx.alert.starts_at.millis() - 5 * 60_000;
    let evs: Vec<SpanId> = std::iter::once(ev_after).chain(ev_before).collect();
    let mut notes = Vec::new();
    // caller → dependency pointers, weighted, for names that carry no kind.
    let mut pointers: Vec<(String, String, f64)> = Vec::new();
    for (svc, (bl, al)) in &by_svc {
        let templates: Vec<Template> = drain::mine(al.iter().map(|l| l.1), 0.5);
        for t in templates.iter().take(12) {
            let before_count = bl.iter().filter(|l| drain::matches(t, l)).count();
            let rate_after = t.count as f64 / after_min;
            let rate_before = before_count as f64 / before_min;
            let surge = (rate_after + 0.2) / (rate_before + 0.2);
            let mut strength = (surge.ln() / 3.0).min(1.5) * (1.0 + (rate_after / 5.0).min(1.0));
            if surge < 3.0 || t.count < 3 {
                // A container that dies leaves one or two lines: few, but new and
                // in the strongest words for a cause, they count.
                let fatal = before_count == 0 && classify(&t.example).is_some_and(|(k, _, w)| w >= 3.0 && !generic(k));
                if !fatal {
                    continue;
                }
                strength = strength.max(0.5);
            }
            let last_seen = al
                .iter()
                .filter(|l| drain::matches(t, l.1))
                .map(|l| l.0)
                .max()
                .unwrap_or(now);
            if last_seen < ended_before {
                continue;
            }
            let text = t.text();
            let target = peer(&t.raw, &services);
            let new = if before_count == 0 { "new" } else { "surging" };
            match classify(&t.example) {
                Some((kind, own, w)) => {
                    // A pool that cannot hand out connections to a named dependency
                    // is that dependency's limit showing through the caller.
                    let who = match &target {
                        Some(t) if kind == FaultKind::ConnectionPoolExhaustion || !own => t.clone(),
                        _ => svc.to_string(),
                    };
                    // Some messages fit many faults: a refused connection or a slow
                    // upstream says where, not what.
                    let specific = (own || target.is_some()) && !generic(kind);
                    let n = format!("{new} in {svc} logs ({:.1}/min): \"{}\"", rate_after, clip(&text, 90));
                    b.add(&who, kind, specific, w * strength, &evs, n.clone());
                    if !own && let Some(tg) = &target {
                        pointers.push((svc.to_string(), tg.clone(), 0.5 * strength));
                    }
                    notes.push(n);
                }
                None => {
                    if let Some(tg) = target {
                        pointers.push((svc.to_string(), tg, strength));
                    } else if t.example.to_lowercase().contains("error") || t.example.contains("ERROR") {
                        b.add(
                            svc,
                            FaultKind::BadDeploy,
                            false,
                            0.6 * strength,
                            &evs,
                            format!("{new} errors in {svc}: \"{}\"", clip(&text, 80)),
                        );
                    }
                }
            }
        }
    }
    for (svc, c) in follow(&pointers) {
        if c > 0.2 {
            let kind = b
                .signals
                .iter()
                .filter(|s| s.service == svc)
                .max_by(|x, y| x.weight.total_cmp(&y.weight))
                .map(|s| s.kind)
                .unwrap_or(FaultKind::BadDeploy);
            b.add(
                &svc,
                kind,
                false,
                c.min(3.0),
                &evs,
                format!("callers name {svc} in their errors"),
            );
        }
    }
    notes.truncate(5);
    // Without the baseline, "nothing new" is not known.
    ctx.think(match (notes.is_empty(), since.unread(ctx)) {
        (true, None) => format!(
            "Logs: {} error/warn lines after the onset, nothing new that names a cause.",
            after.len()
        ),
        (true, Some(unread)) => format!(
            "Logs: {} error/warn lines after the onset; {unread}, so what is new is not known.",
            after.len()
        ),
        (false, None) => format!("Logs: {}.", notes.join("; ")),
        (false, Some(unread)) => format!("Logs: {}; {unread}.", notes.join("; ")),
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(line: &str) -> Option<FaultKind> {
        classify(&drain::message(line)).map(|c| c.0)
    }

    #[test]
    fn real_client_and_runtime_words_name_their_fault() {
        use FaultKind::*;
        for (line, want) in [
            (
                "javax.net.ssl.SSLHandshakeException: ExpiredCertException: certificate expired on 2026-11-30",
                CertificateExpired,
            ),
            ("SSL certificate expired for payments.internal", CertificateExpired),
            (
                "urllib3.exceptions.NameResolutionError: Failed to resolve 'opensearch' ([Errno -2] Name or service not known)",
                DnsFailure,
            ),
            ("curl: (6) Could not resolve host: opensearch", DnsFailure),
            ("dial tcp: lookup orders-db on 10.96.0.10:53: no such host", DnsFailure),
            (
                "/scripts/export.sh: line 42: syntax error near unexpected token `fi'",
                ConfigError,
            ),
            (
                "redis.exceptions.ConnectionError: no available connection in the pool",
                ConnectionPoolExhaustion,
            ),
            (
                "sqlalchemy.exc.TimeoutError: QueuePool limit: queue has reached its max size",
                ConnectionPoolExhaustion,
            ),
            ("ERROR 1040 (HY000): Too many connections", ConnectionPoolExhaustion),
            (
                "Memory cgroup out of memory: Killed process 30828 (python) reason=OOMKilled",
                MemoryLeak,
            ),
            (
                "RuntimeError: KeyError: 'three_ds_version' in charge handler",
                BadDeploy,
            ),
        ] {
            assert_eq!(kind(line), Some(want), "{line}");
        }
        // The issue's lines: logfmt whose cause is in error=.
        let line = r#"ts=2026-12-02T05:00:01Z level=error msg="upstream call failed" peer=checkout error="[Errno 111] Connection refused""#;
        assert_eq!(kind(line), Some(ReplicaLoss));
        assert_eq!(kind("GET /api/items 200 12ms"), None);
    }

    #[test]
    fn peers_are_found_where_clients_name_them() {
        let svcs: Vec<String> = ["opensearch", "orders-db", "payments", "checkout", "catalog"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        for (line, want) in [
            (
                "HTTPSConnectionPool(host='opensearch', port=9200): Max retries exceeded",
                Some("opensearch"),
            ),
            (
                "no available connection to any of the hosts, tried: orders-db:5432, orders-db:5433",
                Some("orders-db"),
            ),
            (
                "GET https://payments.shop.svc.cluster.local:8443/v1/charge failed",
                Some("payments"),
            ),
            (
                "call to catalog failed: GET http://127.0.0.1:18093/items: connection reset by peer",
                Some("catalog"),
            ),
            (
                "level=error msg=\"upstream call failed\" peer=checkout error=\"refused\"",
                Some("checkout"),
            ),
            ("curl: (6) Could not resolve host: opensearch", Some("opensearch")),
            (
                "Failed to resolve 'orders-db' ([Errno -2] Name or service not known)",
                Some("orders-db"),
            ),
            // A host that is no service, and an address, name nobody.
            ("GET http://flags.internal/v1/flags: 500", None),
            ("dial tcp 10.0.3.7:8080: connect: connection refused", None),
            // A peer field is a service's name even before anything else showed it.
            (
                "level=error msg=\"upstream call failed\" peer=ledger error=\"refused\"",
                Some("ledger"),
            ),
            ("msg=\"handshake failed\" peer=127.0.0.1", None),
        ] {
            assert_eq!(peer(line, &svcs).as_deref(), want, "{line}");
        }
    }
}
