//! Kubernetes step: container states and restarts, evictions and node
//! pressure, replicas short of desired, and rollouts near the onset.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use super::board::Board;
use super::query::Since;
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

/// What the cluster showed, gathered across the listings before anything is weighed.
#[derive(Default)]
struct Findings {
    onset: i64,
    /// (service, kind) → (how many, evidence, the first note)
    found: BTreeMap<(String, FaultKind), (u32, SpanId, String)>,
    pod_service: BTreeMap<String, String>,
    healthy_rollouts: BTreeSet<String>,
    notes: Vec<String>,
}

impl Findings {
    /// Whether something happened close enough to the onset to matter.
    fn recent(&self, t: Option<i64>) -> bool {
        t.is_some_and(|t| t >= self.onset - 5 * 60_000)
    }

    /// Counts one more sighting; the first one's note and evidence stand for all.
    fn count(&mut self, svc: String, kind: FaultKind, ev: SpanId, note: String) {
        self.found.entry((svc, kind)).or_insert((0, ev, note)).0 += 1;
    }

    fn pods(&mut self, pods: &[Value], ev: SpanId) {
        for p in pods {
            let svc = service_of(p);
            let name = str_at(p, &["metadata", "name"]).to_string();
            self.pod_service.insert(name.clone(), svc.clone());
            if str_at(p, &["status", "reason"]) == "Evicted" {
                let note = format!("{name} evicted: {}", str_at(p, &["status", "message"]));
                self.count(svc.clone(), FaultKind::NodePressure, ev, note);
            }
            for cs in p["status"]["containerStatuses"].as_array().into_iter().flatten() {
                if let Some((kind, note)) = self.container_trouble(&name, cs) {
                    self.count(svc.clone(), kind, ev, note);
                }
            }
        }
    }

    /// A container that cannot start, keeps crashing or was killed for memory near the onset.
    fn container_trouble(&self, name: &str, cs: &Value) -> Option<(FaultKind, String)> {
        let waiting = str_at(cs, &["state", "waiting", "reason"]);
        let last = str_at(cs, &["lastState", "terminated", "reason"]);
        let last_at = time_at(cs, &["lastState", "terminated", "finishedAt"]);
        let restarts = cs["restartCount"].as_u64().unwrap_or(0);
        match waiting {
            "ImagePullBackOff" | "ErrImagePull" => Some((
                FaultKind::ImagePullError,
                format!("{name} {waiting}: {}", str_at(cs, &["state", "waiting", "message"])),
            )),
            "CrashLoopBackOff" => Some((
                FaultKind::PodCrashloop,
                format!("{name} CrashLoopBackOff after {restarts} restarts (last: {last})"),
            )),
            _ if last == "OOMKilled" && self.recent(last_at) => {
                Some((FaultKind::MemoryLeak, format!("{name} OOMKilled, {restarts} restarts")))
            }
            _ if restarts > 0 && self.recent(last_at) && last == "Error" => Some((
                FaultKind::PodCrashloop,
                format!("{name} restarted ({last}), {restarts} restarts"),
            )),
            _ => None,
        }
    }

    /// Recent warnings: node pressure is noted, pod trouble is counted against the pod's service.
    fn events(&mut self, events: &[Value], ev: SpanId) {
        for e in events {
            let last = time_at(e, &["lastTimestamp"]);
            if !self.recent(last) || str_at(e, &["type"]) != "Warning" {
                continue;
            }
            let reason = str_at(e, &["reason"]);
            let obj = str_at(e, &["involvedObject", "name"]);
            if str_at(e, &["involvedObject", "kind"]) == "Node" && reason.contains("Pressure") {
                self.notes.push(format!("node {obj}: {reason}"));
                continue;
            }
            let svc = self.pod_service.get(obj).cloned().unwrap_or_default();
            let kind = match reason {
                "Evicted" => FaultKind::NodePressure,
                "OOMKilling" => FaultKind::MemoryLeak,
                "Failed" | "ErrImagePull" if str_at(e, &["message"]).contains("pull") => FaultKind::ImagePullError,
                "BackOff" if str_at(e, &["message"]).contains("pulling image") => FaultKind::ImagePullError,
                "BackOff" => FaultKind::PodCrashloop,
                _ => continue,
            };
            if !svc.is_empty() {
                self.count(svc, kind, ev, format!("{reason}: {}", str_at(e, &["message"])));
            }
        }
    }

    /// New revisions rolled out shortly before the onset.
    fn rollouts(&mut self, sets: &[Value], ev: SpanId) {
        let onset = self.onset;
        for rs in sets {
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
                    self.healthy_rollouts.insert(owner.clone());
                }
                self.count(owner, FaultKind::BadDeploy, ev, note);
            }
        }
    }

    /// Puts the findings on the board; returns the services whose trouble is explained
    /// by something other than a rollout.
    fn weigh(&mut self, b: &mut Board) -> Vec<String> {
        let mut explained: Vec<String> = Vec::new();
        for ((svc, kind), (n, ev, note)) in &self.found {
            if svc.is_empty() {
                continue;
            }
            let (w, specific) = match kind {
                FaultKind::BadDeploy if self.healthy_rollouts.contains(svc) => (0.3, false),
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
            self.notes.push(note);
        }
        explained
    }

    /// Deployments short of replicas; a shortfall with another explanation weighs little.
    fn short(&mut self, b: &mut Board, short: BTreeMap<String, (u64, u64, SpanId)>, explained: &[String]) {
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
            self.notes.push(note);
        }
    }
}

/// Deployments with fewer available replicas than desired.
fn short_of_replicas(deps: &[Value], ev: SpanId) -> BTreeMap<String, (u64, u64, SpanId)> {
    let mut short = BTreeMap::new();
    for d in deps {
        let name = str_at(d, &["metadata", "name"]).to_string();
        let want = d["spec"]["replicas"].as_u64().unwrap_or(0);
        let have = d["status"]["availableReplicas"].as_u64().unwrap_or(0);
        if want > 0 && have < want {
            short.insert(name, (have, want, ev));
        }
    }
    short
}

pub async fn scan(ctx: &BranchCtx, b: &mut Board) -> Result<(), BranchEnd> {
    let mut f = Findings {
        onset: b
            .onset
            .unwrap_or(ctx.alert.starts_at.millis() - super::metrics::NO_ONSET_MS),
        ..Findings::default()
    };
    let since = Since::mark(ctx, "kubernetes");
    if let Some((pods, ev)) = list(ctx, "k8s_list_pods").await? {
        f.pods(&pods, ev);
    }
    if let Some((events, ev)) = list(ctx, "k8s_events").await? {
        f.events(&events, ev);
    }
    let mut short = BTreeMap::new();
    if let Some((deps, ev)) = list(ctx, "k8s_list_deployments").await? {
        short = short_of_replicas(&deps, ev);
    }
    if let Some((sets, ev)) = list(ctx, "k8s_list_replicasets").await? {
        f.rollouts(&sets, ev);
    }
    if since.read_nothing(ctx) {
        ctx.think(format!("Kubernetes: {}.", since.unread(ctx).unwrap_or_default()));
        return Ok(());
    }
    let explained = f.weigh(b);
    f.short(b, short, &explained);
    let mut notes = f.notes;
    notes.truncate(6);
    // The all-clear stands only when every listing answered.
    let clear = "pods running, nothing restarting, replicas as desired";
    ctx.think(since.verdict(ctx, "Kubernetes", &notes, clear));
    Ok(())
}
