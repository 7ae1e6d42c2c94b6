//! The command line: subcommands and their wiring.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};

use crate::engine::setup::{self, Options, SetupError};
use crate::engine::sink::{Each, JsonLines};
use crate::engine::{EventSink, start};
use crate::model::{
    BranchStatus, Command, Event, EventKind, InvestigationState, InvestigationStatus, Step, parse_duration_ms,
};
use crate::sources::sim::{BUILTIN, DEFAULT_SCENARIO, Simulator};
use crate::store::{Store, StoreWriter};
use crate::tools::sanitize::clean;

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
    /// webhooks v3 at /pagerduty) and investigate each new one headless.
    Serve {
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:9797")]
        listen: String,
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
}

#[derive(Args, Debug, Clone, Default)]
pub struct UiOpts {
    /// Key map: default, emacs, or a name from the config directory.
    #[arg(long, value_name = "NAME")]
    keymap: Option<String>,
    /// Theme: default, light, mono, dusk, or a name from the config directory.
    #[arg(long, value_name = "NAME")]
    theme: Option<String>,
}

#[derive(Args, Debug, Clone, Default)]
pub struct RunOpts {
    /// Strategies to run as branches, comma separated (default: all).
    #[arg(long, value_delimiter = ',')]
    strategies: Vec<String>,
    /// Tool-call budget for the whole investigation.
    #[arg(long, value_name = "N")]
    budget_calls: Option<u32>,
    /// Model-token budget for the whole investigation.
    #[arg(long, value_name = "N")]
    budget_tokens: Option<u64>,
    /// Tool calls one branch may make.
    #[arg(long, value_name = "N")]
    branch_budget_calls: Option<u32>,
    /// Model tokens one branch may spend.
    #[arg(long, value_name = "N")]
    branch_budget_tokens: Option<u64>,
    /// Simulated latency of each tool call, e.g. 300ms (demo default 150ms-600ms).
    #[arg(long, value_name = "DURATION")]
    pace: Option<String>,
    /// `builtin` (statistical, no model) or `llm` (the model in config.toml's [llm]).
    #[arg(long, value_name = "NAME", default_value = "builtin")]
    reasoner: String,
    /// Start without the guidance that past grades of this alert left.
    #[arg(long)]
    no_learned: bool,
}

/// Bad input: exit code 2. Anything else: 1.
pub enum Failure {
    BadInput(String),
    Other(String),
}

impl From<SetupError> for Failure {
    fn from(e: SetupError) -> Self {
        match e {
            SetupError::Catalog(_) => Failure::Other(e.to_string()),
            _ => Failure::BadInput(e.to_string()),
        }
    }
}

impl From<crate::store::StoreError> for Failure {
    fn from(e: crate::store::StoreError) -> Self {
        Failure::Other(e.to_string())
    }
}

pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let _ = e.print();
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let command = match cli.command {
        Some(c) => c,
        None => {
            // The firing alerts when Alertmanager is configured, else the demo.
            use std::io::IsTerminal;
            let tty = std::io::stdout().is_terminal() && std::io::stdin().is_terminal();
            if let (true, Ok(s)) = (tty, settings())
                && let Some(am) = s.sources.alertmanager.clone()
            {
                return finish(cockpit_alerts(&am, &s, &UiOpts::default()));
            }
            Cmd::Demo {
                scenario: None,
                headless: false,
                opts: RunOpts::default(),
                ui: UiOpts::default(),
            }
        }
    };
    let result = match command {
        Cmd::Demo {
            scenario,
            headless,
            opts,
            ui,
        } => {
            use std::io::IsTerminal;
            let scenario = scenario.as_deref().unwrap_or(DEFAULT_SCENARIO);
            if headless || !std::io::stdout().is_terminal() || !std::io::stdin().is_terminal() {
                investigate(scenario, false, &opts, true)
            } else {
                cockpit_demo(scenario, &opts, &ui)
            }
        }
        Cmd::Open { trace_id, ui } => cockpit_open(&trace_id, &ui),
        Cmd::Feedback { trace_id, json } => feedback(&trace_id, json),
        Cmd::Run {
            scenario,
            alert,
            alertmanager,
            pick,
            json,
            opts,
        } => match (scenario, alert, alertmanager) {
            (Some(s), _, _) => investigate(&s, json, &opts, false),
            (None, Some(a), _) => investigate_alert(&a, json, &opts),
            (None, None, Some(url)) => investigate_firing(&url, pick.as_deref(), json, &opts),
            (None, None, None) => Err(Failure::BadInput("give --scenario, --alert or --alertmanager".into())),
        },
        Cmd::Alerts { json } => alerts(json),
        Cmd::Auth {
            what: AuthCmd::Set { provider },
        } => auth_set(&provider),
        Cmd::Serve { listen } => serve(&listen),
        Cmd::Sim {
            what: SimCmd::Export { scenario, openmetrics },
        } => sim_export(&scenario, &openmetrics),
        Cmd::List { json } => list(json),
        Cmd::Report { trace_id } => report(&trace_id),
        Cmd::Export {
            trace_id,
            otlp,
            langfuse,
            langsmith,
        } => match (otlp, langfuse, langsmith) {
            (Some(url), _, _) => export_otlp(&trace_id, &url),
            (None, Some(host), _) => export_langfuse(&trace_id, Some(host.as_str()).filter(|h| !h.is_empty())),
            (None, None, Some(ep)) => export_langsmith(&trace_id, Some(ep.as_str()).filter(|h| !h.is_empty())),
            (None, None, None) => Err(Failure::BadInput("give --otlp URL, --langfuse or --langsmith".into())),
        },
        Cmd::Scenarios { json } => scenarios(json),
        Cmd::Learned { alert, json, forget } => learned_cmd(alert.as_deref(), json, forget),
        Cmd::Eval {
            dir,
            reasoner,
            json,
            markdown,
            jobs,
        } => eval(dir, &reasoner, json, markdown, jobs),
    };
    finish(result)
}

fn learned_cmd(alert: Option<&str>, json: bool, forget: bool) -> Result<ExitCode, Failure> {
    let store = open_store()?;
    if forget {
        let n = store.forget(alert)?;
        eprintln!(
            "forgot {n} learned line{} {}",
            if n == 1 { "" } else { "s" },
            alert
                .map(|a| format!("for {a}"))
                .unwrap_or_else(|| "for every alert".into())
        );
        return Ok(ExitCode::SUCCESS);
    }
    let mut all = store.learned_all()?;
    if let Some(a) = alert {
        all.retain(|(name, _)| name == a);
    }
    let mut out = Vec::new();
    for (name, lines) in all {
        let stats = store.strategy_stats(&name)?;
        out.push((name, lines, stats));
    }
    if json {
        let v: Vec<serde_json::Value> = out
            .iter()
            .map(|(name, lines, stats)| serde_json::json!({"alert": name, "guidance": lines, "strategies": stats}))
            .collect();
        println!("{}", serde_json::Value::Array(v));
        return Ok(ExitCode::SUCCESS);
    }
    if out.is_empty() {
        println!(
            "Nothing learned yet: grade a root cause in the cockpit (inquest open TRACE) and the next investigation of that alert starts with it."
        );
        return Ok(ExitCode::SUCCESS);
    }
    for (name, lines, stats) in &out {
        println!("{}", crate::tools::sanitize::clean(name));
        for l in lines {
            println!("  {}", crate::tools::sanitize::clean(l));
        }
        if !stats.is_empty() {
            println!(
                "  {:<20} {:>5} {:>8} {:>7} {:>6}",
                "strategy", "runs", "correct", "partly", "wrong"
            );
            for s in stats {
                println!(
                    "  {:<20} {:>5} {:>8} {:>7} {:>6}",
                    s.strategy, s.runs, s.correct, s.partly, s.wrong
                );
            }
        }
        println!();
    }
    Ok(ExitCode::SUCCESS)
}

/// The model to investigate with, when `--reasoner llm` asks for one.
fn llm_for(reasoner: &str) -> Result<Option<crate::reason::llm::LlmConfig>, Failure> {
    match reasoner {
        "builtin" => Ok(None),
        "llm" => {
            let s = settings()?;
            let llm = s
                .llm
                .ok_or_else(|| Failure::BadInput("--reasoner llm: no [llm] section in config.toml".into()))?;
            llm.config().map(Some).map_err(Failure::BadInput)
        }
        other => Err(Failure::BadInput(format!(
            "--reasoner {other}: expected builtin or llm"
        ))),
    }
}

fn finish(result: Result<ExitCode, Failure>) -> ExitCode {
    match result {
        Ok(code) => code,
        // Messages may quote what a server or a file said: shown, never obeyed.
        Err(Failure::BadInput(m)) => {
            eprintln!("inquest: {}", clean(&m));
            ExitCode::from(2)
        }
        Err(Failure::Other(m)) => {
            eprintln!("inquest: {}", clean(&m));
            ExitCode::from(1)
        }
    }
}

fn author() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_else(|_| "unknown".into())
}

fn open_store() -> Result<Store, Failure> {
    let path: PathBuf = Store::default_path()?;
    Ok(Store::open(path)?)
}

fn pace(opts: &RunOpts, demo: bool) -> Result<Option<(Duration, Duration)>, Failure> {
    match &opts.pace {
        Some(p) => {
            let ms = parse_duration_ms(p).map_err(|e| Failure::BadInput(format!("--pace {p}: {e}")))?;
            let d = Duration::from_millis(ms.max(0) as u64);
            Ok(Some((d / 2, d + d / 2)))
        }
        None if demo => Ok(Some((Duration::from_millis(150), Duration::from_millis(600)))),
        None => Ok(None),
    }
}

/// What the command line asks of an investigation.
fn options(opts: &RunOpts, pace: Option<(Duration, Duration)>) -> Result<Options, Failure> {
    Ok(Options {
        strategies: opts
            .strategies
            .iter()
            .filter(|s| !s.trim().is_empty())
            .cloned()
            .collect(),
        budget_calls: opts.budget_calls,
        budget_tokens: opts.budget_tokens,
        branch_calls: opts.branch_budget_calls,
        branch_tokens: opts.branch_budget_tokens,
        pace,
        author: author(),
        llm: llm_for(&opts.reasoner)?,
    })
}

/// The investigation of a scenario as the options ask; also gives the scenario's id.
fn scenario_setup(scenario: &str, opts: &RunOpts, demo: bool) -> Result<(crate::engine::Setup, String), Failure> {
    let sc = Simulator::load(scenario).map_err(|e| Failure::BadInput(e.to_string()))?;
    let id = sc.id.clone();
    let options = options(opts, pace(opts, demo)?)?;
    Ok((learned(setup::for_scenario(sc, &options)?, opts), id))
}

/// The setup with the guidance past grades of its alert left, unless `--no-learned`.
fn learned(mut setup: crate::engine::Setup, opts: &RunOpts) -> crate::engine::Setup {
    if !opts.no_learned
        && let Ok(store) = open_store()
    {
        match store.learned(&setup.alert.name, setup.alert.service()) {
            Ok(lines) => setup.learned = lines,
            Err(e) => tracing::warn!("learned guidance: {e}"),
        }
    }
    setup
}

/// A runtime with `workers` threads for investigations.
fn runtime(workers: usize) -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .map_err(|e| Failure::Other(format!("cannot start the runtime: {e}")))
}

fn investigate(scenario: &str, json: bool, opts: &RunOpts, demo: bool) -> Result<ExitCode, Failure> {
    let (setup, id) = scenario_setup(scenario, opts, demo)?;
    execute(setup, &format!("scenario {id}"), json, demo)
}

/// An alert from a file, investigated against the configured sources.
fn investigate_alert(path: &std::path::Path, json: bool, opts: &RunOpts) -> Result<ExitCode, Failure> {
    let text = std::fs::read_to_string(path).map_err(|e| Failure::BadInput(format!("{}: {e}", path.display())))?;
    let alert = crate::model::Alert::from_json(&text, "file")
        .map_err(|e| Failure::BadInput(format!("{}: {e}", path.display())))?;
    investigate_this(alert, &format!("alert {}", path.display()), json, opts)
}

/// A firing alert from Alertmanager: `pick` by fingerprint or name, else the newest.
fn investigate_firing(url: &str, pick: Option<&str>, json: bool, opts: &RunOpts) -> Result<ExitCode, Failure> {
    let client = match url {
        "" => alertmanager_client()?,
        url => {
            crate::sources::alertmanager::Alertmanager::new(url, Duration::from_secs(10)).map_err(Failure::BadInput)?
        }
    };
    let rt = runtime(1)?;
    let mut alerts = rt
        .block_on(client.alerts())
        .map_err(|e| Failure::Other(e.to_string()))?;
    drop(rt);
    alerts.sort_by(|a, b| b.starts_at.cmp(&a.starts_at).then(a.fingerprint.cmp(&b.fingerprint)));
    let chosen = match pick {
        Some(p) => alerts.iter().position(|a| a.fingerprint == p || a.name == p),
        None => (!alerts.is_empty()).then_some(0),
    };
    let Some(i) = chosen else {
        if alerts.is_empty() {
            return Err(Failure::BadInput("Alertmanager has no firing alert".into()));
        }
        let known: Vec<String> = alerts
            .iter()
            .map(|a| format!("{} ({})", clean(&a.name), a.fingerprint))
            .collect();
        return Err(Failure::BadInput(format!(
            "no firing alert {:?}; firing: {}",
            pick.unwrap_or_default(),
            known.join(", ")
        )));
    };
    let alert = alerts.swap_remove(i);
    if !json && pick.is_none() && !alerts.is_empty() {
        eprintln!(
            "inquest: investigating the newest of {} firing alerts, {} ({}); --pick chooses another",
            alerts.len() + 1,
            clean(&alert.name),
            alert.fingerprint
        );
    }
    let label = format!("alert {} from Alertmanager", alert.fingerprint);
    investigate_this(alert, &label, json, opts)
}

/// An alert investigated against the configured sources.
fn investigate_this(alert: crate::model::Alert, label: &str, json: bool, opts: &RunOpts) -> Result<ExitCode, Failure> {
    use std::sync::Arc;
    let dir = crate::config::config_dir();
    let (settings, msgs) = crate::config::settings(dir.as_deref());
    if let Some(m) = msgs.first() {
        return Err(Failure::BadInput(m.clone()));
    }
    // Look back from just after the alert fired, or from now if that is sooner.
    let now = crate::model::Timestamp::now().min(alert.starts_at + 120_000_000_000);
    let router = crate::sources::configured(&settings, now).map_err(|e| {
        Failure::BadInput(format!(
            "{e} ({})",
            dir.map(|d| d.join("config.toml").display().to_string())
                .unwrap_or_else(|| "no config directory".into())
        ))
    })?;
    // Real sources answer at their own pace.
    let options = options(opts, None)?;
    let setup = learned(setup::for_backend(alert, Arc::new(router), now, &options)?, opts);
    execute(setup, label, json, false)
}

fn sim_export(scenario: &str, path: &std::path::Path) -> Result<ExitCode, Failure> {
    let sc = Simulator::load(scenario).map_err(|e| Failure::BadInput(e.to_string()))?;
    let sim = Simulator::new(sc).map_err(|e| Failure::BadInput(e.to_string()))?;
    let file = std::fs::File::create(path).map_err(|e| Failure::Other(format!("{}: {e}", path.display())))?;
    let mut out = std::io::BufWriter::new(file);
    let n = crate::sources::sim::export::openmetrics(sim.series(), &mut out)
        .and_then(|n| out.flush().map(|_| n))
        .map_err(|e| Failure::Other(format!("{}: {e}", path.display())))?;
    eprintln!("{}: {} series, {n} samples", path.display(), sim.series().len());
    Ok(ExitCode::SUCCESS)
}

fn execute(setup: crate::engine::Setup, label: &str, json: bool, demo: bool) -> Result<ExitCode, Failure> {
    // The store is where feedback and review come from; a run without one still reports.
    let writer = match open_store() {
        Ok(store) => Some(StoreWriter::spawn(store)),
        Err(Failure::Other(m) | Failure::BadInput(m)) => {
            eprintln!("inquest: not saving this investigation: {m}");
            None
        }
    };
    let rt = runtime(2)?;
    let state = rt.block_on(async move {
        let mut sinks: Vec<Box<dyn EventSink>> = Vec::new();
        if let Some(w) = writer {
            sinks.push(Box::new(w));
        }
        if json {
            sinks.push(Box::new(JsonLines));
        } else if demo {
            sinks.push(Box::new(Each(progress_printer())));
        }
        let running = start(setup, sinks);
        let commands = running.commands();
        let stopper = tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                let _ = commands.send(Command::Stop);
            }
        });
        let state = running.wait().await;
        stopper.abort();
        state
    });
    let Some(state) = state else {
        return Err(Failure::Other("the investigation engine failed".into()));
    };
    if !json {
        print_summary(&state, label);
    }
    Ok(match state.status {
        InvestigationStatus::Failed => ExitCode::from(1),
        _ => ExitCode::SUCCESS,
    })
}

/// One line per thing worth seeing, for the headless demo.
fn progress_printer() -> impl FnMut(&Event) + Send {
    use std::collections::HashMap;
    let mut names: HashMap<crate::model::SpanId, String> = HashMap::new();
    let mut calls: HashMap<crate::model::SpanId, String> = HashMap::new();
    move |e: &Event| {
        let who = |names: &HashMap<_, String>, s: Option<crate::model::SpanId>| {
            s.and_then(|s| names.get(&s).cloned()).unwrap_or_default()
        };
        let line = match &e.kind {
            EventKind::InvestigationStarted { alert, .. } => Some(format!(
                "▶ {} on {} · trace {}",
                clean(&alert.name),
                clean(alert.service().unwrap_or("?")),
                e.trace_id
            )),
            EventKind::BranchStarted { strategy, .. } => {
                names.insert(e.span_id, strategy.clone());
                Some(format!("  {strategy:<17} started"))
            }
            EventKind::GuidanceApplied { text, author, .. } => {
                Some(format!("  » {}: {}", clean(author), truncate(&clean(text), 140)))
            }
            EventKind::ThoughtDelta { text } => {
                Some(format!("  {:<17} {}", who(&names, e.parent_span_id), clean(text)))
            }
            EventKind::ToolCallStarted { tool, args } => {
                let key = ["query", "service", "pod", "trace_id"]
                    .iter()
                    .find_map(|k| args.get(*k).and_then(|v| v.as_str()))
                    .unwrap_or("");
                calls.insert(e.span_id, format!("{tool} {}", clean(key)).trim_end().to_string());
                None
            }
            EventKind::ToolCallFinished {
                tool,
                summary,
                duration_ms,
                error,
                ..
            } => {
                let call = calls.remove(&e.span_id).unwrap_or_else(|| tool.clone());
                let outcome = match error {
                    Some(err) => format!("failed: {}", clean(err)),
                    None => clean(summary),
                };
                Some(format!(
                    "  {:<17} → {} · {outcome} · {duration_ms} ms",
                    who(&names, e.parent_span_id),
                    truncate(&call, 90)
                ))
            }
            EventKind::HypothesisProposed { hypothesis } => Some(format!(
                "  {:<17} ◆ {} {} {:.2}",
                who(&names, e.parent_span_id),
                clean(&hypothesis.service),
                hypothesis.kind.as_str(),
                hypothesis.confidence
            )),
            EventKind::BranchStatusChanged { status, reason } if *status != BranchStatus::Running => Some(format!(
                "  {:<17} {}{}",
                who(&names, Some(e.span_id)),
                status.as_str(),
                reason.as_deref().map(|r| format!(": {}", clean(r))).unwrap_or_default()
            )),
            _ => None,
        };
        if let Some(l) = line {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{}", truncate(&l, 160));
        }
    }
}

fn truncate(s: &str, n: usize) -> String {
    let first = s.lines().next().unwrap_or("");
    if first.chars().count() <= n {
        first.to_string()
    } else {
        format!("{}…", first.chars().take(n - 1).collect::<String>())
    }
}

fn print_summary(s: &InvestigationState, label: &str) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "\n{} on {} · {label}\ntrace {} · bundle {} · {} branches · {} tool calls · {} ms · {}\n",
        clean(&s.alert.name),
        clean(s.alert.service().unwrap_or("?")),
        s.trace_id,
        s.bundle_id,
        s.branches.len(),
        s.tool_calls,
        s.finished_at
            .map(|f| (f.0 - s.started_at.0) / 1_000_000)
            .unwrap_or(s.elapsed_ms as i64),
        s.status.as_str()
    );
    if s.root_causes.is_empty() {
        let _ = writeln!(out, "No root cause found.");
    } else {
        let _ = writeln!(out, "Root causes");
        for (i, rc) in s.root_causes.iter().enumerate() {
            let _ = writeln!(
                out,
                "  {}  {:<20} {:<28} {:.2}  {}",
                i + 1,
                clean(&rc.service),
                rc.kind.as_str(),
                rc.confidence,
                truncate(&clean(&rc.statement), 100)
            );
        }
    }
    if !s.guidance_steps.is_empty() {
        let _ = writeln!(out, "\nGuidance");
        for g in &s.guidance_steps {
            if let Step::Guidance { text, author, .. } = g {
                let _ = writeln!(out, "  {}: {}", clean(author), truncate(&clean(text), 120));
            }
        }
    }
    let _ = writeln!(out, "\nBranches");
    for b in &s.branches {
        let _ = writeln!(
            out,
            "  {:<17} {:<13} {:>3} calls  best {}",
            b.strategy,
            b.status.as_str(),
            b.tool_calls,
            b.best_confidence()
                .map(|c| format!("{c:.2}"))
                .unwrap_or_else(|| "—".into())
        );
    }
    let _ = writeln!(out, "\nReport: inquest report {}", s.trace_id.short());
}

fn list(json: bool) -> Result<ExitCode, Failure> {
    let store = open_store()?;
    let rows = store.list()?;
    let mut out = std::io::stdout().lock();
    if json {
        let _ = writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&rows).unwrap_or_else(|_| "[]".into())
        );
        return Ok(ExitCode::SUCCESS);
    }
    if rows.is_empty() {
        let _ = writeln!(out, "No investigations yet. Try: inquest demo");
        return Ok(ExitCode::SUCCESS);
    }
    let _ = writeln!(
        out,
        "{:<10} {:<20} {:<11} {:<28} {:<18} TOP CAUSE",
        "TRACE", "STARTED", "STATUS", "ALERT", "SERVICE"
    );
    for r in rows {
        let top = match (&r.top_service, r.top_kind, r.top_confidence) {
            (Some(s), Some(k), Some(c)) => format!("{} {} {:.2}", clean(s), k.as_str(), c),
            _ => "—".into(),
        };
        let _ = writeln!(
            out,
            "{:<10} {:<20} {:<11} {:<28} {:<18} {}",
            r.trace_id.short(),
            r.started_at.to_rfc3339().get(..19).unwrap_or(""),
            r.status.as_str(),
            truncate(&clean(&r.alert_name), 28),
            truncate(&clean(r.service.as_deref().unwrap_or("")), 18),
            top
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn report(prefix: &str) -> Result<ExitCode, Failure> {
    let (state, feedback) = stored(prefix)?;
    let md = crate::export::markdown(&state, &feedback);
    let _ = std::io::stdout().lock().write_all(md.as_bytes());
    Ok(ExitCode::SUCCESS)
}

/// A stored investigation, folded, and its feedback: what a report or an export is made of.
fn stored(prefix: &str) -> Result<(InvestigationState, Vec<crate::model::Feedback>), Failure> {
    let store = open_store()?;
    let trace = store.resolve(prefix).map_err(|e| Failure::BadInput(e.to_string()))?;
    let events = store.events(trace)?;
    let state = InvestigationState::fold(&events).map_err(|e| Failure::Other(format!("trace {trace}: {e}")))?;
    let feedback = store.feedback(trace)?;
    Ok((state, feedback))
}

fn export_langfuse(prefix: &str, host: Option<&str>) -> Result<ExitCode, Failure> {
    use crate::export::{langfuse, otlp};
    let lf = langfuse::Langfuse::from_env(host, |k| std::env::var(k).ok()).map_err(Failure::BadInput)?;
    let (state, feedback) = stored(prefix)?;
    let body = otlp::payload(&state, &feedback);
    let scores = langfuse::scores(&feedback);
    let rt = runtime(1)?;
    let timeout = Duration::from_secs(30);
    let said = rt
        .block_on(otlp::send(&lf.otel_url(), &lf.headers(), &body, timeout))
        .map_err(Failure::Other)?;
    if !said.is_empty() {
        eprintln!("inquest: {}: {said}", lf.otel_url());
    }
    let sent = rt
        .block_on(langfuse::send_scores(&lf, &scores, timeout))
        .map_err(Failure::Other)?;
    eprintln!(
        "trace {}: {} spans and {sent} scores sent to {}",
        state.trace_id,
        otlp::span_count(&body),
        lf.host
    );
    Ok(ExitCode::SUCCESS)
}

fn export_langsmith(prefix: &str, endpoint: Option<&str>) -> Result<ExitCode, Failure> {
    use crate::export::{langsmith, otlp};
    let ls = langsmith::LangSmith::from_env(endpoint, |k| std::env::var(k).ok()).map_err(Failure::BadInput)?;
    let (state, feedback) = stored(prefix)?;
    let runs = langsmith::runs(&otlp::payload(&state, &feedback), &ls.project);
    let items = langsmith::feedback(state.trace_id, &feedback);
    let rt = runtime(1)?;
    let (r, f) = rt
        .block_on(langsmith::send(&ls, &runs, &items, Duration::from_secs(30)))
        .map_err(Failure::Other)?;
    eprintln!(
        "trace {}: {r} runs and {f} pieces of feedback sent to {} (project {}); its root run is {}",
        state.trace_id,
        ls.endpoint,
        ls.project,
        langsmith::run_id(&state.trace_id.to_string(), &state.root_span.to_string())
    );
    Ok(ExitCode::SUCCESS)
}

fn export_otlp(prefix: &str, url: &str) -> Result<ExitCode, Failure> {
    use crate::export::otlp;
    let (state, feedback) = stored(prefix)?;
    let trace = state.trace_id;
    let body = otlp::payload(&state, &feedback);
    let spans = otlp::span_count(&body);
    if url == "-" {
        let _ = writeln!(std::io::stdout().lock(), "{body}");
        return Ok(ExitCode::SUCCESS);
    }
    let endpoint = otlp::traces_url(url).map_err(Failure::BadInput)?;
    let headers =
        otlp::env_headers(std::env::var("OTEL_EXPORTER_OTLP_HEADERS").ok().as_deref()).map_err(Failure::BadInput)?;
    let rt = runtime(1)?;
    let said = rt
        .block_on(otlp::send(&endpoint, &headers, &body, Duration::from_secs(30)))
        .map_err(Failure::Other)?;
    if !said.is_empty() {
        eprintln!("inquest: {endpoint}: {said}");
    }
    eprintln!(
        "trace {trace}: {spans} spans and {} pieces of feedback sent to {endpoint}",
        feedback.len()
    );
    Ok(ExitCode::SUCCESS)
}

fn scenarios(json: bool) -> Result<ExitCode, Failure> {
    let mut rows = Vec::new();
    for (file, _) in BUILTIN {
        let id = file.trim_end_matches(".toml");
        let sc = Simulator::load(id).map_err(|e| Failure::Other(e.to_string()))?;
        rows.push(serde_json::json!({
            "id": sc.id,
            "title": sc.title,
            "services": sc.services.len(),
            "tags": sc.tags,
            "alert": sc.alert.name,
        }));
    }
    let mut out = std::io::stdout().lock();
    if json {
        let _ = writeln!(out, "{}", serde_json::to_string_pretty(&rows).unwrap_or_default());
    } else {
        for r in &rows {
            let _ = writeln!(
                out,
                "{:<34} {:>3} services  {}",
                r["id"].as_str().unwrap_or(""),
                r["services"],
                r["title"].as_str().unwrap_or("")
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn eval(
    dir: Option<PathBuf>,
    reasoner: &str,
    json: bool,
    markdown: bool,
    jobs: Option<usize>,
) -> Result<ExitCode, Failure> {
    use std::io::IsTerminal;
    let llm = llm_for(reasoner)?;
    let jobs = jobs.unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2));
    let opts = crate::eval::EvalOptions {
        jobs,
        run: Options {
            author: author(),
            llm,
            ..Options::default()
        },
    };
    let paths = match &dir {
        Some(d) => {
            let paths = crate::eval::discover(d).map_err(|e| Failure::BadInput(format!("{}: {e}", d.display())))?;
            if paths.is_empty() {
                return Err(Failure::BadInput(format!(
                    "{}: no scenario files (*.toml) found",
                    d.display()
                )));
            }
            Some(paths)
        }
        None => None,
    };
    let rt = runtime(jobs.clamp(1, 8))?;
    let report = rt.block_on(async {
        match &paths {
            Some(p) => crate::eval::run(p, &opts).await,
            None => crate::eval::run_builtin(&opts).await,
        }
    });
    let text = if json {
        serde_json::to_string_pretty(&report).map_err(|e| Failure::Other(e.to_string()))? + "\n"
    } else if markdown {
        crate::eval::report::markdown(&report)
    } else {
        let colour = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
        crate::eval::report::table(&report, colour)
    };
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
    Ok(ExitCode::SUCCESS)
}

/// Logs go to a daily file under the data directory, never to the terminal the cockpit owns.
fn init_logs() -> Option<tracing_appender::non_blocking::WorkerGuard> {
    let dir = crate::config::data_dir()?.join("logs");
    std::fs::create_dir_all(&dir).ok()?;
    let appender = tracing_appender::rolling::daily(dir, "inquest.log");
    let (writer, guard) = tracing_appender::non_blocking(appender);
    let sub = tracing_subscriber::fmt()
        .with_writer(writer)
        .with_ansi(false)
        .with_target(false)
        .finish();
    tracing::subscriber::set_global_default(sub).ok()?;
    Some(guard)
}

fn ui_parts(ui: &UiOpts) -> (crate::tui::keymap::Keymap, crate::tui::views::View, Vec<String>) {
    let dir = crate::config::config_dir();
    // The command line first, then config.toml, then the built-in defaults.
    let (settings, mut notices) = crate::config::settings(dir.as_deref());
    let keymap_name = ui
        .keymap
        .clone()
        .or(settings.ui.keymap)
        .unwrap_or_else(|| "default".into());
    let theme_name = ui
        .theme
        .clone()
        .or(settings.ui.theme)
        .unwrap_or_else(|| "default".into());
    let (keymap, more) = crate::tui::keymap::Keymap::load(&keymap_name, dir.as_deref());
    notices.extend(more);
    let (theme, more) = crate::tui::theme::Theme::load(&theme_name, dir.as_deref(), crate::config::no_color());
    notices.extend(more);
    for n in &notices {
        tracing::warn!("{n}");
    }
    (keymap, crate::tui::views::View::new(theme), notices)
}

fn cockpit_demo(scenario: &str, opts: &RunOpts, ui: &UiOpts) -> Result<ExitCode, Failure> {
    let _logs = init_logs();
    let (setup, _) = scenario_setup(scenario, opts, true)?;
    cockpit_live(setup, ui)
}

/// `inquest` with Alertmanager configured: the firing alerts, then the chosen one's investigation.
fn cockpit_alerts(
    am: &crate::config::AlertmanagerSource,
    settings: &crate::config::Settings,
    ui: &UiOpts,
) -> Result<ExitCode, Failure> {
    let _logs = init_logs();
    let client =
        crate::sources::alertmanager::Alertmanager::new(&am.url, Duration::from_secs(10)).map_err(Failure::Other)?;
    let rt = runtime(1)?;
    let mut fetch = || rt.block_on(client.alerts()).map_err(|e| e.to_string());
    let (alerts, error) = match fetch() {
        Ok(a) => (a, None),
        Err(e) => (Vec::new(), Some(e)),
    };
    let list = crate::tui::alerts::AlertList {
        alerts,
        sel: 0,
        source: format!("alertmanager {}", am.url),
        error,
    };
    let (keymap, view, _) = ui_parts(ui);
    let Some(alert) = crate::tui::term::pick_alert(list, &keymap, &view.theme, &mut fetch)
        .map_err(|e| Failure::Other(format!("terminal: {e}")))?
    else {
        return Ok(ExitCode::SUCCESS);
    };
    drop(rt);
    let now = crate::model::Timestamp::now().min(alert.starts_at + 120_000_000_000);
    let router = crate::sources::configured(settings, now).map_err(Failure::BadInput)?;
    let options = Options {
        author: author(),
        ..Options::default()
    };
    let setup = learned(
        setup::for_backend(alert, std::sync::Arc::new(router), now, &options)?,
        &RunOpts::default(),
    );
    cockpit_live(setup, ui)
}

/// The cockpit on an investigation that starts now.
fn cockpit_live(setup: crate::engine::Setup, ui: &UiOpts) -> Result<ExitCode, Failure> {
    let (keymap, view, notices) = ui_parts(ui);
    let writer = open_store().ok().map(StoreWriter::spawn);
    let feedback_store = open_store().ok();
    let rt = runtime(2)?;
    let trace = rt.block_on(async move {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let mut sinks: Vec<Box<dyn EventSink>> = vec![Box::new(crate::engine::sink::Channel(tx))];
        if let Some(w) = writer {
            sinks.push(Box::new(w));
        }
        let running = start(setup, sinks);
        let trace = running.trace_id;
        let commands = running.commands();
        let mut app = crate::tui::app::App::new(keymap, author(), true);
        app.toast = notices.first().map(|n| (n.clone(), true));
        let (requests, replies) = crate::wire::link::local(rx, Some(commands.clone()), feedback_store);
        let session = crate::tui::term::Session {
            app,
            view,
            replies,
            requests,
        };
        let result = crate::tui::term::run(session).await;
        // Leaving the cockpit stops what is still running; the store gets every event.
        let _ = commands.send(Command::Stop);
        let _ = running.wait().await;
        result.map(|_| trace)
    });
    let trace = trace.map_err(|e| Failure::Other(format!("terminal: {e}")))?;
    println!("trace {trace} · review it with: inquest open {}", trace.short());
    Ok(ExitCode::SUCCESS)
}

fn cockpit_open(prefix: &str, ui: &UiOpts) -> Result<ExitCode, Failure> {
    let _logs = init_logs();
    let store = open_store()?;
    let trace = store.resolve(prefix).map_err(|e| Failure::BadInput(e.to_string()))?;
    let events = store.events(trace)?;
    let feedback = store.feedback(trace)?;
    let (keymap, view, notices) = ui_parts(ui);
    let mut app = crate::tui::app::App::new(keymap, author(), false);
    for e in &events {
        app.on_event(e);
    }
    app.live = false;
    app.feedback = feedback;
    app.toast = notices.first().map(|n| (n.clone(), true));
    let (_tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Other(format!("cannot start the runtime: {e}")))?;
    rt.block_on(async move {
        let (requests, replies) = crate::wire::link::local(rx, None, Some(store));
        let session = crate::tui::term::Session {
            app,
            view,
            replies,
            requests,
        };
        crate::tui::term::run(session).await
    })
    .map_err(|e| Failure::Other(format!("terminal: {e}")))?;
    Ok(ExitCode::SUCCESS)
}

fn feedback(prefix: &str, json: bool) -> Result<ExitCode, Failure> {
    let store = open_store()?;
    let trace = store.resolve(prefix).map_err(|e| Failure::BadInput(e.to_string()))?;
    let items = store.feedback(trace)?;
    let mut out = std::io::stdout().lock();
    if json {
        let _ = writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&items).unwrap_or_else(|_| "[]".into())
        );
        return Ok(ExitCode::SUCCESS);
    }
    if items.is_empty() {
        let _ = writeln!(out, "No feedback on {}.", trace.short());
    }
    for f in items {
        let what = match (&f.rating, &f.grade) {
            (_, Some(g)) => crate::tui::app::grade_name(*g).to_string(),
            (Some(crate::model::Rating::Up), _) => "+1".into(),
            (Some(crate::model::Rating::Down), _) => "-1".into(),
            _ => "comment".into(),
        };
        let _ = writeln!(
            out,
            "{} {} {:<10} {:<8} {}{}",
            f.at.to_rfc3339().get(..19).unwrap_or(""),
            f.span_id.short(),
            f.target,
            what,
            clean(&f.author),
            f.comment
                .as_deref()
                .map(|c| format!(": {}", clean(c)))
                .unwrap_or_default()
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn settings() -> Result<crate::config::Settings, Failure> {
    let dir = crate::config::config_dir();
    let (settings, msgs) = crate::config::settings(dir.as_deref());
    match msgs.into_iter().next() {
        Some(m) => Err(Failure::BadInput(m)),
        None => Ok(settings),
    }
}

/// The configured Alertmanager's client.
fn alertmanager_client() -> Result<crate::sources::alertmanager::Alertmanager, Failure> {
    let settings = settings()?;
    let Some(am) = &settings.sources.alertmanager else {
        return Err(Failure::BadInput("no [sources.alertmanager] url in config.toml".into()));
    };
    let timeout = match &am.timeout {
        Some(t) => {
            parse_duration_ms(t).map_err(|e| Failure::BadInput(format!("[sources.alertmanager] timeout: {e}")))?
        }
        None => 10_000,
    };
    crate::sources::alertmanager::Alertmanager::new(&am.url, Duration::from_millis(timeout.max(1) as u64))
        .map_err(Failure::Other)
}

fn alerts(json: bool) -> Result<ExitCode, Failure> {
    let client = alertmanager_client()?;
    let rt = runtime(1)?;
    let alerts = rt
        .block_on(client.alerts())
        .map_err(|e| Failure::Other(e.to_string()))?;
    let mut out = std::io::stdout().lock();
    if json {
        let _ = writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&alerts).unwrap_or_else(|_| "[]".into())
        );
        return Ok(ExitCode::SUCCESS);
    }
    if alerts.is_empty() {
        let _ = writeln!(out, "No alerts firing.");
    }
    for a in alerts {
        let _ = writeln!(
            out,
            "{:<20} {:<8} {:<32} {:<20} {}",
            a.starts_at.to_rfc3339().get(..19).unwrap_or(""),
            clean(&a.severity),
            clean(&a.name),
            clean(a.service().unwrap_or("")),
            clean(a.summary().unwrap_or(""))
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn serve(listen: &str) -> Result<ExitCode, Failure> {
    let _logs = init_logs();
    let settings = settings()?;
    let store = Store::default_path()?;
    // Fail now, not at the first alert, if the sources or secrets are missing.
    crate::sources::configured(&settings, crate::model::Timestamp::now()).map_err(Failure::BadInput)?;
    let intake = crate::intake::Intake::new(settings, store, author()).map_err(Failure::BadInput)?;
    let rt = runtime(2)?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| Failure::BadInput(format!("--listen {listen}: {e}")))?;
        let addr = listener.local_addr().map(|a| a.to_string()).unwrap_or_else(|_| listen.to_string());
        eprintln!("inquest: listening on http://{addr} (POST /alertmanager, /pagerduty)");
        tokio::select! {
            r = crate::intake::serve(listener, std::sync::Arc::new(intake)) => r.map_err(|e| Failure::Other(e.to_string()))?,
            _ = tokio::signal::ctrl_c() => {}
        }
        Ok::<_, Failure>(())
    })?;
    Ok(ExitCode::SUCCESS)
}

fn auth_set(provider: &str) -> Result<ExitCode, Failure> {
    use std::io::{BufRead, IsTerminal};
    let env = match provider {
        "openai" => "OPENAI_API_KEY",
        "anthropic" => "ANTHROPIC_API_KEY",
        other => {
            return Err(Failure::BadInput(format!(
                "auth set {other}: expected openai or anthropic"
            )));
        }
    };
    let stdin = std::io::stdin();
    let key = if stdin.is_terminal() {
        eprint!("{provider} API key (not shown): ");
        let _ = std::io::stderr().flush();
        // Without echo, so the key stays off the screen and out of scrollback.
        crossterm::terminal::enable_raw_mode().map_err(|e| Failure::Other(e.to_string()))?;
        let mut key = String::new();
        let read = (|| -> std::io::Result<()> {
            loop {
                if let crossterm::event::Event::Key(k) = crossterm::event::read()? {
                    match k.code {
                        crossterm::event::KeyCode::Enter => return Ok(()),
                        crossterm::event::KeyCode::Char('c')
                            if k.modifiers.contains(crossterm::event::KeyModifiers::CONTROL) =>
                        {
                            return Err(std::io::Error::other("cancelled"));
                        }
                        crossterm::event::KeyCode::Char(c) => key.push(c),
                        crossterm::event::KeyCode::Backspace => {
                            key.pop();
                        }
                        _ => {}
                    }
                }
            }
        })();
        let _ = crossterm::terminal::disable_raw_mode();
        eprintln!();
        read.map_err(|e| Failure::Other(e.to_string()))?;
        key
    } else {
        let mut line = String::new();
        stdin
            .lock()
            .read_line(&mut line)
            .map_err(|e| Failure::Other(e.to_string()))?;
        line
    };
    let key = key.trim();
    if key.is_empty() {
        return Err(Failure::BadInput("no key given".into()));
    }
    crate::config::secrets::store(provider, key, env).map_err(Failure::Other)?;
    eprintln!("inquest: the {provider} key is in the keyring; {env} still wins when it is set");
    Ok(ExitCode::SUCCESS)
}
