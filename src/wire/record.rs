//! Tool answers kept for shadow replay: a backend that notes what each call
//! answered, a sink that stores those notes with the trace, and a backend that
//! answers a replay from them (no live source is touched).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::Value;

use crate::engine::EventSink;
use crate::model::{BoxFuture, Event, EventKind, Timestamp, TraceId};
use crate::sources::{Backend, SourceError, ToolData};
use crate::store::{Store, ToolAnswer};
use crate::tools::redact::Redactor;

/// What a replay answers for a call the original investigation never made.
pub const NOT_RECORDED: &str = "not recorded in the original trace";

/// The largest answer kept for replay, as JSON: a bigger one (a query over a
/// thousand services) is noted as not kept, and its call fails in a replay,
/// so recording never holds an investigation's worth of huge answers.
pub const MAX_KEPT_ANSWER: usize = 256 << 10;

/// The arguments as canonical JSON: object keys sorted, no whitespace.
pub fn canonical(args: &Value) -> String {
    // serde_json's maps are ordered by key.
    args.to_string()
}

/// Wraps a backend and notes every answer (data as JSON, or the error), redacted.
pub struct Recording {
    inner: Arc<dyn Backend>,
    kept: Arc<Mutex<Vec<ToolAnswer>>>,
    redactor: Redactor,
}

impl Recording {
    pub fn new(inner: Arc<dyn Backend>) -> Recording {
        Recording {
            inner,
            kept: Arc::default(),
            redactor: Redactor::new(),
        }
    }

    /// The notes so far, shared with the sink that stores them.
    pub fn kept(&self) -> Arc<Mutex<Vec<ToolAnswer>>> {
        self.kept.clone()
    }

    fn keep(&self, tool: &str, args: &Value, r: &Result<ToolData, SourceError>) {
        let (ok, answer) = match r {
            // Measured as text first: only an answer small enough is parsed to be redacted.
            Ok(d) => match serde_json::to_string(d) {
                Ok(text) if text.len() > MAX_KEPT_ANSWER => (
                    false,
                    format!(
                        "answer not kept for replay: {} bytes (at most {MAX_KEPT_ANSWER})",
                        text.len()
                    ),
                ),
                Ok(text) => match serde_json::from_str::<Value>(&text) {
                    Ok(mut v) => {
                        self.redactor.redact_json(&mut v);
                        (true, v.to_string())
                    }
                    Err(e) => {
                        tracing::warn!("tool answer of {tool} not kept: {e}");
                        return;
                    }
                },
                Err(e) => {
                    tracing::warn!("tool answer of {tool} not kept: {e}");
                    return;
                }
            },
            Err(e) => (false, self.redactor.redact(&e.to_string())),
        };
        if let Ok(mut k) = self.kept.lock() {
            k.push(ToolAnswer {
                tool: tool.to_string(),
                args: canonical(args),
                ok,
                answer,
            });
        }
    }
}

impl Backend for Recording {
    fn call<'a>(&'a self, tool: &'a str, args: &'a Value) -> BoxFuture<'a, Result<ToolData, SourceError>> {
        Box::pin(async move {
            let r = self.inner.call(tool, args).await;
            self.keep(tool, args, &r);
            r
        })
    }
    fn describe(&self) -> String {
        self.inner.describe()
    }
    fn now(&self) -> Timestamp {
        self.inner.now()
    }
}

/// Stores the answers [`Recording`] noted, once the investigation finishes (or
/// when the engine lets go of its sinks, whichever comes first).
pub struct KeepAnswers {
    store: Store,
    kept: Arc<Mutex<Vec<ToolAnswer>>>,
    trace: Option<TraceId>,
}

impl KeepAnswers {
    pub fn new(store: Store, kept: Arc<Mutex<Vec<ToolAnswer>>>) -> KeepAnswers {
        KeepAnswers {
            store,
            kept,
            trace: None,
        }
    }

    fn flush(&mut self) {
        let Some(trace) = self.trace else { return };
        let batch: Vec<ToolAnswer> = match self.kept.lock() {
            Ok(mut k) => std::mem::take(&mut *k),
            Err(_) => return,
        };
        if let Err(e) = self.store.save_answers(trace, &batch) {
            tracing::warn!("tool answers of {trace} not kept for replay: {e}");
        }
    }
}

impl EventSink for KeepAnswers {
    fn emit(&mut self, e: &Event) {
        match e.kind {
            EventKind::InvestigationStarted { .. } => self.trace = Some(e.trace_id),
            EventKind::InvestigationFinished { .. } => self.flush(),
            _ => {}
        }
    }
}

impl Drop for KeepAnswers {
    fn drop(&mut self) {
        self.flush();
    }
}

/// Answers tool calls from a trace's kept answers.
pub struct Replayed {
    trace: TraceId,
    now: Timestamp,
    answers: HashMap<(String, String), (bool, String)>,
    missed: Arc<AtomicUsize>,
}

impl Replayed {
    pub fn new(trace: TraceId, now: Timestamp, answers: Vec<ToolAnswer>) -> Replayed {
        Replayed {
            trace,
            now,
            answers: answers
                .into_iter()
                .map(|a| ((a.tool, a.args), (a.ok, a.answer)))
                .collect(),
            missed: Arc::default(),
        }
    }

    /// How many calls asked for what the original never called, as it grows.
    pub fn missed(&self) -> Arc<AtomicUsize> {
        self.missed.clone()
    }
}

impl Backend for Replayed {
    fn call<'a>(&'a self, tool: &'a str, args: &'a Value) -> BoxFuture<'a, Result<ToolData, SourceError>> {
        Box::pin(async move {
            let fail = |message: String| SourceError::Backend {
                endpoint: "replay".into(),
                message,
            };
            match self.answers.get(&(tool.to_string(), canonical(args))) {
                Some((true, json)) => {
                    serde_json::from_str(json).map_err(|e| fail(format!("the recorded answer does not read back: {e}")))
                }
                Some((false, error)) => Err(fail(format!("as recorded: {error}"))),
                None => {
                    self.missed.fetch_add(1, Ordering::Relaxed);
                    Err(fail(NOT_RECORDED.into()))
                }
            }
        })
    }
    fn describe(&self) -> String {
        format!("replay:{}", self.trace)
    }
    fn now(&self) -> Timestamp {
        self.now
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::telemetry::MetricSeries;

    struct Fixed;
    impl Backend for Fixed {
        fn call<'a>(&'a self, tool: &'a str, _: &'a Value) -> BoxFuture<'a, Result<ToolData, SourceError>> {
            Box::pin(async move {
                match tool {
                    "lines" => Ok(ToolData::Lines(vec![
                        "token ghp_A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8 login ok".into(),
                    ])),
                    "series" => Ok(ToolData::Matrix(vec![MetricSeries {
                        labels: [("__name__".to_string(), "up".to_string())].into(),
                        samples: vec![(1000, 1.0), (2000, 0.5)],
                    }])),
                    other => Err(SourceError::UnknownTool(other.into())),
                }
            })
        }
        fn describe(&self) -> String {
            "fixed".into()
        }
        fn now(&self) -> Timestamp {
            Timestamp(5)
        }
    }

    #[tokio::test]
    async fn a_replay_answers_what_was_recorded_and_only_that() {
        let rec = Recording::new(Arc::new(Fixed));
        let args = serde_json::json!({"b": 1, "a": "x"});
        let series = rec.call("series", &args).await.unwrap();
        rec.call("lines", &args).await.unwrap();
        assert!(rec.call("nope", &args).await.is_err());
        let kept = rec.kept().lock().unwrap().clone();
        assert_eq!(kept.len(), 3);
        assert!(
            !kept[1].answer.contains("ghp_A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"),
            "{}",
            kept[1].answer
        );
        let replay = Replayed::new(TraceId::random(), Timestamp(5), kept);
        // The same arguments in another key order are the same call.
        let same = serde_json::json!({"a": "x", "b": 1});
        assert_eq!(replay.call("series", &same).await.unwrap(), series);
        let e = replay.call("nope", &same).await.unwrap_err().to_string();
        assert!(e.contains("as recorded") && e.contains("nope"), "{e}");
        let e = replay.call("series", &serde_json::json!({"a": "y"})).await.unwrap_err();
        assert!(e.to_string().contains(NOT_RECORDED), "{e}");
        assert_eq!(replay.missed().load(Ordering::Relaxed), 1);
    }
}
