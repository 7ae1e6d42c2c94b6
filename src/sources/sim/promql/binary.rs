//! Binary operators: arithmetic and comparisons between scalars and
//! vectors, one-to-one vector matching with `on`/`ignoring`, and the set
//! operators, with Prometheus' errors for ambiguous matches.

use std::collections::HashMap;

use promql_parser::parser::token::{self, TokenId};
use promql_parser::parser::{BinaryExpr, LabelModifier};

use super::eval::{Builder, Evaluator, Series, Val, drop_name, finish_series, fmt_labels};
use super::gomath::go_pow;
use super::{METRIC_NAME, PromqlError, Result};
use crate::sources::telemetry::Labels;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(super) enum BinOp {
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
    pub(super) fn from_token(id: TokenId) -> Option<BinOp> {
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
pub(super) enum Matching {
    On(Vec<String>),
    Ignoring(Vec<String>),
}

impl Matching {
    pub(super) fn from_modifier(m: Option<&LabelModifier>) -> Matching {
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

impl Evaluator<'_> {
    pub(super) fn eval_binary(&self, b: &BinaryExpr) -> Result<Val> {
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::sim::promql::testing::*;

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
}
