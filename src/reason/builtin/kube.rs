//! Kubernetes step: container states and restarts (init containers too),
//! pods that cannot be scheduled, failed Jobs, evictions and node pressure,
//! replicas short of desired, rollouts near the onset, and the last lines of
//! the containers that keep failing.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use super::board::Board;
use super::logs;
use super::query::{Since, clip};
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

/// A CronJob names its Jobs `<cronjob>-<scheduled minute>`: the workload is the CronJob.
fn job_workload(job: &str) -> String {
    match job.rsplit_once('-') {
        Some((base, n)) if n.len() >= 8 && n.chars().all(|c| c.is_ascii_digit()) => base.to_string(),
        _ => job.to_string(),
    }
}

/// The workload an object belongs to: its name label, else its controller's name.
fn service_of(obj: &Value) -> String {
    let l = &obj["metadata"]["labels"];
    for k in ["app.kubernetes.io/name", "app", "service"] {
        if let Some(s) = l.get(k).and_then(Value::as_str) {
            return s.to_string();
        }
    }
    let owner = &obj["metadata"]["ownerReferences"][0];
    let name = owner["name"].as_str().unwrap_or("");
    match owner["kind"].as_str().unwrap_or("") {
        // <deployment>-<pod-template-hash>
        "ReplicaSet" => name.rsplit_once('-').map(|(d, _)| d).unwrap_or(name).to_string(),
        "Job" => job_workload(name),
        _ => name.to_string(),
    }
}

/// What a scheduler's "0/N nodes are available: ..." says: no room (capacity)
/// or no node the pod may go to (its own spec); `specific` when it says which.
fn unschedulable(message: &str) -> (FaultKind, bool) {
    let m = message.to_lowercase();
    if m.contains("insufficient ") || m.contains("too many pods") {
        (FaultKind::NodePressure, true)
    } else if [
        "node affinity/selector",
        "didn't match pod affinity",
        "didn't match pod anti-affinity",
        "untolerated taint",
        "didn't tolerate",
        "volume node affinity conflict",
        "didn't match pod topology spread",
    ]
    .iter()
    .any(|p| m.contains(p))
    {
        (FaultKind::ConfigError, true)
    } else if m.contains("persistentvolumeclaim") {
        // The claim's own events say why it is unbound.
        (FaultKind::ConfigError, false)
    } else {
        (FaultKind::NodePressure, false)
    }
}

/// A container whose last lines are worth reading: it keeps failing.
struct Failing {
    namespace: String,
    pod: String,
    container: String,
    service: String,
    restarts: u64,
}

/// One (service, kind) as the cluster showed it.
struct Found {
    n: u32,
    ev: SpanId,
    note: String,
    specific: bool,
    /// When the trouble began, where the cluster says (an event's firstTimestamp, a stuck pod's creation).
    since: Option<i64>,
    /// The namespaces it was seen in.
    namespaces: BTreeSet<String>,
}

/// What the cluster showed, gathered across the listings before anything is weighed.
#[derive(Default)]
struct Findings {
    onset: i64,
    /// The namespace of the object being read.
    ns: String,
    /// (service, kind) → what was seen
    found: BTreeMap<(String, FaultKind), Found>,
    pod_service: BTreeMap<String, String>,
    /// volume claim → the workload whose pods mount it
    claim_service: BTreeMap<String, String>,
    /// Job name → workload
    job_service: BTreeMap<String, String>,
    /// every workload the listings name
    known: BTreeSet<String>,
    /// controller kinds the pods and events mention (Job, StatefulSet, ...)
    kinds: BTreeSet<String>,
    unbound_claims: bool,
    failing: Vec<Failing>,
    /// service → the services its failing containers' last lines blame
    blames: BTreeMap<String, BTreeSet<String>>,
    /// services whose failure their own last lines explain
    explained_by_lines: BTreeSet<String>,
    healthy_rollouts: BTreeSet<String>,
    notes: Vec<String>,
}

impl Findings {
    /// Whether something happened close enough to the onset to matter.
    fn recent(&self, t: Option<i64>) -> bool {
        t.is_some_and(|t| t >= self.onset - 5 * 60_000)
    }

    /// Counts one more sighting; the first one's note and evidence stand for
    /// all, unless a later one says which kind where the first could not.
    fn sighting(&mut self, svc: &str, kind: FaultKind, ev: SpanId, note: String, specific: bool) {
        if svc.is_empty() {
            return;
        }
        let f = self.found.entry((svc.to_string(), kind)).or_insert(Found {
            n: 0,
            ev,
            note: note.clone(),
            specific,
            since: None,
            namespaces: BTreeSet::new(),
        });
        f.n += 1;
        f.namespaces.insert(self.ns.clone());
        if specific && !f.specific {
            (f.ev, f.note, f.specific) = (ev, note, true);
        }
    }

    fn count(&mut self, svc: &str, kind: FaultKind, ev: SpanId, note: String) {
        self.sighting(svc, kind, ev, note, true);
    }

    /// The trouble of (svc, kind) was there at `t`.
    fn began(&mut self, svc: &str, kind: FaultKind, t: Option<i64>) {
        if let (Some(f), Some(t)) = (self.found.get_mut(&(svc.to_string(), kind)), t) {
            f.since = Some(f.since.map_or(t, |s| s.min(t)));
        }
    }

    fn pods(&mut self, pods: &[Value], ev: SpanId) {
        for p in pods {
            self.ns = str_at(p, &["metadata", "namespace"]).to_string();
            let svc = service_of(p);
            let name = str_at(p, &["metadata", "name"]).to_string();
            self.pod_service.insert(name.clone(), svc.clone());
            self.known.insert(svc.clone());
            let owner = &p["metadata"]["ownerReferences"][0];
            let owner_kind = owner["kind"].as_str().unwrap_or("");
            self.kinds.insert(owner_kind.to_string());
            if owner_kind == "Job" {
                let job = owner["name"].as_str().unwrap_or("").to_string();
                self.job_service.insert(job, svc.clone());
            }
            for v in p["spec"]["volumes"].as_array().into_iter().flatten() {
                if let Some(c) = v["persistentVolumeClaim"]["claimName"].as_str() {
                    self.claim_service.insert(c.to_string(), svc.clone());
                }
            }
            if str_at(p, &["status", "reason"]) == "Evicted" {
                let note = format!("{name} evicted: {}", str_at(p, &["status", "message"]));
                self.count(&svc, FaultKind::NodePressure, ev, note);
                // Its containers' end is the eviction.
                let evicted_at = p["status"]["containerStatuses"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|cs| time_at(cs, &["state", "terminated", "finishedAt"]))
                    .max();
                self.began(&svc, FaultKind::NodePressure, evicted_at);
                continue;
            }
            self.unscheduled(p, &name, &svc, ev);
            for cs in p["status"]["initContainerStatuses"].as_array().into_iter().flatten() {
                self.init_trouble(p, &svc, cs, ev);
            }
            for cs in p["status"]["containerStatuses"].as_array().into_iter().flatten() {
                self.container_trouble(p, &svc, cs, ev);
            }
        }
    }

    /// A pod the scheduler cannot place: Pending with PodScheduled=False.
    fn unscheduled(&mut self, p: &Value, name: &str, svc: &str, ev: SpanId) {
        if str_at(p, &["status", "phase"]) != "Pending" {
            return;
        }
        for c in p["status"]["conditions"].as_array().into_iter().flatten() {
            if str_at(c, &["type"]) == "PodScheduled" && str_at(c, &["status"]) == "False" {
                let msg = str_at(c, &["message"]);
                let (kind, specific) = unschedulable(msg);
                self.unbound_claims |= msg.to_lowercase().contains("persistentvolumeclaim");
                let note = format!("{name} Pending, cannot be scheduled: {}", clip(msg, 160));
                self.sighting(svc, kind, ev, note, specific);
                self.began(svc, kind, time_at(p, &["metadata", "creationTimestamp"]));
            }
        }
    }

    fn failing(&mut self, p: &Value, svc: &str, container: &str, restarts: u64) {
        self.failing.push(Failing {
            namespace: str_at(p, &["metadata", "namespace"]).to_string(),
            pod: str_at(p, &["metadata", "name"]).to_string(),
            container: container.to_string(),
            service: svc.to_string(),
            restarts,
        });
    }

    /// An init container that fails keeps the pod from ever starting (Init:CrashLoopBackOff, Init:Error).
    fn init_trouble(&mut self, p: &Value, svc: &str, cs: &Value, ev: SpanId) {
        let name = str_at(p, &["metadata", "name"]);
        let c = str_at(cs, &["name"]);
        let restarts = cs["restartCount"].as_u64().unwrap_or(0);
        let waiting = str_at(cs, &["state", "waiting", "reason"]);
        let term = match (waiting, &cs["state"]["terminated"]) {
            ("CrashLoopBackOff", _) => &cs["lastState"]["terminated"],
            (_, t) if t.is_object() && str_at(t, &["reason"]) != "Completed" => t,
            _ => return,
        };
        let reason = str_at(term, &["reason"]);
        let code = term["exitCode"].as_i64().unwrap_or(0);
        if reason == "OOMKilled" {
            let note = format!("{name}: init container {c} OOMKilled (exit {code}), {restarts} restarts");
            self.count(svc, FaultKind::MemoryLeak, ev, note);
            return;
        }
        let shown = if waiting.is_empty() { "Error" } else { waiting };
        let note = format!("{name} Init:{shown}: init container {c} exited {code} ({reason}), {restarts} restarts");
        self.count(svc, FaultKind::PodCrashloop, ev, note);
        self.failing(p, svc, c, restarts);
    }

    /// A container that cannot start, keeps crashing, was killed for memory
    /// (even while it backs off) or, in a Job, failed.
    fn container_trouble(&mut self, p: &Value, svc: &str, cs: &Value, ev: SpanId) {
        let name = str_at(p, &["metadata", "name"]);
        let c = str_at(cs, &["name"]);
        let waiting = str_at(cs, &["state", "waiting", "reason"]);
        let last = str_at(cs, &["lastState", "terminated", "reason"]);
        let last_at = time_at(cs, &["lastState", "terminated", "finishedAt"]);
        let code = cs["lastState"]["terminated"]["exitCode"].as_i64().unwrap_or(0);
        let now = str_at(cs, &["state", "terminated", "reason"]);
        let restarts = cs["restartCount"].as_u64().unwrap_or(0);
        let crashing = waiting == "CrashLoopBackOff";
        match waiting {
            "ImagePullBackOff" | "ErrImagePull" => {
                let note = format!("{name} {waiting}: {}", str_at(cs, &["state", "waiting", "message"]));
                self.count(svc, FaultKind::ImagePullError, ev, note);
                self.began(
                    svc,
                    FaultKind::ImagePullError,
                    time_at(p, &["metadata", "creationTimestamp"]),
                );
            }
            // The waiting reason says only that it backs off; the last termination says why.
            _ if last == "OOMKilled" && (crashing || self.recent(last_at)) => {
                let looping = if crashing { ", now in CrashLoopBackOff" } else { "" };
                let note = format!("{name} OOMKilled (exit {code}), {restarts} restarts{looping}");
                self.count(svc, FaultKind::MemoryLeak, ev, note);
            }
            _ if now == "OOMKilled" => {
                let note = format!("{name} OOMKilled, {restarts} restarts");
                self.count(svc, FaultKind::MemoryLeak, ev, note);
            }
            "CrashLoopBackOff" => {
                let note = format!("{name} CrashLoopBackOff after {restarts} restarts (last: {last}, exit {code})");
                self.count(svc, FaultKind::PodCrashloop, ev, note);
                self.failing(p, svc, c, restarts);
            }
            _ if restarts > 0 && self.recent(last_at) && last == "Error" => {
                let note = format!("{name} restarted ({last}), {restarts} restarts");
                self.count(svc, FaultKind::PodCrashloop, ev, note);
            }
            // A Job's pod that failed is not restarted (restartPolicy Never): restartCount stays 0.
            _ if str_at(p, &["status", "phase"]) == "Failed"
                && p["metadata"]["ownerReferences"][0]["kind"] == "Job"
                && !now.is_empty()
                && now != "Completed" =>
            {
                let code = cs["state"]["terminated"]["exitCode"].as_i64().unwrap_or(0);
                let note = format!("{name} (a Job's pod) exited {code} ({now})");
                self.sighting(svc, FaultKind::PodCrashloop, ev, note, false);
                self.failing(p, svc, c, 0);
            }
            _ => {}
        }
    }

    /// Recent warnings: node pressure is noted, pod, claim and controller trouble is counted against its workload.
    fn events(&mut self, events: &[Value], ev: SpanId) {
        for e in events {
            self.ns = str_at(e, &["involvedObject", "namespace"]).to_string();
            let obj_kind = str_at(e, &["involvedObject", "kind"]);
            self.kinds.insert(obj_kind.to_string());
            let last = time_at(e, &["lastTimestamp"]);
            if !self.recent(last) || str_at(e, &["type"]) != "Warning" {
                continue;
            }
            let reason = str_at(e, &["reason"]);
            let obj = str_at(e, &["involvedObject", "name"]);
            let msg = str_at(e, &["message"]);
            if obj_kind == "Node" && reason.contains("Pressure") {
                self.notes.push(format!("node {obj}: {reason}"));
                continue;
            }
            let svc = match obj_kind {
                "PersistentVolumeClaim" => self.claim_service.get(obj).cloned().unwrap_or_default(),
                "ReplicaSet" => obj.rsplit_once('-').map(|(d, _)| d).unwrap_or(obj).to_string(),
                "Job" => self.job_service.get(obj).cloned().unwrap_or_else(|| job_workload(obj)),
                "Pod" => self.pod_service.get(obj).cloned().unwrap_or_default(),
                _ => obj.to_string(),
            };
            let lower = msg.to_lowercase();
            let (kind, specific) = match reason {
                "Evicted" => (FaultKind::NodePressure, true),
                "OOMKilling" => (FaultKind::MemoryLeak, true),
                "Failed" | "ErrImagePull" if msg.contains("pull") => (FaultKind::ImagePullError, true),
                "BackOff" if msg.contains("pulling image") => (FaultKind::ImagePullError, true),
                "BackOff" => (FaultKind::PodCrashloop, true),
                "FailedScheduling" => unschedulable(msg),
                // A claim that cannot be provisioned: a storage class, parameters or quota the cluster refuses.
                "ProvisioningFailed" => (
                    FaultKind::ConfigError,
                    ["not found", "invalid", "not supported", "forbidden", "exceeded quota"]
                        .iter()
                        .any(|p| lower.contains(p)),
                ),
                // A controller refused pods: quota, admission, a missing service account.
                "FailedCreate" => (
                    FaultKind::ConfigError,
                    lower.contains("forbidden") || lower.contains("not found"),
                ),
                _ => continue,
            };
            let note = format!("{reason} ({obj_kind} {obj}): {}", clip(msg, 160));
            self.sighting(&svc, kind, ev, note, specific);
            self.began(&svc, kind, time_at(e, &["firstTimestamp"]));
        }
    }

    /// Jobs that gave up (BackoffLimitExceeded, DeadlineExceeded): a state, however long ago it was reached.
    fn jobs(&mut self, jobs: &[Value], ev: SpanId) {
        for j in jobs {
            self.ns = str_at(j, &["metadata", "namespace"]).to_string();
            let name = str_at(j, &["metadata", "name"]);
            let failed = j["status"]["conditions"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|c| str_at(c, &["type"]) == "Failed" && str_at(c, &["status"]) == "True");
            let Some(c) = failed else { continue };
            let svc = match service_of(j) {
                s if s.is_empty() => self
                    .job_service
                    .get(name)
                    .cloned()
                    .unwrap_or_else(|| job_workload(name)),
                s => s,
            };
            self.known.insert(svc.clone());
            let note = format!(
                "Job {name} failed: {} ({}), {} pods failed",
                str_at(c, &["reason"]),
                str_at(c, &["message"]),
                j["status"]["failed"].as_u64().unwrap_or(0)
            );
            self.sighting(&svc, FaultKind::PodCrashloop, ev, note, false);
        }
    }

    /// Claims still Pending: their storage class is named in the note.
    fn claims(&mut self, pvcs: &[Value], ev: SpanId) {
        for c in pvcs {
            self.ns = str_at(c, &["metadata", "namespace"]).to_string();
            let name = str_at(c, &["metadata", "name"]);
            if str_at(c, &["status", "phase"]) != "Pending" {
                continue;
            }
            let Some(svc) = self.claim_service.get(name).cloned() else {
                continue;
            };
            let class = str_at(c, &["spec", "storageClassName"]);
            let note = format!("claim {name} Pending (storage class {class:?})");
            self.sighting(&svc, FaultKind::ConfigError, ev, note, false);
        }
    }

    /// What a failing container printed last: a cause of its own, or a dependency it names.
    fn last_lines(&mut self, x: &Failing, lines: &[String], ev: SpanId) {
        let mut best: Option<(FaultKind, bool, f64, String)> = None;
        for l in lines.iter().rev().take(40) {
            let msg = super::drain::message(l);
            // Only the words that name a cause outright explain a crash.
            if let Some((kind, own, w)) = logs::classify(&msg)
                && w >= 2.5
                && best.as_ref().is_none_or(|b| w > b.2)
            {
                best = Some((kind, own, w, msg));
            }
        }
        let Some((kind, own, _, line)) = best else { return };
        self.ns = x.namespace.clone();
        let known: Vec<String> = self.known.iter().cloned().collect();
        let peer = logs::peer(&line, &known).filter(|p| *p != x.service);
        let generic = logs::generic(kind);
        let quoted = clip(&line, 140);
        let (pod, svc) = (&x.pod, &x.service);
        match (own, peer) {
            (false, Some(peer)) => {
                let note = format!("{pod} ({}) exits naming {peer}: \"{quoted}\"", x.container);
                self.sighting(&peer, kind, ev, note, !generic);
                self.blames.entry(svc.clone()).or_default().insert(peer);
            }
            // A name no workload in the cluster carries does not resolve: the address is wrong, not the DNS.
            (false, None) if kind == FaultKind::DnsFailure => {
                let note = format!(
                    "{pod} ({}) exits on a host name no workload carries: \"{quoted}\"",
                    x.container
                );
                self.count(svc, FaultKind::ConfigError, ev, note);
            }
            _ => {
                let note = format!("{pod} ({}) exits with: \"{quoted}\"", x.container);
                self.sighting(svc, kind, ev, note, !generic);
            }
        }
        if !generic {
            self.explained_by_lines.insert(svc.clone());
        }
    }

    /// New revisions rolled out shortly before the onset.
    fn rollouts(&mut self, sets: &[Value], ev: SpanId) {
        let onset = self.onset;
        for rs in sets {
            self.ns = str_at(rs, &["metadata", "namespace"]).to_string();
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
                // A rollout alone says when, not what: its containers' own lines can say more.
                self.sighting(&owner, FaultKind::BadDeploy, ev, note, false);
            }
        }
    }

    /// Puts the findings on the board; returns the services whose trouble is explained
    /// by something other than a rollout. The alert's own workload, and what its
    /// failing containers blame, weigh more; when it is in trouble itself,
    /// trouble elsewhere that it does not name weighs less, and so does trouble
    /// seen only outside the alert's namespace.
    fn weigh(&mut self, b: &mut Board, alert: Option<&str>, alert_ns: Option<&str>) -> Vec<String> {
        let mut explained: Vec<String> = Vec::new();
        // A rollout alone is not trouble; anything else seen on a workload is.
        let trouble = |k: &FaultKind, f: &Found| *k != FaultKind::BadDeploy || f.specific;
        let own_trouble = alert.is_some_and(|a| self.found.iter().any(|((s, k), f)| s == a && trouble(k, f)));
        let mut related: BTreeSet<String> = alert.map(str::to_string).into_iter().collect();
        if let Some(a) = alert {
            related.extend(self.blames.get(a).cloned().unwrap_or_default());
        }
        for ((svc, kind), f) in &self.found {
            let n = f.n as f64;
            let (mut w, specific) = match kind {
                FaultKind::BadDeploy if !f.specific && self.healthy_rollouts.contains(svc) => (0.3, false),
                FaultKind::BadDeploy if !f.specific => (0.8, false),
                FaultKind::PodCrashloop => (2.0 + n.min(3.0) * 0.5, f.specific),
                _ => (2.5 + n.min(3.0) * 0.5, f.specific),
            };
            // Its last lines said why: the crash itself is the symptom.
            if *kind == FaultKind::PodCrashloop && self.explained_by_lines.contains(svc) {
                w *= 0.4;
            }
            if related.contains(svc) {
                w *= 1.5;
            } else if own_trouble {
                w *= 0.5;
            }
            if !related.contains(svc) && alert_ns.is_some_and(|n| !f.namespaces.contains(n)) {
                w *= 0.6;
            }
            // Trouble that began long before the onset did not start this.
            let old = f.since.is_some_and(|t| t < self.onset - 30 * 60_000);
            if old {
                w *= 0.5;
            }
            if trouble(kind, f) {
                explained.push(svc.clone());
                *b.anomaly.entry(svc.clone()).or_default() += 1.0;
            }
            let mut note = if f.n > 1 {
                format!("{} (and {} more)", f.note, f.n - 1)
            } else {
                f.note.clone()
            };
            if old {
                note.push_str(&format!(
                    " (since {} min before the onset)",
                    (self.onset - f.since.unwrap_or(self.onset)) / 60_000
                ));
            }
            b.add(svc, *kind, specific, w, &[f.ev], note.clone());
            self.notes.push(note);
        }
        explained
    }

    /// Workloads short of replicas; a shortfall with another explanation weighs little.
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

/// Deployments or stateful sets with fewer available replicas than desired.
fn short_of_replicas(sets: &[Value], ev: SpanId, short: &mut BTreeMap<String, (u64, u64, SpanId)>) {
    for d in sets {
        let name = str_at(d, &["metadata", "name"]).to_string();
        let want = d["spec"]["replicas"].as_u64().unwrap_or(0);
        let st = &d["status"];
        let have = st["availableReplicas"]
            .as_u64()
            .or_else(|| st["readyReplicas"].as_u64())
            .unwrap_or(0);
        if want > 0 && have < want {
            short.insert(name, (have, want, ev));
        }
    }
}

/// The workload the alert is about: kube-state-metrics alerts name it by
/// deployment, statefulset, job_name or pod; others by service.
fn alert_workload(ctx: &BranchCtx, f: &Findings) -> Option<String> {
    let l = &ctx.alert.labels;
    for k in ["deployment", "statefulset", "daemonset", "cronjob"] {
        if let Some(v) = l.get(k) {
            return Some(v.clone());
        }
    }
    if let Some(j) = l.get("job_name") {
        return Some(f.job_service.get(j).cloned().unwrap_or_else(|| job_workload(j)));
    }
    if let Some(s) = l.get("pod").and_then(|p| f.pod_service.get(p)) {
        return Some(s.clone());
    }
    ctx.alert.service().map(str::to_string)
}

/// Reads the last lines of up to three failing containers, the alert's
/// workload's first. While a container backs off, its log is the one of the
/// run that failed.
async fn read_failing(ctx: &BranchCtx, f: &mut Findings, alert: Option<&str>) -> Result<(), BranchEnd> {
    let mut failing = std::mem::take(&mut f.failing);
    failing.sort_by_key(|x| (alert != Some(x.service.as_str()), std::cmp::Reverse(x.restarts)));
    let mut seen = BTreeSet::new();
    for x in failing {
        if seen.len() >= 3 || !seen.insert((x.service.clone(), x.container.clone())) {
            continue;
        }
        let args = json!({"namespace": x.namespace, "pod": x.pod, "container": x.container, "tail_lines": 40});
        if let Some(c) = ctx.call("k8s_pod_logs", args).await?
            && let ToolData::Lines(lines) = &c.data
        {
            f.last_lines(&x, lines, c.evidence);
        }
    }
    Ok(())
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
        f.known
            .extend(deps.iter().map(|d| str_at(d, &["metadata", "name"]).to_string()));
        short_of_replicas(&deps, ev, &mut short);
    }
    if let Some((sets, ev)) = list(ctx, "k8s_list_replicasets").await? {
        f.rollouts(&sets, ev);
    }
    // Other kinds only when the pods or events mention them.
    if f.kinds.contains("StatefulSet")
        && let Some((sets, ev)) = list(ctx, "k8s_list_statefulsets").await?
    {
        f.known
            .extend(sets.iter().map(|d| str_at(d, &["metadata", "name"]).to_string()));
        short_of_replicas(&sets, ev, &mut short);
    }
    if f.kinds.contains("Job")
        && let Some((jobs, ev)) = list(ctx, "k8s_list_jobs").await?
    {
        f.jobs(&jobs, ev);
    }
    if f.unbound_claims
        && let Some((pvcs, ev)) = list(ctx, "k8s_list_pvcs").await?
    {
        f.claims(&pvcs, ev);
    }
    if since.read_nothing(ctx) {
        ctx.think(format!("Kubernetes: {}.", since.unread(ctx).unwrap_or_default()));
        return Ok(());
    }
    f.known.retain(|s| !s.is_empty());
    let alert = alert_workload(ctx, &f);
    read_failing(ctx, &mut f, alert.as_deref()).await?;
    let alert_ns = ctx.alert.labels.get("namespace").map(String::as_str);
    let explained = f.weigh(b, alert.as_deref(), alert_ns);
    f.short(b, short, &explained);
    let mut notes = f.notes;
    notes.truncate(6);
    // The all-clear stands only when every listing answered.
    let clear = "pods running, nothing restarting, replicas as desired";
    ctx.think(since.verdict(ctx, "Kubernetes", &notes, clear));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ONSET: i64 = 1_795_000_000_000;

    fn at(min: i64) -> String {
        Timestamp::from_millis(ONSET + min * 60_000).to_rfc3339()
    }

    fn ev() -> SpanId {
        SpanId::from_bytes([7; 8]).expect("not all zero")
    }

    fn findings() -> Findings {
        Findings {
            onset: ONSET,
            ..Findings::default()
        }
    }

    fn pod(name: &str, app: &str, owner: (&str, &str), status: Value) -> Value {
        json!({"metadata": {"name": name, "namespace": "shop", "labels": {"app.kubernetes.io/name": app},
            "creationTimestamp": at(-2), "ownerReferences": [{"kind": owner.0, "name": owner.1}]},
            "spec": {}, "status": status})
    }

    fn kinds(f: &Findings, svc: &str) -> Vec<FaultKind> {
        f.found.keys().filter(|(s, _)| s == svc).map(|(_, k)| *k).collect()
    }

    #[test]
    fn oomkilled_behind_crashloopbackoff_is_memory() {
        let mut f = findings();
        let p = pod(
            "recs-7f-lx4mw",
            "recs",
            ("ReplicaSet", "recs-7f"),
            json!({"phase": "Running", "containerStatuses": [{"name": "recs", "restartCount": 7,
                "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                "lastState": {"terminated": {"reason": "OOMKilled", "exitCode": 137, "finishedAt": at(-40)}}}]}),
        );
        f.pods(&[p], ev());
        assert_eq!(kinds(&f, "recs"), vec![FaultKind::MemoryLeak]);
        let note = &f.found[&("recs".to_string(), FaultKind::MemoryLeak)].note;
        assert!(note.contains("exit 137") && note.contains("CrashLoopBackOff"), "{note}");
        // Killed for memory long ago and running since: nothing to say.
        let mut f = findings();
        let p = pod(
            "recs-7f-a",
            "recs",
            ("ReplicaSet", "recs-7f"),
            json!({"phase": "Running", "containerStatuses": [{"name": "recs", "restartCount": 1,
                "state": {"running": {}}, "lastState": {"terminated": {"reason": "OOMKilled", "finishedAt": at(-90)}}}]}),
        );
        f.pods(&[p], ev());
        assert!(f.found.is_empty());
    }

    #[test]
    fn pending_pods_say_whether_nodes_lack_room_or_the_pod_asks_for_none() {
        let unsched = |msg: &str| {
            json!({"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False",
                "reason": "Unschedulable", "message": msg}]})
        };
        let mut f = findings();
        f.pods(
            &[
                pod(
                    "embedder-6b-p2w8d",
                    "embedder",
                    ("ReplicaSet", "embedder-6b"),
                    unsched(
                        "0/3 nodes are available: 3 Insufficient nvidia.com/gpu. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod.",
                    ),
                ),
                pod(
                    "scorer-5c-d6q3z",
                    "scorer",
                    ("ReplicaSet", "scorer-5c"),
                    unsched("0/4 nodes are available: 4 node(s) didn't match Pod's node affinity/selector."),
                ),
                // A pod that runs is not pending, whatever its conditions said once.
                pod(
                    "api-1",
                    "api",
                    ("ReplicaSet", "api-1"),
                    json!({"phase": "Running", "conditions": [{"type": "PodScheduled", "status": "True"}]}),
                ),
            ],
            ev(),
        );
        assert_eq!(kinds(&f, "embedder"), vec![FaultKind::NodePressure]);
        assert_eq!(kinds(&f, "scorer"), vec![FaultKind::ConfigError]);
        assert!(kinds(&f, "api").is_empty());
        assert!(f.found[&("embedder".to_string(), FaultKind::NodePressure)].specific);
        assert!(!f.unbound_claims);
    }

    #[test]
    fn a_claim_that_cannot_be_provisioned_is_its_stateful_sets_config_error() {
        let mut f = findings();
        let mut p = pod(
            "clickhouse-2",
            "clickhouse",
            ("StatefulSet", "clickhouse"),
            json!({"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False",
                "message": "0/3 nodes are available: pod has unbound immediate PersistentVolumeClaims."}]}),
        );
        p["spec"]["volumes"] = json!([{"name": "data", "persistentVolumeClaim": {"claimName": "data-clickhouse-2"}}]);
        f.pods(&[p], ev());
        assert!(f.unbound_claims && f.kinds.contains("StatefulSet"));
        assert!(!f.found[&("clickhouse".to_string(), FaultKind::ConfigError)].specific);
        let e = json!({"type": "Warning", "reason": "ProvisioningFailed", "lastTimestamp": at(0), "firstTimestamp": at(-10),
            "involvedObject": {"kind": "PersistentVolumeClaim", "name": "data-clickhouse-2"},
            "message": "storageclass.storage.k8s.io \"fast-ssd\" not found"});
        f.events(&[e], ev());
        let found = &f.found[&("clickhouse".to_string(), FaultKind::ConfigError)];
        assert!(
            found.specific && found.note.contains("fast-ssd") && found.n == 2,
            "{}",
            found.note
        );
    }

    #[test]
    fn failing_init_containers_and_failed_jobs_are_read_and_their_lines_asked_for() {
        let mut f = findings();
        let init = pod(
            "orders-api-85-t4k9x",
            "orders-api",
            ("ReplicaSet", "orders-api-85"),
            json!({"phase": "Pending",
                "initContainerStatuses": [{"name": "migrate", "restartCount": 6,
                    "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                    "lastState": {"terminated": {"reason": "Error", "exitCode": 1}}}],
                "containerStatuses": [{"name": "orders-api", "restartCount": 0, "state": {"waiting": {"reason": "PodInitializing"}}}]}),
        );
        let mut job = pod(
            "invoice-export-29412120-x7k2p",
            "",
            ("Job", "invoice-export-29412120"),
            json!({"phase": "Failed", "containerStatuses": [{"name": "export", "restartCount": 0,
                "state": {"terminated": {"reason": "Error", "exitCode": 2}}}]}),
        );
        job["metadata"]["labels"] = json!({"job-name": "invoice-export-29412120"});
        f.pods(&[init, job], ev());
        let note = &f.found[&("orders-api".to_string(), FaultKind::PodCrashloop)].note;
        assert!(
            note.contains("Init:CrashLoopBackOff") && note.contains("migrate"),
            "{note}"
        );
        // A CronJob's Job belongs to the CronJob.
        assert!(!f.found[&("invoice-export".to_string(), FaultKind::PodCrashloop)].specific);
        let failing: Vec<(&str, &str)> = f
            .failing
            .iter()
            .map(|x| (x.service.as_str(), x.container.as_str()))
            .collect();
        assert_eq!(failing, vec![("orders-api", "migrate"), ("invoice-export", "export")]);
        let j = json!({"metadata": {"name": "invoice-export-29412120"}, "status": {"failed": 4, "conditions": [
            {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit"}]}});
        f.jobs(&[j], ev());
        let found = &f.found[&("invoice-export".to_string(), FaultKind::PodCrashloop)];
        assert_eq!(found.n, 2);
        // A Job that completed says nothing.
        let mut g = findings();
        g.jobs(
            &[json!({"metadata": {"name": "ok-1"}, "status": {"conditions": [{"type": "Complete", "status": "True"}]}})],
            ev(),
        );
        assert!(g.found.is_empty());
    }

    fn failing(svc: &str) -> Failing {
        Failing {
            namespace: "shop".into(),
            pod: format!("{svc}-1"),
            container: svc.into(),
            service: svc.into(),
            restarts: 3,
        }
    }

    #[test]
    fn last_lines_blame_the_peer_they_name_or_a_host_no_workload_carries() {
        let mut f = findings();
        f.known.extend(["mailer".to_string(), "template-store".to_string()]);
        let lines = vec![
            "INFO starting mailer 3.2.7".to_string(),
            "requests.exceptions.SSLError: HTTPSConnectionPool(host='template-store', port=8443): Max retries exceeded (Caused by SSLError(SSLCertVerificationError(1, '[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: certificate has expired (_ssl.c:1006)')))".to_string(),
            "CRITICAL mailer: startup check failed, exiting".to_string(),
        ];
        f.last_lines(&failing("mailer"), &lines, ev());
        assert!(f.found[&("template-store".to_string(), FaultKind::CertificateExpired)].specific);
        assert!(f.blames["mailer"].contains("template-store"));
        assert!(f.explained_by_lines.contains("mailer"));

        let mut f = findings();
        f.known.extend(["orders-api".to_string(), "orders-db".to_string()]);
        let lines = vec!["sqlalchemy.exc.OperationalError: (psycopg2.OperationalError) could not translate host name \"orders-postgres.orders.svc.cluster.local\" to address: Name or service not known".to_string()];
        f.last_lines(&failing("orders-api"), &lines, ev());
        assert_eq!(kinds(&f, "orders-api"), vec![FaultKind::ConfigError]);
        // The same words about a workload the cluster has: that name does not resolve.
        let lines =
            vec!["could not translate host name \"orders-db\" to address: Name or service not known".to_string()];
        f.last_lines(&failing("orders-api"), &lines, ev());
        assert_eq!(kinds(&f, "orders-db"), vec![FaultKind::DnsFailure]);
        // Lines that name no cause outright explain nothing.
        let mut g = findings();
        g.last_lines(&failing("x"), &["retrying request to y".to_string()], ev());
        assert!(g.found.is_empty() && g.explained_by_lines.is_empty());
    }

    #[test]
    fn the_alerts_workload_outranks_older_trouble_elsewhere_in_the_namespace() {
        let mut f = findings();
        let pull = |name: &str| {
            pod(
                name,
                "newsletter",
                ("ReplicaSet", "newsletter-6b"),
                json!({"phase": "Pending", "containerStatuses": [{"name": "newsletter", "restartCount": 0,
                    "state": {"waiting": {"reason": "ImagePullBackOff", "message": "Back-off pulling image"}}}]}),
            )
        };
        let recs = pod(
            "recs-7f-lx4mw",
            "recs",
            ("ReplicaSet", "recs-7f"),
            json!({"phase": "Running", "containerStatuses": [{"name": "recs", "restartCount": 2,
                "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                "lastState": {"terminated": {"reason": "OOMKilled", "exitCode": 137, "finishedAt": at(-1)}}}]}),
        );
        // More sightings of the unrelated workload than of the alert's own.
        f.pods(
            &[
                pull("newsletter-6b-a"),
                pull("newsletter-6b-b"),
                pull("newsletter-6b-c"),
                recs,
            ],
            ev(),
        );
        let mut b = Board::default();
        f.weigh(&mut b, Some("recs"), Some("shop"));
        let hs = b.hypotheses(&[], 3);
        assert_eq!((hs[0].service.as_str(), hs[0].kind), ("recs", FaultKind::MemoryLeak));
        assert_eq!(hs[1].service, "newsletter");

        // Without the alert on it, trouble that began an hour before the onset still yields.
        let mut f = findings();
        let mut old = pull("newsletter-6b-a");
        old["metadata"]["creationTimestamp"] = json!(at(-60));
        let mut recent = pull("checkout-1");
        recent["metadata"]["labels"]["app.kubernetes.io/name"] = json!("checkout");
        f.pods(&[old, recent], ev());
        let mut b = Board::default();
        f.weigh(&mut b, Some("frontend"), Some("shop"));
        let hs = b.hypotheses(&[], 3);
        assert_eq!(hs[0].service, "checkout");
        assert!(hs[1].statement.contains("min before the onset"), "{}", hs[1].statement);
    }

    #[test]
    fn trouble_seen_only_in_another_namespace_yields_to_the_alerts() {
        let crash = |name: &str, app: &str, ns: &str, restarts: u64| {
            let mut p = pod(
                name,
                app,
                ("ReplicaSet", "x-1"),
                json!({"phase": "Running", "containerStatuses": [{"name": app, "restartCount": restarts,
                    "state": {"waiting": {"reason": "CrashLoopBackOff"}},
                    "lastState": {"terminated": {"reason": "Error", "exitCode": 1, "finishedAt": at(-1)}}}]}),
            );
            p["metadata"]["namespace"] = json!(ns);
            p
        };
        let mut f = findings();
        f.pods(
            &[
                crash("cart-1", "cart", "shop", 3),
                crash("search-1", "search", "staging", 9),
                crash("search-2", "search", "staging", 9),
            ],
            ev(),
        );
        let mut b = Board::default();
        f.weigh(&mut b, Some("frontend"), Some("shop"));
        let hs = b.hypotheses(&[], 3);
        assert_eq!(hs[0].service, "cart");
        // Without a namespace on the alert, the busier crash comes first.
        let mut b = Board::default();
        f.weigh(&mut b, Some("frontend"), None);
        assert_eq!(b.hypotheses(&[], 3)[0].service, "search");
    }

    #[test]
    fn a_rollout_whose_containers_panic_is_a_bad_deploy_and_a_rollout_alone_is_not_trouble() {
        let rs = json!({"metadata": {"name": "pricing-7c", "namespace": "shop", "creationTimestamp": at(-3),
            "annotations": {"deployment.kubernetes.io/revision": "5"}, "ownerReferences": [{"kind": "Deployment", "name": "pricing"}]},
            "spec": {"replicas": 2}, "status": {"readyReplicas": 0}});
        let mut f = findings();
        f.rollouts(std::slice::from_ref(&rs), ev());
        let mut b = Board::default();
        assert!(f.weigh(&mut b, Some("pricing"), Some("shop")).is_empty());
        assert_eq!(b.hypotheses(&[], 3)[0].kind_confidence, 0.15);

        let mut f = findings();
        f.known.insert("pricing".into());
        f.rollouts(&[rs], ev());
        let panic = vec!["panic: runtime error: invalid memory address or nil pointer dereference".to_string()];
        f.last_lines(&failing("pricing"), &panic, ev());
        let found = &f.found[&("pricing".to_string(), FaultKind::BadDeploy)];
        assert!(found.specific && found.n == 2, "{}", found.note);
        let mut b = Board::default();
        assert_eq!(f.weigh(&mut b, None, None), vec!["pricing".to_string()]);
        let h = &b.hypotheses(&[], 3)[0];
        assert!(h.kind == FaultKind::BadDeploy && h.kind_confidence > 0.5, "{h:?}");
    }

    #[test]
    fn workloads_are_named_by_label_else_by_controller() {
        let bare = |kind: &str, name: &str| json!({"metadata": {"ownerReferences": [{"kind": kind, "name": name}]}});
        assert_eq!(service_of(&bare("ReplicaSet", "checkout-7d9f8b6c4")), "checkout");
        assert_eq!(service_of(&bare("StatefulSet", "orders-db")), "orders-db");
        assert_eq!(service_of(&bare("Job", "invoice-export-29412120")), "invoice-export");
        assert_eq!(service_of(&bare("Job", "migrate-v2")), "migrate-v2");
        assert_eq!(
            service_of(
                &json!({"metadata": {"labels": {"app": "cart"}, "ownerReferences": [{"kind": "ReplicaSet", "name": "x-1"}]}})
            ),
            "cart"
        );
    }
}
