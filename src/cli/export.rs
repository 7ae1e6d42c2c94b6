//! `inquest export`: a stored investigation sent as OTLP, to Langfuse or to LangSmith.

use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

use super::Failure;
use super::report::stored;
use super::runtime;

pub(super) fn export_langfuse(prefix: &str, host: Option<&str>) -> Result<ExitCode, Failure> {
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
        eprintln!("inquest: {}: {}", lf.otel_url(), crate::tools::sanitize::clean(&said));
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

pub(super) fn export_langsmith(prefix: &str, endpoint: Option<&str>) -> Result<ExitCode, Failure> {
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

pub(super) fn export_otlp(prefix: &str, url: &str) -> Result<ExitCode, Failure> {
    use crate::export::otlp;
    let (state, feedback) = stored(prefix)?;
    let trace = state.trace_id;
    let body = otlp::payload(&state, &feedback);
    let spans = otlp::span_count(&body);
    if url == "-" {
        let _ = writeln!(std::io::stdout().lock(), "{}", crate::tools::sanitize::json_line(&body));
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
        eprintln!("inquest: {endpoint}: {}", crate::tools::sanitize::clean(&said));
    }
    eprintln!(
        "trace {trace}: {spans} spans and {} pieces of feedback sent to {endpoint}",
        feedback.len()
    );
    Ok(ExitCode::SUCCESS)
}
