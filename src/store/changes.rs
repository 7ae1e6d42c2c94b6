//! Changes CI/CD pipelines posted (`POST /v1/changes`): deploys, config
//! changes, scaling, feature flags, rollbacks. Their text is redacted before
//! it is stored, like every stored text.

use rusqlite::params;

use super::db::Store;
use super::error::StoreError;
use crate::model::Timestamp;
use crate::tools::redact::Redactor;

/// One change as it was posted (already validated) and as it is stored.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct RecordedChange {
    /// RFC 3339 on the wire.
    #[serde(serialize_with = "rfc3339")]
    pub at: Timestamp,
    pub service: String,
    /// deploy, config, scale, feature_flag, rollback or other.
    pub kind: String,
    pub summary: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    pub author: String,
}

fn rfc3339<S: serde::Serializer>(t: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&t.to_rfc3339())
}

impl Store {
    /// Stores `changes` (all or none), their summary, version and author
    /// redacted; returns how many were stored.
    pub fn add_changes(&self, changes: &[RecordedChange]) -> Result<usize, StoreError> {
        let redactor = Redactor::new();
        let now = Timestamp::now().0;
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(|e| self.sql_err(e))?;
        {
            let mut st = tx
                .prepare_cached(
                    "INSERT INTO changes (at, service, kind, summary, version, author, received_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )
                .map_err(|e| self.sql_err(e))?;
            for c in changes {
                st.execute(params![
                    c.at.0,
                    c.service,
                    c.kind,
                    redactor.redact(&c.summary),
                    c.version.as_deref().map(|v| redactor.redact(v)),
                    redactor.redact(&c.author),
                    now
                ])
                .map_err(|e| self.sql_err(e))?;
            }
        }
        tx.commit().map_err(|e| self.sql_err(e))?;
        Ok(changes.len())
    }

    /// The stored changes from `since` to `until` (inclusive, open when
    /// `None`), of one service or all, oldest first, at most `limit`.
    pub fn changes(
        &self,
        since: Option<Timestamp>,
        until: Option<Timestamp>,
        service: Option<&str>,
        limit: usize,
    ) -> Result<Vec<RecordedChange>, StoreError> {
        let conn = self.conn();
        let mut st = conn
            .prepare_cached(
                "SELECT at, service, kind, summary, version, author FROM changes \
                 WHERE at >= ?1 AND at <= ?2 AND (?3 IS NULL OR service = ?3) \
                 ORDER BY at, id LIMIT ?4",
            )
            .map_err(|e| self.sql_err(e))?;
        let rows = st
            .query_map(
                params![
                    since.map(|t| t.0).unwrap_or(i64::MIN),
                    until.map(|t| t.0).unwrap_or(i64::MAX),
                    service,
                    limit as i64
                ],
                |r| {
                    Ok(RecordedChange {
                        at: Timestamp(r.get(0)?),
                        service: r.get(1)?,
                        kind: r.get(2)?,
                        summary: r.get(3)?,
                        version: r.get(4)?,
                        author: r.get(5)?,
                    })
                },
            )
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(|e| self.sql_err(e))?;
        Ok(rows)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(at: i64, service: &str, summary: &str) -> RecordedChange {
        RecordedChange {
            at: Timestamp::from_secs(at),
            service: service.into(),
            kind: "deploy".into(),
            summary: summary.into(),
            version: Some("v1.2.3".into()),
            author: "ci".into(),
        }
    }

    #[test]
    fn changes_are_stored_redacted_and_listed_by_service_and_time() {
        let s = Store::open_in_memory().unwrap();
        let n = s
            .add_changes(&[
                change(100, "checkout", "rolled out with password=hunter2"),
                change(50, "checkout", "earlier"),
                change(200, "payments", "other service"),
            ])
            .unwrap();
        assert_eq!(n, 3);
        let all = s.changes(None, None, None, 100).unwrap();
        assert_eq!(all.len(), 3);
        assert_eq!(all[0].summary, "earlier", "oldest first");
        let co = s
            .changes(Some(Timestamp::from_secs(60)), None, Some("checkout"), 100)
            .unwrap();
        assert_eq!(co.len(), 1);
        assert!(!co[0].summary.contains("hunter2"), "stored redacted: {}", co[0].summary);
        assert_eq!(co[0].version.as_deref(), Some("v1.2.3"));
        assert_eq!(
            s.changes(None, Some(Timestamp::from_secs(99)), None, 100)
                .unwrap()
                .len(),
            1
        );
    }
}
