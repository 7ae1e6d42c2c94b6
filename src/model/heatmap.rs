//! A heat map: one row per group (an alert, a fault kind, a strategy, a
//! scenario tag), one column per measure, each column knowing which way is
//! better so a renderer can shade every cell good, fair or poor. Shared by
//! `inquest insights`, the cockpit and `inquest eval --heatmap`.

use serde::Serialize;

use super::format_duration_ms;

/// Which way a measure is better.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Better {
    Higher,
    Lower,
}

/// What a number in a column is, for writing it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Unit {
    /// How many; never shaded (more data is not better or worse).
    Count,
    /// A fraction 0..1, written as a percentage.
    Share,
    Seconds,
    Number,
    Usd,
}

/// One measure.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Column {
    pub id: &'static str,
    pub label: &'static str,
    pub better: Better,
    pub unit: Unit,
    /// For shares: the good and the poor bounds (in the better direction);
    /// without them a cell is judged against the other rows.
    #[serde(skip)]
    pub bounds: Option<(f64, f64)>,
}

impl Column {
    pub const fn new(id: &'static str, label: &'static str, better: Better, unit: Unit) -> Column {
        Column {
            id,
            label,
            better,
            unit,
            bounds: None,
        }
    }

    /// A share judged against fixed bounds: at or past `good` is good, short of `poor` is poor.
    pub const fn share(id: &'static str, label: &'static str, better: Better, good: f64, poor: f64) -> Column {
        Column {
            id,
            label,
            better,
            unit: Unit::Share,
            bounds: Some((good, poor)),
        }
    }

    /// The cell as a reader sees it: `–` where there is no data.
    pub fn format(&self, v: Option<f64>) -> String {
        let Some(v) = v else { return NO_DATA.to_string() };
        match self.unit {
            Unit::Count => format!("{}", v.round() as i64),
            Unit::Share => format!("{:.0}%", v * 100.0),
            Unit::Seconds if v < 10.0 => format!("{v:.1}s"),
            Unit::Seconds => format_duration_ms((v.round() as i64) * 1000),
            Unit::Number if v >= 10_000.0 => format!("{:.1}k", v / 1000.0),
            Unit::Number if v.fract() == 0.0 => format!("{v:.0}"),
            Unit::Number => format!("{v:.1}"),
            Unit::Usd if v < 0.01 => format!("${v:.4}"),
            Unit::Usd => format!("${v:.2}"),
        }
    }
}

/// What a cell without data shows.
pub const NO_DATA: &str = "–";

/// How good a cell is, in its column's direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Shade {
    Good,
    Fair,
    Poor,
}

/// One row: its key (already made safe for a terminal) and a value or nothing per column.
#[derive(Clone, Debug, PartialEq)]
pub struct HeatRow {
    pub key: String,
    pub cells: Vec<Option<f64>>,
}

/// The whole table.
#[derive(Clone, Debug, PartialEq)]
pub struct HeatMap {
    /// What the rows are: `alert`, `kind`, `strategy`, `tag`.
    pub by: String,
    /// The window asked for (`7d`), or none for everything stored.
    pub since: Option<String>,
    pub columns: Vec<Column>,
    pub rows: Vec<HeatRow>,
    pub total: HeatRow,
}

impl HeatMap {
    /// How good `v` is in column `col`, judged against every row and the total.
    /// Counts and missing values are not shaded, nor a column whose rows all agree.
    pub fn shade(&self, col: usize, v: Option<f64>) -> Option<Shade> {
        let c = self.columns.get(col)?;
        let v = v?;
        if c.unit == Unit::Count {
            return None;
        }
        // Position 0 is best, 1 worst.
        let pos = match (c.bounds, c.better) {
            (Some((good, poor)), Better::Higher) => {
                return Some(if v >= good {
                    Shade::Good
                } else if v >= poor {
                    Shade::Fair
                } else {
                    Shade::Poor
                });
            }
            (Some((good, poor)), Better::Lower) => {
                return Some(if v <= good {
                    Shade::Good
                } else if v <= poor {
                    Shade::Fair
                } else {
                    Shade::Poor
                });
            }
            (None, better) => {
                let seen = self.rows.iter().chain(std::iter::once(&self.total));
                let values: Vec<f64> = seen.filter_map(|r| r.cells.get(col).copied().flatten()).collect();
                let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
                let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                // Nothing to compare with (one value, all about the same): a tenth apart at least.
                if values.is_empty() || hi - lo <= 0.1 * hi.abs().max(lo.abs()) {
                    return None;
                }
                let t = (v - lo) / (hi - lo);
                if better == Better::Higher { 1.0 - t } else { t }
            }
        };
        Some(if pos <= 1.0 / 3.0 {
            Shade::Good
        } else if pos <= 2.0 / 3.0 {
            Shade::Fair
        } else {
            Shade::Poor
        })
    }

    /// The JSON form: `{"by","since","columns":[{"id","label","better","unit"}],
    /// "rows":[{"key","cells":{id: number|null}}],"total":{...}}`.
    pub fn to_json(&self) -> serde_json::Value {
        let row = |r: &HeatRow| {
            let cells: serde_json::Map<String, serde_json::Value> = self
                .columns
                .iter()
                .zip(&r.cells)
                .map(|(c, v)| (c.id.to_string(), json_number(*v)))
                .collect();
            serde_json::json!({ "key": r.key, "cells": cells })
        };
        serde_json::json!({
            "by": self.by,
            "since": self.since,
            "columns": self.columns,
            "rows": self.rows.iter().map(row).collect::<Vec<_>>(),
            "total": row(&self.total),
        })
    }
}

/// A whole number stays one in JSON; a fraction keeps four decimals.
fn json_number(v: Option<f64>) -> serde_json::Value {
    match v {
        Some(v) if v.fract() == 0.0 && v.abs() < 1e15 => serde_json::Value::from(v as i64),
        Some(v) => serde_json::Value::from((v * 10_000.0).round() / 10_000.0),
        None => serde_json::Value::Null,
    }
}

/// The median of what is there, or nothing when nothing is (the mean of the two middle values for an even count).
pub fn median(mut xs: Vec<f64>) -> Option<f64> {
    xs.retain(|x| x.is_finite());
    if xs.is_empty() {
        return None;
    }
    xs.sort_by(f64::total_cmp);
    let n = xs.len();
    Some(if n % 2 == 1 {
        xs[n / 2]
    } else {
        (xs[n / 2 - 1] + xs[n / 2]) / 2.0
    })
}

/// `part / whole`, or nothing when the whole is empty.
pub fn share(part: usize, whole: usize) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(cols: Vec<Column>, rows: Vec<Vec<Option<f64>>>) -> HeatMap {
        HeatMap {
            by: "alert".into(),
            since: None,
            columns: cols,
            total: HeatRow {
                key: "all".into(),
                cells: rows[0].clone(),
            },
            rows: rows
                .into_iter()
                .enumerate()
                .map(|(i, cells)| HeatRow {
                    key: format!("r{i}"),
                    cells,
                })
                .collect(),
        }
    }

    #[test]
    fn cells_are_shaded_in_their_column_direction() {
        let m = map(
            vec![
                Column::share("accepted", "accept", Better::Higher, 0.8, 0.5),
                Column::share("wrong", "wrong", Better::Lower, 0.1, 0.3),
                Column::new("tool_calls", "calls", Better::Lower, Unit::Number),
                Column::new("investigations", "inv", Better::Higher, Unit::Count),
            ],
            vec![
                vec![Some(0.9), Some(0.5), Some(10.0), Some(3.0)],
                vec![Some(0.6), Some(0.0), Some(40.0), Some(9.0)],
                vec![Some(0.2), None, Some(25.0), Some(1.0)],
            ],
        );
        assert_eq!(m.shade(0, Some(0.9)), Some(Shade::Good));
        assert_eq!(m.shade(0, Some(0.6)), Some(Shade::Fair));
        assert_eq!(m.shade(0, Some(0.2)), Some(Shade::Poor));
        assert_eq!(m.shade(1, Some(0.5)), Some(Shade::Poor));
        assert_eq!(m.shade(1, Some(0.0)), Some(Shade::Good));
        assert_eq!(m.shade(1, None), None);
        assert_eq!(m.shade(2, Some(10.0)), Some(Shade::Good));
        assert_eq!(m.shade(2, Some(25.0)), Some(Shade::Fair));
        assert_eq!(m.shade(2, Some(40.0)), Some(Shade::Poor));
        assert_eq!(m.shade(3, Some(9.0)), None);
    }

    #[test]
    fn cells_are_written_for_a_reader() {
        let c = |unit| Column::new("x", "x", Better::Lower, unit);
        assert_eq!(c(Unit::Share).format(Some(0.625)), "62%");
        assert_eq!(c(Unit::Seconds).format(Some(4.25)), "4.2s");
        assert_eq!(c(Unit::Seconds).format(Some(95.0)), "1m35s");
        assert_eq!(c(Unit::Number).format(Some(12.5)), "12.5");
        assert_eq!(c(Unit::Number).format(Some(24_000.0)), "24.0k");
        assert_eq!(c(Unit::Usd).format(Some(0.0042)), "$0.0042");
        assert_eq!(c(Unit::Count).format(None), "–");
        assert_eq!(median(vec![3.0, 1.0, 2.0, 10.0]), Some(2.5));
        assert_eq!(median(vec![]), None);
        assert_eq!(share(1, 0), None);
    }
}
