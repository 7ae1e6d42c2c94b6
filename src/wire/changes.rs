//! The changes CI/CD pipelines posted to the server, read from the store, as
//! a source answering `changes_list` (sources may not know the store: the
//! composition root adapts one to the other).

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use serde_json::Value;

use crate::model::Timestamp;
use crate::sources::changes::range;
use crate::sources::telemetry::Change;
use crate::sources::{Backend, BoxFuture, SourceError, ToolData, str_arg};
use crate::store::{RecordedChange, Store};

/// Changes one call answers at most.
const MAX_ANSWERED: usize = 500;

/// The store's posted changes; the store is opened on the first call.
pub struct Posted {
    path: PathBuf,
    store: OnceLock<Arc<Store>>,
    now: Timestamp,
}

impl Posted {
    pub fn new(path: PathBuf, now: Timestamp) -> Posted {
        Posted {
            path,
            store: OnceLock::new(),
            now,
        }
    }

    fn store(&self) -> Result<Arc<Store>, SourceError> {
        if let Some(s) = self.store.get() {
            return Ok(s.clone());
        }
        let s = Arc::new(Store::open(&self.path).map_err(|e| self.err(e.to_string()))?);
        Ok(self.store.get_or_init(|| s).clone())
    }

    fn err(&self, message: String) -> SourceError {
        SourceError::Backend {
            endpoint: format!("store {}", self.path.display()),
            message,
        }
    }
}

/// A posted change in the tool's vocabulary: `config` is a `config_change`,
/// the version is part of the summary.
pub fn as_change(c: RecordedChange) -> Change {
    let kind = match c.kind.as_str() {
        "config" => "config_change".to_string(),
        k => k.to_string(),
    };
    let summary = match (c.summary.is_empty(), &c.version) {
        (_, None) => c.summary,
        (true, Some(v)) => format!("{} {v}", c.service),
        (false, Some(v)) if c.summary.contains(v.as_str()) => c.summary,
        (false, Some(v)) => format!("{} ({v})", c.summary),
    };
    Change {
        at: c.at,
        kind,
        service: c.service,
        summary: format!("{summary} — posted by {}", c.author),
        namespace: None,
    }
}

impl Backend for Posted {
    fn call<'a>(&'a self, tool: &'a str, args: &'a Value) -> BoxFuture<'a, Result<ToolData, SourceError>> {
        Box::pin(async move {
            if tool != "changes_list" {
                return Err(SourceError::UnknownTool(tool.to_string()));
            }
            let (start, end) = range(args, self.now)?;
            let service = str_arg(args, "service").map(str::to_string);
            let store = self.store()?;
            let rows = tokio::task::spawn_blocking(move || {
                store.changes(Some(start), Some(end), service.as_deref(), MAX_ANSWERED)
            })
            .await
            .map_err(|e| self.err(e.to_string()))?
            .map_err(|e| self.err(e.to_string()))?;
            Ok(ToolData::Changes(rows.into_iter().map(as_change).collect()))
        })
    }

    fn describe(&self) -> String {
        "posted changes".into()
    }

    fn now(&self) -> Timestamp {
        self.now
    }
}
