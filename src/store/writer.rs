//! A background thread that appends events in batches, so the engine never
//! waits on the disk. A batch is written when 256 events are queued or 50 ms
//! after the first unwritten one, whichever comes first; a crash loses at most
//! that much. A write that fails is never dropped: the first failure is kept
//! in a [`SaveStatus`] the caller holds, and [`StoreWriter::finish`] returns it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender, SyncSender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::db::Store;
use super::error::StoreError;
use crate::model::Event;

/// Events queued before a batch is written at once.
pub const BATCH_MAX: usize = 256;
/// How long the first unwritten event waits at most.
pub const BATCH_DELAY: Duration = Duration::from_millis(50);

enum Msg {
    Event(Box<Event>),
    Flush(SyncSender<()>),
}

/// Whether what a writer was sent is saved: the first failure, shared between
/// the writer's thread and whoever started it (the run command, the cockpit,
/// the server), so that an unsaved investigation is never reported as saved.
#[derive(Clone, Debug, Default)]
pub struct SaveStatus(Arc<Mutex<Option<String>>>);

impl SaveStatus {
    pub fn new() -> SaveStatus {
        SaveStatus::default()
    }

    /// The first failure, naming the store and the cause; `None` while every write succeeded.
    pub fn error(&self) -> Option<String> {
        self.0
            .lock()
            .map(|e| e.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    /// Records a failure; the first one is kept.
    pub fn fail(&self, msg: String) {
        let mut slot = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if slot.is_none() {
            *slot = Some(msg);
        }
    }
}

/// Owns a [`Store`] on a dedicated thread and appends what it is sent.
pub struct StoreWriter {
    tx: Option<Sender<Msg>>,
    thread: Option<JoinHandle<Result<(), StoreError>>>,
    healthy: Arc<AtomicBool>,
    status: SaveStatus,
    path: std::path::PathBuf,
}

impl StoreWriter {
    pub fn spawn(store: Store) -> StoreWriter {
        StoreWriter::spawn_tuned(store, BATCH_MAX, BATCH_DELAY, SaveStatus::new())
    }

    /// A writer whose failures also land in `status`.
    pub fn spawn_reporting(store: Store, status: SaveStatus) -> StoreWriter {
        StoreWriter::spawn_tuned(store, BATCH_MAX, BATCH_DELAY, status)
    }

    fn spawn_tuned(store: Store, max: usize, delay: Duration, status: SaveStatus) -> StoreWriter {
        let (tx, rx) = mpsc::channel();
        let healthy = Arc::new(AtomicBool::new(true));
        let path = store.path().to_path_buf();
        let flag = Arc::clone(&healthy);
        let slot = status.clone();
        let thread = std::thread::Builder::new()
            .name("inquest-store".into())
            .spawn(move || run(store, rx, flag, slot, max, delay));
        match thread {
            Ok(thread) => StoreWriter {
                tx: Some(tx),
                thread: Some(thread),
                healthy,
                status,
                path,
            },
            // No thread (the OS refused one): every send is dropped and finish
            // reports it.
            Err(e) => {
                healthy.store(false, Ordering::Relaxed);
                status.fail(format!("trace store {}: no writer thread: {e}", path.display()));
                StoreWriter {
                    tx: None,
                    thread: None,
                    healthy,
                    status,
                    path,
                }
            }
        }
    }

    /// Where this writer's failures are kept.
    pub fn status(&self) -> SaveStatus {
        self.status.clone()
    }

    /// Queues one event. Never blocks on the disk.
    pub fn send(&self, e: Event) {
        if let Some(tx) = &self.tx {
            // Fails only when the thread is gone; finish reports that.
            let _ = tx.send(Msg::Event(Box::new(e)));
        }
    }

    /// Blocks until every event sent so far is committed (or failed).
    pub fn flush(&self) {
        if let Some(tx) = &self.tx {
            let (ack, done) = mpsc::sync_channel(1);
            if tx.send(Msg::Flush(ack)).is_ok() {
                let _ = done.recv();
            }
        }
    }

    /// False once a write has failed; [`finish`](Self::finish) says why.
    pub fn healthy(&self) -> bool {
        self.healthy.load(Ordering::Relaxed)
    }

    /// Writes what is queued, stops the thread and reports the first write error.
    pub fn finish(mut self) -> Result<(), StoreError> {
        self.stop()
    }

    fn stop(&mut self) -> Result<(), StoreError> {
        // Closing the channel tells the thread to write what is left and end.
        self.tx.take();
        let result = match self.thread.take() {
            Some(t) => t.join().unwrap_or_else(|_| {
                Err(StoreError::WriterDied {
                    path: self.path.clone(),
                })
            }),
            None if self.healthy() => Ok(()),
            None => Err(StoreError::WriterDied {
                path: self.path.clone(),
            }),
        };
        if let Err(e) = &result {
            self.status.fail(e.to_string());
        }
        result
    }
}

impl Drop for StoreWriter {
    /// A writer dropped without `finish` still writes what it was sent.
    fn drop(&mut self) {
        if self.thread.is_some() {
            let _ = self.stop();
        }
    }
}

fn run(
    store: Store,
    rx: Receiver<Msg>,
    healthy: Arc<AtomicBool>,
    status: SaveStatus,
    max: usize,
    delay: Duration,
) -> Result<(), StoreError> {
    let mut batch = Batch {
        store,
        pending: Vec::with_capacity(max),
        first_error: None,
        healthy,
        status,
    };
    let mut deadline: Option<Instant> = None;
    loop {
        let msg = match deadline {
            None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
            Some(d) => rx.recv_timeout(d.saturating_duration_since(Instant::now())),
        };
        match msg {
            Ok(Msg::Event(e)) => {
                if batch.pending.is_empty() {
                    deadline = Some(Instant::now() + delay);
                }
                batch.pending.push(*e);
                if batch.pending.len() >= max {
                    batch.write();
                    deadline = None;
                }
            }
            Ok(Msg::Flush(ack)) => {
                batch.write();
                deadline = None;
                let _ = ack.send(());
            }
            Err(RecvTimeoutError::Timeout) => {
                batch.write();
                deadline = None;
            }
            Err(RecvTimeoutError::Disconnected) => {
                batch.write();
                break;
            }
        }
    }
    batch.first_error.map_or(Ok(()), Err)
}

struct Batch {
    store: Store,
    pending: Vec<Event>,
    first_error: Option<StoreError>,
    healthy: Arc<AtomicBool>,
    status: SaveStatus,
}

impl Batch {
    fn write(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        if self.store.append(&self.pending).is_err() {
            // One bad event must not cost its neighbours: write them one by one
            // and report those that still fail.
            for ev in std::mem::take(&mut self.pending) {
                if let Err(e) = self.store.append(std::slice::from_ref(&ev)) {
                    self.fail(e);
                }
            }
        }
        self.pending.clear();
    }

    fn fail(&mut self, e: StoreError) {
        self.healthy.store(false, Ordering::Relaxed);
        self.status.fail(e.to_string());
        if self.first_error.is_none() {
            self.first_error = Some(e);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{SpanId, Timestamp, TraceId};
    use crate::store::fixtures::{TempDir, Trace, realistic};

    #[test]
    fn a_failed_write_is_kept_in_the_save_status_and_returned_by_finish() {
        let dir = TempDir::new("writer-fails");
        let store = Store::open(dir.db()).unwrap();
        // A connection that refuses every write, as a full disk or a read-only file does.
        store.conn().execute_batch("PRAGMA query_only = ON").unwrap();
        let status = SaveStatus::new();
        let w = StoreWriter::spawn_reporting(store, status.clone());
        let trace = TraceId::random();
        for e in realistic(trace) {
            w.send(e);
        }
        let err = w.finish().unwrap_err().to_string();
        let told = status.error().expect("the failure is kept");
        assert!(told.contains(&dir.db().display().to_string()), "{told}");
        assert!(
            err.contains("readonly") || err.contains("read-only") || err.contains("query_only"),
            "{err}"
        );
    }

    #[test]
    fn finish_writes_everything_in_order() {
        let dir = TempDir::new("writer-finish");
        let trace = TraceId::random();
        let mut t = Trace::new(trace, Timestamp::from_secs(100));
        let branch = SpanId::random();
        let mut sent = vec![t.started("Load", "checkout")];
        sent.extend((0..1000).map(|i| t.thought(branch, &format!("token {i} "))));
        let w = StoreWriter::spawn(Store::open(dir.db()).unwrap());
        for e in &sent {
            w.send(e.clone());
        }
        w.finish().unwrap();
        let store = Store::open(dir.db()).unwrap();
        assert_eq!(store.events(trace).unwrap(), sent);
    }

    #[test]
    fn batches_commit_on_their_own_and_on_flush() {
        let dir = TempDir::new("writer-batches");
        let reader = Store::open(dir.db()).unwrap();
        let trace = TraceId::random();
        let events = realistic(trace);
        let w = StoreWriter::spawn(Store::open(dir.db()).unwrap());

        // Timer: a few events are visible to another connection soon after,
        // with no flush.
        for e in &events[..3] {
            w.send(e.clone());
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while reader.events(trace).unwrap().len() < 3 {
            assert!(Instant::now() < deadline, "the timed batch never committed");
            std::thread::sleep(Duration::from_millis(10));
        }

        // Flush: committed by the time it returns.
        for e in &events[3..] {
            w.send(e.clone());
        }
        w.flush();
        assert_eq!(reader.events(trace).unwrap(), events);
        assert!(w.healthy());
        w.finish().unwrap();
    }

    #[test]
    fn a_full_batch_commits_without_waiting() {
        let dir = TempDir::new("writer-full");
        let reader = Store::open(dir.db()).unwrap();
        let trace = TraceId::random();
        let mut t = Trace::new(trace, Timestamp::from_secs(100));
        let branch = SpanId::random();
        // A timer that never fires: only a full batch can commit.
        let w = StoreWriter::spawn_tuned(
            Store::open(dir.db()).unwrap(),
            BATCH_MAX,
            Duration::from_secs(3600),
            SaveStatus::new(),
        );
        w.send(t.started("Load", "checkout"));
        for i in 0..(BATCH_MAX * 2 - 1 + 10) {
            w.send(t.thought(branch, &i.to_string()));
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while reader.events(trace).unwrap().len() < BATCH_MAX * 2 {
            assert!(Instant::now() < deadline, "full batches never committed");
            std::thread::sleep(Duration::from_millis(10));
        }
        // The last 10 wait for the timer (or a flush).
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(reader.events(trace).unwrap().len(), BATCH_MAX * 2);
        w.flush();
        assert_eq!(reader.events(trace).unwrap().len(), BATCH_MAX * 2 + 10);
        drop(w);
    }

    #[test]
    fn a_write_error_is_reported_by_finish_and_spares_the_rest() {
        let dir = TempDir::new("writer-error");
        let trace = TraceId::random();
        let events = realistic(trace);
        let w = StoreWriter::spawn(Store::open(dir.db()).unwrap());
        w.send(events[0].clone());
        w.send(events[1].clone());
        w.flush();
        // A duplicate in the middle of a batch.
        w.send(events[2].clone());
        w.send(events[1].clone());
        w.send(events[3].clone());
        w.flush();
        assert!(!w.healthy());
        let err = w.finish().unwrap_err();
        assert!(
            matches!(err, StoreError::DuplicateEvent { seq, .. } if seq == events[1].seq),
            "{err}"
        );
        let store = Store::open(dir.db()).unwrap();
        assert_eq!(store.events(trace).unwrap(), events[..4]);
    }

    #[test]
    fn dropping_the_writer_still_writes() {
        let trace = TraceId::random();
        let events = realistic(trace);
        let dir = TempDir::new("writer-drop");
        {
            let w = StoreWriter::spawn(Store::open(dir.db()).unwrap());
            for e in &events {
                w.send(e.clone());
            }
        }
        assert_eq!(Store::open(dir.db()).unwrap().events(trace).unwrap(), events);
    }
}
