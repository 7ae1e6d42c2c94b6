//! Pure data: ids, alerts, events, commands, evidence, hypotheses, feedback, and
//! the fold of events into an investigation's state. Depends on nothing else in
//! the crate.

mod alert;
mod budget;
mod command;
mod event;
mod evidence;
mod fault;
mod feedback;
mod heatmap;
mod hypothesis;
mod ids;
mod insights;
mod link;
mod state;
mod time;

pub use alert::Alert;
pub use budget::{Allotment, Budget, BudgetPatch, StrategyRecord};
pub use command::{Authored, Command, Scope};
pub use event::{
    BranchStatus, CallStatus, EVENT_VERSION, Event, EventKind, GuidanceScope, InvestigationStatus, SourcesRead,
    Unavailable, kind_phrase,
};
pub use evidence::{Evidence, EvidenceKind};
pub use fault::FaultKind;
pub use feedback::{Feedback, Grade, Highlight, Rating};
pub use heatmap::{Better, Column, HeatMap, HeatRow, NO_DATA, Shade, Unit, median, share};
pub use hypothesis::{Hypothesis, RootCause};
pub use ids::{IdError, SpanId, TraceId};
pub use insights::{EVENT_TYPES as INSIGHT_EVENTS, GroupBy, Investigated, LEGEND as INSIGHTS_LEGEND, insights};
pub use link::{LinkState, Reply, Request};
pub use state::{BranchState, EvidenceState, InvestigationState, Step};
pub use time::{Timestamp, format_duration_ms, parse_duration_ms};

/// A boxed future, for async methods of object-safe traits (sources, reasoners, model providers).
pub type BoxFuture<'a, T> = std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'a>>;

/// The snake_case name serde gives a unit enum variant (`CallStatus::Ok` is
/// `ok`), as the events, the store and the exporters write it.
pub fn enum_name<T: serde::Serialize>(v: &T) -> String {
    match serde_json::to_value(v) {
        Ok(serde_json::Value::String(s)) => s,
        _ => String::new(),
    }
}
