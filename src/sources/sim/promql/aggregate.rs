//! Aggregations: `sum`, `avg`, `min`, `max` and `count` as Prometheus'
//! groupedAggregation computes them, and `topk`/`bottomk` with its heap, so
//! ties and NaNs come out in the same order.

use std::collections::HashMap;

use promql_parser::parser::token::{self, TokenId};
use promql_parser::parser::{AggregateExpr, Expr, LabelModifier, MatrixSelector};

use super::eval::{Evaluator, Series, Val, finish_series};
use super::functions::{Kernel, range_kernel};
use super::gomath::{go_seconds, heap_fix, heap_push, kahan_inc};
use super::parse::{is_range_function, matrix_arg, unwrap_parens};
use super::{METRIC_NAME, PromqlError, Result};
use crate::sources::telemetry::Labels;

/// The largest float that converts to an int64 without overflow (engine.go).
const MAX_INT64_F: f64 = 9_223_372_036_854_774_784.0;
const MIN_INT64_F: f64 = -9_223_372_036_854_775_808.0;

impl Evaluator<'_> {
    pub(super) fn eval_aggregate(&self, a: &AggregateExpr) -> Result<Val> {
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
        // Each group at each step adds its input series in input order, so
        // the input can be read one series at a time.
        // Each group's labels are kept once, as the index's key; the groups'
        // first-seen order is recovered from their numbers at the end.
        let mut index: HashMap<Labels, usize> = HashMap::new();
        let mut acc: Vec<GroupAcc> = Vec::new();
        let mut add = |key: Labels, vals: &[Option<f64>]| {
            let g = *index.entry(key).or_insert_with(|| {
                acc.push(GroupAcc::new(op, self.n));
                acc.len() - 1
            });
            for (i, v) in vals.iter().enumerate().take(self.n) {
                if let Some(f) = v {
                    acc[g].add(op, i, *f);
                }
            }
        };
        match streamable(unwrap_parens(&a.expr)) {
            Some((ms, kernel)) => self.each_range_fn(ms, kernel, |l, vals| add(grouping.labels_but_name(l), &vals)),
            None => {
                for s in self.eval_vector(unwrap_parens(&a.expr))? {
                    add(grouping.labels(&s.labels), &s.vals);
                }
            }
        }
        let mut keys: Vec<(Labels, usize)> = index.into_iter().collect();
        keys.sort_unstable_by_key(|(_, g)| *g);
        let out = keys
            .into_iter()
            .map(|(labels, _)| labels)
            .zip(acc)
            .map(|(labels, acc)| Series {
                labels,
                vals: (0..self.n).map(|i| acc.seen(i).then(|| acc.result(op, i))).collect(),
            })
            .collect();
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

/// A range function over a selector of one metric name: its series can be
/// aggregated as they are computed, without holding them all.
fn streamable(e: &Expr) -> Option<(&MatrixSelector, Kernel)> {
    let Expr::Call(c) = e else { return None };
    if !is_range_function(c.func.name) {
        return None;
    }
    let ms = matrix_arg(c)?;
    if !Evaluator::streams_in_order(ms) {
        return None;
    }
    Some((ms, range_kernel(c.func.name, go_seconds(ms.range))?))
}

/// Output labels of an aggregation group.
pub(super) enum Grouping {
    By(Vec<String>),
    Without(Vec<String>),
}

impl Grouping {
    pub(super) fn from_modifier(m: Option<&LabelModifier>) -> Grouping {
        match m {
            Some(LabelModifier::Include(ls)) => Grouping::By(ls.labels.clone()),
            Some(LabelModifier::Exclude(ls)) => Grouping::Without(ls.labels.clone()),
            None => Grouping::By(Vec::new()),
        }
    }

    /// The group of a series whose name is about to be dropped.
    fn labels_but_name(&self, l: &Labels) -> Labels {
        match self {
            Grouping::By(names) => l
                .iter()
                .filter(|(k, v)| !v.is_empty() && k.as_str() != METRIC_NAME && names.iter().any(|n| n == *k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            Grouping::Without(_) => self.labels(l),
        }
    }

    pub(super) fn labels(&self, l: &Labels) -> Labels {
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

/// groupedAggregation for sum, avg, min, max and count, for one group at
/// every step. There is one per group, each as long as the query has steps,
/// so it is kept column-wise with only the columns its operator reads: a sum
/// takes 17 bytes a step (the sum, its Kahan compensation, whether any value
/// was seen), min and max 9, count 4, avg 21. Once an average switches to an
/// incremental mean the mean takes the sum's place.
struct GroupAcc {
    /// The sum (the mean, once incremental), or the min or max; not for count.
    value: Vec<f64>,
    /// Kahan compensation: sum and avg.
    kahan_c: Vec<f64>,
    /// Values added, zero for none yet: avg and count.
    count: Vec<u32>,
    /// Whether a value was added: the operators without a count.
    seen: Vec<bool>,
    /// Whether the average is an incremental mean: avg.
    incremental_mean: Vec<bool>,
}

impl GroupAcc {
    fn new(op: TokenId, n: usize) -> Self {
        let counts = matches!(op, token::T_AVG | token::T_COUNT);
        let col = |keep: bool| if keep { n } else { 0 };
        GroupAcc {
            value: vec![0.0; col(op != token::T_COUNT)],
            kahan_c: vec![0.0; col(matches!(op, token::T_SUM | token::T_AVG))],
            count: vec![0; col(counts)],
            seen: vec![false; col(!counts)],
            incremental_mean: vec![false; col(op == token::T_AVG)],
        }
    }

    fn seen(&self, i: usize) -> bool {
        if self.count.is_empty() {
            self.seen[i]
        } else {
            self.count[i] > 0
        }
    }

    fn add(&mut self, op: TokenId, i: usize, f: f64) {
        if !self.seen(i) {
            if let Some(v) = self.value.get_mut(i) {
                *v = f;
            }
            if let Some(c) = self.kahan_c.get_mut(i) {
                *c = 0.0;
            }
            match self.count.get_mut(i) {
                Some(c) => *c = 1,
                None => self.seen[i] = true,
            }
            if let Some(m) = self.incremental_mean.get_mut(i) {
                *m = false;
            }
            return;
        }
        match op {
            token::T_SUM => {
                (self.value[i], self.kahan_c[i]) = kahan_inc(f, self.value[i], self.kahan_c[i]);
            }
            token::T_AVG => {
                self.count[i] += 1;
                let count = f64::from(self.count[i]);
                if !self.incremental_mean[i] {
                    let (v, c) = kahan_inc(f, self.value[i], self.kahan_c[i]);
                    if !v.is_infinite() {
                        self.value[i] = v;
                        self.kahan_c[i] = c;
                        return;
                    }
                    // The sum would overflow: switch to an incremental mean.
                    self.incremental_mean[i] = true;
                    self.value[i] /= count - 1.0;
                    self.kahan_c[i] /= count - 1.0;
                }
                let q = (count - 1.0) / count;
                (self.value[i], self.kahan_c[i]) = kahan_inc(f / count, q * self.value[i], q * self.kahan_c[i]);
            }
            token::T_MAX if self.value[i] < f || self.value[i].is_nan() => self.value[i] = f,
            token::T_MIN if self.value[i] > f || self.value[i].is_nan() => self.value[i] = f,
            token::T_COUNT => self.count[i] += 1,
            _ => {}
        }
    }

    fn result(&self, op: TokenId, i: usize) -> f64 {
        match op {
            token::T_SUM => self.value[i] + self.kahan_c[i],
            token::T_AVG if self.incremental_mean[i] => self.value[i] + self.kahan_c[i],
            token::T_AVG => {
                let count = f64::from(self.count[i]);
                self.value[i] / count + self.kahan_c[i] / count
            }
            token::T_COUNT => f64::from(self.count[i]),
            _ => self.value[i],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::sim::promql::testing::*;

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
}
