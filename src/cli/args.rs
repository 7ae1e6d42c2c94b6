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
    /// Work against an `inquest serve` (e.g. http://127.0.0.1:9797) rather than this
    /// machine: the alert list, open, list, feedback, report and demo attach to the
    /// investigations it runs. Default: [remote] url in config.toml. Token from
    /// $INQUEST_TOKEN (or the variable [remote] token_env names).
    #[arg(long, global = true, value_name = "URL")]
    pub server: Option<String>,
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
            alias = "scenario-file",
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
        /// Evaluate this bundle (its reasoner, strategies, budget; its suite when no DIR is given).
        #[arg(long, value_name = "FILE", conflicts_with = "reasoner")]
        bundle: Option<PathBuf>,
        /// Compare with this baseline bundle on the same suite: a side-by-side table with deltas.
        #[arg(long, value_name = "FILE", conflicts_with_all = ["reasoner", "markdown"])]
        against: Option<PathBuf>,
        /// With --against: clauses the candidate must pass, e.g. "ac1>=-0.02,calls<=+20%"
        /// (metrics ac1 ac1k ac3 avg5 calls tokens wall); exit 3 when one fails.
        #[arg(long, value_name = "CLAUSES", requires = "against")]
        gate: Option<String>,
        /// Only the heat map: one row per fault kind and per scenario tag
        /// (with --json or --markdown, in that form).
        #[arg(long)]
        heatmap: bool,
    },
    /// Bundles: what defines the agent's behaviour, as a file.
    Bundle {
        #[command(subcommand)]
        what: BundleCmd,
    },
    /// Re-run stored investigations under a bundle, answered from their
    /// recorded tool answers (no live backend), and compare the conclusions.
    Replay {
        /// Trace ids, or unique prefixes.
        #[arg(required = true)]
        traces: Vec<String>,
        /// The candidate bundle (default: this build's default).
        #[arg(long, value_name = "FILE")]
        bundle: Option<PathBuf>,
        #[arg(long)]
        json: bool,
        /// Store the replays as new investigations (default: not stored).
        #[arg(long)]
        save: bool,
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
        /// Investigate under this bundle (its reasoner, strategies and budget).
        #[arg(long, value_name = "FILE")]
        bundle: Option<PathBuf>,
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
        /// Forget it (the alert's, or everything when no alert is named,
        /// imported shared patterns included).
        #[arg(long)]
        forget: bool,
        /// Write what was learned as shared patterns (JSON Lines, `-` for
        /// stdout); needs --anonymize: names never leave this store.
        #[arg(long, value_name = "FILE", conflicts_with_all = ["forget", "import"])]
        export: Option<PathBuf>,
        /// Replace every service, namespace, pod, host, address and free text
        /// by its role next to the alert; items with no derivable role are left out.
        #[arg(long, requires = "export")]
        anonymize: bool,
        /// Load shared patterns another store exported, as a lower-weight prior.
        #[arg(long, value_name = "FILE", conflicts_with = "forget")]
        import: Option<PathBuf>,
    },
    /// Freeze an incident into a recorded scenario: the metrics the reasoner reads
    /// (from [sources.prometheus]) for the services around the alert, logs and
    /// Kubernetes objects where configured, redacted, with the alert and its truth.
    Capture(CaptureArgs),
    /// What the configured sources answer and what the reasoner can read through
    /// them: metric families and labels present or absent under the profile in
    /// force, what `service` and `peer_service` map to. Exit 0 healthy, 1 degraded
    /// or unreachable, 2 bad config.
    Doctor(DoctorArgs),
    /// Where the agent is weak across the stored investigations: a heat map with
    /// one row per alert, graded fault kind or strategy, and the totals.
    Insights {
        /// What the rows are: alert, kind (of the root cause graded) or strategy.
        #[arg(long, value_name = "alert|kind|strategy", default_value = "alert")]
        by: String,
        /// Only investigations started within this long before now, e.g. 7d, 12h.
        #[arg(long, value_name = "DURATION")]
        since: Option<String>,
        /// One JSON object: columns (with which way is better), rows and the total.
        #[arg(long, conflicts_with = "markdown")]
        json: bool,
        /// The table in Markdown.
        #[arg(long)]
        markdown: bool,
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
pub enum BundleCmd {
    /// Print a bundle (this build's default without FILE) as the TOML `--bundle` reads.
    Show {
        file: Option<PathBuf>,
        /// As JSON, with its id.
        #[arg(long)]
        json: bool,
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
    /// Run under this bundle: its reasoner, strategies and budget (flags above override them).
    #[arg(long, value_name = "FILE", conflicts_with = "reasoner")]
    pub bundle: Option<PathBuf>,
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
            bundle: None,
        }
    }
}

/// What `inquest capture` was asked.
#[derive(Args, Debug, Clone)]
pub struct CaptureArgs {
    /// A stored investigation: its alert, and the truth from a root cause graded correct.
    #[arg(conflicts_with_all = ["alert", "trace"])]
    pub trace_id: Option<String>,
    /// The same, as a flag.
    #[arg(long, value_name = "TRACE", conflicts_with = "alert")]
    pub trace: Option<String>,
    /// An alert file (Alertmanager webhook payload or one alert) instead of a trace.
    #[arg(long, value_name = "FILE")]
    pub alert: Option<PathBuf>,
    /// What really broke, e.g. orders-db/connection_pool_exhaustion (needed with --alert).
    #[arg(long, value_name = "SERVICE/KIND")]
    pub truth: Option<String>,
    /// The scenario file to write; its data goes in a directory of the same name beside it.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// How far before the alert the recording starts.
    #[arg(long, value_name = "DURATION", default_value = "30m")]
    pub before: String,
    /// How far after the alert it ends (never past now).
    #[arg(long, value_name = "DURATION", default_value = "2m")]
    pub after: String,
    /// Resolution of the recorded samples.
    #[arg(long, value_name = "DURATION", default_value = "30s")]
    pub step: String,
    /// Calls away from the alert's service (either way) still recorded.
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub hops: usize,
    /// JSON-lines log files to record from (ts, service, level, message), repeatable.
    #[arg(long = "log-file", value_name = "FILE")]
    pub log_files: Vec<PathBuf>,
    /// Write the recorded files gzip-compressed (`metrics.om.gz`, `logs.jsonl.gz`, ...), about a tenth of the size; replay reads either
    #[arg(long)]
    pub gzip: bool,
}

/// What `inquest doctor` was asked.
#[derive(Args, Debug, Clone)]
pub struct DoctorArgs {
    /// One JSON object instead of the table.
    #[arg(long)]
    pub json: bool,
    /// How far back series count as present.
    #[arg(long, value_name = "DURATION", default_value = "1h")]
    pub window: String,
    /// The end of that window (RFC 3339; default now), e.g. an incident's time.
    #[arg(long, value_name = "TIME")]
    pub at: Option<String>,
}

impl CaptureArgs {
    /// The stored investigation, given as the argument or as `--trace`.
    pub fn trace(&self) -> Option<&String> {
        self.trace_id.as_ref().or(self.trace.as_ref())
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
