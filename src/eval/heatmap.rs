//! The evaluation as a heat map: one row per fault kind of the truth, then
//! one per scenario tag (`#postgres`), columns the measures of SCENARIOS.md
//! "Scoring", the same table `inquest insights` draws for stored investigations.

use super::{DEPTH, Report, ScenarioResult};
use crate::model::{Better, Column, HeatMap, HeatRow, Unit, median, share};

/// The columns, in order.
pub const COLUMNS: [Column; 10] = [
    Column::new("scenarios", "n", Better::Higher, Unit::Count),
    Column::share("ac1", "AC@1", Better::Higher, 0.8, 0.5),
    Column::share("ac1_kind", "AC@1+kind", Better::Higher, 0.8, 0.5),
    Column::share("ac3", "AC@3", Better::Higher, 0.9, 0.6),
    Column::share("avg5", "Avg@5", Better::Higher, 0.8, 0.5),
    Column::new("wall_s", "wall", Better::Lower, Unit::Seconds),
    Column::new("tool_calls", "calls", Better::Lower, Unit::Number),
    Column::new("tokens", "tokens", Better::Lower, Unit::Number),
    Column::share("budget_held", "in budget", Better::Higher, 0.95, 0.8),
    Column::share("failed", "failed", Better::Lower, 0.0, 0.1),
];

fn row(key: String, xs: &[&ScenarioResult]) -> HeatRow {
    let scored: Vec<&ScenarioResult> = xs.iter().copied().filter(|s| s.scored()).collect();
    let n = scored.len();
    let hits = |k: usize| scored.iter().filter(|s| s.hit_at(k)).count();
    let avg5 = (n > 0).then(|| (1..=DEPTH).map(|k| hits(k) as f64 / n as f64).sum::<f64>() / DEPTH as f64);
    let tokens: Vec<f64> = scored
        .iter()
        .filter(|s| s.tokens > 0)
        .map(|s| s.tokens as f64)
        .collect();
    HeatRow {
        key,
        cells: vec![
            Some(xs.len() as f64),
            share(hits(1), n),
            share(scored.iter().filter(|s| s.kind_right).count(), n),
            share(hits(3), n),
            avg5,
            median(scored.iter().map(|s| s.wall_ms as f64 / 1000.0).collect()),
            median(scored.iter().map(|s| s.tool_calls as f64).collect()),
            median(tokens),
            share(scored.iter().filter(|s| s.budget_held).count(), n),
            share(xs.iter().filter(|s| !s.scored()).count(), xs.len()),
        ],
    }
}

/// Rows: each fault kind of the truths (taxonomy order), then each tag (by name, as `#tag`).
pub fn heat_map(r: &Report) -> HeatMap {
    let mut rows = Vec::new();
    for kind in crate::model::FaultKind::ALL {
        let xs: Vec<&ScenarioResult> = r
            .scenarios
            .iter()
            .filter(|s| s.truth.as_ref().is_some_and(|t| t.kind == kind))
            .collect();
        if !xs.is_empty() {
            rows.push(row(kind.as_str().to_string(), &xs));
        }
    }
    let mut tags: Vec<&str> = r
        .scenarios
        .iter()
        .flat_map(|s| s.tags.iter().map(String::as_str))
        .collect();
    tags.sort_unstable();
    tags.dedup();
    for tag in tags {
        let xs: Vec<&ScenarioResult> = r.scenarios.iter().filter(|s| s.tags.iter().any(|t| t == tag)).collect();
        rows.push(row(format!("#{tag}"), &xs));
    }
    HeatMap {
        by: "fault kind, #tag".into(),
        since: None,
        columns: COLUMNS.to_vec(),
        rows,
        total: row("all".into(), &r.scenarios.iter().collect::<Vec<_>>()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::eval::{Ranked, TruthOut, summarise};
    use crate::model::FaultKind;

    fn result(id: &str, kind: FaultKind, rank: Option<usize>, kind_right: bool, tags: &[&str]) -> ScenarioResult {
        ScenarioResult {
            id: id.into(),
            path: format!("{id}.toml"),
            truth: Some(TruthOut {
                service: "orders-db".into(),
                kind,
            }),
            ranked: vec![Ranked {
                service: "orders-db".into(),
                kind,
                confidence: 0.9,
            }],
            rank_service: rank,
            kind_right,
            wall_ms: 2000,
            tool_calls: 40,
            tokens: 0,
            budget_held: rank.is_some(),
            error: None,
            tags: tags.iter().map(|t| t.to_string()).collect(),
        }
    }

    #[test]
    fn rows_are_fault_kinds_then_tags_with_the_scores_of_their_scenarios() {
        let mut failed = result("broken", FaultKind::DiskFull, None, false, &[]);
        failed.truth = None;
        failed.error = Some("bad file".into());
        let r = summarise(vec![
            result(
                "a",
                FaultKind::ConnectionPoolExhaustion,
                Some(1),
                true,
                &["postgres", "http"],
            ),
            result("b", FaultKind::ConnectionPoolExhaustion, Some(2), false, &["postgres"]),
            result("c", FaultKind::DiskFull, Some(1), false, &["http"]),
            failed,
        ]);
        let m = heat_map(&r);
        let keys: Vec<&str> = m.rows.iter().map(|r| r.key.as_str()).collect();
        assert_eq!(keys, ["disk_full", "connection_pool_exhaustion", "#http", "#postgres"]);
        let pool = &m.rows[1].cells;
        assert_eq!(pool[..5], [Some(2.0), Some(0.5), Some(0.5), Some(1.0), Some(0.9)]);
        assert_eq!(pool[7], None, "no tokens without a model");
        assert_eq!(pool[8], Some(1.0));
        let total = &m.total.cells;
        assert_eq!(total[0], Some(4.0));
        assert_eq!(total[1], Some(2.0 / 3.0));
        assert_eq!(total[5], Some(2.0));
        assert_eq!(total[9], Some(0.25), "one of four failed");
        // The text report is what it was: the heat map is its own output.
        assert!(!crate::eval::report::table(&r, false).contains("#postgres"));
    }
}
