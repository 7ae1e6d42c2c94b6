//! The SQLite trace store: investigations, append-only events, evidence bodies,
//! feedback, learned guidance and strategy statistics.

mod db;
mod error;
mod feedback;
mod insights;
mod investigations;
mod learned;
mod liveness;
mod queue;
mod schema;
mod writer;

#[cfg(test)]
mod fixtures;

pub use db::{DB_FILE, Store};
pub use error::StoreError;
pub use investigations::InvestigationRow;
pub use learned::{LEARNED_MAX, StrategyStat};
pub use queue::{Admission, Claimed, Recovered, intake_key};
pub use schema::SCHEMA_VERSION;
pub use writer::{BATCH_DELAY, BATCH_MAX, SaveStatus, StoreWriter};
