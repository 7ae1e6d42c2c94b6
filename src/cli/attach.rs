//! `--server URL`: the commands that read investigations (the list, open,
//! feedback, report, demo) against an `inquest serve` instead of this
//! machine's store; the cockpit attaches to the server's investigation and
//! detaches without stopping it.

use std::io::Write;
use std::process::ExitCode;

use serde_json::Value;

use super::Failure;
use super::args::UiOpts;
use super::cockpit::ui_parts;
use super::feedback::print_feedback;
use super::list::{print_rows, top};
use super::runtime;
use crate::model::{Feedback, TraceId};
use crate::store::InvestigationRow;
use crate::tools::sanitize::clean;
use crate::tui::runs::{Run, RunList};
use crate::wire::remote::{Remote, RemoteError};

/// The token's variable when config.toml names none.
pub const TOKEN_ENV: &str = "INQUEST_TOKEN";

/// The server to work against: `--server`, else `[remote] url`.
pub(super) fn server_url(flag: Option<String>, settings: &crate::config::Settings) -> Option<String> {
    flag.or_else(|| settings.remote.url.clone()).filter(|u| !u.is_empty())
}

/// The client for `url`, with the token and the user config.toml and the environment give.
pub(super) fn remote(url: &str, settings: &crate::config::Settings) -> Result<Remote, Failure> {
    let token_env = settings.remote.token_env.as_deref().unwrap_or(TOKEN_ENV);
    let token = std::env::var(token_env).ok().filter(|t| !t.is_empty());
    let user = settings.remote.user.clone().unwrap_or_else(super::author);
    Remote::new(url, token, token_env, &user).map_err(Failure::BadInput)
}

/// A refused token or request is the user's to fix (exit 2); an unreachable server is not (exit 1).
fn failure(e: RemoteError) -> Failure {
    match e {
        RemoteError::Unauthorized(m) | RemoteError::Refused(_, m) => Failure::BadInput(m),
        RemoteError::Unreachable(m) => Failure::Other(m),
    }
}

fn rows(v: Value, remote: &Remote) -> Result<Vec<InvestigationRow>, Failure> {
    serde_json::from_value(v)
        .map_err(|e| Failure::Other(format!("{}: not a list of investigations: {e}", remote.base())))
}

pub(super) fn list(remote: Remote, json: bool) -> Result<ExitCode, Failure> {
    let rt = runtime(1)?;
    let v = rt.block_on(remote.list()).map_err(failure)?;
    if json {
        let _ = writeln!(std::io::stdout().lock(), "{}", crate::tools::sanitize::json_pretty(&v));
        return Ok(ExitCode::SUCCESS);
    }
    print_rows(&rows(v, &remote)?, &format!("inquest --server {} demo", remote.base()));
    Ok(ExitCode::SUCCESS)
}

pub(super) fn feedback(remote: Remote, prefix: &str, json: bool) -> Result<ExitCode, Failure> {
    let rt = runtime(1)?;
    let v = rt.block_on(remote.feedback(prefix)).map_err(failure)?;
    let items: Vec<Feedback> = serde_json::from_value(v)
        .map_err(|e| Failure::Other(format!("{}: not a list of feedback: {e}", remote.base())))?;
    print_feedback(&items, json, prefix);
    Ok(ExitCode::SUCCESS)
}

pub(super) fn report(remote: Remote, prefix: &str) -> Result<ExitCode, Failure> {
    let rt = runtime(1)?;
    let md = rt.block_on(remote.report(prefix)).map_err(failure)?;
    // The server's text: shown, never obeyed.
    let _ = std::io::stdout().lock().write_all(clean(&md).as_bytes());
    Ok(ExitCode::SUCCESS)
}

/// `inquest --server URL open TRACE`: the cockpit on the server's investigation.
pub(super) fn open(remote: Remote, prefix: &str, ui: &UiOpts) -> Result<ExitCode, Failure> {
    let _logs = super::init_logs();
    let rt = runtime(2)?;
    let trace = match rt.block_on(remote.get(prefix)) {
        Ok(row) => {
            serde_json::from_value::<InvestigationRow>(row)
                .map_err(|e| Failure::Other(format!("{}: not an investigation: {e}", remote.base())))?
                .trace_id
        }
        // Queued, not started: a whole trace id can be followed from its first event.
        Err(RemoteError::Refused(404, m)) => prefix.parse().map_err(|_| Failure::BadInput(m))?,
        Err(e) => return Err(failure(e)),
    };
    attach(rt, remote, trace, ui)
}

/// `inquest --server URL demo`: the demo scenario, started on the server, attached to.
pub(super) fn demo(
    remote: Remote,
    scenario: &str,
    opts: &super::RunOpts,
    ui: &UiOpts,
    tty: bool,
) -> Result<ExitCode, Failure> {
    let _logs = super::init_logs();
    let rt = runtime(2)?;
    let mut body = serde_json::json!({ "scenario": scenario });
    if let Some(p) = &opts.pace {
        body["pace"] = p.clone().into();
    }
    if let Some(n) = opts.budget_calls {
        body["budget_calls"] = n.into();
    }
    let trace = rt.block_on(remote.start(&body)).map_err(failure)?;
    if !tty {
        println!(
            "trace {trace} started on {base} · attach: inquest --server {base} open {}",
            trace.short(),
            base = remote.base()
        );
        return Ok(ExitCode::SUCCESS);
    }
    attach(rt, remote, trace, ui)
}

/// `inquest --server URL`: the server's investigations; Enter attaches.
pub(super) fn pick(remote: Remote, ui: &UiOpts) -> Result<ExitCode, Failure> {
    let _logs = super::init_logs();
    let rt = runtime(2)?;
    let fetch = |rt: &tokio::runtime::Runtime| -> Result<Vec<Run>, Failure> {
        let v = rt.block_on(remote.list()).map_err(failure)?;
        Ok(rows(v, &remote)?.iter().map(run).collect())
    };
    // A refused token or an unreachable server is said before the screen opens.
    let runs = fetch(&rt)?;
    let list = RunList {
        runs,
        sel: 0,
        source: remote.base().to_string(),
        error: None,
    };
    let (keymap, view, _) = ui_parts(ui);
    let mut refresh = || {
        fetch(&rt).map_err(|f| match f {
            Failure::BadInput(m) | Failure::Other(m) => m,
        })
    };
    let chosen = crate::tui::term::pick(list, &keymap, &view.theme, &mut refresh)
        .map_err(|e| Failure::Other(format!("terminal: {e}")))?;
    let Some(chosen) = chosen else {
        return Ok(ExitCode::SUCCESS);
    };
    let trace: TraceId = chosen
        .trace
        .parse()
        .map_err(|e| Failure::Other(format!("{}: trace {}: {e}", remote.base(), chosen.trace)))?;
    attach(rt, remote, trace, ui)
}

fn run(r: &InvestigationRow) -> Run {
    Run {
        trace: r.trace_id.to_string(),
        started: r.started_at.to_rfc3339().get(..19).unwrap_or("").to_string(),
        status: r.status.as_str().to_string(),
        alert: r.alert_name.clone(),
        service: r.service.clone().unwrap_or_default(),
        top: top(r),
    }
}

/// The cockpit attached to `trace` on the server, until the user detaches
/// (the investigation goes on there) or the terminal goes away.
fn attach(rt: tokio::runtime::Runtime, remote: Remote, trace: TraceId, ui: &UiOpts) -> Result<ExitCode, Failure> {
    let (keymap, view, notices) = ui_parts(ui);
    let base = remote.base().to_string();
    let mut app = crate::tui::app::App::new(keymap, remote.user().to_string(), true);
    app.remote = Some(base.clone());
    app.toast = notices.first().map(|n| (n.clone(), true));
    let app = rt
        .block_on(async move {
            let (requests, replies) = crate::wire::remote::attach(remote, trace);
            let session = crate::tui::term::Session::new(app, view, replies, requests);
            crate::tui::term::run(session).await
        })
        .map_err(|e| Failure::Other(format!("terminal: {e}")))?;
    let reattach = format!("inquest --server {base} open {}", trace.short());
    if app.hangup {
        tracing::info!(%trace, "terminal closed; the investigation continues on the server");
    } else if app.running() {
        println!("detached; the investigation continues on {base}; reattach: {reattach}");
    } else {
        println!("trace {trace} · review it with: {reattach}");
    }
    Ok(ExitCode::SUCCESS)
}
