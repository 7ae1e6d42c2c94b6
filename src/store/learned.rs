//! What graded root causes teach the next investigation of the same alert.
//!
//! Grading a root cause (correct, partly, wrong) writes one line of guidance
//! for the alert, in the words the reasoners already read ("suspect X", "X was
//! not the cause"), and recounts how each strategy has done on that alert.
//! The next investigation of the alert starts with those lines as
//! investigation-wide guidance, shown and recorded like any other.

use rusqlite::params;

use super::db::Store;
use super::error::StoreError;
use crate::model::{FaultKind, Feedback, Grade, InvestigationState, StrategyRecord};

/// How one strategy has done on an alert, from graded root causes it supported.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct StrategyStat {
    pub strategy: String,
    pub runs: u32,
    pub correct: u32,
    pub partly: u32,
    pub wrong: u32,
}

/// Lines of learned guidance an investigation starts with, at most.
pub const LEARNED_MAX: usize = 5;

impl Store {
    /// Learns from a grade on a root cause: the guidance line and the
    /// strategies' counts. Feedback that is not a grade on a root cause
    /// teaches nothing; a root cause the stored events do not hold is skipped.
    pub(super) fn learn(&self, f: &Feedback) -> Result<bool, StoreError> {
        let Some(grade) = f.grade else { return Ok(false) };
        if f.target != "root_cause" {
            return Ok(false);
        }
        let events = self.events(f.trace_id)?;
        let Ok(state) = InvestigationState::fold(&events) else {
            return Ok(false);
        };
        // Feedback on a root cause names one of the hypotheses merged into it.
        let Some(rc) = state.root_causes.iter().find(|rc| rc.hypotheses.contains(&f.span_id)) else {
            return Ok(false);
        };
        let strategies: Vec<String> = rc
            .branches
            .iter()
            .filter_map(|b| state.branch(*b).map(|b| b.strategy.clone()))
            .collect();
        let short = &f.trace_id.to_string()[..8];
        let text = match grade {
            Grade::Correct => format!(
                "Learned from trace {short}, graded correct by {}: suspect {} ({}).",
                f.author, rc.service, rc.kind
            ),
            Grade::Partly => format!(
                "Learned from trace {short}, graded partly right by {}: suspect {}; the kind was not {}.",
                f.author, rc.service, rc.kind
            ),
            Grade::Wrong => format!(
                "Learned from trace {short}, graded wrong by {}: {} was not the cause ({} ruled out).",
                f.author, rc.service, rc.kind
            ),
        };
        let conn = self.conn();
        let err = |e| self.trace_err(f.trace_id, e);
        // The line and the counts it changes land together.
        let tx = conn.unchecked_transaction().map_err(err)?;
        tx.execute(
            "INSERT OR REPLACE INTO learned_guidance (alert_name, service, text, at, trace_id, span_id, grade, strategies, kind) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                state.alert.name,
                state.alert.service(),
                text,
                f.at.0,
                f.trace_id.to_string(),
                f.span_id.to_string(),
                crate::model::enum_name(&grade),
                strategies.join(","),
                crate::model::enum_name(&rc.kind),
            ],
        )
        .map_err(err)?;
        // The counts follow from the learned lines, so a re-grade never counts twice.
        let rows: Vec<(String, String)> = tx
            .prepare_cached("SELECT grade, strategies FROM learned_guidance WHERE alert_name = ?1")
            .and_then(|mut st| {
                st.query_map([&state.alert.name], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect::<rusqlite::Result<Vec<_>>>()
            })
            .map_err(err)?;
        let mut stats: std::collections::BTreeMap<String, StrategyStat> = Default::default();
        for (grade, strategies) in &rows {
            for s in strategies.split(',').filter(|s| !s.is_empty()) {
                let e = stats.entry(s.to_string()).or_insert_with(|| StrategyStat {
                    strategy: s.to_string(),
                    ..Default::default()
                });
                e.runs += 1;
                match grade.as_str() {
                    "correct" => e.correct += 1,
                    "partly" => e.partly += 1,
                    _ => e.wrong += 1,
                }
            }
        }
        tx.execute("DELETE FROM strategy_stats WHERE alert_name = ?1", [&state.alert.name])
            .map_err(err)?;
        for s in stats.values() {
            tx.execute(
                "INSERT INTO strategy_stats (alert_name, strategy, runs, correct, partly, wrong) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![state.alert.name, s.strategy, s.runs, s.correct, s.partly, s.wrong],
            )
            .map_err(err)?;
        }
        tx.commit().map_err(err)?;
        Ok(true)
    }

    /// The guidance past grades left for `alert_name` (on `service`, or on
    /// any service when the alert names none), newest first, one per graded
    /// root cause service, at most `LEARNED_MAX`.
    pub fn learned(&self, alert_name: &str, service: Option<&str>) -> Result<Vec<String>, StoreError> {
        let conn = self.conn();
        let rows: Vec<String> = conn
            .prepare_cached(
                "SELECT text FROM learned_guidance WHERE alert_name = ?1 AND (?2 IS NULL OR service IS NULL OR service = ?2) \
                 ORDER BY at DESC, id DESC LIMIT ?3",
            )
            .and_then(|mut st| {
                st.query_map(params![alert_name, service, LEARNED_MAX as i64], |r| r.get(0))?
                    .collect::<rusqlite::Result<Vec<_>>>()
            })
            .map_err(|e| self.sql_err(e))?;
        Ok(rows)
    }

    /// Every alert that grades taught something about, with its lines (newest first).
    pub fn learned_all(&self) -> Result<Vec<(String, Vec<String>)>, StoreError> {
        let conn = self.conn();
        let rows: Vec<(String, String)> = conn
            .prepare_cached("SELECT alert_name, text FROM learned_guidance ORDER BY alert_name, at DESC, id DESC")
            .and_then(|mut st| {
                st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                    .collect::<rusqlite::Result<Vec<_>>>()
            })
            .map_err(|e| self.sql_err(e))?;
        let mut out: Vec<(String, Vec<String>)> = Vec::new();
        for (alert, text) in rows {
            match out.last_mut() {
                Some((a, lines)) if *a == alert => lines.push(text),
                _ => out.push((alert, vec![text])),
            }
        }
        Ok(out)
    }

    /// How each strategy has done on `alert_name`, best record first.
    pub fn strategy_stats(&self, alert_name: &str) -> Result<Vec<StrategyStat>, StoreError> {
        let conn = self.conn();
        let mut rows: Vec<StrategyStat> = conn
            .prepare_cached("SELECT strategy, runs, correct, partly, wrong FROM strategy_stats WHERE alert_name = ?1")
            .and_then(|mut st| {
                st.query_map([alert_name], |r| {
                    Ok(StrategyStat {
                        strategy: r.get(0)?,
                        runs: r.get(1)?,
                        correct: r.get(2)?,
                        partly: r.get(3)?,
                        wrong: r.get(4)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()
            })
            .map_err(|e| self.sql_err(e))?;
        rows.sort_by(|a, b| {
            (b.correct * 2 + b.partly)
                .cmp(&(a.correct * 2 + a.partly))
                .then(a.wrong.cmp(&b.wrong))
                .then(a.strategy.cmp(&b.strategy))
        });
        Ok(rows)
    }

    /// The strategies' records on `alert_name` from this store's own grades,
    /// as the engine shares out the budget by them.
    /// Counted from the learned lines, as `strategy_stats` is, with the fault
    /// kinds of the correct ones where the line knows it.
    pub fn strategy_records(&self, alert_name: &str) -> Result<Vec<StrategyRecord>, StoreError> {
        let conn = self.conn();
        let rows: Vec<(Option<String>, String, Option<String>)> = conn
            .prepare_cached("SELECT grade, strategies, kind FROM learned_guidance WHERE alert_name = ?1")
            .and_then(|mut st| {
                st.query_map([alert_name], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                    .collect::<rusqlite::Result<Vec<_>>>()
            })
            .map_err(|e| self.sql_err(e))?;
        let mut out: std::collections::BTreeMap<String, StrategyRecord> = Default::default();
        for (grade, strategies, kind) in rows {
            let Some(grade) = grade else { continue };
            let kind: Option<FaultKind> = kind.and_then(|k| k.parse().ok());
            for s in strategies.split(',').filter(|s| !s.is_empty()) {
                let r = out.entry(s.to_string()).or_insert_with(|| StrategyRecord {
                    strategy: s.to_string(),
                    ..Default::default()
                });
                match grade.as_str() {
                    "correct" => {
                        r.correct += 1;
                        if let Some(k) = kind {
                            *r.correct_kinds.entry(k).or_default() += 1;
                        }
                    }
                    "partly" => r.partly += 1,
                    _ => r.wrong += 1,
                }
            }
        }
        Ok(out.into_values().collect())
    }

    /// Forgets what grades taught about `alert_name` (all alerts when None); returns the lines removed.
    pub fn forget(&self, alert_name: Option<&str>) -> Result<usize, StoreError> {
        let conn = self.conn();
        let n = conn
            .execute(
                "DELETE FROM learned_guidance WHERE ?1 IS NULL OR alert_name = ?1",
                [alert_name],
            )
            .and_then(|n| {
                conn.execute(
                    "DELETE FROM strategy_stats WHERE ?1 IS NULL OR alert_name = ?1",
                    [alert_name],
                )?;
                Ok(n)
            })
            .map_err(|e| self.sql_err(e))?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{SpanId, Timestamp, TraceId};
    use crate::store::fixtures::{TempDir, realistic};

    fn graded(trace: TraceId, span: SpanId, grade: Grade, target: &str) -> Feedback {
        Feedback {
            id: Feedback::new_id(),
            parent: None,
            spans: Vec::new(),
            trace_id: trace,
            span_id: span,
            target: target.into(),
            rating: None,
            grade: Some(grade),
            highlight: None,
            comment: None,
            author: "alice".into(),
            at: Timestamp::now(),
            bundle_id: "b".into(),
        }
    }

    /// A store written before learned lines had a span, a grade and strategies is migrated
    /// in place, keeps what it had, and learns from then on.
    #[test]
    fn a_first_version_store_is_migrated_and_learns() {
        let dir = TempDir::new("learned-migrate");
        {
            let conn = rusqlite::Connection::open(dir.db()).unwrap();
            conn.execute_batch(super::super::schema::MIGRATIONS[0]).unwrap();
            conn.pragma_update(None, "user_version", 1).unwrap();
            conn.execute(
                "INSERT INTO learned_guidance (alert_name, service, text, at, trace_id) VALUES ('A', 's', 'old line', 1, NULL)",
                [],
            )
            .unwrap();
        }
        let store = Store::open(dir.db()).unwrap();
        assert_eq!(store.learned("A", Some("s")).unwrap(), vec!["old line".to_string()]);

        let trace = TraceId::random();
        store.append(&realistic(trace)).unwrap();
        let state = InvestigationState::fold(&store.events(trace).unwrap()).unwrap();
        let rc = &state.root_causes[0];
        let span = rc.hypotheses.first().copied().unwrap();
        let alert = state.alert.name.clone();
        // Not a grade on a root cause: nothing learned.
        let mut rating = graded(trace, span, Grade::Correct, "branch");
        rating.grade = None;
        assert!(!store.learn(&rating).unwrap());
        assert!(store.learned(&alert, state.alert.service()).unwrap().is_empty());
        // A grade on it: one line, and the strategies that found it counted once however often it is re-graded.
        store
            .save_feedback(&graded(trace, span, Grade::Wrong, "root_cause"))
            .unwrap();
        store
            .save_feedback(&graded(trace, span, Grade::Correct, "root_cause"))
            .unwrap();
        let lines = store.learned(&alert, state.alert.service()).unwrap();
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(lines[0].contains(&format!("suspect {}", rc.service)), "{lines:?}");
        let stats = store.strategy_stats(&alert).unwrap();
        assert_eq!(stats.len(), rc.branches.len());
        assert!(
            stats.iter().all(|s| s.runs == 1 && s.correct == 1 && s.wrong == 0),
            "{stats:?}"
        );
        assert_eq!(store.forget(Some(&alert)).unwrap(), 1);
        assert!(store.strategy_stats(&alert).unwrap().is_empty());
    }
}
