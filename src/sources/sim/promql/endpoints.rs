//! The four HTTP endpoints a Prometheus server answers (`query_range`,
//! `query`, `series`, `labels` and `label/<name>/values`) over the
//! simulator's series: the evaluator's only door to the rest of the crate.

use std::collections::BTreeSet;

use promql_parser::parser::value::ValueType;
use promql_parser::parser::{Expr, token};

use super::aggregate::Grouping;
use super::eval::{Evaluator, Val};
use super::parse::{check_supported, parse_query, parse_series_selector, type_name, unwrap_parens};
use super::{PromqlError, Result};
use crate::sources::sim::series::{SeriesRef, SeriesSet};
use crate::sources::telemetry::{InstantResult, Labels, MetricSeries};

/// Prometheus refuses range queries with more points per series than this.
const MAX_POINTS: i64 = 11_000;

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
            if s.samples.any_in(start_ms, end_ms) && !out.contains(s.labels) {
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
    mut each: impl FnMut(SeriesRef<'_>),
) -> Result<()> {
    let selectors = matches
        .iter()
        .map(|m| parse_series_selector(m))
        .collect::<Result<Vec<_>>>()?;
    let mut consider = |s: SeriesRef<'_>| {
        if s.samples.any_in(start_ms, end_ms) {
            each(s);
        }
    };
    if selectors.is_empty() {
        set.iter().for_each(&mut consider);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::sim::promql::testing::*;

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
