//! Noise: harmless blips and restarts that an investigation should see past.

use super::faults::Effects;
use super::{Build, KubeEvent};
use crate::sources::sim::scenario::NoiseKind;

pub(super) fn apply(b: &mut Build, fx: &mut Effects) {
    let n = b.n;
    for nz in &b.sc.noise {
        let t = b.index[&nz.target];
        let at = b.idx_of(nz.at_ms);
        let sev = nz.severity.unwrap_or(0.5);
        match nz.kind {
            NoiseKind::LatencyBlip => {
                let end = b.idx_of(nz.at_ms + nz.duration_ms.unwrap_or(180_000));
                for i in at..=end.min(n - 1) {
                    fx.self_mult[t][i] *= 1.0 + 1.5 * sev;
                }
            }
            NoiseKind::Restart => {
                let sv = &mut b.svcs[t];
                if let Some(p) = sv.pods.iter_mut().find(|p| p.alive_at(at) && !p.pull_failing) {
                    p.restarts.push((at, "Error", 2));
                    let name = p.name.clone();
                    b.kube_events.push(KubeEvent {
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
}
