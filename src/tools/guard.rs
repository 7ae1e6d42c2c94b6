//! The read-only guard: sits between every reasoner and every source. Only tools
//! declared with `access = "read"` and valid arguments pass, whatever a model asks.

use std::sync::Arc;

use serde_json::Value;

use super::catalog::{Access, Catalog, validate_args};
use crate::sources::{Backend, SourceError, ToolData};

/// Why the guard refused a call.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Refusal {
    #[error("no tool named {0:?}; only the declared read-only tools exist")]
    UnknownTool(String),
    #[error("tool {0:?} is not read-only and inquest never writes")]
    NotReadOnly(String),
    #[error("invalid arguments for {tool}: {reason}")]
    BadArgs { tool: String, reason: String },
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CallError {
    #[error("refused: {0}")]
    Refused(#[from] Refusal),
    #[error("{0}")]
    Source(#[from] SourceError),
    #[error("timed out after {0} ms")]
    Timeout(u64),
}

pub struct Guard {
    catalog: Arc<Catalog>,
    backend: Arc<dyn Backend>,
    timeout_ms: u64,
}

impl Guard {
    pub fn new(catalog: Arc<Catalog>, backend: Arc<dyn Backend>) -> Self {
        Guard {
            catalog,
            backend,
            timeout_ms: 30_000,
        }
    }

    pub fn with_timeout_ms(mut self, ms: u64) -> Self {
        self.timeout_ms = ms;
        self
    }

    /// The same guard in front of another backend (one that wraps this one's).
    pub fn with_backend(&self, backend: Arc<dyn Backend>) -> Guard {
        Guard {
            catalog: self.catalog.clone(),
            backend,
            timeout_ms: self.timeout_ms,
        }
    }

    pub fn backend(&self) -> &Arc<dyn Backend> {
        &self.backend
    }

    pub fn catalog(&self) -> &Arc<Catalog> {
        &self.catalog
    }

    /// Checks a call without running it.
    pub fn check(&self, tool: &str, args: &Value) -> Result<(), Refusal> {
        let spec = self
            .catalog
            .tool(tool)
            .ok_or_else(|| Refusal::UnknownTool(tool.to_string()))?;
        if spec.access != Access::Read {
            return Err(Refusal::NotReadOnly(tool.to_string()));
        }
        validate_args(spec, args).map_err(|reason| Refusal::BadArgs {
            tool: tool.to_string(),
            reason,
        })
    }

    /// Runs a call if the guard lets it through; a slow source fails this call only.
    pub async fn call(&self, tool: &str, args: &Value) -> Result<ToolData, CallError> {
        self.check(tool, args)?;
        let fut = self.backend.call(tool, args);
        match tokio::time::timeout(std::time::Duration::from_millis(self.timeout_ms), fut).await {
            Ok(r) => Ok(r?),
            Err(_) => Err(CallError::Timeout(self.timeout_ms)),
        }
    }
}
