//! Log template mining, Drain-style: mask variable tokens, group lines by
//! length and leading token, and merge lines whose tokens mostly agree,
//! replacing the ones that differ with `<*>`.

/// A mined template and the lines it covers.
#[derive(Clone, Debug)]
pub struct Template {
    pub tokens: Vec<String>,
    pub count: usize,
    /// The message of the first line it covers.
    pub example: String,
    /// That line as it was, fields and all.
    pub raw: String,
}

impl Template {
    pub fn text(&self) -> String {
        self.tokens.join(" ")
    }
}

/// Fields that carry what went wrong, beside the message, in JSON and logfmt lines.
const ERROR_FIELDS: &[&str] = &["error", "err", "exception", "error.message"];

/// A logfmt value starting at `rest`: quoted (with escapes) or up to the next space.
fn logfmt_value(rest: &str) -> String {
    if let Some(stripped) = rest.strip_prefix('"') {
        let mut out = String::new();
        let mut esc = false;
        for c in stripped.chars() {
            match (esc, c) {
                (false, '\\') => esc = true,
                (false, '"') => break,
                (_, c) => {
                    out.push(c);
                    esc = false;
                }
            }
        }
        return out;
    }
    rest.split_whitespace().next().unwrap_or("").to_string()
}

/// The value of logfmt key `key` in `line`, when it stands as a key (at the start or after a space).
fn logfmt_field(line: &str, key: &str) -> Option<String> {
    let pat = format!("{key}=");
    line.match_indices(&pat)
        .find(|(i, _)| *i == 0 || line.as_bytes()[i - 1] == b' ')
        .map(|(i, _)| logfmt_value(&line[i + pat.len()..]))
}

/// `msg: error` when a line carries its error in a field of its own, as
/// `msg="upstream call failed" error="[Errno 111] Connection refused"` does.
fn with_error(msg: String, error: Option<String>) -> String {
    match error {
        Some(e) if !e.is_empty() && !msg.contains(&e) => format!("{msg}: {e}"),
        _ => msg,
    }
}

/// The message part of a line: the `msg` of JSON or logfmt (with its `error`,
/// `err` or `exception` field), else the text after a leading timestamp and level.
pub fn message(line: &str) -> String {
    let t = line.trim();
    if t.starts_with('{')
        && let Ok(v) = serde_json::from_str::<serde_json::Value>(t)
        && let Some(m) = v.get("msg").or_else(|| v.get("message")).and_then(|m| m.as_str())
    {
        let error = ERROR_FIELDS
            .iter()
            .find_map(|k| v.get(*k).and_then(|e| e.as_str()).map(str::to_string));
        return with_error(m.to_string(), error);
    }
    if let Some(m) = logfmt_field(t, "msg") {
        let error = ERROR_FIELDS.iter().find_map(|k| logfmt_field(t, k));
        return with_error(m, error);
    }
    let mut words = t.split_whitespace().peekable();
    let mut skipped = 0;
    while let Some(w) = words.peek() {
        let is_ts = w.len() >= 10 && w.as_bytes()[4] == b'-' && w.chars().next().is_some_and(|c| c.is_ascii_digit());
        let is_level = matches!(
            w.to_ascii_uppercase().as_str(),
            "INFO" | "WARN" | "WARNING" | "ERROR" | "DEBUG" | "FATAL"
        );
        if (is_ts || is_level) && skipped < 3 {
            words.next();
            skipped += 1;
        } else {
            break;
        }
    }
    words.collect::<Vec<_>>().join(" ")
}

fn is_variable(tok: &str) -> bool {
    let t = tok.trim_matches(|c: char| !c.is_alphanumeric());
    if t.is_empty() {
        return false;
    }
    let digits = t.chars().filter(|c| c.is_ascii_digit()).count();
    if digits == 0 {
        return false;
    }
    // Numbers, ids, addresses, durations, hex.
    digits * 3 >= t.len()
        || t.chars().all(|c| c.is_ascii_hexdigit()) && t.len() >= 6
        || t.contains(':')
        || t.contains('.')
}

fn tokenize(msg: &str) -> Vec<String> {
    msg.split_whitespace()
        .map(|w| {
            if is_variable(w) {
                "<*>".to_string()
            } else {
                w.to_string()
            }
        })
        .collect()
}

/// Mines templates from lines. `threshold` is the share of tokens that must agree to merge (Drain uses about 0.5).
pub fn mine<'a>(lines: impl IntoIterator<Item = &'a str>, threshold: f64) -> Vec<Template> {
    let mut groups: std::collections::HashMap<(usize, String), Vec<Template>> = std::collections::HashMap::new();
    for line in lines {
        let msg = message(line);
        let toks = tokenize(&msg);
        if toks.is_empty() {
            continue;
        }
        let key = (toks.len(), toks[0].clone());
        let group = groups.entry(key).or_default();
        let mut best: Option<(usize, f64)> = None;
        for (i, t) in group.iter().enumerate() {
            let same = t
                .tokens
                .iter()
                .zip(&toks)
                .filter(|(a, b)| a == b || a.as_str() == "<*>")
                .count();
            let sim = same as f64 / toks.len() as f64;
            if sim >= threshold && best.is_none_or(|b| sim > b.1) {
                best = Some((i, sim));
            }
        }
        match best {
            Some((i, _)) => {
                let t = &mut group[i];
                for (a, b) in t.tokens.iter_mut().zip(&toks) {
                    if a != b {
                        *a = "<*>".to_string();
                    }
                }
                t.count += 1;
            }
            None => group.push(Template {
                tokens: toks,
                count: 1,
                example: msg.clone(),
                raw: line.to_string(),
            }),
        }
    }
    let mut out: Vec<Template> = groups.into_values().flatten().collect();
    out.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.tokens.cmp(&b.tokens)));
    out
}

/// Whether a line belongs to a template.
pub fn matches(t: &Template, line: &str) -> bool {
    let toks = tokenize(&message(line));
    toks.len() == t.tokens.len() && t.tokens.iter().zip(&toks).all(|(a, b)| a == "<*>" || a == b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_and_merges() {
        let lines = [
            "2026-03-01T10:40:01.123 ERROR request to orders-db failed: timeout after 5000ms",
            "2026-03-01T10:40:02.123 ERROR request to orders-db failed: timeout after 5100ms",
            r#"{"ts":"x","level":"error","msg":"request to orders-db failed: timeout after 4900ms"}"#,
            "ts=2026 level=info msg=\"GET /api/items 200 12ms\"",
        ];
        let t = mine(lines.iter().copied(), 0.5);
        assert_eq!(t[0].count, 3);
        assert_eq!(t[0].text(), "request to orders-db failed: timeout after <*>");
        assert!(matches(&t[0], lines[0]));
        assert_eq!(message(lines[3]), "GET /api/items 200 12ms");
    }

    #[test]
    fn logfmt_and_json_lines_keep_their_error_field() {
        let line = r#"ts=2026-12-02T05:00:01Z level=error msg="upstream call failed" peer=checkout error="[Errno 111] Connection refused""#;
        assert_eq!(message(line), "upstream call failed: [Errno 111] Connection refused");
        assert_eq!(message("level=warn msg=retrying err=timeout"), "retrying: timeout");
        let json = r#"{"msg":"charge failed","exception":"ExpiredCertException: certificate expired","level":"error"}"#;
        assert_eq!(
            message(json),
            "charge failed: ExpiredCertException: certificate expired"
        );
        // A key inside another key's name is not that key.
        assert_eq!(message(r#"level=info nomsg=x msg=ok"#), "ok");
        // 3,600 such lines are one template whose example says what failed.
        let lines: Vec<String> = (0..3600)
            .map(|i| format!(r#"ts={i} level=error msg="upstream call failed" route=/checkout error="[Errno 111] Connection refused""#))
            .collect();
        let t = mine(lines.iter().map(String::as_str), 0.5);
        assert_eq!(t.len(), 1);
        assert!(t[0].example.contains("Connection refused") && t[0].raw.contains("route=/checkout"));
    }
}
