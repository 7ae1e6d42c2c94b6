//! The SQLite trace store: opening (WAL, schema migration), appending events in
//! one transaction, and reading a trace back exactly as it was written.
//!
//! Evidence bodies may be large, so each is stored once in `evidence`; the
//! `evidence_added` event in `events` keeps everything but the body, and
//! [`Store::events`] puts the body back.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, Transaction, params};

use super::error::StoreError;
use super::liveness;
use super::schema::{self, Migrated};
use crate::model::{Alert, Event, EventKind, Evidence, RootCause, SpanId, TraceId};

/// The database file name inside the data directory.
pub const DB_FILE: &str = "inquest.db";

/// How long a writer waits for another connection's lock before giving up.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

/// The trace store. One connection, shared behind a mutex so the store can be
/// used from several threads; open a second `Store` on the same path to read
/// while a [`StoreWriter`](super::StoreWriter) owns the first (WAL lets readers
/// and one writer work at once).
pub struct Store {
    conn: Mutex<Connection>,
    path: PathBuf,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

impl Store {
    /// `$INQUEST_DATA_DIR/inquest.db` if that variable is set, else `inquest.db`
    /// in the platform data directory. The directory is created.
    pub fn default_path() -> Result<PathBuf, StoreError> {
        default_path_from(std::env::var_os("INQUEST_DATA_DIR"))
    }

    /// Opens (creating if needed) the store at `path`, in WAL mode, and migrates
    /// its schema.
    pub fn open(path: impl AsRef<Path>) -> Result<Store, StoreError> {
        let path = path.as_ref().to_path_buf();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        refuse_damaged(&path)?;
        // Another process creating or migrating the file can hold it for a moment in ways
        // SQLite reports as busy without waiting (switching to WAL): try again, briefly.
        let started = std::time::Instant::now();
        loop {
            let conn = Connection::open(&path).map_err(|source| StoreError::Open {
                path: path.clone(),
                source,
            })?;
            match Store::init(conn, path.clone(), true) {
                Err(StoreError::Open { source, .. }) if is_busy(&source) && started.elapsed() < BUSY_TIMEOUT => {
                    std::thread::sleep(Duration::from_millis(25));
                }
                other => return other,
            }
        }
    }

    /// A store that lives in memory only, for tests and throwaway runs.
    pub fn open_in_memory() -> Result<Store, StoreError> {
        let path = PathBuf::from(":memory:");
        let conn = Connection::open_in_memory().map_err(|source| StoreError::Open {
            path: path.clone(),
            source,
        })?;
        Store::init(conn, path, false)
    }

    fn init(mut conn: Connection, path: PathBuf, wal: bool) -> Result<Store, StoreError> {
        let open_err = |source| StoreError::Open {
            path: path.clone(),
            source,
        };
        conn.busy_timeout(BUSY_TIMEOUT).map_err(open_err)?;
        if wal {
            let mode: String = conn
                .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))
                .map_err(open_err)?;
            if !mode.eq_ignore_ascii_case("wal") {
                return Err(open_err(rusqlite::Error::InvalidParameterName(format!(
                    "journal_mode stayed {mode}, WAL is needed"
                ))));
            }
        }
        if wal {
            quick_check(&conn, &path)?;
        }
        conn.pragma_update(None, "synchronous", "NORMAL").map_err(open_err)?;
        conn.pragma_update(None, "foreign_keys", "ON").map_err(open_err)?;
        match schema::migrate(&mut conn).map_err(open_err)? {
            Migrated::Current => {}
            Migrated::Newer(found) => {
                return Err(StoreError::NewerSchema {
                    path,
                    found,
                    supported: schema::SCHEMA_VERSION,
                });
            }
        }
        Ok(Store {
            conn: Mutex::new(conn),
            path,
        })
    }

    /// The database file this store reads and writes.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(super) fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves the connection usable: every
        // write is one transaction that rolled back when its guard dropped.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn sql_err(&self, source: rusqlite::Error) -> StoreError {
        StoreError::Sql {
            path: self.path.clone(),
            source,
        }
    }

    pub(super) fn trace_err(&self, trace: TraceId, source: rusqlite::Error) -> StoreError {
        StoreError::TraceSql {
            path: self.path.clone(),
            trace,
            source,
        }
    }

    /// Appends events in one transaction: all of them are stored, or none.
    /// Keeps the `investigations` row in step (started, conclusion, finished).
    /// An event whose (trace, seq) is already stored is an error.
    pub fn append(&self, events: &[Event]) -> Result<(), StoreError> {
        if events.is_empty() {
            return Ok(());
        }
        let mut conn = self.conn();
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| self.sql_err(e))?;
        let mut known = HashSet::new();
        for e in events {
            self.append_one(&tx, e, &mut known)?;
        }
        tx.commit().map_err(|e| self.sql_err(e))
    }

    fn append_one(&self, tx: &Transaction<'_>, e: &Event, known: &mut HashSet<TraceId>) -> Result<(), StoreError> {
        if let EventKind::InvestigationStarted {
            alert,
            bundle_id,
            reasoner,
            source,
            ..
        } = &e.kind
        {
            self.insert_investigation(tx, e, alert, bundle_id, reasoner, source)?;
            known.insert(e.trace_id);
        } else if !known.contains(&e.trace_id) {
            self.require_started(tx, e)?;
            known.insert(e.trace_id);
        }
        self.insert_event(tx, e)?;
        self.append_extras(tx, e)
    }

    /// The `investigations` row for a start; a second start of a trace is refused,
    /// as a duplicate if this very event is stored already.
    fn insert_investigation(
        &self,
        tx: &Transaction<'_>,
        e: &Event,
        alert: &Alert,
        bundle_id: &str,
        reasoner: &str,
        source: &str,
    ) -> Result<(), StoreError> {
        let trace = e.trace_id;
        let tid = trace.to_string();
        let err = |source| self.trace_err(trace, source);
        let inserted = tx
            .prepare_cached(
                "INSERT INTO investigations (trace_id, started_at, alert_name, service, \
                 source, reasoner, bundle_id, status, pid, pid_start) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'running', ?8, ?9) \
                 ON CONFLICT (trace_id) DO NOTHING",
            )
            .and_then(|mut st| {
                st.execute(params![
                    tid,
                    e.at.0,
                    alert.name,
                    alert.service(),
                    source,
                    reasoner,
                    bundle_id,
                    std::process::id() as i64,
                    liveness::own_start_token() as i64,
                ])
            })
            .map_err(err)?;
        if inserted == 0 {
            return Err(if self.event_exists(tx, &tid, e.seq as i64).map_err(err)? {
                StoreError::DuplicateEvent {
                    path: self.path.clone(),
                    trace,
                    seq: e.seq,
                }
            } else {
                StoreError::AlreadyStarted {
                    path: self.path.clone(),
                    trace,
                    seq: e.seq,
                }
            });
        }
        Ok(())
    }

    /// Any later event needs its investigation stored, in this append or before.
    fn require_started(&self, tx: &Transaction<'_>, e: &Event) -> Result<(), StoreError> {
        let trace = e.trace_id;
        let exists = tx
            .prepare_cached("SELECT 1 FROM investigations WHERE trace_id = ?1")
            .and_then(|mut st| st.exists([trace.to_string()]))
            .map_err(|source| self.trace_err(trace, source))?;
        if !exists {
            return Err(StoreError::NotStarted {
                path: self.path.clone(),
                trace,
                seq: e.seq,
            });
        }
        Ok(())
    }

    /// The event itself; an evidence body goes to `evidence` instead.
    fn insert_event(&self, tx: &Transaction<'_>, e: &Event) -> Result<(), StoreError> {
        let trace = e.trace_id;
        let json = match &e.kind {
            EventKind::EvidenceAdded { evidence } if !evidence.body.is_empty() => {
                let mut stripped = e.clone();
                if let EventKind::EvidenceAdded { evidence } = &mut stripped.kind {
                    evidence.body.clear();
                }
                stripped.to_json_line()
            }
            _ => e.to_json_line(),
        };
        let inserted = tx
            .prepare_cached(
                "INSERT INTO events (trace_id, seq, span_id, parent_span_id, type, at, json) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT (trace_id, seq) DO NOTHING",
            )
            .and_then(|mut st| {
                st.execute(params![
                    trace.to_string(),
                    e.seq as i64,
                    e.span_id.to_string(),
                    e.parent_span_id.map(|s| s.to_string()),
                    e.kind.name(),
                    e.at.0,
                    json,
                ])
            })
            .map_err(|source| self.trace_err(trace, source))?;
        if inserted == 0 {
            return Err(StoreError::DuplicateEvent {
                path: self.path.clone(),
                trace,
                seq: e.seq,
            });
        }
        Ok(())
    }

    /// What an event keeps beside itself: an evidence body, or the investigation row's
    /// summary (top cause, tool calls, finish) for listing without a fold.
    fn append_extras(&self, tx: &Transaction<'_>, e: &Event) -> Result<(), StoreError> {
        let tid = e.trace_id.to_string();
        let err = |source| self.trace_err(e.trace_id, source);
        match &e.kind {
            EventKind::EvidenceAdded { evidence } => self.insert_evidence(tx, e, evidence)?,
            EventKind::ConclusionUpdated { root_causes, .. } => {
                let (svc, kind, conf) = top_cause(root_causes);
                tx.prepare_cached(
                    "UPDATE investigations SET top_service = ?2, top_kind = ?3, \
                     top_confidence = ?4 WHERE trace_id = ?1",
                )
                .and_then(|mut st| st.execute(params![tid, svc, kind, conf]))
                .map_err(err)?;
            }
            EventKind::BudgetUsed {
                tool_calls,
                tokens,
                estimated_tokens,
                cost_microusd,
                ..
            } => {
                // Running totals; a late, lower report does not lower them.
                tx.prepare_cached(
                    "UPDATE investigations SET tool_calls = ?2, tokens = MAX(tokens, ?3), \
                     estimated_tokens = MAX(estimated_tokens, ?4), cost_microusd = MAX(cost_microusd, ?5) \
                     WHERE trace_id = ?1",
                )
                .and_then(|mut st| {
                    st.execute(params![
                        tid,
                        *tool_calls as i64,
                        *tokens as i64,
                        *estimated_tokens as i64,
                        *cost_microusd as i64
                    ])
                })
                .map_err(err)?;
            }
            EventKind::InvestigationFinished {
                status,
                root_causes,
                tool_calls,
                ..
            } => {
                let (svc, kind, conf) = top_cause(root_causes);
                tx.prepare_cached(
                    "UPDATE investigations SET status = ?2, top_service = ?3, top_kind = ?4, \
                     top_confidence = ?5, tool_calls = ?6, finished_at = ?7 WHERE trace_id = ?1",
                )
                .and_then(|mut st| {
                    st.execute(params![
                        tid,
                        status.as_str(),
                        svc,
                        kind,
                        conf,
                        *tool_calls as i64,
                        e.at.0
                    ])
                })
                .map_err(err)?;
            }
            _ => {}
        }
        Ok(())
    }

    fn insert_evidence(&self, tx: &Transaction<'_>, e: &Event, evidence: &Evidence) -> Result<(), StoreError> {
        let inserted = tx
            .prepare_cached(
                "INSERT INTO evidence (trace_id, span_id, kind, syntax, summary, body) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
                 ON CONFLICT (trace_id, span_id) DO NOTHING",
            )
            .and_then(|mut st| {
                st.execute(params![
                    e.trace_id.to_string(),
                    e.span_id.to_string(),
                    crate::model::enum_name(&evidence.kind),
                    evidence.syntax,
                    evidence.summary,
                    evidence.body,
                ])
            })
            .map_err(|source| self.trace_err(e.trace_id, source))?;
        if inserted == 0 {
            return Err(StoreError::DuplicateEvidence {
                path: self.path.clone(),
                trace: e.trace_id,
                span: e.span_id,
                seq: e.seq,
            });
        }
        Ok(())
    }

    fn event_exists(&self, tx: &Transaction<'_>, tid: &str, seq: i64) -> rusqlite::Result<bool> {
        tx.prepare_cached("SELECT 1 FROM events WHERE trace_id = ?1 AND seq = ?2")?
            .exists(params![tid, seq])
    }

    /// A trace's events in `seq` order, evidence bodies restored: equal to what
    /// was appended. Empty for an unknown trace.
    pub fn events(&self, trace: TraceId) -> Result<Vec<Event>, StoreError> {
        let conn = self.conn();
        let err = |source| self.trace_err(trace, source);
        let mut st = conn
            .prepare_cached(
                "SELECT ev.seq, ev.json, e.body FROM events ev \
                 LEFT JOIN evidence e ON ev.type = 'evidence_added' \
                     AND e.trace_id = ev.trace_id AND e.span_id = ev.span_id \
                 WHERE ev.trace_id = ?1 ORDER BY ev.seq",
            )
            .map_err(err)?;
        let rows = st
            .query_map([trace.to_string()], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<String>>(2)?,
                ))
            })
            .map_err(err)?;
        let mut out = Vec::new();
        for row in rows {
            let (seq, json, body) = row.map_err(err)?;
            let mut ev = Event::from_json_line(&json).map_err(|e| StoreError::Corrupt {
                path: self.path.clone(),
                trace,
                seq,
                detail: e.to_string(),
            })?;
            if let (EventKind::EvidenceAdded { evidence }, Some(body)) = (&mut ev.kind, body)
                && evidence.body.is_empty()
            {
                evidence.body = body;
            }
            out.push(ev);
        }
        Ok(out)
    }

    /// The stored body of one piece of evidence.
    pub fn evidence_body(&self, trace: TraceId, span: SpanId) -> Result<Option<String>, StoreError> {
        self.conn()
            .prepare_cached("SELECT body FROM evidence WHERE trace_id = ?1 AND span_id = ?2")
            .and_then(|mut st| {
                st.query_row([trace.to_string(), span.to_string()], |r| r.get(0))
                    .optional()
            })
            .map_err(|e| self.trace_err(trace, e))
    }
}

/// [`Store::default_path`] given the value of `INQUEST_DATA_DIR`.
fn default_path_from(data_dir: Option<std::ffi::OsString>) -> Result<PathBuf, StoreError> {
    let dir = match data_dir.filter(|v| !v.is_empty()) {
        Some(d) => PathBuf::from(d),
        None => directories::ProjectDirs::from("dev", "inquest", "inquest")
            .ok_or(StoreError::NoDataDir)?
            .data_dir()
            .to_path_buf(),
    };
    std::fs::create_dir_all(&dir).map_err(|source| StoreError::CreateDir {
        path: dir.clone(),
        source,
    })?;
    Ok(dir.join(DB_FILE))
}

fn top_cause(root_causes: &[RootCause]) -> (Option<&str>, Option<&str>, Option<f64>) {
    match root_causes.first() {
        Some(rc) => (Some(rc.service.as_str()), Some(rc.kind.as_str()), Some(rc.confidence)),
        None => (None, None, None),
    }
}

/// A file that is there but is not an SQLite database, or is empty though
/// nobody is creating it, is damaged: opening it would make it a new, empty
/// store and lose what it held.
fn refuse_damaged(path: &Path) -> Result<(), StoreError> {
    let Ok(meta) = std::fs::metadata(path) else {
        return Ok(());
    };
    let damaged = |detail: &str| StoreError::Damaged {
        path: path.to_path_buf(),
        detail: detail.to_string(),
    };
    if meta.len() == 0 {
        // A store being created right now by another process is empty for a
        // moment; one that stayed empty was cut short (a full disk, a crash).
        let age = meta.modified().ok().and_then(|m| m.elapsed().ok()).unwrap_or_default();
        if age > Duration::from_secs(2) && !wal_beside(path) {
            return Err(damaged("the file is empty"));
        }
        return Ok(());
    }
    let mut head = [0u8; 16];
    use std::io::Read;
    let read = std::fs::File::open(path).and_then(|mut f| f.read(&mut head));
    match read {
        Ok(n) if n < 16 || &head != b"SQLite format 3\0" => Err(damaged("not an SQLite database")),
        _ => Ok(()),
    }
}

fn wal_beside(path: &Path) -> bool {
    let mut wal = path.as_os_str().to_owned();
    wal.push("-wal");
    std::fs::metadata(PathBuf::from(wal)).is_ok_and(|m| m.len() > 0)
}

/// SQLite's own check of the pages, cheap enough for every open.
fn quick_check(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let verdict: Result<String, rusqlite::Error> = conn.query_row("PRAGMA quick_check(1)", [], |r| r.get(0));
    match verdict {
        Ok(v) if v == "ok" => Ok(()),
        Ok(v) => Err(StoreError::Damaged {
            path: path.to_path_buf(),
            detail: v,
        }),
        Err(e) if is_busy(&e) => Ok(()),
        Err(e) => Err(StoreError::Damaged {
            path: path.to_path_buf(),
            detail: e.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{InvestigationState, Timestamp};
    use crate::store::fixtures::{TempDir, Trace, realistic};

    /// `inquest list` while `inquest serve` writes: a store whose schema is
    /// current opens (and reads) while another connection holds the write lock.
    #[test]
    fn a_reader_opens_the_store_while_a_writer_holds_it() {
        let dir = TempDir::new("held");
        let path = dir.db();
        Store::open(&path)
            .unwrap()
            .append(&realistic(TraceId::random()))
            .unwrap();
        let writer = Connection::open(&path).unwrap();
        writer.execute_batch("BEGIN IMMEDIATE").unwrap();
        let store = Store::open(&path).unwrap();
        assert_eq!(store.list().unwrap().len(), 1);
        writer.execute_batch("COMMIT").unwrap();
    }

    #[test]
    fn a_realistic_trace_round_trips_exactly() {
        let dir = TempDir::new("roundtrip");
        let trace = TraceId::random();
        let events = realistic(trace);
        {
            let store = Store::open(dir.db()).unwrap();
            store.append(&events[..4]).unwrap();
            store.append(&events[4..]).unwrap();
        }
        // Reopened, so nothing is served from memory.
        let store = Store::open(dir.db()).unwrap();
        let back = store.events(trace).unwrap();
        assert_eq!(back, events);
        assert_eq!(
            InvestigationState::fold(&back).unwrap(),
            InvestigationState::fold(&events).unwrap()
        );
        let mode: String = store.conn().query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
        assert_eq!(mode, "wal");
        let version: i64 = store.conn().query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
        assert_eq!(version, schema::SCHEMA_VERSION);
        assert!(store.events(TraceId::random()).unwrap().is_empty());
    }

    #[test]
    fn an_evidence_body_is_stored_once() {
        let store = Store::open_in_memory().unwrap();
        let trace = TraceId::random();
        let events = realistic(trace);
        store.append(&events).unwrap();
        let ev = events.iter().find(|e| e.kind.name() == "evidence_added").unwrap();
        let EventKind::EvidenceAdded { evidence } = &ev.kind else {
            unreachable!()
        };
        assert!(evidence.body.len() > 100_000);
        let json: String = store
            .conn()
            .query_row(
                "SELECT json FROM events WHERE trace_id = ?1 AND seq = ?2",
                params![trace.to_string(), ev.seq as i64],
                |r| r.get(0),
            )
            .unwrap();
        assert!(json.contains(r#""body":"""#), "{json}");
        assert!(json.len() < 1000);
        let total: i64 = store
            .conn()
            .query_row(
                "SELECT SUM(length(json)) FROM events WHERE trace_id = ?1",
                [trace.to_string()],
                |r| r.get(0),
            )
            .unwrap();
        assert!((total as usize) < evidence.body.len() / 10);
        assert_eq!(
            store.evidence_body(trace, ev.span_id).unwrap().as_deref(),
            Some(evidence.body.as_str())
        );
        assert_eq!(store.evidence_body(trace, SpanId::random()).unwrap(), None);
    }

    #[test]
    fn a_stored_seq_is_refused_and_the_batch_rolls_back() {
        let store = Store::open_in_memory().unwrap();
        let trace = TraceId::random();
        let events = realistic(trace);
        store.append(&events[..5]).unwrap();
        // Event 5 is new, event 4 was stored: nothing of this batch lands.
        let err = store.append(&events[4..6]).unwrap_err();
        assert!(
            matches!(err, StoreError::DuplicateEvent { seq, .. } if seq == events[4].seq),
            "{err}"
        );
        assert!(err.to_string().contains(&trace.to_string()), "{err}");
        assert_eq!(store.events(trace).unwrap(), events[..5]);
        // Same seq with different content is refused too, not overwritten.
        let mut changed = events[2].clone();
        changed.kind = EventKind::ThoughtDelta {
            text: "rewritten".into(),
        };
        assert!(matches!(
            store.append(&[changed]),
            Err(StoreError::DuplicateEvent { .. })
        ));
        assert!(matches!(
            store.append(&events[..1]),
            Err(StoreError::DuplicateEvent { .. })
        ));
        assert_eq!(store.events(trace).unwrap(), events[..5]);
    }

    #[test]
    fn events_need_a_started_investigation() {
        let store = Store::open_in_memory().unwrap();
        let mut t = Trace::new(TraceId::random(), Timestamp::from_secs(1));
        t.started("A", "svc");
        let orphan = t.thought(SpanId::random(), "hello");
        let err = store.append(&[orphan]).unwrap_err();
        assert!(matches!(err, StoreError::NotStarted { .. }), "{err}");

        let mut t = Trace::new(TraceId::random(), Timestamp::from_secs(1));
        let first = t.started("A", "svc");
        let again = t.started("A", "svc");
        store.append(&[first]).unwrap();
        let err = store.append(&[again]).unwrap_err();
        assert!(matches!(err, StoreError::AlreadyStarted { .. }), "{err}");
    }

    #[test]
    fn the_default_path_honours_inquest_data_dir() {
        let dir = TempDir::new("default-path");
        let data = dir.0.join("nested").join("data");
        let path = default_path_from(Some(data.clone().into_os_string())).unwrap();
        assert_eq!(path, data.join(DB_FILE));
        assert!(data.is_dir());
        // A file where the directory should be.
        let blocked = dir.0.join("file");
        std::fs::write(&blocked, "x").unwrap();
        let err = default_path_from(Some(blocked.join("d").into_os_string())).unwrap_err();
        assert!(err.to_string().contains(&blocked.display().to_string()), "{err}");
    }

    #[test]
    fn errors_name_the_database() {
        let dir = TempDir::new("bad-open");
        // A directory where the file should be.
        std::fs::create_dir_all(dir.db()).unwrap();
        let err = Store::open(dir.db()).unwrap_err();
        assert!(err.to_string().contains(&dir.db().display().to_string()), "{err}");
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let dir = TempDir::new("newer");
        let path = dir.0.join("newer.db");
        Store::open(&path)
            .unwrap()
            .conn()
            .pragma_update(None, "user_version", 99)
            .unwrap();
        let err = Store::open(&path).unwrap_err();
        assert!(matches!(err, StoreError::NewerSchema { found: 99, .. }), "{err}");
        assert!(err.to_string().contains("newer.db"), "{err}");
    }
}
