//! The simulator's metric store: every generated or recorded series, indexed by
//! metric name for the PromQL evaluator.
//!
//! Generated series all sample the scenario's one time grid (start, step), so
//! they are kept as values only, in a few large blocks of `f64` (a series is
//! a run of one block, starting at some step; blocks never grow past their
//! first allocation, so there is no doubling slack and no copy on growth).
//! Recorded series keep their own timestamps. Readers see both as
//! `(ms, value)` samples.

use std::collections::HashMap;

use crate::model::Timestamp;
use crate::sources::telemetry::{Labels, MetricSeries};

/// The time grid generated series sample: step `i` is at `start + i * step`.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Grid {
    pub start: Timestamp,
    pub step_ms: i64,
}

impl Grid {
    /// Milliseconds of step `i`.
    pub fn ms(&self, i: usize) -> i64 {
        (self.start + (i as i64) * self.step_ms * 1_000_000).millis()
    }
}

/// Values in one block (8 MiB).
const BLOCK: usize = 1 << 20;

#[derive(Clone, Debug)]
enum Data {
    /// `len` values from `blocks[block][at..]`, the first at grid step `first`.
    Grid {
        first: usize,
        block: usize,
        at: usize,
        len: usize,
    },
    /// Samples at their own timestamps.
    Pairs(Vec<(i64, f64)>),
}

#[derive(Clone, Debug, Default)]
pub struct SeriesSet {
    labels: Vec<Labels>,
    data: Vec<Data>,
    grid: Option<Grid>,
    blocks: Vec<Vec<f64>>,
    by_name: HashMap<String, Vec<usize>>,
}

/// One series' samples, oldest first, wherever they are kept.
#[derive(Clone, Copy, Debug)]
pub enum Samples<'a> {
    Grid {
        grid: Grid,
        first: usize,
        values: &'a [f64],
    },
    Pairs(&'a [(i64, f64)]),
}

impl<'a> Samples<'a> {
    pub fn len(&self) -> usize {
        match self {
            Samples::Grid { values, .. } => values.len(),
            Samples::Pairs(p) => p.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The `k`th sample.
    pub fn get(&self, k: usize) -> (i64, f64) {
        match self {
            Samples::Grid { grid, first, values } => (grid.ms(first + k), values[k]),
            Samples::Pairs(p) => p[k],
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = (i64, f64)> + '_ {
        (0..self.len()).map(|k| self.get(k))
    }

    /// The samples as a slice: borrowed when stored as pairs, otherwise
    /// written into `buf` (reused across calls, so reading many series
    /// allocates once).
    pub fn as_slice<'b>(&self, buf: &'b mut Vec<(i64, f64)>) -> &'b [(i64, f64)]
    where
        'a: 'b,
    {
        match *self {
            Samples::Pairs(p) => p,
            Samples::Grid { grid, first, values } => {
                buf.clear();
                buf.extend(values.iter().enumerate().map(|(k, v)| (grid.ms(first + k), *v)));
                buf
            }
        }
    }

    /// Whether any sample lies in [start, end] (ms).
    pub fn any_in(&self, start: i64, end: i64) -> bool {
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            if self.get(mid).0 < start {
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        lo < self.len() && self.get(lo).0 <= end
    }
}

/// A stored series: its labels and its samples.
#[derive(Clone, Copy, Debug)]
pub struct SeriesRef<'a> {
    pub labels: &'a Labels,
    pub samples: Samples<'a>,
}

impl SeriesSet {
    /// Builds the index. Samples of each series must be sorted by time.
    pub fn new(series: Vec<MetricSeries>) -> Self {
        let mut set = SeriesSet::default();
        set.extend(series);
        set
    }

    /// An empty set whose generated series sample `grid`.
    pub fn on_grid(grid: Grid) -> Self {
        SeriesSet {
            grid: Some(grid),
            ..SeriesSet::default()
        }
    }

    fn index(&mut self, labels: Labels, data: Data) {
        let i = self.labels.len();
        let name = labels.get("__name__").map(String::as_str).unwrap_or("");
        match self.by_name.get_mut(name) {
            Some(v) => v.push(i),
            None => {
                self.by_name.insert(name.to_string(), vec![i]);
            }
        }
        self.labels.push(labels);
        self.data.push(data);
    }

    /// Adds a series sampled on the grid from step `first` on, one value a step.
    ///
    /// # Panics
    /// If the set was not made with [`SeriesSet::on_grid`].
    pub fn push_grid(&mut self, labels: Labels, first: usize, values: impl IntoIterator<Item = f64>) {
        assert!(self.grid.is_some(), "a series on the grid needs a set with a grid");
        let values: Vec<f64> = values.into_iter().collect();
        let len = values.len();
        let fits = self.blocks.last().is_some_and(|b| b.capacity() - b.len() >= len);
        if !fits {
            self.blocks.push(Vec::with_capacity(BLOCK.max(len)));
        }
        let block = self.blocks.len() - 1;
        let b = &mut self.blocks[block];
        let at = b.len();
        b.extend_from_slice(&values);
        self.index(labels, Data::Grid { first, block, at, len });
    }

    /// Adds series (for recorded telemetry laid over generated telemetry).
    pub fn extend(&mut self, more: Vec<MetricSeries>) {
        for s in more {
            self.index(s.labels, Data::Pairs(s.samples));
        }
    }

    /// Releases spare capacity once every series is in.
    pub fn shrink(&mut self) {
        if let Some(b) = self.blocks.last_mut() {
            b.shrink_to_fit();
        }
        self.labels.shrink_to_fit();
        self.data.shrink_to_fit();
    }

    /// The `i`th series in insertion order.
    pub fn get(&self, i: usize) -> SeriesRef<'_> {
        let samples = match &self.data[i] {
            Data::Grid { first, block, at, len } => Samples::Grid {
                grid: self.grid.expect("grid series imply a grid"),
                first: *first,
                values: &self.blocks[*block][*at..*at + *len],
            },
            Data::Pairs(p) => Samples::Pairs(p),
        };
        SeriesRef {
            labels: &self.labels[i],
            samples,
        }
    }

    /// Every series, in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = SeriesRef<'_>> + '_ {
        (0..self.len()).map(|i| self.get(i))
    }

    /// Series with this metric name, in insertion order.
    pub fn by_name<'a>(&'a self, name: &str) -> impl Iterator<Item = SeriesRef<'a>> + 'a {
        self.by_name
            .get(name)
            .map(|v| v.as_slice())
            .unwrap_or(&[])
            .iter()
            .map(move |i| self.get(*i))
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.by_name.keys().map(String::as_str)
    }

    pub fn len(&self) -> usize {
        self.labels.len()
    }

    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// Samples in all.
    pub fn samples(&self) -> usize {
        self.data
            .iter()
            .map(|d| match d {
                Data::Grid { len, .. } => *len,
                Data::Pairs(p) => p.len(),
            })
            .sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(name: &str) -> Labels {
        [("__name__".to_string(), name.to_string())].into_iter().collect()
    }

    #[test]
    fn grid_and_pairs_read_alike() {
        let grid = Grid {
            start: Timestamp(1_000_000_000),
            step_ms: 15_000,
        };
        let mut set = SeriesSet::on_grid(grid);
        set.push_grid(labels("a"), 2, [1.0, 2.0, 3.0]);
        set.extend(vec![MetricSeries {
            labels: labels("b"),
            samples: vec![(5, 9.0)],
        }]);
        set.push_grid(labels("a"), 0, [4.0]);
        let a: Vec<Vec<(i64, f64)>> = set.by_name("a").map(|s| s.samples.iter().collect()).collect();
        assert_eq!(
            a,
            [vec![(31_000, 1.0), (46_000, 2.0), (61_000, 3.0)], vec![(1_000, 4.0)]]
        );
        let mut buf = Vec::new();
        let first = set.get(0);
        assert_eq!(
            first.samples.as_slice(&mut buf),
            &[(31_000, 1.0), (46_000, 2.0), (61_000, 3.0)]
        );
        assert_eq!(set.get(1).samples.as_slice(&mut buf), &[(5, 9.0)]);
        assert_eq!((set.len(), set.samples()), (3, 5));
        assert!(first.samples.any_in(46_000, 46_000));
        assert!(first.samples.any_in(0, 31_000));
        assert!(!first.samples.any_in(31_001, 45_999));
        assert!(!first.samples.any_in(61_001, 99_999));
    }
}
