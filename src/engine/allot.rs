//! Which strategy to trust: the order branches start in and each one's share
//! of the budget, from how each strategy has done on the alert before.
//!
//! A strategy's record is the grades on root causes its branches supported:
//! `s` successes (correct counts 1, partly ½) out of `t` graded runs. Grades
//! from imported shared patterns count `SHARED_WEIGHT` each. Its weight is
//! the Laplace-smoothed odds of success, `w = (s + 1) / (t − s + 1)`: 1 with
//! no record, 6 after 5 of 5, ½ after one miss. Each of the `n` starting
//! branches gets an even floor of `EXPLORE / n` of the budget, and the rest
//! in proportion to its weight:
//!
//! ```text
//! share_i = EXPLORE / n + (1 − EXPLORE) · w_i / Σ w
//! ```
//!
//! so a poor early record never starves a strategy: it always keeps at least
//! `EXPLORE / n`, and a later success raises its weight again. Branches start
//! in order of weight (ties keep the configured order).

use std::collections::BTreeMap;

use crate::model::{Allotment, Budget, FaultKind, StrategyRecord};

/// The part of the budget split evenly, whatever the records say.
pub const EXPLORE: f64 = 0.5;

/// What one grade from a shared pattern counts for, against 1 for this store's own.
pub const SHARED_WEIGHT: f64 = 0.25;

/// Where the budget comes from: the strategies about to start, their records on `alert`.
pub struct Records<'a> {
    pub alert: &'a str,
    pub records: &'a [StrategyRecord],
}

/// The strategies' start order (indices into `strategies`) with each one's
/// allotment; empty when there is no record at all (the budget stays as it was).
pub fn allot(strategies: &[String], from: &Records<'_>, budget: &Budget) -> Vec<(usize, Allotment)> {
    let n = strategies.len();
    if n == 0 || !from.records.iter().any(|r| strategies.contains(&r.strategy)) {
        return Vec::new();
    }
    let tally: Vec<Tally> = strategies.iter().map(|s| Tally::of(s, from.records)).collect();
    let weights: Vec<f64> = tally.iter().map(Tally::weight).collect();
    let total: f64 = weights.iter().sum();
    let shares: Vec<f64> = weights
        .iter()
        .map(|w| EXPLORE / n as f64 + (1.0 - EXPLORE) * w / total)
        .collect();
    let call_pool = budget
        .branch_tool_calls
        .map_or(budget.tool_calls, |c| c.saturating_mul(n as u32).min(budget.tool_calls));
    let calls = apportion(call_pool as u64, &shares);
    let tokens = budget
        .branch_tokens
        .map(|t| apportion(t.saturating_mul(n as u64).min(budget.tokens), &shares));
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|a, b| weights[*b].total_cmp(&weights[*a]));
    order
        .into_iter()
        .map(|i| {
            let c = calls[i].max(1) as u32;
            // A record worse than none: the branch runs on its exploration share.
            let floor = weights[i] < 1.0;
            let reason = format!(
                "budget {c} call{}{}: {}",
                if c == 1 { "" } else { "s" },
                if floor { " (exploration share)" } else { "" },
                tally[i].describe(from.alert)
            );
            (
                i,
                Allotment {
                    tool_calls: c,
                    tokens: tokens.as_ref().map(|t| t[i].max(1)),
                    reason,
                },
            )
        })
        .collect()
}

/// Splits `pool` by `shares` (summing to 1) into whole units that sum to `pool`:
/// each gets the floor of its part, the units left go to the largest remainders.
fn apportion(pool: u64, shares: &[f64]) -> Vec<u64> {
    let exact: Vec<f64> = shares.iter().map(|s| s * pool as f64).collect();
    let mut out: Vec<u64> = exact.iter().map(|x| x.floor() as u64).collect();
    let mut left = pool.saturating_sub(out.iter().sum());
    let mut by_rest: Vec<usize> = (0..shares.len()).collect();
    by_rest.sort_by(|a, b| (exact[*b] - exact[*b].floor()).total_cmp(&(exact[*a] - exact[*a].floor())));
    for i in by_rest {
        if left == 0 {
            break;
        }
        out[i] += 1;
        left -= 1;
    }
    out
}

/// One strategy's grades, its own and shared, and the kinds of the correct ones.
#[derive(Default)]
struct Tally {
    own: (u32, u32, u32),
    shared: (u32, u32, u32),
    kinds: BTreeMap<FaultKind, u32>,
}

impl Tally {
    fn of(strategy: &str, records: &[StrategyRecord]) -> Tally {
        let mut t = Tally::default();
        for r in records.iter().filter(|r| r.strategy == strategy) {
            let side = if r.shared { &mut t.shared } else { &mut t.own };
            side.0 += r.correct;
            side.1 += r.partly;
            side.2 += r.wrong;
            for (k, n) in &r.correct_kinds {
                *t.kinds.entry(*k).or_default() += n;
            }
        }
        t
    }

    /// " (connection_pool_exhaustion)", or " (3 bad_deploy, 1 memory_leak)": what it was right about.
    fn kinds(&self) -> String {
        match self.kinds.len() {
            0 => String::new(),
            1 => format!(
                " ({})",
                self.kinds.keys().next().map(|k| k.to_string()).unwrap_or_default()
            ),
            _ => {
                let mut by: Vec<(&FaultKind, &u32)> = self.kinds.iter().collect();
                by.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
                let parts: Vec<String> = by.iter().map(|(k, n)| format!("{n} {k}")).collect();
                format!(" ({})", parts.join(", "))
            }
        }
    }

    /// Laplace-smoothed odds of success.
    fn weight(&self) -> f64 {
        let s = |(c, p, _): (u32, u32, u32)| c as f64 + 0.5 * p as f64;
        let t = |(c, p, w): (u32, u32, u32)| (c + p + w) as f64;
        let success = s(self.own) + SHARED_WEIGHT * s(self.shared);
        let runs = t(self.own) + SHARED_WEIGHT * t(self.shared);
        (success + 1.0) / (runs - success + 1.0)
    }

    fn describe(&self, alert: &str) -> String {
        let words = |(c, p, w): (u32, u32, u32)| {
            let mut s = format!("{c} of {} graded correct", c + p + w);
            if p > 0 {
                s.push_str(&format!(", {p} partly"));
            }
            s
        };
        let own = self.own.0 + self.own.1 + self.own.2 > 0;
        let shared = self.shared.0 + self.shared.1 + self.shared.2 > 0;
        let kinds = self.kinds();
        match (own, shared) {
            (true, true) => format!(
                "{} on {alert}; shared pattern {}{kinds}",
                words(self.own),
                words(self.shared)
            ),
            (true, false) => format!("{} on {alert}{kinds}", words(self.own)),
            (false, true) => format!(
                "no grades here on {alert}; shared pattern {}{kinds}",
                words(self.shared)
            ),
            (false, false) => format!("no graded record on {alert} yet"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(strategy: &str, correct: u32, partly: u32, wrong: u32, shared: bool) -> StrategyRecord {
        StrategyRecord {
            strategy: strategy.into(),
            correct,
            partly,
            wrong,
            shared,
            correct_kinds: BTreeMap::new(),
        }
    }

    fn names(n: &[&str]) -> Vec<String> {
        n.iter().map(|s| s.to_string()).collect()
    }

    fn budget(calls: u32) -> Budget {
        Budget {
            tool_calls: calls,
            ..Budget::default()
        }
    }

    fn calls_of(plan: &[(usize, Allotment)], i: usize) -> u32 {
        plan.iter().find(|(j, _)| *j == i).unwrap().1.tool_calls
    }

    #[test]
    fn without_any_record_the_budget_is_left_alone() {
        let s = names(&["metrics", "logs"]);
        let from = Records {
            alert: "A",
            records: &[rec("other", 3, 0, 0, false)],
        };
        assert!(allot(&s, &from, &budget(60)).is_empty());
    }

    #[test]
    fn a_strategy_that_keeps_being_right_starts_first_with_the_largest_share() {
        let s = names(&["metrics", "logs", "traces"]);
        let records = [rec("traces", 5, 0, 1, false), rec("logs", 0, 0, 1, false)];
        let plan = allot(
            &s,
            &Records {
                alert: "HighErrorRate",
                records: &records,
            },
            &budget(60),
        );
        let order: Vec<usize> = plan.iter().map(|(i, _)| *i).collect();
        assert_eq!(order, vec![2, 0, 1], "traces first, the unrecorded next, the miss last");
        let (traces, metrics, logs) = (calls_of(&plan, 2), calls_of(&plan, 0), calls_of(&plan, 1));
        assert_eq!(traces + metrics + logs, 60, "the whole budget, no more");
        assert!(traces > metrics && metrics > logs, "{traces} {metrics} {logs}");
        // The floor: half the budget split evenly, so 10 calls each at least.
        assert!(logs >= 10, "{logs}");
        let why = &plan[0].1.reason;
        assert_eq!(
            why,
            &format!("budget {traces} calls: 5 of 6 graded correct on HighErrorRate")
        );
        assert!(
            plan[2].1.reason.contains("0 of 1 graded correct"),
            "{}",
            plan[2].1.reason
        );
    }

    #[test]
    fn the_reason_names_the_kinds_it_was_right_about() {
        let s = names(&["a", "b"]);
        let mut own = rec("a", 3, 0, 1, false);
        own.correct_kinds = BTreeMap::from([(FaultKind::BadDeploy, 1), (FaultKind::MemoryLeak, 2)]);
        let mut shared = rec("a", 1, 0, 0, true);
        shared.correct_kinds = BTreeMap::from([(FaultKind::MemoryLeak, 1)]);
        let plan = allot(
            &s,
            &Records {
                alert: "X",
                records: &[own, shared],
            },
            &budget(100),
        );
        assert!(
            plan[0].1.reason.ends_with(
                ": 3 of 4 graded correct on X; shared pattern 1 of 1 graded correct (3 memory_leak, 1 bad_deploy)"
            ),
            "{plan:?}"
        );
    }

    #[test]
    fn a_long_losing_record_still_keeps_the_floor() {
        let s = names(&["a", "b"]);
        let records = [rec("a", 50, 0, 0, false), rec("b", 0, 0, 50, false)];
        let plan = allot(
            &s,
            &Records {
                alert: "X",
                records: &records,
            },
            &budget(100),
        );
        assert!(calls_of(&plan, 1) >= 25, "{plan:?}");
        assert!(plan[1].1.reason.contains("exploration share"), "{plan:?}");
    }

    #[test]
    fn shared_grades_count_less_than_local_ones() {
        let s = names(&["a", "b"]);
        let records = [rec("a", 4, 0, 0, true), rec("b", 4, 0, 0, false)];
        let plan = allot(
            &s,
            &Records {
                alert: "X",
                records: &records,
            },
            &budget(100),
        );
        assert!(calls_of(&plan, 1) > calls_of(&plan, 0), "{plan:?}");
        assert!(calls_of(&plan, 0) > 50 / 2, "shared still counts: {plan:?}");
        assert!(
            plan.iter().any(|(_, a)| a.reason.contains("shared pattern 4 of 4")),
            "{plan:?}"
        );
    }

    #[test]
    fn per_branch_budgets_are_shared_out_as_a_pool() {
        let s = names(&["a", "b"]);
        let records = [rec("a", 3, 0, 0, false)];
        let b = Budget {
            tool_calls: 200,
            branch_tool_calls: Some(10),
            tokens: 1_000_000,
            branch_tokens: Some(1_000),
            ..Budget::default()
        };
        let plan = allot(
            &s,
            &Records {
                alert: "X",
                records: &records,
            },
            &b,
        );
        let total: u32 = plan.iter().map(|(_, a)| a.tool_calls).sum();
        assert_eq!(total, 20);
        let tokens: u64 = plan.iter().map(|(_, a)| a.tokens.unwrap()).sum();
        assert_eq!(tokens, 2_000);
        assert!(calls_of(&plan, 0) > 10);
    }

    #[test]
    fn apportioning_never_loses_or_invents_a_unit() {
        for pool in [0u64, 1, 7, 199, 200] {
            let parts = apportion(pool, &[0.2, 0.3, 0.5 - 1e-9, 1e-9]);
            assert_eq!(parts.iter().sum::<u64>(), pool);
        }
    }
}
