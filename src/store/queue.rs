//! The server's durable intake queue: alerts are written here before the
//! request that brought them is answered, deduplicated by a key that survives
//! restarts, claimed one at a time by workers, and recovered after a crash.
//!
//! A row moves `queued` → `running` → `done` (or `failed` when the
//! investigation could not be set up). A row left `running` by a process that
//! is gone is put back by [`Store::recover_queue`].

use std::time::Duration;

use rusqlite::{OptionalExtension, params};

use super::db::Store;
use super::error::StoreError;
use crate::model::{Alert, Timestamp, TraceId};

/// An alert taken off the queue by a worker.
#[derive(Clone, Debug)]
pub struct Claimed {
    pub id: i64,
    /// The trace the investigation is to have.
    pub trace_id: TraceId,
    pub alert: Alert,
    /// 1 the first time, more when an earlier run was cut off.
    pub attempts: u32,
    /// A simulated scenario to investigate instead of the alert against the configured sources.
    pub simulated: Option<Simulated>,
}

/// An investigation of a simulated scenario, queued like an alert.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Simulated {
    /// The scenario, as `inquest run --scenario` takes it.
    pub scenario: String,
    /// Simulated latency of each tool call, in milliseconds.
    pub pace_ms: Option<u64>,
    /// The investigation's tool-call budget.
    pub budget_calls: Option<u32>,
}

/// What became of a batch offered to the queue.
#[derive(Clone, Debug, PartialEq)]
pub enum Admission {
    /// Every new alert is stored; `started` holds their traces in order.
    Accepted { started: Vec<TraceId>, duplicates: usize },
    /// Storing the batch would take the queue past its cap; nothing was stored.
    Full { queued: usize },
}

/// What [`Store::recover_queue`] found left by a process that is gone.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Recovered {
    /// Cut off mid-run: marked interrupted and queued again under a new trace.
    pub interrupted: usize,
    /// Claimed but nothing of the investigation stored: queued again under the same trace.
    pub requeued: usize,
    /// Finished after all (its last events were written): marked done.
    pub finished: usize,
    /// Waiting in the queue.
    pub queued: usize,
}

/// The deduplication key: an Alertmanager alert is itself while it keeps its
/// fingerprint and start; a PagerDuty incident is its id.
pub fn intake_key(alert: &Alert) -> String {
    match alert.source.as_str() {
        "pagerduty" => format!("pagerduty:{}", alert.fingerprint),
        other => format!("{other}:{}@{}", alert.fingerprint, alert.starts_at.0),
    }
}

impl Store {
    /// How long this connection waits for another's lock before the call fails.
    pub fn set_busy_timeout(&self, d: Duration) -> Result<(), StoreError> {
        self.conn().busy_timeout(d).map_err(|e| self.sql_err(e))
    }

    /// Stores the alerts not seen before, all in one transaction, unless the
    /// queue would then hold more than `max_queue` waiting alerts.
    pub fn enqueue(&self, alerts: &[Alert], max_queue: usize) -> Result<Admission, StoreError> {
        let rows = alerts.iter().map(|a| (intake_key(a), a, None)).collect();
        self.enqueue_rows(rows, max_queue)
    }

    /// Queues an investigation of a simulated scenario (its alert given); never a duplicate.
    pub fn enqueue_simulated(&self, alert: &Alert, sim: &Simulated, max_queue: usize) -> Result<Admission, StoreError> {
        let json =
            serde_json::to_string(sim).map_err(|e| self.sql_err(rusqlite::Error::ToSqlConversionFailure(e.into())))?;
        let key = format!("simulated:{}", TraceId::random());
        self.enqueue_rows(vec![(key, alert, Some(json))], max_queue)
    }

    fn enqueue_rows(
        &self,
        rows: Vec<(String, &Alert, Option<String>)>,
        max_queue: usize,
    ) -> Result<Admission, StoreError> {
        let mut conn = self.conn();
        let err = |e| self.sql_err(e);
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(err)?;
        let queued: i64 = tx
            .query_row("SELECT count(*) FROM intake WHERE state = 'queued'", [], |r| r.get(0))
            .map_err(err)?;
        let now = Timestamp::now().0;
        let (mut started, mut duplicates) = (Vec::new(), 0);
        {
            let mut st = tx
                .prepare_cached(
                    "INSERT INTO intake (key, alert, received_at, state, trace_id, simulated) \
                     VALUES (?1, ?2, ?3, 'queued', ?4, ?5) ON CONFLICT (key) DO NOTHING",
                )
                .map_err(err)?;
            for (key, a, simulated) in rows {
                let json =
                    serde_json::to_string(a).map_err(|e| err(rusqlite::Error::ToSqlConversionFailure(e.into())))?;
                let trace = TraceId::random();
                match st
                    .execute(params![key, json, now, trace.to_string(), simulated])
                    .map_err(err)?
                {
                    0 => duplicates += 1,
                    _ => started.push(trace),
                }
            }
        }
        let queued = usize::try_from(queued).unwrap_or(usize::MAX);
        if !started.is_empty() && queued.saturating_add(started.len()) > max_queue {
            // Dropping the transaction rolls it back: nothing half-way.
            return Ok(Admission::Full { queued });
        }
        tx.commit().map_err(err)?;
        Ok(Admission::Accepted { started, duplicates })
    }

    /// The trace of the alert queued under `key` (a duplicate's first sending).
    pub fn intake_trace(&self, key: &str) -> Result<Option<TraceId>, StoreError> {
        let id: Option<String> = self
            .conn()
            .query_row("SELECT trace_id FROM intake WHERE key = ?1", [key], |r| r.get(0))
            .optional()
            .map_err(|e| self.sql_err(e))?;
        Ok(id.and_then(|t| t.parse().ok()))
    }

    /// Whether `trace` waits in the intake queue or is being started: known, not yet stored.
    pub fn intake_pending(&self, trace: TraceId) -> Result<bool, StoreError> {
        self.conn()
            .prepare_cached("SELECT 1 FROM intake WHERE trace_id = ?1 AND state IN ('queued', 'running')")
            .and_then(|mut st| st.exists([trace.to_string()]))
            .map_err(|e| self.sql_err(e))
    }

    /// Takes the oldest waiting alert, if any, and marks it running.
    pub fn claim(&self) -> Result<Option<Claimed>, StoreError> {
        let conn = self.conn();
        let row = conn
            .prepare_cached(
                "UPDATE intake SET state = 'running', attempts = attempts + 1 \
                 WHERE id = (SELECT id FROM intake WHERE state = 'queued' ORDER BY id LIMIT 1) \
                 RETURNING id, trace_id, alert, attempts, simulated",
            )
            .and_then(|mut st| {
                st.query_row([], |r| {
                    Ok((
                        r.get::<_, i64>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, i64>(3)?,
                        r.get::<_, Option<String>>(4)?,
                    ))
                })
                .optional()
            })
            .map_err(|e| self.sql_err(e))?;
        let Some((id, trace, alert, attempts, simulated)) = row else {
            return Ok(None);
        };
        let bad = |col: usize, e: Box<dyn std::error::Error + Send + Sync>| {
            self.sql_err(rusqlite::Error::FromSqlConversionFailure(
                col,
                rusqlite::types::Type::Text,
                e,
            ))
        };
        let trace_id = trace.parse().map_err(|e: crate::model::IdError| bad(1, e.into()))?;
        let alert = match serde_json::from_str(&alert) {
            Ok(a) => a,
            Err(e) => {
                // An unreadable row must not come back at every start.
                self.finish_claimed(id, false, Some(&format!("unreadable alert: {e}")))?;
                return Err(bad(2, e.into()));
            }
        };
        let simulated = match simulated.as_deref().map(serde_json::from_str) {
            None => None,
            Some(Ok(s)) => Some(s),
            Some(Err(e)) => {
                self.finish_claimed(id, false, Some(&format!("unreadable scenario: {e}")))?;
                return Err(bad(4, e.into()));
            }
        };
        Ok(Some(Claimed {
            id,
            trace_id,
            alert,
            attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
            simulated,
        }))
    }

    /// Marks a claimed alert done, or failed with the reason.
    pub fn finish_claimed(&self, id: i64, ok: bool, error: Option<&str>) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "UPDATE intake SET state = ?2, error = ?3 WHERE id = ?1",
                params![id, if ok { "done" } else { "failed" }, error],
            )
            .map(drop)
            .map_err(|e| self.sql_err(e))
    }

    /// Marks investigations still running as interrupted (a shutdown that
    /// could not wait for them); their queue rows stay claimed, so the next
    /// [`Store::recover_queue`] runs them again.
    pub fn mark_interrupted(&self, traces: &[TraceId]) -> Result<(), StoreError> {
        let conn = self.conn();
        for t in traces {
            conn.execute(
                "UPDATE investigations SET status = 'interrupted' WHERE trace_id = ?1 AND status = 'running'",
                [t.to_string()],
            )
            .map_err(|e| self.trace_err(*t, e))?;
        }
        Ok(())
    }

    /// Puts back what a process that is gone left claimed. Call once at start,
    /// before any worker claims: every `running` row then belongs to the past.
    pub fn recover_queue(&self) -> Result<Recovered, StoreError> {
        let mut conn = self.conn();
        let err = |e| self.sql_err(e);
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(err)?;
        let claimed: Vec<(i64, String, Option<String>)> = tx
            .prepare(
                "SELECT q.id, q.trace_id, i.status FROM intake q \
                 LEFT JOIN investigations i ON i.trace_id = q.trace_id WHERE q.state = 'running'",
            )
            .and_then(|mut st| {
                st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                    .collect::<Result<_, _>>()
            })
            .map_err(err)?;
        let mut found = Recovered::default();
        for (id, trace, status) in claimed {
            match status.as_deref() {
                None => {
                    tx.execute("UPDATE intake SET state = 'queued' WHERE id = ?1", [id])
                        .map_err(err)?;
                    found.requeued += 1;
                }
                Some("done" | "stopped" | "failed") => {
                    tx.execute("UPDATE intake SET state = 'done' WHERE id = ?1", [id])
                        .map_err(err)?;
                    found.finished += 1;
                }
                Some(_) => {
                    let rerun = TraceId::random().to_string();
                    tx.execute(
                        "UPDATE investigations SET status = 'interrupted', rerun_as = ?2 WHERE trace_id = ?1",
                        params![trace, rerun],
                    )
                    .map_err(err)?;
                    tx.execute(
                        "UPDATE intake SET state = 'queued', trace_id = ?2 WHERE id = ?1",
                        params![id, rerun],
                    )
                    .map_err(err)?;
                    found.interrupted += 1;
                }
            }
        }
        tx.commit().map_err(err)?;
        drop(conn);
        found.queued = self.queue_len()?;
        Ok(found)
    }

    /// Alerts waiting for a worker.
    pub fn queue_len(&self) -> Result<usize, StoreError> {
        self.conn()
            .query_row("SELECT count(*) FROM intake WHERE state = 'queued'", [], |r| {
                r.get::<_, i64>(0)
            })
            .map(|n| usize::try_from(n).unwrap_or(0))
            .map_err(|e| self.sql_err(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::fixtures::Trace;

    fn alert(n: u32) -> Alert {
        Alert {
            source: "alertmanager".into(),
            name: format!("A{n}"),
            labels: Default::default(),
            annotations: Default::default(),
            severity: "page".into(),
            starts_at: Timestamp::from_secs(1_700_000_000),
            fingerprint: format!("f{n}"),
        }
    }

    #[test]
    fn a_batch_is_stored_whole_deduplicated_or_not_at_all() {
        let store = Store::open_in_memory().unwrap();
        let a = [alert(1), alert(2), alert(1)];
        let Admission::Accepted { started, duplicates } = store.enqueue(&a, 10).unwrap() else {
            panic!("refused")
        };
        assert_eq!((started.len(), duplicates), (2, 1));
        assert_eq!(
            store.enqueue(&[alert(2)], 10).unwrap(),
            Admission::Accepted {
                started: vec![],
                duplicates: 1
            }
        );
        let many: Vec<Alert> = (3..12).map(alert).collect();
        assert_eq!(store.enqueue(&many, 10).unwrap(), Admission::Full { queued: 2 });
        assert_eq!(store.queue_len().unwrap(), 2, "nothing of the refused batch stays");
    }

    #[test]
    fn a_simulated_scenario_is_queued_with_its_options_and_never_a_duplicate() {
        let store = Store::open_in_memory().unwrap();
        let sim = Simulated {
            scenario: "checkout-db-pool".into(),
            pace_ms: Some(300),
            budget_calls: Some(12),
        };
        let Admission::Accepted { started, .. } = store.enqueue_simulated(&alert(1), &sim, 10).unwrap() else {
            panic!("refused")
        };
        let again = store.enqueue_simulated(&alert(1), &sim, 10).unwrap();
        assert!(matches!(again, Admission::Accepted { ref started, duplicates: 0 } if started.len() == 1));
        assert!(store.intake_pending(started[0]).unwrap());
        let job = store.claim().unwrap().unwrap();
        assert_eq!((job.trace_id, job.simulated), (started[0], Some(sim)));
        store.finish_claimed(job.id, true, None).unwrap();
        assert!(!store.intake_pending(started[0]).unwrap());
        let Admission::Accepted { started, .. } = store.enqueue(&[alert(2)], 10).unwrap() else {
            panic!("refused")
        };
        assert_eq!(store.intake_trace(&intake_key(&alert(2))).unwrap(), Some(started[0]));
        let second = store.claim().unwrap().unwrap();
        assert!(
            second.simulated.is_some() && second.trace_id != job.trace_id,
            "the second request"
        );
        assert_eq!(store.claim().unwrap().unwrap().simulated, None, "an alert");
    }

    #[test]
    fn a_run_cut_off_is_marked_interrupted_and_queued_again() {
        let store = Store::open_in_memory().unwrap();
        store.enqueue(&[alert(1), alert(2), alert(3)], 10).unwrap();
        let first = store.claim().unwrap().unwrap();
        let second = store.claim().unwrap().unwrap();
        assert_eq!(first.alert.name, "A1");
        assert_eq!(first.attempts, 1);
        // The first started and was cut off; the second never started.
        store
            .append(&[Trace::new(first.trace_id, Timestamp::from_secs(1)).started("A1", "x")])
            .unwrap();
        let found = store.recover_queue().unwrap();
        assert_eq!(
            (found.interrupted, found.requeued, found.finished, found.queued),
            (1, 1, 0, 3)
        );
        let row = store.get(first.trace_id).unwrap().unwrap();
        assert_eq!(row.status, crate::model::InvestigationStatus::Interrupted);
        let again: Vec<Claimed> = std::iter::from_fn(|| store.claim().unwrap()).collect();
        assert_eq!(again.len(), 3);
        let rerun = again.iter().find(|c| c.alert.name == "A1").unwrap();
        assert_eq!(Some(rerun.trace_id), row.rerun_as);
        assert_eq!(rerun.attempts, 2);
        let kept = again.iter().find(|c| c.alert.name == "A2").unwrap();
        assert_eq!(
            kept.trace_id, second.trace_id,
            "a run that never started keeps its trace"
        );
    }
}
