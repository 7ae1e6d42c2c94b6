//! What the tools of an investigation answered, kept so the investigation can
//! be replayed under another bundle without a live backend. The answer is the
//! source's data as JSON (or its error text), redacted like everything stored.

use rusqlite::params;

use super::{Store, StoreError};
use crate::model::TraceId;

/// One tool call's answer: `ok` with the data as JSON, or the error the source gave.
#[derive(Clone, Debug, PartialEq)]
pub struct ToolAnswer {
    pub tool: String,
    /// The arguments as canonical JSON (keys sorted).
    pub args: String,
    pub ok: bool,
    pub answer: String,
}

impl Store {
    /// Keeps a trace's answers in one transaction; a call already kept (same
    /// tool and arguments) keeps its first answer.
    pub fn save_answers(&self, trace: TraceId, answers: &[ToolAnswer]) -> Result<(), StoreError> {
        if answers.is_empty() {
            return Ok(());
        }
        let mut conn = self.conn();
        let err = |e| self.trace_err(trace, e);
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(err)?;
        {
            let mut st = tx
                .prepare_cached(
                    "INSERT OR IGNORE INTO tool_answers (trace_id, tool, args, ok, answer) \
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )
                .map_err(err)?;
            let tid = trace.to_string();
            for a in answers {
                st.execute(params![tid, a.tool, a.args, a.ok, a.answer]).map_err(err)?;
            }
        }
        tx.commit().map_err(err)
    }

    /// A trace's kept answers, by tool and arguments.
    pub fn answers(&self, trace: TraceId) -> Result<Vec<ToolAnswer>, StoreError> {
        let conn = self.conn();
        let err = |e| self.trace_err(trace, e);
        let mut st = conn
            .prepare_cached("SELECT tool, args, ok, answer FROM tool_answers WHERE trace_id = ?1 ORDER BY tool, args")
            .map_err(err)?;
        let rows = st
            .query_map([trace.to_string()], |r| {
                Ok(ToolAnswer {
                    tool: r.get(0)?,
                    args: r.get(1)?,
                    ok: r.get(2)?,
                    answer: r.get(3)?,
                })
            })
            .map_err(err)?;
        rows.collect::<Result<Vec<_>, _>>().map_err(err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answers_are_kept_once_per_call_and_read_back() {
        let store = Store::open_in_memory().unwrap();
        let t = TraceId::random();
        let a = |args: &str, answer: &str| ToolAnswer {
            tool: "prom_query".into(),
            args: args.into(),
            ok: true,
            answer: answer.into(),
        };
        store.save_answers(t, &[a("{\"q\":1}", "first")]).unwrap();
        store
            .save_answers(t, &[a("{\"q\":1}", "second"), a("{\"q\":2}", "other")])
            .unwrap();
        let got = store.answers(t).unwrap();
        assert_eq!(got, vec![a("{\"q\":1}", "first"), a("{\"q\":2}", "other")]);
        assert!(store.answers(TraceId::random()).unwrap().is_empty());
    }
}
