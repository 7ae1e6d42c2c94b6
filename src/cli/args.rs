//! The command line's words: subcommands, their flags and what they mean.

use std::path::PathBuf;

use clap::Args;
use clap::Parser;
use clap::Subcommand;

#[derive(Parser, Debug)]
#[command(
    name = "inquest",
    version,
    about = "An on-call cockpit: parallel root-cause investigations you steer from the terminal",
    after_help = "With no command, runs the demo. Data lives under $INQUEST_DATA_DIR (or the XDG data directory)."
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Cmd>,
}

#[derive(Subcommand, Debug)]
pub enum Cmd {
    /// Investigate a built-in simulated incident in the cockpit.
    Demo {
        /// Scenario id or path (default: the checkout connection-pool incident).
        scenario: Option<String>,
        /// Print the investigation as it unfolds instead of opening the cockpit
        /// (also what happens when stdout is not a terminal).
        #[arg(long)]
        headless: bool,
        #[command(flatten)]
        opts: RunOpts,
        #[command(flatten)]
        ui: UiOpts,
    },
    /// Review a stored investigation in the cockpit: replay, grade, comment.
    Open {
        /// Trace id, or a unique prefix of one.
        trace_id: String,
        #[command(flatten)]
        ui: UiOpts,
    },
    /// The feedback given on a stored investigation.
    Feedback {
        /// Trace id, or a unique prefix of one.
        trace_id: String,
        #[arg(long)]
        json: bool,
    },
    /// Run one investigation headless and print its conclusion.
    Run {
        /// Scenario id (see `inquest scenarios`) or path to a scenario file.
        #[arg(
            long,
            required_unless_present_any = ["alert", "alertmanager"],
            conflicts_with_all = ["alert", "alertmanager"]
        )]
        scenario: Option<String>,
        /// An Alertmanager webhook payload or a single alert (JSON), investigated
        /// against the sources in config.toml.
        #[arg(long, value_name = "FILE", conflicts_with = "alertmanager")]
        alert: Option<PathBuf>,
        /// A firing alert from Alertmanager (this URL, else [sources.alertmanager]),
        /// investigated against the sources in config.toml: the newest, or --pick.
        #[arg(long, value_name = "URL", num_args = 0..=1, default_missing_value = "")]
        alertmanager: Option<String>,
        /// With --alertmanager: the alert to investigate, by fingerprint or alert name.
        #[arg(long, value_name = "FINGERPRINT|NAME", requires = "alertmanager")]
        pick: Option<String>,
        /// Print the events as JSON lines on stdout, and nothing else.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        opts: RunOpts,
    },
    /// Stored investigations, newest first.
    List {
        #[arg(long)]
        json: bool,
    },
    /// A Markdown root-cause report of a stored investigation.
    Report {
        /// Trace id, or a unique prefix of one.
        trace_id: String,
    },
    /// Send a stored investigation, with its feedback, to a tracing backend:
    /// an OTLP collector (Tempo, Jaeger, ...), Langfuse or LangSmith.
    Export {
        /// Trace id, or a unique prefix of one.
        trace_id: String,
        /// Collector URL (`http://otel-collector:4318`, or a full `.../v1/traces`
        /// URL such as Langfuse's `/api/public/otel/v1/traces`); `-` prints the
        /// request body instead. Headers come from OTEL_EXPORTER_OTLP_HEADERS.
        #[arg(
            long,
            value_name = "URL",
            required_unless_present_any = ["langfuse", "langsmith"],
            conflicts_with_all = ["langfuse", "langsmith"]
        )]
        otlp: Option<String>,
        /// To Langfuse: spans through its OTLP endpoint, feedback as scores. Keys from
        /// LANGFUSE_PUBLIC_KEY and LANGFUSE_SECRET_KEY; host from the value, else
        /// LANGFUSE_HOST, else Langfuse Cloud.
        #[arg(long, value_name = "HOST", num_args = 0..=1, default_missing_value = "", conflicts_with = "langsmith")]
        langfuse: Option<String>,
        /// To LangSmith: runs and feedback. Key from LANGSMITH_API_KEY; endpoint from
        /// the value, else LANGSMITH_ENDPOINT; project from LANGSMITH_PROJECT (default inquest).
        #[arg(long, value_name = "ENDPOINT", num_args = 0..=1, default_missing_value = "")]
        langsmith: Option<String>,
    },
    /// Score the built-in reasoner on a scenario suite.
    Eval {
        /// Directory of scenario files, searched recursively (default: the built-in suite).
        dir: Option<PathBuf>,
        /// Which reasoner investigates.
        #[arg(long, default_value = "builtin")]
        reasoner: String,
        /// One JSON object with the summary, totals per fault kind and every scenario.
        #[arg(long, conflicts_with = "markdown")]
        json: bool,
        /// The report in Markdown.
        #[arg(long)]
        markdown: bool,
        /// Investigations run at once (default: the number of cores).
        #[arg(long, value_name = "N")]
        jobs: Option<usize>,
    },
    /// Alerts firing now in the configured Alertmanager.
    Alerts {
        #[arg(long)]
        json: bool,
    },
    /// Receive alerts over HTTP (Alertmanager webhook at /alertmanager, PagerDuty
    /// webhooks v3 at /pagerduty), store them, and investigate each new one headless.
    Serve {
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:9797")]
        listen: String,
        /// Listen beyond loopback without a bearer token ([serve] token_env).
        #[arg(long)]
        insecure_no_auth: bool,
    },
    /// Store a model provider's API key in the OS keyring (read from stdin).
    Auth {
        #[command(subcommand)]
        what: AuthCmd,
    },
    /// The simulator's telemetry, for use elsewhere.
    Sim {
        #[command(subcommand)]
        what: SimCmd,
    },
    /// What graded root causes taught: the guidance each alert's next
    /// investigation starts with, and how each strategy has done on it.
    Learned {
        /// Only this alert (by name).
        alert: Option<String>,
        #[arg(long)]
        json: bool,
        /// Forget it (the alert's, or everything when no alert is named).
        #[arg(long)]
        forget: bool,
    },
    /// The built-in scenarios.
    Scenarios {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand, Debug)]
pub enum AuthCmd {
    /// `inquest auth set openai` (or anthropic), then paste the key.
    Set {
        /// openai or anthropic
        provider: String,
    },
}

#[derive(Subcommand, Debug)]
pub enum SimCmd {
    /// Write a scenario's metrics as OpenMetrics text that
    /// `promtool tsdb create-blocks-from openmetrics` backfills.
    Export {
        /// Scenario id or path.
        scenario: String,
        #[arg(long, value_name = "FILE")]
        openmetrics: PathBuf,
    },
    /// Print a generated scenario with this many services (a layered call
    /// graph in domains of about 25, one fault) to stdout.
    Generate {
        #[arg(long, value_name = "N")]
        services: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
}

#[derive(Args, Debug, Clone, Default)]
pub struct UiOpts {
    /// Key map: default, emacs, or a name from the config directory.
    #[arg(long, value_name = "NAME")]
    pub keymap: Option<String>,
    /// Theme: default, light, mono, dusk, or a name from the config directory.
    #[arg(long, value_name = "NAME")]
    pub theme: Option<String>,
}

#[derive(Args, Debug, Clone)]
pub struct RunOpts {
    /// Strategies to run as branches, comma separated (default: all).
    #[arg(long, value_delimiter = ',')]
    pub strategies: Vec<String>,
    /// Tool-call budget for the whole investigation.
    #[arg(long, value_name = "N")]
    pub budget_calls: Option<u32>,
    /// Model-token budget for the whole investigation.
    #[arg(long, value_name = "N")]
    pub budget_tokens: Option<u64>,
    /// Tool calls one branch may make.
    #[arg(long, value_name = "N")]
    pub branch_budget_calls: Option<u32>,
    /// Model tokens one branch may spend.
    #[arg(long, value_name = "N")]
    pub branch_budget_tokens: Option<u64>,
    /// Simulated latency of each tool call, e.g. 300ms (demo default 150ms-600ms).
    #[arg(long, value_name = "DURATION")]
    pub pace: Option<String>,
    /// `builtin` (statistical, no model), `llm` (the model in config.toml's [llm]) or
    /// `hybrid` (the built-in analysis, its findings checked by the model).
    #[arg(long, value_name = "NAME", default_value = RunOpts::DEFAULT_REASONER)]
    pub reasoner: String,
    /// Start without the guidance that past grades of this alert left.
    #[arg(long)]
    pub no_learned: bool,
}

impl RunOpts {
    /// One name for clap's default and [`Default`], so `inquest` alone runs as `inquest demo` does.
    pub const DEFAULT_REASONER: &'static str = "builtin";
}

impl Default for RunOpts {
    fn default() -> Self {
        RunOpts {
            strategies: Vec::new(),
            budget_calls: None,
            budget_tokens: None,
            branch_budget_calls: None,
            branch_budget_tokens: None,
            pace: None,
            reasoner: RunOpts::DEFAULT_REASONER.to_string(),
            no_learned: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_arguments_run_with_the_reasoner_a_flagless_demo_gets() {
        let Some(Cmd::Demo { opts, .. }) = Cli::parse_from(["inquest", "demo"]).command else {
            panic!("demo parses");
        };
        assert_eq!(RunOpts::default().reasoner, opts.reasoner);
        assert_eq!(opts.reasoner, "builtin");
    }
}
