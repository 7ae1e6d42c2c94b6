//! Evaluation, vectorised over the steps of a query as in Prometheus: an
//! instant vector is a list of series, each with one optional value per
//! step, kept sorted by labels with unique label sets and no empty series.

use std::collections::HashMap;

use promql_parser::parser::Expr;

use super::{METRIC_NAME, PromqlError, Result};
use crate::sources::sim::series::SeriesSet;
use crate::sources::telemetry::Labels;

const DUPLICATE_LABELSET: &str = "vector cannot contain metrics with the same labelset";

/// One series of an instant vector evaluated over all steps.
pub(super) struct Series {
    pub(super) labels: Labels,
    pub(super) vals: Vec<Option<f64>>,
}

pub(super) enum Val {
    /// One value per step.
    Scalar(Vec<f64>),
    /// Sorted by labels, unique label sets, no empty series.
    Vector(Vec<Series>),
}

pub(super) fn drop_name(mut l: Labels) -> Labels {
    l.remove(METRIC_NAME);
    l
}

pub(super) fn dup_labelset() -> PromqlError {
    PromqlError::Eval(DUPLICATE_LABELSET.into())
}

/// Collects output series by label set, merging series that end up with the
/// same labels at different steps and failing, as Prometheus does, when two
/// land on the same step.
pub(super) struct Builder {
    n: usize,
    index: HashMap<Labels, usize>,
    series: Vec<Series>,
}

impl Builder {
    pub(super) fn new(n: usize) -> Self {
        Builder {
            n,
            index: HashMap::new(),
            series: Vec::new(),
        }
    }

    pub(super) fn slot(&mut self, labels: Labels) -> usize {
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

    pub(super) fn put(&mut self, slot: usize, step: usize, v: f64) -> Result<()> {
        let cell = &mut self.series[slot].vals[step];
        if cell.is_some() {
            return Err(dup_labelset());
        }
        *cell = Some(v);
        Ok(())
    }

    pub(super) fn finish(self) -> Vec<Series> {
        finish_series(self.series)
    }
}

/// Drops empty series and sorts by labels.
pub(super) fn finish_series(series: Vec<Series>) -> Vec<Series> {
    let mut out: Vec<Series> = series
        .into_iter()
        .filter(|s| s.vals.iter().any(Option::is_some))
        .collect();
    out.sort_by(|a, b| a.labels.cmp(&b.labels));
    out
}

pub(super) fn fmt_labels(l: &Labels) -> String {
    let parts: Vec<String> = l.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    format!("{{{}}}", parts.join(", "))
}

pub(super) struct Evaluator<'a> {
    pub(super) set: &'a SeriesSet,
    pub(super) start: i64,
    pub(super) step: i64,
    pub(super) n: usize,
}

impl Evaluator<'_> {
    pub(super) fn ts(&self, i: usize) -> i64 {
        self.start + i as i64 * self.step
    }

    pub(super) fn eval(&self, e: &Expr) -> Result<Val> {
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

    pub(super) fn eval_vector(&self, e: &Expr) -> Result<Vec<Series>> {
        match self.eval(e)? {
            Val::Vector(v) => Ok(v),
            Val::Scalar(_) => Err(PromqlError::Eval(format!(
                "expected an instant vector, got a scalar: {e}"
            ))),
        }
    }

    pub(super) fn eval_scalar(&self, e: &Expr) -> Result<Vec<f64>> {
        match self.eval(e)? {
            Val::Scalar(v) => Ok(v),
            Val::Vector(_) => Err(PromqlError::Eval(format!(
                "expected a scalar, got an instant vector: {e}"
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::sim::promql::testing::*;

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
}
