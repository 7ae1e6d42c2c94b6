//! Kubernetes objects as the API server returns them (PodList, EventList,
//! DeploymentList, ReplicaSetList), as of a given step of the model.

use serde_json::{Value, json};

use super::dynamics::{Dynamics, PodEnd};

fn ts(d: &Dynamics, i: usize) -> String {
    d.time(i.min(d.n.saturating_sub(1))).to_rfc3339()
}

fn list(kind: &str, api: &str, items: Vec<Value>) -> Value {
    json!({"apiVersion": api, "kind": kind, "metadata": {"resourceVersion": "1"}, "items": items})
}

/// Pods alive at step `i` (and evicted ones still listed, as Kubernetes keeps them).
pub fn pods(d: &Dynamics, i: usize, namespace: Option<&str>, service: Option<&str>) -> Value {
    let mut items = Vec::new();
    for s in &d.svcs {
        if namespace.is_some_and(|n| n != s.namespace) || service.is_some_and(|x| x != s.name) {
            continue;
        }
        for p in &s.pods {
            let evicted = p.end == Some(PodEnd::Evicted) && p.to_i.is_some_and(|t| t <= i);
            if !(p.alive_at(i) || evicted) || p.from_i > i {
                continue;
            }
            let restarts = p.restarts_before(i);
            let last = p.restarts.iter().rev().find(|(k, _, _)| *k <= i);
            let crashing = p.crashloop_from.is_some_and(|c| i >= c);
            let (phase, ready, state) = if evicted {
                (
                    "Failed",
                    false,
                    json!({"terminated": {"reason": "Evicted", "exitCode": 137}}),
                )
            } else if p.pull_failing {
                (
                    "Pending",
                    false,
                    json!({"waiting": {"reason": if (i - p.from_i) % 4 < 2 { "ImagePullBackOff" } else { "ErrImagePull" },
                        "message": format!("Back-off pulling image \"{}\"", p.image)}}),
                )
            } else if crashing {
                (
                    "Running",
                    false,
                    json!({"waiting": {"reason": "CrashLoopBackOff",
                        "message": format!("back-off 5m0s restarting failed container={} pod={}", s.name, p.name)}}),
                )
            } else {
                (
                    "Running",
                    true,
                    json!({"running": {"startedAt": ts(d, last.map(|l| l.0).unwrap_or(p.from_i))}}),
                )
            };
            let last_state = match last {
                Some((k, reason, code)) => json!({"terminated": {"reason": reason, "exitCode": code,
                    "finishedAt": ts(d, *k)}}),
                None => json!({}),
            };
            let mut status = json!({
                "phase": phase,
                "hostIP": "10.0.0.1",
                "startTime": ts(d, p.from_i),
                "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}],
                "containerStatuses": [{
                    "name": s.name, "image": p.image, "ready": ready, "restartCount": restarts,
                    "started": ready, "state": state, "lastState": last_state
                }]
            });
            if evicted {
                status["reason"] = json!("Evicted");
                status["message"] = json!("The node was low on resource: memory.");
            }
            items.push(json!({
                "metadata": {
                    "name": p.name, "namespace": s.namespace,
                    "labels": {"app.kubernetes.io/name": s.name, "service": s.name,
                        "pod-template-hash": p.replicaset.rsplit('-').next().unwrap_or("")},
                    "ownerReferences": [{"kind": "ReplicaSet", "name": p.replicaset}],
                    "creationTimestamp": ts(d, p.from_i)
                },
                "spec": {"nodeName": p.node, "containers": [{"name": s.name, "image": p.image,
                    "resources": {"limits": {"cpu": format!("{}", s.cpu_limit), "memory": format!("{}Mi", (s.mem_limit / 1048576.0) as u64)}}}]},
                "status": status
            }));
        }
    }
    list("PodList", "v1", items)
}

/// Events seen up to step `i`, newest last.
pub fn events(d: &Dynamics, i: usize, namespace: Option<&str>, object: Option<&str>) -> Value {
    let items: Vec<Value> = d
        .kube_events
        .iter()
        .filter(|e| e.i <= i)
        .filter(|e| namespace.is_none_or(|n| n == e.namespace || e.object_kind == "Node"))
        .filter(|e| object.is_none_or(|o| e.object_name.starts_with(o)))
        .map(|e| {
            let last = e.last_i.min(i);
            let count = if e.last_i > e.i {
                ((e.count as f64) * ((last - e.i) as f64 / (e.last_i - e.i) as f64)).ceil().max(1.0) as u32
            } else {
                e.count
            };
            json!({
                "metadata": {"name": format!("{}.{:x}", e.object_name, e.i * 7919 + e.reason.len()), "namespace": e.namespace},
                "involvedObject": {"kind": e.object_kind, "name": e.object_name, "namespace": e.namespace},
                "reason": e.reason, "message": e.message,
                "type": if e.warning { "Warning" } else { "Normal" },
                "count": count,
                "firstTimestamp": ts(d, e.i), "lastTimestamp": ts(d, last),
                "source": {"component": if e.object_kind == "Deployment" { "deployment-controller" } else { "kubelet" }}
            })
        })
        .collect();
    list("EventList", "v1", items)
}

pub fn deployments(d: &Dynamics, i: usize, namespace: Option<&str>) -> Value {
    let items: Vec<Value> = d
        .svcs
        .iter()
        .filter(|s| namespace.is_none_or(|n| n == s.namespace))
        .map(|s| {
            let revision = s.pods.iter().filter(|p| p.from_i <= i).map(|p| p.revision).max().unwrap_or(1);
            let updated = s.pods.iter().filter(|p| p.alive_at(i) && p.revision == revision).count();
            let ready = s.ready[i.min(d.n - 1)].round() as u32;
            let desired = s.desired[i.min(d.n - 1)];
            let image = s.pods.iter().rev().find(|p| p.from_i <= i).map(|p| p.image.clone()).unwrap_or_default();
            let progressing = s.pods.iter().any(|p| p.pull_failing && p.alive_at(i));
            json!({
                "metadata": {"name": s.name, "namespace": s.namespace,
                    "annotations": {"deployment.kubernetes.io/revision": revision.to_string()},
                    "labels": {"app.kubernetes.io/name": s.name}},
                "spec": {"replicas": desired, "template": {"spec": {"containers": [{"name": s.name, "image": image}]}}},
                "status": {
                    "replicas": s.pods.iter().filter(|p| p.alive_at(i)).count(),
                    "readyReplicas": ready, "availableReplicas": ready, "updatedReplicas": updated,
                    "unavailableReplicas": desired.saturating_sub(ready),
                    "conditions": [
                        {"type": "Available", "status": if ready >= desired.max(1) / 2 + desired.min(1) - 1 && ready > 0 { "True" } else { "False" },
                         "reason": if ready >= desired { "MinimumReplicasAvailable" } else { "MinimumReplicasUnavailable" }},
                        {"type": "Progressing", "status": "True",
                         "reason": if progressing { "ReplicaSetUpdating" } else { "NewReplicaSetAvailable" }}
                    ]
                }
            })
        })
        .collect();
    list("DeploymentList", "apps/v1", items)
}

pub fn replicasets(d: &Dynamics, i: usize, namespace: Option<&str>, service: Option<&str>) -> Value {
    let mut items = Vec::new();
    for s in &d.svcs {
        if namespace.is_some_and(|n| n != s.namespace) || service.is_some_and(|x| x != s.name) {
            continue;
        }
        let mut seen: Vec<&str> = Vec::new();
        for p in s.pods.iter().filter(|p| p.from_i <= i) {
            if seen.contains(&p.replicaset.as_str()) {
                continue;
            }
            seen.push(&p.replicaset);
            let pods: Vec<_> = s.pods.iter().filter(|q| q.replicaset == p.replicaset).collect();
            let alive = pods.iter().filter(|q| q.alive_at(i)).count();
            let ready = pods
                .iter()
                .filter(|q| q.alive_at(i) && !q.pull_failing && q.crashloop_from.is_none_or(|c| i < c))
                .count();
            let created = pods.iter().map(|q| q.from_i).min().unwrap_or(0);
            items.push(json!({
                "metadata": {"name": p.replicaset, "namespace": s.namespace,
                    "annotations": {"deployment.kubernetes.io/revision": p.revision.to_string()},
                    "ownerReferences": [{"kind": "Deployment", "name": s.name}],
                    "creationTimestamp": ts(d, created)},
                "spec": {"replicas": alive, "template": {"spec": {"containers": [{"name": s.name, "image": p.image}]}}},
                "status": {"replicas": alive, "readyReplicas": ready, "availableReplicas": ready}
            }));
        }
    }
    list("ReplicaSetList", "apps/v1", items)
}
