//! `inquest alerts`: the firing alerts from the configured Alertmanager.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use super::Failure;
use super::runtime;
use super::settings;
use crate::model::parse_duration_ms;
use crate::tools::sanitize::clean;

/// The configured Alertmanager's client.
pub(super) fn alertmanager_client() -> Result<crate::sources::alertmanager::Alertmanager, Failure> {
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

pub(super) fn alerts(json: bool) -> Result<ExitCode, Failure> {
    let client = alertmanager_client()?;
    let rt = runtime(1)?;
    let alerts = rt
        .block_on(client.alerts())
        .map_err(|e| Failure::Other(e.to_string()))?;
    let mut out = std::io::stdout().lock();
    if json {
        let _ = writeln!(out, "{}", crate::tools::sanitize::json_pretty(&alerts));
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
