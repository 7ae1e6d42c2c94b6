//! The system's shape before any time passes: the nodes, each service's
//! static parameters and pod generations, and the call edges.

use std::collections::HashMap;

use super::faults::FaultAt;
use super::{ChangeRec, Edge, Errs, Pod, PodEnd, Svc, Transport, parse_arrow};
use crate::model::FaultKind;
use crate::sources::sim::rng::Rng;
use crate::sources::sim::scenario::{ChangeKind, Scenario, ServiceKind, ServiceSpec};

pub(super) struct Topology {
    pub nodes: Vec<String>,
    pub pressured_node: Option<(String, usize)>,
    pub svcs: Vec<Svc>,
    pub edges: Vec<Edge>,
    pub edge_ix: Vec<Vec<usize>>,
}

/// What every service's construction reads.
struct Ctx<'a> {
    sc: &'a Scenario,
    faults: &'a [FaultAt],
    changes: &'a [ChangeRec],
    nodes: &'a [String],
    n: usize,
}

/// A replica set: the step it rolls out at, its version, and whether its image cannot be pulled.
type Generation = (usize, String, bool);

pub(super) fn build(
    sc: &Scenario,
    index: &HashMap<String, usize>,
    faults: &[FaultAt],
    changes: &[ChangeRec],
    n: usize,
) -> Topology {
    let nodes = nodes(sc);
    let pressure = faults.iter().find(|f| f.kind == FaultKind::NodePressure);
    let pressured_node = pressure.map(|f| {
        let mut r = Rng::keyed(sc.seed, "pressured-node");
        (nodes[r.below(nodes.len())].clone(), f.at)
    });
    let ctx = Ctx {
        sc,
        faults,
        changes,
        nodes: &nodes,
        n,
    };
    let svcs = sc
        .services
        .iter()
        .enumerate()
        .map(|(si, s)| {
            // Pods of a service on a pressured node all sit on that node.
            let pinned = match (&pressured_node, pressure) {
                (Some((pn, _)), Some(f)) if f.target == si => Some(pn.as_str()),
                _ => None,
            };
            service(&ctx, si, s, pinned)
        })
        .collect();
    let edges = edges(sc, index, n);
    let edge_ix: Vec<Vec<usize>> = (0..sc.services.len())
        .map(|s| (0..edges.len()).filter(|e| edges[*e].from == s).collect())
        .collect();
    Topology {
        nodes,
        pressured_node,
        svcs,
        edges,
        edge_ix,
    }
}

fn nodes(sc: &Scenario) -> Vec<String> {
    let total_pods: u32 = sc.services.iter().map(|s| s.replicas).sum();
    let node_count = ((total_pods as usize).div_ceil(8)).max(3);
    let mut r = Rng::keyed(sc.seed, "nodes");
    let pool = r.hex(5);
    (0..node_count)
        .map(|k| format!("ip-10-0-{}-{}.{pool}.internal", 10 + k, 20 + r.below(200)))
        .collect()
}

/// A service's static parameters and pods. The draws from its keyed stream
/// happen in a fixed order (limits, disk, versions, pods, sigma) so that a
/// scenario keeps its numbers.
fn service(ctx: &Ctx, si: usize, s: &ServiceSpec, pinned: Option<&str>) -> Svc {
    let (sc, n) = (ctx.sc, ctx.n);
    let mut r = Rng::keyed(sc.seed, &format!("svc/{}", s.name));
    let cpu_limit = *r.pick(&[0.5, 1.0, 1.0, 2.0]);
    let mem_limit = *r.pick(&[256.0, 512.0, 512.0, 1024.0, 2048.0]) * 1024.0 * 1024.0;
    let mem_base = mem_limit * r.range(0.35, 0.55);
    let has_disk = matches!(s.kind, ServiceKind::Db | ServiceKind::Queue)
        || ctx
            .faults
            .iter()
            .any(|f| f.target == si && f.kind == FaultKind::DiskFull);
    let disk_capacity = *r.pick(&[20.0, 50.0, 100.0]) * 1024.0 * 1024.0 * 1024.0;
    let base_version = format!("v{}.{}.{}", 1 + r.below(4), r.below(30), r.below(10));
    let (gens, version) = generations(ctx, si, s, base_version, &mut r);
    let desired = desired(ctx.changes, s, n);
    let pods = pods(ctx, s, &gens, &desired, pinned, &mut r);
    let lag = if s.kind == ServiceKind::Worker {
        topics(sc, s).into_iter().map(|t| (t, vec![0.0; n])).collect()
    } else {
        vec![]
    };
    Svc {
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
    }
}

/// Pod generations: a new replica set at every deploy or rollout restart.
/// Also returns the versions deployed, with the step each went live.
fn generations(
    ctx: &Ctx,
    si: usize,
    s: &ServiceSpec,
    base_version: String,
    r: &mut Rng,
) -> (Vec<Generation>, Vec<(usize, String)>) {
    let mut version = vec![(0usize, base_version.clone())];
    let mut gens: Vec<Generation> = vec![(0, base_version, false)];
    for c in ctx.changes.iter().filter(|c| c.target == s.name) {
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
                && ctx.faults.iter().any(|f| {
                    f.target == si && f.kind == FaultKind::ImagePullError && f.at + 12 >= c.i && c.i + 12 >= f.at
                });
            if c.kind == ChangeKind::Deploy {
                version.push((c.i, v.clone()));
            }
            gens.push((c.i, v, pull_fail));
        }
    }
    (gens, version)
}

/// Desired replicas per step: scale changes like "replicas 4 -> 1" apply from their step on.
fn desired(changes: &[ChangeRec], s: &ServiceSpec, n: usize) -> Vec<u32> {
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
    desired
}

fn pods(
    ctx: &Ctx,
    s: &ServiceSpec,
    gens: &[Generation],
    desired: &[u32],
    pinned: Option<&str>,
    r: &mut Rng,
) -> Vec<Pod> {
    let (seed, nodes) = (ctx.sc.seed, ctx.nodes);
    let mut pods: Vec<Pod> = Vec::new();
    let mut live: Vec<usize> = Vec::new();
    for (g, (gi, ver, pull_fail)) in gens.iter().enumerate() {
        let rs_hash = Rng::keyed(seed, &format!("rs/{}/{g}", s.name)).kube_suffix(10);
        let rs = format!("{}-{rs_hash}", s.name);
        let image = format!("registry.internal/{}/{}:{}", s.namespace, s.name, ver);
        let want = desired[*gi].max(1) as usize;
        let pod = |k: usize, node: String, pull_failing: bool, leak_offset: usize| Pod {
            name: format!("{rs}-{}", Rng::keyed(seed, &format!("pod/{rs}/{k}")).kube_suffix(5)),
            replicaset: rs.clone(),
            revision: g as u32 + 1,
            image: image.clone(),
            node,
            from_i: *gi,
            to_i: None,
            end: None,
            restarts: vec![],
            pull_failing,
            crashloop_from: None,
            leak_offset,
        };
        let spread = |k: usize| nodes[Rng::keyed(seed, &format!("node/{rs}/{k}")).below(nodes.len())].clone();
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
                pods.push(pod(k, spread(k), true, 0));
            }
            continue;
        }
        for p in live.drain(..) {
            pods[p].to_i = Some(*gi);
            pods[p].end = Some(PodEnd::Replaced);
        }
        for k in 0..want {
            let node = pinned.map(str::to_string).unwrap_or_else(|| spread(k));
            live.push(pods.len());
            pods.push(pod(k, node, false, r.below(8)));
        }
    }
    pods
}

/// The topics a worker consumes: queues it calls, then queues that call it.
fn topics(sc: &Scenario, s: &ServiceSpec) -> Vec<String> {
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
    topics
}

fn edges(sc: &Scenario, index: &HashMap<String, usize>, n: usize) -> Vec<Edge> {
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
    edges
}
