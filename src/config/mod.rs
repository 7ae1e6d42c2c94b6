//! Where inquest keeps its settings and data: `$INQUEST_CONFIG_HOME` and
//! `$INQUEST_DATA_DIR` first, else the XDG directories.

pub mod families;
pub mod located;
pub mod secrets;

use std::collections::BTreeMap;
use std::path::PathBuf;

/// The directory user key maps, themes and config.toml are read from.
pub fn config_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("INQUEST_CONFIG_HOME").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(d));
    }
    directories::ProjectDirs::from("", "", "inquest").map(|p| p.config_dir().to_path_buf())
}

/// The directory the store and the log files live in.
pub fn data_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("INQUEST_DATA_DIR").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(d));
    }
    directories::ProjectDirs::from("", "", "inquest").map(|p| p.data_dir().to_path_buf())
}

/// Whether colour is off by the user's wish (<https://no-color.org>).
pub fn no_color() -> bool {
    std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty())
}

/// What `config.toml` says. Sections other inquest parts own are left to them.
#[derive(Clone, Debug, Default, PartialEq, serde::Deserialize)]
pub struct Settings {
    #[serde(default)]
    pub ui: Ui,
    #[serde(default)]
    pub sources: Sources,
    #[serde(default)]
    pub intake: Intake,
    #[serde(default)]
    pub serve: Serve,
    pub llm: Option<LlmSettings>,
    #[serde(default)]
    pub redact: RedactSettings,
    #[serde(default)]
    pub remote: Remote,
}

/// `[remote]`: the `inquest serve` a cockpit attaches to (what `--server` gives).
#[derive(Clone, Debug, Default, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Remote {
    /// The server's base URL, e.g. `http://inquest.internal:9797`.
    pub url: Option<String>,
    /// Name of the environment variable holding the bearer token (default `INQUEST_TOKEN`).
    pub token_env: Option<String>,
    /// The name this client's commands and feedback carry (default `$USER`).
    pub user: Option<String>,
}

/// `[redact]`: the shipped redaction rules (redact.toml) extended and tuned.
#[derive(Clone, Debug, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct RedactSettings {
    /// More rules, in the shape of redact.toml's.
    #[serde(default)]
    pub extra: Vec<RedactRule>,
    /// Regexes: a match that one of them also matches is kept as it is.
    #[serde(default)]
    pub allow: Vec<String>,
    /// Redact e-mail addresses (default true).
    #[serde(default = "yes")]
    pub emails: bool,
}

fn yes() -> bool {
    true
}

impl Default for RedactSettings {
    fn default() -> Self {
        RedactSettings {
            extra: vec![],
            allow: vec![],
            emails: true,
        }
    }
}

/// One redaction rule: what it is called, what it matches, the words that
/// must be in the text for it to run, and an optional check of the match.
#[derive(Clone, Debug, PartialEq, serde::Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct RedactRule {
    pub id: String,
    pub regex: String,
    #[serde(default)]
    pub keywords: Vec<String>,
    pub validator: Option<String>,
}

/// The model `--reasoner llm` uses.
#[derive(Clone, Debug, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LlmSettings {
    /// `openai` (OpenAI, Ollama, vLLM, llama.cpp) or `anthropic`.
    pub provider: String,
    pub model: String,
    /// Default: the provider's public API.
    pub base_url: Option<String>,
    /// The environment variable holding the key (default `OPENAI_API_KEY` or `ANTHROPIC_API_KEY`).
    pub api_key_env: Option<String>,
    /// Per request (default 120s).
    pub timeout: Option<String>,
    /// Model turns per branch (default 12).
    pub max_turns: Option<u32>,
    /// The most characters of one tool result the model is shown (default 12000).
    pub max_tool_chars: Option<usize>,
    /// US dollars per million input tokens, for the cost meter.
    #[serde(alias = "price_in_per_mtok")]
    pub price_input_per_mtok: Option<f64>,
    /// US dollars per million output tokens.
    #[serde(alias = "price_out_per_mtok")]
    pub price_output_per_mtok: Option<f64>,
    /// Read tool calls the model writes as text (local models often do); default off.
    pub text_tool_calls: Option<bool>,
    /// The most tokens one answer may have (`max_tokens`); unset, the server decides
    /// (Anthropic: 4096). Small local models can otherwise ramble to the end of their context.
    pub max_output_tokens: Option<u32>,
    /// Sampling temperature (unset: the server's default).
    pub temperature: Option<f64>,
    /// Another model for some strategies, e.g. `{ "logs-first" = "gpt-4.1-mini" }`.
    #[serde(default)]
    pub strategies: BTreeMap<String, String>,
}

/// Where alerts come in (`inquest serve`).
#[derive(Clone, Debug, Default, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Intake {
    pub pagerduty: Option<PagerDutyIntake>,
}

/// How `inquest serve` runs (`[serve]`). Every field has a default; durations
/// are written like `"20s"` or `"500ms"`.
#[derive(Clone, Debug, Default, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Serve {
    /// Investigations run at once (default 2).
    pub workers: Option<usize>,
    /// Alerts waiting for a worker, past which requests are answered 503 (default 10000).
    pub max_queue: Option<usize>,
    /// How long SIGTERM/SIGINT lets running investigations finish (default 20s).
    pub drain: Option<String>,
    /// Name of the environment variable holding the shared bearer token.
    pub token_env: Option<String>,
    /// Strategies each investigation runs (default: all of them).
    #[serde(default)]
    pub strategies: Vec<String>,
    /// PEM certificate chain (leaf first) and private key: serve HTTPS instead of HTTP.
    pub tls_cert_file: Option<PathBuf>,
    pub tls_key_file: Option<PathBuf>,
    #[serde(default)]
    pub limits: ServeLimits,
    /// Keep what each tool call answered, so `inquest replay` can re-run the
    /// investigation (default false: it costs a few hundred KB per investigation).
    #[serde(default)]
    pub keep_tool_answers: bool,
    /// Per-user bearer tokens (`[serve.users] alice = { token_env = "..." }`):
    /// a request carrying one is authored by that user.
    #[serde(default)]
    pub users: std::collections::BTreeMap<String, ServeUser>,
    /// Whether `POST /v1/investigations` may start simulated scenarios although
    /// real sources are configured (always allowed when only the simulator is).
    #[serde(default)]
    pub scenarios: bool,
}

/// One user of the server's API (`[serve.users]`).
#[derive(Clone, Debug, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeUser {
    /// Name of the environment variable holding this user's bearer token.
    pub token_env: String,
}

/// What one client may hold or send (`[serve.limits]`).
#[derive(Clone, Debug, Default, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServeLimits {
    /// Bytes in one request body (default 4 MiB).
    pub max_body_bytes: Option<usize>,
    /// Alerts in one request (default 5000).
    pub max_alerts_per_request: Option<usize>,
    /// Open connections (default 512, fewer if the open-file limit is lower).
    pub max_connections: Option<usize>,
    /// Time to send a request's headers, and the most a kept-alive connection may idle (default 10s).
    pub header_timeout: Option<String>,
    /// Time to send a request's body (default 10s).
    pub body_timeout: Option<String>,
}

#[derive(Clone, Debug, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PagerDutyIntake {
    /// Name of the environment variable holding the webhook subscription's signing secret.
    pub secret_env: String,
}

#[derive(Clone, Debug, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertmanagerSource {
    /// e.g. `http://alertmanager.monitoring:9093`
    pub url: String,
    /// Per request, e.g. `10s` (default 10s).
    pub timeout: Option<String>,
}

/// The stack inquest reads. Tools whose source is not configured go to the
/// simulator when `[sources.simulator]` names a scenario, and fail otherwise.
#[derive(Clone, Debug, Default, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Sources {
    pub alertmanager: Option<AlertmanagerSource>,
    pub prometheus: Option<PrometheusSource>,
    pub loki: Option<HttpSource>,
    pub jaeger: Option<HttpSource>,
    pub tempo: Option<HttpSource>,
    pub kubernetes: Option<KubernetesSource>,
    pub simulator: Option<SimulatorSource>,
}

#[derive(Clone, Debug, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PrometheusSource {
    /// e.g. `http://prometheus.monitoring:9090`
    pub url: String,
    /// Name of the environment variable holding a bearer token.
    pub bearer_token_env: Option<String>,
    /// Basic auth user; the password comes from the variable `basic_password_env` names.
    pub basic_user: Option<String>,
    pub basic_password_env: Option<String>,
    /// A PEM file with the CA that signed the server's certificate.
    pub ca_file: Option<PathBuf>,
    /// Per request, e.g. `10s` (default 15s).
    pub timeout: Option<String>,
    /// inquest's label names mapped to the stack's, e.g. `{ service = "job" }`.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// The metric naming the stack speaks: a profile name or a table of overrides.
    pub families: Option<families::FamiliesSetting>,
    /// A call's peer address (`host:port` or `host`) → the service it is.
    #[serde(default)]
    pub peers: BTreeMap<String, String>,
}

#[derive(Clone, Debug, Default, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KubernetesSource {
    /// Default: the first file in `$KUBECONFIG`, else `~/.kube/config`.
    pub kubeconfig: Option<PathBuf>,
    /// Default: the kubeconfig's current context.
    pub context: Option<String>,
    /// Use the service account of the pod inquest runs in.
    #[serde(default)]
    pub in_cluster: bool,
    pub timeout: Option<String>,
}

/// A source reached over plain HTTP(S): Loki, Jaeger.
#[derive(Clone, Debug, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSource {
    pub url: String,
    /// Sent as `X-Scope-OrgID` (multi-tenant Loki and Tempo).
    pub tenant: Option<String>,
    /// A PEM file with the CA that signed the server's certificate.
    pub ca_file: Option<PathBuf>,
    /// Per request, e.g. `10s` (default 15s).
    pub timeout: Option<String>,
    /// inquest's label names mapped to the stack's, e.g. `{ service = "app" }` (Loki).
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
}

#[derive(Clone, Debug, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SimulatorSource {
    /// Scenario id or path whose telemetry answers the tools no real source does.
    pub scenario: String,
}

#[derive(Clone, Debug, Default, PartialEq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ui {
    /// Key map name: `default`, `emacs`, or a file in the config directory.
    pub keymap: Option<String>,
    /// Theme name: `default`, `light`, `mono`, `dusk`, or a file in the config directory.
    pub theme: Option<String>,
}

impl Settings {
    /// The first URL (by section) with a password in it, if any.
    fn secret_in_a_url(&self) -> Option<(String, String)> {
        let src = &self.sources;
        let urls = [
            (
                "[sources.alertmanager]",
                src.alertmanager.as_ref().map(|x| x.url.clone()),
            ),
            ("[sources.prometheus]", src.prometheus.as_ref().map(|x| x.url.clone())),
            ("[sources.loki]", src.loki.as_ref().map(|x| x.url.clone())),
            ("[sources.jaeger]", src.jaeger.as_ref().map(|x| x.url.clone())),
            ("[sources.tempo]", src.tempo.as_ref().map(|x| x.url.clone())),
            ("[llm]", self.llm.as_ref().and_then(|x| x.base_url.clone())),
        ];
        urls.into_iter().find_map(|(section, url)| {
            let url = url?;
            let parsed = reqwest::Url::parse(&url).ok()?;
            parsed.password().map(|_| (section.to_string(), url))
        })
    }
}

/// Reads `config.toml` from `dir`; a missing file is the defaults, a bad or
/// unreadable one is the defaults and a message naming the file (and line).
pub fn settings(dir: Option<&std::path::Path>) -> (Settings, Vec<String>) {
    let Some(path) = dir.map(|d| d.join("config.toml")) else {
        return (Settings::default(), vec![]);
    };
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return (Settings::default(), vec![]),
        Err(e) => {
            let msg = format!("{}: cannot read it ({e}); using the defaults", path.display());
            return (Settings::default(), vec![msg]);
        }
    };
    match toml::from_str::<Settings>(&text) {
        Ok(s) => match s.secret_in_a_url() {
            None => (s, vec![]),
            Some((section, url)) => {
                let line = text
                    .find(url.as_str())
                    .map(|at| format!(":{}", located::line_col(&text, at).0))
                    .unwrap_or_default();
                let msg = format!(
                    "{}{line}: {section} url carries a password; a secret does not belong in a file in clear: \
                     give the user and password through the environment (basic_user and basic_password_env, \
                     or bearer_token_env); using the defaults",
                    path.display()
                );
                (Settings::default(), vec![msg])
            }
        },
        Err(e) => {
            let line = located::toml_line(&text, &e);
            let msg = format!("{}:{line}: {}; using the defaults", path.display(), e.message());
            (Settings::default(), vec![msg])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_password_in_a_url_is_refused() {
        let dir = std::env::temp_dir().join(format!("inquest-config-pw-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("config.toml"),
            "[sources.loki]\nurl = \"http://127.0.0.1:3100\"\n\n[sources.prometheus]\nurl = \"https://ops:hunter2@prom.example:9090\"\n",
        )
        .unwrap();
        let (s, msgs) = settings(Some(&dir));
        assert!(s.sources.prometheus.is_none());
        assert_eq!(msgs.len(), 1);
        assert!(
            msgs[0].contains("config.toml:5: [sources.prometheus] url carries a password"),
            "{}",
            msgs[0]
        );
        assert!(msgs[0].contains("basic_password_env"), "{}", msgs[0]);
        std::fs::write(
            dir.join("config.toml"),
            "[sources.prometheus]\nurl = \"https://ops@prom.example:9090\"\n",
        )
        .unwrap();
        assert!(settings(Some(&dir)).1.is_empty());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn config_chooses_key_map_and_theme_and_a_bad_one_is_named() {
        let dir = std::env::temp_dir().join(format!("inquest-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("config.toml"),
            "[ui]\nkeymap = \"emacs\"\ntheme = \"light\"\n\n[llm]\nprovider = \"openai\"\nmodel = \"x\"\n",
        )
        .unwrap();
        let (s, msgs) = settings(Some(&dir));
        assert!(msgs.is_empty(), "{msgs:?}");
        assert_eq!(s.ui.keymap.as_deref(), Some("emacs"));
        assert_eq!(s.ui.theme.as_deref(), Some("light"));
        std::fs::write(dir.join("config.toml"), "[ui]\nkeymap = \"emacs\"\ncolour = \"blue\"\n").unwrap();
        let (s, msgs) = settings(Some(&dir));
        assert_eq!(s, Settings::default());
        assert!(
            msgs[0].contains("config.toml:3") && msgs[0].contains("colour"),
            "{msgs:?}"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}
