//! Rollout history as changes, from what the API server keeps:
//!
//! - Deployments: one ReplicaSet per pod template, its revision in the
//!   `deployment.kubernetes.io/revision` annotation, created when that
//!   template was first rolled out; the images are compared with the previous
//!   revision's. A rollback re-uses an old ReplicaSet and gives it a new
//!   revision (the old ones in `deployment.kubernetes.io/revision-history`):
//!   the API does not record when, so the rollback is placed at the
//!   Deployment's last `Progressing` update when it is the current revision,
//!   and is otherwise not shown.
//! - StatefulSets and DaemonSets: ControllerRevisions (`revision`, created
//!   when that template was first rolled out, the same caveat for rollbacks).
//! - ConfigMaps: the latest `metadata.managedFields[].time`, the last write
//!   by each field manager; earlier writes are not kept by the API, so a
//!   ConfigMap shows at most its last update (and its creation).

use std::collections::BTreeMap;

use serde_json::Value;

use crate::model::Timestamp;
use crate::sources::telemetry::Change;

const REVISION: &str = "deployment.kubernetes.io/revision";
const HISTORY: &str = "deployment.kubernetes.io/revision-history";

fn time(v: &Value) -> Option<Timestamp> {
    v.as_str().and_then(|s| Timestamp::parse_rfc3339(s).ok())
}

fn items(list: &Value) -> &[Value] {
    list["items"].as_array().map(Vec::as_slice).unwrap_or(&[])
}

/// The service an object belongs to: its `app.kubernetes.io/name`, `app` or
/// `service` label, else `fallback` (its owner's name).
fn service_of(meta: &Value, fallback: &str) -> String {
    ["app.kubernetes.io/name", "app", "service"]
        .iter()
        .find_map(|k| meta["labels"][*k].as_str())
        .unwrap_or(fallback)
        .to_string()
}

fn owner<'a>(meta: &'a Value, kinds: &[&str]) -> Option<(&'a str, &'a str)> {
    meta["ownerReferences"].as_array()?.iter().find_map(|o| {
        let kind = o["kind"].as_str()?;
        kinds.contains(&kind).then_some((kind, o["name"].as_str()?))
    })
}

/// The containers' images of a pod template, `name=image` joined, in order.
fn images(template: &Value) -> String {
    template["spec"]["containers"]
        .as_array()
        .map(|cs| {
            cs.iter()
                .filter_map(|c| c["image"].as_str())
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}

/// One revision of a workload: its number, when it was first rolled out, its images.
struct Revision {
    number: u64,
    created: Option<Timestamp>,
    images: String,
    service: String,
    namespace: Option<String>,
    /// Earlier revision numbers this template had (a rollback to it).
    history: Vec<u64>,
}

fn summaries(kind: &str, name: &str, mut revs: Vec<Revision>, rolled_back_at: Option<Timestamp>) -> Vec<Change> {
    // A re-used template counts at its first revision too.
    let mut by_number: BTreeMap<u64, (usize, bool)> = BTreeMap::new();
    for (i, r) in revs.iter().enumerate() {
        by_number.insert(r.number, (i, false));
        for h in &r.history {
            by_number.entry(*h).or_insert((i, true));
        }
    }
    revs.iter_mut().for_each(|r| r.history.sort_unstable());
    let mut out = Vec::new();
    let mut previous: Option<&str> = None;
    let latest = by_number.keys().next_back().copied();
    for (&n, &(i, earlier)) in &by_number {
        let r = &revs[i];
        let first = r.history.first().copied().unwrap_or(r.number);
        let what = match previous {
            Some(p) if p != r.images => format!("image {} (was {p})", r.images),
            Some(_) => format!("pod template changed, image {} unchanged", r.images),
            None => format!("image {}", r.images),
        };
        let (at, kind_of_change, summary) = if n == first {
            (r.created, "deploy", format!("{kind} {name} revision {n}: {what}"))
        } else if !earlier && Some(n) == latest {
            (
                rolled_back_at,
                "rollback",
                format!("{kind} {name} revision {n}: rolled back to revision {first}'s template, {what}"),
            )
        } else {
            // A rollback that is no longer current: the API keeps no time for it.
            (None, "rollback", String::new())
        };
        previous = Some(&r.images);
        if let Some(at) = at {
            out.push(Change {
                at,
                kind: kind_of_change.into(),
                service: r.service.clone(),
                summary,
                namespace: r.namespace.clone(),
            });
        }
    }
    out
}

/// Deployment revisions from a ReplicaSet list, and the Deployments (for the
/// time of a rollback to an earlier template; an empty list is fine).
pub fn deployment_changes(replicasets: &Value, deployments: &Value) -> Vec<Change> {
    let mut by_owner: BTreeMap<(String, String), Vec<Revision>> = BTreeMap::new();
    for rs in items(replicasets) {
        let meta = &rs["metadata"];
        let Some((_, dep)) = owner(meta, &["Deployment"]) else {
            continue;
        };
        let Some(number) = meta["annotations"][REVISION].as_str().and_then(|s| s.parse().ok()) else {
            continue;
        };
        let history = meta["annotations"][HISTORY]
            .as_str()
            .map(|h| h.split(',').filter_map(|n| n.trim().parse().ok()).collect())
            .unwrap_or_default();
        let ns = meta["namespace"].as_str().unwrap_or("").to_string();
        by_owner
            .entry((ns.clone(), dep.to_string()))
            .or_default()
            .push(Revision {
                number,
                created: time(&meta["creationTimestamp"]),
                images: images(&rs["spec"]["template"]),
                service: service_of(meta, dep),
                namespace: (!ns.is_empty()).then_some(ns),
                history,
            });
    }
    let progressed = |ns: &str, name: &str| {
        items(deployments)
            .iter()
            .find(|d| d["metadata"]["name"] == name && d["metadata"]["namespace"].as_str().unwrap_or("") == ns)
            .and_then(|d| {
                d["status"]["conditions"]
                    .as_array()?
                    .iter()
                    .find(|c| c["type"] == "Progressing")
                    .and_then(|c| time(&c["lastUpdateTime"]))
            })
    };
    by_owner
        .into_iter()
        .flat_map(|((ns, name), revs)| summaries("Deployment", &name, revs, progressed(&ns, &name)))
        .collect()
}

/// StatefulSet and DaemonSet revisions from a ControllerRevision list.
pub fn controller_changes(revisions: &Value) -> Vec<Change> {
    let mut by_owner: BTreeMap<(String, String, String), Vec<Revision>> = BTreeMap::new();
    for cr in items(revisions) {
        let meta = &cr["metadata"];
        let Some((kind, name)) = owner(meta, &["StatefulSet", "DaemonSet"]) else {
            continue;
        };
        let Some(number) = cr["revision"].as_u64() else {
            continue;
        };
        let ns = meta["namespace"].as_str().unwrap_or("").to_string();
        by_owner
            .entry((ns.clone(), kind.to_string(), name.to_string()))
            .or_default()
            .push(Revision {
                number,
                created: time(&meta["creationTimestamp"]),
                images: images(&cr["data"]["spec"]["template"]),
                service: service_of(meta, name),
                namespace: (!ns.is_empty()).then_some(ns),
                history: Vec::new(),
            });
    }
    by_owner
        .into_iter()
        .flat_map(|((_, kind, name), revs)| summaries(&kind, &name, revs, None))
        .collect()
}

/// ConfigMaps' creation and last write (managedFields keeps only each manager's last one).
pub fn configmap_changes(configmaps: &Value) -> Vec<Change> {
    let mut out = Vec::new();
    for cm in items(configmaps) {
        let meta = &cm["metadata"];
        let Some(name) = meta["name"].as_str() else { continue };
        let ns = meta["namespace"].as_str().map(str::to_string);
        let service = service_of(meta, name);
        let created = time(&meta["creationTimestamp"]);
        let last = meta["managedFields"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|f| Some((time(&f["time"])?, f["manager"].as_str().unwrap_or("?"))))
            .max_by_key(|(t, _)| *t);
        let change = |at, summary: String| Change {
            at,
            kind: "config_change".into(),
            service: service.clone(),
            summary,
            namespace: ns.clone(),
        };
        if let Some(c) = created {
            out.push(change(c, format!("ConfigMap {name} created")));
        }
        if let Some((t, manager)) = last
            && created.is_none_or(|c| t.0 > c.0 + 1_000_000_000)
        {
            out.push(change(
                t,
                format!("ConfigMap {name} updated by {manager} (its last write; earlier ones are not kept)"),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn rs(name: &str, rev: &str, created: &str, image: &str, history: Option<&str>) -> Value {
        let mut annotations = json!({ REVISION: rev });
        if let Some(h) = history {
            annotations[HISTORY] = json!(h);
        }
        json!({"metadata": {"name": name, "namespace": "shop", "creationTimestamp": created,
            "labels": {"app": "checkout", "pod-template-hash": "x"}, "annotations": annotations,
            "ownerReferences": [{"kind": "Deployment", "name": "checkout-api"}]},
            "spec": {"template": {"spec": {"containers": [{"name": "app", "image": image}]}}}})
    }

    #[test]
    fn replicaset_revisions_become_deploys_and_a_rollback_lands_at_the_last_progress() {
        let list = json!({"items": [
            rs("checkout-api-b", "2", "2026-03-01T10:00:00Z", "shop/checkout:v2.4.1", None),
            rs("checkout-api-a", "3", "2026-02-20T09:00:00Z", "shop/checkout:v2.4.0", Some("1")),
        ]});
        let deps = json!({"items": [{"metadata": {"name": "checkout-api", "namespace": "shop"},
            "status": {"conditions": [{"type": "Progressing", "lastUpdateTime": "2026-03-01T10:20:00Z"}]}}]});
        let c = deployment_changes(&list, &deps);
        let got: Vec<(String, String, String)> = c
            .iter()
            .map(|c| (c.at.to_rfc3339(), c.kind.clone(), c.summary.clone()))
            .collect();
        assert_eq!(c.len(), 3, "{got:?}");
        assert_eq!(c[0].at.to_rfc3339(), "2026-02-20T09:00:00Z");
        assert!(
            c[0].summary.contains("revision 1: image shop/checkout:v2.4.0"),
            "{got:?}"
        );
        assert_eq!(c[1].kind, "deploy");
        assert!(
            c[1].summary
                .contains("revision 2: image shop/checkout:v2.4.1 (was shop/checkout:v2.4.0)"),
            "{got:?}"
        );
        assert_eq!(
            (c[2].kind.as_str(), c[2].at.to_rfc3339()),
            ("rollback", "2026-03-01T10:20:00Z".to_string())
        );
        assert!(c[2].summary.contains("rolled back to revision 1"), "{got:?}");
        assert!(
            c.iter()
                .all(|c| c.service == "checkout" && c.namespace.as_deref() == Some("shop"))
        );
    }

    #[test]
    fn configmaps_show_their_creation_and_last_write_only() {
        let list = json!({"items": [{"metadata": {"name": "checkout-config", "namespace": "shop",
            "creationTimestamp": "2026-01-01T00:00:00Z", "managedFields": [
                {"manager": "kubectl-client-side-apply", "operation": "Update", "time": "2026-01-01T00:00:00Z"},
                {"manager": "argocd-controller", "operation": "Apply", "time": "2026-03-01T10:41:00Z"}]}}]});
        let c = configmap_changes(&list);
        assert_eq!(c.len(), 2);
        assert_eq!(c[1].at.to_rfc3339(), "2026-03-01T10:41:00Z");
        assert!(c[1].summary.contains("argocd-controller"));
        assert_eq!(c[1].kind, "config_change");
    }
}
