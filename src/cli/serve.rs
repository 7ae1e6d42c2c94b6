//! `inquest serve`: the webhook intake.

use std::process::ExitCode;

use super::Failure;
use super::author;
use super::init_logs;
use super::runtime;
use super::settings;
use crate::store::Store;

pub(super) fn serve(
    listen: &str,
    insecure_no_auth: bool,
    bundle: Option<std::path::PathBuf>,
) -> Result<ExitCode, Failure> {
    let _logs = init_logs();
    let settings = settings()?;
    let store = Store::default_path()?;
    // Fail now, not at the first alert, if the sources or secrets are missing.
    crate::sources::configured(&settings, crate::model::Timestamp::now()).map_err(Failure::BadInput)?;
    // Requests and investigations on runtimes of their own: a busy
    // investigation never holds up an answer.
    let work = runtime(std::thread::available_parallelism().map_or(2, |n| n.get()))?;
    let mut intake =
        crate::intake::Intake::new(settings, store, author(), work.handle().clone()).map_err(Failure::BadInput)?;
    if let Some(path) = &bundle {
        // The bundle's strategies, not [serve]'s: the command line names what runs.
        let base = crate::wire::Options {
            author: author(),
            ..crate::wire::Options::default()
        };
        let (opts, _) = super::bundle::options_for(Some(path), base)?;
        crate::wire::parts(&opts)?;
        intake = intake.with_options(opts);
    }
    let rt = runtime(2)?;
    let drained = rt.block_on(async move {
        // Decided before binding, so a refused address is never listened on.
        let loopback = tokio::net::lookup_host(listen)
            .await
            .map_err(|e| Failure::BadInput(format!("--listen {listen}: {e}")))?
            .all(|a| a.ip().is_loopback());
        let auth = match (intake.limits().auth_required(), loopback, insecure_no_auth) {
            (true, _, _) => "bearer token required",
            (false, true, _) => "no token: loopback only",
            (false, false, true) => "NO AUTHENTICATION (--insecure-no-auth)",
            (false, false, false) => {
                return Err(Failure::BadInput(format!(
                    "--listen {listen}: without [serve] token_env or [serve.users], serve listens on loopback only; \
                     set a token or pass --insecure-no-auth"
                )));
            }
        };
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .map_err(|e| Failure::BadInput(format!("--listen {listen}: {e}")))?;
        let addr = listener
            .local_addr()
            .map_err(|e| Failure::Other(format!("--listen {listen}: {e}")))?;
        let recovered = intake.recover().await.map_err(Failure::Other)?;
        let l = intake.limits();
        eprintln!(
            "inquest: listening on {}://{addr} (POST /alertmanager, /pagerduty; GET /healthz, /metrics; /v1/investigations); {auth}; \
             {} workers, queue up to {}, drain {}s",
            if intake.tls() { "https" } else { "http" },
            l.workers,
            l.max_queue,
            l.drain.as_secs_f64()
        );
        if recovered.interrupted + recovered.requeued + recovered.finished + recovered.queued > 0 {
            eprintln!(
                "inquest: from the last run: {} alerts to investigate, of which {} were cut off mid-run \
                 (marked interrupted, run again under a new trace) and {} before anything was stored \
                 (run again under the same trace); {} had finished",
                recovered.queued, recovered.interrupted, recovered.requeued, recovered.finished
            );
        }
        tracing::info!(%addr, auth, ?recovered, "serving");
        Ok::<_, Failure>(intake.run(listener, stop_signal()).await)
    })?;
    eprintln!(
        "inquest: stopped: {} finished while draining, {} interrupted (run again at the next start)",
        drained.finished, drained.interrupted
    );
    // Investigations cut off still have tasks; they are not waited for.
    rt.shutdown_timeout(std::time::Duration::from_secs(1));
    work.shutdown_timeout(std::time::Duration::from_secs(1));
    Ok(ExitCode::SUCCESS)
}

/// SIGTERM or SIGINT.
async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
