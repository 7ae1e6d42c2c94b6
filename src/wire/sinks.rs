//! Where events go: the store, stdout as JSON lines, a channel to the cockpit,
//! memory (eval, tests), a function (progress printers).

use std::io::Write;
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use crate::engine::EventSink;
use crate::model::Event;
use crate::store::StoreWriter;

/// One JSON object per line on stdout.
pub struct JsonLines;

impl EventSink for JsonLines {
    fn emit(&mut self, e: &Event) {
        let mut out = std::io::stdout().lock();
        // A closed stdout (a pipe into `head`) must not stop the investigation.
        // Control and bidi characters in untrusted text go out as `\u` escapes.
        let _ = writeln!(out, "{}", crate::tools::sanitize::json_safe(&e.to_json_line()));
        let _ = out.flush();
    }
}

impl EventSink for StoreWriter {
    fn emit(&mut self, e: &Event) {
        self.send(e.clone());
    }
}

/// Forwards events to a channel (the cockpit, tests).
pub struct Channel(pub mpsc::UnboundedSender<Event>);

impl EventSink for Channel {
    fn emit(&mut self, e: &Event) {
        let _ = self.0.send(e.clone());
    }
}

/// Keeps every event in memory.
#[derive(Clone, Default)]
pub struct Collect(pub Arc<Mutex<Vec<Event>>>);

impl EventSink for Collect {
    fn emit(&mut self, e: &Event) {
        if let Ok(mut v) = self.0.lock() {
            v.push(e.clone());
        }
    }
}

impl Collect {
    pub fn events(&self) -> Vec<Event> {
        self.0.lock().map(|v| v.clone()).unwrap_or_default()
    }
}

/// Calls a function for each event (progress printers).
pub struct Each<F: FnMut(&Event) + Send>(pub F);

impl<F: FnMut(&Event) + Send> EventSink for Each<F> {
    fn emit(&mut self, e: &Event) {
        (self.0)(e)
    }
}
