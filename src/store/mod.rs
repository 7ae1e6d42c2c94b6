//! The SQLite trace store: investigations, append-only events, evidence bodies,
//! feedback, learned guidance, strategy statistics and imported shared patterns.

mod anonymize;
mod answers;
mod changes;
mod db;
mod error;
mod feedback;
mod insights;
mod investigations;
mod learned;
mod liveness;
mod patterns;
mod queue;
mod schema;
mod writer;

#[cfg(test)]
mod fixtures;

pub use answers::ToolAnswer;
pub use changes::RecordedChange;
pub use db::{DB_FILE, Store};
pub use error::StoreError;
pub use investigations::InvestigationRow;
pub use learned::{LEARNED_MAX, StrategyStat};
pub use patterns::{Exported, Pattern, PatternError, StrategyCount, parse_patterns};
pub use queue::{Admission, Claimed, Recovered, Simulated, intake_key};
pub use schema::SCHEMA_VERSION;
pub use writer::{BATCH_DELAY, BATCH_MAX, SaveStatus, StoreWriter};
