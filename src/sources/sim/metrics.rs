//! Renders the model into metric series named as real exporters name them
//! (OpenTelemetry HTTP semantic conventions, cAdvisor, kube-state-metrics,
//! postgres/redis/kafka exporters).

// Series are parallel arrays indexed by step; loops over the step index read clearer than zipped iterators.
#![allow(clippy::needless_range_loop)]

use super::dynamics::{CODES, Dynamics, Edge, Errs, Pod, Svc};
use super::rng::{Rng, norm_cdf};
use super::scenario::ServiceKind;
use super::series::{Grid, SeriesSet};
use crate::sources::telemetry::Labels;

/// Histogram bucket bounds, seconds.
pub const BUCKETS: [f64; 11] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn fmt_le(b: f64) -> String {
    if b.is_infinite() {
        "+Inf".into()
    } else {
        let s = format!("{b}");
        if s.contains('.') { s } else { format!("{s}.0") }
    }
}

/// Requests per step for one histogram family, split by outcome.
struct Outcome<'a> {
    /// Label pairs for this outcome (status code or error type).
    extra: Vec<(&'a str, String)>,
    counts: Vec<f64>,
}

/// Writes `<name>_bucket|_sum|_count` series for a request stream.
#[allow(clippy::too_many_arguments)]
fn histogram(
    out: &mut SeriesSet,
    d: &Dynamics,
    name: &str,
    base: &[(&str, &str)],
    outcomes: Vec<Outcome<'_>>,
    median_ms: &[f64],
    sigma: f64,
    rng: &mut Rng,
) {
    let mut bounds: Vec<f64> = BUCKETS.to_vec();
    bounds.push(f64::INFINITY);
    for o in outcomes {
        let first = match o.counts.iter().position(|c| *c > 0.0) {
            Some(f) => f,
            None => continue,
        };
        let mut lab = labels(base);
        for (k, v) in &o.extra {
            lab.insert(k.to_string(), v.clone());
        }
        // Counters carry history from before the window.
        let offset = (o.counts[first] * rng.range(40.0, 200.0)).round();
        let mut cum_b = vec![offset; bounds.len()];
        for (k, b) in bounds.iter().enumerate() {
            if b.is_finite() {
                let z = ((b * 1000.0).ln() - median_ms[first].max(0.01).ln()) / sigma;
                cum_b[k] = (offset * norm_cdf(z)).round();
            }
        }
        let mut cum_sum = offset * median_ms[first] / 1000.0 * (sigma * sigma / 2.0).exp();
        let mut series_b: Vec<Vec<f64>> = vec![Vec::with_capacity(d.n - first); bounds.len()];
        let mut series_sum = Vec::with_capacity(d.n - first);
        let mut series_cnt = Vec::with_capacity(d.n - first);
        for i in first..d.n {
            let c = o.counts[i];
            let m = median_ms[i].max(0.01);
            let mut prev = 0.0;
            for (k, b) in bounds.iter().enumerate() {
                let frac = if b.is_finite() {
                    norm_cdf(((b * 1000.0).ln() - m.ln()) / sigma)
                } else {
                    1.0
                };
                let v = (c * frac).round().max(prev);
                prev = v;
                cum_b[k] += v;
                series_b[k].push(cum_b[k]);
            }
            cum_sum += c * m / 1000.0 * (sigma * sigma / 2.0).exp();
            series_sum.push((cum_sum * 1000.0).round() / 1000.0);
            series_cnt.push(cum_b[bounds.len() - 1]);
        }
        for (k, b) in bounds.iter().enumerate() {
            let mut l = lab.clone();
            l.insert("__name__".into(), format!("{name}_bucket"));
            l.insert("le".into(), fmt_le(*b));
            out.push_grid(l, first, std::mem::take(&mut series_b[k]));
        }
        let mut l = lab.clone();
        l.insert("__name__".into(), format!("{name}_sum"));
        out.push_grid(l, first, series_sum);
        let mut l = lab;
        l.insert("__name__".into(), format!("{name}_count"));
        out.push_grid(l, first, series_cnt);
    }
}

/// Splits request counts per step into outcomes by status code.
fn split_codes(rng: &mut Rng, rps: &[f64], errs: &[Errs], step_s: f64) -> (Vec<f64>, Vec<Vec<f64>>) {
    let n = rps.len();
    let mut ok = vec![0.0; n];
    let mut by_code = vec![vec![0.0; n]; CODES.len()];
    for i in 0..n {
        let total = rng.poisson(rps[i] * step_s) as f64;
        let mut left = total;
        for (k, frac) in errs[i].0.iter().enumerate() {
            let c = rng.poisson(total * frac) as f64;
            let c = c.min(left);
            by_code[k][i] = c;
            left -= c;
        }
        ok[i] = left;
    }
    (ok, by_code)
}

/// A series of one value a step from step `first` on.
fn gauge(out: &mut SeriesSet, name: &str, base: &[(&str, &str)], first: usize, values: Vec<f64>) {
    if values.is_empty() {
        return;
    }
    let mut l = labels(base);
    l.insert("__name__".into(), name.to_string());
    out.push_grid(l, first, values);
}

/// One outcome per status code: 200 for `ok`, then the error codes in order.
fn by_status(ok: Vec<f64>, by_code: Vec<Vec<f64>>) -> Vec<Outcome<'static>> {
    let mut out = vec![Outcome {
        extra: vec![("http_response_status_code", "200".into())],
        counts: ok,
    }];
    for (k, c) in by_code.into_iter().enumerate() {
        out.push(Outcome {
            extra: vec![("http_response_status_code", CODES[k].to_string())],
            counts: c,
        });
    }
    out
}

/// Every series of the simulated system.
pub fn render(d: &Dynamics, seed: u64) -> SeriesSet {
    let mut out = SeriesSet::on_grid(Grid {
        start: d.start,
        step_ms: d.step_ms,
    });
    for (si, s) in d.svcs.iter().enumerate() {
        // One stream per service, drawn from by its server histogram and then its cache counters.
        let mut rng = Rng::keyed(seed, &format!("metrics/{}", s.name));
        if s.kind.serves_requests() {
            server_requests(&mut out, d, s, &mut rng);
        }
        for e in d.edges.iter().filter(|e| e.from == si) {
            client_requests(&mut out, d, s, e, seed);
        }
        for p in s.pods.iter().filter(|p| !p.pull_failing) {
            container(&mut out, d, s, p, seed);
        }
        deployment(&mut out, d, s);
        if let Some(disk) = &s.disk {
            volume(&mut out, d, s, disk);
        }
        if !s.pool_max.is_empty() {
            connection_pool(&mut out, d, s);
        }
        if s.kind == ServiceKind::Cache {
            cache(&mut out, d, si, s, &mut rng);
        }
        for (topic, lag) in &s.lag {
            let lbase = [
                ("service", s.name.as_str()),
                ("namespace", s.namespace.as_str()),
                ("consumergroup", s.name.as_str()),
                ("topic", topic.as_str()),
            ];
            gauge(
                &mut out,
                "kafka_consumergroup_lag",
                &lbase,
                0,
                times(d, |i| lag[i].round()),
            );
        }
    }
    out.shrink();
    out
}

/// One value per step of the window.
fn times(d: &Dynamics, f: impl Fn(usize) -> f64) -> Vec<f64> {
    (0..d.n).map(f).collect()
}

/// The server side of a service's requests, by status code.
fn server_requests(out: &mut SeriesSet, d: &Dynamics, s: &Svc, rng: &mut Rng) {
    let svc = s.name.as_str();
    let route = format!("/api/{}", svc.split('-').next().unwrap_or(svc));
    let (ok, by_code) = split_codes(rng, &s.rps, &s.errs, d.step_s());
    let outcomes = by_status(ok, by_code);
    let base = [
        ("service", svc),
        ("namespace", s.namespace.as_str()),
        ("http_route", route.as_str()),
        ("http_request_method", "GET"),
    ];
    histogram(
        out,
        d,
        "http_server_request_duration_seconds",
        &base,
        outcomes,
        &s.latency_ms,
        s.sigma,
        rng,
    );
}

/// The client side of one call edge: answered calls by status code, and
/// calls that never got an answer by error type.
fn client_requests(out: &mut SeriesSet, d: &Dynamics, s: &Svc, e: &Edge, seed: u64) {
    let step_s = d.step_s();
    let svc = s.name.as_str();
    let peer = &d.svcs[e.to];
    let mut r = Rng::keyed(seed, &format!("client/{}/{}", svc, peer.name));
    let n = d.n;
    let mut transport: Vec<Vec<f64>> = vec![vec![0.0; n]; 4];
    let mut answered_rps = vec![0.0; n];
    for i in 0..n {
        let tr = e.transport[i];
        for (k, (_, frac)) in tr.items().iter().enumerate() {
            transport[k][i] = r.poisson(e.rps[i] * step_s * frac) as f64;
        }
        answered_rps[i] = e.rps[i] * (1.0 - tr.total());
    }
    let mut seen = e.errs.clone();
    let reach: Vec<f64> = e.transport.iter().map(|t| 1.0 - t.total()).collect();
    for (i, s) in seen.iter_mut().enumerate() {
        for v in s.0.iter_mut() {
            *v = if reach[i] > 0.0 { *v / reach[i] } else { 0.0 };
        }
    }
    let (ok, by_code) = split_codes(&mut r, &answered_rps, &seen, step_s);
    let mut outcomes = by_status(ok, by_code);
    let names = e.transport[0].items();
    for (k, c) in transport.into_iter().enumerate() {
        outcomes.push(Outcome {
            extra: vec![("error_type", names[k].0.to_string())],
            counts: c,
        });
    }
    let base = [
        ("service", svc),
        ("namespace", s.namespace.as_str()),
        ("peer_service", peer.name.as_str()),
    ];
    histogram(
        out,
        d,
        "http_client_request_duration_seconds",
        &base,
        outcomes,
        &e.latency_ms,
        peer.sigma,
        &mut r,
    );
}

/// cAdvisor's series for one pod's container, and its restart count.
fn container(out: &mut SeriesSet, d: &Dynamics, s: &Svc, p: &Pod, seed: u64) {
    let step_s = d.step_s();
    let (svc, ns) = (s.name.as_str(), s.namespace.as_str());
    let mut r = Rng::keyed(seed, &format!("pod/{}", p.name));
    let base = [
        ("service", svc),
        ("namespace", ns),
        ("pod", p.name.as_str()),
        ("container", svc),
        ("node", p.node.as_str()),
    ];
    let mut cpu = Vec::new();
    let mut thr = Vec::new();
    let mut per = Vec::new();
    let mut mem = Vec::new();
    let mut lim = Vec::new();
    let mut rst = Vec::new();
    let mut cpu_c = r.range(500.0, 5000.0);
    let mut thr_c = r.range(10.0, 300.0);
    let mut per_c = r.range(20_000.0, 200_000.0);
    let share = r.range(0.9, 1.1);
    for i in p.from_i..p.to_i.unwrap_or(d.n).min(d.n) {
        let restarted = p.restarts.iter().any(|(k, _, _)| *k == i);
        if restarted {
            cpu_c = 0.0;
            thr_c = 0.0;
            per_c = 0.0;
        }
        let cores = (s.cpu[i] * share * (1.0 + 0.04 * r.normal())).clamp(0.001, s.cpu_limit);
        cpu_c += cores * step_s;
        let periods = step_s * 10.0;
        per_c += periods;
        thr_c += (periods * s.throttle[i] * (1.0 + 0.1 * r.normal()))
            .clamp(0.0, periods)
            .round();
        cpu.push((cpu_c * 1000.0).round() / 1000.0);
        per.push(per_c);
        thr.push(thr_c);
        mem.push(memory(s, p, i, &mut r).round());
        lim.push(s.mem_limit);
        rst.push(p.restarts_before(i) as f64);
    }
    let first = p.from_i;
    gauge(out, "container_cpu_usage_seconds_total", &base, first, cpu);
    gauge(out, "container_cpu_cfs_throttled_periods_total", &base, first, thr);
    gauge(out, "container_cpu_cfs_periods_total", &base, first, per);
    gauge(out, "container_memory_working_set_bytes", &base, first, mem);
    gauge(out, "container_spec_memory_limit_bytes", &base, first, lim);
    let kbase = [
        ("service", svc),
        ("namespace", ns),
        ("pod", p.name.as_str()),
        ("container", svc),
    ];
    gauge(out, "kube_pod_container_status_restarts_total", &kbase, first, rst);
}

/// A pod's working set at step i: a sawtooth while leaking, little while crash-looping.
fn memory(s: &Svc, p: &Pod, i: usize, r: &mut Rng) -> f64 {
    let m = match s.leak {
        Some((at, fill)) if i >= at + p.leak_offset.min(fill / 2) => {
            let since = i - at;
            let phase = ((since + fill - p.leak_offset) % fill.max(1)) as f64 / fill.max(1) as f64;
            s.mem_base + (s.mem_limit * 0.985 - s.mem_base) * phase
        }
        _ => s.mem_base * (1.0 + 0.02 * r.normal()) * (1.0 + 0.05 * (s.cpu[i] / s.cpu_limit)),
    };
    if p.crashloop_from.is_some_and(|c| i >= c) {
        s.mem_base * 0.2
    } else {
        m
    }
}

/// kube-state-metrics' replica counts.
fn deployment(out: &mut SeriesSet, d: &Dynamics, s: &Svc) {
    let svc = s.name.as_str();
    let dbase = [
        ("service", svc),
        ("namespace", s.namespace.as_str()),
        ("deployment", svc),
    ];
    gauge(
        out,
        "kube_deployment_status_replicas_available",
        &dbase,
        0,
        times(d, |i| s.ready[i].round()),
    );
    gauge(
        out,
        "kube_deployment_spec_replicas",
        &dbase,
        0,
        times(d, |i| s.desired[i] as f64),
    );
}

/// The kubelet's volume stats for the service's data volume.
fn volume(out: &mut SeriesSet, d: &Dynamics, s: &Svc, disk: &[f64]) {
    let svc = s.name.as_str();
    let pvc = format!("data-{svc}-0");
    let vbase = [
        ("service", svc),
        ("namespace", s.namespace.as_str()),
        ("persistentvolumeclaim", pvc.as_str()),
    ];
    gauge(
        out,
        "kubelet_volume_stats_used_bytes",
        &vbase,
        0,
        times(d, |i| (disk[i].min(1.0) * s.disk_capacity).round()),
    );
    gauge(
        out,
        "kubelet_volume_stats_capacity_bytes",
        &vbase,
        0,
        times(d, |_| s.disk_capacity),
    );
}

/// The postgres exporter's connection counts.
fn connection_pool(out: &mut SeriesSet, d: &Dynamics, s: &Svc) {
    let (svc, ns) = (s.name.as_str(), s.namespace.as_str());
    let pbase = [
        ("service", svc),
        ("namespace", ns),
        ("datname", "app"),
        ("state", "active"),
    ];
    gauge(out, "pg_stat_activity_count", &pbase, 0, times(d, |i| s.pool_active[i]));
    let mbase = [("service", svc), ("namespace", ns)];
    gauge(
        out,
        "pg_settings_max_connections",
        &mbase,
        0,
        times(d, |i| s.pool_max[i]),
    );
}

/// The redis exporter's keyspace hits and misses, from the calls into the cache.
fn cache(out: &mut SeriesSet, d: &Dynamics, si: usize, s: &Svc, rng: &mut Rng) {
    let step_s = d.step_s();
    let incoming: Vec<f64> = (0..d.n)
        .map(|i| d.edges.iter().filter(|e| e.to == si).map(|e| e.rps[i]).sum())
        .collect();
    let mut hits = rng.range(1e6, 5e7);
    let mut misses = hits * 0.1;
    let mut hs = Vec::with_capacity(d.n);
    let mut ms = Vec::with_capacity(d.n);
    for i in 0..d.n {
        let total = rng.poisson(incoming[i] * step_s) as f64;
        let h = (total * s.hit_ratio[i]).round();
        hits += h;
        misses += total - h;
        hs.push(hits);
        ms.push(misses);
    }
    let cbase = [("service", s.name.as_str()), ("namespace", s.namespace.as_str())];
    gauge(out, "redis_keyspace_hits_total", &cbase, 0, hs);
    gauge(out, "redis_keyspace_misses_total", &cbase, 0, ms);
}
