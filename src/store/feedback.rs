//! Feedback on spans: committed and synced before the caller may say "saved".

use rusqlite::types::Type;
use rusqlite::{Row, params};

use super::db::Store;
use super::error::StoreError;
use crate::model::{Feedback, Grade, Highlight, Rating, Timestamp, TraceId};

fn conversion<E: std::error::Error + Send + Sync + 'static>(col: usize, e: E) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(col, Type::Text, Box::new(e))
}

/// Reads a serde unit variant back from its snake_case name.
fn from_enum_str<T: serde::de::DeserializeOwned>(col: usize, s: Option<String>) -> rusqlite::Result<Option<T>> {
    s.map(|s| serde_json::from_value(serde_json::Value::String(s)).map_err(|e| conversion(col, e)))
        .transpose()
}

fn read_feedback(r: &Row<'_>) -> rusqlite::Result<Feedback> {
    let trace: String = r.get(0)?;
    let span: String = r.get(1)?;
    let start: Option<i64> = r.get(5)?;
    let end: Option<i64> = r.get(6)?;
    let quote: Option<String> = r.get(7)?;
    let highlight = start.map(|s| Highlight {
        start_line: u32::try_from(s).unwrap_or(0),
        end_line: end.and_then(|e| u32::try_from(e).ok()).unwrap_or(0),
        quote: quote.unwrap_or_default(),
    });
    let row: i64 = r.get(12)?;
    let id: Option<String> = r.get(13)?;
    let covers: String = r.get(15)?;
    Ok(Feedback {
        id: id.unwrap_or_else(|| format!("{row:016x}")),
        parent: r.get(14)?,
        spans: covers
            .split(',')
            .filter(|s| !s.is_empty())
            .map(|s| s.parse().map_err(|e| conversion(15, e)))
            .collect::<rusqlite::Result<Vec<_>>>()?,
        trace_id: trace.parse().map_err(|e| conversion(0, e))?,
        span_id: span.parse().map_err(|e| conversion(1, e))?,
        target: r.get(2)?,
        rating: from_enum_str::<Rating>(3, r.get(3)?)?,
        grade: from_enum_str::<Grade>(4, r.get(4)?)?,
        highlight,
        comment: r.get(8)?,
        author: r.get(9)?,
        at: Timestamp(r.get(10)?),
        bundle_id: r.get(11)?,
    })
}

impl Store {
    /// Stores one piece of feedback and returns its id. The write is committed
    /// and synced to disk before this returns, so the UI may say it is saved.
    pub fn save_feedback(&self, f: &Feedback) -> Result<i64, StoreError> {
        let id = self.insert_feedback(f)?;
        // What a grade teaches comes after, and never costs the feedback itself.
        if let Err(e) = self.learn(f) {
            tracing::warn!("learning from feedback on {}: {e}", f.trace_id);
        }
        Ok(id)
    }

    fn insert_feedback(&self, f: &Feedback) -> Result<i64, StoreError> {
        let conn = self.conn();
        let err = |e| self.trace_err(f.trace_id, e);
        // Feedback is what the engineer typed: worth a full sync, unlike events.
        conn.pragma_update(None, "synchronous", "FULL").map_err(err)?;
        let inserted = conn
            .prepare_cached(
                "INSERT INTO feedback (trace_id, span_id, target, rating, grade, \
                 highlight_start, highlight_end, quote, comment, author, at, bundle_id, \
                 feedback_id, parent, covers) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
            )
            .and_then(|mut st| {
                st.insert(params![
                    f.trace_id.to_string(),
                    f.span_id.to_string(),
                    f.target,
                    f.rating.as_ref().map(crate::model::enum_name),
                    f.grade.as_ref().map(crate::model::enum_name),
                    f.highlight.as_ref().map(|h| h.start_line as i64),
                    f.highlight.as_ref().map(|h| h.end_line as i64),
                    f.highlight.as_ref().map(|h| h.quote.as_str()),
                    f.comment,
                    f.author,
                    f.at.0,
                    f.bundle_id,
                    (!f.id.is_empty()).then_some(f.id.as_str()),
                    f.parent,
                    f.spans.iter().map(|s| s.to_string()).collect::<Vec<_>>().join(","),
                ])
            })
            .map_err(err);
        let restored = conn.pragma_update(None, "synchronous", "NORMAL");
        let id = inserted?;
        restored.map_err(err)?;
        Ok(id)
    }

    /// A trace's feedback in the order it was saved.
    pub fn feedback(&self, trace: TraceId) -> Result<Vec<Feedback>, StoreError> {
        self.conn()
            .prepare_cached(
                "SELECT trace_id, span_id, target, rating, grade, highlight_start, \
                 highlight_end, quote, comment, author, at, bundle_id, id, feedback_id, parent, covers \
                 FROM feedback WHERE trace_id = ?1 ORDER BY id",
            )
            .and_then(|mut st| {
                st.query_map([trace.to_string()], read_feedback)?
                    .collect::<Result<Vec<_>, _>>()
            })
            .map_err(|e| self.trace_err(trace, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SpanId;
    use crate::store::fixtures::{TempDir, realistic};

    fn feedback(trace: TraceId, n: i64) -> Feedback {
        Feedback {
            id: Feedback::new_id(),
            parent: None,
            spans: Vec::new(),
            trace_id: trace,
            span_id: SpanId::random(),
            target: "root_cause".into(),
            rating: Some(Rating::Up),
            grade: Some(Grade::Partly),
            highlight: Some(Highlight {
                start_line: 3,
                end_line: 5,
                quote: "FATAL: sorry, too many clients".into(),
            }),
            comment: Some(format!("comment {n}")),
            author: "alice".into(),
            at: Timestamp::from_secs(1_772_359_300 + n),
            bundle_id: "b-1234abcd".into(),
        }
    }

    #[test]
    fn feedback_survives_reopening_in_order() {
        let dir = TempDir::new("feedback");
        let trace = TraceId::random();
        let first = feedback(trace, 1);
        let bare = Feedback {
            rating: None,
            grade: None,
            highlight: None,
            comment: None,
            target: "evidence".into(),
            ..feedback(trace, 2)
        };
        {
            let store = Store::open(dir.db()).unwrap();
            store.append(&realistic(trace)).unwrap();
            let id1 = store.save_feedback(&first).unwrap();
            let id2 = store.save_feedback(&bare).unwrap();
            assert!(id2 > id1);
            // Still at NORMAL for events afterwards.
            let sync: i64 = store.conn().query_row("PRAGMA synchronous", [], |r| r.get(0)).unwrap();
            assert_eq!(sync, 1);
        }
        let store = Store::open(dir.db()).unwrap();
        assert_eq!(store.feedback(trace).unwrap(), vec![first, bare]);
        assert!(store.feedback(TraceId::random()).unwrap().is_empty());
    }

    #[test]
    fn feedback_from_a_store_before_threads_reads_back_with_an_id_and_no_parent() {
        let dir = TempDir::new("feedback-v2");
        let trace = TraceId::random();
        {
            // A store as version 2 wrote it.
            let conn = rusqlite::Connection::open(dir.db()).unwrap();
            for sql in &crate::store::schema::MIGRATIONS[..2] {
                conn.execute_batch(sql).unwrap();
            }
            conn.pragma_update(None, "user_version", 2).unwrap();
            conn.execute(
                "INSERT INTO investigations (trace_id, started_at, alert_name, source, reasoner, bundle_id, \
                 status, pid, pid_start) VALUES (?1, 0, 'A', 'sim', 'builtin', 'b', 'done', 0, 0)",
                [trace.to_string()],
            )
            .unwrap();
            conn.execute(
                "INSERT INTO feedback (trace_id, span_id, target, rating, author, at, bundle_id) \
                 VALUES (?1, ?2, 'branch', 'up', 'alice', 5, 'b')",
                [trace.to_string(), SpanId::random().to_string()],
            )
            .unwrap();
        }
        let store = Store::open(dir.db()).unwrap();
        let old = store.feedback(trace).unwrap();
        assert_eq!(old.len(), 1);
        assert_eq!(old[0].id, format!("{:016x}", 1));
        assert_eq!(old[0].parent, None);
        // A reply to it keeps the link.
        let reply = Feedback {
            parent: Some(old[0].id.clone()),
            rating: None,
            grade: None,
            highlight: None,
            target: "branch".into(),
            ..feedback(trace, 2)
        };
        store.save_feedback(&reply).unwrap();
        assert_eq!(store.feedback(trace).unwrap()[1], reply);
    }

    #[test]
    fn feedback_on_an_unknown_trace_is_an_error_naming_it() {
        let store = Store::open_in_memory().unwrap();
        let trace = TraceId::random();
        let err = store.save_feedback(&feedback(trace, 1)).unwrap_err();
        assert!(err.to_string().contains(&trace.to_string()), "{err}");
    }
}
