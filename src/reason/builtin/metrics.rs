//! Metric steps: discovery of services and calls, the onset, RED signals with
//! attribution to dependencies, resources, and the dependency walk.

use std::collections::BTreeMap;

use super::board::Board;
use super::query::{Since, by, instant, range, ratio};
use crate::model::{FaultKind, SpanId};
use crate::reason::{BranchCtx, BranchEnd};
use crate::tools::stats::{median, pagerank, robust_z, split};

const STEP: &str = "30s";
/// Baseline before the onset, ms.
pub const BASELINE_MS: i64 = 25 * 60_000;
/// Where the onset is taken to be when no signal shows one, ms before the alert.
pub const NO_ONSET_MS: i64 = 10 * 60_000;

pub fn window(board: &Board, ctx: &BranchCtx) -> (i64, i64, i64) {
    let now = ctx.now.millis();
    let onset = board.onset.unwrap_or(ctx.alert.starts_at.millis() - NO_ONSET_MS);
    let start = board
        .baseline_from
        .map_or(onset - BASELINE_MS, |c| c.max(onset - BASELINE_MS));
    (start, onset, now)
}

/// Learns which services exist and who calls whom, from the data.
pub async fn discover(ctx: &BranchCtx, b: &mut Board) -> Result<(), BranchEnd> {
    let now = ctx.now.millis();
    let since = Since::mark(ctx, "prometheus");
    b.alert_service = ctx.alert.service().map(str::to_string);
    if let Some((v, _)) = instant(
        ctx,
        "sum by (service, peer_service) (rate(http_client_request_duration_seconds_count[10m]))",
        now,
    )
    .await?
    {
        for s in v {
            let (a, c) = (s.label("service").to_string(), s.label("peer_service").to_string());
            if !a.is_empty() && !c.is_empty() {
                b.services.insert(a.clone());
                b.services.insert(c.clone());
                b.edges.insert((a, c));
            }
        }
    }
    if let Some((v, _)) = instant(
        ctx,
        "count by (service) (http_server_request_duration_seconds_count)",
        now,
    )
    .await?
    {
        for s in v {
            b.serving.insert(s.label("service").to_string());
            b.services.insert(s.label("service").to_string());
        }
    }
    if let Some((v, _)) = instant(ctx, "count by (service) (container_memory_working_set_bytes) or count by (service) (redis_keyspace_hits_total) or count by (service) (pg_settings_max_connections) or count by (service) (kafka_consumergroup_lag)", now).await? {
        for s in v {
            b.services.insert(s.label("service").to_string());
        }
    }
    for (q, set) in [
        ("count by (service) (redis_keyspace_hits_total)", 0),
        ("count by (service) (pg_settings_max_connections)", 1),
        ("count by (service, topic) (kafka_consumergroup_lag)", 2),
    ] {
        if let Some((v, _)) = instant(ctx, q, now).await? {
            for s in v {
                let name = s.label("service").to_string();
                match set {
                    0 => b.caches.insert(name),
                    1 => b.databases.insert(name),
                    _ => {
                        // The worker consumes the topic: that is a dependency for the walk.
                        let topic = s.label("topic").to_string();
                        if !topic.is_empty() {
                            b.edges.insert((name.clone(), topic));
                        }
                        b.consumers.insert(name)
                    }
                };
            }
        }
    }
    b.services.remove("");
    if since.read_nothing(ctx) {
        let unread = since.unread(ctx).unwrap_or_default();
        ctx.think(format!(
            "Discovery: {unread}; the services and their calls are unknown."
        ));
        return Ok(());
    }
    ctx.think(format!(
        "Found {} services and {} calls between them from client metrics; {} serve HTTP, {} caches, {} databases, {} queue consumers.",
        b.services.len(),
        b.edges.len(),
        b.serving.len(),
        b.caches.len(),
        b.databases.len(),
        b.consumers.len()
    ));
    Ok(())
}

struct Delta {
    before: f64,
    after: f64,
    z: f64,
}

fn delta(samples: &[(i64, f64)], onset: i64, floor: f64) -> Delta {
    let (b, a) = split(samples, onset);
    Delta {
        before: median(&b).unwrap_or(0.0),
        after: median(&a).unwrap_or(0.0),
        z: robust_z(&b, &a, floor),
    }
}

type Grouped = BTreeMap<String, Vec<(i64, f64)>>;

/// Services whose process was starved since the onset: how it shows, and the evidence.
pub type Starved = BTreeMap<String, (String, Option<SpanId>)>;
type Edge = (String, String);

/// The classes of call failure below HTTP that name a cause in the callee.
const ERROR_CLASSES: [&str; 4] = ["dns_error", "tls_error", "timeout", "connection_refused"];

/// The class of a client's `error_type` value, or `None` for one that names no
/// cause (`other`, `_OTHER`, an HTTP status). The source layer turns stock
/// OpenTelemetry exception class names into these classes; the few spelled
/// here are read the same way when a source passes them through.
pub fn error_class(value: &str) -> Option<&'static str> {
    let v = value.trim();
    Some(match v {
        "dns_error" | "gaierror" | "NameResolutionError" | "UnknownHostException" => "dns_error",
        "tls_error" | "SSLError" | "SSLCertVerificationError" | "CertificateError" => "tls_error",
        "timeout" | "TimeoutError" | "ReadTimeout" | "ConnectTimeout" | "DeadlineExceeded" => "timeout",
        "connection_refused" | "ConnectionRefusedError" => "connection_refused",
        _ => return None,
    })
}

/// Failed calls per `service/peer_service/class`, summed over the `error_type` values of one class.
fn by_class(series: &[crate::sources::telemetry::MetricSeries]) -> Grouped {
    let mut out: BTreeMap<String, BTreeMap<i64, f64>> = BTreeMap::new();
    for s in series {
        let Some(class) = error_class(s.label("error_type")) else {
            continue;
        };
        let key = format!("{}/{}/{class}", s.label("service"), s.label("peer_service"));
        let acc = out.entry(key).or_default();
        for (t, v) in &s.samples {
            *acc.entry(*t).or_default() += v;
        }
    }
    out.into_iter().map(|(k, v)| (k, v.into_iter().collect())).collect()
}

/// The RED series from the baseline to now, grouped by their labels.
struct Red {
    /// Server requests answered 5xx, 401 or 403, per service.
    s_err: Grouped,
    s_tot: Grouped,
    s_p99: Grouped,
    /// Client calls that failed below HTTP, per edge and error type.
    c_tr: Grouped,
    c_err: Grouped,
    c_tot: Grouped,
    /// Client p99 of calls that did not fail below HTTP, per edge.
    c_p99: Grouped,
    s_401: Grouped,
    /// Services whose process was starved since the onset, and how it shows.
    starved: Starved,
    /// The evidence span of each query, in the order they are asked.
    spans: Vec<Option<SpanId>>,
}

/// How calls along each caller → callee edge changed at the onset.
#[derive(Default)]
struct EdgeChanges {
    err: BTreeMap<Edge, f64>,
    /// The p99 increase and its z-score.
    lat: BTreeMap<Edge, (f64, f64)>,
    /// Edges whose calls started timing out: a slow path that also drops is losing packets.
    timeouts: BTreeMap<Edge, f64>,
}

/// How one service's errors and latency changed, and what of it is its own.
struct ServiceChange {
    e: Delta,
    l: Delta,
    a401: Delta,
    derr: f64,
    dlat: f64,
    err_anom: f64,
    lat_anom: f64,
    own_err: f64,
    own_lat: f64,
}

const ERRORS: usize = 0;
const LATENCY: usize = 2;
const CALL_FAILURES: usize = 3;
const CALL_LATENCY: usize = 6;
const UNAUTHORIZED: usize = 7;

impl Red {
    async fn query(ctx: &BranchCtx, start: i64, now: i64) -> Result<Red, BranchEnd> {
        let q = |s: &str| s.to_string();
        let err5 = "http_response_status_code=~\"5..|401|403\"";
        let qs = [
            q(&format!(
                "sum by (service) (rate(http_server_request_duration_seconds_count{{{err5}}}[1m]))"
            )),
            q("sum by (service) (rate(http_server_request_duration_seconds_count[1m]))"),
            q("histogram_quantile(0.99, sum by (service, le) (rate(http_server_request_duration_seconds_bucket[1m])))"),
            q(
                "sum by (service, peer_service, error_type) (rate(http_client_request_duration_seconds_count{error_type!=\"\"}[1m]))",
            ),
            q(&format!(
                "sum by (service, peer_service) (rate(http_client_request_duration_seconds_count{{{err5}}}[1m]))"
            )),
            q("sum by (service, peer_service) (rate(http_client_request_duration_seconds_count[1m]))"),
            q(
                "histogram_quantile(0.99, sum by (service, peer_service, le) (rate(http_client_request_duration_seconds_bucket{error_type=\"\"}[1m])))",
            ),
            q(
                "sum by (service) (rate(http_server_request_duration_seconds_count{http_response_status_code=\"401\"}[1m]))",
            ),
        ];
        let mut res = Vec::new();
        for query in &qs {
            res.push(range(ctx, query, start, now, STEP).await?);
        }
        let get = |i: usize, keys: &[&str]| res[i].as_ref().map(|r| by(&r.0, keys)).unwrap_or_default();
        Ok(Red {
            s_err: get(ERRORS, &["service"]),
            s_tot: get(1, &["service"]),
            s_p99: get(LATENCY, &["service"]),
            c_tr: by_class(res[CALL_FAILURES].as_ref().map(|r| r.0.as_slice()).unwrap_or_default()),
            c_err: get(4, &["service", "peer_service"]),
            c_tot: get(5, &["service", "peer_service"]),
            c_p99: get(CALL_LATENCY, &["service", "peer_service"]),
            s_401: get(UNAUTHORIZED, &["service"]),
            starved: BTreeMap::new(),
            spans: res.iter().map(|r| r.as_ref().map(|r| r.1)).collect(),
        })
    }

    fn ev(&self, i: usize) -> Vec<SpanId> {
        self.spans[i].map(|s| vec![s]).unwrap_or_default()
    }

    /// Per edge: how calls to the dependency changed, blaming the callee for failures below HTTP.
    fn edges(&self, b: &mut Board, onset: i64, notes: &mut Vec<String>) -> EdgeChanges {
        let mut out = EdgeChanges::default();
        for (key, tot) in &self.c_tot {
            let mut it = key.splitn(2, '/');
            let (s, t) = (it.next().unwrap_or("").to_string(), it.next().unwrap_or("").to_string());
            b.edges.insert((s.clone(), t.clone()));
            let status = delta(&ratio(self.c_err.get(key), tot), onset, 0.003);
            let mut total_err = status.after - status.before;
            for et in ERROR_CLASSES {
                let k = format!("{key}/{et}");
                let d = delta(&ratio(self.c_tr.get(&k), tot), onset, 0.003);
                let inc = d.after - d.before;
                if inc < 0.01 || d.z < 4.0 {
                    continue;
                }
                total_err += inc;
                if et == "timeout" {
                    out.timeouts.insert((s.clone(), t.clone()), inc);
                }
                let w = 1.5 + 3.0 * inc.min(1.0);
                let note = format!(
                    "{s} → {t}: {et} on {:.0}% of calls (was {:.1}%)",
                    d.after * 100.0,
                    d.before * 100.0
                );
                self.blame_callee(b, onset, (&s, &t), et, w, note.clone());
                notes.push(note);
            }
            out.err.insert((s.clone(), t.clone()), total_err.max(0.0));
            if let Some(p) = self.c_p99.get(key) {
                let d = delta(p, onset, 0.003);
                let rate = median(&split(tot, onset).1).unwrap_or(0.0);
                let (dl, z) = if supported(p, onset, &d, rate) {
                    (d.after - d.before, d.z)
                } else {
                    (0.0, 0.0)
                };
                out.lat.insert((s.clone(), t.clone()), (dl, z));
            }
        }
        out
    }

    /// What a kind of call failure says about the service called.
    fn blame_callee(&self, b: &mut Board, onset: i64, (s, t): (&str, &str), et: &str, w: f64, note: String) {
        let ev = self.ev(CALL_FAILURES);
        match et {
            "dns_error" => b.add(t, FaultKind::DnsFailure, true, w, &ev, note),
            "tls_error" => b.add(t, FaultKind::CertificateExpired, true, w, &ev, note),
            "connection_refused" => b.add(t, FaultKind::ReplicaLoss, false, w, &ev, note),
            _ => {
                // Timeouts to a dependency whose own latency held: the path, not the service.
                let own_lat = self
                    .s_p99
                    .get(t)
                    .map(|x| delta(x, onset, 0.005))
                    .map(|d| d.after / d.before.max(1e-3))
                    .unwrap_or(1.0);
                if let Some((why, span)) = self.starved.get(t) {
                    let ev: Vec<SpanId> = ev.iter().copied().chain(*span).collect();
                    let note = format!("{note} while {t} {why}: requests queue before its handler");
                    b.add(t, FaultKind::CpuSaturation, true, w, &ev, note);
                } else if let Some((why, span)) = self.starved.get(s) {
                    // A starved caller cannot read its answers in time: its own timeouts.
                    let ev: Vec<SpanId> = ev.iter().copied().chain(*span).collect();
                    let note = format!("{note} while {s} itself {why}");
                    b.add(s, FaultKind::CpuSaturation, true, w, &ev, note);
                } else if b.serving.contains(t) && own_lat < 1.6 {
                    b.add(t, FaultKind::PacketLoss, true, w, &ev, note);
                } else {
                    b.add(t, FaultKind::NetworkDelay, false, w * 0.6, &ev, note);
                }
            }
        }
    }

    /// Per service: what changed, and how much of it its dependencies explain.
    fn service(
        &self,
        b: &mut Board,
        edges: &EdgeChanges,
        onset: i64,
        svc: &str,
        tot: &[(i64, f64)],
        notes: &mut Vec<String>,
    ) {
        let c = self.service_change(b, edges, onset, svc, tot);
        let score = (c.err_anom * 10.0).min(3.0) + c.lat_anom.min(3.0);
        b.anomaly.insert(svc.to_string(), score);
        self.blame_service(b, svc, &c, notes);
        let rps = delta(tot, onset, 0.5);
        if rps.before > 0.0 && rps.after < 0.6 * rps.before {
            b.anomaly.entry(svc.to_string()).and_modify(|x| *x += 1.0);
        }
    }

    fn service_change(
        &self,
        b: &Board,
        edges: &EdgeChanges,
        onset: i64,
        svc: &str,
        tot: &[(i64, f64)],
    ) -> ServiceChange {
        let e = delta(&ratio(self.s_err.get(svc), tot), onset, 0.003);
        let l = self.s_p99.get(svc).map(|x| delta(x, onset, 0.005)).unwrap_or(Delta {
            before: 0.0,
            after: 0.0,
            z: 0.0,
        });
        let a401 = delta(&ratio(self.s_401.get(svc), tot), onset, 0.003);
        let derr = (e.after - e.before).max(0.0);
        let dlat = (l.after - l.before).max(0.0);
        let callees = b.callees(svc);
        let dep_err: f64 = callees
            .iter()
            .map(|c| edges.err.get(&(svc.to_string(), c.clone())).copied().unwrap_or(0.0))
            .sum();
        // Calls to dependencies are mostly sequential: their slowdowns add up. A
        // starved caller's own wait shows in them too, so they explain nothing.
        let starved = self.starved.contains_key(svc);
        let dep_lat: f64 = callees
            .iter()
            .map(|c| {
                edges
                    .lat
                    .get(&(svc.to_string(), c.clone()))
                    .map(|x| x.0.max(0.0))
                    .unwrap_or(0.0)
            })
            .sum::<f64>()
            * if starved { 0.0 } else { 1.0 };
        let err_anom = if e.z > 5.0 && derr > 0.01 { derr } else { 0.0 };
        let rate = median(&split(tot, onset).1).unwrap_or(0.0);
        let held = self.s_p99.get(svc).is_some_and(|p| supported(p, onset, &l, rate));
        let lat_anom = if held && l.z > 5.0 && dlat > 0.02 && dlat > 0.3 * l.before {
            dlat / l.before.max(0.01)
        } else {
            0.0
        };
        ServiceChange {
            own_err: (derr - 0.9 * dep_err).max(0.0),
            own_lat: (dlat - 0.9 * dep_lat).max(0.0),
            e,
            l,
            a401,
            derr,
            dlat,
            err_anom,
            lat_anom,
        }
    }

    /// A service's own change: refused logins, errors or slowness its dependencies do not explain.
    fn blame_service(&self, b: &mut Board, svc: &str, c: &ServiceChange, notes: &mut Vec<String>) {
        let (a401, e, l) = (&c.a401, &c.e, &c.l);
        if a401.after - a401.before > 0.01 && a401.z > 4.0 {
            let n = format!(
                "{svc} answers 401 to {:.0}% of requests (was {:.1}%)",
                a401.after * 100.0,
                a401.before * 100.0
            );
            let w = 2.0 + 3.0 * (a401.after - a401.before);
            b.add(svc, FaultKind::AuthFailure, true, w, &self.ev(UNAUTHORIZED), n.clone());
            notes.push(n);
        } else if c.err_anom > 0.0 && c.own_err > 0.01 && c.own_err > 0.3 * c.derr {
            let n = format!(
                "{svc} errors {:.1}% → {:.1}%, not explained by its dependencies",
                e.before * 100.0,
                e.after * 100.0
            );
            let w = 1.0 + 4.0 * c.own_err.min(0.5);
            b.add(svc, FaultKind::BadDeploy, false, w, &self.ev(ERRORS), n.clone());
            notes.push(n);
        }
        if c.lat_anom > 0.0 && c.own_lat > 0.5 * c.dlat && c.own_lat > 0.02 {
            let n = format!(
                "{svc} p99 {:.0} ms → {:.0} ms, its own time",
                l.before * 1000.0,
                l.after * 1000.0
            );
            let w = 0.8 + c.lat_anom.min(2.0);
            b.add(svc, FaultKind::CpuSaturation, false, w, &self.ev(LATENCY), n.clone());
            notes.push(n);
        }
    }

    /// Dependencies without server metrics (databases, caches) are judged from their callers' side.
    fn silent_dependencies(&self, b: &mut Board, edges: &EdgeChanges, onset: i64, notes: &mut Vec<String>) {
        for ((s, t), (dl, z)) in &edges.lat {
            let server = self.s_p99.get(t).map(|x| delta(x, onset, 0.005));
            let base = server.as_ref().map(|d| d.before).unwrap_or(0.01);
            match server {
                Some(d) if *z > 5.0 && *dl > 0.05 && (d.after - d.before) < 0.3 * dl => {
                    let drops = edges.timeouts.get(&(s.clone(), t.clone())).copied().unwrap_or(0.0);
                    let w = 1.5 + (dl / base.max(0.01)).min(3.0) * 0.5;
                    // A starved process queues requests before its handler starts the clock:
                    // its own histogram holds while its callers wait. A starved caller's
                    // clock runs while it waits for CPU to read the answer.
                    let (at, kind, n, ev) = if let Some((why, span)) = self.starved.get(t) {
                        (
                            t,
                            FaultKind::CpuSaturation,
                            format!(
                                "{s} → {t}: p99 up {:.0} ms while {t}'s handlers take as long as before and {t} {why}",
                                dl * 1000.0
                            ),
                            self.ev(CALL_LATENCY).into_iter().chain(*span).collect(),
                        )
                    } else if let Some((why, span)) = self.starved.get(s) {
                        (
                            s,
                            FaultKind::CpuSaturation,
                            format!(
                                "{s} → {t}: p99 up {:.0} ms as {s} measures it, while {t} answers as fast as before and {s} {why}",
                                dl * 1000.0
                            ),
                            self.ev(CALL_LATENCY).into_iter().chain(*span).collect(),
                        )
                    } else {
                        (
                            t,
                            if drops > 0.0 {
                                FaultKind::PacketLoss
                            } else {
                                FaultKind::NetworkDelay
                            },
                            format!(
                                "{s} → {t}: p99 up {:.0} ms while {t} itself answers as fast as before{}",
                                dl * 1000.0,
                                if drops > 0.0 { ", and calls time out" } else { "" }
                            ),
                            self.ev(CALL_LATENCY),
                        )
                    };
                    b.add(at, kind, true, w, &ev, n.clone());
                    notes.push(n);
                    *b.anomaly.entry(at.clone()).or_default() += 1.5;
                }
                // No server metrics (a database, a cache, something outside): slower calls say
                // something is wrong there, not what; only a known server is guessed to be busy.
                None if *z > 5.0 && *dl > 0.02 && !self.starved.contains_key(s) => {
                    let n = format!("calls from {s} to {t} slowed by {:.0} ms", dl * 1000.0);
                    if !b.databases.contains(t) && !b.caches.contains(t) {
                        let w = 0.6 + (dl * 5.0).min(2.0);
                        b.add(t, FaultKind::CpuSaturation, false, w, &self.ev(CALL_LATENCY), n.clone());
                    }
                    *b.anomaly.entry(t.clone()).or_default() += 1.0 + (dl * 5.0).min(2.0);
                    notes.push(n);
                }
                _ => {}
            }
        }
        // Calls failing to a dependency that reports nothing itself make it anomalous.
        for ((_, t), e) in &edges.err {
            if *e > 0.02 && !b.serving.contains(t) {
                *b.anomaly.entry(t.clone()).or_default() += (e * 10.0).min(3.0);
            }
        }
    }
}

/// Request rate, errors and latency for every service and every call edge, with
/// each service's change attributed to itself or to the dependencies it calls.
pub async fn red(ctx: &BranchCtx, b: &mut Board) -> Result<(), BranchEnd> {
    let (start, onset, now) = window(b, ctx);
    let since = Since::mark(ctx, "prometheus");
    let mut red = Red::query(ctx, start, now).await?;
    red.starved = starved(ctx, (start, onset, now)).await?;
    let mut notes = Vec::new();
    let edges = red.edges(b, onset, &mut notes);
    for (svc, tot) in &red.s_tot {
        red.service(b, &edges, onset, svc, tot, &mut notes);
    }
    red.silent_dependencies(b, &edges, onset, &mut notes);
    notes.truncate(6);
    ctx.think(since.verdict(
        ctx,
        "RED metrics around the onset",
        &notes,
        "no service changed clearly",
    ));
    Ok(())
}

/// Requests per minute above a p99 below which it is the few slowest calls, not a trend.
const TAIL_CALLS: f64 = 10.0;

/// Whether a rise in an edge's p99 is a change, not a burst: most points since
/// the onset sit well above the old level, nearly all of them when so few calls
/// make up the tail that one slow neighbour moves it (and with under four
/// points since the onset, every one above anything the edge showed before).
fn supported(p99: &[(i64, f64)], onset: i64, d: &Delta, rate: f64) -> bool {
    let after = split(p99, onset).1;
    let mid = d.before + 0.5 * (d.after - d.before);
    let high = after.iter().filter(|x| **x > mid).count() as f64;
    let n = after.len() as f64;
    if rate * 60.0 * 0.01 >= TAIL_CALLS {
        high >= 0.5 * n
    } else {
        // Too few points since the onset to tell: every one of them beyond
        // anything the edge showed before, bursts included.
        let (before, _) = split(p99, onset);
        let peak = before.iter().copied().fold(0.0, f64::max);
        let beyond = n >= 2.0 && after.iter().all(|x| *x > 1.5 * peak);
        (n >= 4.0 && high >= 0.75 * n) || beyond
    }
}

/// Services whose process went short of CPU at the onset (throttled in a
/// large share of its CFS periods), stopped answering its scrapes or answers
/// them several times slower: what its callers see is then queueing in the
/// process, not a slow path.
pub async fn starved(ctx: &BranchCtx, (start, onset, now): (i64, i64, i64)) -> Result<Starved, BranchEnd> {
    let mut out = BTreeMap::new();
    let qs = [
        "sum by (service) (rate(container_cpu_cfs_throttled_periods_total[2m])) / sum by (service) (rate(container_cpu_cfs_periods_total[2m]))",
        "min by (service) (up)",
        "max by (service) (scrape_duration_seconds)",
    ];
    for (i, q) in qs.iter().enumerate() {
        let Some((series, ev)) = range(ctx, q, start, now, STEP).await? else {
            continue;
        };
        for s in &series {
            let svc = s.label("service");
            let (bf, af) = split(&s.samples, onset);
            let (mb, ma) = (median(&bf).unwrap_or(0.0), median(&af).unwrap_or(0.0));
            let why = match i {
                0 if throttled(mb, ma) => format!(
                    "was CPU-throttled in {:.0}% of periods (was {:.0}%)",
                    ma * 100.0,
                    mb * 100.0
                ),
                1 if mb >= 1.0 && af.iter().filter(|x| **x < 1.0).count() >= 2 => format!(
                    "failed {} of its {} scrapes since the onset",
                    af.iter().filter(|x| **x < 1.0).count(),
                    af.len()
                ),
                2 if mb > 0.0 && ma > 4.0 * mb && ma > 0.5 => {
                    format!("took {:.1} s to answer its scrapes (was {:.2} s)", ma, mb)
                }
                _ => continue,
            };
            if !svc.is_empty() && !out.contains_key(svc) {
                out.insert(svc.to_string(), (why, Some(ev)));
            }
        }
    }
    Ok(out)
}

/// CPU throttled in a large share of periods, and much more than before.
pub fn throttled(before: f64, after: f64) -> bool {
    after > 0.15 && after - before > 0.12
}

/// Walks the dependency graph from the alerting service towards anomalous
/// dependencies (personalised PageRank), and credits where the walk ends.
pub async fn walk(ctx: &BranchCtx, b: &mut Board) -> Result<(), BranchEnd> {
    ctx.checkpoint().await?;
    let names: Vec<String> = b.services.iter().cloned().collect();
    let idx: BTreeMap<&str, usize> = names.iter().enumerate().map(|(i, s)| (s.as_str(), i)).collect();
    let anomaly = b.anomaly.clone();
    let anom = |s: &str| anomaly.get(s).copied().unwrap_or(0.0);
    let mut edges: Vec<Vec<(usize, f64)>> = vec![vec![]; names.len()];
    for (s, t) in &b.edges {
        if let (Some(&i), Some(&j)) = (idx.get(s.as_str()), idx.get(t.as_str())) {
            edges[i].push((j, 0.05 + anom(t)));
            // A weak way back up, as MicroRCA's walk allows.
            edges[j].push((i, 0.02 + 0.1 * anom(s)));
        }
    }
    let alert = b.alert_service.clone().unwrap_or_default();
    let personal: Vec<f64> = names
        .iter()
        .map(|s| anom(s) + if *s == alert { 1.0 } else { 0.0 } + 0.01)
        .collect();
    let pr = pagerank(&edges, &personal, 0.85, 60);
    let mut ranked: Vec<(String, f64)> = names
        .iter()
        .enumerate()
        .map(|(i, s)| (s.clone(), pr[i] * (0.1 + anom(s))))
        .collect();
    ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));

    // Greedy descent: follow the most anomalous dependency until none is.
    let mut at = alert.clone();
    let mut path = vec![at.clone()];
    for _ in 0..12 {
        let next = b
            .callees(&at)
            .into_iter()
            .filter(|c| anom(c) > 0.8 && !path.contains(c))
            .max_by(|x, y| anom(x).total_cmp(&anom(y)).then(y.cmp(x)));
        match next {
            Some(n) => {
                at = n.clone();
                path.push(n);
            }
            None => break,
        }
    }
    let ev: Vec<SpanId> = b
        .signals
        .iter()
        .filter(|s| s.service == at)
        .flat_map(|s| s.evidence.clone())
        .take(3)
        .collect();
    if path.len() > 1 || anom(&at) > 0.8 {
        let guess = b
            .signals
            .iter()
            .filter(|s| s.service == at)
            .max_by(|x, y| x.weight.total_cmp(&y.weight))
            .map(|s| s.kind)
            .unwrap_or(FaultKind::BadDeploy);
        b.add(
            &at,
            guess,
            false,
            2.5,
            &ev,
            format!("the walk from {alert} ends at {at} ({})", path.join(" → ")),
        );
    }
    let total: f64 = ranked.iter().map(|r| r.1).sum::<f64>().max(1e-9);
    for (s, score) in ranked.iter().take(3) {
        let share = score / total;
        if share > 0.15 && anom(s) > 0.5 {
            let guess = b
                .signals
                .iter()
                .filter(|x| x.service == *s)
                .max_by(|x, y| x.weight.total_cmp(&y.weight))
                .map(|x| x.kind)
                .unwrap_or(FaultKind::BadDeploy);
            b.add(
                s,
                guess,
                false,
                2.0 * share,
                &[],
                format!("PageRank share {:.0}%", share * 100.0),
            );
        }
    }
    ctx.think(format!(
        "Dependency walk: {}; PageRank leaders: {}.",
        path.join(" → "),
        ranked
            .iter()
            .take(3)
            .map(|(s, v)| format!("{s} {:.3}", v))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: i64 = 1_800_000_000_000;

    /// 40 points every 30 s: `before` for the first 30, `after` from then on.
    fn step(before: f64, after: f64) -> Vec<(i64, f64)> {
        (0..40)
            .map(|i| (T0 + i * 30_000, if i < 30 { before } else { after }))
            .collect()
    }

    fn onset() -> i64 {
        T0 + 30 * 30_000
    }

    fn red() -> Red {
        Red {
            s_err: Grouped::new(),
            s_tot: Grouped::new(),
            s_p99: Grouped::new(),
            c_tr: Grouped::new(),
            c_err: Grouped::new(),
            c_tot: Grouped::new(),
            c_p99: Grouped::new(),
            s_401: Grouped::new(),
            starved: BTreeMap::new(),
            spans: vec![None; 8],
        }
    }

    fn kinds(b: &Board, svc: &str) -> Vec<FaultKind> {
        b.signals.iter().filter(|s| s.service == svc).map(|s| s.kind).collect()
    }

    #[test]
    fn error_types_are_read_as_classes() {
        for (raw, class) in [
            ("connection_refused", Some("connection_refused")),
            ("ConnectionRefusedError", Some("connection_refused")),
            ("TimeoutError", Some("timeout")),
            ("SSLCertVerificationError", Some("tls_error")),
            ("NameResolutionError", Some("dns_error")),
            ("_OTHER", None),
            ("500", None),
        ] {
            assert_eq!(error_class(raw), class, "{raw}");
        }
    }

    #[test]
    fn a_p99_burst_on_a_low_rate_edge_is_not_a_change() {
        // 2 requests/s: the p99 of a minute is its slowest call or two.
        let mut burst = step(0.05, 0.05);
        for x in burst.iter_mut().skip(31).take(2) {
            x.1 = 0.6;
        }
        let d = delta(&burst, onset(), 0.003);
        assert!(!supported(&burst, onset(), &d, 2.0));
        // Two points into the change (the alert just fired): they count only
        // above every burst the edge had before.
        let mut fresh = step(0.05, 0.05);
        fresh[10].1 = 0.5;
        fresh.truncate(32);
        fresh[30].1 = 0.6;
        fresh[31].1 = 0.6;
        let d = delta(&fresh, onset(), 0.003);
        assert!(!supported(&fresh, onset(), &d, 2.0));
        fresh[30].1 = 2.4;
        fresh[31].1 = 2.5;
        let d = delta(&fresh, onset(), 0.003);
        assert!(supported(&fresh, onset(), &d, 2.0));
        // The same rise held since the onset is one, at any rate.
        let held = step(0.05, 0.6);
        let d = delta(&held, onset(), 0.003);
        assert!(supported(&held, onset(), &d, 2.0));
        assert!(supported(&held, onset(), &d, 500.0));
    }

    /// frontend → catalog: p99 up and calls timing out while catalog's own handlers take as long as before.
    fn callers_wait_on_catalog() -> Red {
        let mut r = red();
        r.s_tot.insert("catalog".into(), step(20.0, 20.0));
        r.s_p99.insert("catalog".into(), step(0.025, 0.026));
        r.c_tot.insert("frontend/catalog".into(), step(20.0, 20.0));
        r.c_p99.insert("frontend/catalog".into(), step(0.03, 0.9));
        r.c_tr.insert("frontend/catalog/timeout".into(), step(0.0, 4.0));
        r
    }

    fn read(r: &Red) -> Board {
        let mut b = Board::default();
        b.serving.insert("catalog".into());
        let mut notes = Vec::new();
        let edges = r.edges(&mut b, onset(), &mut notes);
        r.silent_dependencies(&mut b, &edges, onset(), &mut notes);
        b
    }

    #[test]
    fn a_server_that_answers_as_fast_as_before_points_at_the_path() {
        let b = read(&callers_wait_on_catalog());
        assert!(
            kinds(&b, "catalog").iter().all(|k| *k == FaultKind::PacketLoss),
            "{:?}",
            kinds(&b, "catalog")
        );
    }

    #[test]
    fn a_cpu_starved_server_is_saturated_even_though_its_handlers_look_fast() {
        let mut r = callers_wait_on_catalog();
        r.starved.insert(
            "catalog".into(),
            ("was CPU-throttled in 44% of periods (was 1%)".into(), None),
        );
        let b = read(&r);
        assert_eq!(
            kinds(&b, "catalog"),
            vec![FaultKind::CpuSaturation, FaultKind::CpuSaturation]
        );
        assert!(
            b.signals
                .iter()
                .all(|s| s.specific && s.note.contains("CPU-throttled in 44%"))
        );
    }

    #[test]
    fn a_cpu_starved_caller_is_saturated_not_the_path_it_times() {
        // frontend measures its calls to catalog slower while catalog answers as before:
        // frontend itself is throttled, so the wait is its own.
        let mut r = callers_wait_on_catalog();
        r.starved.insert(
            "frontend".into(),
            ("was CPU-throttled in 84% of periods (was 0%)".into(), None),
        );
        let b = read(&r);
        assert!(kinds(&b, "catalog").is_empty(), "{:?}", kinds(&b, "catalog"));
        assert_eq!(
            kinds(&b, "frontend"),
            vec![FaultKind::CpuSaturation, FaultKind::CpuSaturation]
        );
        assert!(
            b.signals.iter().any(|s| s.note.contains("as frontend measures it")),
            "{:?}",
            b.signals
        );
    }

    #[test]
    fn slower_calls_into_a_database_without_server_metrics_name_no_kind() {
        let mut r = red();
        r.c_tot.insert("checkout/orders-db".into(), step(50.0, 50.0));
        r.c_p99.insert("checkout/orders-db".into(), step(0.01, 0.3));
        let mut b = Board::default();
        b.databases.insert("orders-db".into());
        let mut notes = Vec::new();
        let edges = r.edges(&mut b, onset(), &mut notes);
        r.silent_dependencies(&mut b, &edges, onset(), &mut notes);
        assert!(kinds(&b, "orders-db").is_empty());
        assert!(
            b.anomaly.get("orders-db").copied().unwrap_or(0.0) > 1.0,
            "still anomalous for the walk"
        );
        assert!(
            notes
                .iter()
                .any(|n| n.contains("calls from checkout to orders-db slowed by 290 ms"))
        );
    }
}
