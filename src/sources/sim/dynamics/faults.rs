//! Faults, one function per kind: what each does to its target, step by step
//! (capacity, latency, errors, transport failures) and to its pods (restarts,
//! evictions, stuck rollouts), with the Kubernetes events it leaves.

use std::collections::HashMap;

use super::{Build, Errs, KubeEvent, PodEnd, Transport};
use crate::model::FaultKind;
use crate::sources::sim::rng::Rng;
use crate::sources::sim::scenario::{Scenario, ServiceKind};

/// A fault placed on the step grid.
pub(super) struct FaultAt {
    pub kind: FaultKind,
    pub target: usize,
    pub at: usize,
    pub end: Option<usize>,
    pub sev: f64,
}

pub(super) fn resolve(sc: &Scenario, index: &HashMap<String, usize>, idx_of: impl Fn(i64) -> usize) -> Vec<FaultAt> {
    sc.faults
        .iter()
        .map(|f| FaultAt {
            kind: f.kind,
            target: index[&f.target],
            at: idx_of(f.at_ms),
            end: f.duration_ms.map(|d| idx_of(f.at_ms + d)),
            sev: f.severity,
        })
        .collect()
}

/// Per service and step, what the faults change in the load model's inputs.
pub(super) struct Effects {
    /// Multiplies a pod's capacity.
    pub cap_factor: Vec<Vec<f64>>,
    /// Multiplies the time spent in the service itself.
    pub self_mult: Vec<Vec<f64>>,
    /// Errors the service answers with on its own account.
    pub own: Vec<Vec<Errs>>,
    /// CPU taken by something other than serving, as a share of the limit.
    pub hog: Vec<Vec<f64>>,
    /// Failures of calls into the service before any answer.
    pub transport_in: Vec<Vec<Transport>>,
    /// Delay on the wire into the service, ms.
    pub extra_in: Vec<Vec<f64>>,
    /// Multiplies a worker's consumption rate.
    pub throughput: Vec<Vec<f64>>,
    /// How saturated the connection pool is, 0..1.
    pub pool_sat: Vec<Vec<f64>>,
    /// How much of the cache's hit ratio is lost, 0..1.
    pub miss_boost: Vec<Vec<f64>>,
    /// When the disk fills, and how badly.
    pub disk_fill: Vec<Option<(usize, f64)>>,
}

impl Effects {
    fn none(ns: usize, n: usize) -> Self {
        Effects {
            cap_factor: vec![vec![1.0f64; n]; ns],
            self_mult: vec![vec![1.0f64; n]; ns],
            own: vec![vec![Errs::default(); n]; ns],
            hog: vec![vec![0.0f64; n]; ns],
            transport_in: vec![vec![Transport::default(); n]; ns],
            extra_in: vec![vec![0.0f64; n]; ns],
            throughput: vec![vec![1.0f64; n]; ns],
            pool_sat: vec![vec![0.0f64; n]; ns],
            miss_boost: vec![vec![0.0f64; n]; ns],
            disk_fill: vec![None; ns],
        }
    }
}

/// A step at which a fault is active: how much (ramping in), and a jitter around 1.
struct Active {
    i: usize,
    a: f64,
    jitter: f64,
}

/// How much of a fault is active at step i: ramps in over `ramp` steps.
fn activation(i: usize, at: usize, end: Option<usize>, ramp: usize) -> f64 {
    if i < at || end.is_some_and(|e| i >= e) {
        return 0.0;
    }
    if ramp == 0 {
        return 1.0;
    }
    (((i - at) as f64 + 1.0) / ramp as f64).min(1.0)
}

/// The steps a fault is active at. A jitter is drawn at every one of them,
/// whatever the kind, so the fault's later draws stay where they always were.
fn active_steps(f: &FaultAt, n: usize, step_ms: i64, r: &mut Rng) -> Vec<Active> {
    let mut out = Vec::new();
    for i in 0..n {
        let ramp_steps = (90_000 / step_ms).max(1) as usize;
        let a = match f.kind {
            FaultKind::CertificateExpired | FaultKind::DnsFailure | FaultKind::ReplicaLoss => {
                activation(i, f.at, f.end, 0)
            }
            _ => activation(i, f.at, f.end, ramp_steps),
        };
        if a == 0.0 {
            continue;
        }
        out.push(Active {
            i,
            a,
            jitter: 1.0 + 0.08 * r.normal(),
        });
    }
    out
}

/// Sets ready replicas from the pods alive, then applies every fault in the scenario's order.
pub(super) fn apply(b: &mut Build, faults: &[FaultAt]) -> Effects {
    let n = b.n;
    let mut fx = Effects::none(b.sc.services.len(), n);
    for sv in b.svcs.iter_mut() {
        for i in 0..n {
            let live = sv.pods.iter().filter(|p| p.alive_at(i) && !p.pull_failing).count() as f64;
            sv.ready[i] = live.min(sv.desired[i] as f64);
        }
    }
    for f in faults {
        let mut r = Rng::keyed(b.sc.seed, &format!("fault/{}/{}", f.kind, b.sc.services[f.target].name));
        let steps = active_steps(f, n, b.step_ms, &mut r);
        let t = f.target;
        let sev = f.sev;
        match f.kind {
            FaultKind::CpuSaturation => cpu_saturation(&mut fx, t, sev, &steps),
            FaultKind::MemoryLeak => memory_leak(b, f, &mut r),
            FaultKind::DiskFull => disk_full(&mut fx, f, &steps),
            FaultKind::NetworkDelay => network_delay(&mut fx, t, sev, &steps),
            FaultKind::PacketLoss => packet_loss(&mut fx, t, sev, &steps),
            FaultKind::DnsFailure => dns_failure(&mut fx, t, sev, &steps),
            FaultKind::PodCrashloop => pod_crashloop(b, f),
            FaultKind::ImagePullError => image_pull_error(b, f),
            FaultKind::ReplicaLoss => replica_loss(b, f),
            FaultKind::NodePressure => node_pressure(b, &mut fx, f, &steps, &mut r),
            FaultKind::BadDeploy => bad_deploy(&mut fx, t, sev, &steps),
            FaultKind::ConfigError => config_error(&mut fx, t, sev, &steps),
            FaultKind::ConnectionPoolExhaustion => {
                let db = b.sc.services[t].kind == ServiceKind::Db;
                pool_exhaustion(&mut fx, t, sev, db, &steps)
            }
            FaultKind::CacheFailure => cache_failure(&mut fx, t, sev, &steps),
            FaultKind::CertificateExpired => certificate_expired(&mut fx, t, sev, &steps),
            FaultKind::AuthFailure => auth_failure(&mut fx, t, sev, &steps),
            FaultKind::QueueBacklog => queue_backlog(&mut fx, t, sev, &steps),
        }
    }
    fx
}

fn cpu_saturation(fx: &mut Effects, t: usize, sev: f64, steps: &[Active]) {
    for &Active { i, a, .. } in steps {
        fx.hog[t][i] += a * (0.5 + 0.5 * sev);
        fx.cap_factor[t][i] *= 1.0 - a * (0.35 + 0.5 * sev);
    }
}

fn disk_full(fx: &mut Effects, f: &FaultAt, steps: &[Active]) {
    let (t, sev) = (f.target, f.sev);
    for &Active { i, a, jitter } in steps {
        fx.own[t][i].0[0] += a * sev * 0.55 * jitter.max(0.5);
    }
    fx.disk_fill[t] = Some((f.at, sev));
}

fn network_delay(fx: &mut Effects, t: usize, sev: f64, steps: &[Active]) {
    for &Active { i, a, jitter } in steps {
        fx.extra_in[t][i] += a * (150.0 + 900.0 * sev) * jitter.max(0.6);
    }
}

fn packet_loss(fx: &mut Effects, t: usize, sev: f64, steps: &[Active]) {
    for &Active { i, a, jitter } in steps {
        fx.transport_in[t][i].timeout += a * sev * 0.22 * jitter.max(0.5);
        fx.extra_in[t][i] += a * sev * 260.0 * jitter.max(0.5);
    }
}

fn dns_failure(fx: &mut Effects, t: usize, sev: f64, steps: &[Active]) {
    for &Active { i, a, .. } in steps {
        fx.transport_in[t][i].dns += a * (0.45 + 0.5 * sev).min(0.98);
    }
}

fn bad_deploy(fx: &mut Effects, t: usize, sev: f64, steps: &[Active]) {
    for &Active { i, a, jitter } in steps {
        fx.own[t][i].0[0] += a * (0.08 + 0.45 * sev) * jitter.max(0.5);
        fx.self_mult[t][i] *= 1.0 + 0.3 * sev * a;
    }
}

fn config_error(fx: &mut Effects, t: usize, sev: f64, steps: &[Active]) {
    for &Active { i, a, jitter } in steps {
        let e = a * (0.1 + 0.5 * sev) * jitter.max(0.5);
        fx.own[t][i].0[0] += e * 0.6;
        fx.own[t][i].0[2] += e * 0.4;
    }
}

/// A database's own pool answers slowly; a service's pool also fails its requests.
fn pool_exhaustion(fx: &mut Effects, t: usize, sev: f64, db: bool, steps: &[Active]) {
    for &Active { i, a, jitter } in steps {
        fx.pool_sat[t][i] = a;
        fx.self_mult[t][i] *= 1.0 + a * (3.0 + 12.0 * sev) * jitter.max(0.5);
        if !db {
            fx.own[t][i].0[0] += a * sev * 0.25;
        }
        fx.transport_in[t][i].timeout += a * sev * 0.12;
    }
}

fn cache_failure(fx: &mut Effects, t: usize, sev: f64, steps: &[Active]) {
    for &Active { i, a, .. } in steps {
        fx.miss_boost[t][i] = a * (0.3 + 0.7 * sev);
        fx.transport_in[t][i].refused += a * sev * 0.05;
    }
}

fn certificate_expired(fx: &mut Effects, t: usize, sev: f64, steps: &[Active]) {
    for &Active { i, a, .. } in steps {
        fx.transport_in[t][i].tls += a * (0.55 + 0.45 * sev).min(1.0);
    }
}

fn auth_failure(fx: &mut Effects, t: usize, sev: f64, steps: &[Active]) {
    for &Active { i, a, .. } in steps {
        fx.own[t][i].0[4] += a * (0.2 + 0.75 * sev).min(0.97);
    }
}

fn queue_backlog(fx: &mut Effects, t: usize, sev: f64, steps: &[Active]) {
    for &Active { i, a, .. } in steps {
        fx.throughput[t][i] *= 1.0 - a * (0.35 + 0.5 * sev);
        fx.self_mult[t][i] *= 1.0 + a * (0.5 + 2.0 * sev);
    }
}

/// Pods alive at a step and not stuck pulling their image.
fn running_at(b: &Build, t: usize, at: usize) -> Vec<usize> {
    let sv = &b.svcs[t];
    (0..sv.pods.len())
        .filter(|p| !sv.pods[*p].pull_failing && sv.pods[*p].alive_at(at))
        .collect()
}

/// Every running pod fills its memory and is OOM-killed, again and again.
fn memory_leak(b: &mut Build, f: &FaultAt, r: &mut Rng) {
    let (n, step_ms) = (b.n, b.step_ms);
    let live = running_at(b, f.target, f.at);
    let sv = &mut b.svcs[f.target];
    // Fill time from base to limit, in steps: faster for worse leaks.
    let fill_ms = (25.0 - 18.0 * f.sev).max(4.0) * 60_000.0;
    let fill = (fill_ms / step_ms as f64).round().max(2.0) as usize;
    sv.leak = Some((f.at, fill));
    for p in live {
        let mut k = f.at + fill + sv.pods[p].leak_offset;
        while k < n && sv.pods[p].alive_at(k) && f.end.is_none_or(|e| k < e) {
            sv.pods[p].restarts.push((k, "OOMKilled", 137));
            b.kube_events.push(KubeEvent {
                i: k,
                last_i: k,
                count: 1,
                object_kind: "Pod",
                object_name: sv.pods[p].name.clone(),
                namespace: sv.namespace.clone(),
                reason: "OOMKilling".into(),
                message: format!(
                    "Memory cgroup out of memory: Killed process {} ({}) total-vm:{}kB, anon-rss:{}kB",
                    1000 + r.below(30000),
                    sv.name,
                    (sv.mem_limit / 1024.0 * 1.6) as u64,
                    (sv.mem_limit / 1024.0) as u64
                ),
                warning: true,
            });
            k += fill;
        }
    }
}

fn pod_crashloop(b: &mut Build, f: &FaultAt) {
    let (n, step_ms) = (b.n, b.step_ms);
    let live = running_at(b, f.target, f.at);
    let sv = &mut b.svcs[f.target];
    let crashing = ((live.len() as f64) * (0.35 + 0.75 * f.sev))
        .ceil()
        .min(live.len() as f64) as usize;
    for p in live.into_iter().take(crashing) {
        sv.pods[p].crashloop_from = Some(f.at);
        // Back-off doubles from 10 s to a 5 min ceiling.
        let mut t_ms = f.at as f64 * step_ms as f64;
        let mut back = 10_000.0;
        let end = f.end.unwrap_or(n);
        while ((t_ms / step_ms as f64) as usize) < end.min(n) {
            let k = (t_ms / step_ms as f64) as usize;
            sv.pods[p].restarts.push((k, "Error", 1));
            t_ms += back + 4_000.0;
            back = (back * 2.0).min(300_000.0);
        }
        let name = sv.pods[p].name.clone();
        let first_i = f.at;
        let count = sv.pods[p].restarts.len() as u32;
        let last_i = sv.pods[p].restarts.last().map(|x| x.0).unwrap_or(first_i);
        b.kube_events.push(KubeEvent {
            i: first_i,
            last_i,
            count,
            object_kind: "Pod",
            object_name: name,
            namespace: sv.namespace.clone(),
            reason: "BackOff".into(),
            message: format!(
                "Back-off restarting failed container {} in pod {}",
                sv.name, sv.pods[p].name
            ),
            warning: true,
        });
    }
    for i in f.at..f.end.unwrap_or(n).min(n) {
        let crash_now = sv
            .pods
            .iter()
            .filter(|p| p.crashloop_from.is_some() && p.alive_at(i))
            .count();
        sv.ready[i] = (sv.ready[i] - crash_now as f64).max(0.0);
    }
}

/// The stuck pods were made with the topology; here they fail to pull and hold the rollout.
fn image_pull_error(b: &mut Build, f: &FaultAt) {
    let n = b.n;
    let sv = &mut b.svcs[f.target];
    for p in sv.pods.iter().filter(|p| p.pull_failing) {
        b.kube_events.push(KubeEvent {
            i: p.from_i,
            last_i: n - 1,
            count: ((n - p.from_i) as u32 / 4).max(1),
            object_kind: "Pod",
            object_name: p.name.clone(),
            namespace: sv.namespace.clone(),
            reason: "Failed".into(),
            message: format!(
                "Failed to pull image \"{}\": rpc error: code = NotFound desc = failed to pull and unpack image \"{}\": not found",
                p.image, p.image
            ),
            warning: true,
        });
        b.kube_events.push(KubeEvent {
            i: (p.from_i + 2).min(n - 1),
            last_i: n - 1,
            count: ((n - p.from_i) as u32 / 3).max(1),
            object_kind: "Pod",
            object_name: p.name.clone(),
            namespace: sv.namespace.clone(),
            reason: "BackOff".into(),
            message: format!("Back-off pulling image \"{}\"", p.image),
            warning: true,
        });
    }
    // Fewer ready replicas than desired while the rollout is stuck.
    for i in f.at..n {
        let stuck = sv.pods.iter().filter(|p| p.pull_failing && p.alive_at(i)).count() as f64;
        if stuck > 0.0 {
            let live = sv.pods.iter().filter(|p| p.alive_at(i) && !p.pull_failing).count() as f64;
            sv.ready[i] = live.min(sv.desired[i] as f64);
        }
    }
}

fn replica_loss(b: &mut Build, f: &FaultAt) {
    let n = b.n;
    let live = running_at(b, f.target, f.at);
    let sv = &mut b.svcs[f.target];
    let keep = ((sv.desired[f.at] as f64) * (1.0 - f.sev)).floor().max(0.0);
    let end = f.end.unwrap_or(n).min(n);
    for (k, p) in live.iter().enumerate() {
        if (k as f64) >= keep {
            sv.pods[*p].to_i = Some(f.at);
            sv.pods[*p].end = Some(PodEnd::Replaced);
        }
    }
    for i in f.at..end {
        sv.ready[i] = sv.ready[i].min(keep);
    }
    b.kube_events.push(KubeEvent {
        i: f.at,
        last_i: f.at,
        count: 1,
        object_kind: "Deployment",
        object_name: sv.name.clone(),
        namespace: sv.namespace.clone(),
        reason: "ScalingReplicaSet".into(),
        message: format!(
            "Scaled down replica set {} to {}",
            sv.pods.first().map(|p| p.replicaset.clone()).unwrap_or_default(),
            keep as u32
        ),
        warning: false,
    });
}

/// The pressured node slows its pods and evicts most of them; replacements start elsewhere.
fn node_pressure(b: &mut Build, fx: &mut Effects, f: &FaultAt, steps: &[Active], r: &mut Rng) {
    let (t, sev, n) = (f.target, f.sev, b.n);
    for &Active { i, a, jitter } in steps {
        fx.self_mult[t][i] *= 1.0 + a * sev * 1.8 * jitter.max(0.5);
        fx.own[t][i].0[2] += a * sev * 0.06;
    }
    let node = b.pressured_node.as_ref().map(|x| x.0.clone()).unwrap_or_default();
    b.kube_events.push(KubeEvent {
        i: f.at,
        last_i: n - 1,
        count: 1 + ((n - f.at) / 8) as u32,
        object_kind: "Node",
        object_name: node.clone(),
        namespace: "default".into(),
        reason: "NodeHasMemoryPressure".into(),
        message: format!("Node {node} status is now: NodeHasMemoryPressure"),
        warning: true,
    });
    let live = running_at(b, t, f.at);
    let (seed, nodes) = (b.sc.seed, &b.nodes);
    let sv = &mut b.svcs[t];
    let evict = ((live.len() as f64) * (0.4 + 0.6 * sev)).ceil() as usize;
    let mut newpods = Vec::new();
    for (k, p) in live.into_iter().take(evict).enumerate() {
        let at = (f.at + 2 + 3 * k).min(n - 1);
        sv.pods[p].to_i = Some(at);
        sv.pods[p].end = Some(PodEnd::Evicted);
        b.kube_events.push(KubeEvent {
            i: at,
            last_i: at,
            count: 1,
            object_kind: "Pod",
            object_name: sv.pods[p].name.clone(),
            namespace: sv.namespace.clone(),
            reason: "Evicted".into(),
            message: format!(
                "The node was low on resource: memory. Threshold quantity: 100Mi, available: {}Ki. Container {} was using {}Ki, request is {}Ki, has larger consumption of memory.",
                40000 + r.below(50000),
                sv.name,
                (sv.mem_base / 1024.0) as u64,
                (sv.mem_base / 2048.0) as u64
            ),
            warning: true,
        });
        let mut np = sv.pods[p].clone();
        np.name = format!(
            "{}-{}",
            np.replicaset,
            Rng::keyed(seed, &format!("evict/{}", np.name)).kube_suffix(5)
        );
        np.from_i = at + 3;
        np.to_i = None;
        np.end = None;
        np.restarts.clear();
        np.node = nodes[(nodes.iter().position(|x| *x == np.node).unwrap_or(0) + 1 + k) % nodes.len()].clone();
        if np.from_i < n {
            newpods.push(np);
        }
        for i in at..(at + 3).min(n) {
            sv.ready[i] = (sv.ready[i] - 1.0).max(0.0);
        }
    }
    sv.pods.extend(newpods);
}
