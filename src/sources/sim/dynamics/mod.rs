//! The simulated system's behaviour over time: load, latency, errors and
//! resources per service and per call edge, with faults and noise applied on
//! their targets and propagated up the call graph. Metrics, logs, traces and
//! Kubernetes objects are all rendered from this one model.

// Series are parallel arrays indexed by step; loops over the step index read clearer than zipped iterators.
#![allow(clippy::needless_range_loop)]

mod changes;
mod faults;
mod load;
mod noise;
mod topology;

use std::collections::HashMap;

use super::scenario::{ChangeKind, Scenario, ServiceKind};
use crate::model::Timestamp;

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
    /// Drops what only rendering reads, once metrics, logs and traces are
    /// rendered: the edges and each service's per-step model (rates,
    /// latencies, errors, resources). Answers afterwards read only the grid,
    /// services' names, namespaces, pods, desired and ready replicas and
    /// limits, and the Kubernetes events; at 1,000 services the rest is about
    /// 100 MB held for nothing.
    pub fn keep_for_answers(&mut self) {
        self.edges = Vec::new();
        for s in &mut self.svcs {
            s.rps = Vec::new();
            s.latency_ms = Vec::new();
            s.self_ms = Vec::new();
            s.errs = Vec::new();
            s.own_errs = Vec::new();
            s.cpu = Vec::new();
            s.throttle = Vec::new();
            s.disk = None;
            s.pool_active = Vec::new();
            s.pool_max = Vec::new();
            s.hit_ratio = Vec::new();
            s.lag = Vec::new();
        }
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

/// The model under construction, handed from phase to phase.
struct Build<'a> {
    sc: &'a Scenario,
    n: usize,
    step_ms: i64,
    index: HashMap<String, usize>,
    /// Callers before callees.
    order: Vec<usize>,
    changes: Vec<ChangeRec>,
    nodes: Vec<String>,
    pressured_node: Option<(String, usize)>,
    svcs: Vec<Svc>,
    edges: Vec<Edge>,
    /// The edges leaving each service.
    edge_ix: Vec<Vec<usize>>,
    kube_events: Vec<KubeEvent>,
}

impl Build<'_> {
    /// The step an offset from the scenario's start falls in, clamped to the window.
    fn idx_of(&self, ms: i64) -> usize {
        step_index(ms, self.step_ms, self.n)
    }

    fn step_s(&self) -> f64 {
        self.step_ms as f64 / 1000.0
    }
}

fn step_index(ms: i64, step_ms: i64, n: usize) -> usize {
    ((ms / step_ms) as usize).min(n - 1)
}

/// Builds the whole model for a scenario. Deterministic for a given seed.
///
/// The phases run in a fixed order because each keyed random stream and each
/// Kubernetes event's place among equal-time events depends on it: the
/// timeline first, then the topology it implies, the faults, the noise, the
/// rollouts and pool limits the timeline sets, and last the load over time.
pub fn simulate(sc: &Scenario) -> Dynamics {
    let step_ms = sc.step_ms;
    let n = (sc.window_ms / step_ms) as usize + 1;
    let index: HashMap<String, usize> = sc
        .services
        .iter()
        .enumerate()
        .map(|(i, s)| (s.name.clone(), i))
        .collect();
    let order = topo_order(sc, &index);
    let faults = faults::resolve(sc, &index, |ms| step_index(ms, step_ms, n));
    let changes = changes::timeline(sc, &faults, n);
    let topo = topology::build(sc, &index, &faults, &changes, n);
    let mut b = Build {
        sc,
        n,
        step_ms,
        index,
        order,
        changes,
        nodes: topo.nodes,
        pressured_node: topo.pressured_node,
        svcs: topo.svcs,
        edges: topo.edges,
        edge_ix: topo.edge_ix,
        kube_events: Vec::new(),
    };
    let mut fx = faults::apply(&mut b, &faults);
    noise::apply(&mut b, &mut fx);
    changes::rollout_events(&mut b);
    changes::pool_limits(&mut b, &faults);
    load::run(&mut b, &fx);
    b.finish()
}

impl Build<'_> {
    fn finish(self) -> Dynamics {
        let mut index = HashMap::new();
        for (i, s) in self.svcs.iter().enumerate() {
            index.insert(s.name.clone(), i);
        }
        let mut kube_events = self.kube_events;
        kube_events.sort_by(|a, b| a.i.cmp(&b.i).then(a.object_name.cmp(&b.object_name)));
        Dynamics {
            n: self.n,
            step_ms: self.step_ms,
            start: self.sc.start,
            svcs: self.svcs,
            edges: self.edges,
            index,
            nodes: self.nodes,
            pressured_node: self.pressured_node,
            kube_events,
            changes: self.changes,
        }
    }
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
