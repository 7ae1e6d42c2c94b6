//! Kubernetes as a loopback API server answering from a scenario's cluster
//! state, reached through a kubeconfig with a bearer token; then a 403.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use inquest::sources::kubernetes::Kubernetes;
use inquest::sources::sim::Simulator;
use inquest::sources::{Backend, ToolData};
use serde_json::{Value, json};

mod common;

const SCENARIO: &str = "catalog-memory-leak-oomkills";

struct Fake {
    sim: Simulator,
    forbid: AtomicBool,
    /// 0 answers; 1 a 500; 2 too slow; 3 broken JSON.
    fault: std::sync::atomic::AtomicU8,
}

impl Fake {
    async fn answer(
        &self,
        auth: Option<&str>,
        path: &str,
        q: &std::collections::HashMap<String, String>,
    ) -> (u16, String) {
        let status = |code: u16, reason: &str, msg: &str| {
            (code, json!({"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": msg, "reason": reason, "code": code}).to_string())
        };
        if auth != Some("Bearer t0ken") {
            return status(401, "Unauthorized", "Unauthorized");
        }
        match self.fault.load(Ordering::SeqCst) {
            1 => return status(500, "InternalError", "etcdserver: request timed out"),
            2 => {
                tokio::time::sleep(Duration::from_secs(4)).await;
                return (200, "{}".into());
            }
            3 => return (200, "{\"kind\":\"PodList\",\"items\":[{\"metadata\":".into()),
            _ => {}
        }
        if self.forbid.load(Ordering::SeqCst) {
            return status(
                403,
                "Forbidden",
                "pods is forbidden: User \"system:serviceaccount:ops:inquest\" cannot list resource",
            );
        }
        let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
        let (ns, resource, pod_log) = match parts.as_slice() {
            ["api", "v1", r] | ["apis", "apps", "v1", r] => (None, *r, None),
            ["api", "v1", "namespaces", ns, "pods", pod, "log"] => (Some(*ns), "log", Some(*pod)),
            ["api", "v1", "namespaces", ns, r] | ["apis", "apps", "v1", "namespaces", ns, r] => (Some(*ns), *r, None),
            _ => return status(404, "NotFound", "the server could not find the requested resource"),
        };
        let mut args = json!({});
        if let Some(ns) = ns {
            args["namespace"] = json!(ns);
        }
        if let Some(sel) = q.get("labelSelector") {
            args["label_selector"] = json!(sel);
        }
        let tool = match resource {
            "pods" => "k8s_list_pods",
            "events" => "k8s_events",
            "deployments" => "k8s_list_deployments",
            "replicasets" => "k8s_list_replicasets",
            "log" => {
                args["pod"] = json!(pod_log.unwrap());
                args["tail_lines"] = json!(q.get("tailLines").and_then(|t| t.parse::<u64>().ok()).unwrap_or(100));
                "k8s_pod_logs"
            }
            _ => return status(404, "NotFound", "no such resource"),
        };
        match self.sim.call(tool, &args).await {
            Ok(ToolData::Kube(v)) => (200, v.to_string()),
            Ok(ToolData::Lines(l)) => (200, l.join("\n")),
            _ => status(404, "NotFound", "not found"),
        }
    }
}

fn start_fake() -> (u16, Arc<Fake>) {
    let fake = Arc::new(Fake {
        sim: Simulator::new(Simulator::load(SCENARIO).unwrap()).unwrap(),
        forbid: AtomicBool::new(false),
        fault: std::sync::atomic::AtomicU8::new(0),
    });
    let f = fake.clone();
    let port = common::serve(move |req| {
        let f = f.clone();
        async move {
            let (status, body) = f.answer(req.header("authorization"), &req.path, &req.query).await;
            common::Reply::new(status, body)
        }
    });
    (port, fake)
}

fn kubeconfig(dir: &Path, port: u16) -> std::path::PathBuf {
    let path = dir.join("kubeconfig");
    std::fs::write(
        &path,
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: prod\nclusters:\n- name: prod\n  cluster:\n    server: http://127.0.0.1:{port}\ncontexts:\n- name: prod\n  context:\n    cluster: prod\n    user: inquest\n    namespace: shop\n- name: other\n  context:\n    cluster: prod\n    user: eks\nusers:\n- name: inquest\n  user:\n    token: t0ken\n- name: eks\n  user:\n    exec:\n      apiVersion: client.authentication.k8s.io/v1beta1\n      command: inquest-test-no-such-plugin\n      installHint: install it from your cloud vendor\n"
        ),
    )
    .unwrap();
    path
}

fn run(dir: &Path) -> Vec<Value> {
    common::run_alert(dir, &["--strategies", "kubernetes-first,metrics-first"], &[])
}

#[test]
fn the_cluster_is_read_through_a_kubeconfig_and_a_403_fails_only_its_calls() {
    let (port, fake) = start_fake();
    let dir = std::env::temp_dir().join(format!("inquest-k8s-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let kc = kubeconfig(&dir, port);
    std::fs::write(
        dir.join("config.toml"),
        format!("[sources.kubernetes]\nkubeconfig = \"{}\"\ntimeout = \"2s\"\n\n[sources.simulator]\nscenario = \"{SCENARIO}\"\n", kc.display()),
    )
    .unwrap();
    common::write_alert(&dir, SCENARIO);

    let events = run(&dir);
    let calls: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "tool_call_finished" && e["tool"].as_str().unwrap().starts_with("k8s_"))
        .collect();
    assert!(
        calls.len() >= 4 && calls.iter().all(|c| c["status"] == "ok"),
        "{calls:?}"
    );
    assert!(
        events[0]["source"]
            .as_str()
            .unwrap()
            .contains("kubernetes:http://127.0.0.1"),
        "{}",
        events[0]["source"]
    );
    let fin = events.last().unwrap();
    assert_eq!(fin["root_causes"][0]["service"], "catalog");
    assert_eq!(fin["root_causes"][0]["kind"], "memory_leak");

    fake.forbid.store(true, Ordering::SeqCst);
    let events = run(&dir);
    let calls: Vec<&Value> = events
        .iter()
        .filter(|e| e["type"] == "tool_call_finished" && e["tool"].as_str().unwrap().starts_with("k8s_"))
        .collect();
    assert!(!calls.is_empty());
    for c in &calls {
        let err = c["error"].as_str().unwrap();
        assert!(
            c["status"] == "error"
                && err.contains(&format!("http://127.0.0.1:{port}/"))
                && err.contains("HTTP 403")
                && err.contains("forbidden"),
            "{c}"
        );
    }
    assert_eq!(events.last().unwrap()["status"], "done");

    // A 500, no answer in time, and a broken body: each fails the calls it touches.
    fake.forbid.store(false, Ordering::SeqCst);
    for (fault, expect) in [
        (1u8, "HTTP 500: etcdserver"),
        (2, "timed out after 2000 ms"),
        (3, "not a Kubernetes list"),
    ] {
        fake.fault.store(fault, Ordering::SeqCst);
        let events = run(&dir);
        let calls: Vec<&Value> = events
            .iter()
            .filter(|e| e["type"] == "tool_call_finished" && e["tool"].as_str().unwrap().starts_with("k8s_"))
            .collect();
        assert!(!calls.is_empty());
        for c in &calls {
            let err = c["error"].as_str().unwrap();
            assert!(
                c["status"] == "error" && err.contains(&format!("http://127.0.0.1:{port}/")) && err.contains(expect),
                "{c}"
            );
        }
        assert_eq!(events.last().unwrap()["status"], "done");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn kubeconfig_problems_are_named() {
    let dir = std::env::temp_dir().join(format!("inquest-kc-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let kc = kubeconfig(&dir, 1);
    let t = Duration::from_secs(1);
    let err = Kubernetes::from_kubeconfig(&kc, Some("other"), t).err().unwrap();
    assert!(
        err.contains("kubeconfig")
            && err.contains("\"eks\"")
            && err.contains("credential plugin `inquest-test-no-such-plugin`: cannot start it")
            && err.contains("install it from your cloud vendor"),
        "{err}"
    );
    let err = Kubernetes::from_kubeconfig(&kc, Some("staging"), t).err().unwrap();
    assert!(
        err.contains("no context \"staging\"") && err.contains("prod, other"),
        "{err}"
    );
    std::fs::write(dir.join("broken"), "apiVersion: v1\nclusters:\n  - name: [unclosed\n").unwrap();
    let err = Kubernetes::from_kubeconfig(&dir.join("broken"), None, t).err().unwrap();
    assert!(err.contains("broken:"), "{err}");
    assert!(Kubernetes::from_kubeconfig(&kc, None, t).is_ok());
    let _ = std::fs::remove_dir_all(&dir);
}

/// A credential plugin (as `aws eks get-token` is) beside the kubeconfig: its
/// first token is refused, so it is run again and the call goes through.
#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_credential_plugin_gives_the_token_and_is_run_again_when_it_is_refused() {
    use std::os::unix::fs::PermissionsExt;
    let (port, _fake) = start_fake();
    let dir = std::env::temp_dir().join(format!("inquest-kexec-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("bin")).unwrap();
    let script = dir.join("bin/get-token");
    std::fs::write(
        &script,
        r#"#!/bin/sh
# Counts its runs; the first token it hands out is one the server refuses.
n=$(cat "$(dirname "$0")/runs" 2>/dev/null || echo 0); n=$((n+1)); echo $n > "$(dirname "$0")/runs"
case "$KUBERNETES_EXEC_INFO" in *'"interactive":false'*) ;; *) echo "no exec info" >&2; exit 3;; esac
[ "$1" = "--cluster" ] && [ "$REGION" = "eu-west-1" ] || { echo "bad args" >&2; exit 4; }
if [ $n -eq 1 ]; then t=expired; else t=t0ken; fi
printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"%s","expirationTimestamp":"2099-01-01T00:00:00Z"}}' $t
"#,
    )
    .unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let kc = dir.join("kubeconfig");
    std::fs::write(
        &kc,
        format!(
            "apiVersion: v1\nkind: Config\ncurrent-context: eks\nclusters:\n- name: eks\n  cluster:\n    server: http://127.0.0.1:{port}\ncontexts:\n- name: eks\n  context:\n    cluster: eks\n    user: eks\n    namespace: shop\nusers:\n- name: eks\n  user:\n    exec:\n      apiVersion: client.authentication.k8s.io/v1\n      command: ./bin/get-token\n      args: [\"--cluster\", \"shop\"]\n      env:\n      - name: REGION\n        value: eu-west-1\n      interactiveMode: Never\n"
        ),
    )
    .unwrap();
    let k = Kubernetes::from_kubeconfig(&kc, None, Duration::from_secs(2)).unwrap();
    let pods = k.call("k8s_list_pods", &json!({"namespace": "shop"})).await.unwrap();
    let ToolData::Kube(v) = pods else {
        panic!("not a Kubernetes answer")
    };
    assert!(!v["items"].as_array().unwrap().is_empty());
    assert_eq!(std::fs::read_to_string(dir.join("bin/runs")).unwrap().trim(), "2");
    // The fresh token is kept: no third run.
    k.call("k8s_list_pods", &json!({"namespace": "shop"})).await.unwrap();
    assert_eq!(std::fs::read_to_string(dir.join("bin/runs")).unwrap().trim(), "2");

    // A plugin that fails is named with what it said.
    std::fs::write(
        &script,
        "#!/bin/sh\necho 'token has expired; run aws sso login' >&2\nexit 1\n",
    )
    .unwrap();
    let err = Kubernetes::from_kubeconfig(&kc, None, Duration::from_secs(2))
        .err()
        .unwrap();
    assert!(err.contains("get-token") && err.contains("run aws sso login"), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// An API server answering from a recorded cluster (`k8s.json` and the pods'
/// logs), by the paths and parameters the real API takes; it notes every request.
fn start_recorded(scenario: &str) -> (u16, Arc<std::sync::Mutex<Vec<String>>>) {
    let sc = Simulator::load(scenario).unwrap();
    let rec = sc.recorded.clone().unwrap();
    let k8s: Value = serde_json::from_str(&std::fs::read_to_string(rec.kubernetes.unwrap()).unwrap()).unwrap();
    let logs: Vec<Value> = rec
        .logs
        .map(|p| {
            std::fs::read_to_string(p)
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect()
        })
        .unwrap_or_default();
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let s = seen.clone();
    let port = common::serve(move |req| {
        let mut q: Vec<String> = req.query.iter().map(|(k, v)| format!("{k}={v}")).collect();
        q.sort();
        s.lock().unwrap().push(format!("{}?{}", req.path, q.join("&")));
        let parts: Vec<&str> = req.path.trim_start_matches('/').split('/').collect();
        let reply = match parts.as_slice() {
            ["api", "v1", "namespaces", _, "pods", pod, "log"] => {
                let lines: Vec<&str> = logs
                    .iter()
                    .filter(|l| l["pod"] == *pod)
                    .map(|l| l["message"].as_str().unwrap())
                    .collect();
                common::Reply::new(200, lines.join("\n"))
            }
            [.., r] => {
                let key = match *r {
                    "pods" | "events" | "deployments" | "replicasets" | "statefulsets" | "jobs" => *r,
                    "persistentvolumeclaims" => "persistentvolumeclaims",
                    _ => "",
                };
                let items = k8s.get(key).cloned().unwrap_or(json!([]));
                common::Reply::new(
                    200,
                    json!({"kind": "List", "apiVersion": "v1", "items": items}).to_string(),
                )
            }
            _ => common::Reply::new(404, "{}"),
        };
        async move { reply }
    });
    (port, seen)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_stateful_sets_claims_and_one_containers_log_are_read_at_their_api_paths() {
    let (port, seen) = start_recorded("scenarios-recorded/k8s-pvc-storageclass.toml");
    let dir = std::env::temp_dir().join(format!("inquest-k8s-kinds-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let k = Kubernetes::from_kubeconfig(&kubeconfig(&dir, port), None, Duration::from_secs(2)).unwrap();
    for (tool, path, kind) in [
        (
            "k8s_list_statefulsets",
            "/apis/apps/v1/namespaces/analytics/statefulsets",
            "StatefulSet",
        ),
        ("k8s_list_jobs", "/apis/batch/v1/namespaces/analytics/jobs", ""),
        (
            "k8s_list_pvcs",
            "/api/v1/namespaces/analytics/persistentvolumeclaims",
            "PersistentVolumeClaim",
        ),
    ] {
        let ToolData::Kube(v) = k.call(tool, &json!({"namespace": "analytics"})).await.unwrap() else {
            panic!("{tool}: not a Kubernetes answer")
        };
        assert!(
            seen.lock().unwrap().iter().any(|p| p.starts_with(path)),
            "{tool}: {:?}",
            seen.lock().unwrap()
        );
        assert!(
            v["items"].as_array().unwrap().iter().all(|i| i["kind"] == kind),
            "{tool}"
        );
    }
    let e = k
        .call("k8s_list_jobs", &json!({"namespace": "../x"}))
        .await
        .unwrap_err();
    assert!(e.to_string().contains("not a Kubernetes name"), "{e}");
    k.call(
        "k8s_pod_logs",
        &json!({"namespace": "analytics", "pod": "clickhouse-2", "container": "migrate", "tail_lines": 40}),
    )
    .await
    .unwrap();
    let last = seen.lock().unwrap().last().cloned().unwrap();
    assert_eq!(
        last,
        "/api/v1/namespaces/analytics/pods/clickhouse-2/log?container=migrate&previous=false&tailLines=40"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// A failed Job read from a cluster alone: its pods, the Job, and the lines
/// its container printed before exiting name the cause.
#[test]
fn a_failed_job_is_explained_from_the_cluster_alone() {
    let scenario = "scenarios-recorded/k8s-job-failed.toml";
    let (port, seen) = start_recorded(scenario);
    let dir = std::env::temp_dir().join(format!("inquest-k8s-job-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let kc = kubeconfig(&dir, port);
    std::fs::write(
        dir.join("config.toml"),
        format!(
            "[sources.kubernetes]\nkubeconfig = \"{}\"\ntimeout = \"2s\"\n",
            kc.display()
        ),
    )
    .unwrap();
    common::write_alert(&dir, scenario);
    let events = common::run_alert(&dir, &["--strategies", "kubernetes-first"], &[]);
    let fin = events.last().unwrap();
    assert_eq!(fin["root_causes"][0]["service"], "invoice-export", "{fin}");
    assert_eq!(fin["root_causes"][0]["kind"], "config_error", "{fin}");
    assert!(
        fin["root_causes"][0]["statement"]
            .as_str()
            .unwrap()
            .contains("syntax error"),
        "{fin}"
    );
    let seen = seen.lock().unwrap();
    assert!(seen.iter().any(|p| p.starts_with("/apis/batch/v1/jobs")), "{seen:?}");
    assert!(
        seen.iter().any(|p| p.contains("/log?container=invoice-export")),
        "{seen:?}"
    );
    // Nothing in the cluster is a StatefulSet or waits for a claim: those are not listed.
    assert!(
        !seen
            .iter()
            .any(|p| p.contains("statefulsets") || p.contains("persistentvolumeclaims")),
        "{seen:?}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
