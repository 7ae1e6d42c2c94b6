//! `inquest serve`: the webhook intake.

use std::process::ExitCode;

use super::Failure;
use super::author;
use super::init_logs;
use super::runtime;
use super::settings;
use crate::store::Store;

pub(super) fn serve(listen: &str) -> Result<ExitCode, Failure> {
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
