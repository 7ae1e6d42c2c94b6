//! The stored investigations with their grades, read for `inquest insights`
//! in three queries (the rows, only the event kinds the measures need, the
//! root-cause grades), not by reading every trace whole.

use std::collections::HashMap;

use rusqlite::types::Type;

use super::db::Store;
use super::error::StoreError;
use crate::model::{Event, GroupBy, HeatMap, INSIGHT_EVENTS, Investigated, Timestamp, TraceId, insights};

impl Store {
    /// The investigations started at or after `since` (all when none), newest
    /// first, each with the events and grades the insights table counts.
    pub fn investigated(&self, since: Option<Timestamp>) -> Result<Vec<Investigated>, StoreError> {
        let from = since.map(|t| t.0).unwrap_or(i64::MIN);
        let rows: Vec<_> = self.list()?.into_iter().filter(|r| r.started_at.0 >= from).collect();
        let mut events: HashMap<String, Vec<Event>> = HashMap::new();
        let mut grades: HashMap<String, Vec<(crate::model::SpanId, crate::model::Grade)>> = HashMap::new();
        {
            let conn = self.conn();
            let types = INSIGHT_EVENTS.map(|t| format!("'{t}'")).join(", ");
            let raw: Vec<(String, i64, String)> = conn
                .prepare_cached(&format!(
                    "SELECT ev.trace_id, ev.seq, ev.json FROM events ev \
                     JOIN investigations i ON i.trace_id = ev.trace_id \
                     WHERE i.started_at >= ?1 AND ev.type IN ({types}) ORDER BY ev.trace_id, ev.seq"
                ))
                .and_then(|mut st| {
                    st.query_map([from], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                        .collect::<rusqlite::Result<Vec<_>>>()
                })
                .map_err(|e| self.sql_err(e))?;
            for (tid, seq, json) in raw {
                let trace: TraceId = tid
                    .parse()
                    .map_err(|e| self.sql_err(rusqlite::Error::FromSqlConversionFailure(0, Type::Text, Box::new(e))))?;
                let ev = Event::from_json_line(&json).map_err(|e| StoreError::Corrupt {
                    path: self.path().to_path_buf(),
                    trace,
                    seq,
                    detail: e.to_string(),
                })?;
                events.entry(tid).or_default().push(ev);
            }
            let graded: Vec<(String, String, String)> = conn
                .prepare_cached(
                    "SELECT f.trace_id, f.span_id, f.grade FROM feedback f \
                     JOIN investigations i ON i.trace_id = f.trace_id \
                     WHERE i.started_at >= ?1 AND f.grade IS NOT NULL AND f.target = 'root_cause' ORDER BY f.id",
                )
                .and_then(|mut st| {
                    st.query_map([from], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                        .collect::<rusqlite::Result<Vec<_>>>()
                })
                .map_err(|e| self.sql_err(e))?;
            for (tid, span, grade) in graded {
                let grade = serde_json::from_value(serde_json::Value::String(grade));
                // A grade this build cannot read, or on no span, counts as no grade.
                if let (Ok(span), Ok(grade)) = (span.parse(), grade) {
                    grades.entry(tid).or_default().push((span, grade));
                }
            }
        }
        Ok(rows
            .into_iter()
            .map(|r| {
                let tid = r.trace_id.to_string();
                Investigated {
                    status: r.status,
                    tool_calls: r.tool_calls,
                    tokens: r.tokens,
                    cost_microusd: r.cost_microusd,
                    events: events.remove(&tid).unwrap_or_default(),
                    grades: grades.remove(&tid).unwrap_or_default(),
                }
            })
            .collect())
    }

    /// The insights table of the investigations started at or after `since`;
    /// `window` is how the caller named it (`7d`), for the table's heading.
    pub fn insights(
        &self,
        by: GroupBy,
        since: Option<Timestamp>,
        window: Option<String>,
    ) -> Result<HeatMap, StoreError> {
        Ok(insights(&self.investigated(since)?, by, window))
    }
}
