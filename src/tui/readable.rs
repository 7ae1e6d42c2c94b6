//! Evidence as an engineer reads it: log lines as time, level, message and
//! then the labels; Kubernetes lists as `kubectl get` tables; a trace as a
//! waterfall of its spans; a trace list as a table. The raw body stays one key
//! away. Text only, with a tone per piece; the view colours the tones.

use serde_json::Value;

use crate::model::{EvidenceKind, Timestamp};

/// What a piece of a readable line is, for its colour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tone {
    Time,
    Error,
    Warn,
    Info,
    Text,
    /// Labels and other context, after what matters.
    Dim,
    Header,
}

/// One line: pieces of text, each with its tone.
pub type Row = Vec<(String, Tone)>;

/// The readable form of an evidence body, or `None` when the raw body is as good.
/// `now` is the investigation's clock, for ages.
pub fn readable(kind: EvidenceKind, body: &str, now: Timestamp) -> Option<Vec<Row>> {
    match kind {
        EvidenceKind::LogLines => Some(body.lines().map(log_line).collect()),
        EvidenceKind::KubernetesObject => kube(body, now),
        EvidenceKind::Trace => trace(body),
        _ => None,
    }
}

/// The text of a row, as search, selection and quotes see it.
pub fn text(row: &Row) -> String {
    row.iter().map(|p| p.0.as_str()).collect()
}

const LEVELS: [(&str, Tone); 9] = [
    ("fatal", Tone::Error),
    ("panic", Tone::Error),
    ("critical", Tone::Error),
    ("error", Tone::Error),
    ("err", Tone::Error),
    ("warning", Tone::Warn),
    ("warn", Tone::Warn),
    ("info", Tone::Info),
    ("debug", Tone::Dim),
];

fn level_tone(word: &str) -> Option<(String, Tone)> {
    let w = word.trim_matches(|c: char| !c.is_ascii_alphabetic()).to_lowercase();
    LEVELS
        .iter()
        .find(|(l, _)| *l == w)
        .map(|(_, t)| (w.to_uppercase(), *t))
}

/// `2026-03-01T10:40:35Z pod | message` as `10:40:35 ERROR message  pod k=v`.
fn log_line(line: &str) -> Row {
    let (head, message) = line.split_once(" | ").unwrap_or(("", line));
    let (at, origin) = head.split_once(' ').unwrap_or((head, ""));
    let time = Timestamp::parse_rfc3339(at)
        .map(|t| t.clock())
        .unwrap_or_else(|_| at.to_string());
    let mut level: Option<(String, Tone)> = None;
    let mut msg = message.trim().to_string();
    let mut labels: Vec<String> = vec![origin.to_string()];
    if let Ok(Value::Object(o)) = serde_json::from_str::<Value>(message) {
        // A JSON log: its level and message first, the other fields after.
        msg.clear();
        for (k, v) in &o {
            let s = v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string());
            match k.as_str() {
                "level" | "lvl" | "severity" => level = level_tone(&s),
                "msg" | "message" => msg = s,
                "ts" | "time" | "timestamp" => {}
                _ => labels.push(format!("{k}={s}")),
            }
        }
    } else {
        // A text log: drop its own timestamp, take a level word at its start.
        let mut words = msg.splitn(3, ' ').collect::<Vec<_>>();
        if words
            .first()
            .is_some_and(|w| Timestamp::parse_rfc3339(w).is_ok() || looks_like_time(w))
        {
            words.remove(0);
        }
        if let Some(l) = words.first().and_then(|w| level_tone(w)) {
            level = Some(l);
            words.remove(0);
        }
        msg = words.join(" ").trim().to_string();
        if level.is_none()
            && let Some(l) = msg
                .split_whitespace()
                .find_map(|w| w.strip_prefix("level="))
                .and_then(level_tone)
        {
            level = Some(l);
        }
    }
    let (lvl, tone) = level.unwrap_or_else(|| ("-".into(), Tone::Dim));
    let mut row = vec![
        (format!("{time} "), Tone::Time),
        (format!("{lvl:<5} "), tone),
        (msg, if tone == Tone::Error { Tone::Error } else { Tone::Text }),
    ];
    let labels: Vec<String> = labels.into_iter().filter(|l| !l.is_empty()).collect();
    if !labels.is_empty() {
        row.push((format!("  {}", labels.join(" ")), Tone::Dim));
    }
    row
}

/// `2026-03-01T10:40:35.254` and the like: a date and a time.
fn looks_like_time(w: &str) -> bool {
    w.len() >= 19 && w.as_bytes().get(4) == Some(&b'-') && w.as_bytes().get(10) == Some(&b'T')
}

/// A table: a header row, then rows, columns padded to their widest.
fn table(header: &[&str], rows: Vec<(Vec<String>, Tone)>) -> Vec<Row> {
    let mut w: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for (r, _) in &rows {
        for (i, c) in r.iter().enumerate() {
            w[i] = w[i].max(c.chars().count());
        }
    }
    let pad = |cells: Vec<String>| -> String {
        let last = cells.len().saturating_sub(1);
        cells
            .into_iter()
            .enumerate()
            .map(|(i, c)| {
                if i == last {
                    c
                } else {
                    format!("{c:<width$}   ", width = w[i])
                }
            })
            .collect()
    };
    let mut out = vec![vec![(
        pad(header.iter().map(|h| h.to_string()).collect()),
        Tone::Header,
    )]];
    for (r, tone) in rows {
        out.push(vec![(pad(r), tone)]);
    }
    out
}

fn s<'a>(v: &'a Value, path: &[&str]) -> &'a str {
    let mut v = v;
    for p in path {
        v = &v[*p];
    }
    v.as_str().unwrap_or("")
}

/// `3m`, `2h`, `5d`: how long before `now`.
fn age(at: &str, now: Timestamp) -> String {
    let Ok(t) = Timestamp::parse_rfc3339(at) else {
        return "?".into();
    };
    let secs = (now.0 - t.0).max(0) / 1_000_000_000;
    match secs {
        s if s < 120 => format!("{s}s"),
        s if s < 7200 => format!("{}m", s / 60),
        s if s < 172_800 => format!("{}h", s / 3600),
        s => format!("{}d", s / 86_400),
    }
}

fn kube(body: &str, now: Timestamp) -> Option<Vec<Row>> {
    let v: Value = serde_json::from_str(body).ok()?;
    let items = v.get("items")?.as_array()?;
    match v.get("kind")?.as_str()? {
        "PodList" => {
            let rows = items
                .iter()
                .map(|p| {
                    let cs = p["status"]["containerStatuses"].as_array().cloned().unwrap_or_default();
                    let ready = cs.iter().filter(|c| c["ready"].as_bool() == Some(true)).count();
                    let restarts: u64 = cs.iter().filter_map(|c| c["restartCount"].as_u64()).sum();
                    // A waiting container's reason (CrashLoopBackOff) says more than the phase.
                    let waiting = cs.iter().find_map(|c| c["state"]["waiting"]["reason"].as_str());
                    let status = waiting.unwrap_or_else(|| s(p, &["status", "phase"])).to_string();
                    let tone = match status.as_str() {
                        "Running" | "Succeeded" if ready == cs.len() => Tone::Text,
                        "Running" | "Pending" => Tone::Warn,
                        _ => Tone::Error,
                    };
                    let cells = vec![
                        s(p, &["metadata", "name"]).to_string(),
                        format!("{ready}/{}", cs.len()),
                        status,
                        restarts.to_string(),
                        age(s(p, &["metadata", "creationTimestamp"]), now),
                    ];
                    (cells, tone)
                })
                .collect();
            Some(table(&["NAME", "READY", "STATUS", "RESTARTS", "AGE"], rows))
        }
        "EventList" => {
            let rows = items
                .iter()
                .map(|e| {
                    let tone = if s(e, &["type"]) == "Warning" {
                        Tone::Warn
                    } else {
                        Tone::Text
                    };
                    let cells = vec![
                        age(s(e, &["lastTimestamp"]), now),
                        s(e, &["type"]).to_string(),
                        s(e, &["reason"]).to_string(),
                        format!(
                            "{}/{}",
                            s(e, &["involvedObject", "kind"]).to_lowercase(),
                            s(e, &["involvedObject", "name"])
                        ),
                        s(e, &["message"]).to_string(),
                    ];
                    (cells, tone)
                })
                .collect();
            Some(table(&["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"], rows))
        }
        "DeploymentList" | "ReplicaSetList" | "StatefulSetList" => {
            let rows = items
                .iter()
                .map(|d| {
                    let want = d["spec"]["replicas"].as_u64().unwrap_or(0);
                    let ready = d["status"]["readyReplicas"].as_u64().unwrap_or(0);
                    let tone = if ready < want { Tone::Warn } else { Tone::Text };
                    let image = d["spec"]["template"]["spec"]["containers"][0]["image"]
                        .as_str()
                        .unwrap_or("")
                        .to_string();
                    let cells = vec![
                        s(d, &["metadata", "name"]).to_string(),
                        format!("{ready}/{want}"),
                        age(s(d, &["metadata", "creationTimestamp"]), now),
                        image,
                    ];
                    (cells, tone)
                })
                .collect();
            Some(table(&["NAME", "READY", "AGE", "IMAGE"], rows))
        }
        _ => None,
    }
}

fn trace(body: &str) -> Option<Vec<Row>> {
    let v: Value = serde_json::from_str(body).ok()?;
    let list = v.as_array()?;
    if list.first()?.get("span_id").is_some() {
        return Some(waterfall(list));
    }
    let rows = list
        .iter()
        .map(|t| {
            let errors = t["error_count"].as_u64().unwrap_or(0);
            let services: Vec<&str> = t["error_services"]
                .as_array()
                .map(|a| a.iter().filter_map(Value::as_str).collect())
                .unwrap_or_default();
            let cells = vec![
                s(t, &["trace_id"]).chars().take(8).collect(),
                Timestamp::parse_rfc3339(s(t, &["start"]))
                    .map(|x| x.clock())
                    .unwrap_or_default(),
                format!("{:.0} ms", t["duration_ms"].as_f64().unwrap_or(0.0)),
                t["span_count"].as_u64().unwrap_or(0).to_string(),
                errors.to_string(),
                format!("{} {}", s(t, &["root_name"]), services.join(",")),
            ];
            (cells, if errors > 0 { Tone::Error } else { Tone::Text })
        })
        .collect();
    Some(table(
        &["TRACE", "START", "DURATION", "SPANS", "ERRORS", "ROOT / IN ERROR"],
        rows,
    ))
}

/// Width of the bar column of a waterfall.
const BAR: usize = 16;

/// Spans indented under their parents, each with a bar placed in the trace's time and its duration.
fn waterfall(spans: &[Value]) -> Vec<Row> {
    let start = |v: &Value| Timestamp::parse_rfc3339(s(v, &["start"])).map(|t| t.0).unwrap_or(0);
    let t0 = spans.iter().map(start).min().unwrap_or(0);
    let end = spans
        .iter()
        .map(|v| start(v) + (v["duration_ms"].as_f64().unwrap_or(0.0) * 1e6) as i64)
        .max()
        .unwrap_or(t0);
    let total = (end - t0).max(1) as f64;
    let mut out = vec![vec![(
        format!("{:>8} {:<w$} SPAN", "DURATION", "TIMELINE", w = BAR),
        Tone::Header,
    )]];
    fn walk(spans: &[Value], parent: Option<&str>, depth: usize, visit: &mut dyn FnMut(&Value, usize)) {
        for sp in spans.iter().filter(|x| x["parent_id"].as_str() == parent) {
            visit(sp, depth);
            if let Some(id) = sp["span_id"].as_str() {
                walk(spans, Some(id), depth + 1, visit);
            }
        }
    }
    walk(spans, None, 0, &mut |sp, depth| {
        let ms = sp["duration_ms"].as_f64().unwrap_or(0.0);
        let from = (((start(sp) - t0) as f64 / total) * BAR as f64) as usize;
        let len = ((ms * 1e6 / total) * BAR as f64).ceil().max(1.0) as usize;
        let from = from.min(BAR - 1);
        let len = len.min(BAR - from);
        let bar = format!(
            "{}{}{}",
            " ".repeat(from),
            "█".repeat(len),
            " ".repeat(BAR - from - len)
        );
        let err = sp["error"].as_bool() == Some(true);
        let name = format!(
            "{}{} {}{}",
            "  ".repeat(depth),
            s(sp, &["service"]),
            s(sp, &["name"]),
            if err { " ✗" } else { "" }
        );
        out.push(vec![
            (format!("{:>8} ", format!("{ms:.0} ms")), Tone::Dim),
            (bar, Tone::Info),
            (format!(" {name}"), if err { Tone::Error } else { Tone::Text }),
        ]);
    });
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_line_reads_time_level_message_then_labels() {
        let r = log_line(
            r#"2026-03-01T10:40:35Z checkout-abc | {"level":"error","msg":"could not acquire","service":"checkout","ts":"x"}"#,
        );
        assert_eq!(
            text(&r),
            "10:40:35 ERROR could not acquire  checkout-abc service=checkout"
        );
        assert_eq!(r[1].1, Tone::Error);
        let r = log_line("2026-03-01T10:40:35Z orders-db-1 | 2026-03-01T10:40:35.254 WARN  LOG:  slow");
        assert_eq!(text(&r), "10:40:35 WARN  LOG:  slow  orders-db-1");
    }

    #[test]
    fn pods_read_as_kubectl_get_pods() {
        let body = r#"{"kind":"PodList","items":[{"metadata":{"name":"a-1","creationTimestamp":"2026-03-01T10:00:00Z"},
            "status":{"phase":"Running","containerStatuses":[{"ready":false,"restartCount":4,"state":{"waiting":{"reason":"CrashLoopBackOff"}}}]}}]}"#;
        let now = Timestamp::parse_rfc3339("2026-03-01T10:30:00Z").unwrap();
        let rows = readable(EvidenceKind::KubernetesObject, body, now).unwrap();
        assert!(
            text(&rows[0]).starts_with("NAME   READY   STATUS"),
            "{}",
            text(&rows[0])
        );
        assert_eq!(text(&rows[1]), "a-1    0/1     CrashLoopBackOff   4          30m");
    }
}
