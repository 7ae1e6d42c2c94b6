//! The investigations table as the CLI lists it: one row per trace, newest
//! first, with a crashed run shown as interrupted; and trace ids by prefix.

use rusqlite::types::Type;
use rusqlite::{Connection, OptionalExtension, Row};
use serde::{Deserialize, Serialize};

use super::db::Store;
use super::error::StoreError;
use super::liveness;
use crate::model::{FaultKind, InvestigationStatus, Timestamp, TraceId};

/// One investigation, as `inquest list` shows it (and a server lists it).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InvestigationRow {
    pub trace_id: TraceId,
    pub started_at: Timestamp,
    pub alert_name: String,
    pub service: Option<String>,
    pub source: String,
    pub reasoner: String,
    pub bundle_id: String,
    pub status: InvestigationStatus,
    pub top_service: Option<String>,
    pub top_kind: Option<FaultKind>,
    pub top_confidence: Option<f64>,
    pub tool_calls: u32,
    pub finished_at: Option<Timestamp>,
    /// The trace that re-ran this one after it was cut off (`inquest serve`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rerun_as: Option<TraceId>,
    /// Model tokens; `estimated_tokens` of them estimated (no usage from the server).
    pub tokens: u64,
    pub estimated_tokens: u64,
    /// What the model calls cost, millionths of a US dollar.
    pub cost_microusd: u64,
}

const COLUMNS: &str = "trace_id, started_at, alert_name, service, source, reasoner, bundle_id, \
     status, pid, pid_start, top_service, top_kind, top_confidence, tool_calls, finished_at, rerun_as, \
     tokens, estimated_tokens, cost_microusd";

/// A row as read, before the liveness check.
struct Raw {
    tid: String,
    row: InvestigationRow,
    pid: i64,
    pid_start: i64,
}

fn parse_status(s: &str) -> InvestigationStatus {
    match s {
        "running" => InvestigationStatus::Running,
        "done" => InvestigationStatus::Done,
        "stopped" => InvestigationStatus::Stopped,
        "failed" => InvestigationStatus::Failed,
        // Anything else was written by something that no longer runs it.
        _ => InvestigationStatus::Interrupted,
    }
}

fn parse_id(tid: &str, col: usize) -> rusqlite::Result<TraceId> {
    tid.parse()
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(col, Type::Text, Box::new(e)))
}

fn read_row(r: &Row<'_>) -> rusqlite::Result<Raw> {
    let tid: String = r.get(0)?;
    let status: String = r.get(7)?;
    let top_kind: Option<String> = r.get(11)?;
    Ok(Raw {
        row: InvestigationRow {
            trace_id: parse_id(&tid, 0)?,
            started_at: Timestamp(r.get(1)?),
            alert_name: r.get(2)?,
            service: r.get(3)?,
            source: r.get(4)?,
            reasoner: r.get(5)?,
            bundle_id: r.get(6)?,
            status: parse_status(&status),
            top_service: r.get(10)?,
            top_kind: top_kind.and_then(|k| k.parse().ok()),
            top_confidence: r.get(12)?,
            tool_calls: u32::try_from(r.get::<_, i64>(13)?).unwrap_or(u32::MAX),
            finished_at: r.get::<_, Option<i64>>(14)?.map(Timestamp),
            rerun_as: match r.get::<_, Option<String>>(15)? {
                Some(t) => Some(parse_id(&t, 15)?),
                None => None,
            },
            tokens: r.get::<_, i64>(16)?.max(0) as u64,
            estimated_tokens: r.get::<_, i64>(17)?.max(0) as u64,
            cost_microusd: r.get::<_, i64>(18)?.max(0) as u64,
        },
        pid: r.get(8)?,
        pid_start: r.get(9)?,
        tid,
    })
}

fn last_event_at(conn: &Connection, tid: &str) -> Option<Timestamp> {
    conn.query_row(
        "SELECT at FROM events WHERE trace_id = ?1 ORDER BY seq DESC LIMIT 1",
        [tid],
        |r| r.get(0),
    )
    .optional()
    .ok()
    .flatten()
    .map(Timestamp)
}

/// Shows a running row whose process is gone as interrupted.
fn check_liveness(conn: &Connection, raw: Raw) -> InvestigationRow {
    let Raw {
        tid,
        mut row,
        pid,
        pid_start,
    } = raw;
    if row.status == InvestigationStatus::Running
        && !liveness::still_running_here(pid, pid_start, || last_event_at(conn, &tid))
    {
        row.status = InvestigationStatus::Interrupted;
    }
    row
}

impl Store {
    /// Every investigation, newest first.
    pub fn list(&self) -> Result<Vec<InvestigationRow>, StoreError> {
        let conn = self.conn();
        let raws = conn
            .prepare_cached(&format!(
                "SELECT {COLUMNS} FROM investigations ORDER BY started_at DESC, rowid DESC"
            ))
            .and_then(|mut st| st.query_map([], read_row)?.collect::<Result<Vec<_>, _>>())
            .map_err(|e| self.sql_err(e))?;
        Ok(raws.into_iter().map(|raw| check_liveness(&conn, raw)).collect())
    }

    /// One investigation, or `None` if the trace is not stored.
    pub fn get(&self, trace: TraceId) -> Result<Option<InvestigationRow>, StoreError> {
        let conn = self.conn();
        let raw = conn
            .prepare_cached(&format!("SELECT {COLUMNS} FROM investigations WHERE trace_id = ?1"))
            .and_then(|mut st| st.query_row([trace.to_string()], read_row).optional())
            .map_err(|e| self.trace_err(trace, e))?;
        Ok(raw.map(|raw| check_liveness(&conn, raw)))
    }

    /// The stored trace a full id or a unique prefix of at least 4 hex digits
    /// names (case does not matter).
    pub fn resolve(&self, prefix: &str) -> Result<TraceId, StoreError> {
        let p = prefix.trim().to_ascii_lowercase();
        if p.len() < 4 || p.len() > 32 || !p.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(StoreError::BadPrefix {
                prefix: prefix.to_string(),
            });
        }
        // Hex digits only, so the prefix is safe inside a LIKE pattern.
        let matches: Vec<TraceId> = self
            .conn()
            .prepare_cached(
                "SELECT trace_id FROM investigations WHERE trace_id LIKE ?1 \
                 ORDER BY started_at DESC LIMIT 6",
            )
            .and_then(|mut st| {
                st.query_map([format!("{p}%")], |r| parse_id(&r.get::<_, String>(0)?, 0))?
                    .collect::<Result<Vec<_>, _>>()
            })
            .map_err(|e| self.sql_err(e))?;
        match matches.as_slice() {
            [] => Err(StoreError::UnknownTrace {
                path: self.path().to_path_buf(),
                prefix: prefix.to_string(),
            }),
            [one] => Ok(*one),
            many => Err(StoreError::AmbiguousTrace {
                path: self.path().to_path_buf(),
                prefix: prefix.to_string(),
                matches: many.iter().map(|m| m.to_string()[..12].to_string()).collect(),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{EventKind, SpanId};
    use crate::store::fixtures::{Trace, realistic};

    fn started(store: &Store, trace: TraceId, secs: i64, alert: &str) -> Trace {
        let mut t = Trace::new(trace, Timestamp::from_secs(secs));
        store.append(&[t.started(alert, "checkout")]).unwrap();
        t
    }

    #[test]
    fn list_shows_status_and_top_cause_newest_first() {
        let store = Store::open_in_memory().unwrap();
        let done = TraceId::random();
        store.append(&realistic(done)).unwrap();
        let running = TraceId::random();
        let mut t = started(&store, running, 1_900_000_000, "Newer");
        store.append(&[t.thought(SpanId::random(), "x")]).unwrap();

        let rows = store.list().unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].trace_id, running);
        assert_eq!(rows[0].status, InvestigationStatus::Running);
        assert_eq!(rows[0].top_service, None);
        let r = &rows[1];
        assert_eq!(r.trace_id, done);
        assert_eq!(r.status, InvestigationStatus::Done);
        assert_eq!(r.alert_name, "CheckoutLatencyHigh");
        assert_eq!(r.service.as_deref(), Some("checkout"));
        assert_eq!(r.source, "sim:pg-pool");
        assert_eq!(r.reasoner, "builtin");
        assert_eq!(r.bundle_id, "b-1234abcd");
        assert_eq!(r.top_service.as_deref(), Some("orders-db"));
        assert_eq!(r.top_kind, Some(FaultKind::ConnectionPoolExhaustion));
        assert_eq!(r.top_confidence, Some(0.82));
        assert_eq!(r.tool_calls, 1);
        assert!(r.finished_at.is_some());
        assert_eq!(store.get(done).unwrap().as_ref(), Some(r));
        assert_eq!(store.get(TraceId::random()).unwrap(), None);
        let json = serde_json::to_value(r).unwrap();
        assert_eq!(json["status"], "done");
        assert_eq!(json["top_kind"], "connection_pool_exhaustion");
    }

    #[test]
    fn a_conclusion_updates_the_top_cause_while_running() {
        let store = Store::open_in_memory().unwrap();
        let trace = TraceId::random();
        let events: Vec<_> = realistic(trace)
            .into_iter()
            .filter(|e| e.kind.name() != "investigation_finished")
            .collect();
        store.append(&events).unwrap();
        let row = store.get(trace).unwrap().unwrap();
        assert_eq!(row.status, InvestigationStatus::Running);
        assert_eq!(row.top_service.as_deref(), Some("orders-db"));
        assert_eq!(row.finished_at, None);
        assert!(matches!(
            events.last().unwrap().kind,
            EventKind::BranchStatusChanged { .. }
        ));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_running_row_whose_process_is_gone_is_interrupted() {
        let store = Store::open_in_memory().unwrap();
        let dead = TraceId::random();
        let reused = TraceId::random();
        let alive = TraceId::random();
        started(&store, dead, 10, "Dead");
        started(&store, reused, 11, "Reused");
        started(&store, alive, 12, "Alive");
        {
            let conn = store.conn();
            conn.execute(
                "UPDATE investigations SET pid = ?2 WHERE trace_id = ?1",
                rusqlite::params![dead.to_string(), i32::MAX as i64],
            )
            .unwrap();
            // Our pid, but another process's start time: the pid was reused.
            conn.execute(
                "UPDATE investigations SET pid_start = pid_start + 1 WHERE trace_id = ?1",
                [reused.to_string()],
            )
            .unwrap();
        }
        let status = |t| store.get(t).unwrap().unwrap().status;
        assert_eq!(status(dead), InvestigationStatus::Interrupted);
        assert_eq!(status(reused), InvestigationStatus::Interrupted);
        assert_eq!(status(alive), InvestigationStatus::Running);
        let listed: Vec<_> = store.list().unwrap().iter().map(|r| r.status).collect();
        assert_eq!(
            listed,
            [
                InvestigationStatus::Running,
                InvestigationStatus::Interrupted,
                InvestigationStatus::Interrupted
            ]
        );
    }

    #[test]
    fn traces_resolve_by_unique_prefix() {
        let store = Store::open_in_memory().unwrap();
        let mut a = [0x11u8; 16];
        a[..3].copy_from_slice(&[0xab, 0xcd, 0x01]);
        let mut b = [0x22u8; 16];
        b[..3].copy_from_slice(&[0xab, 0xcd, 0x02]);
        let (a, b) = (TraceId::from_bytes(a).unwrap(), TraceId::from_bytes(b).unwrap());
        started(&store, a, 1, "A");
        started(&store, b, 2, "B");

        assert_eq!(store.resolve("abcd01").unwrap(), a);
        assert_eq!(store.resolve("ABCD02").unwrap(), b);
        assert_eq!(store.resolve(&a.to_string()).unwrap(), a);
        let err = store.resolve("abcd").unwrap_err();
        assert!(matches!(&err, StoreError::AmbiguousTrace { matches, .. } if matches.len() == 2));
        assert!(err.to_string().contains("abcd02222222"), "{err}");
        let err = store.resolve("ffff").unwrap_err();
        assert!(matches!(err, StoreError::UnknownTrace { .. }), "{err}");
        assert!(err.to_string().contains("ffff"));
        assert!(matches!(store.resolve("abc"), Err(StoreError::BadPrefix { .. })));
        assert!(matches!(store.resolve("abcd%"), Err(StoreError::BadPrefix { .. })));
        assert!(matches!(
            store.resolve(&format!("{a}0")),
            Err(StoreError::BadPrefix { .. })
        ));
    }
}
