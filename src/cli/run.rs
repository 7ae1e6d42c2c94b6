//! `inquest run` and the headless demo: an investigation of a scenario, an alert file or a firing alert, printed as it goes or as JSON lines.

use std::process::ExitCode;
use std::time::Duration;

use super::Failure;
use super::alerts::alertmanager_client;
use super::args::RunOpts;
use super::author;
use super::open_store;
use super::print::print_summary;
use super::print::progress_printer;
use super::runtime;
use super::settings;
use crate::engine::Setup;
use crate::model::Command;
use crate::model::InvestigationStatus;
use crate::model::parse_duration_ms;
use crate::sources::sim::Simulator;
use crate::tools::sanitize::clean;
use crate::wire;
use crate::wire::Launch;
use crate::wire::Options;
use crate::wire::SetupError;
use crate::wire::launch;
use crate::wire::sinks::Each;
use crate::wire::sinks::JsonLines;

/// The model to investigate with, when `--reasoner llm` or `hybrid` asks for one.
/// No name at all (the bare `inquest`) is the built-in reasoner.
pub(super) fn llm_for(reasoner: &str) -> Result<Option<crate::reason::llm::LlmConfig>, Failure> {
    match reasoner.trim() {
        "" | "builtin" => Ok(None),
        name @ ("llm" | "hybrid") => {
            let s = settings()?;
            let llm = s
                .llm
                .ok_or_else(|| Failure::BadInput(format!("--reasoner {name}: no [llm] section in config.toml")))?;
            llm.config().map(Some).map_err(Failure::BadInput)
        }
        other => Err(Failure::BadInput(format!(
            "--reasoner {other}: expected builtin, llm or hybrid"
        ))),
    }
}

/// Whether the reasoner named is the hybrid (the built-in analysis checked by the model).
pub(super) fn is_hybrid(reasoner: &str) -> bool {
    reasoner.trim() == "hybrid"
}

pub(super) fn pace(opts: &RunOpts, demo: bool) -> Result<Option<(Duration, Duration)>, Failure> {
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
pub(super) fn options(opts: &RunOpts, pace: Option<(Duration, Duration)>) -> Result<Options, Failure> {
    let base = Options {
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
        hybrid: is_hybrid(&opts.reasoner),
        bundle: None,
    };
    Ok(super::bundle::options_for(opts.bundle.as_ref(), base)?.0)
}

/// The investigation of a scenario as the options ask; also gives the scenario's id.
pub(super) fn scenario_setup(scenario: &str, opts: &RunOpts, demo: bool) -> Result<(Setup, String), Failure> {
    let sc = Simulator::load(scenario).map_err(|e| Failure::BadInput(e.to_string()))?;
    let id = sc.id.clone();
    let options = options(opts, pace(opts, demo)?)?;
    Ok((wire::for_scenario(sc, &options)?, id))
}

pub(super) fn investigate(scenario: &str, json: bool, opts: &RunOpts, demo: bool) -> Result<ExitCode, Failure> {
    let (setup, id) = scenario_setup(scenario, opts, demo)?;
    execute(setup, &format!("scenario {id}"), json, demo, !opts.no_learned)
}

/// An alert from a file, investigated against the configured sources.
pub(super) fn investigate_alert(path: &std::path::Path, json: bool, opts: &RunOpts) -> Result<ExitCode, Failure> {
    let text = std::fs::read_to_string(path).map_err(|e| Failure::BadInput(format!("{}: {e}", path.display())))?;
    let alert = crate::model::Alert::from_json(&text, "file")
        .map_err(|e| Failure::BadInput(format!("{}: {e}", path.display())))?;
    investigate_this(alert, &format!("alert {}", path.display()), json, opts)
}

/// A firing alert from Alertmanager: `pick` by fingerprint or name, else the newest.
pub(super) fn investigate_firing(
    url: &str,
    pick: Option<&str>,
    json: bool,
    opts: &RunOpts,
) -> Result<ExitCode, Failure> {
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
            .map(|a| format!("{} ({})", clean(&a.name), clean(&a.fingerprint)))
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
            clean(&alert.fingerprint)
        );
    }
    let label = format!("alert {} from Alertmanager", clean(&alert.fingerprint));
    investigate_this(alert, &label, json, opts)
}

/// An alert investigated against the configured sources.
pub(super) fn investigate_this(
    alert: crate::model::Alert,
    label: &str,
    json: bool,
    opts: &RunOpts,
) -> Result<ExitCode, Failure> {
    let dir = crate::config::config_dir();
    let settings = settings()?;
    // Real sources answer at their own pace.
    let options = options(opts, None)?;
    let setup = wire::for_alert(alert, &settings, &options).map_err(|e| match e {
        SetupError::Sources(e) => Failure::BadInput(format!(
            "{e} ({})",
            dir.map(|d| d.join("config.toml").display().to_string())
                .unwrap_or_else(|| "no config directory".into())
        )),
        e => e.into(),
    })?;
    execute(setup, label, json, false, !opts.no_learned)
}

pub(super) fn execute(setup: Setup, label: &str, json: bool, demo: bool, learned: bool) -> Result<ExitCode, Failure> {
    // The store is where feedback and review come from; a run without one still
    // reports, and then fails: an investigation that was not saved is never
    // reported as saved.
    let (store, unsaved) = match open_store() {
        Ok(store) => (Some(store), None),
        Err(Failure::Other(m) | Failure::BadInput(m)) => {
            eprintln!("inquest: not saving this investigation: {}", clean(&m));
            (None, Some(m))
        }
    };
    let rt = runtime(2)?;
    let (state, saved) = rt.block_on(async move {
        let mut l = Launch::new(setup).store(store).learned(learned);
        let saved = l.save_status();
        if json {
            l = l.sink(JsonLines);
        } else if demo {
            l = l.sink(Each(progress_printer()));
        }
        let running = launch(l);
        let commands = running.commands();
        let stopper = tokio::spawn(async move {
            if tokio::signal::ctrl_c().await.is_ok() {
                let _ = commands.send(Command::Stop);
            }
        });
        let state = running.wait().await;
        stopper.abort();
        (state, saved)
    });
    let Some(state) = state else {
        return Err(Failure::Other("the investigation engine failed".into()));
    };
    // The engine has dropped its sinks by now, so the store writer has written
    // (or failed to write) everything.
    let unsaved = unsaved.or_else(|| saved.error());
    if !json {
        print_summary(&state, label, unsaved.is_none());
    }
    if let Some(cause) = unsaved {
        return Err(Failure::Other(format!(
            "investigation {} was not saved: {cause}",
            state.trace_id
        )));
    }
    Ok(match state.status {
        InvestigationStatus::Failed => ExitCode::from(1),
        _ => ExitCode::SUCCESS,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_reasoner_named_is_the_builtin_and_hybrid_is_known() {
        assert!(
            matches!(llm_for(""), Ok(None)),
            "the bare `inquest` never fails on the flag"
        );
        assert!(matches!(llm_for("builtin"), Ok(None)));
        assert!(is_hybrid("hybrid") && !is_hybrid("llm"));
        match llm_for("gpt") {
            Err(Failure::BadInput(m)) => assert!(m.contains("builtin, llm or hybrid"), "{m}"),
            _ => panic!("an unknown reasoner is refused"),
        }
    }
}
