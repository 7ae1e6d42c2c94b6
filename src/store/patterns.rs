//! Shared patterns: what graded root causes taught, without a name in it,
//! written for another team's store and read back from theirs.
//!
//! The file is JSON Lines. Line 1 is the header
//! `{"format":"inquest-patterns","version":1}`; every other line is one
//! pattern:
//!
//! ```json
//! {"alert":"{service}LatencyHigh","role":"downstream-database","kind":"connection_pool_exhaustion",
//!  "correct":3,"partly":1,"wrong":0,
//!  "strategies":[{"strategy":"metrics-first","correct":3,"partly":1,"wrong":0}]}
//! ```
//!
//! `alert` is the alert's name with its own service spelled `{service}`;
//! `role` is where the graded root cause sat (anonymize::ROLES); the counts
//! are the grades it got; `strategies` the grades of the strategies whose
//! branches supported it. Imported patterns live in their own table and
//! count less than the store's own grades (engine::allot::SHARED_WEIGHT).

use std::collections::BTreeMap;

use rusqlite::params;
use serde::{Deserialize, Serialize};

use super::anonymize::{Private, ROLES, Topology, alert_pattern, role_phrase};
use super::db::Store;
use super::error::StoreError;
use crate::model::{Alert, FaultKind, InvestigationState, StrategyRecord, Timestamp, TraceId};

pub const PATTERNS_FORMAT: &str = "inquest-patterns";
pub const PATTERNS_VERSION: u32 = 1;
/// The largest file `import` reads, and the most patterns in it.
pub const PATTERNS_MAX_BYTES: usize = 4 << 20;
pub const PATTERNS_MAX: usize = 10_000;
const STRATEGIES_MAX: usize = 64;
const COUNT_MAX: u32 = 1_000_000;

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Header {
    format: String,
    version: u32,
}

/// One generalised lesson: on alerts named like `alert`, the cause sat at `role` and was `kind`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pattern {
    pub alert: String,
    pub role: String,
    pub kind: FaultKind,
    pub correct: u32,
    pub partly: u32,
    pub wrong: u32,
    #[serde(default)]
    pub strategies: Vec<StrategyCount>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StrategyCount {
    pub strategy: String,
    pub correct: u32,
    pub partly: u32,
    pub wrong: u32,
}

/// What an export wrote and what it left out.
#[derive(Debug, Default)]
pub struct Exported {
    pub patterns: Vec<Pattern>,
    /// Graded root causes read.
    pub graded: usize,
    /// Of those, left out: no role could be derived, or the alert's name would give a name away.
    pub dropped: usize,
}

impl Exported {
    /// The file: the header, then one pattern a line.
    pub fn to_jsonl(&self) -> String {
        let header = Header {
            format: PATTERNS_FORMAT.into(),
            version: PATTERNS_VERSION,
        };
        let mut out = serde_json::to_string(&header).unwrap_or_default() + "\n";
        for p in &self.patterns {
            out.push_str(&serde_json::to_string(p).unwrap_or_default());
            out.push('\n');
        }
        out
    }
}

/// Why a patterns file was refused: the line and what was expected.
#[derive(Debug, PartialEq, Eq)]
pub struct PatternError {
    pub line: usize,
    pub message: String,
}

/// Reads and checks a patterns file.
pub fn parse_patterns(text: &str) -> Result<Vec<Pattern>, PatternError> {
    let err = |line: usize, message: String| PatternError { line, message };
    if text.len() > PATTERNS_MAX_BYTES {
        return Err(err(0, format!("larger than {} bytes", PATTERNS_MAX_BYTES)));
    }
    let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
    let Some((i, first)) = lines.next() else {
        return Err(err(
            1,
            format!("empty: expected the header {{\"format\":\"{PATTERNS_FORMAT}\",\"version\":{PATTERNS_VERSION}}}"),
        ));
    };
    let header: Header = serde_json::from_str(first).map_err(|e| {
        err(
            i + 1,
            format!("expected the header {{\"format\":\"{PATTERNS_FORMAT}\",\"version\":{PATTERNS_VERSION}}}: {e}"),
        )
    })?;
    if header.format != PATTERNS_FORMAT {
        return Err(err(
            i + 1,
            format!("format {:?}, expected {PATTERNS_FORMAT:?}", header.format),
        ));
    }
    if header.version != PATTERNS_VERSION {
        return Err(err(
            i + 1,
            format!(
                "version {}, this inquest reads version {PATTERNS_VERSION}",
                header.version
            ),
        ));
    }
    let mut out = Vec::new();
    for (i, l) in lines {
        if out.len() == PATTERNS_MAX {
            return Err(err(i + 1, format!("more than {PATTERNS_MAX} patterns")));
        }
        let p: Pattern = serde_json::from_str(l).map_err(|e| err(i + 1, format!("expected a pattern: {e}")))?;
        check(&p).map_err(|m| err(i + 1, m))?;
        out.push(p);
    }
    Ok(out)
}

fn name_ok(s: &str, max: usize) -> bool {
    !s.is_empty() && s.len() <= max && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

fn check(p: &Pattern) -> Result<(), String> {
    if !name_ok(&p.alert.replace("{service}", ""), 128) && p.alert != "{service}" {
        return Err(format!(
            "alert {:?}: expected letters, digits, '_', '-' and {{service}}, at most 128",
            p.alert
        ));
    }
    if !ROLES.contains(&p.role.as_str()) {
        return Err(format!("role {:?}: expected one of {}", p.role, ROLES.join(", ")));
    }
    if p.strategies.len() > STRATEGIES_MAX {
        return Err(format!("more than {STRATEGIES_MAX} strategies"));
    }
    let counts = |c: u32, p: u32, w: u32| c.max(p).max(w) <= COUNT_MAX;
    if !counts(p.correct, p.partly, p.wrong) {
        return Err(format!("a count above {COUNT_MAX}"));
    }
    for s in &p.strategies {
        if !name_ok(&s.strategy, 64) {
            return Err(format!(
                "strategy {:?}: expected letters, digits, '_' and '-', at most 64",
                s.strategy
            ));
        }
        if !counts(s.correct, s.partly, s.wrong) {
            return Err(format!("strategy {}: a count above {COUNT_MAX}", s.strategy));
        }
    }
    Ok(())
}

/// One graded root cause, as the learned lines keep it.
struct GradedRow {
    trace: String,
    span: String,
    grade: String,
    strategies: String,
}

impl Store {
    /// Every graded root cause as a pattern with no name of this store in it.
    pub fn export_patterns(&self) -> Result<Exported, StoreError> {
        let rows: Vec<GradedRow> = {
            let conn = self.conn();
            conn.prepare_cached(
                "SELECT trace_id, span_id, grade, strategies FROM learned_guidance \
                 WHERE trace_id IS NOT NULL AND span_id IS NOT NULL AND grade IS NOT NULL ORDER BY id",
            )
            .and_then(|mut st| {
                st.query_map([], |r| {
                    Ok(GradedRow {
                        trace: r.get(0)?,
                        span: r.get(1)?,
                        grade: r.get(2)?,
                        strategies: r.get(3)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()
            })
            .map_err(|e| self.sql_err(e))?
        };
        // First every name the store holds, then the patterns checked against all of them.
        let mut private = Private::default();
        for row in self.list()? {
            for s in [row.service, row.top_service].into_iter().flatten() {
                private.add(&s);
            }
        }
        let mut folded = Vec::new();
        for row in rows {
            let Ok(trace) = row.trace.parse::<TraceId>() else {
                continue;
            };
            let Ok(state) = InvestigationState::fold(&self.events(trace)?) else {
                continue;
            };
            let topology = Topology::of(&state);
            private.add_investigation(&state, &topology);
            folded.push((row, state, topology));
        }
        let mut out = Exported {
            graded: folded.len(),
            ..Default::default()
        };
        // Strategies of your own making may carry a name no label spells: only
        // the built-in ones travel.
        let shareable: Vec<String> = crate::tools::Catalog::builtin()
            .map(|c| c.strategies.into_iter().map(|s| s.name).collect())
            .unwrap_or_default();
        let mut by_key: BTreeMap<(String, String, FaultKind), Pattern> = BTreeMap::new();
        for (row, state, topology) in &folded {
            let found = state
                .root_causes
                .iter()
                .find(|rc| rc.hypotheses.iter().any(|h| h.to_string() == row.span));
            let (Some(rc), Some(alerting)) = (found, state.alert.service()) else {
                out.dropped += 1;
                continue;
            };
            let (Some(role), Some(alert)) = (
                topology.role(alerting, &rc.service),
                alert_pattern(&state.alert, &private),
            ) else {
                out.dropped += 1;
                continue;
            };
            let p = by_key
                .entry((alert.clone(), role.to_string(), rc.kind))
                .or_insert_with(|| Pattern {
                    alert,
                    role: role.to_string(),
                    kind: rc.kind,
                    correct: 0,
                    partly: 0,
                    wrong: 0,
                    strategies: Vec::new(),
                });
            let bump = |c: &mut u32, p: &mut u32, w: &mut u32| match row.grade.as_str() {
                "correct" => *c += 1,
                "partly" => *p += 1,
                _ => *w += 1,
            };
            bump(&mut p.correct, &mut p.partly, &mut p.wrong);
            // A strategy of your own, or one spelling a private name, is left out of the pattern.
            for s in row
                .strategies
                .split(',')
                .filter(|s| shareable.iter().any(|b| b == s) && !private.leaks(s))
            {
                let i = match p.strategies.iter().position(|x| x.strategy == s) {
                    Some(i) => i,
                    None => {
                        p.strategies.push(StrategyCount {
                            strategy: s.to_string(),
                            ..Default::default()
                        });
                        p.strategies.len() - 1
                    }
                };
                let sc = &mut p.strategies[i];
                bump(&mut sc.correct, &mut sc.partly, &mut sc.wrong);
            }
        }
        out.patterns = by_key.into_values().collect();
        Ok(out)
    }

    /// Keeps imported patterns as a prior of their own; a pattern already
    /// held (same alert, role and kind) is replaced, so importing a file
    /// twice counts it once. Returns how many were stored.
    pub fn import_patterns(&self, patterns: &[Pattern]) -> Result<usize, StoreError> {
        let conn = self.conn();
        let err = |e| self.sql_err(e);
        let tx = conn.unchecked_transaction().map_err(err)?;
        for p in patterns {
            tx.execute(
                "INSERT OR REPLACE INTO shared_patterns (alert, role, kind, correct, partly, wrong, strategies, imported_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    p.alert,
                    p.role,
                    crate::model::enum_name(&p.kind),
                    p.correct,
                    p.partly,
                    p.wrong,
                    serde_json::to_string(&p.strategies).unwrap_or_else(|_| "[]".into()),
                    Timestamp::now().0,
                ],
            )
            .map_err(err)?;
        }
        tx.commit().map_err(err)?;
        Ok(patterns.len())
    }

    /// Every imported pattern.
    pub fn shared_patterns(&self) -> Result<Vec<Pattern>, StoreError> {
        let conn = self.conn();
        let rows: Vec<(String, String, String, u32, u32, u32, String)> = conn
            .prepare_cached(
                "SELECT alert, role, kind, correct, partly, wrong, strategies FROM shared_patterns ORDER BY alert, role, kind",
            )
            .and_then(|mut st| {
                st.query_map([], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()
            })
            .map_err(|e| self.sql_err(e))?;
        Ok(rows
            .into_iter()
            .filter_map(|(alert, role, kind, correct, partly, wrong, strategies)| {
                Some(Pattern {
                    alert,
                    role,
                    kind: kind.parse().ok()?,
                    correct,
                    partly,
                    wrong,
                    strategies: serde_json::from_str(&strategies).unwrap_or_default(),
                })
            })
            .collect())
    }

    /// What imported patterns say of `alert`: guidance lines, best-graded
    /// first, and the strategies' shared records.
    pub fn shared_for(&self, alert: &Alert) -> Result<(Vec<String>, Vec<StrategyRecord>), StoreError> {
        let mut private = Private::default();
        private.add_alert(alert);
        let Some(key) = alert_pattern(alert, &private) else {
            return Ok((Vec::new(), Vec::new()));
        };
        let mut fits: Vec<Pattern> = self.shared_patterns()?.into_iter().filter(|p| p.alert == key).collect();
        fits.sort_by_key(|p| std::cmp::Reverse((p.correct * 2 + p.partly, std::cmp::Reverse(p.wrong))));
        let lines = fits
            .iter()
            .take(super::LEARNED_MAX)
            .map(|p| {
                let runs = p.correct + p.partly + p.wrong;
                // No service is named: a shared line informs, it does not move the ranking.
                format!(
                    "Shared pattern: on {} alerts elsewhere, the cause was {} ({}), graded correct {} of {runs}{}.",
                    alert.name,
                    role_phrase(&p.role),
                    p.kind,
                    p.correct,
                    if p.partly > 0 {
                        format!(", partly {}", p.partly)
                    } else {
                        String::new()
                    },
                )
            })
            .collect();
        let mut records: BTreeMap<String, StrategyRecord> = BTreeMap::new();
        for (kind, s) in fits.iter().flat_map(|p| p.strategies.iter().map(move |s| (p.kind, s))) {
            let r = records.entry(s.strategy.clone()).or_insert_with(|| StrategyRecord {
                strategy: s.strategy.clone(),
                shared: true,
                ..Default::default()
            });
            if s.correct > 0 {
                *r.correct_kinds.entry(kind).or_default() += s.correct;
            }
            r.correct += s.correct;
            r.partly += s.partly;
            r.wrong += s.wrong;
        }
        Ok((lines, records.into_values().collect()))
    }

    /// Forgets every imported pattern; returns how many.
    pub fn forget_shared(&self) -> Result<usize, StoreError> {
        self.conn()
            .execute("DELETE FROM shared_patterns", [])
            .map_err(|e| self.sql_err(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = r#"{"format":"inquest-patterns","version":1}"#;

    #[test]
    fn a_file_is_read_line_by_line_and_refused_with_the_line() {
        let good = r#"{"alert":"{service}LatencyHigh","role":"callee-database","kind":"connection_pool_exhaustion","correct":2,"partly":0,"wrong":1,"strategies":[{"strategy":"metrics-first","correct":2,"partly":0,"wrong":1}]}"#;
        let ps = parse_patterns(&format!("{HEADER}\n{good}\n")).unwrap();
        assert_eq!(ps.len(), 1);
        assert_eq!(ps[0].role, "callee-database");

        let e = parse_patterns(&format!("{{\"format\":\"inquest-patterns\",\"version\":9}}\n{good}\n")).unwrap_err();
        assert_eq!(e.line, 1);
        assert!(e.message.contains("version 9"), "{e:?}");

        let bad_role = good.replace("callee-database", "orders-db");
        let e = parse_patterns(&format!("{HEADER}\n{good}\n\n{bad_role}\n")).unwrap_err();
        assert_eq!(e.line, 4, "{e:?}");
        assert!(e.message.contains("expected one of"), "{e:?}");

        let host = good.replace("{service}LatencyHigh", "db1.corp.example.com");
        let e = parse_patterns(&format!("{HEADER}\n{host}\n")).unwrap_err();
        assert_eq!(e.line, 2);

        let extra = good.replace("\"correct\":2,", "\"correct\":2,\"service\":\"orders-db\",");
        assert!(
            parse_patterns(&format!("{HEADER}\n{extra}\n")).is_err(),
            "no field beyond the format's"
        );
        assert_eq!(parse_patterns("").unwrap_err().line, 1);
    }
}
