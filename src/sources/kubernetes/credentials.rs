//! Credentials for the API server: a token, a token file read again for each
//! request, or a client-go credential plugin (`users[].user.exec`) run as
//! kubectl runs it and run again when its token expires or is refused.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;

use crate::model::Timestamp;
use crate::sources::SourceError;
use crate::sources::http::{backend_err, head};

/// A client-go credential plugin (`aws eks get-token`, `gke-gcloud-auth-plugin`,
/// `kubelogin`, ...), run as kubectl runs it.
#[derive(Deserialize, Clone, Debug)]
pub(super) struct ExecConfig {
    #[serde(rename = "apiVersion")]
    api_version: String,
    command: String,
    #[serde(default)]
    args: Option<Vec<String>>,
    #[serde(default)]
    env: Option<Vec<ExecEnv>>,
    #[serde(rename = "installHint", default)]
    install_hint: Option<String>,
}

#[derive(Deserialize, Clone, Debug)]
struct ExecEnv {
    name: String,
    value: String,
}

/// What a credential plugin printed: a token, or a client certificate, and when it expires.
pub(super) struct ExecCredential {
    pub(super) token: Option<String>,
    pub(super) cert: Option<String>,
    pub(super) key: Option<String>,
    pub(super) expires: Option<Timestamp>,
}

/// How long a credential plugin may take before it is given up on.
const EXEC_TIMEOUT: Duration = Duration::from_secs(30);

impl ExecConfig {
    /// A command given as a path (`./bin/get-token`) is relative to the kubeconfig, as kubectl reads it.
    pub(super) fn relative_to(mut self, base: &std::path::Path) -> ExecConfig {
        if self.command.contains('/') {
            self.command = base.join(&self.command).display().to_string();
        }
        self
    }

    /// Runs the plugin with no terminal (it may not prompt) and reads its ExecCredential.
    pub(super) fn run(&self, user: &str) -> Result<ExecCredential, String> {
        use std::io::Read;
        let what = format!("user {user:?}: credential plugin `{}`", self.command);
        let info = serde_json::json!({
            "apiVersion": self.api_version,
            "kind": "ExecCredential",
            "spec": {"interactive": false},
        });
        let mut cmd = std::process::Command::new(&self.command);
        cmd.args(self.args.iter().flatten())
            .env("KUBERNETES_EXEC_INFO", info.to_string())
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        for e in self.env.iter().flatten() {
            cmd.env(&e.name, &e.value);
        }
        let mut child = cmd.spawn().map_err(|e| {
            let hint = self
                .install_hint
                .as_deref()
                .map(|h| format!(" ({})", h.trim()))
                .unwrap_or_default();
            format!("{what}: cannot start it: {e}{hint}")
        })?;
        // Read both pipes on their own threads so a chatty plugin cannot block on a full pipe.
        let mut out = child.stdout.take().expect("piped");
        let mut err = child.stderr.take().expect("piped");
        let out_t = std::thread::spawn(move || {
            let mut b = Vec::new();
            let _ = out.read_to_end(&mut b);
            b
        });
        let err_t = std::thread::spawn(move || {
            let mut b = Vec::new();
            let _ = err.read_to_end(&mut b);
            b
        });
        let started = std::time::Instant::now();
        let status = loop {
            match child.try_wait() {
                Ok(Some(s)) => break s,
                Ok(None) if started.elapsed() > EXEC_TIMEOUT => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!("{what}: no answer after {} s", EXEC_TIMEOUT.as_secs()));
                }
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                Err(e) => return Err(format!("{what}: {e}")),
            }
        };
        let stdout = out_t.join().unwrap_or_default();
        let stderr = err_t.join().unwrap_or_default();
        if !status.success() {
            let msg = String::from_utf8_lossy(&stderr);
            return Err(format!("{what}: {status}: {}", head(msg.trim())));
        }
        let v: Value = serde_json::from_slice(&stdout)
            .map_err(|e| format!("{what}: expected an ExecCredential in JSON on its output: {e}"))?;
        let st = &v["status"];
        let text = |k: &str| st[k].as_str().filter(|s| !s.is_empty()).map(str::to_string);
        let expires = match text("expirationTimestamp") {
            Some(t) => Some(Timestamp::parse_rfc3339(&t).map_err(|e| format!("{what}: expirationTimestamp: {e}"))?),
            None => None,
        };
        let cred = ExecCredential {
            token: text("token"),
            cert: text("clientCertificateData"),
            key: text("clientKeyData"),
            expires,
        };
        if cred.token.is_none() && (cred.cert.is_none() || cred.key.is_none()) {
            return Err(format!(
                "{what}: its ExecCredential has neither status.token nor status.clientCertificateData and clientKeyData"
            ));
        }
        Ok(cred)
    }
}

/// The bearer token sent to the API server.
pub(super) enum Bearer {
    None,
    Static(String),
    /// Read again for every request: the kubelet rotates a service account's token.
    File(PathBuf),
    /// From a credential plugin, run again when it expires or is refused.
    Exec {
        plugin: ExecConfig,
        user: String,
        cached: tokio::sync::Mutex<Option<(String, Option<Timestamp>)>>,
    },
}

impl Bearer {
    /// The token to send: a plugin's is fetched again a little before it
    /// expires, or at once when `stale` (the server refused it).
    pub(super) async fn token(&self, url: &str, stale: bool) -> Result<Option<String>, SourceError> {
        match self {
            Bearer::None => Ok(None),
            Bearer::Static(t) => Ok(Some(t.clone())),
            Bearer::File(f) => super::read(f, "token file")
                .map(|b| Some(String::from_utf8_lossy(&b).trim().to_string()))
                .map_err(|e| backend_err(url, e)),
            Bearer::Exec { plugin, user, cached } => {
                let mut c = cached.lock().await;
                let soon = Timestamp::from_millis(Timestamp::now().millis() + 10_000);
                let fresh = c.as_ref().filter(|(_, exp)| !stale && exp.is_none_or(|e| e > soon));
                if let Some((t, _)) = fresh {
                    return Ok(Some(t.clone()));
                }
                let (plugin, user) = (plugin.clone(), user.clone());
                let cred = tokio::task::spawn_blocking(move || plugin.run(&user))
                    .await
                    .map_err(|e| backend_err(url, format!("credential plugin: {e}")))?
                    .map_err(|e| backend_err(url, e))?;
                let t = cred.token.ok_or_else(|| {
                    backend_err(url, "credential plugin: its ExecCredential has no token".to_string())
                })?;
                *c = Some((t.clone(), cred.expires));
                Ok(Some(t))
            }
        }
    }
}
