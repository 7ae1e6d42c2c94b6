//! The change timeline: the scenario's own events plus the deploys and config
//! changes its faults imply, and what those changes do to the cluster
//! (rollout events, connection-pool limits).

use super::faults::FaultAt;
use super::{Build, ChangeRec, KubeEvent, parse_arrow};
use crate::model::FaultKind;
use crate::sources::sim::rng::Rng;
use crate::sources::sim::scenario::{ChangeKind, Scenario, ServiceKind};

/// The scenario's events, plus a change for each fault that a real incident
/// of its kind would have started with, unless the scenario already put one
/// near it; sorted by step, then target.
pub(super) fn timeline(sc: &Scenario, faults: &[FaultAt], n: usize) -> Vec<ChangeRec> {
    let step_ms = sc.step_ms;
    let mut changes: Vec<ChangeRec> = sc
        .events
        .iter()
        .map(|e| ChangeRec {
            i: super::step_index(e.at_ms, step_ms, n),
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
    for f in faults {
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
    changes
}

/// Deploys and rollout restarts show in events too.
pub(super) fn rollout_events(b: &mut Build) {
    for c in &b.changes {
        if let Some(&t) = b.index.get(&c.target) {
            let sv = &b.svcs[t];
            let message = match c.kind {
                ChangeKind::Deploy | ChangeKind::Restart => sv
                    .pods
                    .iter()
                    .find(|p| p.from_i == c.i)
                    .map(|p| format!("Scaled up replica set {} to {}", p.replicaset, sv.desired[c.i])),
                ChangeKind::Scale => Some(format!(
                    "Scaled replica set {} to {}",
                    sv.pods.first().map(|p| p.replicaset.as_str()).unwrap_or(""),
                    sv.desired[c.i]
                )),
                _ => None,
            };
            if let Some(message) = message {
                b.kube_events.push(KubeEvent {
                    i: c.i,
                    last_i: c.i,
                    count: 1,
                    object_kind: "Deployment",
                    object_name: sv.name.clone(),
                    namespace: sv.namespace.clone(),
                    reason: "ScalingReplicaSet".into(),
                    message,
                    warning: false,
                });
            }
        }
    }
}

/// Pool limits for databases: config changes like "max_connections 200 -> 40" apply.
pub(super) fn pool_limits(b: &mut Build, faults: &[FaultAt]) {
    let n = b.n;
    for (si, sv) in b.svcs.iter_mut().enumerate() {
        if sv.kind != ServiceKind::Db
            && !faults
                .iter()
                .any(|f| f.target == si && f.kind == FaultKind::ConnectionPoolExhaustion)
        {
            continue;
        }
        let mut maxc = vec![200.0; n];
        for c in b
            .changes
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
}
