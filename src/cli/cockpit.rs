//! The cockpit's launchers: the demo, the firing alerts, a live investigation, a stored one.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use super::Failure;
use super::args::RunOpts;
use super::args::UiOpts;
use super::author;
use super::init_logs;
use super::open_store;
use super::run::scenario_setup;
use super::runtime;
use crate::engine::Setup;
use crate::model::Command;
use crate::tui::app::Leave;
use crate::wire;
use crate::wire::Launch;
use crate::wire::Options;
use crate::wire::launch;
use crate::wire::sinks::Channel;

pub(super) fn ui_parts(ui: &UiOpts) -> (crate::tui::keymap::Keymap, crate::tui::views::View, Vec<String>) {
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

pub(super) fn cockpit_demo(scenario: &str, opts: &RunOpts, ui: &UiOpts) -> Result<ExitCode, Failure> {
    let _logs = init_logs();
    let (setup, _) = scenario_setup(scenario, opts, true)?;
    cockpit_live(setup, ui, !opts.no_learned)
}

/// `inquest` with Alertmanager configured: the firing alerts, then the chosen one's investigation.
pub(super) fn cockpit_alerts(
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
    let mut list = crate::tui::alerts::AlertList::new(alerts, format!("alertmanager {}", am.url), error);
    list.insights = insight_tables();
    list.legend = crate::model::INSIGHTS_LEGEND.to_string();
    let (keymap, view, _) = ui_parts(ui);
    let Some(alert) = crate::tui::term::pick_alert(list, &keymap, &view.theme, &mut fetch)
        .map_err(|e| Failure::Other(format!("terminal: {e}")))?
    else {
        return Ok(ExitCode::SUCCESS);
    };
    drop(rt);
    let options = Options {
        author: author(),
        ..Options::default()
    };
    let setup = wire::for_alert(alert, settings, &options)?;
    cockpit_live(setup, ui, true)
}

/// The insights tables the alert list shows on a key: by alert, by fault kind, by strategy.
fn insight_tables() -> Result<Vec<crate::model::HeatMap>, String> {
    let store = open_store().map_err(|f| match f {
        Failure::BadInput(m) | Failure::Other(m) => m,
    })?;
    crate::model::GroupBy::ALL
        .into_iter()
        .map(|by| {
            super::insights::table(&store, by, None).map_err(|f| match f {
                Failure::BadInput(m) | Failure::Other(m) => m,
            })
        })
        .collect()
}

/// The cockpit on an investigation that starts now.
pub(super) fn cockpit_live(setup: Setup, ui: &UiOpts, learned: bool) -> Result<ExitCode, Failure> {
    let (keymap, view, notices) = ui_parts(ui);
    let store = open_store();
    let feedback_store = open_store().ok();
    let rt = runtime(2)?;
    let trace = rt.block_on(async move {
        let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
        let (store, unsaved) = match store {
            Ok(s) => (Some(s), None),
            Err(Failure::Other(m) | Failure::BadInput(m)) => (None, Some(m)),
        };
        let l = Launch::new(setup).store(store).learned(learned).sink(Channel(tx));
        let saved = l.save_status();
        if let Some(m) = unsaved {
            saved.fail(m);
        }
        let running = launch(l);
        let trace = running.trace_id;
        let commands = running.commands();
        let mut app = crate::tui::app::App::new(keymap, author(), true);
        app.toast = notices.first().map(|n| (n.clone(), true));
        let (requests, replies) =
            wire::link::local_saving(rx, Some(commands.clone()), feedback_store, Some(saved.clone()));
        let session = crate::tui::term::Session::new(app, view, replies, requests);
        let result = crate::tui::term::run(session).await;
        let (leave, hangup) = match &result {
            Ok(app) => (app.leave, app.hangup),
            Err(_) => (Leave::Stop, false),
        };
        let state = if leave == Leave::KeepRunning {
            headless(trace, running, hangup).await
        } else {
            // Leaving the cockpit stops what is still running; the store gets every event.
            let _ = commands.send(Command::Stop);
            running.wait().await
        };
        result.map(|_| (trace, saved.error(), state, hangup))
    });
    let (trace, unsaved, state, hangup) = trace.map_err(|e| Failure::Other(format!("terminal: {e}")))?;
    let status = state.map(|s| s.status.as_str()).unwrap_or("failed");
    if hangup {
        // The terminal is gone: the log file is the only place left to say it.
        match unsaved {
            Some(cause) => {
                tracing::error!(%trace, %cause, "investigation finished after the terminal closed, NOT saved")
            }
            None => tracing::info!(%trace, status, "investigation finished after the terminal closed, and stored"),
        }
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(cause) = unsaved {
        return Err(Failure::Other(format!("investigation {trace} was not saved: {cause}")));
    }
    // Written, not printed: a terminal closed meanwhile must not end this process with a panic.
    let _ = writeln!(
        std::io::stdout(),
        "trace {trace} {status} · review it with: inquest open {}",
        trace.short()
    );
    Ok(ExitCode::SUCCESS)
}

/// The cockpit closed and the investigation goes on in this process, without
/// a terminal, until it ends on its own (and is stored). Ctrl-C or SIGTERM
/// stops it; a hang-up does not.
async fn headless(
    trace: crate::model::TraceId,
    running: crate::engine::Running,
    hangup: bool,
) -> Option<crate::model::InvestigationState> {
    use tokio::signal::unix::{SignalKind, signal};
    if hangup {
        tracing::warn!(%trace, "the terminal closed; the investigation continues headless");
    } else {
        let _ = writeln!(
            std::io::stderr(),
            "inquest: trace {trace} keeps running in this process until it is done and stored \
             (closing the terminal does not stop it; Ctrl-C stops it) · follow it with: inquest open {}",
            trace.short()
        );
    }
    let mut term = signal(SignalKind::terminate()).ok();
    let mut int = signal(SignalKind::interrupt()).ok();
    let until = |s: &mut Option<tokio::signal::unix::Signal>| {
        let s = s.take();
        async move {
            match s {
                Some(mut s) => {
                    s.recv().await;
                }
                None => std::future::pending().await,
            }
        }
    };
    let commands = running.commands();
    let done = running.wait();
    tokio::pin!(done);
    loop {
        tokio::select! {
            state = &mut done => return state,
            _ = until(&mut term) => { let _ = commands.send(Command::Stop); }
            _ = until(&mut int) => { let _ = commands.send(Command::Stop); }
        }
    }
}

pub(super) fn cockpit_open(prefix: &str, ui: &UiOpts) -> Result<ExitCode, Failure> {
    let _logs = init_logs();
    let store = open_store()?;
    let trace = store.resolve(prefix).map_err(|e| Failure::BadInput(e.to_string()))?;
    let events = store.events(trace)?;
    let feedback = store.feedback(trace)?;
    let (keymap, view, notices) = ui_parts(ui);
    let mut app = crate::tui::app::App::new(keymap, author(), false);
    app.load_replay(events);
    // A run whose process died is interrupted, not running (the store can tell).
    if let (Some(st), Ok(Some(row))) = (app.state.as_mut(), store.get(trace))
        && st.status == crate::model::InvestigationStatus::Running
    {
        st.status = row.status;
    }
    app.feedback = feedback;
    app.toast = notices.first().map(|n| (n.clone(), true));
    let (_tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::Other(format!("cannot start the runtime: {e}")))?;
    rt.block_on(async move {
        let (requests, replies) = wire::link::local(rx, None, Some(store));
        let session = crate::tui::term::Session::new(app, view, replies, requests);
        crate::tui::term::run(session).await
    })
    .map_err(|e| Failure::Other(format!("terminal: {e}")))?;
    Ok(ExitCode::SUCCESS)
}
