//! `inquest report`: a stored investigation as a Markdown RCA report.

use std::io::Write;
use std::process::ExitCode;

use super::Failure;
use super::open_store;
use crate::model::InvestigationState;

pub(super) fn report(prefix: &str) -> Result<ExitCode, Failure> {
    let (state, feedback) = stored(prefix)?;
    let md = crate::export::markdown(&state, &feedback);
    let _ = std::io::stdout().lock().write_all(md.as_bytes());
    Ok(ExitCode::SUCCESS)
}

/// A stored investigation, folded, and its feedback: what a report or an export is made of.
pub(super) fn stored(prefix: &str) -> Result<(InvestigationState, Vec<crate::model::Feedback>), Failure> {
    let store = open_store()?;
    let trace = store.resolve(prefix).map_err(|e| Failure::BadInput(e.to_string()))?;
    let events = store.events(trace)?;
    let state = InvestigationState::fold(&events).map_err(|e| Failure::Other(format!("trace {trace}: {e}")))?;
    let feedback = store.feedback(trace)?;
    Ok((state, feedback))
}
