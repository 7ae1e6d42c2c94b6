//! Resource signals: CPU throttling, memory against its limit (peaks, not
//! samples), OOM kills and restarts, replicas, disk, connection pools, cache
//! hits and consumer lag.

use std::collections::{BTreeMap, BTreeSet};

use super::board::Board;
use super::metrics::window;
use super::query::{Since, range};
use crate::model::{FaultKind, SpanId};
use crate::reason::{BranchCtx, BranchEnd};
use crate::tools::stats::{median, split};

const STEP: &str = "30s";

/// Memory's share of the limit at its peak between samples: a container killed
/// for memory is gone before a single sample sees it full.
const MEMORY_PEAK: &str =
    "max by (service) (max_over_time(container_memory_working_set_bytes[1m]) / container_spec_memory_limit_bytes)";

/// Busy connections against max_connections: idle ones wait in the pool,
/// postgres_exporter counts them all the same.
const BUSY_CONNECTIONS: &str =
    "sum by (service) (pg_stat_activity_count{state!=\"idle\"}) / max by (service) (pg_settings_max_connections)";

/// Resource signals: CPU throttling, memory, restarts, replicas, disk, pools, cache hits, consumer lag.
pub async fn resources(ctx: &BranchCtx, b: &mut Board) -> Result<(), BranchEnd> {
    let (start, onset, now) = window(b, ctx);
    let since = Since::mark(ctx, "prometheus");
    let qs = [
        "sum by (service) (rate(container_cpu_cfs_throttled_periods_total[2m])) / sum by (service) (rate(container_cpu_cfs_periods_total[2m]))",
        MEMORY_PEAK,
        "sum by (service) (increase(kube_pod_container_status_restarts_total[5m]))",
        "sum by (service) (kube_deployment_status_replicas_available) / sum by (service) (kube_deployment_spec_replicas)",
        "max by (service) (kubelet_volume_stats_used_bytes / kubelet_volume_stats_capacity_bytes)",
        BUSY_CONNECTIONS,
        "sum by (service) (rate(redis_keyspace_hits_total[2m])) / (sum by (service) (rate(redis_keyspace_hits_total[2m])) + sum by (service) (rate(redis_keyspace_misses_total[2m])))",
        "max by (service) (kafka_consumergroup_lag)",
        "sum by (service) (increase(container_oom_events_total[5m]))",
        "max by (service) (kube_pod_container_status_last_terminated_reason{reason=\"OOMKilled\"})",
    ];
    let mut memory = Memory::default();
    let mut notes = Vec::new();
    for (i, q) in qs.iter().enumerate() {
        let Some((series, evs)) = range(ctx, q, start, now, STEP).await? else {
            continue;
        };
        let ev = [evs];
        let mut dips: Vec<(String, f64, f64)> = Vec::new();
        for s in &series {
            let svc = s.label("service").to_string();
            if svc.is_empty() || s.samples.is_empty() {
                continue;
            }
            let (bf, af) = split(&s.samples, onset);
            let mb = median(&bf).unwrap_or(0.0);
            let ma = median(&af).unwrap_or(0.0);
            let max_a = af.iter().copied().fold(f64::MIN, f64::max);
            let min_a = af.iter().copied().fold(f64::MAX, f64::min);
            let mut add = |kind: FaultKind, specific: bool, w: f64, n: String| {
                notes.push(n.clone());
                b.add(&svc, kind, specific, w, &ev, n);
            };
            match i {
                0 if super::metrics::throttled(mb, ma) => add(
                    FaultKind::CpuSaturation,
                    true,
                    2.0 + 4.0 * (ma - mb),
                    format!(
                        "{svc} CPU throttled in {:.0}% of periods (was {:.0}%)",
                        ma * 100.0,
                        mb * 100.0
                    ),
                ),
                1 => {
                    memory.peak.insert(svc.clone(), (mb, max_a, evs));
                }
                2 => {
                    let total: f64 = af.iter().sum::<f64>() / 10.0;
                    if max_a >= 1.0 && total >= 0.3 {
                        memory.restarting.insert(svc.clone());
                        add(
                            FaultKind::PodCrashloop,
                            false,
                            1.0 + total.min(3.0),
                            format!("{svc} containers restarting since the onset"),
                        )
                    }
                }
                // Below desired: checked below against the absolute count, since a scale-out
                // (desired rising ahead of available) dips the ratio without losing anything.
                3 if mb > 0.0 && min_a < 0.85 * mb => dips.push((svc.clone(), mb, min_a)),
                4 if max_a > 0.97 => add(
                    FaultKind::DiskFull,
                    true,
                    4.0,
                    format!("{svc} volume {:.0}% full", max_a * 100.0),
                ),
                5 if ma > 0.9 && mb < 0.85 => add(
                    FaultKind::ConnectionPoolExhaustion,
                    true,
                    3.0 + 3.0 * (ma - mb),
                    format!(
                        "{svc} busy connections at {:.0}% of max_connections (was {:.0}%)",
                        ma * 100.0,
                        mb * 100.0
                    ),
                ),
                6 if mb - ma > 0.15 => add(
                    FaultKind::CacheFailure,
                    true,
                    3.0 + 4.0 * (mb - ma),
                    format!("{svc} cache hit ratio {:.0}% → {:.0}%", mb * 100.0, ma * 100.0),
                ),
                7 => {
                    let last = af.last().copied().unwrap_or(0.0);
                    // A slow creep has no sharp onset: compare with the start of the window too.
                    let first = bf.iter().chain(af.iter()).take(4).copied().fold(f64::MAX, f64::min);
                    let base = mb.min(first.max(0.0));
                    if last > (base * 5.0).max(200.0) && last > ma {
                        add(
                            FaultKind::QueueBacklog,
                            true,
                            3.0 + (last / (base.max(10.0) * 10.0)).min(2.0),
                            format!("{svc} consumer lag {:.0} → {:.0} messages", base, last),
                        )
                    }
                }
                8 if max_a > 0.5 => {
                    memory.killed.insert(svc.clone(), (max_a, evs));
                }
                9 if max_a >= 1.0 && mb < 0.5 => {
                    memory.last_oom.insert(svc.clone(), evs);
                }
                _ => {}
            }
        }
        for (svc, mb, min_a) in dips {
            if svc.contains(['"', '\\']) {
                continue;
            }
            if none_lost(ctx, &svc, (start, onset, now)).await? {
                notes.push(format!(
                    "{svc} below its desired replicas only because desired rose (a scale-out; none lost)"
                ));
                continue;
            }
            let n = format!("{svc} available replicas fell to {:.0}% of desired", min_a * 100.0);
            notes.push(n.clone());
            b.add(&svc, FaultKind::ReplicaLoss, false, 1.5 + 3.0 * (mb - min_a), &ev, n);
        }
    }
    memory.read(b, &mut notes);
    notes.truncate(6);
    ctx.think(since.verdict(ctx, "Resources", &notes, "nothing saturated, restarting or missing"));
    Ok(())
}

/// What memory, restarts and OOM kills say together, per service.
#[derive(Default)]
struct Memory {
    /// Median share of the limit before the onset, peak after, and the evidence.
    peak: BTreeMap<String, (f64, f64, SpanId)>,
    restarting: BTreeSet<String>,
    /// OOM kills counted by the kubelet since the onset.
    killed: BTreeMap<String, (f64, SpanId)>,
    /// The last container exit was OOMKilled, and was not before the onset.
    last_oom: BTreeMap<String, SpanId>,
}

impl Memory {
    /// An OOM kill names the fault outright; a peak near the limit nearly does;
    /// a container that keeps restarting while its memory climbs far above its
    /// usual share of the limit is being killed for memory between samples.
    fn read(&self, b: &mut Board, notes: &mut Vec<String>) {
        let names: BTreeSet<&String> = self
            .peak
            .keys()
            .chain(self.killed.keys())
            .chain(self.last_oom.keys())
            .collect();
        for svc in names {
            let peak = self.peak.get(svc);
            let mut ev: Vec<SpanId> = peak.iter().map(|p| p.2).collect();
            let mut why = Vec::new();
            let mut w: f64 = 0.0;
            if let Some((n, e)) = self.killed.get(svc) {
                why.push(format!("OOM-killed {n:.0} times since the onset"));
                w = w.max(3.0 + n.min(4.0) * 0.5);
                ev.push(*e);
            }
            if let Some(e) = self.last_oom.get(svc) {
                why.push("its last container exit was OOMKilled".to_string());
                w = w.max(3.0);
                ev.push(*e);
            }
            if let Some((mb, max_a, _)) = peak {
                let (mb, max_a) = (*mb, *max_a);
                let near_limit = max_a > 0.88 && max_a - mb > 0.2;
                let climbs = self.restarting.contains(svc) && max_a >= 0.6 && max_a - mb >= 0.3;
                if near_limit || climbs || !why.is_empty() {
                    why.push(format!(
                        "memory reached {:.0}% of its limit (median before {:.0}%){}",
                        max_a * 100.0,
                        mb * 100.0,
                        if climbs && !near_limit { " between restarts" } else { "" }
                    ));
                }
                if near_limit {
                    w = w.max(2.0 + 3.0 * (max_a - mb));
                } else if climbs {
                    w = w.max(1.5 + 2.0 * (max_a - mb));
                }
            }
            if w > 0.0 {
                let n = format!("{svc} {}", why.join(", "));
                notes.push(n.clone());
                b.add(svc, FaultKind::MemoryLeak, true, w, &ev, n);
            }
        }
    }
}

/// Whether `svc` kept every replica it had before the onset (its available
/// count never fell), so that being below desired means desired rose.
async fn none_lost(ctx: &BranchCtx, svc: &str, (start, onset, now): (i64, i64, i64)) -> Result<bool, BranchEnd> {
    let q = format!("sum by (service) (kube_deployment_status_replicas_available{{service=\"{svc}\"}})");
    Ok(match range(ctx, &q, start, now, STEP).await? {
        Some((abs, _)) => abs.first().is_some_and(|a| {
            let (bf, af) = split(&a.samples, onset);
            let before = median(&bf).unwrap_or(0.0);
            let least = af.iter().copied().fold(f64::MAX, f64::min);
            before > 0.0 && least >= 0.95 * before
        }),
        None => false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::sim::promql::query_instant;
    use crate::sources::sim::series::SeriesSet;
    use crate::sources::telemetry::{InstantResult, MetricSeries};

    fn series(name: &str, labels: &[(&str, &str)], samples: &[(i64, f64)]) -> MetricSeries {
        let mut l: crate::sources::telemetry::Labels =
            labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        l.insert("__name__".into(), name.into());
        MetricSeries {
            labels: l,
            samples: samples.iter().map(|&(t, v)| (t * 1000, v)).collect(),
        }
    }

    fn value(set: &SeriesSet, q: &str, t: i64) -> f64 {
        match query_instant(set, q, t * 1000).expect("query") {
            InstantResult::Vector(v) => v[0].samples[0].1,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_pool_at_rest_is_not_full_because_its_idle_connections_are_counted() {
        // postgres_exporter at rest: 18 idle, 1 active, 1 idle in transaction, of 20.
        let db = [("service", "orders-db"), ("datname", "orders")];
        let at = |state: &'static str, v: f64| {
            let mut l = db.to_vec();
            l.push(("state", state));
            series("pg_stat_activity_count", &l, &[(0, v), (60, v)])
        };
        let set = SeriesSet::new(vec![
            at("idle", 18.0),
            at("active", 1.0),
            at("idle in transaction", 1.0),
            series("pg_settings_max_connections", &db[..1], &[(0, 20.0), (60, 20.0)]),
        ]);
        assert!((value(&set, BUSY_CONNECTIONS, 60) - 0.1).abs() < 1e-9);
    }

    #[test]
    fn memory_is_read_at_its_peak_between_samples() {
        // Scraped every 10 s: 0.96 of the limit for one scrape, then killed and back at 0.2.
        let c = [("service", "catalog"), ("pod", "catalog-1")];
        let set = SeriesSet::new(vec![
            series(
                "container_memory_working_set_bytes",
                &c,
                &[(0, 20.0), (10, 60.0), (20, 96.0), (30, 20.0)],
            ),
            series(
                "container_spec_memory_limit_bytes",
                &c,
                &[(0, 100.0), (10, 100.0), (20, 100.0), (30, 100.0)],
            ),
        ]);
        assert!((value(&set, MEMORY_PEAK, 30) - 0.96).abs() < 1e-9);
    }

    fn span(n: u8) -> SpanId {
        SpanId::from_bytes([n; 8]).expect("not all zero")
    }

    fn kinds(b: &Board, svc: &str) -> Vec<(FaultKind, bool)> {
        b.signals
            .iter()
            .filter(|s| s.service == svc)
            .map(|s| (s.kind, s.specific))
            .collect()
    }

    #[test]
    fn oom_kills_and_a_restarting_container_whose_memory_climbs_are_a_memory_leak() {
        let mut m = Memory::default();
        m.killed.insert("catalog".into(), (3.0, span(1)));
        // Restarting, memory from 16 % to 77 % of its limit: killed between samples.
        m.peak.insert("search".into(), (0.16, 0.77, span(2)));
        m.restarting.insert("search".into());
        // High but steady, not restarting: a big cache, not a leak.
        m.peak.insert("cache".into(), (0.70, 0.80, span(3)));
        let mut b = Board::default();
        let mut notes = Vec::new();
        m.read(&mut b, &mut notes);
        assert_eq!(kinds(&b, "catalog"), vec![(FaultKind::MemoryLeak, true)]);
        assert_eq!(kinds(&b, "search"), vec![(FaultKind::MemoryLeak, true)]);
        assert!(kinds(&b, "cache").is_empty());
        assert!(
            notes.iter().any(|n| n.contains("catalog OOM-killed 3 times")),
            "{notes:?}"
        );
        assert!(
            notes
                .iter()
                .any(|n| n.contains("search memory reached 77% of its limit (median before 16%) between restarts")),
            "{notes:?}"
        );
    }
}
