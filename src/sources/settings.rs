//! Turning the plain `[sources.*]` sections of config.toml into clients:
//! timeouts parsed, CA files read, secrets taken from the environment.

use crate::config::families::Profile;
use crate::config::{HttpSource, KubernetesSource, PrometheusSource};
use crate::sources::families::Families;

impl KubernetesSource {
    pub fn client(&self) -> Result<crate::sources::kubernetes::Kubernetes, String> {
        use crate::sources::kubernetes::Kubernetes;
        let timeout = match &self.timeout {
            Some(t) => crate::model::parse_duration_ms(t).map_err(|e| format!("[sources.kubernetes] timeout: {e}"))?,
            None => 15_000,
        };
        let timeout = std::time::Duration::from_millis(timeout.max(1) as u64);
        if self.in_cluster {
            return Kubernetes::in_cluster(timeout);
        }
        let path = match &self.kubeconfig {
            Some(p) => p.clone(),
            None => match std::env::var_os("KUBECONFIG").filter(|v| !v.is_empty()) {
                Some(v) => std::env::split_paths(&v).next().unwrap_or_default(),
                None => directories::BaseDirs::new()
                    .map(|b| b.home_dir().join(".kube/config"))
                    .ok_or("[sources.kubernetes]: no kubeconfig given and no home directory")?,
            },
        };
        Kubernetes::from_kubeconfig(&path, self.context.as_deref(), timeout)
    }
}

impl HttpSource {
    pub fn http(&self, section: &str) -> Result<crate::sources::http::Http, String> {
        let timeout = match &self.timeout {
            Some(t) => crate::model::parse_duration_ms(t).map_err(|e| format!("[sources.{section}] timeout: {e}"))?,
            None => 15_000,
        };
        let ca = match &self.ca_file {
            Some(p) => Some(std::fs::read(p).map_err(|e| format!("[sources.{section}] ca_file {}: {e}", p.display()))?),
            None => None,
        };
        let headers = self
            .tenant
            .iter()
            .map(|t| ("X-Scope-OrgID".to_string(), t.clone()))
            .collect();
        crate::sources::http::Http::new(
            std::time::Duration::from_millis(timeout.max(1) as u64),
            ca.as_deref(),
            headers,
        )
    }
}

impl PrometheusSource {
    /// The client configuration, secrets read from the environment.
    pub fn client(&self) -> Result<crate::sources::prometheus::Config, String> {
        use crate::sources::prometheus::{Auth, Config};
        let env = |name: &str| {
            std::env::var(name).map_err(|_| format!("[sources.prometheus]: the environment variable {name} is not set"))
        };
        let auth = match (&self.bearer_token_env, &self.basic_user, &self.basic_password_env) {
            (Some(t), None, None) => Auth::Bearer(env(t)?),
            (None, Some(u), Some(p)) => Auth::Basic {
                user: u.clone(),
                password: env(p)?,
            },
            (None, None, None) => Auth::None,
            _ => {
                return Err(
                    "[sources.prometheus]: use either bearer_token_env, or basic_user with basic_password_env".into(),
                );
            }
        };
        let timeout = match &self.timeout {
            Some(t) => crate::model::parse_duration_ms(t).map_err(|e| format!("[sources.prometheus] timeout: {e}"))?,
            None => 15_000,
        };
        let ca_pem = match &self.ca_file {
            Some(p) => {
                Some(std::fs::read(p).map_err(|e| format!("[sources.prometheus] ca_file {}: {e}", p.display()))?)
            }
            None => None,
        };
        let table = self.families.clone().map(|f| f.0).unwrap_or_default();
        let families = Families::new(table.profile, &table, &self.peers, "configured")?;
        Ok(Config {
            url: self.url.clone(),
            auth,
            timeout: std::time::Duration::from_millis(timeout.max(1) as u64),
            ca_pem,
            attempts: 3,
            mapping: crate::sources::rewrite::Mapping {
                families,
                labels: crate::sources::labels::LabelMap(self.labels.clone()),
            },
            auto: (table.profile == Profile::Auto).then_some(table),
        })
    }
}
