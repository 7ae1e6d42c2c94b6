//! `inquest report`: a stored investigation as a Markdown RCA report.

use std::io::Write;
use std::process::ExitCode;

use super::Failure;
use super::open_store;
use crate::model::{InvestigationState, InvestigationStatus};

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
    let mut state = InvestigationState::fold(&events).map_err(|e| Failure::Other(format!("trace {trace}: {e}")))?;
    // The events alone cannot tell a run still going from one whose process
    // died; the store's liveness check can.
    if state.status == InvestigationStatus::Running
        && store
            .get(trace)?
            .is_some_and(|row| row.status == InvestigationStatus::Interrupted)
    {
        state.status = InvestigationStatus::Interrupted;
    }
    let feedback = store.feedback(trace)?;
    Ok((state, feedback))
}
