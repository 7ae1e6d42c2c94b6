//! What can go wrong with the trace store, each message naming the database or the trace.

use std::path::PathBuf;

use crate::model::{SpanId, TraceId};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("no home directory to keep the trace store in; set INQUEST_DATA_DIR to a writable directory")]
    NoDataDir,
    #[error("cannot create the data directory {}: {source}", path.display())]
    CreateDir { path: PathBuf, source: std::io::Error },
    #[error("cannot open the trace store {}: {source}", path.display())]
    Open { path: PathBuf, source: rusqlite::Error },
    #[error(
        "the trace store {} has schema version {found}, newer than this inquest understands ({supported}); upgrade inquest",
        path.display()
    )]
    NewerSchema { path: PathBuf, found: i64, supported: i64 },
    #[error("trace store {}: {source}", path.display())]
    Sql { path: PathBuf, source: rusqlite::Error },
    #[error("trace store {}: trace {trace}: {source}", path.display())]
    TraceSql {
        path: PathBuf,
        trace: TraceId,
        source: rusqlite::Error,
    },
    #[error(
        "trace store {}: event {seq} of trace {trace} is already stored; events are append-only",
        path.display()
    )]
    DuplicateEvent { path: PathBuf, trace: TraceId, seq: u64 },
    #[error(
        "trace store {}: trace {trace} was already started; event {seq} cannot start it again",
        path.display()
    )]
    AlreadyStarted { path: PathBuf, trace: TraceId, seq: u64 },
    #[error(
        "trace store {}: event {seq} of trace {trace} comes before its investigation_started event",
        path.display()
    )]
    NotStarted { path: PathBuf, trace: TraceId, seq: u64 },
    #[error(
        "trace store {}: evidence {span} of trace {trace} is already stored (event {seq})",
        path.display()
    )]
    DuplicateEvidence {
        path: PathBuf,
        trace: TraceId,
        span: SpanId,
        seq: u64,
    },
    #[error("trace store {}: event {seq} of trace {trace} is unreadable: {detail}", path.display())]
    Corrupt {
        path: PathBuf,
        trace: TraceId,
        seq: i64,
        detail: String,
    },
    #[error("{prefix:?} is not a trace id: expected a full trace id or at least 4 of its leading hex digits")]
    BadPrefix { prefix: String },
    #[error("no investigation in {} has a trace id starting with {prefix:?}", path.display())]
    UnknownTrace { path: PathBuf, prefix: String },
    #[error(
        "{prefix:?} matches several investigations in {}: {}; type more of the trace id",
        path.display(),
        matches.join(", ")
    )]
    AmbiguousTrace {
        path: PathBuf,
        prefix: String,
        matches: Vec<String>,
    },
    #[error("trace store {}: the writer thread stopped unexpectedly", path.display())]
    WriterDied { path: PathBuf },
    #[error(
        "the trace store {} is damaged ({detail}); it was left as it is: move it aside to start a new one, \
         or recover it with `sqlite3 {} .recover`",
        path.display(),
        path.display()
    )]
    Damaged { path: PathBuf, detail: String },
}
