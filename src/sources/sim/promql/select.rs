//! Series selection: which stored series a selector picks (label matchers,
//! merged label sets) and which of their samples each step sees (the
//! 5-minute lookback for instant vectors, left-open windows for ranges).

use std::borrow::Cow;
use std::time::Duration;

use promql_parser::label::{MatchOp, Matcher};
use promql_parser::parser::{MatrixSelector, Offset, VectorSelector};
use regex::Regex;

use super::eval::{Evaluator, Series, drop_name, dup_labelset};
use super::{METRIC_NAME, Result};
use crate::sources::sim::series::{Samples, SeriesRef, SeriesSet};
use crate::sources::telemetry::Labels;

/// Prometheus' default lookback delta.
const LOOKBACK_MS: i64 = 5 * 60 * 1000;

/// The bit pattern Prometheus writes as a staleness marker.
const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

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
pub(super) struct CompiledSelector {
    name: Option<String>,
    matchers: Vec<CompiledMatcher>,
    /// `{a="1" or b="2"}`: the series must match one of the groups.
    or_groups: Vec<Vec<CompiledMatcher>>,
}

impl CompiledSelector {
    pub(super) fn new(vs: &VectorSelector) -> Self {
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

    pub(super) fn matches(&self, labels: &Labels) -> bool {
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
    pub(super) fn candidates<'a>(&self, set: &'a SeriesSet) -> Vec<SeriesRef<'a>> {
        match self.pinned_name() {
            Some(name) => set.by_name(name).filter(|s| self.matches(s.labels)).collect(),
            None => set.iter().filter(|s| self.matches(s.labels)).collect(),
        }
    }
}

/// One selected series: series with identical labels are merged, as a TSDB
/// would store them as one (a later-added series wins on equal timestamps).
struct Selected<'a> {
    labels: &'a Labels,
    samples: Picked<'a>,
}

enum Picked<'a> {
    One(Samples<'a>),
    Merged(Vec<(i64, f64)>),
}

impl Selected<'_> {
    /// The samples as a slice, written into `buf` if they are not stored as one.
    fn slice<'b>(&'b self, buf: &'b mut Vec<(i64, f64)>) -> &'b [(i64, f64)] {
        match &self.samples {
            Picked::One(s) => s.as_slice(buf),
            Picked::Merged(v) => v,
        }
    }
}

/// Selected series, sorted by labels, one per label set.
fn select<'a>(set: &'a SeriesSet, sel: &CompiledSelector) -> Vec<Selected<'a>> {
    let mut cands = sel.candidates(set);
    // Stable: equal label sets stay in insertion order for the merge below.
    cands.sort_by(|a, b| a.labels.cmp(b.labels));
    let mut out = Vec::with_capacity(cands.len());
    let mut i = 0;
    while i < cands.len() {
        let mut j = i + 1;
        while j < cands.len() && cands[j].labels == cands[i].labels {
            j += 1;
        }
        let samples = if j - i == 1 {
            Picked::One(cands[i].samples)
        } else {
            Picked::Merged(merge_samples(&cands[i..j]))
        };
        out.push(Selected {
            labels: cands[i].labels,
            samples,
        });
        i = j;
    }
    out
}

fn merge_samples(group: &[SeriesRef<'_>]) -> Vec<(i64, f64)> {
    let mut all: Vec<(i64, usize, f64)> = group
        .iter()
        .enumerate()
        .flat_map(|(gi, s)| s.samples.iter().map(move |(t, v)| (t, gi, v)))
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

impl Evaluator<'_> {
    /// Latest sample in (t - offset - 5m, t - offset] at each step.
    pub(super) fn eval_selector(&self, vs: &VectorSelector) -> Vec<Series> {
        let sel = CompiledSelector::new(vs);
        let offset = offset_ms(vs.offset.as_ref());
        let mut out = Vec::new();
        let mut buf = Vec::new();
        for s in select(self.set, &sel) {
            let samples = s.slice(&mut buf);
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
    pub(super) fn eval_range_fn(
        &self,
        ms: &MatrixSelector,
        f: impl Fn(&[(i64, f64)], i64, i64) -> Option<f64>,
    ) -> Result<Vec<Series>> {
        let mut out = Vec::new();
        self.each_range_fn(ms, f, |labels, vals| {
            out.push(Series {
                labels: drop_name(labels.clone()),
                vals,
            })
        });
        // Functions over range vectors reject duplicate output label sets
        // regardless of the steps they occupy.
        out.sort_by(|a, b| a.labels.cmp(&b.labels));
        if out.windows(2).any(|w| w[0].labels == w[1].labels) {
            return Err(dup_labelset());
        }
        Ok(out)
    }

    /// Whether [`Evaluator::each_range_fn`] over this selector hands out its
    /// series in the order, and with the distinct label sets, that
    /// [`Evaluator::eval_range_fn`] returns once the name is dropped: true
    /// when every selected series has the same name.
    pub(super) fn streams_in_order(ms: &MatrixSelector) -> bool {
        CompiledSelector::new(&ms.vs).pinned_name().is_some()
    }

    /// [`Evaluator::eval_range_fn`] one series at a time, in selection order
    /// (sorted by labels, name included), with the series' stored labels;
    /// series without any value are skipped. Nothing is kept between series.
    pub(super) fn each_range_fn(
        &self,
        ms: &MatrixSelector,
        f: impl Fn(&[(i64, f64)], i64, i64) -> Option<f64>,
        mut sink: impl FnMut(&Labels, Vec<Option<f64>>),
    ) {
        let sel = CompiledSelector::new(&ms.vs);
        let offset = offset_ms(ms.vs.offset.as_ref());
        let range = duration_ms(ms.range);
        let mut buf = Vec::new();
        for s in select(self.set, &sel) {
            let samples = s.slice(&mut buf);
            // Staleness markers never enter a range.
            let samples: Cow<[(i64, f64)]> = if samples.iter().any(|p| is_stale(p.1)) {
                Cow::Owned(samples.iter().copied().filter(|p| !is_stale(p.1)).collect())
            } else {
                Cow::Borrowed(samples)
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
                sink(s.labels, vals);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::sources::sim::promql::testing::*;

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
}
