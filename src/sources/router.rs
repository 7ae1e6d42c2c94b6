//! Sends each tool to the source that answers it: a configured real backend
//! by the tool's family, else the fallback (the simulator), else an error
//! that says which source is missing.

use std::sync::Arc;

use serde_json::Value;

use super::{Backend, BoxFuture, SourceError, ToolData};
use crate::model::Timestamp;

/// The family a tool belongs to, by its name.
pub fn family(tool: &str) -> &'static str {
    match tool.split('_').next().unwrap_or("") {
        "prometheus" => "prometheus",
        "loki" => "loki",
        "k8s" => "kubernetes",
        "traces" | "trace" => "traces",
        "changes" => "changes",
        _ => "other",
    }
}

pub struct Router {
    routes: Vec<(&'static str, Arc<dyn Backend>)>,
    fallback: Option<Arc<dyn Backend>>,
    now: Timestamp,
}

impl Router {
    /// `now` is the instant the investigation looks back from.
    pub fn new(now: Timestamp) -> Router {
        Router {
            routes: Vec::new(),
            fallback: None,
            now,
        }
    }

    /// Tools of `family` go to `backend`.
    pub fn route(mut self, family: &'static str, backend: Arc<dyn Backend>) -> Router {
        self.routes.push((family, backend));
        self
    }

    /// Everything no route claims goes to `backend`.
    pub fn fallback(mut self, backend: Arc<dyn Backend>) -> Router {
        self.fallback = Some(backend);
        self
    }

    fn backend(&self, tool: &str) -> Option<&Arc<dyn Backend>> {
        let f = family(tool);
        self.routes
            .iter()
            .find(|(fam, _)| *fam == f)
            .map(|(_, b)| b)
            .or(self.fallback.as_ref())
    }
}

impl Backend for Router {
    fn call<'a>(&'a self, tool: &'a str, args: &'a Value) -> BoxFuture<'a, Result<ToolData, SourceError>> {
        match self.backend(tool) {
            Some(b) => b.call(tool, args),
            None => Box::pin(async move {
                Err(SourceError::Backend {
                    endpoint: family(tool).to_string(),
                    message: format!(
                        "no {} source is configured (see [sources] in config.toml)",
                        family(tool)
                    ),
                })
            }),
        }
    }

    fn describe(&self) -> String {
        let mut parts: Vec<String> = self.routes.iter().map(|(_, b)| b.describe()).collect();
        if let Some(f) = &self.fallback {
            parts.push(format!("{} for the rest", f.describe()));
        }
        parts.join(" + ")
    }

    fn now(&self) -> Timestamp {
        self.now
    }
}
