//! The load model, step by step: requests flow down the call graph from the
//! entry points, then latency and errors flow back up to the callers, and
//! each service's resources follow from its utilisation.

use super::faults::Effects;
use super::{Build, Errs};
use crate::sources::sim::rng::{Rng, norm_cdf};
use crate::sources::sim::scenario::ServiceKind;

fn base_self_ms(kind: ServiceKind) -> f64 {
    match kind {
        ServiceKind::Http => 18.0,
        ServiceKind::Grpc => 9.0,
        ServiceKind::Gateway => 4.0,
        ServiceKind::Db => 3.5,
        ServiceKind::Cache => 0.6,
        ServiceKind::Queue => 1.5,
        ServiceKind::Worker => 45.0,
    }
}

fn timeout_ms(kind: ServiceKind) -> f64 {
    match kind {
        ServiceKind::Db => 2000.0,
        ServiceKind::Cache => 500.0,
        _ => 3000.0,
    }
}

fn latency_share(lat_ms: f64) -> f64 {
    (lat_ms / 1000.0).clamp(0.005, 5.0)
}

/// What every step reads: the faults' effects, the baseline rates and
/// capacities, and the one random stream.
struct Load<'f> {
    fx: &'f Effects,
    base_rps: Vec<f64>,
    cap_per_pod: Vec<f64>,
    /// Every step's draws follow the previous step's, so the order of the steps and of the services in each is fixed.
    rng: Rng,
}

pub(super) fn run(b: &mut Build, fx: &Effects) {
    let sc = b.sc;
    let rng = Rng::keyed(sc.seed, "load");
    let base_rps: Vec<f64> = sc
        .services
        .iter()
        .map(|s| {
            s.rps.unwrap_or(match s.kind {
                ServiceKind::Gateway => 400.0,
                ServiceKind::Worker => 40.0,
                _ => 120.0,
            })
        })
        .collect();
    let cap_per_pod = capacity_per_pod(b, &base_rps);
    let mut load = Load {
        fx,
        base_rps,
        cap_per_pod,
        rng,
    };
    let hour0 = ((sc.start.0 / 1_000_000_000) % 86_400) as f64 / 3600.0;
    for i in 0..b.n {
        let hour = hour0 + (i as f64 * b.step_s()) / 3600.0;
        let diurnal = 1.0 + 0.18 * ((hour - 9.0) / 24.0 * 2.0 * std::f64::consts::PI).sin();
        for k in 0..b.order.len() {
            let s = b.order[k];
            forward(b, &mut load, s, i, diurnal);
        }
        for k in (0..b.order.len()).rev() {
            let s = b.order[k];
            backward(b, &mut load, s, i);
        }
    }
}

/// Baseline per-pod capacity so that utilisation sits near 40% at the start.
fn capacity_per_pod(b: &Build, base_rps: &[f64]) -> Vec<f64> {
    let sc = b.sc;
    let ns = sc.services.len();
    let mut nominal = vec![0.0f64; ns];
    for &s in &b.order {
        let callers_rps: f64 = b.edges.iter().filter(|e| e.to == s).map(|e| nominal[e.from]).sum();
        nominal[s] = if callers_rps > 0.0 { callers_rps } else { base_rps[s] };
        if sc.services[s].rps.is_some() && callers_rps == 0.0 {
            nominal[s] = base_rps[s];
        }
    }
    (0..ns)
        .map(|s| (nominal[s].max(1.0) / (sc.services[s].replicas as f64)) / 0.4)
        .collect()
}

/// What arrives on the topics a worker consumes at step i.
fn worker_in(b: &Build, w: usize, i: usize) -> f64 {
    let mut total = 0.0;
    for (topic, _) in &b.svcs[w].lag {
        if let Some(&q) = b.index.get(topic) {
            total += b.edges.iter().filter(|e| e.to == q).map(|e| e.rps[i]).sum::<f64>();
        }
    }
    total
}

/// Requests reaching service s at step i, and the calls it makes with them.
fn forward(b: &mut Build, load: &mut Load, s: usize, i: usize, diurnal: f64) {
    let fx = load.fx;
    let step_s = b.step_s();
    let incoming: f64 = b
        .edges
        .iter()
        .filter(|e| e.to == s)
        .map(|e| e.rps[i] * (1.0 - fx.transport_in[s][i].unreached()))
        .sum();
    let has_callers = b.edges.iter().any(|e| e.to == s);
    let mut rps = if has_callers {
        incoming
    } else if b.sc.services[s].kind == ServiceKind::Worker && !b.svcs[s].lag.is_empty() {
        // Consume what arrives on the topics, plus some of the backlog, up to capacity.
        let input = worker_in(b, s, i).max(load.base_rps[s] * 0.3);
        let capacity = input * 1.4 * fx.throughput[s][i];
        let mut out = 0.0;
        for (_, lag) in b.svcs[s].lag.iter_mut() {
            let prev = if i > 0 { lag[i - 1] } else { 30.0 };
            let share = 1.0 / 1.0f64.max(1.0);
            let want = input * share + prev / step_s;
            let served = want.min(capacity * share);
            let next = (prev + (input * share - served) * step_s).max(0.0);
            lag[i] = next + (load.rng.f64() * 12.0).floor();
            out += served;
        }
        out
    } else {
        load.base_rps[s] * diurnal * (1.0 + 0.03 * load.rng.normal())
    };
    if rps < 0.0 {
        rps = 0.0;
    }
    if b.svcs[s].ready[i] <= 0.0 {
        rps = 0.0;
    }
    b.svcs[s].rps[i] = rps;
    // Which calls each request makes: a store behind a cache sees only the misses.
    let cache_callee = b.edge_ix[s]
        .iter()
        .map(|e| b.edges[*e].to)
        .find(|t| b.svcs[*t].kind == ServiceKind::Cache);
    let miss = cache_callee.map(|c| {
        let base_hit = 0.9 + 0.02 * Rng::keyed(b.sc.seed, &format!("hit/{}", b.svcs[c].name)).f64();
        let hit = (base_hit * (1.0 - fx.miss_boost[c][i]) + 0.01 * load.rng.normal()).clamp(0.0, 0.99);
        b.svcs[c].hit_ratio[i] = hit;
        1.0 - hit
    });
    for &e in &b.edge_ix[s] {
        let to = b.edges[e].to;
        let p = match (miss, b.svcs[to].kind) {
            (Some(m), ServiceKind::Db) => m.max(0.02),
            _ => 1.0,
        };
        let edge = &mut b.edges[e];
        edge.p_call[i] = p;
        edge.rps[i] = rps * p;
        edge.transport[i] = fx.transport_in[to][i];
        edge.extra_ms[i] = fx.extra_in[to][i];
    }
}

/// Latency, errors and resources of service s at step i, from its own load and its callees'.
fn backward(b: &mut Build, load: &mut Load, s: usize, i: usize) {
    let fx = load.fx;
    let sv_kind = b.svcs[s].kind;
    let ready = b.svcs[s].ready[i];
    let capacity =
        ready * load.cap_per_pod[s] * fx.cap_factor[s][i] * if sv_kind == ServiceKind::Worker { 10.0 } else { 1.0 };
    let u = if capacity > 0.0 {
        b.svcs[s].rps[i] / capacity
    } else {
        0.0
    };
    let qf = 0.6 / (1.0 - u.min(0.95));
    let mut self_ms = base_self_ms(sv_kind) * qf * fx.self_mult[s][i] * (1.0 + 0.05 * load.rng.normal()).max(0.7);

    // Memory pressure slows a leaking service (GC) as it nears its limit.
    let sv = &b.svcs[s];
    let mut mem_frac = sv.mem_base / sv.mem_limit;
    if let Some((at, fill)) = sv.leak
        && i >= at
    {
        let phase = ((i - at) % fill.max(1)) as f64 / fill.max(1) as f64;
        mem_frac += (0.97 - mem_frac) * phase;
        self_ms *= 1.0 + 2.5 * ((mem_frac - 0.75) / 0.22).max(0.0);
    }
    b.svcs[s].self_ms[i] = self_ms;
    let (lat, mut errs) = calls(b, s, i, self_ms, fx.own[s][i]);
    if sv_kind.serves_requests() && u > 0.95 {
        errs.0[2] += (u - 0.95) / u;
    }
    errs.cap(0.99);
    let sv = &mut b.svcs[s];
    sv.latency_ms[i] = lat;
    sv.errs[i] = errs;
    sv.own_errs[i] = fx.own[s][i];
    resources(b, load, s, i, u);
}

/// What service s's calls at step i add to its latency and errors, as its
/// callers will see them; records each edge's latency, transport failures
/// and errors on the way.
fn calls(b: &mut Build, s: usize, i: usize, self_ms: f64, own: Errs) -> (f64, Errs) {
    let mut lat = self_ms;
    let mut errs = own;
    for &e in &b.edge_ix[s] {
        let to = b.edges[e].to;
        let callee = &b.svcs[to];
        let edge = &mut b.edges[e];
        let p = edge.p_call[i];
        let client_lat = callee.latency_ms[i] + 0.4 + edge.extra_ms[i];
        edge.latency_ms[i] = client_lat;
        let tmo = timeout_ms(callee.kind);
        let z = ((tmo.ln() - client_lat.max(0.01).ln()) / callee.sigma.max(0.1)).clamp(-10.0, 10.0);
        let timeouts = 1.0 - norm_cdf(z);
        let mut tr = edge.transport[i];
        tr.timeout = (tr.timeout + timeouts).min(1.0);
        if callee.ready[i] <= 0.0 && callee.kind != ServiceKind::Queue {
            tr.refused = 1.0 - tr.dns - tr.tls;
        }
        edge.transport[i] = tr;
        let callee_errs =
            if callee.kind.serves_requests() || callee.kind == ServiceKind::Cache || callee.kind == ServiceKind::Db {
                callee.errs[i]
            } else {
                Errs::default()
            };
        let reach = 1.0 - tr.total();
        let mut seen = callee_errs;
        for v in seen.0.iter_mut() {
            *v *= reach;
        }
        edge.errs[i] = seen;
        lat += p * client_lat.min(tmo);
        let k = 0.85 * p;
        errs.0[0] += k * (seen.0[0] + seen.0[4] + seen.0[1]);
        errs.0[1] += k * (tr.dns + tr.tls);
        errs.0[2] += k * (tr.refused + seen.0[2]);
        errs.0[3] += k * (tr.timeout + seen.0[3]);
    }
    (lat, errs)
}

/// CPU, throttling, disk and connection pool of service s at step i.
fn resources(b: &mut Build, load: &mut Load, s: usize, i: usize, u: f64) {
    let fx = load.fx;
    let step_ms = b.step_ms;
    let sv = &mut b.svcs[s];
    let limit = sv.cpu_limit;
    let demand =
        limit * (0.06 + 0.72 * u.min(1.3) / 0.95 * 0.5) + limit * fx.hog[s][i] + 0.01 * load.rng.normal().abs();
    sv.cpu[i] = demand.min(limit * 0.995);
    let over = demand / limit;
    sv.throttle[i] = (0.004 + ((over - 0.8) * 2.2).max(0.0)).min(0.92);
    if let Some(d) = sv.disk.as_mut() {
        let base = 0.52 + 0.0004 * i as f64;
        d[i] = match fx.disk_fill[s] {
            Some((at, _)) => {
                let start = at.saturating_sub((900_000 / step_ms) as usize);
                if i >= at {
                    1.0
                } else if i >= start {
                    base + (1.0 - base) * ((i - start) as f64 / (at - start).max(1) as f64)
                } else {
                    base
                }
            }
            None => base,
        };
    }
    if !sv.pool_max.is_empty() {
        let maxc = sv.pool_max[i];
        let normal = (20.0 + 0.25 * sv.rps[i] * (latency_share(sv.latency_ms[i]))).min(maxc * 0.7);
        sv.pool_active[i] = if fx.pool_sat[s][i] > 0.0 {
            (normal + (maxc - normal) * fx.pool_sat[s][i]).round()
        } else {
            (normal + 2.0 * load.rng.normal()).clamp(1.0, maxc).round()
        };
    }
}
