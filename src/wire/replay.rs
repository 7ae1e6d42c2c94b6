//! Shadow replay: a stored investigation run again under another bundle, its
//! tools answered from what they answered the first time (store::answers), so
//! no live backend is touched and the two conclusions can be compared.

use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use serde::Serialize;

use super::record::Replayed;
use super::{Options, SetupError, for_backend};
use crate::engine::{LEARNED_AUTHOR, Setup};
use crate::model::{Alert, EventKind, GuidanceScope, InvestigationStatus, RootCause, Timestamp, TraceId};
use crate::store::{Store, ToolAnswer};

/// How many root causes decide "same" or "changed".
pub const COMPARED: usize = 3;

/// What a stored investigation started from and concluded.
pub struct Original {
    pub trace: TraceId,
    pub alert: Alert,
    pub now: Timestamp,
    pub bundle_id: String,
    /// Guidance past grades left at its start (replayed too; an engineer's steering is not).
    pub learned: Vec<String>,
    /// Guidance an engineer gave while it ran, which a replay does not repeat.
    pub steered: usize,
    pub root_causes: Vec<RootCause>,
    pub tool_calls: u32,
    pub answers: Vec<ToolAnswer>,
}

/// Reads what a replay of `trace` needs from the store.
pub fn original(store: &Store, trace: TraceId) -> Result<Original, String> {
    let events = store.events(trace).map_err(|e| e.to_string())?;
    let mut start = None;
    let mut end = None;
    let mut learned = Vec::new();
    let mut steered = 0;
    for e in events {
        match e.kind {
            EventKind::InvestigationStarted {
                alert, bundle_id, now, ..
            } => start = Some((*alert, bundle_id, now)),
            EventKind::GuidanceApplied {
                scope: GuidanceScope::Investigation,
                text,
                author,
                ..
            } if author == LEARNED_AUTHOR => learned.push(text),
            EventKind::GuidanceApplied { .. } => steered += 1,
            EventKind::InvestigationFinished {
                status,
                root_causes,
                tool_calls,
                ..
            } => end = Some((status, root_causes, tool_calls)),
            _ => {}
        }
    }
    let Some((alert, bundle_id, now)) = start else {
        return Err(format!("no investigation {trace} in the store"));
    };
    let Some((status, root_causes, tool_calls)) = end else {
        return Err(format!(
            "investigation {trace} has not finished: nothing to compare with"
        ));
    };
    if status == InvestigationStatus::Failed {
        return Err(format!("investigation {trace} failed: nothing to compare with"));
    }
    let answers = store.answers(trace).map_err(|e| e.to_string())?;
    if answers.is_empty() && tool_calls > 0 {
        return Err(format!(
            "investigation {trace} has no recorded tool answers (it was stored before answers were kept): it cannot be replayed"
        ));
    }
    Ok(Original {
        trace,
        alert,
        now,
        bundle_id,
        learned,
        steered,
        root_causes,
        tool_calls,
        answers,
    })
}

/// The investigation of `o`'s alert under `opts`, answered from `o`'s record;
/// also the count of calls the record could not answer.
pub fn setup(o: &Original, opts: &Options) -> Result<(Setup, Arc<AtomicUsize>), SetupError> {
    let backend = Replayed::new(o.trace, o.now, o.answers.clone());
    let missed = backend.missed();
    let mut s = for_backend(o.alert.clone(), Arc::new(backend), o.now, opts)?;
    s.learned = o.learned.clone();
    Ok((s, missed))
}

/// One root cause, short.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Cause {
    pub service: String,
    pub kind: String,
    pub confidence: f64,
}

pub fn causes(rc: &[RootCause]) -> Vec<Cause> {
    rc.iter()
        .take(COMPARED)
        .map(|r| Cause {
            service: r.service.clone(),
            kind: r.kind.as_str().to_string(),
            confidence: (r.confidence * 1000.0).round() / 1000.0,
        })
        .collect()
}

/// Whether two conclusions name the same causes in the same order (confidence aside).
pub fn same(a: &[Cause], b: &[Cause]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.service == y.service && x.kind == y.kind)
}
