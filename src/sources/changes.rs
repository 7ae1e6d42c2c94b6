//! The change timeline from several sources at once: changes CI/CD pipelines
//! posted to the server, Kubernetes rollout history, the simulator. Each
//! answers `changes_list`; the answers are merged into one timeline.

use std::sync::Arc;

use serde_json::Value;

use super::telemetry::Change;
use super::{Backend, BoxFuture, SourceError, ToolData, time_arg};
use crate::model::Timestamp;

/// How far back `changes_list` looks when no start is given.
pub const DEFAULT_LOOKBACK_NS: i64 = 7_200_000_000_000;

/// The `start`/`end` of a `changes_list` call, `end` at most `now`.
pub fn range(args: &Value, now: Timestamp) -> Result<(Timestamp, Timestamp), SourceError> {
    let end = time_arg(args, "end")?.unwrap_or(now).min(now);
    let start = time_arg(args, "start")?.unwrap_or(Timestamp(end.0 - DEFAULT_LOOKBACK_NS));
    if start > end {
        return Err(SourceError::BadArgs("start is after end".into()));
    }
    Ok((start, end))
}

/// Several change sources as one: their changes merged, oldest first. A source
/// that fails leaves the others' answer standing; only when all fail is the
/// call an error (the first source's).
pub struct Merged {
    sources: Vec<Arc<dyn Backend>>,
    /// What the trace says this route adds to the sources listed beside it.
    label: String,
    now: Timestamp,
}

impl Merged {
    pub fn new(sources: Vec<Arc<dyn Backend>>, label: String, now: Timestamp) -> Merged {
        Merged { sources, label, now }
    }
}

/// Changes from several answers, oldest first, a change two sources both report given once.
pub fn merge(lists: Vec<Vec<Change>>) -> Vec<Change> {
    let mut all: Vec<Change> = lists.into_iter().flatten().collect();
    all.sort_by(|a, b| {
        a.at.cmp(&b.at)
            .then_with(|| a.service.cmp(&b.service))
            .then_with(|| a.kind.cmp(&b.kind))
            .then_with(|| a.summary.cmp(&b.summary))
    });
    all.dedup_by(|a, b| a.at == b.at && a.service == b.service && a.kind == b.kind && a.summary == b.summary);
    all
}

impl Backend for Merged {
    fn call<'a>(&'a self, tool: &'a str, args: &'a Value) -> BoxFuture<'a, Result<ToolData, SourceError>> {
        Box::pin(async move {
            if tool != "changes_list" {
                return Err(SourceError::UnknownTool(tool.to_string()));
            }
            let mut lists = Vec::new();
            let mut first_err = None;
            for s in &self.sources {
                match s.call(tool, args).await {
                    Ok(ToolData::Changes(c)) => lists.push(c),
                    Ok(other) => {
                        tracing::warn!(source = %s.describe(), ?other, "a change source answered something else");
                    }
                    Err(e @ SourceError::BadArgs(_)) => return Err(e),
                    Err(e) => {
                        tracing::warn!(source = %s.describe(), %e, "a change source failed; the others answer");
                        first_err.get_or_insert(e);
                    }
                }
            }
            match (lists.is_empty(), first_err) {
                (true, Some(e)) => Err(e),
                _ => Ok(ToolData::Changes(merge(lists))),
            }
        })
    }

    fn describe(&self) -> String {
        self.label.clone()
    }

    fn now(&self) -> Timestamp {
        self.now
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(at: i64, service: &str, summary: &str) -> Change {
        Change {
            at: Timestamp::from_secs(at),
            kind: "deploy".into(),
            service: service.into(),
            summary: summary.into(),
            namespace: None,
        }
    }

    struct Fixed(Result<Vec<Change>, SourceError>);

    impl Backend for Fixed {
        fn call<'a>(&'a self, _: &'a str, _: &'a Value) -> BoxFuture<'a, Result<ToolData, SourceError>> {
            Box::pin(async move { self.0.clone().map(ToolData::Changes) })
        }
        fn describe(&self) -> String {
            "fixed".into()
        }
        fn now(&self) -> Timestamp {
            Timestamp(0)
        }
    }

    fn down() -> Arc<dyn Backend> {
        Arc::new(Fixed(Err(SourceError::Backend {
            endpoint: "kubernetes".into(),
            message: "HTTP 403: forbidden".into(),
        })))
    }

    #[tokio::test]
    async fn a_failing_source_leaves_the_others_answer_and_all_failing_is_an_error() {
        let up: Arc<dyn Backend> = Arc::new(Fixed(Ok(vec![c(10, "a", "v1")])));
        let m = Merged::new(vec![down(), up], "changes".into(), Timestamp(0));
        let got = m.call("changes_list", &Value::Null).await.unwrap();
        assert_eq!(got, ToolData::Changes(vec![c(10, "a", "v1")]));
        let m = Merged::new(vec![down(), down()], "changes".into(), Timestamp(0));
        let err = m.call("changes_list", &Value::Null).await.unwrap_err();
        assert!(err.to_string().contains("403"), "{err}");
    }

    #[test]
    fn timelines_merge_oldest_first_without_duplicates() {
        let m = merge(vec![
            vec![c(30, "a", "v2"), c(10, "a", "v1")],
            vec![c(20, "b", "x"), c(30, "a", "v2")],
        ]);
        let order: Vec<i64> = m.iter().map(|c| c.at.0 / 1_000_000_000).collect();
        assert_eq!(order, [10, 20, 30]);
    }
}
