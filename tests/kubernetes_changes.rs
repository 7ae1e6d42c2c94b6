//! Kubernetes rollout history as changes, over loopback against a fake API
//! server: Deployment revisions from ReplicaSets (with the image each
//! brought), StatefulSet revisions from ControllerRevisions, ConfigMap writes;
//! a kind the account may not list leaves the rest standing.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use inquest::sources::kubernetes::Kubernetes;
use inquest::sources::{Backend, ToolData};
use serde_json::{Value, json};

mod common;

fn rs(name: &str, rev: u32, created: &str, image: &str) -> Value {
    json!({"metadata": {"name": name, "namespace": "shop", "creationTimestamp": created,
        "labels": {"app.kubernetes.io/name": "checkout", "pod-template-hash": "5d4f"},
        "annotations": {"deployment.kubernetes.io/revision": rev.to_string()},
        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "checkout", "controller": true}]},
        "spec": {"replicas": 0, "template": {"metadata": {"labels": {"app.kubernetes.io/name": "checkout"}},
            "spec": {"containers": [{"name": "api", "image": image}]}}}})
}

fn answer(path: &str, forbid_all: bool) -> (u16, String) {
    let list = |kind: &str, items: Value| json!({"kind": kind, "apiVersion": "v1", "items": items}).to_string();
    let forbidden = |what: &str| {
        (
            403,
            json!({"kind": "Status", "status": "Failure", "reason": "Forbidden", "code": 403,
            "message": format!("{what} is forbidden: User \"system:serviceaccount:ops:inquest\" cannot list resource")})
            .to_string(),
        )
    };
    if forbid_all {
        return forbidden("everything");
    }
    match path {
        "/apis/apps/v1/namespaces/shop/replicasets" => (
            200,
            list(
                "ReplicaSetList",
                json!([
                    rs(
                        "checkout-7c9f",
                        3,
                        "2026-03-01T10:42:10Z",
                        "registry.example.com/shop/checkout:v2.4.1"
                    ),
                    rs(
                        "checkout-5d4f",
                        2,
                        "2026-02-27T15:03:00Z",
                        "registry.example.com/shop/checkout:v2.4.0"
                    ),
                    rs(
                        "checkout-44aa",
                        1,
                        "2026-02-10T08:00:00Z",
                        "registry.example.com/shop/checkout:v2.3.9"
                    ),
                ]),
            ),
        ),
        "/apis/apps/v1/namespaces/shop/deployments" => (200, list("DeploymentList", json!([]))),
        "/apis/apps/v1/namespaces/shop/controllerrevisions" => (
            200,
            list(
                "ControllerRevisionList",
                json!([
                    {"metadata": {"name": "orders-db-6b7", "namespace": "shop", "creationTimestamp": "2026-03-01T09:00:00Z",
                      "labels": {"app": "orders-db"},
                      "ownerReferences": [{"kind": "StatefulSet", "name": "orders-db"}]},
                     "revision": 4,
                     "data": {"spec": {"template": {"spec": {"containers": [{"name": "pg", "image": "postgres:16.2"}]}}}}}
                ]),
            ),
        ),
        "/api/v1/namespaces/shop/configmaps" => forbidden("configmaps"),
        _ => (
            404,
            json!({"kind": "Status", "code": 404, "message": "not found"}).to_string(),
        ),
    }
}

fn client(port: u16, dir_name: &str) -> Kubernetes {
    let dir = std::env::temp_dir().join(format!("inquest-{dir_name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let kc = dir.join("kubeconfig");
    std::fs::write(
        &kc,
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: prod\nclusters:\n- name: prod\n  cluster:\n    server: http://127.0.0.1:{port}\ncontexts:\n- name: prod\n  context:\n    cluster: prod\n    user: inquest\n    namespace: shop\nusers:\n- name: inquest\n  user:\n    token: t0ken\n"
        ),
    )
    .unwrap();
    let k = Kubernetes::from_kubeconfig(&kc, None, Duration::from_secs(2)).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    k
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replicaset_history_gives_deploys_with_their_versions() {
    let forbid = Arc::new(AtomicBool::new(false));
    let f = forbid.clone();
    let port = common::serve(move |req| {
        let f = f.clone();
        async move {
            let (status, body) = answer(&req.path, f.load(Ordering::SeqCst));
            common::Reply::new(status, body)
        }
    });
    let k = client(port, "kchanges");
    let window = json!({"start": "2026-02-20T00:00:00Z", "end": "2026-03-01T11:00:00Z"});
    let Ok(ToolData::Changes(changes)) = k.call("changes_list", &window).await else {
        panic!("changes_list answers changes");
    };
    let lines: Vec<String> = changes
        .iter()
        .map(|c| format!("{} {} {} {}", c.at.to_rfc3339(), c.kind, c.service, c.summary))
        .collect();
    assert_eq!(lines.len(), 3, "revision 1 is before the window: {lines:#?}");
    assert_eq!(
        lines[0],
        "2026-02-27T15:03:00Z deploy checkout Deployment checkout revision 2: image registry.example.com/shop/checkout:v2.4.0 (was registry.example.com/shop/checkout:v2.3.9)"
    );
    assert_eq!(
        lines[1],
        "2026-03-01T09:00:00Z deploy orders-db StatefulSet orders-db revision 4: image postgres:16.2"
    );
    assert!(
        lines[2].starts_with("2026-03-01T10:42:10Z deploy checkout Deployment checkout revision 3"),
        "{lines:#?}"
    );
    assert!(lines[2].contains("checkout:v2.4.1 (was registry.example.com/shop/checkout:v2.4.0)"));
    assert!(changes.iter().all(|c| c.namespace.as_deref() == Some("shop")));

    let one = json!({"start": "2026-02-20T00:00:00Z", "end": "2026-03-01T11:00:00Z", "service": "orders-db"});
    let Ok(ToolData::Changes(only)) = k.call("changes_list", &one).await else {
        panic!()
    };
    assert_eq!(only.len(), 1);
    assert_eq!(only[0].service, "orders-db");

    forbid.store(true, Ordering::SeqCst);
    let err = k.call("changes_list", &window).await.unwrap_err().to_string();
    assert!(err.contains("403") && err.contains("forbidden"), "{err}");
}
