//! The command line: parse, dispatch to one file per subcommand, map
//! failures to exit codes. Investigations start through `wire`.

mod alerts;
mod args;
mod attach;
mod auth;
mod bundle;
mod capture;
mod cockpit;
mod compare;
mod doctor;
mod eval;
mod export;
mod feedback;
mod heatmap;
mod insights;
mod list;
mod patterns;
mod print;
mod replay;
mod report;
mod run;
mod serve;
mod sim;

use alerts::alerts;
pub use args::{AuthCmd, BundleCmd, Cli, Cmd, RunOpts, SimCmd, UiOpts};
use auth::auth_set;
use cockpit::{cockpit_alerts, cockpit_demo, cockpit_open};
use eval::{eval, scenarios};
use export::{export_langfuse, export_langsmith, export_otlp};
use feedback::{feedback, learned_cmd};
use insights::insights;
use list::list;
use patterns::{learned_export, learned_import};
use report::report;
use run::{investigate, investigate_alert, investigate_firing};
use serve::serve;
use sim::{sim_export, sim_generate};

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

use crate::sources::sim::DEFAULT_SCENARIO;
use crate::store::Store;
use crate::tools::sanitize::clean;
use crate::wire::SetupError;

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
    // One investigation at a time gains from one malloc arena; a server
    // running many at once on many cores would queue on it.
    if !matches!(cli.command, Some(Cmd::Serve { .. })) {
        crate::sources::heap::limit_arenas();
    }
    if let Err(f) = install_redaction() {
        return finish(Err(f));
    }
    // A config file that does not parse is reported by the command that reads it.
    let loose = crate::config::settings(crate::config::config_dir().as_deref()).0;
    if let Some(url) = attach::server_url(cli.server.clone(), &loose)
        && let Some(result) = on_server(&url, &loose, cli.command.as_ref(), cli.server.is_some())
    {
        return finish(result);
    }
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
    finish(dispatch(command))
}

/// Runs one command here (not against a server).
fn dispatch(command: Cmd) -> Result<ExitCode, Failure> {
    match command {
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
        Cmd::Serve {
            listen,
            bundle,
            insecure_no_auth,
        } => serve(&listen, insecure_no_auth, bundle),
        Cmd::Sim {
            what: SimCmd::Export { scenario, openmetrics },
        } => sim_export(&scenario, &openmetrics),
        Cmd::Sim {
            what: SimCmd::Generate { services, seed },
        } => sim_generate(services, seed),
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
        Cmd::Capture(a) => capture::capture(&a),
        Cmd::Doctor(a) => doctor::doctor(&a),
        Cmd::Learned {
            export: Some(file),
            anonymize,
            ..
        } => learned_export(&file, anonymize),
        Cmd::Learned { import: Some(file), .. } => learned_import(&file),
        Cmd::Learned {
            alert, json, forget, ..
        } => learned_cmd(alert.as_deref(), json, forget),
        Cmd::Insights {
            by,
            since,
            json,
            markdown,
        } => insights(&by, since.as_deref(), json, markdown),
        Cmd::Eval {
            dir,
            reasoner,
            json,
            markdown,
            jobs,
            bundle,
            against,
            gate,
            heatmap,
        } => match against {
            Some(baseline) => compare::eval_against(dir, bundle, &baseline, gate.as_deref(), json, jobs),
            None => eval(dir, &reasoner, json, markdown, jobs, bundle, heatmap),
        },
        Cmd::Bundle {
            what: BundleCmd::Show { file, json },
        } => bundle::bundle_show(file, json),
        Cmd::Replay {
            traces,
            bundle,
            json,
            save,
        } => replay::replay(&traces, bundle, json, save),
    }
}

/// A command against a server, or `None` for one that works only here (when
/// the server came from config.toml; named with `--server`, that is an error).
fn on_server(
    url: &str,
    settings: &crate::config::Settings,
    command: Option<&Cmd>,
    flag: bool,
) -> Option<Result<ExitCode, Failure>> {
    use std::io::IsTerminal;
    let tty = std::io::stdout().is_terminal() && std::io::stdin().is_terminal();
    let remote = || attach::remote(url, settings);
    let result = match command {
        None if tty => remote().and_then(|r| attach::pick(r, &UiOpts::default())),
        None => remote().and_then(|r| attach::list(r, false)),
        Some(Cmd::List { json }) => remote().and_then(|r| attach::list(r, *json)),
        Some(Cmd::Open { trace_id, ui }) => remote().and_then(|r| attach::open(r, trace_id, ui)),
        Some(Cmd::Feedback { trace_id, json }) => remote().and_then(|r| attach::feedback(r, trace_id, *json)),
        Some(Cmd::Report { trace_id }) => remote().and_then(|r| attach::report(r, trace_id)),
        Some(Cmd::Demo {
            scenario,
            headless,
            opts,
            ui,
        }) => {
            let scenario = scenario.as_deref().unwrap_or(DEFAULT_SCENARIO);
            remote().and_then(|r| attach::demo(r, scenario, opts, ui, tty && !headless))
        }
        Some(_) if flag => Err(Failure::BadInput(
            "--server works with the alert list (no command), open, list, feedback, report and demo".into(),
        )),
        Some(_) => return None,
    };
    Some(result)
}

pub(crate) fn finish(result: Result<ExitCode, Failure>) -> ExitCode {
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

pub(crate) fn author() -> String {
    std::env::var("USER")
        .or_else(|_| std::env::var("USERNAME"))
        .unwrap_or_else(|_| "unknown".into())
}

pub(crate) fn open_store() -> Result<Store, Failure> {
    let path: PathBuf = Store::default_path()?;
    Ok(Store::open(path)?)
}

/// A runtime with `workers` threads for investigations.
pub(crate) fn runtime(workers: usize) -> Result<tokio::runtime::Runtime, Failure> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()
        .map_err(|e| Failure::Other(format!("cannot start the runtime: {e}")))
}

/// Logs go to a daily file under the data directory, never to the terminal the cockpit owns.
pub(crate) fn init_logs() -> Option<tracing_appender::non_blocking::WorkerGuard> {
    let dir = crate::config::data_dir()?.join("logs");
    std::fs::create_dir_all(&dir).ok()?;
    let appender = tracing_appender::rolling::daily(dir, "inquest.log");
    let (writer, guard) = tracing_appender::non_blocking(appender);
    // Logs quote what tools, servers and models said: redacted like every exit.
    let sub = tracing_subscriber::fmt()
        .with_writer(move || crate::tools::redact::RedactingWriter(writer.clone()))
        .with_ansi(false)
        .with_target(false)
        .finish();
    tracing::subscriber::set_global_default(sub).ok()?;
    Some(guard)
}

/// The shipped redaction rules with config.toml's `[redact]` over them, for
/// every exit of this process. A config file that does not parse is reported
/// by the command that reads it; here it leaves the shipped rules.
fn install_redaction() -> Result<(), Failure> {
    let dir = crate::config::config_dir();
    let (settings, _) = crate::config::settings(dir.as_deref());
    let rules = crate::tools::redact::Rules::from_settings(&settings.redact).map_err(|e| {
        let file = dir
            .map(|d| d.join("config.toml").display().to_string())
            .unwrap_or_default();
        Failure::BadInput(format!("{file}: [redact]: {e}"))
    })?;
    crate::tools::redact::install(rules);
    Ok(())
}

pub(crate) fn settings() -> Result<crate::config::Settings, Failure> {
    let dir = crate::config::config_dir();
    let (settings, msgs) = crate::config::settings(dir.as_deref());
    match msgs.into_iter().next() {
        Some(m) => Err(Failure::BadInput(m)),
        None => Ok(settings),
    }
}
