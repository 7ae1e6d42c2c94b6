//! Where the agent is weak across many investigations: each stored
//! investigation with its grades is reduced to what the heat map counts, then
//! grouped by alert, by graded fault kind or by strategy.
//!
//! Grades are on root causes (feedback with target `root_cause`, naming one of
//! the hypotheses merged into the cause; a later grade replaces an earlier
//! one). An investigation's verdict is its best graded cause: accepted when
//! one is graded correct, partly when the best is partly right, wrong when
//! every graded cause is wrong. AC@1 counts the top-ranked cause graded
//! correct among investigations whose top cause was graded.

use std::collections::HashMap;
use std::fmt;
use std::str::FromStr;

use super::heatmap::{Better, Column, HeatMap, HeatRow, Unit, median, share};
use super::{BranchStatus, Event, EventKind, Grade, InvestigationStatus, RootCause, SpanId, Timestamp};

/// What the rows of the insights table are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum GroupBy {
    /// The alert's name.
    #[default]
    Alert,
    /// The fault kind of the root cause graded correct, else of the best-ranked
    /// graded one, else of the top-ranked one as proposed.
    Kind,
    /// Each strategy the investigation ran, with what its branches did.
    Strategy,
}

impl GroupBy {
    pub const ALL: [GroupBy; 3] = [GroupBy::Alert, GroupBy::Kind, GroupBy::Strategy];

    pub fn as_str(self) -> &'static str {
        match self {
            GroupBy::Alert => "alert",
            GroupBy::Kind => "kind",
            GroupBy::Strategy => "strategy",
        }
    }
}

impl fmt::Display for GroupBy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for GroupBy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        GroupBy::ALL
            .into_iter()
            .find(|g| g.as_str() == s)
            .ok_or_else(|| format!("unknown grouping {s:?}, expected alert, kind or strategy"))
    }
}

/// The columns of the insights table. Times are medians from the alert's
/// `startsAt`; calls, tokens and cost are medians per investigation (per
/// strategy: of its branches; cost is not split by branch).
pub const COLUMNS: [Column; 12] = [
    Column::new("investigations", "inv", Better::Higher, Unit::Count),
    Column::share("graded", "graded", Better::Higher, 0.5, 0.2),
    Column::share("accepted", "accept", Better::Higher, 0.8, 0.5),
    Column::share("partly", "partly", Better::Lower, 0.1, 0.3),
    Column::share("wrong", "wrong", Better::Lower, 0.1, 0.3),
    Column::share("ac1", "AC@1", Better::Higher, 0.8, 0.5),
    Column::new("first_cause_s", "1st cause", Better::Lower, Unit::Seconds),
    Column::new("right_cause_s", "right cause", Better::Lower, Unit::Seconds),
    Column::new("tool_calls", "calls", Better::Lower, Unit::Number),
    Column::new("tokens", "tokens", Better::Lower, Unit::Number),
    Column::new("cost_usd", "cost", Better::Lower, Unit::Usd),
    Column::share("failed", "failed", Better::Lower, 0.05, 0.2),
];

/// What each column means, for a legend under the table.
pub const LEGEND: &str = "inv: investigations · graded: share with a graded root cause · accept/partly/wrong: \
     best grade, of graded · AC@1: top cause graded correct · 1st cause, right cause: median time from the \
     alert's startsAt to the first hypothesis and to the first one graded correct · calls, tokens, cost: \
     median per investigation · failed: failed or interrupted";

/// The event kinds the measures read; a store may hand over only these.
pub const EVENT_TYPES: [&str; 8] = [
    "investigation_started",
    "branch_started",
    "hypothesis_proposed",
    "tool_call_started",
    "branch_status_changed",
    "budget_used",
    "conclusion_updated",
    "investigation_finished",
];

/// One stored investigation, as the store hands it over.
#[derive(Clone, Debug)]
pub struct Investigated {
    pub status: InvestigationStatus,
    pub tool_calls: u32,
    pub tokens: u64,
    pub cost_microusd: u64,
    /// Its events, in order; kinds outside [`EVENT_TYPES`] are ignored.
    pub events: Vec<Event>,
    /// Grades on its root causes in the order they were given.
    pub grades: Vec<(SpanId, Grade)>,
}

/// One investigation (or one strategy's part of it) reduced to what the columns count.
#[derive(Clone, Debug, Default)]
struct Sample {
    key: String,
    /// The best grade of its graded causes; none when nothing was graded.
    verdict: Option<Grade>,
    /// The grade of its top-ranked cause, when that was graded.
    top: Option<Grade>,
    first_s: Option<f64>,
    correct_s: Option<f64>,
    calls: Option<f64>,
    tokens: Option<f64>,
    cost: Option<f64>,
    failed: bool,
}

#[derive(Default)]
struct Branch {
    strategy: String,
    status: Option<BranchStatus>,
    tokens: u64,
    calls: u32,
}

/// What one investigation's events say, folded once.
#[derive(Default)]
struct Facts {
    alert: String,
    /// The investigation's start, and how long the alert had fired by then (ns).
    start: Timestamp,
    fired_ns: i64,
    branches: Vec<(SpanId, Branch)>,
    /// Hypothesis span, its branch, when.
    hyps: Vec<(SpanId, Option<SpanId>, Timestamp)>,
    causes: Vec<RootCause>,
}

impl Facts {
    fn fold(events: &[Event]) -> Facts {
        let mut f = Facts::default();
        for e in events {
            match &e.kind {
                EventKind::InvestigationStarted { alert, now, .. } => {
                    f.alert = alert.name.clone();
                    f.start = e.at;
                    // A simulated alert fired in the scenario's time, which `now` is in too.
                    let since = now.0 - alert.starts_at.0;
                    f.fired_ns = if alert.starts_at.0 > 0 && since > 0 { since } else { 0 };
                }
                EventKind::BranchStarted { strategy, .. } => f.branches.push((
                    e.span_id,
                    Branch {
                        strategy: strategy.clone(),
                        ..Branch::default()
                    },
                )),
                EventKind::BranchStatusChanged { status, .. } => {
                    if let Some(b) = f.branch(e.span_id) {
                        b.status = Some(*status);
                    }
                }
                EventKind::BudgetUsed { branch_tokens, .. } => {
                    if let Some(b) = f.branch(e.span_id) {
                        b.tokens = b.tokens.max(*branch_tokens);
                    }
                }
                EventKind::ToolCallStarted { .. } => {
                    if let Some(b) = e.parent_span_id.and_then(|p| f.branch(p)) {
                        b.calls += 1;
                    }
                }
                EventKind::HypothesisProposed { .. } => f.hyps.push((e.span_id, e.parent_span_id, e.at)),
                EventKind::ConclusionUpdated { root_causes, .. }
                | EventKind::InvestigationFinished { root_causes, .. } => f.causes = root_causes.clone(),
                _ => {}
            }
        }
        f
    }

    fn branch(&mut self, span: SpanId) -> Option<&mut Branch> {
        self.branches.iter_mut().find(|(s, _)| *s == span).map(|(_, b)| b)
    }

    /// Seconds from the alert's start to `at`.
    fn since_alert(&self, at: Timestamp) -> f64 {
        ((at.0 - self.start.0).max(0) + self.fired_ns) as f64 / 1e9
    }
}

/// Grades by cause: the latest grade given on any hypothesis merged into it.
fn cause_grades(causes: &[RootCause], grades: &[(SpanId, Grade)]) -> Vec<Option<Grade>> {
    let mut latest: HashMap<SpanId, (usize, Grade)> = HashMap::new();
    for (i, (span, g)) in grades.iter().enumerate() {
        latest.insert(*span, (i, *g));
    }
    causes
        .iter()
        .map(|rc| {
            rc.hypotheses
                .iter()
                .filter_map(|h| latest.get(h))
                .max_by_key(|(i, _)| *i)
                .map(|(_, g)| *g)
        })
        .collect()
}

fn best(grades: impl Iterator<Item = Grade>) -> Option<Grade> {
    let rank = |g: &Grade| match g {
        Grade::Correct => 2,
        Grade::Partly => 1,
        Grade::Wrong => 0,
    };
    grades.max_by_key(rank)
}

/// The sample of the causes at `picked` (indices into the ranked causes), the
/// hypotheses that pass `hyp`, and the given cost figures.
struct Part<'a> {
    facts: &'a Facts,
    graded: &'a [Option<Grade>],
    picked: Vec<usize>,
}

impl Part<'_> {
    fn sample(&self, key: String, hyp: impl Fn(Option<SpanId>) -> bool) -> Sample {
        let grades = || self.picked.iter().filter_map(|i| self.graded[*i]);
        let correct: Vec<SpanId> = self
            .picked
            .iter()
            .filter(|i| self.graded[**i] == Some(Grade::Correct))
            .flat_map(|i| self.facts.causes[*i].hypotheses.iter().copied())
            .collect();
        let hyps = self.facts.hyps.iter().filter(|(_, b, _)| hyp(*b));
        let first = hyps.clone().map(|(_, _, at)| *at).min();
        let first_correct = hyps.filter(|(s, _, _)| correct.contains(s)).map(|(_, _, at)| *at).min();
        Sample {
            key,
            verdict: best(grades()),
            top: self.picked.first().and_then(|i| self.graded[*i]),
            first_s: first.map(|t| self.facts.since_alert(t)),
            correct_s: first_correct.map(|t| self.facts.since_alert(t)),
            ..Sample::default()
        }
    }
}

/// The samples of one investigation: one for the whole of it (keyed for `by`
/// unless `by` is strategy, then by alert) and, for `by` strategy, one per strategy.
fn samples(inv: &Investigated, by: GroupBy) -> (Sample, Vec<Sample>) {
    let facts = Facts::fold(&inv.events);
    let graded = cause_grades(&facts.causes, &inv.grades);
    let failed = matches!(
        inv.status,
        InvestigationStatus::Failed | InvestigationStatus::Interrupted
    );
    let all = Part {
        facts: &facts,
        graded: &graded,
        picked: (0..facts.causes.len()).collect(),
    };
    let key = match by {
        GroupBy::Kind => {
            let pick = graded
                .iter()
                .position(|g| *g == Some(Grade::Correct))
                .or_else(|| graded.iter().position(Option::is_some))
                .or((!facts.causes.is_empty()).then_some(0));
            pick.map(|i| facts.causes[i].kind.as_str().to_string())
                .unwrap_or_else(|| "(no root cause)".into())
        }
        _ => facts.alert.clone(),
    };
    let whole = Sample {
        calls: Some(inv.tool_calls as f64),
        tokens: (inv.tokens > 0).then_some(inv.tokens as f64),
        cost: (inv.cost_microusd > 0).then_some(inv.cost_microusd as f64 / 1e6),
        failed,
        ..all.sample(key, |_| true)
    };
    if by != GroupBy::Strategy {
        return (whole, Vec::new());
    }
    let mut strategies: Vec<&str> = Vec::new();
    for (_, b) in &facts.branches {
        if !strategies.contains(&b.strategy.as_str()) {
            strategies.push(&b.strategy);
        }
    }
    let parts = strategies
        .into_iter()
        .map(|s| {
            let mine: Vec<(SpanId, &Branch)> = facts
                .branches
                .iter()
                .filter(|(_, b)| b.strategy == s)
                .map(|(id, b)| (*id, b))
                .collect();
            let ours = |b: &SpanId| mine.iter().any(|(id, _)| id == b);
            let part = Part {
                facts: &facts,
                graded: &graded,
                picked: (0..facts.causes.len())
                    .filter(|i| facts.causes[*i].branches.iter().any(ours))
                    .collect(),
            };
            let tokens: u64 = mine.iter().map(|(_, b)| b.tokens).sum();
            Sample {
                calls: Some(mine.iter().map(|(_, b)| b.calls as f64).sum()),
                tokens: (tokens > 0).then_some(tokens as f64),
                cost: None,
                failed: failed || mine.iter().any(|(_, b)| b.status == Some(BranchStatus::Failed)),
                ..part.sample(s.to_string(), |b| b.as_ref().is_some_and(ours))
            }
        })
        .collect();
    (whole, parts)
}

fn row(key: String, xs: &[&Sample]) -> HeatRow {
    let n = xs.len();
    let verdicts: Vec<Grade> = xs.iter().filter_map(|s| s.verdict).collect();
    let g = verdicts.len();
    let count = |grade: Grade| verdicts.iter().filter(|v| **v == grade).count();
    let tops: Vec<Grade> = xs.iter().filter_map(|s| s.top).collect();
    let med = |f: fn(&Sample) -> Option<f64>| median(xs.iter().filter_map(|s| f(s)).collect());
    HeatRow {
        key,
        cells: vec![
            Some(n as f64),
            share(g, n),
            share(count(Grade::Correct), g),
            share(count(Grade::Partly), g),
            share(count(Grade::Wrong), g),
            share(tops.iter().filter(|t| **t == Grade::Correct).count(), tops.len()),
            med(|s| s.first_s),
            med(|s| s.correct_s),
            med(|s| s.calls),
            med(|s| s.tokens),
            med(|s| s.cost),
            share(xs.iter().filter(|s| s.failed).count(), n),
        ],
    }
}

/// The insights table over `investigations`, rows grouped `by`, busiest
/// first; the total row is every investigation once. Keys are as stored: a
/// renderer makes them safe for its output.
pub fn insights(investigations: &[Investigated], by: GroupBy, since: Option<String>) -> HeatMap {
    let mut wholes = Vec::new();
    let mut parts = Vec::new();
    for inv in investigations {
        let (w, p) = samples(inv, by);
        wholes.push(w);
        parts.extend(p);
    }
    let grouped = if by == GroupBy::Strategy { &parts } else { &wholes };
    let mut groups: Vec<(&str, Vec<&Sample>)> = Vec::new();
    for s in grouped {
        match groups.iter_mut().find(|(k, _)| *k == s.key) {
            Some((_, xs)) => xs.push(s),
            None => groups.push((&s.key, vec![s])),
        }
    }
    groups.sort_by(|a, b| b.1.len().cmp(&a.1.len()).then(a.0.cmp(b.0)));
    HeatMap {
        by: by.as_str().to_string(),
        since,
        columns: COLUMNS.to_vec(),
        rows: groups.iter().map(|(k, xs)| row(k.to_string(), xs)).collect(),
        total: row("all".into(), &wholes.iter().collect::<Vec<_>>()),
    }
}
