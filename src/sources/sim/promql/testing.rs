//! Fixtures and helpers the evaluator's unit tests share.

// Re-exported so each file's tests need one import for the shared vocabulary.
pub(super) use super::{METRIC_NAME, PromqlError, query_instant, query_range};
pub(super) use crate::sources::sim::series::SeriesSet;
pub(super) use crate::sources::telemetry::{InstantResult, Labels, MetricSeries};

pub(super) const S: i64 = 1000;

pub(super) fn lbl(pairs: &[(&str, &str)]) -> Labels {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// A series named `name` with samples given as (seconds, value).
pub(super) fn ser(name: &str, labels: &[(&str, &str)], samples: &[(i64, f64)]) -> MetricSeries {
    let mut l = lbl(labels);
    l.insert(METRIC_NAME.into(), name.into());
    MetricSeries {
        labels: l,
        samples: samples.iter().map(|&(t, v)| (t * S, v)).collect(),
    }
}

pub(super) fn set(v: Vec<MetricSeries>) -> SeriesSet {
    SeriesSet::new(v)
}

/// Instant vector at `t` seconds as (labels, value) pairs, in result order.
pub(super) fn vec_at(set: &SeriesSet, q: &str, t: i64) -> Vec<(Labels, f64)> {
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
pub(super) fn one(set: &SeriesSet, q: &str, t: i64) -> f64 {
    let v = vec_at(set, q, t);
    assert_eq!(v.len(), 1, "{q} at {t}s: {v:?}");
    v[0].1
}

pub(super) fn scalar_at(set: &SeriesSet, q: &str, t: i64) -> f64 {
    match query_instant(set, q, t * S).unwrap() {
        InstantResult::Scalar((ts, v)) => {
            assert_eq!(ts, t * S);
            v
        }
        other => panic!("expected a scalar for {q}, got {other:?}"),
    }
}

pub(super) fn assert_close(got: f64, want: f64) {
    let tol = 1e-12 * want.abs().max(1.0);
    assert!((got - want).abs() <= tol, "got {got:?}, want {want:?}");
}

pub(super) fn unsupported(set: &SeriesSet, q: &str) -> String {
    match query_instant(set, q, 0) {
        Err(PromqlError::Unsupported(what)) => what,
        other => panic!("expected Unsupported for {q}, got {other:?}"),
    }
}

pub(super) fn eval_err(set: &SeriesSet, q: &str, t: i64) -> String {
    match query_instant(set, q, t * S) {
        Err(PromqlError::Eval(msg)) => msg,
        other => panic!("expected an evaluation error for {q}, got {other:?}"),
    }
}

pub(super) fn x_set() -> SeriesSet {
    set(vec![
        ser("x", &[("svc", "a"), ("pod", "1")], &[(0, 1.0)]),
        ser("x", &[("svc", "a"), ("pod", "2")], &[(0, 3.0)]),
        ser("x", &[("svc", "b"), ("pod", "1")], &[(0, 10.0)]),
    ])
}
