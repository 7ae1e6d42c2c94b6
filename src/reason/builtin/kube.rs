//! Kubernetes step: container states and restarts, evictions and node
//! pressure, replicas short of desired, and rollouts near the onset.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::board::Board;
use crate::model::{FaultKind, SpanId, Timestamp};
use crate::reason::{BranchCtx, BranchEnd};
use crate::sources::ToolData;

async fn list(ctx: &BranchCtx, tool: &str) -> Result<Option<(Vec<Value>, SpanId)>, BranchEnd> {
    Ok(match ctx.call(tool, json!({})).await? {
        Some(c) => match c.data {
            ToolData::Kube(v) => Some((
                v.get("items").and_then(Value::as_array).cloned().unwrap_or_default(),
                c.evidence,
            )),
            _ => None,
        },
        None => None,
    })
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    let mut cur = v;
    for p in path {
        cur = match cur.get(p) {
            Some(x) => x,
            None => return "",
        };
    }
    cur.as_str().unwrap_or("")
}

fn time_at(v: &Value, path: &[&str]) -> Option<i64> {
    Timestamp::parse_rfc3339(str_at(v, path)).ok().map(|t| t.millis())
}

fn service_of(pod: &Value) -> String {
    let l = &pod["metadata"]["labels"];
    for k in ["app.kubernetes.io/name", "app", "service"] {
        if let Some(s) = l.get(k).and_then(Value::as_str) {
            return s.to_string();
        }
    }
    String::new()
}

pub async fn scan(ctx: &BranchCtx, b: &mut Board) -> Result<(), BranchEnd> {
    let onset = b
        .onset
        .unwrap_or(ctx.alert.starts_at.millis() - super::metrics::NO_ONSET_MS);
    let recent = |t: Option<i64>| t.is_some_and(|t| t >= onset - 5 * 60_000);
    let mut notes = Vec::new();
    // service → (kind, count, evidence)
    let mut found: BTreeMap<(String, FaultKind), (u32, SpanId, String)> = BTreeMap::new();
    let mut pod_service: BTreeMap<String, String> = BTreeMap::new();

    if let Some((pods, ev)) = list(ctx, "k8s_list_pods").await? {
        for p in &pods {
            let svc = service_of(p);
            let name = str_at(p, &["metadata", "name"]).to_string();
            pod_service.insert(name.clone(), svc.clone());
            if str_at(p, &["status", "reason"]) == "Evicted" {
                found
                    .entry((svc.clone(), FaultKind::NodePressure))
                    .or_insert((0, ev, format!("{name} evicted: {}", str_at(p, &["status", "message"]))))
                    .0 += 1;
            }
            for cs in p["status"]["containerStatuses"].as_array().into_iter().flatten() {
                let waiting = str_at(cs, &["state", "waiting", "reason"]);
                let last = str_at(cs, &["lastState", "terminated", "reason"]);
                let last_at = time_at(cs, &["lastState", "terminated", "finishedAt"]);
                let restarts = cs["restartCount"].as_u64().unwrap_or(0);
                let hit = match waiting {
                    "ImagePullBackOff" | "ErrImagePull" => Some((
                        FaultKind::ImagePullError,
                        format!("{name} {waiting}: {}", str_at(cs, &["state", "waiting", "message"])),
                    )),
                    "CrashLoopBackOff" => Some((
                        FaultKind::PodCrashloop,
                        format!("{name} CrashLoopBackOff after {restarts} restarts (last: {last})"),
                    )),
                    _ if last == "OOMKilled" && recent(last_at) => {
                        Some((FaultKind::MemoryLeak, format!("{name} OOMKilled, {restarts} restarts")))
                    }
                    _ if restarts > 0 && recent(last_at) && last == "Error" => Some((
                        FaultKind::PodCrashloop,
                        format!("{name} restarted ({last}), {restarts} restarts"),
                    )),
                    _ => None,
                };
                if let Some((kind, note)) = hit {
                    found.entry((svc.clone(), kind)).or_insert((0, ev, note)).0 += 1;
                }
            }
        }
    }
    if let Some((events, ev)) = list(ctx, "k8s_events").await? {
        for e in &events {
            let last = time_at(e, &["lastTimestamp"]);
            if !recent(last) || str_at(e, &["type"]) != "Warning" {
                continue;
            }
            let reason = str_at(e, &["reason"]);
            let obj = str_at(e, &["involvedObject", "name"]);
            if str_at(e, &["involvedObject", "kind"]) == "Node" && reason.contains("Pressure") {
                notes.push(format!("node {obj}: {reason}"));
                continue;
            }
            let svc = pod_service.get(obj).cloned().unwrap_or_default();
            let kind = match reason {
                "Evicted" => FaultKind::NodePressure,
                "OOMKilling" => FaultKind::MemoryLeak,
                "Failed" | "ErrImagePull" if str_at(e, &["message"]).contains("pull") => FaultKind::ImagePullError,
                "BackOff" if str_at(e, &["message"]).contains("pulling image") => FaultKind::ImagePullError,
                "BackOff" => FaultKind::PodCrashloop,
                _ => continue,
            };
            if !svc.is_empty() {
                found
                    .entry((svc, kind))
                    .or_insert((0, ev, format!("{reason}: {}", str_at(e, &["message"]))))
                    .0 += 1;
            }
        }
    }
    let mut healthy_rollouts: std::collections::BTreeSet<String> = std::collections::BTreeSet::new();
    let mut short: BTreeMap<String, (u64, u64, SpanId)> = BTreeMap::new();
    if let Some((deps, ev)) = list(ctx, "k8s_list_deployments").await? {
        for d in &deps {
            let name = str_at(d, &["metadata", "name"]).to_string();
            let want = d["spec"]["replicas"].as_u64().unwrap_or(0);
            let have = d["status"]["availableReplicas"].as_u64().unwrap_or(0);
            if want > 0 && have < want {
                short.insert(name, (have, want, ev));
            }
        }
    }
    if let Some((sets, ev)) = list(ctx, "k8s_list_replicasets").await? {
        for rs in &sets {
            let created = time_at(rs, &["metadata", "creationTimestamp"]);
            let rev: u64 = str_at(rs, &["metadata", "annotations", "deployment.kubernetes.io/revision"])
                .parse()
                .unwrap_or(1);
            let owner = rs["metadata"]["ownerReferences"][0]["name"]
                .as_str()
                .unwrap_or("")
                .to_string();
            if rev > 1
                && created.is_some_and(|t| t >= onset - 30 * 60_000 && t <= onset + 2 * 60_000)
                && !owner.is_empty()
            {
                let image = rs["spec"]["template"]["spec"]["containers"][0]["image"]
                    .as_str()
                    .unwrap_or("");
                let want = rs["spec"]["replicas"].as_u64().unwrap_or(0);
                let ready = rs["status"]["readyReplicas"].as_u64().unwrap_or(0);
                // A rollout whose pods all came up ready is weak evidence on its own.
                let healthy = want > 0 && ready >= want;
                let note = format!(
                    "{owner} rolled out revision {rev} ({image}) {} min before the onset{}",
                    (onset - created.unwrap_or(onset)) / 60_000,
                    if healthy {
                        format!(", all {ready} pods ready")
                    } else {
                        format!(", {ready} of {want} pods ready")
                    }
                );
                if healthy {
                    healthy_rollouts.insert(owner.clone());
                }
                found.entry((owner, FaultKind::BadDeploy)).or_insert((0, ev, note)).0 += 1;
            }
        }
    }
    let mut explained: Vec<String> = Vec::new();
    for ((svc, kind), (n, ev, note)) in &found {
        if svc.is_empty() {
            continue;
        }
        let (w, specific) = match kind {
            FaultKind::BadDeploy if healthy_rollouts.contains(svc) => (0.3, false),
            FaultKind::BadDeploy => (0.8, false),
            FaultKind::PodCrashloop => (2.0 + (*n as f64).min(3.0) * 0.5, true),
            _ => (2.5 + (*n as f64).min(3.0) * 0.5, true),
        };
        if *kind != FaultKind::BadDeploy {
            explained.push(svc.clone());
            *b.anomaly.entry(svc.clone()).or_default() += 1.0;
        }
        let note = if *n > 1 {
            format!("{note} (and {} more)", n - 1)
        } else {
            note.clone()
        };
        b.add(svc, *kind, specific, w, &[*ev], note.clone());
        notes.push(note);
    }
    for (svc, (have, want, ev)) in short {
        let missing = (want - have) as f64 / want as f64;
        let note = format!("{svc}: {have} of {want} replicas available");
        let w = if explained.contains(&svc) {
            0.5
        } else {
            1.5 + 2.0 * missing
        };
        b.add(
            &svc,
            FaultKind::ReplicaLoss,
            !explained.contains(&svc),
            w,
            &[ev],
            note.clone(),
        );
        notes.push(note);
    }
    notes.truncate(6);
    ctx.think(if notes.is_empty() {
        "Kubernetes: pods running, nothing restarting, replicas as desired.".to_string()
    } else {
        format!("Kubernetes: {}.", notes.join("; "))
    });
    Ok(())
}
