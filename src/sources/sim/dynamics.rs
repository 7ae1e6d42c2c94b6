//! The simulated system's behaviour over time: load, latency, errors and
//! resources per service and per call edge, with faults and noise applied on
//! their targets and propagated up the call graph. Metrics, logs, traces and
//! Kubernetes objects are all rendered from this one model.

// Series are parallel arrays indexed by step; loops over the step index read clearer than zipped iterators.
#![allow(clippy::needless_range_loop)]

use std::collections::HashMap;

use super::rng::{Rng, norm_cdf};
use super::scenario::{ChangeKind, NoiseKind, Scenario, ServiceKind};
use crate::model::{FaultKind, Timestamp};

/// Status codes a server may answer with besides 200, in `Errs` order.
pub const CODES: [u16; 5] = [500, 502, 503, 504, 401];

/// Fractions of requests ending in each code of `CODES`.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Errs(pub [f64; 5]);

impl Errs {
    pub fn total(&self) -> f64 {
        self.0.iter().sum()
    }
    fn cap(&mut self, max: f64) {
        let t = self.total();
        if t > max {
            for v in self.0.iter_mut() {
                *v *= max / t;
            }
        }
    }
}

/// Failures on a call edge that never got an HTTP answer.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Transport {
    pub dns: f64,
    pub tls: f64,
    pub timeout: f64,
    pub refused: f64,
}

impl Transport {
    pub fn total(&self) -> f64 {
        (self.dns + self.tls + self.timeout + self.refused).min(1.0)
    }
    /// Failures that never reach the callee's server.
    pub fn unreached(&self) -> f64 {
        (self.dns + self.tls + self.refused).min(1.0)
    }
    pub fn items(&self) -> [(&'static str, f64); 4] {
        [
            ("dns_error", self.dns),
            ("tls_error", self.tls),
            ("timeout", self.timeout),
            ("connection_refused", self.refused),
        ]
    }
}

#[derive(Clone, Debug)]
pub struct Edge {
    pub from: usize,
    pub to: usize,
    /// Share of the caller's requests that call this edge (cache misses for a store behind a cache).
    pub p_call: Vec<f64>,
    /// Calls per second.
    pub rps: Vec<f64>,
    /// Median latency the caller sees, ms.
    pub latency_ms: Vec<f64>,
    pub transport: Vec<Transport>,
    /// HTTP errors answered by the callee, as the caller sees them.
    pub errs: Vec<Errs>,
    /// Extra delay on the wire, ms (network delay, retransmits).
    pub extra_ms: Vec<f64>,
}

#[derive(Clone, Debug, PartialEq)]
pub enum PodEnd {
    /// Replaced by a rollout or removed by a scale-down.
    Replaced,
    Evicted,
}

#[derive(Clone, Debug)]
pub struct Pod {
    pub name: String,
    pub replicaset: String,
    pub revision: u32,
    pub image: String,
    pub node: String,
    pub from_i: usize,
    /// First step it no longer exists at.
    pub to_i: Option<usize>,
    pub end: Option<PodEnd>,
    /// Container restarts: (step, reason, exit code).
    pub restarts: Vec<(usize, &'static str, i32)>,
    /// Never started (image cannot be pulled).
    pub pull_failing: bool,
    /// Crash-looping from this step on.
    pub crashloop_from: Option<usize>,
    /// Memory sawtooth phase offset for leaks, in steps.
    pub leak_offset: usize,
}

impl Pod {
    pub fn alive_at(&self, i: usize) -> bool {
        i >= self.from_i && self.to_i.is_none_or(|t| i < t)
    }
    pub fn restarts_before(&self, i: usize) -> usize {
        self.restarts.iter().filter(|(s, _, _)| *s <= i).count()
    }
}

#[derive(Clone, Debug)]
pub struct KubeEvent {
    pub i: usize,
    pub last_i: usize,
    pub count: u32,
    pub object_kind: &'static str,
    pub object_name: String,
    pub namespace: String,
    pub reason: String,
    pub message: String,
    pub warning: bool,
}

#[derive(Clone, Debug)]
pub struct Svc {
    pub name: String,
    pub kind: ServiceKind,
    pub namespace: String,
    pub sigma: f64,
    /// Requests reaching the server per second (messages consumed, for workers).
    pub rps: Vec<f64>,
    pub latency_ms: Vec<f64>,
    /// Time spent in the service itself, ms (median).
    pub self_ms: Vec<f64>,
    pub errs: Vec<Errs>,
    /// The part of `errs` caused by the service itself.
    pub own_errs: Vec<Errs>,
    pub cpu_limit: f64,
    /// CPU used per pod, cores.
    pub cpu: Vec<f64>,
    /// Fraction of CFS periods throttled.
    pub throttle: Vec<f64>,
    pub mem_limit: f64,
    pub mem_base: f64,
    pub ready: Vec<f64>,
    pub desired: Vec<u32>,
    pub disk: Option<Vec<f64>>,
    pub disk_capacity: f64,
    pub pool_active: Vec<f64>,
    pub pool_max: Vec<f64>,
    pub hit_ratio: Vec<f64>,
    /// Consumer lag per topic this worker reads.
    pub lag: Vec<(String, Vec<f64>)>,
    pub pods: Vec<Pod>,
    pub version: Vec<(usize, String)>,
    /// Memory-leak fill time in steps, if leaking.
    pub leak: Option<(usize, usize)>,
}

/// A change on the timeline (scenario events plus the changes faults imply).
#[derive(Clone, Debug)]
pub struct ChangeRec {
    pub i: usize,
    pub at: Timestamp,
    pub kind: ChangeKind,
    pub target: String,
    pub summary: String,
}

#[derive(Clone, Debug)]
pub struct Dynamics {
    pub n: usize,
    pub step_ms: i64,
    pub start: Timestamp,
    pub svcs: Vec<Svc>,
    pub edges: Vec<Edge>,
    pub index: HashMap<String, usize>,
    pub nodes: Vec<String>,
    pub pressured_node: Option<(String, usize)>,
    pub kube_events: Vec<KubeEvent>,
    pub changes: Vec<ChangeRec>,
}

impl Dynamics {
    pub fn time(&self, i: usize) -> Timestamp {
        self.start + (i as i64) * self.step_ms * 1_000_000
    }
    pub fn step_s(&self) -> f64 {
        self.step_ms as f64 / 1000.0
    }
    pub fn edges_from(&self, s: usize) -> impl Iterator<Item = &Edge> {
        self.edges.iter().filter(move |e| e.from == s)
    }
    pub fn edges_into(&self, s: usize) -> impl Iterator<Item = &Edge> {
        self.edges.iter().filter(move |e| e.to == s)
    }
    /// Index of the step at or before `t`, if within the window.
    pub fn step_at(&self, t: Timestamp) -> Option<usize> {
        if t < self.start {
            return None;
        }
        let i = ((t.0 - self.start.0) / 1_000_000 / self.step_ms) as usize;
        (i < self.n).then_some(i)
    }
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

/// Parses "a -> b" numbers out of a change summary (e.g. "replicas 4 -> 1").
pub fn parse_arrow(summary: &str) -> Option<(f64, f64)> {
    let (l, r) = summary.split_once("->")?;
    let last_num = |s: &str| {
        s.split(|c: char| !(c.is_ascii_digit() || c == '.'))
            .rfind(|t| !t.is_empty())
            .and_then(|t| t.parse::<f64>().ok())
    };
    let first_num = |s: &str| {
        s.split(|c: char| !(c.is_ascii_digit() || c == '.'))
            .find(|t| !t.is_empty())
            .and_then(|t| t.parse::<f64>().ok())
    };
    Some((last_num(l)?, first_num(r)?))
}

/// Callers before callees.
fn topo_order(sc: &Scenario, index: &HashMap<String, usize>) -> Vec<usize> {
    let n = sc.services.len();
    let mut indeg = vec![0usize; n];
    for s in &sc.services {
        for c in &s.calls {
            indeg[index[c]] += 1;
        }
    }
    let mut ready: Vec<usize> = (0..n).filter(|i| indeg[*i] == 0).collect();
    ready.reverse();
    let mut out = Vec::with_capacity(n);
    while let Some(i) = ready.pop() {
        out.push(i);
        for c in &sc.services[i].calls {
            let j = index[c];
            indeg[j] -= 1;
            if indeg[j] == 0 {
                ready.insert(0, j);
            }
        }
    }
    out
}

struct FaultAt {
    kind: FaultKind,
    target: usize,
    at: usize,
    end: Option<usize>,
    sev: f64,
}

/// Builds the whole model for a scenario. Deterministic for a given seed.
pub fn simulate(sc: &Scenario) -> Dynamics {
    let step_ms = sc.step_ms;
    let n = (sc.window_ms / step_ms) as usize + 1;
    let step_s = step_ms as f64 / 1000.0;
    let idx_of = |ms: i64| ((ms / step_ms) as usize).min(n - 1);
    let index: HashMap<String, usize> = sc
        .services
        .iter()
        .enumerate()
        .map(|(i, s)| (s.name.clone(), i))
        .collect();
    let order = topo_order(sc, &index);
    let ns = sc.services.len();

    let faults: Vec<FaultAt> = sc
        .faults
        .iter()
        .map(|f| FaultAt {
            kind: f.kind,
            target: index[&f.target],
            at: idx_of(f.at_ms),
            end: f.duration_ms.map(|d| idx_of(f.at_ms + d)),
            sev: f.severity,
        })
        .collect();

    // ---- changes: the scenario's timeline plus what faults imply ----
    let mut changes: Vec<ChangeRec> = sc
        .events
        .iter()
        .map(|e| ChangeRec {
            i: idx_of(e.at_ms),
            at: sc.start + e.at_ms * 1_000_000,
            kind: e.kind,
            target: e.target.clone(),
            summary: e.summary.clone(),
        })
        .collect();
    let near = |changes: &[ChangeRec], kind: ChangeKind, target: &str, i: usize| {
        let w = (300_000 / step_ms) as usize;
        changes
            .iter()
            .any(|c| c.kind == kind && c.target == target && c.i + w >= i && c.i <= i + w)
    };
    for f in &faults {
        let target = &sc.services[f.target].name;
        let implied = match f.kind {
            FaultKind::BadDeploy | FaultKind::ImagePullError => Some(ChangeKind::Deploy),
            FaultKind::ConfigError => Some(ChangeKind::ConfigChange),
            FaultKind::AuthFailure => Some(ChangeKind::ConfigChange),
            _ => None,
        };
        if let Some(kind) = implied
            && !near(&changes, kind, target, f.at)
        {
            let mut r = Rng::keyed(sc.seed, &format!("implied/{target}"));
            let summary = match (f.kind, kind) {
                (FaultKind::AuthFailure, _) => "rotated service credentials".to_string(),
                (_, ChangeKind::Deploy) => format!("{target} v{}.{}.{}", 1 + r.below(4), r.below(30), r.below(10)),
                _ => "configuration updated".to_string(),
            };
            let i = f.at.saturating_sub(if kind == ChangeKind::Deploy { 0 } else { 1 });
            changes.push(ChangeRec {
                i,
                at: sc.start + (i as i64) * step_ms * 1_000_000,
                kind,
                target: target.clone(),
                summary,
            });
        }
    }
    changes.sort_by(|a, b| a.i.cmp(&b.i).then(a.target.cmp(&b.target)));

    // ---- nodes ----
    let total_pods: u32 = sc.services.iter().map(|s| s.replicas).sum();
    let node_count = ((total_pods as usize).div_ceil(8)).max(3);
    let nodes: Vec<String> = {
        let mut r = Rng::keyed(sc.seed, "nodes");
        let pool = r.hex(5);
        (0..node_count)
            .map(|k| format!("ip-10-0-{}-{}.{pool}.internal", 10 + k, 20 + r.below(200)))
            .collect()
    };
    let pressure = faults.iter().find(|f| f.kind == FaultKind::NodePressure);
    let pressured_node = pressure.map(|f| {
        let mut r = Rng::keyed(sc.seed, "pressured-node");
        (nodes[r.below(nodes.len())].clone(), f.at)
    });

    // ---- services: static parameters and pods ----
    let mut svcs: Vec<Svc> = Vec::with_capacity(ns);
    let mut kube_events: Vec<KubeEvent> = Vec::new();
    for (si, s) in sc.services.iter().enumerate() {
        let mut r = Rng::keyed(sc.seed, &format!("svc/{}", s.name));
        let cpu_limit = *r.pick(&[0.5, 1.0, 1.0, 2.0]);
        let mem_limit = *r.pick(&[256.0, 512.0, 512.0, 1024.0, 2048.0]) * 1024.0 * 1024.0;
        let mem_base = mem_limit * r.range(0.35, 0.55);
        let has_disk = matches!(s.kind, ServiceKind::Db | ServiceKind::Queue)
            || faults.iter().any(|f| f.target == si && f.kind == FaultKind::DiskFull);
        let disk_capacity = *r.pick(&[20.0, 50.0, 100.0]) * 1024.0 * 1024.0 * 1024.0;
        let base_version = format!("v{}.{}.{}", 1 + r.below(4), r.below(30), r.below(10));
        let mut version = vec![(0usize, base_version.clone())];

        // Pod generations: a new replica set at every deploy or rollout restart.
        let mut gens: Vec<(usize, String, bool)> = vec![(0, base_version, false)];
        for c in changes.iter().filter(|c| c.target == s.name) {
            if matches!(c.kind, ChangeKind::Deploy | ChangeKind::Restart) && c.i > 0 {
                let v = if c.kind == ChangeKind::Deploy {
                    c.summary
                        .split_whitespace()
                        .find(|w| w.starts_with('v') && w[1..].starts_with(|ch: char| ch.is_ascii_digit()))
                        .map(str::to_string)
                        .unwrap_or_else(|| format!("v{}.{}.{}", 1 + r.below(4), 30 + r.below(30), r.below(10)))
                } else {
                    gens.last().map(|g| g.1.clone()).unwrap_or_default()
                };
                let pull_fail = c.kind == ChangeKind::Deploy
                    && faults.iter().any(|f| {
                        f.target == si && f.kind == FaultKind::ImagePullError && f.at + 12 >= c.i && c.i + 12 >= f.at
                    });
                if c.kind == ChangeKind::Deploy {
                    version.push((c.i, v.clone()));
                }
                gens.push((c.i, v, pull_fail));
            }
        }
        let mut desired = vec![s.replicas; n];
        for c in changes
            .iter()
            .filter(|c| c.target == s.name && c.kind == ChangeKind::Scale)
        {
            if let Some((_, to)) = parse_arrow(&c.summary) {
                for d in desired.iter_mut().skip(c.i) {
                    *d = to.max(0.0) as u32;
                }
            }
        }
        let mut pods: Vec<Pod> = Vec::new();
        let mut live: Vec<usize> = Vec::new();
        for (g, (gi, ver, pull_fail)) in gens.iter().enumerate() {
            let rs_hash = Rng::keyed(sc.seed, &format!("rs/{}/{g}", s.name)).kube_suffix(10);
            let rs = format!("{}-{rs_hash}", s.name);
            let image = format!("registry.internal/{}/{}:{}", s.namespace, s.name, ver);
            let want = desired[*gi].max(1) as usize;
            if *pull_fail {
                // A stuck rollout: one old pod goes (maxUnavailable), new ones never start.
                let lose = ((want as f64) * 0.5).ceil().max(1.0) as usize;
                for _ in 0..lose.min(live.len()) {
                    if let Some(p) = live.pop() {
                        pods[p].to_i = Some(*gi);
                        pods[p].end = Some(PodEnd::Replaced);
                    }
                }
                for k in 0..lose {
                    let name = format!("{rs}-{}", Rng::keyed(sc.seed, &format!("pod/{rs}/{k}")).kube_suffix(5));
                    pods.push(Pod {
                        name,
                        replicaset: rs.clone(),
                        revision: g as u32 + 1,
                        image: image.clone(),
                        node: nodes[Rng::keyed(sc.seed, &format!("node/{rs}/{k}")).below(nodes.len())].clone(),
                        from_i: *gi,
                        to_i: None,
                        end: None,
                        restarts: vec![],
                        pull_failing: true,
                        crashloop_from: None,
                        leak_offset: 0,
                    });
                }
                continue;
            }
            for p in live.drain(..) {
                pods[p].to_i = Some(*gi);
                pods[p].end = Some(PodEnd::Replaced);
            }
            for k in 0..want {
                let name = format!("{rs}-{}", Rng::keyed(sc.seed, &format!("pod/{rs}/{k}")).kube_suffix(5));
                let node = match (&pressured_node, pressure) {
                    (Some((pn, _)), Some(f)) if f.target == si => pn.clone(),
                    _ => nodes[Rng::keyed(sc.seed, &format!("node/{rs}/{k}")).below(nodes.len())].clone(),
                };
                live.push(pods.len());
                pods.push(Pod {
                    name,
                    replicaset: rs.clone(),
                    revision: g as u32 + 1,
                    image: image.clone(),
                    node,
                    from_i: *gi,
                    to_i: None,
                    end: None,
                    restarts: vec![],
                    pull_failing: false,
                    crashloop_from: None,
                    leak_offset: r.below(8),
                });
            }
        }
        let lag = if s.kind == ServiceKind::Worker {
            let mut topics: Vec<String> = s
                .calls
                .iter()
                .filter(|c| sc.service(c).is_some_and(|x| x.kind == ServiceKind::Queue))
                .cloned()
                .collect();
            for q in sc.callers(&s.name) {
                if q.kind == ServiceKind::Queue {
                    topics.push(q.name.clone());
                }
            }
            topics.into_iter().map(|t| (t, vec![0.0; n])).collect()
        } else {
            vec![]
        };
        svcs.push(Svc {
            name: s.name.clone(),
            kind: s.kind,
            namespace: s.namespace.clone(),
            sigma: r.range(0.38, 0.55),
            rps: vec![0.0; n],
            latency_ms: vec![0.0; n],
            self_ms: vec![0.0; n],
            errs: vec![Errs::default(); n],
            own_errs: vec![Errs::default(); n],
            cpu_limit,
            cpu: vec![0.0; n],
            throttle: vec![0.0; n],
            mem_limit,
            mem_base,
            ready: vec![s.replicas as f64; n],
            desired,
            disk: has_disk.then(|| vec![0.0; n]),
            disk_capacity,
            pool_active: vec![0.0; n],
            pool_max: Vec::new(),
            hit_ratio: vec![0.0; n],
            lag,
            pods,
            version,
            leak: None,
        });
    }

    // ---- edges ----
    let mut edges: Vec<Edge> = Vec::new();
    for (si, s) in sc.services.iter().enumerate() {
        for c in &s.calls {
            let to = index[c];
            // A worker "calling" a queue consumes from it; that is not a request edge.
            if s.kind == ServiceKind::Worker && sc.services[to].kind == ServiceKind::Queue {
                continue;
            }
            edges.push(Edge {
                from: si,
                to,
                p_call: vec![1.0; n],
                rps: vec![0.0; n],
                latency_ms: vec![0.0; n],
                transport: vec![Transport::default(); n],
                errs: vec![Errs::default(); n],
                extra_ms: vec![0.0; n],
            });
        }
    }
    let edge_ix: Vec<Vec<usize>> = (0..ns)
        .map(|s| (0..edges.len()).filter(|e| edges[*e].from == s).collect())
        .collect();

    // ---- per-service fault effects known ahead of the load model ----
    let mut cap_factor = vec![vec![1.0f64; n]; ns];
    let mut self_mult = vec![vec![1.0f64; n]; ns];
    let mut own = vec![vec![Errs::default(); n]; ns];
    let mut hog = vec![vec![0.0f64; n]; ns];
    let mut transport_in = vec![vec![Transport::default(); n]; ns];
    let mut extra_in = vec![vec![0.0f64; n]; ns];
    let mut throughput = vec![vec![1.0f64; n]; ns];
    let mut pool_sat = vec![vec![0.0f64; n]; ns];
    let mut miss_boost = vec![vec![0.0f64; n]; ns];
    let mut disk_fill: Vec<Option<(usize, f64)>> = vec![None; ns];

    // Ready replicas from desired counts; faults lower them below.
    for sv in svcs.iter_mut() {
        for i in 0..n {
            let live = sv.pods.iter().filter(|p| p.alive_at(i) && !p.pull_failing).count() as f64;
            sv.ready[i] = live.min(sv.desired[i] as f64);
        }
    }

    for f in &faults {
        let t = f.target;
        let sev = f.sev;
        let mut r = Rng::keyed(sc.seed, &format!("fault/{}/{}", f.kind, sc.services[t].name));
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
            let jitter = 1.0 + 0.08 * r.normal();
            match f.kind {
                FaultKind::CpuSaturation => {
                    hog[t][i] += a * (0.5 + 0.5 * sev);
                    cap_factor[t][i] *= 1.0 - a * (0.35 + 0.5 * sev);
                }
                FaultKind::MemoryLeak => {}
                FaultKind::DiskFull => {
                    own[t][i].0[0] += a * sev * 0.55 * jitter.max(0.5);
                }
                FaultKind::NetworkDelay => {
                    extra_in[t][i] += a * (150.0 + 900.0 * sev) * jitter.max(0.6);
                }
                FaultKind::PacketLoss => {
                    transport_in[t][i].timeout += a * sev * 0.22 * jitter.max(0.5);
                    extra_in[t][i] += a * sev * 260.0 * jitter.max(0.5);
                }
                FaultKind::DnsFailure => {
                    transport_in[t][i].dns += a * (0.45 + 0.5 * sev).min(0.98);
                }
                FaultKind::PodCrashloop => {}
                FaultKind::ImagePullError => {}
                FaultKind::ReplicaLoss => {}
                FaultKind::NodePressure => {
                    self_mult[t][i] *= 1.0 + a * sev * 1.8 * jitter.max(0.5);
                    own[t][i].0[2] += a * sev * 0.06;
                }
                FaultKind::BadDeploy => {
                    own[t][i].0[0] += a * (0.08 + 0.45 * sev) * jitter.max(0.5);
                    self_mult[t][i] *= 1.0 + 0.3 * sev * a;
                }
                FaultKind::ConfigError => {
                    let e = a * (0.1 + 0.5 * sev) * jitter.max(0.5);
                    own[t][i].0[0] += e * 0.6;
                    own[t][i].0[2] += e * 0.4;
                }
                FaultKind::ConnectionPoolExhaustion => {
                    pool_sat[t][i] = a;
                    self_mult[t][i] *= 1.0 + a * (3.0 + 12.0 * sev) * jitter.max(0.5);
                    if sc.services[t].kind != ServiceKind::Db {
                        own[t][i].0[0] += a * sev * 0.25;
                    }
                    transport_in[t][i].timeout += a * sev * 0.12;
                }
                FaultKind::CacheFailure => {
                    miss_boost[t][i] = a * (0.3 + 0.7 * sev);
                    transport_in[t][i].refused += a * sev * 0.05;
                }
                FaultKind::CertificateExpired => {
                    transport_in[t][i].tls += a * (0.55 + 0.45 * sev).min(1.0);
                }
                FaultKind::AuthFailure => {
                    own[t][i].0[4] += a * (0.2 + 0.75 * sev).min(0.97);
                }
                FaultKind::QueueBacklog => {
                    throughput[t][i] *= 1.0 - a * (0.35 + 0.5 * sev);
                    self_mult[t][i] *= 1.0 + a * (0.5 + 2.0 * sev);
                }
            }
        }

        let sv = &mut svcs[t];
        let ns_name = sv.namespace.clone();
        match f.kind {
            FaultKind::DiskFull => disk_fill[t] = Some((f.at, sev)),
            FaultKind::MemoryLeak => {
                // Fill time from base to limit, in steps: faster for worse leaks.
                let fill_ms = (25.0 - 18.0 * sev).max(4.0) * 60_000.0;
                let fill = (fill_ms / step_ms as f64).round().max(2.0) as usize;
                sv.leak = Some((f.at, fill));
                let live: Vec<usize> = (0..sv.pods.len())
                    .filter(|p| !sv.pods[*p].pull_failing && sv.pods[*p].alive_at(f.at))
                    .collect();
                for p in live {
                    let mut k = f.at + fill + sv.pods[p].leak_offset;
                    while k < n && sv.pods[p].alive_at(k) && f.end.is_none_or(|e| k < e) {
                        sv.pods[p].restarts.push((k, "OOMKilled", 137));
                        kube_events.push(KubeEvent {
                            i: k,
                            last_i: k,
                            count: 1,
                            object_kind: "Pod",
                            object_name: sv.pods[p].name.clone(),
                            namespace: ns_name.clone(),
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
            FaultKind::PodCrashloop => {
                let live: Vec<usize> = (0..sv.pods.len())
                    .filter(|p| !sv.pods[*p].pull_failing && sv.pods[*p].alive_at(f.at))
                    .collect();
                let crashing = ((live.len() as f64) * (0.35 + 0.75 * sev))
                    .ceil()
                    .min(live.len() as f64) as usize;
                for p in live.into_iter().take(crashing) {
                    sv.pods[p].crashloop_from = Some(f.at);
                    // Back-off doubles from 10 s to a 5 min ceiling.
                    let mut t_ms = f.at as f64 * step_ms as f64;
                    let mut back = 10_000.0;
                    let end = f.end.unwrap_or(n);
                    let mut first = true;
                    while ((t_ms / step_ms as f64) as usize) < end.min(n) {
                        let k = (t_ms / step_ms as f64) as usize;
                        sv.pods[p].restarts.push((k, "Error", 1));
                        if first {
                            first = false;
                        }
                        t_ms += back + 4_000.0;
                        back = (back * 2.0).min(300_000.0);
                    }
                    let name = sv.pods[p].name.clone();
                    let first_i = f.at;
                    let count = sv.pods[p].restarts.len() as u32;
                    let last_i = sv.pods[p].restarts.last().map(|x| x.0).unwrap_or(first_i);
                    kube_events.push(KubeEvent {
                        i: first_i,
                        last_i,
                        count,
                        object_kind: "Pod",
                        object_name: name,
                        namespace: ns_name.clone(),
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
            FaultKind::ImagePullError => {
                for p in sv.pods.iter().filter(|p| p.pull_failing) {
                    kube_events.push(KubeEvent {
                        i: p.from_i,
                        last_i: n - 1,
                        count: ((n - p.from_i) as u32 / 4).max(1),
                        object_kind: "Pod",
                        object_name: p.name.clone(),
                        namespace: ns_name.clone(),
                        reason: "Failed".into(),
                        message: format!(
                            "Failed to pull image \"{}\": rpc error: code = NotFound desc = failed to pull and unpack image \"{}\": not found",
                            p.image, p.image
                        ),
                        warning: true,
                    });
                    kube_events.push(KubeEvent {
                        i: (p.from_i + 2).min(n - 1),
                        last_i: n - 1,
                        count: ((n - p.from_i) as u32 / 3).max(1),
                        object_kind: "Pod",
                        object_name: p.name.clone(),
                        namespace: ns_name.clone(),
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
            FaultKind::ReplicaLoss => {
                let keep = ((sv.desired[f.at] as f64) * (1.0 - sev)).floor().max(0.0);
                let end = f.end.unwrap_or(n).min(n);
                let live: Vec<usize> = (0..sv.pods.len())
                    .filter(|p| sv.pods[*p].alive_at(f.at) && !sv.pods[*p].pull_failing)
                    .collect();
                for (k, p) in live.iter().enumerate() {
                    if (k as f64) >= keep {
                        sv.pods[*p].to_i = Some(f.at);
                        sv.pods[*p].end = Some(PodEnd::Replaced);
                    }
                }
                for i in f.at..end {
                    sv.ready[i] = sv.ready[i].min(keep);
                }
                kube_events.push(KubeEvent {
                    i: f.at,
                    last_i: f.at,
                    count: 1,
                    object_kind: "Deployment",
                    object_name: sv.name.clone(),
                    namespace: ns_name.clone(),
                    reason: "ScalingReplicaSet".into(),
                    message: format!(
                        "Scaled down replica set {} to {}",
                        sv.pods.first().map(|p| p.replicaset.clone()).unwrap_or_default(),
                        keep as u32
                    ),
                    warning: false,
                });
            }
            FaultKind::NodePressure => {
                let node = pressured_node.as_ref().map(|x| x.0.clone()).unwrap_or_default();
                kube_events.push(KubeEvent {
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
                let live: Vec<usize> = (0..sv.pods.len())
                    .filter(|p| sv.pods[*p].alive_at(f.at) && !sv.pods[*p].pull_failing)
                    .collect();
                let evict = ((live.len() as f64) * (0.4 + 0.6 * sev)).ceil() as usize;
                let mut newpods = Vec::new();
                for (k, p) in live.into_iter().take(evict).enumerate() {
                    let at = (f.at + 2 + 3 * k).min(n - 1);
                    sv.pods[p].to_i = Some(at);
                    sv.pods[p].end = Some(PodEnd::Evicted);
                    kube_events.push(KubeEvent {
                        i: at,
                        last_i: at,
                        count: 1,
                        object_kind: "Pod",
                        object_name: sv.pods[p].name.clone(),
                        namespace: ns_name.clone(),
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
                        Rng::keyed(sc.seed, &format!("evict/{}", np.name)).kube_suffix(5)
                    );
                    np.from_i = at + 3;
                    np.to_i = None;
                    np.end = None;
                    np.restarts.clear();
                    np.node =
                        nodes[(nodes.iter().position(|x| *x == np.node).unwrap_or(0) + 1 + k) % nodes.len()].clone();
                    if np.from_i < n {
                        newpods.push(np);
                    }
                    for i in at..(at + 3).min(n) {
                        sv.ready[i] = (sv.ready[i] - 1.0).max(0.0);
                    }
                }
                sv.pods.extend(newpods);
            }
            _ => {}
        }
    }

    // ---- noise ----
    for nz in &sc.noise {
        let t = index[&nz.target];
        let at = idx_of(nz.at_ms);
        let sev = nz.severity.unwrap_or(0.5);
        match nz.kind {
            NoiseKind::LatencyBlip => {
                let end = idx_of(nz.at_ms + nz.duration_ms.unwrap_or(180_000));
                for i in at..=end.min(n - 1) {
                    self_mult[t][i] *= 1.0 + 1.5 * sev;
                }
            }
            NoiseKind::Restart => {
                let sv = &mut svcs[t];
                if let Some(p) = sv.pods.iter_mut().find(|p| p.alive_at(at) && !p.pull_failing) {
                    p.restarts.push((at, "Error", 2));
                    let name = p.name.clone();
                    kube_events.push(KubeEvent {
                        i: at,
                        last_i: at,
                        count: 1,
                        object_kind: "Pod",
                        object_name: name.clone(),
                        namespace: sv.namespace.clone(),
                        reason: "Started".into(),
                        message: format!("Started container {}", sv.name),
                        warning: false,
                    });
                }
                sv.ready[at] = (sv.ready[at] - 1.0).max(0.0);
            }
            NoiseKind::LogErrors => {}
        }
    }

    // Deploys and rollout restarts show in events too.
    for c in &changes {
        if let Some(&t) = index.get(&c.target) {
            let sv = &svcs[t];
            match c.kind {
                ChangeKind::Deploy | ChangeKind::Restart => {
                    if let Some(p) = sv.pods.iter().find(|p| p.from_i == c.i) {
                        kube_events.push(KubeEvent {
                            i: c.i,
                            last_i: c.i,
                            count: 1,
                            object_kind: "Deployment",
                            object_name: sv.name.clone(),
                            namespace: sv.namespace.clone(),
                            reason: "ScalingReplicaSet".into(),
                            message: format!("Scaled up replica set {} to {}", p.replicaset, sv.desired[c.i]),
                            warning: false,
                        });
                    }
                }
                ChangeKind::Scale => {
                    kube_events.push(KubeEvent {
                        i: c.i,
                        last_i: c.i,
                        count: 1,
                        object_kind: "Deployment",
                        object_name: sv.name.clone(),
                        namespace: sv.namespace.clone(),
                        reason: "ScalingReplicaSet".into(),
                        message: format!(
                            "Scaled replica set {} to {}",
                            sv.pods.first().map(|p| p.replicaset.as_str()).unwrap_or(""),
                            sv.desired[c.i]
                        ),
                        warning: false,
                    });
                }
                _ => {}
            }
        }
    }

    // Pool limits for databases: config changes like "max_connections 200 -> 40" apply.
    for (si, sv) in svcs.iter_mut().enumerate() {
        if sv.kind != ServiceKind::Db
            && !faults
                .iter()
                .any(|f| f.target == si && f.kind == FaultKind::ConnectionPoolExhaustion)
        {
            continue;
        }
        let mut maxc = vec![200.0; n];
        for c in changes
            .iter()
            .filter(|c| c.target == sv.name && c.kind == ChangeKind::ConfigChange)
        {
            if (c.summary.contains("conn") || c.summary.contains("pool"))
                && let Some((_, to)) = parse_arrow(&c.summary)
            {
                for m in maxc.iter_mut().skip(c.i) {
                    *m = to;
                }
            }
        }
        sv.pool_max = maxc;
    }

    // ---- the load model, step by step ----
    let mut rng = Rng::keyed(sc.seed, "load");
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
    let hour0 = ((sc.start.0 / 1_000_000_000) % 86_400) as f64 / 3600.0;
    // Baseline per-pod capacity so that utilisation sits near 40% at the start.
    let mut cap_per_pod = vec![0.0f64; ns];
    let mut nominal = vec![0.0f64; ns];
    {
        for &s in &order {
            let callers_rps: f64 = edges.iter().filter(|e| e.to == s).map(|e| nominal[e.from]).sum();
            nominal[s] = if callers_rps > 0.0 { callers_rps } else { base_rps[s] };
            if sc.services[s].rps.is_some() && callers_rps == 0.0 {
                nominal[s] = base_rps[s];
            }
        }
        for s in 0..ns {
            cap_per_pod[s] = (nominal[s].max(1.0) / (sc.services[s].replicas as f64)) / 0.4;
        }
    }
    let worker_in = |svcs: &Vec<Svc>, edges: &Vec<Edge>, w: usize, i: usize| -> f64 {
        let mut total = 0.0;
        for (topic, _) in &svcs[w].lag {
            if let Some(&q) = index.get(topic) {
                total += edges.iter().filter(|e| e.to == q).map(|e| e.rps[i]).sum::<f64>();
            }
        }
        total
    };

    for i in 0..n {
        let hour = hour0 + (i as f64 * step_s) / 3600.0;
        let diurnal = 1.0 + 0.18 * ((hour - 9.0) / 24.0 * 2.0 * std::f64::consts::PI).sin();

        // Forward: requests flow from entry points down to dependencies.
        for &s in &order {
            let incoming: f64 = edges
                .iter()
                .filter(|e| e.to == s)
                .map(|e| e.rps[i] * (1.0 - transport_in[s][i].unreached()))
                .sum();
            let has_callers = edges.iter().any(|e| e.to == s);
            let mut rps = if has_callers {
                incoming
            } else if sc.services[s].kind == ServiceKind::Worker && !svcs[s].lag.is_empty() {
                // Consume what arrives on the topics, plus some of the backlog, up to capacity.
                let input = worker_in(&svcs, &edges, s, i).max(base_rps[s] * 0.3);
                let capacity = input * 1.4 * throughput[s][i];
                let mut out = 0.0;
                for (_, lag) in svcs[s].lag.iter_mut() {
                    let prev = if i > 0 { lag[i - 1] } else { 30.0 };
                    let share = 1.0 / 1.0f64.max(1.0);
                    let want = input * share + prev / step_s;
                    let served = want.min(capacity * share);
                    let next = (prev + (input * share - served) * step_s).max(0.0);
                    lag[i] = next + (rng.f64() * 12.0).floor();
                    out += served;
                }
                out
            } else {
                base_rps[s] * diurnal * (1.0 + 0.03 * rng.normal())
            };
            if rps < 0.0 {
                rps = 0.0;
            }
            if svcs[s].ready[i] <= 0.0 {
                rps = 0.0;
            }
            svcs[s].rps[i] = rps;
            // Which calls each request makes: a store behind a cache sees only the misses.
            let cache_callee = edge_ix[s]
                .iter()
                .map(|e| edges[*e].to)
                .find(|t| svcs[*t].kind == ServiceKind::Cache);
            let miss = cache_callee.map(|c| {
                let base_hit = 0.9 + 0.02 * Rng::keyed(sc.seed, &format!("hit/{}", svcs[c].name)).f64();
                let hit = (base_hit * (1.0 - miss_boost[c][i]) + 0.01 * rng.normal()).clamp(0.0, 0.99);
                svcs[c].hit_ratio[i] = hit;
                1.0 - hit
            });
            for &e in &edge_ix[s] {
                let to = edges[e].to;
                let p = match (miss, svcs[to].kind) {
                    (Some(m), ServiceKind::Db) => m.max(0.02),
                    _ => 1.0,
                };
                edges[e].p_call[i] = p;
                edges[e].rps[i] = rps * p;
                edges[e].transport[i] = transport_in[to][i];
                edges[e].extra_ms[i] = extra_in[to][i];
            }
        }

        // Backward: latency and errors flow from dependencies up to callers.
        for &s in order.iter().rev() {
            let sv_kind = svcs[s].kind;
            let ready = svcs[s].ready[i];
            let capacity =
                ready * cap_per_pod[s] * cap_factor[s][i] * if sv_kind == ServiceKind::Worker { 10.0 } else { 1.0 };
            let u = if capacity > 0.0 { svcs[s].rps[i] / capacity } else { 0.0 };
            let qf = 0.6 / (1.0 - u.min(0.95));
            let mut self_ms = base_self_ms(sv_kind) * qf * self_mult[s][i] * (1.0 + 0.05 * rng.normal()).max(0.7);

            // Memory pressure slows a leaking service (GC) as it nears its limit.
            let mut mem_frac = svcs[s].mem_base / svcs[s].mem_limit;
            if let Some((at, fill)) = svcs[s].leak
                && i >= at
            {
                let phase = ((i - at) % fill.max(1)) as f64 / fill.max(1) as f64;
                mem_frac += (0.97 - mem_frac) * phase;
                self_ms *= 1.0 + 2.5 * ((mem_frac - 0.75) / 0.22).max(0.0);
            }

            svcs[s].self_ms[i] = self_ms;
            let mut lat = self_ms;
            let mut errs = own[s][i];
            for &e in &edge_ix[s] {
                let to = edges[e].to;
                let p = edges[e].p_call[i];
                let client_lat = svcs[to].latency_ms[i] + 0.4 + edges[e].extra_ms[i];
                edges[e].latency_ms[i] = client_lat;
                let tmo = timeout_ms(svcs[to].kind);
                let z = ((tmo.ln() - client_lat.max(0.01).ln()) / svcs[to].sigma.max(0.1)).clamp(-10.0, 10.0);
                let timeouts = 1.0 - norm_cdf(z);
                let mut tr = edges[e].transport[i];
                tr.timeout = (tr.timeout + timeouts).min(1.0);
                if svcs[to].ready[i] <= 0.0 && svcs[to].kind != ServiceKind::Queue {
                    tr.refused = 1.0 - tr.dns - tr.tls;
                }
                edges[e].transport[i] = tr;
                let callee_errs = if svcs[to].kind.serves_requests()
                    || svcs[to].kind == ServiceKind::Cache
                    || svcs[to].kind == ServiceKind::Db
                {
                    svcs[to].errs[i]
                } else {
                    Errs::default()
                };
                let reach = 1.0 - tr.total();
                let mut seen = callee_errs;
                for v in seen.0.iter_mut() {
                    *v *= reach;
                }
                edges[e].errs[i] = seen;
                lat += p * client_lat.min(tmo);
                let k = 0.85 * p;
                errs.0[0] += k * (seen.0[0] + seen.0[4] + seen.0[1]);
                errs.0[1] += k * (tr.dns + tr.tls);
                errs.0[2] += k * (tr.refused + seen.0[2]);
                errs.0[3] += k * (tr.timeout + seen.0[3]);
            }
            if sv_kind.serves_requests() && u > 0.95 {
                errs.0[2] += (u - 0.95) / u;
            }
            errs.cap(0.99);
            svcs[s].latency_ms[i] = lat;
            svcs[s].errs[i] = errs;
            svcs[s].own_errs[i] = own[s][i];

            // Resources.
            let limit = svcs[s].cpu_limit;
            let demand =
                limit * (0.06 + 0.72 * u.min(1.3) / 0.95 * 0.5) + limit * hog[s][i] + 0.01 * rng.normal().abs();
            svcs[s].cpu[i] = demand.min(limit * 0.995);
            let over = demand / limit;
            svcs[s].throttle[i] = (0.004 + ((over - 0.8) * 2.2).max(0.0)).min(0.92);
            if let Some(d) = svcs[s].disk.as_mut() {
                let base = 0.52 + 0.0004 * i as f64;
                d[i] = match disk_fill[s] {
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
            if !svcs[s].pool_max.is_empty() {
                let maxc = svcs[s].pool_max[i];
                let normal = (20.0 + 0.25 * svcs[s].rps[i] * (latency_share(svcs[s].latency_ms[i]))).min(maxc * 0.7);
                svcs[s].pool_active[i] = if pool_sat[s][i] > 0.0 {
                    (normal + (maxc - normal) * pool_sat[s][i]).round()
                } else {
                    (normal + 2.0 * rng.normal()).clamp(1.0, maxc).round()
                };
            }
        }
    }

    let mut index2 = HashMap::new();
    for (i, s) in svcs.iter().enumerate() {
        index2.insert(s.name.clone(), i);
    }
    kube_events.sort_by(|a, b| a.i.cmp(&b.i).then(a.object_name.cmp(&b.object_name)));
    Dynamics {
        n,
        step_ms,
        start: sc.start,
        svcs,
        edges,
        index: index2,
        nodes,
        pressured_node,
        kube_events,
        changes,
    }
}

fn latency_share(lat_ms: f64) -> f64 {
    (lat_ms / 1000.0).clamp(0.005, 5.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arrows_parse() {
        assert_eq!(parse_arrow("replicas 4 -> 1"), Some((4.0, 1.0)));
        assert_eq!(parse_arrow("max_connections 200 -> 40"), Some((200.0, 40.0)));
        assert_eq!(parse_arrow("frontend v2.14.1"), None);
    }
}
