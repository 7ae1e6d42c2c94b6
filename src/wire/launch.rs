//! Starting an investigation the same way from everywhere (a headless run, the
//! cockpit, the server, eval): the guidance past grades and shared patterns
//! left, the strategies' records the engine shares the budget by, the store
//! as a sink, then the engine.

use std::sync::Arc;

use crate::engine::{EventSink, Ids, Running, Setup, start};
use crate::model::{SpanId, TraceId};
use crate::store::{SaveStatus, Store, StoreWriter};

/// What to start and where its events go besides the store.
pub struct Launch {
    pub setup: Setup,
    /// Where the events are kept; `None` runs without saving (eval, or no store to be had).
    pub store: Option<Store>,
    /// Whether what past grades of this alert taught applies (guidance, shared
    /// patterns, the budget's split by strategy record): off for `--no-learned` and eval.
    pub learned: bool,
    /// Other sinks: stdout, a cockpit's channel, a progress printer.
    pub sinks: Vec<Box<dyn EventSink>>,
    /// Whether the events were saved: the store's first failure lands here.
    pub saved: SaveStatus,
    /// With a store: keep what the tools answered, for `inquest replay` (default on).
    pub keep_answers: bool,
}

impl Launch {
    pub fn new(setup: Setup) -> Launch {
        Launch {
            setup,
            store: None,
            learned: false,
            sinks: Vec::new(),
            saved: SaveStatus::new(),
            keep_answers: true,
        }
    }
    pub fn keep_answers(mut self, on: bool) -> Launch {
        self.keep_answers = on;
        self
    }
    /// Where a failure to save this investigation will be told: check it
    /// once the run is over (the store writer has finished by then).
    pub fn save_status(&self) -> SaveStatus {
        self.saved.clone()
    }
    pub fn store(mut self, store: Option<Store>) -> Launch {
        self.store = store;
        self
    }
    pub fn learned(mut self, on: bool) -> Launch {
        self.learned = on;
        self
    }
    /// Gives the investigation a trace id chosen beforehand (the server answers
    /// it before the investigation starts).
    pub fn trace(mut self, id: TraceId) -> Launch {
        self.setup.ids = Arc::new(KnownTrace(id, self.setup.ids.clone()));
        self
    }
    pub fn sink(mut self, sink: impl EventSink + 'static) -> Launch {
        self.sinks.push(Box::new(sink));
        self
    }
}

/// Starts the investigation on the current tokio runtime.
pub fn launch(l: Launch) -> Running {
    let Launch {
        mut setup,
        store,
        learned,
        sinks: extra,
        saved,
        keep_answers,
    } = l;
    let mut sinks: Vec<Box<dyn EventSink>> = Vec::new();
    if let Some(store) = store {
        if learned {
            match store.learned(&setup.alert.name, setup.alert.service()) {
                Ok(lines) => setup.learned = lines,
                Err(e) => tracing::warn!("learned guidance: {e}"),
            }
            match store.strategy_records(&setup.alert.name) {
                Ok(records) => setup.records = records,
                Err(e) => tracing::warn!("strategy records: {e}"),
            }
            match store.shared_for(&setup.alert) {
                Ok((lines, records)) => {
                    setup.shared_patterns = lines;
                    setup.records.extend(records);
                }
                Err(e) => tracing::warn!("shared patterns: {e}"),
            }
        }
        // What the tools answered is kept beside the events, for `inquest replay`.
        match keep_answers.then(|| Store::open(store.path())) {
            None => {}
            Some(Ok(second)) => {
                let recording = super::record::Recording::new(setup.guard.backend().clone());
                sinks.push(Box::new(super::record::KeepAnswers::new(second, recording.kept())));
                setup.guard = Arc::new(setup.guard.with_backend(Arc::new(recording)));
            }
            Some(Err(e)) => tracing::warn!("tool answers not kept for replay: {e}"),
        }
        sinks.push(Box::new(StoreWriter::spawn_reporting(store, saved)));
    }
    sinks.extend(extra);
    start(setup, sinks)
}

/// A trace id fixed in advance; span ids from the ids it wraps.
struct KnownTrace(TraceId, Arc<dyn Ids>);

impl Ids for KnownTrace {
    fn trace(&self) -> TraceId {
        self.0
    }
    fn span(&self) -> SpanId {
        self.1.span()
    }
}
