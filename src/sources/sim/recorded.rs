//! Recorded telemetry shipped with a scenario, replayed as is: OpenMetrics text
//! (timestamps in seconds, ending in `# EOF`), JSON-lines logs and spans, and
//! Kubernetes objects in their own JSON shapes. Any of these files may be
//! gzip-compressed (`metrics.om.gz`): the gzip header is recognised, whatever
//! the name.

use std::collections::BTreeMap;
use std::path::Path;

use serde_json::Value;

use super::scenario::ScenarioError;
use crate::sources::telemetry::{Labels, LogLine, MetricSeries, Span};

fn err(path: &Path, line: usize, message: String) -> ScenarioError {
    ScenarioError {
        path: path.display().to_string(),
        line,
        column: 1,
        message,
    }
}

/// Past this a compressed file is refused rather than inflated without end.
const MAX_INFLATED: u64 = 512 << 20;

fn read(path: &Path) -> Result<String, ScenarioError> {
    use std::io::Read;
    let bytes = std::fs::read(path).map_err(|e| err(path, 0, format!("cannot read recorded telemetry: {e}")))?;
    let bytes = if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        flate2::read::MultiGzDecoder::new(&bytes[..])
            .take(MAX_INFLATED + 1)
            .read_to_end(&mut out)
            .map_err(|e| err(path, 0, format!("not a readable gzip file: {e}")))?;
        if out.len() as u64 > MAX_INFLATED {
            return Err(err(path, 0, format!("inflates past {} MiB", MAX_INFLATED >> 20)));
        }
        out
    } else {
        bytes
    };
    String::from_utf8(bytes).map_err(|e| err(path, 0, format!("not UTF-8 text: {e}")))
}

/// Parses OpenMetrics text into series.
pub fn parse_openmetrics(path: &Path, text: &str) -> Result<Vec<MetricSeries>, ScenarioError> {
    let mut map: BTreeMap<Labels, Vec<(i64, f64)>> = BTreeMap::new();
    let mut saw_eof = false;
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        let ln = n + 1;
        if line.is_empty() {
            continue;
        }
        if line == "# EOF" {
            saw_eof = true;
            break;
        }
        if line.starts_with('#') {
            continue;
        }
        let (name_labels, rest) = match line.find('}') {
            Some(close) if line[..close].contains('{') => (&line[..=close], line[close + 1..].trim()),
            _ => match line.split_once(' ') {
                Some((a, b)) => (a, b.trim()),
                None => return Err(err(path, ln, "expected `name{labels} value timestamp`".into())),
            },
        };
        let mut labels = Labels::new();
        let name = match name_labels.find('{') {
            Some(open) if !name_labels.ends_with('}') || name_labels.len() < open + 2 => {
                return Err(err(
                    path,
                    ln,
                    "a `{` that no `}` closes: expected `name{labels} value timestamp`".into(),
                ));
            }
            Some(open) => {
                parse_labels(&name_labels[open + 1..name_labels.len() - 1], &mut labels)
                    .map_err(|m| err(path, ln, m))?;
                &name_labels[..open]
            }
            None => name_labels,
        };
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
            return Err(err(path, ln, format!("expected a metric name, found {name:?}")));
        }
        labels.insert("__name__".into(), name.to_string());
        let mut parts = rest.split_whitespace();
        let v: f64 = parts
            .next()
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| err(path, ln, "expected a sample value".into()))?;
        let t: f64 = parts
            .next()
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| err(path, ln, "expected a timestamp in seconds after the value".into()))?;
        map.entry(labels).or_default().push(((t * 1000.0).round() as i64, v));
    }
    if !saw_eof {
        return Err(err(
            path,
            text.lines().count(),
            "expected the file to end with `# EOF`".into(),
        ));
    }
    Ok(map
        .into_iter()
        .map(|(labels, mut samples)| {
            samples.sort_by_key(|s| s.0);
            MetricSeries { labels, samples }
        })
        .collect())
}

fn parse_labels(s: &str, out: &mut Labels) -> Result<(), String> {
    let mut rest = s.trim();
    while !rest.is_empty() {
        let eq = rest.find('=').ok_or("expected label=\"value\"")?;
        let key = rest[..eq].trim().to_string();
        rest = rest[eq + 1..].trim_start();
        if !rest.starts_with('"') {
            return Err(format!("expected a quoted value for label {key}"));
        }
        let mut val = String::new();
        let mut chars = rest[1..].char_indices();
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            match c {
                '\\' => match chars.next() {
                    Some((_, 'n')) => val.push('\n'),
                    Some((_, c2)) => val.push(c2),
                    None => break,
                },
                '"' => {
                    end = Some(i + 1);
                    break;
                }
                c => val.push(c),
            }
        }
        let end = end.ok_or_else(|| format!("unterminated value for label {key}"))?;
        out.insert(key, val);
        rest = rest[1 + end..].trim_start().trim_start_matches(',').trim_start();
    }
    Ok(())
}

pub fn load_metrics(path: &Path) -> Result<Vec<MetricSeries>, ScenarioError> {
    parse_openmetrics(path, &read(path)?)
}

fn jsonl<T: serde::de::DeserializeOwned>(path: &Path, what: &str) -> Result<Vec<T>, ScenarioError> {
    let text = read(path)?;
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        out.push(serde_json::from_str(line).map_err(|e| err(path, n + 1, format!("expected {what}: {e}")))?);
    }
    Ok(out)
}

pub fn load_logs(path: &Path) -> Result<Vec<LogLine>, ScenarioError> {
    jsonl(
        path,
        "a log object {\"ts\", \"service\", \"pod\"?, \"level\", \"message\"}",
    )
}

pub fn load_spans(path: &Path) -> Result<Vec<Span>, ScenarioError> {
    jsonl(
        path,
        "a span object {\"trace_id\", \"span_id\", \"parent_id\"?, \"service\", \"name\", \"start\", \"duration_ms\", \"error\"}",
    )
}

/// The kinds a recorded `k8s.json` may hold, each under its plural name.
pub const KUBE_KINDS: &[&str] = &[
    "pods",
    "events",
    "deployments",
    "replicasets",
    "statefulsets",
    "jobs",
    "persistentvolumeclaims",
];

/// The 1-based line where `needle` first occurs in `text` (1 when it does not).
fn line_of(text: &str, needle: &str) -> usize {
    text.find(needle)
        .map(|i| text[..i].matches('\n').count() + 1)
        .unwrap_or(1)
}

/// `{"pods": [...], "events": [...], "deployments": [...], ...}`: each kind of
/// [`KUBE_KINDS`] as an array of objects in the API's own shape, or as the
/// list `kubectl get KIND -o json` prints (`{"kind": "List", "items": [...]}`).
pub fn load_kubernetes(path: &Path) -> Result<BTreeMap<String, Vec<Value>>, ScenarioError> {
    let text = read(path)?;
    parse_kubernetes(path, &text)
}

pub fn parse_kubernetes(path: &Path, text: &str) -> Result<BTreeMap<String, Vec<Value>>, ScenarioError> {
    let v: Value =
        serde_json::from_str(text).map_err(|e| err(path, e.line(), format!("expected a JSON object: {e}")))?;
    let mut out = BTreeMap::new();
    let obj = v.as_object().ok_or_else(|| {
        err(
            path,
            1,
            format!("expected a JSON object with the keys {}", KUBE_KINDS.join(", ")),
        )
    })?;
    for (k, items) in obj {
        let at = line_of(text, &format!("{k:?}"));
        if !KUBE_KINDS.contains(&k.as_str()) {
            return Err(err(
                path,
                at,
                format!("unknown key {k:?}, expected one of {}", KUBE_KINDS.join(", ")),
            ));
        }
        let arr = match items {
            Value::Array(a) => a,
            Value::Object(o) => match o.get("items") {
                Some(Value::Array(a)) => a,
                _ => {
                    return Err(err(
                        path,
                        at,
                        format!("expected {k} to be an array, or a list with an \"items\" array"),
                    ));
                }
            },
            _ => return Err(err(path, at, format!("expected {k} to be an array"))),
        };
        for (i, item) in arr.iter().enumerate() {
            if item["metadata"]["name"].as_str().is_none_or(str::is_empty) {
                return Err(err(
                    path,
                    at,
                    format!("expected {k}[{i}] to be a Kubernetes object with metadata.name"),
                ));
            }
        }
        out.insert(k.clone(), arr.clone());
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn openmetrics_parses_and_requires_eof() {
        let p = Path::new("x.om");
        let s = parse_openmetrics(p, "# TYPE up gauge\nup{job=\"api\",instance=\"a:1\"} 1 1714557600\nup{job=\"api\",instance=\"a:1\"} 0 1714557630\n# EOF\n").unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].samples, vec![(1_714_557_600_000, 1.0), (1_714_557_630_000, 0.0)]);
        assert_eq!(s[0].label("job"), "api");
        let e = parse_openmetrics(p, "up 1 1\n").unwrap_err();
        assert!(e.message.contains("# EOF"));
        let e = parse_openmetrics(p, "up{a=\"b\"} 1\n# EOF\n").unwrap_err();
        assert_eq!(e.line, 1);
        assert!(e.message.contains("timestamp"));
    }

    #[test]
    fn kubernetes_objects_load_by_kind_with_errors_that_say_where() {
        let p = Path::new("k8s.json");
        let text = r#"{
 "pods": [{"metadata": {"name": "a-0"}}],
 "jobs": {"apiVersion": "v1", "kind": "List", "items": [{"metadata": {"name": "export-1"}}]},
 "persistentvolumeclaims": []
}"#;
        let k = parse_kubernetes(p, text).unwrap();
        assert_eq!(k["jobs"][0]["metadata"]["name"], "export-1");
        assert_eq!(k["pods"].len(), 1);
        let e = parse_kubernetes(p, "{\n \"pods\": [],\n \"cronjobs\": []\n}").unwrap_err();
        assert_eq!(e.line, 3);
        assert!(
            e.message.contains("unknown key \"cronjobs\"") && e.message.contains("statefulsets"),
            "{}",
            e.message
        );
        let e = parse_kubernetes(p, "{\"jobs\": [{\"status\": {}}]}").unwrap_err();
        assert!(
            e.message.contains("jobs[0]") && e.message.contains("metadata.name"),
            "{}",
            e.message
        );
        let e = parse_kubernetes(p, "{\"jobs\": 3}").unwrap_err();
        assert!(e.message.contains("expected jobs to be an array"), "{}", e.message);
    }

    #[test]
    fn compressed_recordings_read_as_plain_ones_and_bad_ones_say_so() {
        use std::io::Write;
        let dir = std::env::temp_dir().join(format!("inquest-gz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let text = "up{job=\"api\"} 1 1714557600\n# EOF\n";
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(text.as_bytes()).unwrap();
        let gz_path = dir.join("metrics.om.gz");
        std::fs::write(&gz_path, gz.finish().unwrap()).unwrap();
        let plain = dir.join("metrics.om");
        std::fs::write(&plain, text).unwrap();
        assert_eq!(load_metrics(&gz_path).unwrap(), load_metrics(&plain).unwrap());
        // A truncated archive is an error naming the file, not a panic or silence.
        let bytes = std::fs::read(&gz_path).unwrap();
        std::fs::write(&gz_path, &bytes[..bytes.len() / 2]).unwrap();
        let e = load_metrics(&gz_path).unwrap_err();
        assert!(e.message.contains("gzip") && e.path.ends_with("metrics.om.gz"), "{e:?}");
        std::fs::remove_dir_all(&dir).ok();
    }
}
