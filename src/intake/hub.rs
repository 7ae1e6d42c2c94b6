//! The investigations the server runs now, as its API sees them: for each
//! trace, where its commands go, its events so far, a broadcast of what
//! happens next (events, feedback, who is attached), and the authors attached.
//! The worker pool opens a trace before its investigation starts and closes
//! it once the investigation has ended and its events are stored.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use bytes::Bytes;
use tokio::sync::{broadcast, mpsc};

use crate::model::{Authored, Event, EventKind, Feedback, InvestigationStatus, TraceId};
use crate::tools::sanitize::json_safe;

/// Frames a client may fall behind by before it is disconnected (it resumes with `after=`).
const BACKLOG: usize = 4096;

/// One thing to tell the clients of a trace, its SSE frame written once for all of them.
#[derive(Clone, Debug)]
pub enum Frame {
    Event(Arc<EventFrame>),
    Feedback {
        id: String,
        bytes: Bytes,
    },
    Presence(Bytes),
    /// The investigation ended without an `investigation_finished` event (it failed to run).
    Closed(InvestigationStatus),
}

/// An event and its SSE frame, written the first time a client needs it (so
/// an investigation nobody follows pays nothing for it).
#[derive(Debug)]
pub struct EventFrame {
    pub seq: u64,
    /// The final status when this is `investigation_finished`.
    pub finished: Option<InvestigationStatus>,
    event: Event,
    bytes: OnceLock<Bytes>,
}

impl EventFrame {
    /// `id: <seq>`, `event: event`, and the event as `run --json` prints it.
    pub fn bytes(&self) -> Bytes {
        self.bytes
            .get_or_init(|| {
                Bytes::from(format!(
                    "id: {}\nevent: event\ndata: {}\n\n",
                    self.seq,
                    json_safe(&self.event.to_json_line())
                ))
            })
            .clone()
    }
}

/// The frame of an event.
pub fn event_frame(e: &Event) -> Frame {
    let finished = match &e.kind {
        EventKind::InvestigationFinished { status, .. } => Some(*status),
        _ => None,
    };
    Frame::Event(Arc::new(EventFrame {
        seq: e.seq,
        finished,
        event: e.clone(),
        bytes: OnceLock::new(),
    }))
}

/// The SSE frame of a feedback record: its JSON as `inquest feedback --json` gives it.
pub fn feedback_frame(f: &Feedback) -> Frame {
    Frame::Feedback {
        id: f.id.clone(),
        bytes: Bytes::from(format!("event: feedback\ndata: {}\n\n", feedback_json(f))),
    }
}

/// A feedback record as one line of JSON, secrets redacted and control characters escaped.
pub fn feedback_json(f: &Feedback) -> String {
    let mut v = serde_json::to_value(f).unwrap_or_default();
    crate::tools::redact::Redactor::new().redact_json(&mut v);
    crate::tools::sanitize::json_line(&v)
}

/// The `end` frame.
pub fn end_frame(status: InvestigationStatus) -> Bytes {
    Bytes::from(format!(
        "event: end\ndata: {}\n\n",
        serde_json::json!({"status": status.as_str()})
    ))
}

/// A running (or queued) investigation.
pub struct Live {
    inner: Mutex<Inner>,
    tx: broadcast::Sender<Frame>,
}

#[derive(Default)]
struct Inner {
    /// Every event frame so far, in seq order.
    history: Vec<Frame>,
    /// Set once the engine runs.
    orders: Option<mpsc::UnboundedSender<Authored>>,
    /// Authors attached, with how many streams each has open.
    attached: BTreeMap<String, usize>,
}

/// Why a command was not delivered.
#[derive(Debug, PartialEq)]
pub enum NotDelivered {
    /// Queued: the engine has not started.
    NotStarted,
    /// The engine has ended.
    Ended,
}

impl Live {
    fn new() -> Live {
        Live {
            inner: Mutex::default(),
            tx: broadcast::channel(BACKLOG).0,
        }
    }

    fn inner(&self) -> MutexGuard<'_, Inner> {
        // Every change under the lock is a single push or insert: a panic leaves it whole.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Keeps and broadcasts one event.
    pub fn publish(&self, e: &Event) {
        let frame = event_frame(e);
        let mut inner = self.inner();
        inner.history.push(frame.clone());
        // No receiver is not an error: nobody is attached.
        let _ = self.tx.send(frame);
    }

    /// Broadcasts a frame that is not an event (feedback).
    pub fn tell(&self, frame: Frame) {
        let _inner = self.inner();
        let _ = self.tx.send(frame);
    }

    /// Where the running engine takes commands.
    pub fn running(&self, orders: mpsc::UnboundedSender<Authored>) {
        self.inner().orders = Some(orders);
    }

    /// Hands a command to the engine.
    pub fn order(&self, order: Authored) -> Result<(), NotDelivered> {
        match &self.inner().orders {
            None => Err(NotDelivered::NotStarted),
            Some(tx) => tx.send(order).map_err(|_| NotDelivered::Ended),
        }
    }

    /// The events so far after `after`, and the feed of what follows, taken
    /// together: nothing falls between them.
    pub fn subscribe(&self, after: u64) -> (Vec<Frame>, broadcast::Receiver<Frame>) {
        let inner = self.inner();
        let rx = self.tx.subscribe();
        // Seqs start at 1 and have no gaps: the history's index is seq - 1.
        let from = usize::try_from(after).unwrap_or(usize::MAX).min(inner.history.len());
        (inner.history[from..].to_vec(), rx)
    }

    /// Attaches `author` (broadcasting who is attached now) until the guard drops.
    pub fn attach(self: &Arc<Self>, author: &str) -> (Attached, Bytes) {
        let mut inner = self.inner();
        *inner.attached.entry(author.to_string()).or_default() += 1;
        let frame = presence(&inner.attached);
        let _ = self.tx.send(Frame::Presence(frame.clone()));
        (
            Attached {
                live: self.clone(),
                author: author.to_string(),
            },
            frame,
        )
    }
}

fn presence(attached: &BTreeMap<String, usize>) -> Bytes {
    let names: Vec<&String> = attached.keys().collect();
    Bytes::from(format!(
        "event: presence\ndata: {}\n\n",
        serde_json::json!({"attached": names})
    ))
}

/// An attached stream; dropping it detaches its author.
pub struct Attached {
    live: Arc<Live>,
    author: String,
}

impl Drop for Attached {
    fn drop(&mut self) {
        let mut inner = self.live.inner();
        if let Some(n) = inner.attached.get_mut(&self.author) {
            *n -= 1;
            if *n == 0 {
                inner.attached.remove(&self.author);
            }
        }
        let frame = presence(&inner.attached);
        let _ = self.live.tx.send(Frame::Presence(frame));
    }
}

/// The running investigations by trace.
#[derive(Default)]
pub struct Hub {
    live: Mutex<HashMap<TraceId, Arc<Live>>>,
}

impl Hub {
    fn map(&self) -> MutexGuard<'_, HashMap<TraceId, Arc<Live>>> {
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The trace's entry, made if it has none (a worker starting it, or a client
    /// following a trace still queued).
    pub fn open(&self, trace: TraceId) -> Arc<Live> {
        self.map().entry(trace).or_insert_with(|| Arc::new(Live::new())).clone()
    }

    pub fn get(&self, trace: TraceId) -> Option<Arc<Live>> {
        self.map().get(&trace).cloned()
    }

    /// Forgets the trace once its investigation has ended and is stored;
    /// streams still open end with `status` if they have not seen the end.
    pub fn close(&self, trace: TraceId, status: InvestigationStatus) {
        if let Some(live) = self.map().remove(&trace) {
            live.tell(Frame::Closed(status));
            live.inner().orders = None;
        }
    }

    /// Forgets an entry a client opened for a trace that turned out not to be queued.
    pub fn discard(&self, trace: TraceId, opened: &Arc<Live>) {
        let mut map = self.map();
        if let Some(l) = map.get(&trace)
            && Arc::ptr_eq(l, opened)
            && l.inner().orders.is_none()
            && l.inner().history.is_empty()
        {
            map.remove(&trace);
        }
    }

    /// Tells a running trace's clients of feedback just saved.
    pub fn feedback(&self, f: &Feedback) {
        if let Some(live) = self.get(f.trace_id) {
            live.tell(feedback_frame(f));
        }
    }

    /// Traces running or queued with a client following, for the metrics.
    pub fn following(&self) -> usize {
        self.map().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Command, EVENT_VERSION, SpanId, Timestamp};

    fn thought(trace: TraceId, seq: u64) -> Event {
        Event {
            v: EVENT_VERSION,
            trace_id: trace,
            span_id: SpanId::random(),
            parent_span_id: None,
            seq,
            at: Timestamp::from_secs(1_772_359_300),
            kind: EventKind::ThoughtDelta {
                text: "\u{1b}[2J".into(),
            },
        }
    }

    fn seq(f: &Frame) -> u64 {
        match f {
            Frame::Event(e) => e.seq,
            other => panic!("not an event: {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_subscriber_gets_the_history_after_its_seq_then_the_feed() {
        let hub = Hub::default();
        let t = TraceId::random();
        let live = hub.open(t);
        for n in 1..=5 {
            live.publish(&thought(t, n));
        }
        let (history, mut feed) = live.subscribe(3);
        assert_eq!(history.iter().map(seq).collect::<Vec<_>>(), [4, 5]);
        live.publish(&thought(t, 6));
        let Frame::Event(e) = feed.recv().await.unwrap() else {
            panic!("not the next event")
        };
        let text = String::from_utf8(e.bytes().to_vec()).unwrap();
        assert!(text.starts_with("id: 6\nevent: event\ndata: {"), "{text}");
        assert!(!text.contains('\u{1b}'), "control characters escaped: {text}");
        assert!(text.ends_with("}\n\n"));
    }

    #[tokio::test]
    async fn presence_lists_each_author_once_until_their_last_stream_goes() {
        let hub = Hub::default();
        let live = hub.open(TraceId::random());
        let (a1, _) = live.attach("alice");
        let (_a2, _) = live.attach("alice");
        let (_b, now) = live.attach("bob");
        assert_eq!(
            &now[..],
            b"event: presence\ndata: {\"attached\":[\"alice\",\"bob\"]}\n\n"
        );
        let (_, mut feed) = live.subscribe(0);
        drop(a1);
        let Frame::Presence(p) = feed.recv().await.unwrap() else {
            panic!()
        };
        assert!(
            String::from_utf8_lossy(&p).contains("[\"alice\",\"bob\"]"),
            "alice still has a stream"
        );
    }

    #[tokio::test]
    async fn commands_reach_the_engine_only_while_it_runs() {
        let hub = Hub::default();
        let t = TraceId::random();
        let live = hub.open(t);
        let order = || Authored {
            command: Command::Stop,
            author: Some("alice".into()),
        };
        assert_eq!(live.order(order()), Err(NotDelivered::NotStarted));
        let (tx, mut rx) = mpsc::unbounded_channel();
        live.running(tx);
        assert_eq!(live.order(order()), Ok(()));
        assert_eq!(rx.recv().await.unwrap().author.as_deref(), Some("alice"));
        drop(rx);
        assert_eq!(live.order(order()), Err(NotDelivered::Ended));
        hub.close(t, InvestigationStatus::Done);
        assert!(hub.get(t).is_none());
    }
}
