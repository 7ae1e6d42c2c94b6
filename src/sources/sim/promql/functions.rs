//! Function calls: the range functions (`rate`, `increase`, `delta`,
//! `irate`, `*_over_time`) with Prometheus' extrapolation, the element-wise
//! ones, `scalar`/`vector`/`time`, and `histogram_quantile` over classic buckets.

use std::collections::HashMap;

use promql_parser::parser::{Call, Expr};

use super::eval::{Builder, Evaluator, Series, Val, drop_name};
use super::gomath::{almost_equal, go_max, go_min, go_search, go_seconds, kahan_inc};
use super::parse::{is_range_function, matrix_arg, unwrap_parens};
use super::{PromqlError, Result};
use crate::sources::telemetry::Labels;

/// Tolerance for ignoring floating point noise between classic buckets.
const SMALL_DELTA_TOLERANCE: f64 = 1e-12;

/// What a range function computes from the samples in one window
/// `(mint, maxt]`, if it is one the evaluator knows.
pub(super) type Kernel = Box<dyn Fn(&[(i64, f64)], i64, i64) -> Option<f64>>;

pub(super) fn range_kernel(name: &str, range_secs: f64) -> Option<Kernel> {
    Some(match name {
        "rate" => Box::new(move |w: &[(i64, f64)], s: i64, e: i64| extrapolated_rate(w, s, e, range_secs, true, true)),
        "increase" => {
            Box::new(move |w: &[(i64, f64)], s: i64, e: i64| extrapolated_rate(w, s, e, range_secs, true, false))
        }
        "delta" => {
            Box::new(move |w: &[(i64, f64)], s: i64, e: i64| extrapolated_rate(w, s, e, range_secs, false, false))
        }
        "irate" => Box::new(|w: &[(i64, f64)], _: i64, _: i64| irate(w)),
        "avg_over_time" => Box::new(|w: &[(i64, f64)], _: i64, _: i64| Some(avg_over_time(w))),
        "sum_over_time" => Box::new(|w: &[(i64, f64)], _: i64, _: i64| Some(sum_over_time(w))),
        "count_over_time" => Box::new(|w: &[(i64, f64)], _: i64, _: i64| Some(w.len() as f64)),
        "max_over_time" => {
            Box::new(|w: &[(i64, f64)], _: i64, _: i64| Some(compare_over_time(w, |cur, best| cur > best)))
        }
        "min_over_time" => {
            Box::new(|w: &[(i64, f64)], _: i64, _: i64| Some(compare_over_time(w, |cur, best| cur < best)))
        }
        _ => return None,
    })
}

impl Evaluator<'_> {
    pub(super) fn eval_call(&self, c: &Call) -> Result<Val> {
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
            let kernel = range_kernel(name, go_seconds(ms.range))
                .ok_or_else(|| PromqlError::Unsupported(format!("function `{name}`")))?;
            return Ok(Val::Vector(self.eval_range_fn(ms, kernel)?));
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

    pub(super) fn histogram_quantile(&self, q: &[f64], v: Vec<Series>) -> Result<Vec<Series>> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::sim::promql::testing::*;

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
}
