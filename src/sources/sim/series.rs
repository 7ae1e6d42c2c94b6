//! The simulator's metric store: every generated or recorded series, indexed by
//! metric name for the PromQL evaluator.

use std::collections::HashMap;

use crate::sources::telemetry::MetricSeries;

#[derive(Clone, Debug, Default)]
pub struct SeriesSet {
    series: Vec<MetricSeries>,
    by_name: HashMap<String, Vec<usize>>,
}

impl SeriesSet {
    /// Builds the index. Samples of each series must be sorted by time.
    pub fn new(series: Vec<MetricSeries>) -> Self {
        let mut by_name: HashMap<String, Vec<usize>> = HashMap::new();
        for (i, s) in series.iter().enumerate() {
            by_name.entry(s.name().to_string()).or_default().push(i);
        }
        SeriesSet { series, by_name }
    }

    /// Adds series (for recorded telemetry laid over generated telemetry).
    pub fn extend(&mut self, more: Vec<MetricSeries>) {
        for s in more {
            let i = self.series.len();
            self.by_name.entry(s.name().to_string()).or_default().push(i);
            self.series.push(s);
        }
    }

    pub fn all(&self) -> &[MetricSeries] {
        &self.series
    }

    /// Series with this metric name, in insertion order.
    pub fn by_name<'a>(&'a self, name: &str) -> impl Iterator<Item = &'a MetricSeries> + 'a {
        self.by_name
            .get(name)
            .map(|v| v.as_slice())
            .unwrap_or(&[])
            .iter()
            .map(move |i| &self.series[*i])
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.by_name.keys().map(String::as_str)
    }

    pub fn len(&self) -> usize {
        self.series.len()
    }

    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }
}
