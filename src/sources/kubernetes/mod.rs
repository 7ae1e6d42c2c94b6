//! Kubernetes, read-only: pods, events, deployments, replica sets, stateful
//! sets, jobs, persistent volume claims and pod logs, from the API server named by a kubeconfig context or by the pod's
//! own service account when inquest runs in the cluster.

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine;
use serde::Deserialize;
use serde_json::Value;

mod credentials;
mod rollouts;

use credentials::{Bearer, ExecConfig};

use super::http::{backend_err, head};
use super::{Backend, BoxFuture, SourceError, ToolData, str_arg};
use crate::model::Timestamp;

#[derive(Deserialize)]
struct KubeConfig {
    #[serde(default)]
    clusters: Vec<Named<Cluster>>,
    #[serde(default)]
    users: Vec<Named<User>>,
    #[serde(default)]
    contexts: Vec<Named<Context>>,
    #[serde(rename = "current-context", default)]
    current_context: Option<String>,
}

#[derive(Deserialize)]
struct Named<T> {
    name: String,
    #[serde(alias = "cluster", alias = "user", alias = "context")]
    item: T,
}

#[derive(Deserialize)]
struct Cluster {
    server: String,
    #[serde(rename = "certificate-authority-data")]
    ca_data: Option<String>,
    #[serde(rename = "certificate-authority")]
    ca_file: Option<PathBuf>,
}

#[derive(Deserialize, Default)]
#[serde(default)]
struct User {
    token: Option<String>,
    #[serde(rename = "tokenFile")]
    token_file: Option<PathBuf>,
    #[serde(rename = "client-certificate-data")]
    cert_data: Option<String>,
    #[serde(rename = "client-key-data")]
    key_data: Option<String>,
    #[serde(rename = "client-certificate")]
    cert_file: Option<PathBuf>,
    #[serde(rename = "client-key")]
    key_file: Option<PathBuf>,
    exec: Option<ExecConfig>,
    #[serde(rename = "auth-provider")]
    auth_provider: Option<serde_norway::Value>,
}

#[derive(Deserialize)]
struct Context {
    cluster: String,
    user: String,
    namespace: Option<String>,
}

/// Where and how to reach the API server.
pub struct Kubernetes {
    server: String,
    bearer: Bearer,
    namespace: String,
    http: reqwest::Client,
    timeout: Duration,
    origin: String,
}

fn read(path: &Path, what: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("{what} {}: {e}", path.display()))
}

fn b64(s: &str, what: &str) -> Result<Vec<u8>, String> {
    base64::engine::general_purpose::STANDARD
        .decode(s.trim())
        .map_err(|e| format!("{what}: not base64: {e}"))
}

impl Kubernetes {
    /// From a kubeconfig file, with `context` or its current context.
    pub fn from_kubeconfig(path: &Path, context: Option<&str>, timeout: Duration) -> Result<Kubernetes, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("kubeconfig {}: {e}", path.display()))?;
        let kc: KubeConfig = serde_norway::from_str(&text).map_err(|e| {
            let at = e.location().map(|l| format!(":{}", l.line())).unwrap_or_default();
            format!("kubeconfig {}{at}: {e}", path.display())
        })?;
        let name = context
            .map(str::to_string)
            .or(kc.current_context.clone())
            .ok_or_else(|| {
                format!(
                    "kubeconfig {}: no current-context, and no context chosen",
                    path.display()
                )
            })?;
        let ctx = kc
            .contexts
            .iter()
            .find(|c| c.name == name)
            .map(|c| &c.item)
            .ok_or_else(|| {
                let known: Vec<&str> = kc.contexts.iter().map(|c| c.name.as_str()).collect();
                format!(
                    "kubeconfig {}: no context {name:?} (contexts: {})",
                    path.display(),
                    known.join(", ")
                )
            })?;
        let cluster = kc
            .clusters
            .iter()
            .find(|c| c.name == ctx.cluster)
            .map(|c| &c.item)
            .ok_or_else(|| {
                format!(
                    "kubeconfig {}: context {name:?} names no cluster {:?}",
                    path.display(),
                    ctx.cluster
                )
            })?;
        let default_user = User::default();
        let user = kc
            .users
            .iter()
            .find(|u| u.name == ctx.user)
            .map(|u| &u.item)
            .unwrap_or(&default_user);
        if user.auth_provider.is_some() {
            return Err(format!(
                "kubeconfig {}: user {:?} uses a legacy auth-provider, which inquest does not run; use its credential plugin (exec), a token or a client certificate",
                path.display(),
                ctx.user
            ));
        }
        // Relative paths in a kubeconfig are relative to the file, as kubectl reads them.
        let base = path.parent().unwrap_or(Path::new("."));
        let rel = |p: &PathBuf| base.join(p);
        let ca = match (&cluster.ca_data, &cluster.ca_file) {
            (Some(d), _) => Some(b64(d, "certificate-authority-data")?),
            (None, Some(f)) => Some(read(&rel(f), "certificate-authority")?),
            _ => None,
        };
        let mut cert = match (&user.cert_data, &user.cert_file) {
            (Some(d), _) => Some(b64(d, "client-certificate-data")?),
            (None, Some(f)) => Some(read(&rel(f), "client-certificate")?),
            _ => None,
        };
        let mut key = match (&user.key_data, &user.key_file) {
            (Some(d), _) => Some(b64(d, "client-key-data")?),
            (None, Some(f)) => Some(read(&rel(f), "client-key")?),
            _ => None,
        };
        let mut bearer = match (&user.token, &user.token_file) {
            (Some(t), _) => Bearer::Static(t.clone()),
            (None, Some(f)) => {
                read(&rel(f), "tokenFile")?;
                Bearer::File(rel(f))
            }
            _ => Bearer::None,
        };
        if let Some(exec) = &user.exec {
            let plugin = exec.clone().relative_to(base);
            let cred = plugin
                .run(&ctx.user)
                .map_err(|e| format!("kubeconfig {}: {e}", path.display()))?;
            if let (Some(c), Some(k)) = (cred.cert, cred.key) {
                cert = Some(c.into_bytes());
                key = Some(k.into_bytes());
            }
            if let Some(t) = cred.token {
                bearer = Bearer::Exec {
                    plugin,
                    user: ctx.user.clone(),
                    cached: tokio::sync::Mutex::new(Some((t, cred.expires))),
                };
            }
        }
        let identity = match (cert, key) {
            (Some(mut c), Some(k)) => {
                c.push(b'\n');
                c.extend(k);
                Some(c)
            }
            _ => None,
        };
        Self::build(
            &cluster.server,
            bearer,
            ca.as_deref(),
            identity.as_deref(),
            ctx.namespace.clone().unwrap_or_else(|| "default".into()),
            timeout,
            format!("context {name}"),
        )
    }

    /// From the service account a pod runs as.
    pub fn in_cluster(timeout: Duration) -> Result<Kubernetes, String> {
        let host = std::env::var("KUBERNETES_SERVICE_HOST")
            .map_err(|_| "not in a cluster: KUBERNETES_SERVICE_HOST is not set")?;
        let port = std::env::var("KUBERNETES_SERVICE_PORT").unwrap_or_else(|_| "443".into());
        let dir = Path::new("/var/run/secrets/kubernetes.io/serviceaccount");
        read(&dir.join("token"), "service account token")?;
        let ca = read(&dir.join("ca.crt"), "service account CA")?;
        let ns = std::fs::read_to_string(dir.join("namespace")).unwrap_or_else(|_| "default".into());
        let host = if host.contains(':') { format!("[{host}]") } else { host };
        Self::build(
            &format!("https://{host}:{port}"),
            Bearer::File(dir.join("token")),
            Some(&ca),
            None,
            ns.trim().to_string(),
            timeout,
            "in-cluster".into(),
        )
    }

    fn build(
        server: &str,
        bearer: Bearer,
        ca: Option<&[u8]>,
        identity: Option<&[u8]>,
        namespace: String,
        timeout: Duration,
        origin: String,
    ) -> Result<Kubernetes, String> {
        let mut b = reqwest::Client::builder()
            .timeout(timeout)
            .user_agent(concat!("inquest/", env!("CARGO_PKG_VERSION")));
        if let Some(pem) = ca {
            for cert in reqwest::Certificate::from_pem_bundle(pem).map_err(|e| format!("cluster CA: {e}"))? {
                b = b.add_root_certificate(cert);
            }
        }
        if let Some(pem) = identity {
            b = b.identity(reqwest::Identity::from_pem(pem).map_err(|e| format!("client certificate: {e}"))?);
        }
        Ok(Kubernetes {
            server: server.trim_end_matches('/').to_string(),
            bearer,
            namespace,
            http: b.build().map_err(|e| format!("HTTP client: {e}"))?,
            timeout,
            origin,
        })
    }

    async fn get(&self, path: &str, params: &[(&str, String)]) -> Result<String, SourceError> {
        let url = format!("{}{path}", self.server);
        let mut resp = self.send(&url, params, false).await?;
        if resp.status().as_u16() == 401 && matches!(self.bearer, Bearer::Exec { .. }) {
            resp = self.send(&url, params, true).await?;
        }
        let status = resp.status().as_u16();
        let body = resp
            .text()
            .await
            .map_err(|e| backend_err(&url, format!("reading the answer: {e}")))?;
        if status != 200 {
            // The API server answers errors as a Status object.
            let msg = serde_json::from_str::<Value>(&body)
                .ok()
                .and_then(|v| v["message"].as_str().map(str::to_string))
                .unwrap_or_else(|| head(&body));
            return Err(backend_err(&url, format!("HTTP {status}: {msg}")));
        }
        Ok(body)
    }

    async fn send(&self, url: &str, params: &[(&str, String)], stale: bool) -> Result<reqwest::Response, SourceError> {
        let mut req = self.http.get(url).query(params);
        if let Some(t) = self.bearer.token(url, stale).await? {
            req = req.bearer_auth(t);
        }
        req.send().await.map_err(|e| {
            if e.is_timeout() {
                backend_err(url, format!("timed out after {} ms", self.timeout.as_millis()))
            } else {
                backend_err(url, format!("unreachable: {e}"))
            }
        })
    }

    async fn list(&self, path: &str, params: &[(&str, String)]) -> Result<Value, SourceError> {
        let mut v = self.list_whole(path, params).await?;
        // Field-manager bookkeeping is noise for an investigation.
        if let Some(items) = v["items"].as_array_mut() {
            for it in items {
                if let Some(m) = it["metadata"].as_object_mut() {
                    m.remove("managedFields");
                }
            }
        }
        Ok(v)
    }

    /// A list as the API server answers it, managedFields included.
    async fn list_whole(&self, path: &str, params: &[(&str, String)]) -> Result<Value, SourceError> {
        let url = format!("{}{path}", self.server);
        let body = self.get(path, params).await?;
        serde_json::from_str(&body)
            .map_err(|e| backend_err(&url, format!("not a Kubernetes list ({e}): {}", head(&body))))
    }

    /// Rollout history and ConfigMap writes in the context's namespace (see
    /// [`rollouts`]), from `start` to `end`, of one service or all. A kind the
    /// account may not list is left out; only when none can be read is it an error.
    async fn changes_list(&self, args: &Value) -> Result<ToolData, SourceError> {
        let (start, end) = super::changes::range(args, Timestamp::now())?;
        let ns = name(str_arg(args, "namespace").unwrap_or(&self.namespace), "namespace")?;
        let apps = format!("/apis/apps/v1/namespaces/{ns}");
        let (rs, deps, crs, cms) = (
            self.list(&format!("{apps}/replicasets"), &[]).await,
            self.list(&format!("{apps}/deployments"), &[]).await,
            self.list(&format!("{apps}/controllerrevisions"), &[]).await,
            self.list_whole(&format!("/api/v1/namespaces/{ns}/configmaps"), &[])
                .await,
        );
        let mut changes = Vec::new();
        let mut failed = Vec::new();
        match rs {
            Ok(rs) => changes.extend(rollouts::deployment_changes(&rs, deps.as_ref().unwrap_or(&Value::Null))),
            Err(e) => failed.push(e),
        }
        match crs {
            Ok(crs) => changes.extend(rollouts::controller_changes(&crs)),
            Err(e) => failed.push(e),
        }
        match cms {
            Ok(cms) => changes.extend(rollouts::configmap_changes(&cms)),
            Err(e) => failed.push(e),
        }
        if failed.len() == 3 {
            return Err(failed.swap_remove(0));
        }
        for e in &failed {
            tracing::warn!(%e, "a Kubernetes change history could not be read");
        }
        let service = str_arg(args, "service");
        changes.retain(|c| c.at >= start && c.at <= end && service.is_none_or(|s| c.service == s));
        Ok(ToolData::Changes(super::changes::merge(vec![changes])))
    }
}

/// A namespace, pod or selector value that cannot escape its place in a URL path.
fn name(v: &str, what: &str) -> Result<String, SourceError> {
    if v.is_empty()
        || v.len() > 253
        || !v
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
    {
        return Err(SourceError::BadArgs(format!("{what}: {v:?} is not a Kubernetes name")));
    }
    Ok(v.to_string())
}

fn scoped(ns: Option<&str>, group: &str, resource: &str) -> Result<String, SourceError> {
    Ok(match ns {
        Some(ns) => format!("{group}/namespaces/{}/{resource}", name(ns, "namespace")?),
        None => format!("{group}/{resource}"),
    })
}

impl Backend for Kubernetes {
    fn call<'a>(&'a self, tool: &'a str, args: &'a Value) -> BoxFuture<'a, Result<ToolData, SourceError>> {
        Box::pin(async move {
            let ns = str_arg(args, "namespace");
            let selector = str_arg(args, "label_selector").map(|s| ("labelSelector", s.to_string()));
            match tool {
                "k8s_list_pods" => {
                    let path = scoped(ns, "/api/v1", "pods")?;
                    Ok(ToolData::Kube(
                        self.list(&path, &selector.into_iter().collect::<Vec<_>>()).await?,
                    ))
                }
                "k8s_list_replicasets" => {
                    let path = scoped(ns, "/apis/apps/v1", "replicasets")?;
                    Ok(ToolData::Kube(
                        self.list(&path, &selector.into_iter().collect::<Vec<_>>()).await?,
                    ))
                }
                "k8s_list_deployments" => Ok(ToolData::Kube(
                    self.list(&scoped(ns, "/apis/apps/v1", "deployments")?, &[]).await?,
                )),
                "k8s_list_statefulsets" => Ok(ToolData::Kube(
                    self.list(&scoped(ns, "/apis/apps/v1", "statefulsets")?, &[]).await?,
                )),
                "k8s_list_jobs" => {
                    let path = scoped(ns, "/apis/batch/v1", "jobs")?;
                    Ok(ToolData::Kube(
                        self.list(&path, &selector.into_iter().collect::<Vec<_>>()).await?,
                    ))
                }
                "k8s_list_pvcs" => Ok(ToolData::Kube(
                    self.list(&scoped(ns, "/api/v1", "persistentvolumeclaims")?, &[])
                        .await?,
                )),
                "k8s_events" => {
                    let mut v = self.list(&scoped(ns, "/api/v1", "events")?, &[]).await?;
                    // The tool takes a name or a prefix; the API's field selector only an exact name.
                    if let Some(prefix) = str_arg(args, "involved_object")
                        && let Some(items) = v["items"].as_array_mut()
                    {
                        items.retain(|e| {
                            e["involvedObject"]["name"]
                                .as_str()
                                .is_some_and(|n| n.starts_with(prefix))
                        });
                    }
                    Ok(ToolData::Kube(v))
                }
                "k8s_pod_logs" => {
                    let pod = name(super::required_str(args, "pod")?, "pod")?;
                    let ns = name(ns.unwrap_or(&self.namespace), "namespace")?;
                    let tail = args.get("tail_lines").and_then(Value::as_u64).unwrap_or(100).min(5000);
                    let previous = args.get("previous").and_then(Value::as_bool).unwrap_or(false);
                    let path = format!("/api/v1/namespaces/{ns}/pods/{pod}/log");
                    let mut params = vec![("tailLines", tail.to_string()), ("previous", previous.to_string())];
                    if let Some(c) = str_arg(args, "container") {
                        params.push(("container", name(c, "container")?));
                    }
                    let body = self.get(&path, &params).await?;
                    Ok(ToolData::Lines(body.lines().map(str::to_string).collect()))
                }
                "changes_list" => self.changes_list(args).await,
                other => Err(SourceError::UnknownTool(other.to_string())),
            }
        })
    }

    fn describe(&self) -> String {
        format!("kubernetes:{} ({})", self.server, self.origin)
    }

    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}
