//! A scenario's metrics as OpenMetrics text, in the form
//! `promtool tsdb create-blocks-from openmetrics` backfills: one family at a
//! time, timestamps in seconds, `# EOF` at the end.

use std::collections::BTreeMap;
use std::io::Write;

use super::series::SeriesSet;

fn escape(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

fn value(x: f64) -> String {
    if x.is_nan() {
        "NaN".into()
    } else if x.is_infinite() {
        if x > 0.0 { "+Inf".into() } else { "-Inf".into() }
    } else {
        format!("{x}")
    }
}

/// Writes every series of `set`; returns the number of samples written.
pub fn openmetrics(set: &SeriesSet, out: &mut impl Write) -> std::io::Result<usize> {
    let mut families: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, s) in set.iter().enumerate() {
        families
            .entry(s.labels.get("__name__").map(String::as_str).unwrap_or(""))
            .or_default()
            .push(i);
    }
    let mut n = 0;
    for (name, idx) in families {
        if name.is_empty() {
            continue;
        }
        writeln!(out, "# TYPE {name} unknown")?;
        for i in idx {
            let s = set.get(i);
            let labels: Vec<String> = s
                .labels
                .iter()
                .filter(|(k, _)| *k != "__name__")
                .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
                .collect();
            let head = if labels.is_empty() {
                name.to_string()
            } else {
                format!("{name}{{{}}}", labels.join(","))
            };
            for (t, x) in s.samples.iter() {
                writeln!(
                    out,
                    "{head} {} {}.{:03}",
                    value(x),
                    t.div_euclid(1000),
                    t.rem_euclid(1000)
                )?;
                n += 1;
            }
        }
    }
    writeln!(out, "# EOF")?;
    Ok(n)
}
