//! A PromQL evaluator over the simulator's in-memory series.
//!
//! It answers the same four HTTP endpoints a Prometheus server would
//! (`query_range`, `query`, `series`, `label/<name>/values`) for a subset of
//! PromQL, and within that subset it follows the Prometheus 3 engine closely:
//! left-open range selectors, the 5-minute lookback, `extrapolatedRate` for
//! `rate`/`increase`/`delta`, Kahan summation in `sum`/`avg`/`*_over_time`,
//! Go's heap mechanics in `topk`/`bottomk`, `bucketQuantile` for
//! `histogram_quantile`, Go's `math.Pow` for `^`, and the same errors for
//! duplicate label sets and ambiguous vector matching.
//!
//! Queries are parsed with `promql-parser`; anything outside the subset is
//! rejected before evaluation with [`PromqlError::Unsupported`] naming the
//! construct.
//!
//! Evaluation is vectorised over the steps of the query, as in Prometheus: an
//! instant vector is a list of series, each with one optional value per step.
//! Every such list is kept sorted by labels with unique label sets and without
//! empty series, which is also the order in which aggregations see their input.

// Series are parallel arrays indexed by step; loops over the step index read clearer than zipped iterators.
#![allow(clippy::needless_range_loop)]

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use promql_parser::label::{MatchOp, Matcher};
use promql_parser::parser::token::{self, TokenId};
use promql_parser::parser::value::ValueType;
use promql_parser::parser::{
    AggregateExpr, BinaryExpr, Call, Expr, LabelModifier, MatrixSelector, Offset, VectorMatchCardinality,
    VectorSelector,
};
use regex::Regex;

use crate::sources::sim::series::SeriesSet;
use crate::sources::telemetry::{InstantResult, Labels, MetricSeries};

/// Why a query could not be answered.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PromqlError {
    /// The query is not valid PromQL; carries the parser's message.
    #[error("parse error: {0}")]
    Parse(String),
    /// Valid PromQL outside the subset this evaluator implements; names the construct.
    #[error("unsupported in this PromQL subset: {0}")]
    Unsupported(String),
    /// An evaluation error Prometheus would also report (bad step, duplicate
    /// label sets, ambiguous matching, ...).
    #[error("{0}")]
    Eval(String),
}

type Result<T> = std::result::Result<T, PromqlError>;

const METRIC_NAME: &str = "__name__";
/// Prometheus' default lookback delta.
const LOOKBACK_MS: i64 = 5 * 60 * 1000;
/// Prometheus refuses range queries with more points per series than this.
const MAX_POINTS: i64 = 11_000;
/// The bit pattern Prometheus writes as a staleness marker.
const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;
/// The largest float that converts to an int64 without overflow (engine.go).
const MAX_INT64_F: f64 = 9_223_372_036_854_774_784.0;
const MIN_INT64_F: f64 = -9_223_372_036_854_775_808.0;
/// Tolerance for ignoring floating point noise between classic buckets.
const SMALL_DELTA_TOLERANCE: f64 = 1e-12;

const DUPLICATE_LABELSET: &str = "vector cannot contain metrics with the same labelset";

/// Range query as /api/v1/query_range: evaluates at start, start+step, .. <= end.
/// Output: one MetricSeries per distinct label set, samples at the step
/// timestamps where the expression has a value; sorted by labels. A
/// scalar-valued expression yields one series with empty labels.
pub fn query_range(
    set: &SeriesSet,
    query: &str,
    start_ms: i64,
    end_ms: i64,
    step_ms: i64,
) -> std::result::Result<Vec<MetricSeries>, PromqlError> {
    if step_ms <= 0 {
        return Err(PromqlError::Eval(
            "zero or negative query resolution step widths are not accepted. Try a positive integer".into(),
        ));
    }
    if end_ms < start_ms {
        return Err(PromqlError::Eval("end timestamp must not be before start time".into()));
    }
    if (end_ms - start_ms) / step_ms > MAX_POINTS {
        return Err(PromqlError::Eval(
            "exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)"
                .into(),
        ));
    }
    let expr = parse_query(query)?;
    match expr.value_type() {
        ValueType::Vector | ValueType::Scalar => {}
        other => {
            return Err(PromqlError::Eval(format!(
                "invalid expression type \"{}\" for range query, must be Scalar or instant Vector",
                type_name(other)
            )));
        }
    }
    check_supported(&expr)?;
    // Bounded by MAX_POINTS above, so this fits in usize.
    let n = ((end_ms - start_ms) / step_ms + 1) as usize;
    let ev = Evaluator {
        set,
        start: start_ms,
        step: step_ms,
        n,
    };
    Ok(match ev.eval(&expr)? {
        Val::Scalar(vals) => vec![MetricSeries {
            labels: Labels::new(),
            samples: vals.iter().enumerate().map(|(i, v)| (ev.ts(i), *v)).collect(),
        }],
        Val::Vector(series) => series
            .into_iter()
            .map(|s| MetricSeries {
                samples: s
                    .vals
                    .iter()
                    .enumerate()
                    .filter_map(|(i, v)| v.map(|v| (ev.ts(i), v)))
                    .collect(),
                labels: s.labels,
            })
            .collect(),
    })
}

/// Instant query as /api/v1/query at t_ms.
///
/// Vector results are sorted by labels, except for a top-level `topk` /
/// `bottomk`, whose result is ordered as Prometheus orders it: by group, then
/// by value (descending for `topk`, ascending for `bottomk`, NaN last).
pub fn query_instant(set: &SeriesSet, query: &str, t_ms: i64) -> std::result::Result<InstantResult, PromqlError> {
    let expr = parse_query(query)?;
    match expr.value_type() {
        ValueType::Vector | ValueType::Scalar => {}
        ValueType::Matrix => {
            return Err(PromqlError::Unsupported(
                "range vector as a query result (wrap it in a function such as rate())".into(),
            ));
        }
        ValueType::String => {
            return Err(PromqlError::Unsupported("string literal as a query result".into()));
        }
    }
    check_supported(&expr)?;
    let ev = Evaluator {
        set,
        start: t_ms,
        step: 1,
        n: 1,
    };
    Ok(match ev.eval(&expr)? {
        Val::Scalar(vals) => InstantResult::Scalar((t_ms, vals[0])),
        Val::Vector(series) => {
            let mut out: Vec<MetricSeries> = series
                .into_iter()
                .filter_map(|s| {
                    s.vals[0].map(|v| MetricSeries {
                        labels: s.labels,
                        samples: vec![(t_ms, v)],
                    })
                })
                .collect();
            if let Some((desc, grouping)) = top_level_k_order(&expr) {
                sort_like_topk(&mut out, desc, &grouping);
            }
            InstantResult::Vector(out)
        }
    })
}

/// /api/v1/series: label sets of series matching any of the selectors that
/// have a sample in [start,end]. Sorted and deduplicated.
pub fn series(
    set: &SeriesSet,
    matches: &[&str],
    start_ms: i64,
    end_ms: i64,
) -> std::result::Result<Vec<Labels>, PromqlError> {
    if matches.is_empty() {
        return Err(PromqlError::Eval("no match[] parameter provided".into()));
    }
    let selectors = matches
        .iter()
        .map(|m| parse_series_selector(m))
        .collect::<Result<Vec<_>>>()?;
    let mut out: BTreeSet<Labels> = BTreeSet::new();
    for sel in &selectors {
        for s in sel.candidates(set) {
            if has_sample_in(&s.samples, start_ms, end_ms) && !out.contains(&s.labels) {
                out.insert(s.labels.clone());
            }
        }
    }
    Ok(out.into_iter().collect())
}

/// Calls `each` on every series matching one of `matches` (every series when
/// there are none) that has a sample in [start, end]: the walk behind the
/// label endpoints.
fn each_matching(
    set: &SeriesSet,
    matches: &[&str],
    start_ms: i64,
    end_ms: i64,
    mut each: impl FnMut(&MetricSeries),
) -> Result<()> {
    let selectors = matches
        .iter()
        .map(|m| parse_series_selector(m))
        .collect::<Result<Vec<_>>>()?;
    let mut consider = |s: &MetricSeries| {
        if has_sample_in(&s.samples, start_ms, end_ms) {
            each(s);
        }
    };
    if selectors.is_empty() {
        set.all().iter().for_each(&mut consider);
    } else {
        for sel in &selectors {
            sel.candidates(set).into_iter().for_each(&mut consider);
        }
    }
    Ok(())
}

/// As Prometheus's /api/v1/labels: the label names of the series matching
/// `matches` (all series when empty) with a sample in [start, end], sorted.
pub fn label_names(
    set: &SeriesSet,
    matches: &[&str],
    start_ms: i64,
    end_ms: i64,
) -> std::result::Result<Vec<String>, PromqlError> {
    let mut out: BTreeSet<String> = BTreeSet::new();
    each_matching(set, matches, start_ms, end_ms, |s| {
        out.extend(s.labels.iter().filter(|(_, v)| !v.is_empty()).map(|(k, _)| k.clone()));
    })?;
    Ok(out.into_iter().collect())
}

/// /api/v1/label/<name>/values, optionally restricted by selectors; sorted,
/// deduplicated. Only series with a sample in [start,end] count; series
/// without the label contribute nothing.
pub fn label_values(
    set: &SeriesSet,
    name: &str,
    matches: &[&str],
    start_ms: i64,
    end_ms: i64,
) -> std::result::Result<Vec<String>, PromqlError> {
    let mut out: BTreeSet<String> = BTreeSet::new();
    each_matching(set, matches, start_ms, end_ms, |s| {
        if let Some(v) = s.labels.get(name).filter(|v| !v.is_empty()) {
            out.insert(v.clone());
        }
    })?;
    Ok(out.into_iter().collect())
}

// ---------------------------------------------------------------------------
// Parsing and the supported subset

fn parse_query(query: &str) -> Result<Expr> {
    promql_parser::parser::parse(query).map_err(PromqlError::Parse)
}

fn type_name(t: ValueType) -> &'static str {
    match t {
        ValueType::Vector => "instant vector",
        ValueType::Scalar => "scalar",
        ValueType::Matrix => "range vector",
        ValueType::String => "string",
    }
}

/// A selector for the metadata endpoints: a plain `metric{...}` selector.
fn parse_series_selector(m: &str) -> Result<CompiledSelector> {
    match parse_query(m)? {
        Expr::VectorSelector(vs) if vs.offset.is_none() && vs.at.is_none() => Ok(CompiledSelector::new(&vs)),
        _ => Err(PromqlError::Parse(format!(
            "expected a series selector such as up{{job=\"api\"}}, got {m:?}"
        ))),
    }
}

const SUPPORTED_FUNCTIONS: &[&str] = &[
    "rate",
    "irate",
    "increase",
    "delta",
    "abs",
    "clamp_min",
    "clamp_max",
    "avg_over_time",
    "max_over_time",
    "min_over_time",
    "sum_over_time",
    "count_over_time",
    "scalar",
    "vector",
    "time",
    "histogram_quantile",
];

fn is_range_function(name: &str) -> bool {
    matches!(
        name,
        "rate"
            | "irate"
            | "increase"
            | "delta"
            | "avg_over_time"
            | "max_over_time"
            | "min_over_time"
            | "sum_over_time"
            | "count_over_time"
    )
}

/// Rejects, before any evaluation, every construct outside the subset.
fn check_supported(e: &Expr) -> Result<()> {
    let unsupported = |what: String| Err(PromqlError::Unsupported(what));
    match e {
        Expr::Aggregate(a) => {
            if !matches!(
                a.op.id(),
                token::T_SUM
                    | token::T_AVG
                    | token::T_MIN
                    | token::T_MAX
                    | token::T_COUNT
                    | token::T_TOPK
                    | token::T_BOTTOMK
            ) {
                return unsupported(format!("aggregation `{}`", a.op));
            }
            if let Some(p) = &a.param {
                check_supported(p)?;
            }
            check_supported(&a.expr)
        }
        Expr::Unary(u) => check_supported(&u.expr),
        Expr::Binary(b) => {
            if BinOp::from_token(b.op.id()).is_none() {
                return unsupported(format!("operator `{}`", b.op));
            }
            if let Some(m) = &b.modifier {
                match m.card {
                    VectorMatchCardinality::ManyToOne(_) => {
                        return unsupported("group_left (many-to-one matching)".into());
                    }
                    VectorMatchCardinality::OneToMany(_) => {
                        return unsupported("group_right (one-to-many matching)".into());
                    }
                    _ => {}
                }
                if m.fill_values.lhs.is_some() || m.fill_values.rhs.is_some() {
                    return unsupported("fill modifier".into());
                }
            }
            check_supported(&b.lhs)?;
            check_supported(&b.rhs)
        }
        Expr::Paren(p) => check_supported(&p.expr),
        Expr::Subquery(_) => unsupported("subquery".into()),
        Expr::NumberLiteral(_) => Ok(()),
        Expr::StringLiteral(_) => unsupported("string literal".into()),
        Expr::VectorSelector(vs) => check_selector(vs),
        Expr::MatrixSelector(ms) => check_selector(&ms.vs),
        Expr::Call(c) => {
            if !SUPPORTED_FUNCTIONS.contains(&c.func.name) {
                return unsupported(format!("function `{}`", c.func.name));
            }
            for a in &c.args.args {
                check_supported(a)?;
            }
            if is_range_function(c.func.name) && matrix_arg(c).is_none() {
                // The parser only lets a subquery take a selector's place.
                return unsupported("subquery".into());
            }
            Ok(())
        }
        Expr::Extension(_) => unsupported("extension expression".into()),
    }
}

fn check_selector(vs: &VectorSelector) -> Result<()> {
    if vs.at.is_some() {
        return Err(PromqlError::Unsupported("@ modifier".into()));
    }
    Ok(())
}

fn unwrap_parens(mut e: &Expr) -> &Expr {
    while let Expr::Paren(p) = e {
        e = &p.expr;
    }
    e
}

fn matrix_arg(c: &Call) -> Option<&MatrixSelector> {
    match c.args.args.first().map(|a| unwrap_parens(a)) {
        Some(Expr::MatrixSelector(ms)) => Some(ms),
        _ => None,
    }
}

// ---------------------------------------------------------------------------
// Series selection

enum MatchKind {
    Eq(String),
    Ne(String),
    Re(Regex),
    NotRe(Regex),
}

struct CompiledMatcher {
    name: String,
    kind: MatchKind,
}

impl CompiledMatcher {
    fn new(m: &Matcher) -> Self {
        // Prometheus matches label regexes as `^(?s:re)$`; the parser compiled
        // `^(?:re)$` (with a fallback for Go-only repeat syntax). Compile the
        // Prometheus form once here and keep the parser's regex if ours fails.
        let anchored = |parsed: &Regex| Regex::new(&format!("^(?s:{})$", m.value)).unwrap_or_else(|_| parsed.clone());
        let kind = match &m.op {
            MatchOp::Equal => MatchKind::Eq(m.value.clone()),
            MatchOp::NotEqual => MatchKind::Ne(m.value.clone()),
            MatchOp::Re(r) => MatchKind::Re(anchored(r)),
            MatchOp::NotRe(r) => MatchKind::NotRe(anchored(r)),
        };
        CompiledMatcher {
            name: m.name.clone(),
            kind,
        }
    }

    /// A missing label matches as the empty string.
    fn matches(&self, labels: &Labels) -> bool {
        let v = labels.get(&self.name).map(String::as_str).unwrap_or("");
        match &self.kind {
            MatchKind::Eq(x) => v == x,
            MatchKind::Ne(x) => v != x,
            MatchKind::Re(r) => r.is_match(v),
            MatchKind::NotRe(r) => !r.is_match(v),
        }
    }
}

/// A vector selector with its regexes compiled (once per query).
struct CompiledSelector {
    name: Option<String>,
    matchers: Vec<CompiledMatcher>,
    /// `{a="1" or b="2"}`: the series must match one of the groups.
    or_groups: Vec<Vec<CompiledMatcher>>,
}

impl CompiledSelector {
    fn new(vs: &VectorSelector) -> Self {
        CompiledSelector {
            name: vs.name.clone(),
            matchers: vs.matchers.matchers.iter().map(CompiledMatcher::new).collect(),
            or_groups: vs
                .matchers
                .or_matchers
                .iter()
                .map(|g| g.iter().map(CompiledMatcher::new).collect())
                .collect(),
        }
    }

    fn matches(&self, labels: &Labels) -> bool {
        if let Some(n) = &self.name
            && labels.get(METRIC_NAME) != Some(n)
        {
            return false;
        }
        self.matchers.iter().all(|m| m.matches(labels))
            && (self.or_groups.is_empty() || self.or_groups.iter().any(|g| g.iter().all(|m| m.matches(labels))))
    }

    /// The metric name every selected series must have, if the selector pins one.
    fn pinned_name(&self) -> Option<&str> {
        if let Some(n) = &self.name {
            return Some(n);
        }
        self.matchers.iter().find_map(|m| match &m.kind {
            MatchKind::Eq(v) if m.name == METRIC_NAME => Some(v.as_str()),
            _ => None,
        })
    }

    /// Matching series in insertion order (possibly several per label set).
    fn candidates<'a>(&self, set: &'a SeriesSet) -> Vec<&'a MetricSeries> {
        match self.pinned_name() {
            Some(name) => set.by_name(name).filter(|s| self.matches(&s.labels)).collect(),
            None => set.all().iter().filter(|s| self.matches(&s.labels)).collect(),
        }
    }
}

/// One selected series: series with identical labels are merged, as a TSDB
/// would store them as one (a later-added series wins on equal timestamps).
struct Selected<'a> {
    labels: &'a Labels,
    samples: Cow<'a, [(i64, f64)]>,
}

/// Selected series, sorted by labels, one per label set.
fn select<'a>(set: &'a SeriesSet, sel: &CompiledSelector) -> Vec<Selected<'a>> {
    let mut cands = sel.candidates(set);
    // Stable: equal label sets stay in insertion order for the merge below.
    cands.sort_by(|a, b| a.labels.cmp(&b.labels));
    let mut out = Vec::with_capacity(cands.len());
    let mut i = 0;
    while i < cands.len() {
        let mut j = i + 1;
        while j < cands.len() && cands[j].labels == cands[i].labels {
            j += 1;
        }
        let samples = if j - i == 1 {
            Cow::Borrowed(cands[i].samples.as_slice())
        } else {
            Cow::Owned(merge_samples(&cands[i..j]))
        };
        out.push(Selected {
            labels: &cands[i].labels,
            samples,
        });
        i = j;
    }
    out
}

fn merge_samples(group: &[&MetricSeries]) -> Vec<(i64, f64)> {
    let mut all: Vec<(i64, usize, f64)> = group
        .iter()
        .enumerate()
        .flat_map(|(gi, s)| s.samples.iter().map(move |&(t, v)| (t, gi, v)))
        .collect();
    all.sort_by_key(|a| (a.0, a.1));
    let mut out: Vec<(i64, f64)> = Vec::with_capacity(all.len());
    for (t, _, v) in all {
        match out.last_mut() {
            Some(last) if last.0 == t => last.1 = v,
            _ => out.push((t, v)),
        }
    }
    out
}

fn has_sample_in(samples: &[(i64, f64)], start: i64, end: i64) -> bool {
    let i = samples.partition_point(|p| p.0 < start);
    i < samples.len() && samples[i].0 <= end
}

fn is_stale(v: f64) -> bool {
    v.to_bits() == STALE_NAN_BITS
}

fn offset_ms(o: Option<&Offset>) -> i64 {
    match o {
        None => 0,
        Some(Offset::Pos(d)) => duration_ms(*d),
        Some(Offset::Neg(d)) => -duration_ms(*d),
    }
}

fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Go's `time.Duration.Seconds()`.
fn go_seconds(d: Duration) -> f64 {
    d.as_secs() as f64 + f64::from(d.subsec_nanos()) / 1e9
}

// ---------------------------------------------------------------------------
// Values

/// One series of an instant vector evaluated over all steps.
struct Series {
    labels: Labels,
    vals: Vec<Option<f64>>,
}

enum Val {
    /// One value per step.
    Scalar(Vec<f64>),
    /// Sorted by labels, unique label sets, no empty series.
    Vector(Vec<Series>),
}

fn drop_name(mut l: Labels) -> Labels {
    l.remove(METRIC_NAME);
    l
}

fn dup_labelset() -> PromqlError {
    PromqlError::Eval(DUPLICATE_LABELSET.into())
}

/// Collects output series by label set, merging series that end up with the
/// same labels at different steps and failing, as Prometheus does, when two
/// land on the same step.
struct Builder {
    n: usize,
    index: HashMap<Labels, usize>,
    series: Vec<Series>,
}

impl Builder {
    fn new(n: usize) -> Self {
        Builder {
            n,
            index: HashMap::new(),
            series: Vec::new(),
        }
    }

    fn slot(&mut self, labels: Labels) -> usize {
        if let Some(&i) = self.index.get(&labels) {
            return i;
        }
        let i = self.series.len();
        self.index.insert(labels.clone(), i);
        self.series.push(Series {
            labels,
            vals: vec![None; self.n],
        });
        i
    }

    fn put(&mut self, slot: usize, step: usize, v: f64) -> Result<()> {
        let cell = &mut self.series[slot].vals[step];
        if cell.is_some() {
            return Err(dup_labelset());
        }
        *cell = Some(v);
        Ok(())
    }

    fn finish(self) -> Vec<Series> {
        finish_series(self.series)
    }
}

/// Drops empty series and sorts by labels.
fn finish_series(series: Vec<Series>) -> Vec<Series> {
    let mut out: Vec<Series> = series
        .into_iter()
        .filter(|s| s.vals.iter().any(Option::is_some))
        .collect();
    out.sort_by(|a, b| a.labels.cmp(&b.labels));
    out
}

fn fmt_labels(l: &Labels) -> String {
    let parts: Vec<String> = l.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{{{}}}", parts.join(", "))
}

// ---------------------------------------------------------------------------
// Operators

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Mod,
    Pow,
    Eq,
    Ne,
    Gt,
    Lt,
    Ge,
    Le,
    And,
    Or,
    Unless,
}

impl BinOp {
    fn from_token(id: TokenId) -> Option<BinOp> {
        Some(match id {
            token::T_ADD => BinOp::Add,
            token::T_SUB => BinOp::Sub,
            token::T_MUL => BinOp::Mul,
            token::T_DIV => BinOp::Div,
            token::T_MOD => BinOp::Mod,
            token::T_POW => BinOp::Pow,
            token::T_EQLC => BinOp::Eq,
            token::T_NEQ => BinOp::Ne,
            token::T_GTR => BinOp::Gt,
            token::T_LSS => BinOp::Lt,
            token::T_GTE => BinOp::Ge,
            token::T_LTE => BinOp::Le,
            token::T_LAND => BinOp::And,
            token::T_LOR => BinOp::Or,
            token::T_LUNLESS => BinOp::Unless,
            _ => return None,
        })
    }

    fn is_comparison(self) -> bool {
        matches!(
            self,
            BinOp::Eq | BinOp::Ne | BinOp::Gt | BinOp::Lt | BinOp::Ge | BinOp::Le
        )
    }

    fn is_set(self) -> bool {
        matches!(self, BinOp::And | BinOp::Or | BinOp::Unless)
    }

    /// Arithmetic changes what the metric means, so its name goes.
    fn drops_name(self) -> bool {
        matches!(
            self,
            BinOp::Add | BinOp::Sub | BinOp::Mul | BinOp::Div | BinOp::Mod | BinOp::Pow
        )
    }

    /// vectorElemBinop for floats: (value, keep).
    fn apply(self, l: f64, r: f64) -> (f64, bool) {
        match self {
            BinOp::Add => (l + r, true),
            BinOp::Sub => (l - r, true),
            BinOp::Mul => (l * r, true),
            BinOp::Div => (l / r, true),
            // Rust's `%` on floats is C's fmod, as is Go's math.Mod.
            BinOp::Mod => (l % r, true),
            BinOp::Pow => (go_pow(l, r), true),
            BinOp::Eq => (l, l == r),
            BinOp::Ne => (l, l != r),
            BinOp::Gt => (l, l > r),
            BinOp::Lt => (l, l < r),
            BinOp::Ge => (l, l >= r),
            BinOp::Le => (l, l <= r),
            // Set operators never reach element-wise evaluation.
            BinOp::And | BinOp::Or | BinOp::Unless => (l, true),
        }
    }

    /// scalarBinop: comparisons yield 0 or 1.
    fn apply_scalar(self, l: f64, r: f64) -> f64 {
        let (v, keep) = self.apply(l, r);
        if self.is_comparison() {
            if keep { 1.0 } else { 0.0 }
        } else {
            v
        }
    }
}

/// How two vectors are matched: `on(..)` keeps only the listed labels,
/// `ignoring(..)` (the default, with an empty list) drops them and `__name__`.
enum Matching {
    On(Vec<String>),
    Ignoring(Vec<String>),
}

impl Matching {
    fn from_modifier(m: Option<&LabelModifier>) -> Matching {
        match m {
            Some(LabelModifier::Include(ls)) => Matching::On(ls.labels.clone()),
            Some(LabelModifier::Exclude(ls)) => Matching::Ignoring(ls.labels.clone()),
            None => Matching::Ignoring(Vec::new()),
        }
    }

    fn signature<'a>(&self, labels: &'a Labels) -> Vec<(&'a str, &'a str)> {
        labels
            .iter()
            .filter(|(k, v)| {
                !v.is_empty()
                    && match self {
                        Matching::On(names) => names.iter().any(|n| n == *k),
                        Matching::Ignoring(names) => k.as_str() != METRIC_NAME && !names.iter().any(|n| n == *k),
                    }
            })
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }

    fn match_labels(&self, labels: &Labels) -> Labels {
        self.signature(labels)
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// resultMetric for one-to-one matching.
    fn result_labels(&self, lhs: &Labels, op: BinOp, return_bool: bool) -> Labels {
        let mut l = lhs.clone();
        if op.drops_name() || return_bool {
            l.remove(METRIC_NAME);
        }
        match self {
            Matching::On(names) => l.retain(|k, _| names.iter().any(|n| n == k)),
            Matching::Ignoring(names) => {
                for n in names {
                    l.remove(n);
                }
            }
        }
        l
    }
}

/// Maps each series of both sides to the ordinal of its matching signature.
fn signature_ordinals<'s>(lhs: &'s [Series], rhs: &'s [Series], m: &Matching) -> (Vec<usize>, Vec<usize>, usize) {
    let mut ords: HashMap<Vec<(&'s str, &'s str)>, usize> = HashMap::new();
    let mut ord = |s: &'s Series| {
        let next = ords.len();
        *ords.entry(m.signature(&s.labels)).or_insert(next)
    };
    let l: Vec<usize> = lhs.iter().map(&mut ord).collect();
    let r: Vec<usize> = rhs.iter().map(&mut ord).collect();
    (l, r, ords.len())
}

// ---------------------------------------------------------------------------
// Evaluation

struct Evaluator<'a> {
    set: &'a SeriesSet,
    start: i64,
    step: i64,
    n: usize,
}

impl Evaluator<'_> {
    fn ts(&self, i: usize) -> i64 {
        self.start + i as i64 * self.step
    }

    fn eval(&self, e: &Expr) -> Result<Val> {
        match e {
            Expr::Paren(p) => self.eval(&p.expr),
            Expr::NumberLiteral(n) => Ok(Val::Scalar(vec![n.val; self.n])),
            Expr::VectorSelector(vs) => Ok(Val::Vector(self.eval_selector(vs))),
            Expr::Unary(u) => match self.eval(&u.expr)? {
                Val::Scalar(v) => Ok(Val::Scalar(v.into_iter().map(|x| -x).collect())),
                Val::Vector(series) => {
                    let mut out = Builder::new(self.n);
                    for s in series {
                        let slot = out.slot(drop_name(s.labels));
                        for (i, v) in s.vals.iter().enumerate() {
                            if let Some(v) = v {
                                out.put(slot, i, -v)?;
                            }
                        }
                    }
                    Ok(Val::Vector(out.finish()))
                }
            },
            Expr::Binary(b) => self.eval_binary(b),
            Expr::Aggregate(a) => self.eval_aggregate(a),
            Expr::Call(c) => self.eval_call(c),
            Expr::MatrixSelector(_) => Err(PromqlError::Eval(
                "a range vector selector can only be an argument of a function such as rate()".into(),
            )),
            Expr::Subquery(_) => Err(PromqlError::Unsupported("subquery".into())),
            Expr::StringLiteral(_) => Err(PromqlError::Unsupported("string literal".into())),
            Expr::Extension(_) => Err(PromqlError::Unsupported("extension expression".into())),
        }
    }

    fn eval_vector(&self, e: &Expr) -> Result<Vec<Series>> {
        match self.eval(e)? {
            Val::Vector(v) => Ok(v),
            Val::Scalar(_) => Err(PromqlError::Eval(format!(
                "expected an instant vector, got a scalar: {e}"
            ))),
        }
    }

    fn eval_scalar(&self, e: &Expr) -> Result<Vec<f64>> {
        match self.eval(e)? {
            Val::Scalar(v) => Ok(v),
            Val::Vector(_) => Err(PromqlError::Eval(format!(
                "expected a scalar, got an instant vector: {e}"
            ))),
        }
    }

    // --- selectors ---------------------------------------------------------

    /// Latest sample in (t - offset - 5m, t - offset] at each step.
    fn eval_selector(&self, vs: &VectorSelector) -> Vec<Series> {
        let sel = CompiledSelector::new(vs);
        let offset = offset_ms(vs.offset.as_ref());
        let mut out = Vec::new();
        for s in select(self.set, &sel) {
            let samples = &s.samples[..];
            let first_ref = self.ts(0) - offset;
            // Number of samples at or before the reference time; only grows.
            let mut idx = samples.partition_point(|p| p.0 <= first_ref);
            let mut vals = vec![None; self.n];
            let mut any = false;
            for (i, cell) in vals.iter_mut().enumerate() {
                let r = self.ts(i) - offset;
                while idx < samples.len() && samples[idx].0 <= r {
                    idx += 1;
                }
                if idx == 0 {
                    continue;
                }
                let (t, v) = samples[idx - 1];
                if t <= r - LOOKBACK_MS || is_stale(v) {
                    continue;
                }
                *cell = Some(v);
                any = true;
            }
            if any {
                out.push(Series {
                    labels: s.labels.clone(),
                    vals,
                });
            }
        }
        out
    }

    /// Applies `f` to the samples in (t - offset - range, t - offset] of each
    /// selected series at each step; the metric name is dropped.
    fn eval_range_fn(
        &self,
        ms: &MatrixSelector,
        f: impl Fn(&[(i64, f64)], i64, i64) -> Option<f64>,
    ) -> Result<Vec<Series>> {
        let sel = CompiledSelector::new(&ms.vs);
        let offset = offset_ms(ms.vs.offset.as_ref());
        let range = duration_ms(ms.range);
        let mut out = Vec::new();
        for s in select(self.set, &sel) {
            // Staleness markers never enter a range.
            let samples: Cow<[(i64, f64)]> = if s.samples.iter().any(|p| is_stale(p.1)) {
                Cow::Owned(s.samples.iter().copied().filter(|p| !is_stale(p.1)).collect())
            } else {
                Cow::Borrowed(&s.samples[..])
            };
            let samples = &samples[..];
            let maxt0 = self.ts(0) - offset;
            // Window is samples[lo..hi]: lo = first with t > mint, hi = first with t > maxt.
            let mut lo = samples.partition_point(|p| p.0 <= maxt0 - range);
            let mut hi = samples.partition_point(|p| p.0 <= maxt0);
            let mut vals = vec![None; self.n];
            let mut any = false;
            for (i, cell) in vals.iter_mut().enumerate() {
                let maxt = self.ts(i) - offset;
                let mint = maxt - range;
                while lo < samples.len() && samples[lo].0 <= mint {
                    lo += 1;
                }
                while hi < samples.len() && samples[hi].0 <= maxt {
                    hi += 1;
                }
                if lo >= hi {
                    continue;
                }
                if let Some(v) = f(&samples[lo..hi], mint, maxt) {
                    *cell = Some(v);
                    any = true;
                }
            }
            if any {
                out.push(Series {
                    labels: drop_name(s.labels.clone()),
                    vals,
                });
            }
        }
        // Functions over range vectors reject duplicate output label sets
        // regardless of the steps they occupy.
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        if out.windows(2).any(|w| w[0].labels == w[1].labels) {
            return Err(dup_labelset());
        }
        Ok(out)
    }

    // --- functions ---------------------------------------------------------

    fn eval_call(&self, c: &Call) -> Result<Val> {
        let name = c.func.name;
        let args = &c.args.args;
        let arg = |i: usize| -> Result<&Expr> {
            args.get(i)
                .map(|a| unwrap_parens(a))
                .ok_or_else(|| PromqlError::Eval(format!("missing argument {} in call to {name}", i + 1)))
        };
        if is_range_function(name) {
            let ms = matrix_arg(c)
                .ok_or_else(|| PromqlError::Eval(format!("expected a range vector selector in call to {name}")))?;
            let range_secs = go_seconds(ms.range);
            let series = match name {
                "rate" => self.eval_range_fn(ms, |w, s, e| extrapolated_rate(w, s, e, range_secs, true, true))?,
                "increase" => self.eval_range_fn(ms, |w, s, e| extrapolated_rate(w, s, e, range_secs, true, false))?,
                "delta" => self.eval_range_fn(ms, |w, s, e| extrapolated_rate(w, s, e, range_secs, false, false))?,
                "irate" => self.eval_range_fn(ms, |w, _, _| irate(w))?,
                "avg_over_time" => self.eval_range_fn(ms, |w, _, _| Some(avg_over_time(w)))?,
                "sum_over_time" => self.eval_range_fn(ms, |w, _, _| Some(sum_over_time(w)))?,
                "count_over_time" => self.eval_range_fn(ms, |w, _, _| Some(w.len() as f64))?,
                "max_over_time" => {
                    self.eval_range_fn(ms, |w, _, _| Some(compare_over_time(w, |cur, best| cur > best)))?
                }
                "min_over_time" => {
                    self.eval_range_fn(ms, |w, _, _| Some(compare_over_time(w, |cur, best| cur < best)))?
                }
                _ => return Err(PromqlError::Unsupported(format!("function `{name}`"))),
            };
            return Ok(Val::Vector(series));
        }
        match name {
            "abs" => {
                let v = self.eval_vector(arg(0)?)?;
                let none = vec![f64::NEG_INFINITY; self.n];
                let all = vec![f64::INFINITY; self.n];
                self.map_vector(v, &none, &all, f64::abs).map(Val::Vector)
            }
            "clamp_min" => {
                let v = self.eval_vector(arg(0)?)?;
                let min = self.eval_scalar(arg(1)?)?;
                let max = vec![f64::INFINITY; self.n];
                self.map_vector(v, &min, &max, |x| x).map(Val::Vector)
            }
            "clamp_max" => {
                let v = self.eval_vector(arg(0)?)?;
                let max = self.eval_scalar(arg(1)?)?;
                let min = vec![f64::NEG_INFINITY; self.n];
                self.map_vector(v, &min, &max, |x| x).map(Val::Vector)
            }
            "scalar" => {
                let v = self.eval_vector(arg(0)?)?;
                let out = (0..self.n)
                    .map(|i| {
                        let mut present = v.iter().filter_map(|s| s.vals[i]);
                        match (present.next(), present.next()) {
                            (Some(x), None) => x,
                            _ => f64::NAN,
                        }
                    })
                    .collect();
                Ok(Val::Scalar(out))
            }
            "vector" => {
                let s = self.eval_scalar(arg(0)?)?;
                Ok(Val::Vector(vec![Series {
                    labels: Labels::new(),
                    vals: s.into_iter().map(Some).collect(),
                }]))
            }
            "time" => Ok(Val::Scalar((0..self.n).map(|i| self.ts(i) as f64 / 1000.0).collect())),
            "histogram_quantile" => {
                let q = self.eval_scalar(arg(0)?)?;
                let v = self.eval_vector(arg(1)?)?;
                self.histogram_quantile(&q, v).map(Val::Vector)
            }
            _ => Err(PromqlError::Unsupported(format!("function `{name}`"))),
        }
    }

    /// Element-wise float function with clamping (Prometheus' `clamp` and
    /// `simpleFloatFunc`): drops the name; a step where max < min yields nothing.
    fn map_vector(&self, v: Vec<Series>, min: &[f64], max: &[f64], f: impl Fn(f64) -> f64) -> Result<Vec<Series>> {
        let mut out = Builder::new(self.n);
        for s in v {
            let slot = out.slot(drop_name(s.labels));
            for (i, x) in s.vals.iter().enumerate() {
                if let Some(x) = x
                    && max[i].partial_cmp(&min[i]) != Some(std::cmp::Ordering::Less)
                {
                    out.put(slot, i, go_max(min[i], go_min(max[i], f(*x))))?;
                }
            }
        }
        Ok(out.finish())
    }

    fn histogram_quantile(&self, q: &[f64], v: Vec<Series>) -> Result<Vec<Series>> {
        // Buckets are grouped by their labels without `le` (the name still
        // distinguishes groups); results carry neither `le` nor the name.
        let mut groups: HashMap<Labels, usize> = HashMap::new();
        let mut out = Builder::new(self.n);
        let mut group_slot: Vec<usize> = Vec::new();
        let mut member: Vec<Option<(usize, f64)>> = Vec::with_capacity(v.len());
        for s in &v {
            let Some(upper) = s.labels.get("le").and_then(|le| le.parse::<f64>().ok()) else {
                member.push(None);
                continue;
            };
            let mut key = s.labels.clone();
            key.remove("le");
            let g = match groups.get(&key) {
                Some(&g) => g,
                None => {
                    let g = group_slot.len();
                    group_slot.push(out.slot(drop_name(key.clone())));
                    groups.insert(key, g);
                    g
                }
            };
            member.push(Some((g, upper)));
        }
        let mut buckets: Vec<Vec<(f64, f64)>> = vec![Vec::new(); group_slot.len()];
        for i in 0..self.n {
            buckets.iter_mut().for_each(Vec::clear);
            for (s, m) in v.iter().zip(&member) {
                if let (Some(x), Some((g, upper))) = (s.vals[i], m) {
                    buckets[*g].push((*upper, x));
                }
            }
            for (g, b) in buckets.iter_mut().enumerate() {
                if !b.is_empty() {
                    out.put(group_slot[g], i, bucket_quantile(q[i], b))?;
                }
            }
        }
        Ok(out.finish())
    }

    // --- operators ---------------------------------------------------------

    fn eval_binary(&self, b: &BinaryExpr) -> Result<Val> {
        let op =
            BinOp::from_token(b.op.id()).ok_or_else(|| PromqlError::Unsupported(format!("operator `{}`", b.op)))?;
        let return_bool = b.return_bool();
        let lhs = self.eval(&b.lhs)?;
        let rhs = self.eval(&b.rhs)?;
        match (lhs, rhs) {
            (Val::Scalar(l), Val::Scalar(r)) => Ok(Val::Scalar(
                l.iter().zip(&r).map(|(a, b)| op.apply_scalar(*a, *b)).collect(),
            )),
            (Val::Vector(l), Val::Scalar(r)) => self.vector_scalar(op, l, &r, false, return_bool).map(Val::Vector),
            (Val::Scalar(l), Val::Vector(r)) => self.vector_scalar(op, r, &l, true, return_bool).map(Val::Vector),
            (Val::Vector(l), Val::Vector(r)) => {
                let matching = Matching::from_modifier(b.modifier.as_ref().and_then(|m| m.matching.as_ref()));
                if op.is_set() {
                    Ok(Val::Vector(self.set_op(op, l, r, &matching)))
                } else {
                    self.vector_binop(op, l, r, &matching, return_bool).map(Val::Vector)
                }
            }
        }
    }

    /// VectorscalarBinop; `swap` means the scalar was the left operand.
    fn vector_scalar(
        &self,
        op: BinOp,
        v: Vec<Series>,
        scalar: &[f64],
        swap: bool,
        return_bool: bool,
    ) -> Result<Vec<Series>> {
        let mut out = Builder::new(self.n);
        for s in v {
            let labels = if op.drops_name() || return_bool {
                drop_name(s.labels)
            } else {
                s.labels
            };
            let slot = out.slot(labels);
            for (i, x) in s.vals.iter().enumerate() {
                let Some(x) = *x else { continue };
                let (l, r) = if swap { (scalar[i], x) } else { (x, scalar[i]) };
                let (mut val, mut keep) = op.apply(l, r);
                if op.is_comparison() && swap {
                    // A comparison always yields the vector's value.
                    val = r;
                }
                if return_bool {
                    val = if keep { 1.0 } else { 0.0 };
                    keep = true;
                }
                if keep {
                    out.put(slot, i, val)?;
                }
            }
        }
        Ok(out.finish())
    }

    /// VectorBinop with one-to-one matching.
    fn vector_binop(
        &self,
        op: BinOp,
        lhs: Vec<Series>,
        rhs: Vec<Series>,
        matching: &Matching,
        return_bool: bool,
    ) -> Result<Vec<Series>> {
        let (lsig, rsig, nsigs) = signature_ordinals(&lhs, &rhs, matching);
        let mut out = Builder::new(self.n);
        let lslot: Vec<usize> = lhs
            .iter()
            .map(|s| out.slot(matching.result_labels(&s.labels, op, return_bool)))
            .collect();
        let mut right: Vec<Option<usize>> = vec![None; nsigs];
        let mut matched: Vec<bool> = vec![false; nsigs];
        let mut touched: Vec<usize> = Vec::new();
        for i in 0..self.n {
            for &o in &touched {
                right[o] = None;
                matched[o] = false;
            }
            touched.clear();
            if !lhs.iter().any(|s| s.vals[i].is_some()) || !rhs.iter().any(|s| s.vals[i].is_some()) {
                continue;
            }
            for (ri, rs) in rhs.iter().enumerate() {
                if rs.vals[i].is_none() {
                    continue;
                }
                let o = rsig[ri];
                if let Some(prev) = right[o] {
                    return Err(PromqlError::Eval(format!(
                        "found duplicate series for the match group {} on the right hand-side of the operation: [{}, {}];many-to-many matching not allowed: matching labels must be unique on one side",
                        fmt_labels(&matching.match_labels(&rs.labels)),
                        fmt_labels(&rs.labels),
                        fmt_labels(&rhs[prev].labels)
                    )));
                }
                right[o] = Some(ri);
                touched.push(o);
            }
            for (li, ls) in lhs.iter().enumerate() {
                let Some(lv) = ls.vals[i] else { continue };
                let o = lsig[li];
                let Some(rv) = right[o].and_then(|ri| rhs[ri].vals[i]) else {
                    continue;
                };
                let (mut val, keep) = op.apply(lv, rv);
                if return_bool {
                    val = if keep { 1.0 } else { 0.0 };
                }
                if matched[o] {
                    return Err(PromqlError::Eval(
                        "multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)"
                            .into(),
                    ));
                }
                matched[o] = true;
                if keep || return_bool {
                    out.put(lslot[li], i, val)?;
                }
            }
        }
        Ok(out.finish())
    }

    /// `and`, `or`, `unless` (many-to-many, labels kept as they are).
    fn set_op(&self, op: BinOp, lhs: Vec<Series>, rhs: Vec<Series>, matching: &Matching) -> Vec<Series> {
        let (lsig, rsig, nsigs) = signature_ordinals(&lhs, &rhs, matching);
        let mut in_rhs = vec![false; nsigs];
        let mut in_lhs = vec![false; nsigs];
        let mut touched: Vec<usize> = Vec::new();
        let mut lhs = lhs;
        let mut rhs = rhs;
        for i in 0..self.n {
            for &o in &touched {
                in_rhs[o] = false;
                in_lhs[o] = false;
            }
            touched.clear();
            for (s, &o) in rhs.iter().zip(&rsig) {
                if s.vals[i].is_some() {
                    in_rhs[o] = true;
                    touched.push(o);
                }
            }
            for (s, &o) in lhs.iter_mut().zip(&lsig) {
                if s.vals[i].is_none() {
                    continue;
                }
                in_lhs[o] = true;
                touched.push(o);
                let keep = match op {
                    BinOp::And => in_rhs[o],
                    BinOp::Unless => !in_rhs[o],
                    _ => true,
                };
                if !keep {
                    s.vals[i] = None;
                }
            }
            if op == BinOp::Or {
                for (s, &o) in rhs.iter_mut().zip(&rsig) {
                    if in_lhs[o] {
                        s.vals[i] = None;
                    }
                }
            }
        }
        if op != BinOp::Or {
            return finish_series(lhs);
        }
        // Equal label sets have equal signatures, so a right-hand series only
        // fills steps its left-hand twin leaves empty: merge them.
        let mut by_labels: HashMap<Labels, usize> = HashMap::new();
        let mut merged: Vec<Series> = Vec::with_capacity(lhs.len() + rhs.len());
        for s in lhs.into_iter().chain(rhs) {
            match by_labels.get(&s.labels) {
                Some(&k) => {
                    for (cell, v) in merged[k].vals.iter_mut().zip(s.vals) {
                        if cell.is_none() {
                            *cell = v;
                        }
                    }
                }
                None => {
                    by_labels.insert(s.labels.clone(), merged.len());
                    merged.push(s);
                }
            }
        }
        finish_series(merged)
    }

    // --- aggregations ------------------------------------------------------

    fn eval_aggregate(&self, a: &AggregateExpr) -> Result<Val> {
        let op = a.op.id();
        let grouping = Grouping::from_modifier(a.modifier.as_ref());
        if matches!(op, token::T_TOPK | token::T_BOTTOMK) {
            let param = a
                .param
                .as_ref()
                .ok_or_else(|| PromqlError::Eval(format!("missing parameter for aggregation {}", a.op)))?;
            let k = self.eval_scalar(unwrap_parens(param))?;
            let input = self.eval_vector(unwrap_parens(&a.expr))?;
            return self
                .aggregate_k(op == token::T_TOPK, &k, input, &grouping)
                .map(Val::Vector);
        }
        let input = self.eval_vector(unwrap_parens(&a.expr))?;
        let mut index: HashMap<Labels, usize> = HashMap::new();
        let mut out: Vec<Series> = Vec::new();
        let group_of: Vec<usize> = input
            .iter()
            .map(|s| {
                let key = grouping.labels(&s.labels);
                *index.entry(key.clone()).or_insert_with(|| {
                    out.push(Series {
                        labels: key,
                        vals: vec![None; self.n],
                    });
                    out.len() - 1
                })
            })
            .collect();
        let mut acc: Vec<Acc> = vec![Acc::default(); out.len()];
        for i in 0..self.n {
            acc.iter_mut().for_each(|a| a.seen = false);
            for (s, &g) in input.iter().zip(&group_of) {
                if let Some(f) = s.vals[i] {
                    acc[g].add(op, f);
                }
            }
            for (g, a) in acc.iter().enumerate() {
                if a.seen {
                    out[g].vals[i] = Some(a.result(op));
                }
            }
        }
        Ok(Val::Vector(finish_series(out)))
    }

    /// topk / bottomk, replicating Prometheus' heap so ties resolve alike.
    fn aggregate_k(&self, top: bool, k_param: &[f64], input: Vec<Series>, grouping: &Grouping) -> Result<Vec<Series>> {
        if k_param.iter().any(|k| k.is_nan()) {
            return Err(PromqlError::Eval("Parameter value is NaN".into()));
        }
        let max = k_param.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let min = k_param.iter().copied().fold(f64::INFINITY, f64::min);
        if max < 1.0 {
            return Ok(Vec::new());
        }
        if min <= MIN_INT64_F {
            return Err(PromqlError::Eval(format!("Scalar value {min} underflows int64")));
        }
        if max >= MAX_INT64_F {
            return Err(PromqlError::Eval(format!("Scalar value {max} overflows int64")));
        }
        let less: fn(f64, f64) -> bool = if top {
            |a, b| a.is_nan() || a < b
        } else {
            |a, b| a.is_nan() || a > b
        };
        let mut index: HashMap<Labels, usize> = HashMap::new();
        let group_of: Vec<usize> = input
            .iter()
            .map(|s| {
                let next = index.len();
                *index.entry(grouping.labels(&s.labels)).or_insert(next)
            })
            .collect();
        let mut heaps: Vec<Option<Vec<(usize, f64)>>> = vec![None; index.len()];
        let mut out: Vec<Series> = input
            .iter()
            .map(|s| Series {
                labels: s.labels.clone(),
                vals: vec![None; self.n],
            })
            .collect();
        for i in 0..self.n {
            // Truncates toward zero as Go's int64() does; bounds checked above.
            let k = (k_param[i] as i64).min(input.len() as i64);
            if k < 1 {
                continue;
            }
            let k = k as usize;
            heaps.iter_mut().for_each(|h| *h = None);
            for (si, s) in input.iter().enumerate() {
                let Some(f) = s.vals[i] else { continue };
                let heap = match &mut heaps[group_of[si]] {
                    Some(h) => h,
                    slot @ None => {
                        *slot = Some(vec![(si, f)]);
                        continue;
                    }
                };
                let root = heap[0].1;
                let replace = if top {
                    root < f || (root.is_nan() && !f.is_nan())
                } else {
                    root > f || (root.is_nan() && !f.is_nan())
                };
                if heap.len() < k {
                    heap_push(heap, (si, f), less);
                } else if replace {
                    heap[0] = (si, f);
                    if k > 1 {
                        heap_fix(heap, 0, less);
                    }
                }
            }
            for heap in heaps.iter().flatten() {
                for &(si, f) in heap {
                    out[si].vals[i] = Some(f);
                }
            }
        }
        Ok(finish_series(out))
    }
}

/// Output labels of an aggregation group.
enum Grouping {
    By(Vec<String>),
    Without(Vec<String>),
}

impl Grouping {
    fn from_modifier(m: Option<&LabelModifier>) -> Grouping {
        match m {
            Some(LabelModifier::Include(ls)) => Grouping::By(ls.labels.clone()),
            Some(LabelModifier::Exclude(ls)) => Grouping::Without(ls.labels.clone()),
            None => Grouping::By(Vec::new()),
        }
    }

    fn labels(&self, l: &Labels) -> Labels {
        match self {
            Grouping::By(names) => l
                .iter()
                .filter(|(k, v)| !v.is_empty() && names.iter().any(|n| n == *k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            Grouping::Without(names) => l
                .iter()
                .filter(|(k, v)| !v.is_empty() && k.as_str() != METRIC_NAME && !names.iter().any(|n| n == *k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        }
    }
}

/// groupedAggregation for sum, avg, min, max and count.
#[derive(Clone, Default)]
struct Acc {
    seen: bool,
    value: f64,
    mean: f64,
    kahan_c: f64,
    count: f64,
    incremental_mean: bool,
}

impl Acc {
    fn add(&mut self, op: TokenId, f: f64) {
        if !self.seen {
            *self = Acc {
                seen: true,
                value: f,
                mean: f,
                kahan_c: 0.0,
                count: 1.0,
                incremental_mean: false,
            };
            return;
        }
        match op {
            token::T_SUM => {
                (self.value, self.kahan_c) = kahan_inc(f, self.value, self.kahan_c);
            }
            token::T_AVG => {
                self.count += 1.0;
                if !self.incremental_mean {
                    let (v, c) = kahan_inc(f, self.value, self.kahan_c);
                    if !v.is_infinite() {
                        self.value = v;
                        self.kahan_c = c;
                        return;
                    }
                    // The sum would overflow: switch to an incremental mean.
                    self.incremental_mean = true;
                    self.mean = self.value / (self.count - 1.0);
                    self.kahan_c /= self.count - 1.0;
                }
                let q = (self.count - 1.0) / self.count;
                (self.mean, self.kahan_c) = kahan_inc(f / self.count, q * self.mean, q * self.kahan_c);
            }
            token::T_MAX if self.value < f || self.value.is_nan() => self.value = f,
            token::T_MIN if self.value > f || self.value.is_nan() => self.value = f,
            token::T_COUNT => self.count += 1.0,
            _ => {}
        }
    }

    fn result(&self, op: TokenId) -> f64 {
        match op {
            token::T_SUM => self.value + self.kahan_c,
            token::T_AVG if self.incremental_mean => self.mean + self.kahan_c,
            token::T_AVG => self.value / self.count + self.kahan_c / self.count,
            token::T_COUNT => self.count,
            _ => self.value,
        }
    }
}

/// For an instant query whose outermost expression is topk/bottomk: the sort
/// direction (descending for topk) and the grouping.
fn top_level_k_order(e: &Expr) -> Option<(bool, Grouping)> {
    match unwrap_parens(e) {
        Expr::Aggregate(a) if matches!(a.op.id(), token::T_TOPK | token::T_BOTTOMK) => {
            Some((a.op.id() == token::T_TOPK, Grouping::from_modifier(a.modifier.as_ref())))
        }
        _ => None,
    }
}

fn sort_like_topk(out: &mut [MetricSeries], desc: bool, grouping: &Grouping) {
    let value = |s: &MetricSeries| s.samples.first().map(|p| p.1).unwrap_or(f64::NAN);
    out.sort_by(|a, b| {
        let (va, vb) = (value(a), value(b));
        grouping
            .labels(&a.labels)
            .cmp(&grouping.labels(&b.labels))
            .then_with(|| match (va.is_nan(), vb.is_nan()) {
                (true, true) => std::cmp::Ordering::Equal,
                (true, false) => std::cmp::Ordering::Greater,
                (false, true) => std::cmp::Ordering::Less,
                (false, false) => {
                    let o = va.partial_cmp(&vb).unwrap_or(std::cmp::Ordering::Equal);
                    if desc { o.reverse() } else { o }
                }
            })
            .then_with(|| a.labels.cmp(&b.labels))
    });
}

// ---------------------------------------------------------------------------
// Numeric kernels (ports of promql/functions.go, quantile.go, engine.go)

/// kahansum.Inc (Neumaier's variant).
fn kahan_inc(inc: f64, sum: f64, c: f64) -> (f64, f64) {
    let t = sum + inc;
    let c = if t.is_infinite() {
        0.0
    } else if sum.abs() >= inc.abs() {
        c + ((sum - t) + inc)
    } else {
        c + ((inc - t) + sum)
    };
    (t, c)
}

/// extrapolatedRate for float samples: `w` holds the samples in
/// (range_start, range_end], oldest first.
fn extrapolated_rate(
    w: &[(i64, f64)],
    range_start: i64,
    range_end: i64,
    range_secs: f64,
    is_counter: bool,
    is_rate: bool,
) -> Option<f64> {
    if w.len() < 2 {
        return None;
    }
    let n1 = w.len() - 1;
    let (first_t, first_v) = w[0];
    let (last_t, last_v) = w[n1];
    let mut result = last_v - first_v;
    if is_counter {
        for p in w.windows(2) {
            if p[1].1 < p[0].1 {
                result += p[0].1;
            }
        }
    }
    let mut duration_to_start = (first_t - range_start) as f64 / 1000.0;
    let mut duration_to_end = (range_end - last_t) as f64 / 1000.0;
    let sampled_interval = (last_t - first_t) as f64 / 1000.0;
    let average_between = sampled_interval / n1 as f64;
    let threshold = average_between * 1.1;
    if duration_to_start >= threshold {
        duration_to_start = average_between / 2.0;
    }
    if is_counter {
        let mut duration_to_zero = duration_to_start;
        if result > 0.0 && first_v >= 0.0 {
            duration_to_zero = sampled_interval * (first_v / result);
        }
        if duration_to_zero < duration_to_start {
            duration_to_start = duration_to_zero;
        }
    }
    if duration_to_end >= threshold {
        duration_to_end = average_between / 2.0;
    }
    let mut factor = (sampled_interval + duration_to_start + duration_to_end) / sampled_interval;
    if is_rate {
        factor /= range_secs;
    }
    Some(result * factor)
}

/// instantValue with isRate: per-second rate between the last two samples.
fn irate(w: &[(i64, f64)]) -> Option<f64> {
    if w.len() < 2 {
        return None;
    }
    let (t0, v0) = w[w.len() - 2];
    let (t1, v1) = w[w.len() - 1];
    let interval = t1 - t0;
    if interval == 0 {
        return None;
    }
    // On a counter reset the result is the last value itself.
    let mut result = v1;
    if v1.partial_cmp(&v0) != Some(std::cmp::Ordering::Less) {
        result = v1 - v0;
    }
    Some(result / (interval as f64 / 1000.0))
}

fn avg_over_time(w: &[(i64, f64)]) -> f64 {
    let mut sum = w[0].1;
    let mut count = 1.0;
    let mut mean = 0.0;
    let mut c = 0.0;
    let mut incremental = false;
    for (i, p) in w[1..].iter().enumerate() {
        count = (i + 2) as f64;
        if !incremental {
            let (s, nc) = kahan_inc(p.1, sum, c);
            if !s.is_infinite() {
                sum = s;
                c = nc;
                continue;
            }
            incremental = true;
            mean = sum / (count - 1.0);
            c /= count - 1.0;
        }
        let q = (count - 1.0) / count;
        (mean, c) = kahan_inc(p.1 / count, q * mean, q * c);
    }
    if incremental { mean + c } else { sum / count + c / count }
}

fn sum_over_time(w: &[(i64, f64)]) -> f64 {
    let (mut sum, mut c) = (0.0, 0.0);
    for p in w {
        (sum, c) = kahan_inc(p.1, sum, c);
    }
    if sum.is_infinite() { sum } else { sum + c }
}

/// compareOverTime: `better(cur, best)` replaces; NaN is always replaced.
fn compare_over_time(w: &[(i64, f64)], better: impl Fn(f64, f64) -> bool) -> f64 {
    let mut best = w[0].1;
    for p in w {
        if better(p.1, best) || best.is_nan() {
            best = p.1;
        }
    }
    best
}

/// Go's sort.Search.
fn go_search(n: usize, f: impl Fn(usize) -> bool) -> usize {
    let (mut i, mut j) = (0, n);
    while i < j {
        let h = (i + j) / 2;
        if !f(h) {
            i = h + 1;
        } else {
            j = h;
        }
    }
    i
}

/// almost.Equal from Prometheus' util.
fn almost_equal(a: f64, b: f64, epsilon: f64) -> bool {
    if a.is_nan() && b.is_nan() {
        return true;
    }
    if a == b {
        return true;
    }
    let abs_sum = a.abs() + b.abs();
    let diff = (a - b).abs();
    if a == 0.0 || b == 0.0 || abs_sum < f64::MIN_POSITIVE {
        return diff < epsilon * f64::MIN_POSITIVE;
    }
    diff / abs_sum.min(f64::MAX) < epsilon
}

/// bucketQuantile over classic buckets given as (upper bound, cumulative count).
fn bucket_quantile(q: f64, buckets: &mut Vec<(f64, f64)>) -> f64 {
    if q.is_nan() {
        return f64::NAN;
    }
    if q < 0.0 {
        return f64::NEG_INFINITY;
    }
    if q > 1.0 {
        return f64::INFINITY;
    }
    buckets.sort_by(|a, b| a.0.partial_cmp(&b.0).unwrap_or(std::cmp::Ordering::Equal));
    match buckets.last() {
        Some(last) if last.0 == f64::INFINITY => {}
        _ => return f64::NAN,
    }
    // Coalesce buckets with the same upper bound.
    let mut merged: Vec<(f64, f64)> = Vec::with_capacity(buckets.len());
    for &(ub, c) in buckets.iter() {
        match merged.last_mut() {
            Some(last) if last.0 == ub => last.1 += c,
            _ => merged.push((ub, c)),
        }
    }
    *buckets = merged;
    // Ignore floating point noise between buckets and force monotonicity.
    let mut prev = buckets[0].1;
    for b in buckets.iter_mut().skip(1) {
        let curr = b.1;
        if curr == prev {
            continue;
        }
        if almost_equal(prev, curr, SMALL_DELTA_TOLERANCE) || curr < prev {
            b.1 = prev;
            continue;
        }
        prev = curr;
    }
    if buckets.len() < 2 {
        return f64::NAN;
    }
    let n = buckets.len();
    let observations = buckets[n - 1].1;
    if observations == 0.0 {
        return f64::NAN;
    }
    let mut rank = q * observations;
    let b = go_search(n - 1, |i| buckets[i].1 >= rank);
    if b == n - 1 {
        return buckets[n - 2].0;
    }
    if b == 0 && buckets[0].0 <= 0.0 {
        return buckets[0].0;
    }
    let bucket_end = buckets[b].0;
    let mut bucket_start = 0.0;
    let mut count = buckets[b].1;
    if b > 0 {
        bucket_start = buckets[b - 1].0;
        count -= buckets[b - 1].1;
        rank -= buckets[b - 1].1;
    }
    bucket_start + (bucket_end - bucket_start) * (rank / count)
}

/// Go's math.Max (NaN wins over everything but +Inf handling order as Go).
fn go_max(x: f64, y: f64) -> f64 {
    if x == f64::INFINITY || y == f64::INFINITY {
        return f64::INFINITY;
    }
    if x.is_nan() || y.is_nan() {
        return f64::NAN;
    }
    if x == 0.0 && x == y {
        return if x.is_sign_negative() { y } else { x };
    }
    if x > y { x } else { y }
}

/// Go's math.Min.
fn go_min(x: f64, y: f64) -> f64 {
    if x == f64::NEG_INFINITY || y == f64::NEG_INFINITY {
        return f64::NEG_INFINITY;
    }
    if x.is_nan() || y.is_nan() {
        return f64::NAN;
    }
    if x == 0.0 && x == y {
        return if x.is_sign_negative() { x } else { y };
    }
    if x < y { x } else { y }
}

const F64_SHIFT: u32 = 52;
const F64_MASK: u64 = 0x7ff;
const F64_BIAS: i64 = 1023;

/// Go's math normalize: scales subnormals to normal range.
fn go_normalize(x: f64) -> (f64, i64) {
    if x.abs() < f64::MIN_POSITIVE {
        return (x * (1u64 << 52) as f64, -52);
    }
    (x, 0)
}

/// Go's math.Frexp.
fn go_frexp(f: f64) -> (f64, i64) {
    if f == 0.0 || f.is_infinite() || f.is_nan() {
        return (f, 0);
    }
    let (f, mut exp) = go_normalize(f);
    let mut x = f.to_bits();
    exp += ((x >> F64_SHIFT) & F64_MASK) as i64 - F64_BIAS + 1;
    x &= !(F64_MASK << F64_SHIFT);
    x |= ((-1 + F64_BIAS) as u64) << F64_SHIFT;
    (f64::from_bits(x), exp)
}

/// Go's math.Ldexp.
fn go_ldexp(frac: f64, exp: i64) -> f64 {
    if frac == 0.0 || frac.is_infinite() || frac.is_nan() {
        return frac;
    }
    let (frac, e) = go_normalize(frac);
    let mut exp = exp + e;
    let mut x = frac.to_bits();
    exp += ((x >> F64_SHIFT) & F64_MASK) as i64 - F64_BIAS;
    if exp < -1075 {
        return 0.0_f64.copysign(frac);
    }
    if exp > 1023 {
        return if frac < 0.0 { f64::NEG_INFINITY } else { f64::INFINITY };
    }
    let mut m = 1.0;
    if exp < -1022 {
        exp += 53;
        m = 1.0 / (1u64 << 53) as f64;
    }
    x &= !(F64_MASK << F64_SHIFT);
    x |= ((exp + F64_BIAS) as u64) << F64_SHIFT;
    m * f64::from_bits(x)
}

fn go_is_odd_int(x: f64) -> bool {
    if x.abs() >= (1u64 << 53) as f64 {
        return false;
    }
    x.fract() == 0.0 && (x.trunc() as i64) & 1 == 1
}

/// Go's math.Pow, so `^` gives Prometheus' results bit for bit for integer
/// exponents (fractional exponents go through exp/ln as Go does, with Rust's
/// exp and ln).
fn go_pow(x: f64, y: f64) -> f64 {
    if y == 0.0 || x == 1.0 {
        return 1.0;
    }
    if y == 1.0 {
        return x;
    }
    if x.is_nan() || y.is_nan() {
        return f64::NAN;
    }
    if x == 0.0 {
        if y < 0.0 {
            return if x.is_sign_negative() && go_is_odd_int(y) {
                f64::NEG_INFINITY
            } else {
                f64::INFINITY
            };
        }
        return if x.is_sign_negative() && go_is_odd_int(y) {
            x
        } else {
            0.0
        };
    }
    if y.is_infinite() {
        if x == -1.0 {
            return 1.0;
        }
        return if (x.abs() < 1.0) == (y == f64::INFINITY) {
            0.0
        } else {
            f64::INFINITY
        };
    }
    if x.is_infinite() {
        if x == f64::NEG_INFINITY {
            return go_pow(1.0 / x, -y);
        }
        return if y < 0.0 { 0.0 } else { f64::INFINITY };
    }
    if y == 0.5 {
        return x.sqrt();
    }
    if y == -0.5 {
        return 1.0 / x.sqrt();
    }
    let ay = y.abs();
    let mut yi = ay.trunc();
    let mut yf = ay - yi;
    if yf != 0.0 && x < 0.0 {
        return f64::NAN;
    }
    if yi >= 9_223_372_036_854_775_808.0 {
        if x == -1.0 {
            return 1.0;
        }
        return if (x.abs() < 1.0) == (y > 0.0) {
            0.0
        } else {
            f64::INFINITY
        };
    }
    let mut a1 = 1.0;
    let mut ae: i64 = 0;
    if yf != 0.0 {
        if yf > 0.5 {
            yf -= 1.0;
            yi += 1.0;
        }
        a1 = (yf * x.ln()).exp();
    }
    let (mut x1, mut xe) = go_frexp(x);
    // yi < 2^63 here, so the conversion is exact.
    let mut i = yi as i64;
    while i != 0 {
        if !(-(1 << 12)..=(1 << 12)).contains(&xe) {
            ae += xe;
            break;
        }
        if i & 1 == 1 {
            a1 *= x1;
            ae += xe;
        }
        x1 *= x1;
        xe <<= 1;
        if x1 < 0.5 {
            x1 += x1;
            xe -= 1;
        }
        i >>= 1;
    }
    if y < 0.0 {
        a1 = 1.0 / a1;
        ae = -ae;
    }
    go_ldexp(a1, ae)
}

fn heap_up(h: &mut [(usize, f64)], mut j: usize, less: fn(f64, f64) -> bool) {
    while j > 0 {
        let i = (j - 1) / 2;
        if !less(h[j].1, h[i].1) {
            break;
        }
        h.swap(i, j);
        j = i;
    }
}

fn heap_down(h: &mut [(usize, f64)], i0: usize, less: fn(f64, f64) -> bool) -> bool {
    let n = h.len();
    let mut i = i0;
    loop {
        let j1 = 2 * i + 1;
        if j1 >= n {
            break;
        }
        let mut j = j1;
        if j1 + 1 < n && less(h[j1 + 1].1, h[j1].1) {
            j = j1 + 1;
        }
        if !less(h[j].1, h[i].1) {
            break;
        }
        h.swap(i, j);
        i = j;
    }
    i > i0
}

/// container/heap.Push.
fn heap_push(h: &mut Vec<(usize, f64)>, x: (usize, f64), less: fn(f64, f64) -> bool) {
    h.push(x);
    let last = h.len() - 1;
    heap_up(h, last, less);
}

/// container/heap.Fix.
fn heap_fix(h: &mut [(usize, f64)], i: usize, less: fn(f64, f64) -> bool) {
    if !heap_down(h, i, less) {
        heap_up(h, i, less);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1000;

    fn lbl(pairs: &[(&str, &str)]) -> Labels {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    /// A series named `name` with samples given as (seconds, value).
    fn ser(name: &str, labels: &[(&str, &str)], samples: &[(i64, f64)]) -> MetricSeries {
        let mut l = lbl(labels);
        l.insert(METRIC_NAME.into(), name.into());
        MetricSeries {
            labels: l,
            samples: samples.iter().map(|&(t, v)| (t * S, v)).collect(),
        }
    }

    fn set(v: Vec<MetricSeries>) -> SeriesSet {
        SeriesSet::new(v)
    }

    /// Instant vector at `t` seconds as (labels, value) pairs, in result order.
    fn vec_at(set: &SeriesSet, q: &str, t: i64) -> Vec<(Labels, f64)> {
        match query_instant(set, q, t * S).unwrap() {
            InstantResult::Vector(v) => v
                .into_iter()
                .map(|s| {
                    assert_eq!(s.samples.len(), 1);
                    assert_eq!(s.samples[0].0, t * S);
                    (s.labels, s.samples[0].1)
                })
                .collect(),
            InstantResult::Scalar(s) => panic!("expected a vector for {q}, got scalar {s:?}"),
        }
    }

    /// The single value of an instant vector with exactly one element.
    fn one(set: &SeriesSet, q: &str, t: i64) -> f64 {
        let v = vec_at(set, q, t);
        assert_eq!(v.len(), 1, "{q} at {t}s: {v:?}");
        v[0].1
    }

    fn scalar_at(set: &SeriesSet, q: &str, t: i64) -> f64 {
        match query_instant(set, q, t * S).unwrap() {
            InstantResult::Scalar((ts, v)) => {
                assert_eq!(ts, t * S);
                v
            }
            other => panic!("expected a scalar for {q}, got {other:?}"),
        }
    }

    fn assert_close(got: f64, want: f64) {
        let tol = 1e-12 * want.abs().max(1.0);
        assert!((got - want).abs() <= tol, "got {got:?}, want {want:?}");
    }

    fn unsupported(set: &SeriesSet, q: &str) -> String {
        match query_instant(set, q, 0) {
            Err(PromqlError::Unsupported(what)) => what,
            other => panic!("expected Unsupported for {q}, got {other:?}"),
        }
    }

    fn eval_err(set: &SeriesSet, q: &str, t: i64) -> String {
        match query_instant(set, q, t * S) {
            Err(PromqlError::Eval(msg)) => msg,
            other => panic!("expected an evaluation error for {q}, got {other:?}"),
        }
    }

    // --- rate / increase / irate / delta ----------------------------------------

    fn counter_set() -> SeriesSet {
        set(vec![
            // 0, 10, 20, 30 at 15s steps.
            ser(
                "c_total",
                &[("job", "a")],
                &[(0, 0.0), (15, 10.0), (30, 20.0), (45, 30.0)],
            ),
            // A reset between 15s and 30s.
            ser(
                "r_total",
                &[("job", "a")],
                &[(0, 5.0), (15, 10.0), (30, 2.0), (45, 6.0), (60, 9.0)],
            ),
            // Only two samples, the second well before the end of a 1m range.
            ser("g_total", &[("job", "a")], &[(15, 10.0), (30, 20.0)]),
            // A gauge.
            ser("temp", &[("room", "x")], &[(0, 10.0), (15, 4.0), (30, 7.0), (45, 1.0)]),
        ])
    }

    #[test]
    fn rate_extrapolates_to_the_zero_point() {
        let s = counter_set();
        // At 45s the range (-15s, 45s] holds all four samples: increase 30 - 0 = 30.
        // durationToStart = 0 - (-15) = 15s, durationToEnd = 45 - 45 = 0s,
        // sampledInterval = 45s, average interval 15s, threshold 16.5s.
        // The counter's zero point is 45 * (0 / 30) = 0s before the first sample,
        // closer than 15s, so durationToStart = 0: factor (45 + 0 + 0) / 45 = 1.
        // rate = 30 * 1 / 60 = 0.5.
        assert_close(one(&s, "rate(c_total[1m])", 45), 0.5);
        // increase = 30 * 1 = 30.
        assert_close(one(&s, "increase(c_total[1m])", 45), 30.0);
        // The name is dropped.
        assert_eq!(vec_at(&s, "rate(c_total[1m])", 45)[0].0, lbl(&[("job", "a")]));
    }

    #[test]
    fn rate_range_is_left_open_and_extrapolates_both_ends() {
        let s = counter_set();
        // At 60s the range (0s, 60s] excludes the sample at 0s: 10, 20, 30 at 15/30/45s.
        // increase 30 - 10 = 20; durationToStart = 15 - 0 = 15s; durationToEnd = 60 - 45 = 15s;
        // sampled 30s, average 15s, threshold 16.5s: both extrapolations allowed.
        // Zero point 30 * (10 / 20) = 15s, not shorter than 15s.
        // factor = (30 + 15 + 15) / 30 = 2: increase = 40, rate = 40 / 60.
        assert_close(one(&s, "increase(c_total[1m])", 60), 40.0);
        assert_close(one(&s, "rate(c_total[1m])", 60), 40.0 / 60.0);
    }

    #[test]
    fn rate_corrects_counter_resets() {
        let s = counter_set();
        // At 60s the range (0, 60] holds 10, 2, 6, 9 (15s..60s).
        // Raw difference 9 - 10 = -1, plus 10 for the reset 10 -> 2: 9.
        // durationToStart = 15s, durationToEnd = 0s, sampled 45s, average 15s.
        // Zero point 45 * (10 / 9) = 50s, farther than 15s, so 15s stays.
        // factor = (45 + 15 + 0) / 45 = 4/3: increase = 12, rate = 12 / 60 = 0.2.
        assert_close(one(&s, "increase(r_total[1m])", 60), 12.0);
        assert_close(one(&s, "rate(r_total[1m])", 60), 0.2);
    }

    #[test]
    fn rate_limits_extrapolation_at_gaps() {
        let s = counter_set();
        // At 60s the range (0, 60] holds 10 @15s and 20 @30s: increase 10.
        // durationToStart = 15s (< 16.5s threshold, kept; zero point 15 * 10/10 = 15s, not shorter),
        // durationToEnd = 30s (>= 16.5s), so only half an interval: 7.5s.
        // factor = (15 + 15 + 7.5) / 15 = 2.5: increase = 25, rate = 25 / 60.
        assert_close(one(&s, "increase(g_total[1m])", 60), 25.0);
        assert_close(one(&s, "rate(g_total[1m])", 60), 25.0 / 60.0);
        // A single sample in range gives no result.
        assert!(vec_at(&s, "rate(g_total[10s])", 30).is_empty());
    }

    #[test]
    fn irate_uses_the_last_two_samples() {
        let s = counter_set();
        // At 60s: last two samples 6 @45s and 9 @60s: (9 - 6) / 15 = 0.2.
        assert_close(one(&s, "irate(r_total[1m])", 60), 0.2);
        // At 30s: 10 @15s then 2 @30s is a reset, so the last value counts: 2 / 15.
        assert_close(one(&s, "irate(r_total[1m])", 30), 2.0 / 15.0);
        // One sample in (50s, 60s]: nothing.
        assert!(vec_at(&s, "irate(r_total[10s])", 60).is_empty());
    }

    #[test]
    fn delta_extrapolates_without_counter_logic() {
        let s = counter_set();
        // At 45s the range (-15, 45] holds 10, 4, 7, 1: 1 - 10 = -9.
        // durationToStart 15s, durationToEnd 0s, sampled 45s: factor (45 + 15) / 45 = 4/3.
        // delta = -9 * 4/3 = -12.
        assert_close(one(&s, "delta(temp[1m])", 45), -12.0);
    }

    // --- histogram_quantile ------------------------------------------------------

    fn histogram_set() -> SeriesSet {
        set(vec![
            ser("req_bucket", &[("svc", "api"), ("le", "0.1")], &[(0, 10.0)]),
            ser("req_bucket", &[("svc", "api"), ("le", "0.5")], &[(0, 30.0)]),
            ser("req_bucket", &[("svc", "api"), ("le", "+Inf")], &[(0, 40.0)]),
            // No +Inf bucket.
            ser("req_bucket", &[("svc", "web"), ("le", "1")], &[(0, 5.0)]),
            // Non-monotonic counts: 10, 8, 20, 20.
            ser("bad_bucket", &[("le", "0.1")], &[(0, 10.0)]),
            ser("bad_bucket", &[("le", "0.5")], &[(0, 8.0)]),
            ser("bad_bucket", &[("le", "1")], &[(0, 20.0)]),
            ser("bad_bucket", &[("le", "+Inf")], &[(0, 20.0)]),
        ])
    }

    #[test]
    fn histogram_quantile_interpolates_within_buckets() {
        let s = histogram_set();
        let q = |phi: &str| {
            let v = vec_at(&s, &format!("histogram_quantile({phi}, req_bucket{{svc=\"api\"}})"), 0);
            assert_eq!(v.len(), 1);
            assert_eq!(v[0].0, lbl(&[("svc", "api")]));
            v[0].1
        };
        // 40 observations; rank 0.5 * 40 = 20 falls in (0.1, 0.5] (cumulative 10 -> 30):
        // 0.1 + (0.5 - 0.1) * ((20 - 10) / (30 - 10)) = 0.1 + 0.4 * 0.5 = 0.3.
        assert_close(q("0.5"), 0.3);
        // rank 0.2 * 40 = 8 falls in the lowest bucket, whose lower bound is 0:
        // 0 + 0.1 * (8 / 10) = 0.08.
        assert_close(q("0.2"), 0.08);
        // rank 0.9 * 40 = 36 falls in +Inf: the highest finite bound, 0.5.
        assert_close(q("0.9"), 0.5);
        assert_eq!(q("1.5"), f64::INFINITY);
        assert_eq!(q("-0.5"), f64::NEG_INFINITY);
        assert!(q("NaN").is_nan());
        // Without a +Inf bucket the result is NaN.
        let web = one(&s, "histogram_quantile(0.5, req_bucket{svc=\"web\"})", 0);
        assert!(web.is_nan());
    }

    #[test]
    fn histogram_quantile_forces_monotonic_buckets() {
        let s = histogram_set();
        // Counts 10, 8, 20, 20 become 10, 10, 20, 20. rank 0.45 * 20 = 9 falls in
        // the lowest bucket: 0.1 * (9 / 10) = 0.09. (Unfixed, the binary search
        // would land in (0.5, 1] and answer 0.5 + 0.5 * (1 / 12).)
        assert_close(one(&s, "histogram_quantile(0.45, bad_bucket)", 0), 0.09);
    }

    #[test]
    fn histogram_quantile_over_summed_rates() {
        let mut v = Vec::new();
        for pod in ["1", "2"] {
            let c = |k: f64| [(0, 0.0), (15, k), (30, 2.0 * k), (45, 3.0 * k), (60, 4.0 * k)];
            v.push(ser("lat_bucket", &[("pod", pod), ("le", "0.5")], &c(1.0)));
            v.push(ser("lat_bucket", &[("pod", pod), ("le", "1")], &c(3.0)));
            v.push(ser("lat_bucket", &[("pod", pod), ("le", "+Inf")], &c(4.0)));
        }
        let s = set(v);
        // Each bucket at 60s over (0, 60] holds k, 2k, 3k, 4k: increase 3k;
        // durationToStart 15s (zero point 45 * k / 3k = 15s, not shorter), durationToEnd 0s,
        // factor (45 + 15) / 45 = 4/3: increase 4k, rate 4k / 60.
        // Summed over two pods by le: 0.5 -> 8/60, 1 -> 24/60, +Inf -> 32/60.
        // rank 0.5 * 32/60 = 16/60 falls in (0.5, 1]: 0.5 + 0.5 * ((16 - 8) / (24 - 8)) = 0.75.
        let got = one(&s, "histogram_quantile(0.5, sum by (le) (rate(lat_bucket[1m])))", 60);
        assert_close(got, 0.75);
    }

    // --- aggregations -------------------------------------------------------------

    fn x_set() -> SeriesSet {
        set(vec![
            ser("x", &[("svc", "a"), ("pod", "1")], &[(0, 1.0)]),
            ser("x", &[("svc", "a"), ("pod", "2")], &[(0, 3.0)]),
            ser("x", &[("svc", "b"), ("pod", "1")], &[(0, 10.0)]),
        ])
    }

    #[test]
    fn sum_avg_min_max_count_by_and_without() {
        let s = x_set();
        let a = lbl(&[("svc", "a")]);
        let b = lbl(&[("svc", "b")]);
        // a: 1 + 3 = 4; b: 10.
        assert_eq!(
            vec_at(&s, "sum by (svc) (x)", 0),
            vec![(a.clone(), 4.0), (b.clone(), 10.0)]
        );
        // a: (1 + 3) / 2 = 2.
        assert_eq!(
            vec_at(&s, "avg by (svc) (x)", 0),
            vec![(a.clone(), 2.0), (b.clone(), 10.0)]
        );
        assert_eq!(
            vec_at(&s, "min by (svc) (x)", 0),
            vec![(a.clone(), 1.0), (b.clone(), 10.0)]
        );
        assert_eq!(
            vec_at(&s, "max by (svc) (x)", 0),
            vec![(a.clone(), 3.0), (b.clone(), 10.0)]
        );
        assert_eq!(
            vec_at(&s, "count by (svc) (x)", 0),
            vec![(a.clone(), 2.0), (b.clone(), 1.0)]
        );
        // without (pod) drops pod and the name: same groups as by (svc).
        assert_eq!(
            vec_at(&s, "sum without (pod) (x)", 0),
            vec![(a.clone(), 4.0), (b.clone(), 10.0)]
        );
        // without (svc): pod 1 has two series, pod 2 one.
        assert_eq!(
            vec_at(&s, "count without (svc) (x)", 0),
            vec![(lbl(&[("pod", "1")]), 2.0), (lbl(&[("pod", "2")]), 1.0)]
        );
        // pod 1: 1 + 10 = 11; pod 2: 3.
        assert_eq!(
            vec_at(&s, "sum(x) without (svc)", 0),
            vec![(lbl(&[("pod", "1")]), 11.0), (lbl(&[("pod", "2")]), 3.0)]
        );
        // No grouping: 1 + 3 + 10 = 14, empty labels.
        assert_eq!(vec_at(&s, "sum(x)", 0), vec![(Labels::new(), 14.0)]);
        // by (__name__) keeps the name.
        assert_eq!(
            vec_at(&s, "max by (__name__) (x)", 0),
            vec![(lbl(&[("__name__", "x")]), 10.0)]
        );
    }

    #[test]
    fn sum_and_avg_use_kahan_summation() {
        let s = set(vec![
            ser("k", &[("i", "1")], &[(0, 1e100)]),
            ser("k", &[("i", "2")], &[(0, 1.0)]),
            ser("k", &[("i", "3")], &[(0, -1e100)]),
        ]);
        // Naively 1e100 + 1 - 1e100 = 0; the compensation term keeps the 1.
        assert_eq!(one(&s, "sum(k)", 0), 1.0);
        // avg = sum / 3 + c / 3 = 0 / 3 + 1 / 3.
        assert_close(one(&s, "avg(k)", 0), 1.0 / 3.0);
    }

    #[test]
    fn topk_and_bottomk_keep_labels() {
        let s = x_set();
        let x = |svc: &str, pod: &str| lbl(&[("__name__", "x"), ("svc", svc), ("pod", pod)]);
        // Largest of 1, 3, 10.
        assert_eq!(vec_at(&s, "topk(1, x)", 0), vec![(x("b", "1"), 10.0)]);
        // Two largest, descending.
        assert_eq!(
            vec_at(&s, "topk(2, x)", 0),
            vec![(x("b", "1"), 10.0), (x("a", "2"), 3.0)]
        );
        // Two smallest, ascending.
        assert_eq!(
            vec_at(&s, "bottomk(2, x)", 0),
            vec![(x("a", "1"), 1.0), (x("a", "2"), 3.0)]
        );
        // Per svc: a -> max(1, 3) = 3, b -> 10.
        assert_eq!(
            vec_at(&s, "topk by (svc) (1, x)", 0),
            vec![(x("a", "2"), 3.0), (x("b", "1"), 10.0)]
        );
        // k larger than the input returns everything; k < 1 nothing.
        assert_eq!(vec_at(&s, "bottomk(5, x)", 0).len(), 3);
        assert!(vec_at(&s, "topk(0, x)", 0).is_empty());
        // k is truncated: 1.9 -> 1.
        assert_eq!(vec_at(&s, "topk(1.9, x)", 0), vec![(x("b", "1"), 10.0)]);
    }

    #[test]
    fn topk_over_a_range_picks_per_step() {
        let s = set(vec![
            ser("y", &[("i", "1")], &[(0, 1.0), (60, 5.0)]),
            ser("y", &[("i", "2")], &[(0, 2.0), (60, 4.0)]),
        ]);
        // At 0s: max(1, 2) is i=2; at 60s: max(5, 4) is i=1.
        let got = query_range(&s, "topk(1, y)", 0, 60 * S, 60 * S).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].labels, lbl(&[("__name__", "y"), ("i", "1")]));
        assert_eq!(got[0].samples, vec![(60 * S, 5.0)]);
        assert_eq!(got[1].labels, lbl(&[("__name__", "y"), ("i", "2")]));
        assert_eq!(got[1].samples, vec![(0, 2.0)]);
    }

    // --- scalars and vector/scalar operators ---------------------------------------

    #[test]
    fn scalar_arithmetic() {
        let s = x_set();
        // Precedence: 1 + (2 * 3) = 7.
        assert_eq!(scalar_at(&s, "1 + 2 * 3", 0), 7.0);
        // ^ is right-associative: 2 ^ (3 ^ 2) = 2 ^ 9 = 512.
        assert_eq!(scalar_at(&s, "2 ^ 3 ^ 2", 0), 512.0);
        assert_eq!(scalar_at(&s, "10 % 3", 0), 1.0);
        assert_eq!(scalar_at(&s, "-10 % 3", 0), -1.0);
        assert_eq!(scalar_at(&s, "7 / 2", 0), 3.5);
        // Unary minus over parentheses: -(2 - 5) = 3.
        assert_eq!(scalar_at(&s, "-(2 - 5)", 0), 3.0);
        assert_eq!(scalar_at(&s, "1 == bool 1", 0), 1.0);
        assert_eq!(scalar_at(&s, "2 < bool 1", 0), 0.0);
        assert_eq!(scalar_at(&s, "1 / 0", 0), f64::INFINITY);
        // Go's Pow: 2 ^ 0.5 is sqrt(2); negative base with fractional exponent is NaN;
        // 0 ^ -1 is +Inf.
        assert_eq!(scalar_at(&s, "2 ^ 0.5", 0), 2f64.sqrt());
        assert!(scalar_at(&s, "(-8) ^ (1/3)", 0).is_nan());
        assert_eq!(scalar_at(&s, "0 ^ -1", 0), f64::INFINITY);
        // 1.1 ^ 3 by repeated squaring of the mantissa, as Go does.
        assert_eq!(scalar_at(&s, "1.1 ^ 3", 0), go_pow(1.1, 3.0));
        assert_close(scalar_at(&s, "1.1 ^ 3", 0), 1.331);
    }

    #[test]
    fn vector_scalar_arithmetic_drops_the_name() {
        let s = x_set();
        let a1 = lbl(&[("svc", "a"), ("pod", "1")]);
        let a2 = lbl(&[("svc", "a"), ("pod", "2")]);
        let b1 = lbl(&[("svc", "b"), ("pod", "1")]);
        // Results are sorted by labels: pod comes before svc.
        // 1 * 2, 10 * 2, 3 * 2.
        assert_eq!(
            vec_at(&s, "x * 2", 0),
            vec![(a1.clone(), 2.0), (b1.clone(), 20.0), (a2.clone(), 6.0)]
        );
        // Scalar on the left: 10 - 1, 10 - 10, 10 - 3.
        assert_eq!(
            vec_at(&s, "10 - x", 0),
            vec![(a1.clone(), 9.0), (b1.clone(), 0.0), (a2.clone(), 7.0)]
        );
        // 1^2, 10^2, 3^2.
        assert_eq!(
            vec_at(&s, "x ^ 2", 0),
            vec![(a1.clone(), 1.0), (b1.clone(), 100.0), (a2.clone(), 9.0)]
        );
        assert_eq!(
            vec_at(&s, "-x", 0),
            vec![(a1.clone(), -1.0), (b1.clone(), -10.0), (a2.clone(), -3.0)]
        );
    }

    #[test]
    fn comparisons_filter_unless_bool() {
        let s = x_set();
        let x = |svc: &str, pod: &str| lbl(&[("__name__", "x"), ("svc", svc), ("pod", pod)]);
        // 1 > 2 is false; 10 and 3 pass, keeping their names and values
        // (sorted by labels: pod 1 before pod 2).
        assert_eq!(vec_at(&s, "x > 2", 0), vec![(x("b", "1"), 10.0), (x("a", "2"), 3.0)]);
        // Scalar on the left: 2 < x is x > 2, and the value is the vector's.
        assert_eq!(vec_at(&s, "2 < x", 0), vec![(x("b", "1"), 10.0), (x("a", "2"), 3.0)]);
        assert_eq!(vec_at(&s, "x == 3", 0), vec![(x("a", "2"), 3.0)]);
        assert_eq!(vec_at(&s, "x != 3", 0), vec![(x("a", "1"), 1.0), (x("b", "1"), 10.0)]);
        // bool: 0 or 1 for every element, name dropped.
        assert_eq!(
            vec_at(&s, "x > bool 2", 0),
            vec![
                (lbl(&[("svc", "a"), ("pod", "1")]), 0.0),
                (lbl(&[("svc", "b"), ("pod", "1")]), 1.0),
                (lbl(&[("svc", "a"), ("pod", "2")]), 1.0),
            ]
        );
        // 1 <= 1 and 3 >= 3 hold at the boundary.
        assert_eq!(vec_at(&s, "x <= 1", 0), vec![(x("a", "1"), 1.0)]);
        assert_eq!(vec_at(&s, "x >= 10", 0), vec![(x("b", "1"), 10.0)]);
    }

    // --- vector/vector matching ----------------------------------------------------

    fn match_set() -> SeriesSet {
        set(vec![
            ser("req", &[("svc", "a"), ("code", "200")], &[(0, 10.0)]),
            ser("req", &[("svc", "b"), ("code", "200")], &[(0, 4.0)]),
            ser("cap", &[("svc", "a"), ("code", "200")], &[(0, 5.0)]),
            ser("cap", &[("svc", "b"), ("code", "200")], &[(0, 8.0)]),
            ser("lim", &[("svc", "a")], &[(0, 20.0)]),
            ser("lim", &[("svc", "b")], &[(0, 2.0)]),
            ser("one", &[("code", "200")], &[(0, 1.0)]),
        ])
    }

    #[test]
    fn one_to_one_matching_on_all_labels() {
        let s = match_set();
        let a = lbl(&[("svc", "a"), ("code", "200")]);
        let b = lbl(&[("svc", "b"), ("code", "200")]);
        // 10 / 5 = 2, 4 / 8 = 0.5; the name is dropped.
        assert_eq!(vec_at(&s, "req / cap", 0), vec![(a.clone(), 2.0), (b.clone(), 0.5)]);
        // 10 > 5 keeps the left sample (name and value); 4 > 8 is dropped.
        assert_eq!(
            vec_at(&s, "req > cap", 0),
            vec![(lbl(&[("__name__", "req"), ("svc", "a"), ("code", "200")]), 10.0)]
        );
        // With bool: 1 and 0, without the name.
        assert_eq!(
            vec_at(&s, "req > bool cap", 0),
            vec![(a.clone(), 1.0), (b.clone(), 0.0)]
        );
        // Nothing shares the label set {svc, code} with lim.
        assert!(vec_at(&s, "req + lim", 0).is_empty());
    }

    #[test]
    fn matching_with_on_and_ignoring() {
        let s = match_set();
        let a = lbl(&[("svc", "a")]);
        let b = lbl(&[("svc", "b")]);
        // on(svc): 10 / 20 = 0.5, 4 / 2 = 2; the result keeps only svc.
        assert_eq!(
            vec_at(&s, "req / on(svc) lim", 0),
            vec![(a.clone(), 0.5), (b.clone(), 2.0)]
        );
        // ignoring(code): 10 - 20 = -10, 4 - 2 = 2; the result drops code.
        assert_eq!(
            vec_at(&s, "req - ignoring(code) lim", 0),
            vec![(a.clone(), -10.0), (b.clone(), 2.0)]
        );
        // on(code) with two right-hand series for code=200 is many-to-many.
        let msg = eval_err(&s, "req / on(code) cap", 0);
        assert!(
            msg.contains("found duplicate series for the match group {code=\"200\"}"),
            "{msg}"
        );
        // on(code) with two left-hand series for one right-hand series needs group_left.
        let msg = eval_err(&s, "req / on(code) one", 0);
        assert!(msg.contains("multiple matches for labels"), "{msg}");
        assert!(unsupported(&s, "req / on(code) group_left one").contains("group_left"));
        assert!(unsupported(&s, "one / on(code) group_right req").contains("group_right"));
    }

    #[test]
    fn set_operators() {
        let s = match_set();
        let req = |svc: &str| lbl(&[("__name__", "req"), ("svc", svc), ("code", "200")]);
        let lim = |svc: &str| lbl(&[("__name__", "lim"), ("svc", svc)]);
        assert_eq!(vec_at(&s, "req and on(svc) lim{svc=\"a\"}", 0), vec![(req("a"), 10.0)]);
        assert_eq!(
            vec_at(&s, "req unless on(svc) lim{svc=\"a\"}", 0),
            vec![(req("b"), 4.0)]
        );
        // Different label sets: everything from both sides.
        assert_eq!(
            vec_at(&s, "req or lim", 0),
            vec![(lim("a"), 20.0), (lim("b"), 2.0), (req("a"), 10.0), (req("b"), 4.0)]
        );
        // on(svc): lim matches req on both svc values, so only req stays.
        assert_eq!(
            vec_at(&s, "req or on(svc) lim", 0),
            vec![(req("a"), 10.0), (req("b"), 4.0)]
        );
        // and with an empty right side is empty; unless keeps everything.
        assert!(vec_at(&s, "req and nothing", 0).is_empty());
        assert_eq!(vec_at(&s, "req unless nothing", 0).len(), 2);
    }

    // --- selectors: offset, lookback, matchers --------------------------------------

    #[test]
    fn offsets_shift_evaluation_time() {
        let s = set(vec![ser("o", &[], &[(0, 1.0), (60, 2.0), (120, 3.0)])]);
        // At 120s, offset 1m reads at 60s: 2.
        assert_eq!(one(&s, "o offset 1m", 120), 2.0);
        // At 0s, offset -1m reads at 60s: 2.
        assert_eq!(one(&s, "o offset -1m", 0), 2.0);
        // The offset keeps the name.
        assert_eq!(vec_at(&s, "o offset 1m", 120)[0].0, lbl(&[("__name__", "o")]));
        // Range (0s, 60s] at 120s with offset 1m holds only 2 @60s.
        assert_eq!(one(&s, "sum_over_time(o[1m] offset 1m)", 120), 2.0);
    }

    #[test]
    fn lookback_is_five_minutes_left_open() {
        let s = set(vec![ser("g", &[], &[(0, 1.0), (600, 2.0)])]);
        assert_eq!(one(&s, "g", 100), 1.0);
        // 299.999s: the sample at 0 is inside (299.999 - 300, 299.999].
        match query_instant(&s, "g", 299_999).unwrap() {
            InstantResult::Vector(v) => assert_eq!(v[0].samples, vec![(299_999, 1.0)]),
            other => panic!("{other:?}"),
        }
        // 300s: (0, 300] excludes the sample at 0.
        assert!(vec_at(&s, "g", 300).is_empty());
        assert_eq!(one(&s, "g", 600), 2.0);
        // Over a range: steps 0..240 see 1, 300..540 nothing, 600 sees 2.
        let got = query_range(&s, "g", 0, 600 * S, 60 * S).unwrap();
        assert_eq!(got.len(), 1);
        let want: Vec<(i64, f64)> = vec![
            (0, 1.0),
            (60 * S, 1.0),
            (120 * S, 1.0),
            (180 * S, 1.0),
            (240 * S, 1.0),
            (600 * S, 2.0),
        ];
        assert_eq!(got[0].samples, want);
    }

    #[test]
    fn each_matcher_type() {
        let s = set(vec![
            ser("m", &[("env", "prod"), ("svc", "a")], &[(0, 1.0)]),
            ser("m", &[("env", "dev"), ("svc", "b")], &[(0, 2.0)]),
            ser("m", &[("svc", "c")], &[(0, 3.0)]),
            ser("n", &[("svc", "a")], &[(0, 4.0)]),
        ]);
        let vals = |q: &str| -> Vec<f64> { vec_at(&s, q, 0).into_iter().map(|p| p.1).collect() };
        assert_eq!(vals("m{env=\"prod\"}"), vec![1.0]);
        // != also matches series without the label ("" != "prod").
        assert_eq!(vals("m{env!=\"prod\"}"), vec![2.0, 3.0]);
        // Regexes are anchored: "pro" does not match "prod".
        assert_eq!(vals("m{env=~\"pr.*\"}"), vec![1.0]);
        assert!(vals("m{env=~\"pro\"}").is_empty());
        // A regex matching "" also matches the series without env.
        assert_eq!(vals("m{env=~\"prod|\"}"), vec![1.0, 3.0]);
        assert_eq!(vals("m{env!~\"d.*\"}"), vec![1.0, 3.0]);
        assert_eq!(vals("m{env=\"\"}"), vec![3.0]);
        // Name as a matcher, and no name at all (scans every series).
        assert_eq!(vals("{__name__=\"m\", svc=\"b\"}"), vec![2.0]);
        assert_eq!(vals("{svc=~\"a\"}"), vec![1.0, 4.0]);
        assert_eq!(vals("{__name__=~\"m|n\", svc=\"a\"}"), vec![1.0, 4.0]);
        // `or` between matcher groups.
        assert_eq!(vals("m{env=\"prod\" or svc=\"c\"}"), vec![1.0, 3.0]);
    }

    #[test]
    fn series_with_equal_labels_are_merged() {
        let mut s = set(vec![ser("d", &[], &[(0, 1.0), (60, 2.0)])]);
        s.extend(vec![ser("d", &[], &[(60, 20.0), (120, 30.0)])]);
        // One series; the later-added one wins at 60s.
        let got = query_range(&s, "d", 0, 120 * S, 60 * S).unwrap();
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].samples, vec![(0, 1.0), (60 * S, 20.0), (120 * S, 30.0)]);
    }

    // --- *_over_time and instant functions ----------------------------------------

    #[test]
    fn over_time_functions() {
        let s = set(vec![ser(
            "g",
            &[("k", "v")],
            &[(0, 1.0), (15, 5.0), (30, 3.0), (45, 7.0)],
        )]);
        // At 45s, (-15, 45] holds 1, 5, 3, 7.
        assert_eq!(one(&s, "avg_over_time(g[1m])", 45), 4.0); // 16 / 4
        assert_eq!(one(&s, "sum_over_time(g[1m])", 45), 16.0);
        assert_eq!(one(&s, "max_over_time(g[1m])", 45), 7.0);
        assert_eq!(one(&s, "min_over_time(g[1m])", 45), 1.0);
        assert_eq!(one(&s, "count_over_time(g[1m])", 45), 4.0);
        // At 50s, (20, 50] holds 3 and 7: avg 5, count 2.
        assert_eq!(one(&s, "avg_over_time(g[30s])", 50), 5.0);
        assert_eq!(one(&s, "count_over_time(g[30s])", 50), 2.0);
        // The name goes.
        assert_eq!(vec_at(&s, "max_over_time(g[1m])", 45)[0].0, lbl(&[("k", "v")]));
        // Nothing in range: no result.
        assert!(vec_at(&s, "count_over_time(g[10s])", 200).is_empty());
    }

    #[test]
    fn abs_and_clamp() {
        let s = set(vec![ser("g", &[("k", "v")], &[(0, 1.0), (45, 7.0)])]);
        // |1 - 4| = 3.
        assert_eq!(one(&s, "abs(g - 4)", 0), 3.0);
        // max(1, 4) = 4 and min(7, 4) = 4; names dropped.
        assert_eq!(vec_at(&s, "clamp_min(g, 4)", 0), vec![(lbl(&[("k", "v")]), 4.0)]);
        assert_eq!(one(&s, "clamp_max(g, 4)", 45), 4.0);
        assert_eq!(one(&s, "clamp_max(g, 4)", 0), 1.0);
    }

    #[test]
    fn scalar_vector_time() {
        let s = x_set();
        assert_eq!(scalar_at(&s, "scalar(x{svc=\"b\"})", 0), 10.0);
        // More than one element: NaN.
        assert!(scalar_at(&s, "scalar(x)", 0).is_nan());
        assert_eq!(vec_at(&s, "vector(3)", 0), vec![(Labels::new(), 3.0)]);
        assert_eq!(scalar_at(&s, "time()", 60), 60.0);
        assert_eq!(scalar_at(&s, "time() - 60", 60), 0.0);
        // 10 + scalar(10) = 20.
        assert_eq!(one(&s, "x{svc=\"b\"} + scalar(x{svc=\"b\"})", 0), 20.0);
    }

    // --- range query shape, endpoints ----------------------------------------------

    #[test]
    fn range_query_shapes() {
        let s = x_set();
        // A scalar expression: one series, empty labels, every step.
        let got = query_range(&s, "1 + 1", 0, 120 * S, 60 * S).unwrap();
        assert_eq!(got.len(), 1);
        assert!(got[0].labels.is_empty());
        assert_eq!(got[0].samples, vec![(0, 2.0), (60 * S, 2.0), (120 * S, 2.0)]);
        // Vectors: sorted by labels (pod before svc); samples only where there
        // is a value (the samples at 0 stay visible until 300s exclusive).
        let got = query_range(&s, "x", 0, 360 * S, 120 * S).unwrap();
        let labels: Vec<(&str, &str)> = got.iter().map(|m| (m.label("pod"), m.label("svc"))).collect();
        assert_eq!(labels, vec![("1", "a"), ("1", "b"), ("2", "a")]);
        assert_eq!(got[0].samples, vec![(0, 1.0), (120 * S, 1.0), (240 * S, 1.0)]);
        // Invalid ranges.
        assert!(matches!(query_range(&s, "x", 0, 60, 0), Err(PromqlError::Eval(_))));
        assert!(matches!(query_range(&s, "x", 60, 0, 1), Err(PromqlError::Eval(_))));
        assert!(matches!(query_range(&s, "x", 0, 20_000, 1), Err(PromqlError::Eval(_))));
        assert!(matches!(query_range(&s, "x[5m]", 0, 60, 1), Err(PromqlError::Eval(_))));
    }

    #[test]
    fn series_and_label_values_endpoints() {
        let s = set(vec![
            ser("up", &[("job", "api")], &[(0, 1.0)]),
            ser("up", &[("job", "db")], &[(600, 1.0)]),
            ser("mem", &[("job", "api")], &[(0, 5.0)]),
        ]);
        // Only series with a sample in [0, 60s].
        assert_eq!(
            series(&s, &["up"], 0, 60 * S).unwrap(),
            vec![lbl(&[("__name__", "up"), ("job", "api")])]
        );
        assert_eq!(series(&s, &["up", "mem"], 0, 600 * S).unwrap().len(), 3);
        assert!(series(&s, &[], 0, 1).is_err());
        assert!(matches!(
            series(&s, &["rate(up[1m])"], 0, 1),
            Err(PromqlError::Parse(_))
        ));
        assert_eq!(
            label_values(&s, "job", &[], 0, 600 * S).unwrap(),
            vec!["api".to_string(), "db".to_string()]
        );
        assert_eq!(
            label_values(&s, "job", &["up"], 300 * S, 600 * S).unwrap(),
            vec!["db".to_string()]
        );
        assert_eq!(
            label_values(&s, "__name__", &[], 0, 600 * S).unwrap(),
            vec!["mem".to_string(), "up".to_string()]
        );
        assert!(label_values(&s, "missing", &[], 0, 600 * S).unwrap().is_empty());
        let s2 = set(vec![
            ser("up", &[("job", "api")], &[(0, 1.0)]),
            ser("mem", &[("job", "db"), ("pod", "db-0")], &[(600, 1.0)]),
        ]);
        assert_eq!(
            label_names(&s2, &[], 0, 600 * S).unwrap(),
            vec!["__name__".to_string(), "job".to_string(), "pod".to_string()]
        );
        assert_eq!(
            label_names(&s2, &["up"], 0, 600 * S).unwrap(),
            vec!["__name__".to_string(), "job".to_string()]
        );
        assert_eq!(
            label_names(&s2, &[], 0, 60 * S).unwrap(),
            vec!["__name__".to_string(), "job".to_string()]
        );
    }

    // --- errors --------------------------------------------------------------------

    #[test]
    fn unsupported_constructs_are_named() {
        let s = x_set();
        assert!(
            unsupported(&s, "label_replace(x, \"a\", \"$1\", \"svc\", \"(.*)\")").contains("function `label_replace`")
        );
        assert!(unsupported(&s, "sort(x)").contains("function `sort`"));
        assert!(unsupported(&s, "rate(x[5m:1m])").contains("subquery"));
        assert!(unsupported(&s, "max_over_time((x * 2)[5m:])").contains("subquery"));
        assert!(unsupported(&s, "x @ 100").contains("@ modifier"));
        assert!(unsupported(&s, "quantile(0.5, x)").contains("aggregation `quantile`"));
        assert!(unsupported(&s, "stddev(x)").contains("aggregation `stddev`"));
        assert!(unsupported(&s, "count_values(\"v\", x)").contains("count_values"));
        assert!(unsupported(&s, "x atan2 x").contains("atan2"));
        assert!(unsupported(&s, "\"hello\"").contains("string"));
        let e = query_instant(&s, "sort(x)", 0).unwrap_err();
        assert_eq!(e.to_string(), "unsupported in this PromQL subset: function `sort`");
    }

    #[test]
    fn syntax_errors_are_parse_errors() {
        let s = x_set();
        match query_instant(&s, "sum(x", 0) {
            Err(PromqlError::Parse(msg)) => assert!(msg.contains("unclosed left parenthesis"), "{msg}"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(query_instant(&s, "x{", 0), Err(PromqlError::Parse(_))));
        assert!(matches!(query_instant(&s, "1 > 2", 0), Err(PromqlError::Parse(_))));
        assert!(matches!(
            query_range(&s, "rate(x)", 0, 60, 1),
            Err(PromqlError::Parse(_))
        ));
    }

    #[test]
    fn duplicate_label_sets_are_errors() {
        let s = set(vec![
            ser("a_total", &[("job", "x")], &[(0, 0.0), (15, 1.0)]),
            ser("b_total", &[("job", "x")], &[(0, 0.0), (15, 2.0)]),
        ]);
        // Dropping the names leaves two {job="x"} series.
        let msg = eval_err(&s, "rate({__name__=~\"a_total|b_total\"}[1m])", 15);
        assert_eq!(msg, DUPLICATE_LABELSET);
        let msg = eval_err(&s, "{__name__=~\"a_total|b_total\"} * 2", 15);
        assert_eq!(msg, DUPLICATE_LABELSET);
    }

    #[test]
    fn range_queries_over_thousands_of_series_are_fast() {
        // 3000 series, 1h of 15s samples; 240 steps of 15s.
        let mut v = Vec::new();
        for i in 0..3000 {
            let svc = format!("svc{}", i % 20);
            let pod = format!("pod{i}");
            let samples: Vec<(i64, f64)> = (0..=240).map(|k| (k * 15, (k * (i % 7 + 1)) as f64)).collect();
            v.push(ser("http_requests_total", &[("svc", &svc), ("pod", &pod)], &samples));
        }
        let s = set(v);
        let t0 = std::time::Instant::now();
        let got = query_range(
            &s,
            "sum by (svc) (rate(http_requests_total{svc=~\"svc1.*\"}[5m])) / 2",
            0,
            3600 * S,
            15 * S,
        )
        .unwrap();
        let took = t0.elapsed();
        // svc1 and svc10..svc19.
        assert_eq!(got.len(), 11);
        let t0b = std::time::Instant::now();
        let all = query_range(&s, "topk(5, rate(http_requests_total[5m]))", 0, 3600 * S, 15 * S).unwrap();
        let took_b = t0b.elapsed();
        assert!(!all.is_empty());
        // Generous bounds for unoptimised builds on a busy machine.
        assert!(took.as_secs_f64() < 5.0, "took {took:?}");
        assert!(took_b.as_secs_f64() < 5.0, "took {took_b:?}");
    }
}
