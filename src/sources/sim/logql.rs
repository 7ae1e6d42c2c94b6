//! A LogQL evaluator for log queries over the simulator's in-memory lines.
//!
//! Supports what Loki's `/loki/api/v1/query_range` does for log (not metric)
//! queries built from a stream selector and line filters:
//!
//! ```text
//! {service="api", level!="debug", pod=~"api-.*", namespace!~"kube-.*"} |= "timeout" != "retry" |~ "5\\d\\d" !~ `(?i)health`
//! ```
//!
//! Label matchers are fully anchored regexes (as Prometheus'), line filter
//! regexes are unanchored (as Loki's). Strings are Go string literals:
//! double-quoted with escapes, or backtick raw strings. Parser stages, label
//! filters, formatting stages and metric queries are rejected with
//! [`LogqlError::Unsupported`] naming the construct; syntax errors say what was
//! expected and at which character offset.

use std::collections::{BTreeMap, HashMap, HashSet};

use regex::Regex;

use crate::model::Timestamp;
use crate::sources::telemetry::{Labels, LogLine, LogStream};

/// Why a query could not be answered.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum LogqlError {
    #[error("parse error: {0}")]
    Parse(String),
    #[error("unsupported in this LogQL subset: {0}")]
    Unsupported(String),
}

type Result<T> = std::result::Result<T, LogqlError>;

/// Which end of the time range a limited query keeps, and the entry order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// Oldest entries first.
    Forward,
    /// Newest entries first (Loki's default).
    Backward,
}

/// A parsed log query: a stream selector and the line filters applied in order.
#[derive(Debug, Clone)]
pub struct LogQuery {
    pub matchers: Vec<LabelMatcher>,
    pub filters: Vec<LineFilter>,
}

/// How a stream label is compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchType {
    /// `=`
    Equal,
    /// `!=`
    NotEqual,
    /// `=~` (fully anchored)
    Regex,
    /// `!~` (fully anchored)
    NotRegex,
}

/// One matcher of the stream selector.
#[derive(Debug, Clone)]
pub struct LabelMatcher {
    pub name: String,
    pub op: MatchType,
    pub value: String,
    regex: Option<Regex>,
}

/// How a line filter tests the log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FilterType {
    /// `|=`: the line contains the string.
    Contains,
    /// `!=`: the line does not contain the string.
    NotContains,
    /// `|~`: the regex matches somewhere in the line.
    Regex,
    /// `!~`: the regex matches nowhere in the line.
    NotRegex,
}

/// One line filter.
#[derive(Debug, Clone)]
pub struct LineFilter {
    pub op: FilterType,
    pub value: String,
    regex: Option<Regex>,
}

impl LabelMatcher {
    /// Whether the stream labels satisfy this matcher; a missing label is the
    /// empty string.
    pub fn matches(&self, labels: &Labels) -> bool {
        let v = labels.get(&self.name).map(String::as_str).unwrap_or("");
        self.matches_value(v)
    }

    fn matches_value(&self, v: &str) -> bool {
        match (self.op, &self.regex) {
            (MatchType::Equal, _) => v == self.value,
            (MatchType::NotEqual, _) => v != self.value,
            (MatchType::Regex, Some(r)) => r.is_match(v),
            (MatchType::NotRegex, Some(r)) => !r.is_match(v),
            // Regex matchers always carry their compiled regex.
            (MatchType::Regex | MatchType::NotRegex, None) => false,
        }
    }
}

impl LineFilter {
    /// Whether the log line passes this filter.
    pub fn matches(&self, line: &str) -> bool {
        match (self.op, &self.regex) {
            (FilterType::Contains, _) => line.contains(self.value.as_str()),
            (FilterType::NotContains, _) => !line.contains(self.value.as_str()),
            (FilterType::Regex, Some(r)) => r.is_match(line),
            (FilterType::NotRegex, Some(r)) => !r.is_match(line),
            // Regex filters always carry their compiled regex.
            (FilterType::Regex | FilterType::NotRegex, None) => false,
        }
    }
}

impl LogQuery {
    /// Whether a stream with these labels is selected.
    pub fn matches_stream(&self, labels: &Labels) -> bool {
        self.matchers.iter().all(|m| m.matches(labels))
    }

    /// Whether a line passes every filter.
    pub fn matches_line(&self, line: &str) -> bool {
        self.filters.iter().all(|f| f.matches(line))
    }
}

/// As Loki's /loki/api/v1/query_range for log queries: lines with
/// start <= ts < end whose stream labels (LogLine::stream_labels) match the
/// selector and that pass every line filter in order; at most `limit` entries
/// in total (the newest for Backward, the oldest for Forward); grouped into
/// streams by label set, streams sorted by labels, entries ordered per
/// direction.
///
/// As Loki's ingester does, an entry repeating the timestamp and line of an
/// earlier entry in the same stream is dropped. Entries with equal timestamps
/// keep input order (Forward) or reverse input order (Backward).
pub fn query(
    lines: &[LogLine],
    query: &str,
    start: Timestamp,
    end: Timestamp,
    limit: usize,
    dir: Direction,
) -> std::result::Result<Vec<LogStream>, LogqlError> {
    let q = parse(query)?;
    let mut stream_ids: HashMap<Labels, usize> = HashMap::new();
    let mut seen: HashSet<(usize, Timestamp, &str)> = HashSet::new();
    // (line index, stream id)
    let mut hits: Vec<(usize, usize)> = Vec::new();
    for (idx, line) in lines.iter().enumerate() {
        if line.ts < start || line.ts >= end {
            continue;
        }
        let labels = line.stream_labels();
        if !q.matches_stream(&labels) || !q.matches_line(&line.message) {
            continue;
        }
        let next = stream_ids.len();
        let sid = *stream_ids.entry(labels).or_insert(next);
        if seen.insert((sid, line.ts, line.message.as_str())) {
            hits.push((idx, sid));
        }
    }
    hits.sort_by_key(|&(idx, _)| (lines[idx].ts, idx));
    if dir == Direction::Backward {
        hits.reverse();
    }
    hits.truncate(limit);

    let mut labels_of: Vec<Option<Labels>> = vec![None; stream_ids.len()];
    for (labels, sid) in stream_ids {
        labels_of[sid] = Some(labels);
    }
    let mut streams: BTreeMap<Labels, Vec<(Timestamp, String)>> = BTreeMap::new();
    for (idx, sid) in hits {
        let Some(labels) = &labels_of[sid] else {
            continue;
        };
        let line = &lines[idx];
        streams
            .entry(labels.clone())
            .or_default()
            .push((line.ts, line.message.clone()));
    }
    Ok(streams
        .into_iter()
        .map(|(labels, entries)| LogStream { labels, entries })
        .collect())
}

/// A parsed query, for callers that want to check a query without running it.
pub fn parse(query: &str) -> std::result::Result<LogQuery, LogqlError> {
    let mut p = Parser {
        chars: query.chars().collect(),
        pos: 0,
    };
    let q = p.log_expr()?;
    p.skip_ws();
    if !p.eof() {
        return Err(p.unexpected_after_query());
    }
    Ok(q)
}

// ---------------------------------------------------------------------------
// Parser

const METRIC_FUNCTIONS: &[&str] = &[
    "rate",
    "rate_counter",
    "count_over_time",
    "bytes_rate",
    "bytes_over_time",
    "absent_over_time",
    "sum_over_time",
    "avg_over_time",
    "max_over_time",
    "min_over_time",
    "stddev_over_time",
    "stdvar_over_time",
    "quantile_over_time",
    "first_over_time",
    "last_over_time",
    "sum",
    "avg",
    "min",
    "max",
    "count",
    "stddev",
    "stdvar",
    "topk",
    "bottomk",
    "approx_topk",
    "sort",
    "sort_desc",
    "label_replace",
    "vector",
];

struct Parser {
    chars: Vec<char>,
    pos: usize,
}

impl Parser {
    fn eof(&self) -> bool {
        self.pos >= self.chars.len()
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn peek_at(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.pos + ahead).copied()
    }

    fn starts_with(&self, s: &str) -> bool {
        s.chars().enumerate().all(|(i, c)| self.peek_at(i) == Some(c))
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    /// What sits at the current position, for error messages.
    fn found(&self) -> String {
        match self.peek() {
            None => "end of query".into(),
            Some(_) => {
                let s: String = self.chars[self.pos..].iter().take(12).collect();
                format!("{s:?}")
            }
        }
    }

    fn expected(&self, what: &str) -> LogqlError {
        LogqlError::Parse(format!(
            "expected {what} at offset {}, found {}",
            self.pos,
            self.found()
        ))
    }

    fn identifier(&mut self) -> Option<String> {
        let c = self.peek()?;
        if !(c.is_ascii_alphabetic() || c == '_') {
            return None;
        }
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
            self.pos += 1;
        }
        Some(self.chars[start..self.pos].iter().collect())
    }

    fn log_expr(&mut self) -> Result<LogQuery> {
        self.skip_ws();
        match self.peek() {
            Some('{') => {
                let matchers = self.selector()?;
                let filters = self.pipeline()?;
                Ok(LogQuery { matchers, filters })
            }
            Some('(') => {
                self.pos += 1;
                let q = self.log_expr()?;
                self.skip_ws();
                if self.peek() != Some(')') {
                    return Err(self.expected("`)`"));
                }
                self.pos += 1;
                Ok(q)
            }
            Some(c) if c.is_ascii_alphabetic() || c == '_' => {
                let start = self.pos;
                let ident = self.identifier().unwrap_or_default();
                if METRIC_FUNCTIONS.contains(&ident.as_str()) {
                    return Err(LogqlError::Unsupported(format!("metric query `{ident}`")));
                }
                self.pos = start;
                Err(self.expected("a stream selector such as {service=\"api\"}"))
            }
            Some(c) if c.is_ascii_digit() || c == '-' || c == '.' => {
                Err(LogqlError::Unsupported("metric query (number literal)".into()))
            }
            _ => Err(self.expected("a stream selector such as {service=\"api\"}")),
        }
    }

    fn selector(&mut self) -> Result<Vec<LabelMatcher>> {
        let open = self.pos;
        self.pos += 1; // `{`
        self.skip_ws();
        if self.peek() == Some('}') {
            return Err(LogqlError::Parse(format!(
                "stream selector at offset {open} must contain at least one label matcher"
            )));
        }
        let mut matchers = Vec::new();
        loop {
            self.skip_ws();
            let Some(name) = self.identifier() else {
                return Err(self.expected("a label name"));
            };
            self.skip_ws();
            let op = if self.starts_with("=~") {
                MatchType::Regex
            } else if self.starts_with("!~") {
                MatchType::NotRegex
            } else if self.starts_with("!=") {
                MatchType::NotEqual
            } else if self.starts_with("=") {
                MatchType::Equal
            } else {
                return Err(self.expected(&format!("one of `=`, `!=`, `=~`, `!~` after label `{name}`")));
            };
            self.pos += if op == MatchType::Equal { 1 } else { 2 };
            self.skip_ws();
            let value_at = self.pos;
            let value = self.string("a quoted label value")?;
            let regex = match op {
                MatchType::Regex | MatchType::NotRegex => Some(compile(&format!("^(?s:{value})$"), &value, value_at)?),
                _ => None,
            };
            matchers.push(LabelMatcher { name, op, value, regex });
            self.skip_ws();
            match self.peek() {
                Some(',') => self.pos += 1,
                Some('}') => {
                    self.pos += 1;
                    break;
                }
                _ => return Err(self.expected("`,` or `}` in the stream selector")),
            }
        }
        if matchers.iter().all(|m| m.matches_value("")) {
            return Err(LogqlError::Parse(format!(
                "stream selector at offset {open}: queries require at least one regexp or equality matcher that does not have an empty-compatible value. For instance, app=~\".*\" does not meet this requirement, but app=~\".+\" will"
            )));
        }
        Ok(matchers)
    }

    fn pipeline(&mut self) -> Result<Vec<LineFilter>> {
        let mut filters = Vec::new();
        loop {
            self.skip_ws();
            let op = if self.starts_with("|=") {
                FilterType::Contains
            } else if self.starts_with("!=") {
                FilterType::NotContains
            } else if self.starts_with("|~") {
                FilterType::Regex
            } else if self.starts_with("!~") {
                FilterType::NotRegex
            } else if self.starts_with("|>") || self.starts_with("!>") {
                let op: String = self.chars[self.pos..self.pos + 2].iter().collect();
                return Err(LogqlError::Unsupported(format!("pattern line filter `{op}`")));
            } else if self.peek() == Some('|') {
                return Err(self.stage());
            } else if self.peek() == Some('[') {
                return Err(LogqlError::Unsupported(
                    "range `[..]` over a log query (metric queries)".into(),
                ));
            } else {
                return Ok(filters);
            };
            let op_text: String = self.chars[self.pos..self.pos + 2].iter().collect();
            self.pos += 2;
            self.skip_ws();
            if self.starts_with("ip(") {
                return Err(LogqlError::Unsupported(format!("IP line filter `{op_text} ip(..)`")));
            }
            let value_at = self.pos;
            let value = self.string(&format!("a quoted string after `{op_text}`"))?;
            let regex = match op {
                FilterType::Regex | FilterType::NotRegex => Some(compile(&value, &value, value_at)?),
                _ => None,
            };
            filters.push(LineFilter { op, value, regex });
            self.skip_ws();
            let at = self.pos;
            if self.identifier().as_deref() == Some("or") {
                return Err(LogqlError::Unsupported(format!(
                    "`or` between line filter values (offset {at})"
                )));
            }
            self.pos = at;
        }
    }

    /// Names the `| stage` at the current position, which is never supported.
    fn stage(&mut self) -> LogqlError {
        let bar = self.pos;
        self.pos += 1;
        self.skip_ws();
        let Some(name) = self.identifier() else {
            return self.expected("a line filter or pipeline stage after `|`");
        };
        let what = match name.as_str() {
            "json" | "logfmt" | "regexp" | "pattern" | "unpack" => {
                format!("parser stage `| {name}`")
            }
            "line_format" | "label_format" => format!("formatting stage `| {name}`"),
            "unwrap" => "`| unwrap` (metric queries)".to_string(),
            "drop" | "keep" | "decolorize" => format!("pipeline stage `| {name}`"),
            _ => {
                let rest: String = self.chars[bar..].iter().take(40).collect::<String>().trim().to_string();
                format!("label filter `{rest}`")
            }
        };
        LogqlError::Unsupported(what)
    }

    fn unexpected_after_query(&self) -> LogqlError {
        if self.peek() == Some(')') {
            return LogqlError::Parse(format!("unbalanced `)` at offset {}", self.pos));
        }
        let s: String = self.chars[self.pos..].iter().collect();
        let s = s.trim_start();
        for op in ["+", "-", "*", "/", "%", "^", "==", ">", "<", "and", "or", "unless"] {
            let Some(after) = s.strip_prefix(op) else {
                continue;
            };
            // A word operator must be a whole word: `orange` is not `or`.
            let is_word = op.starts_with(|c: char| c.is_ascii_alphabetic());
            if !is_word || !after.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_') {
                return LogqlError::Unsupported(format!("binary operator `{op}` (metric queries)"));
            }
        }
        self.expected("a line filter (`|=`, `!=`, `|~`, `!~`) or the end of the query")
    }

    /// A Go string literal: "double-quoted" with escapes or `raw`.
    fn string(&mut self, what: &str) -> Result<String> {
        let start = self.pos;
        match self.peek() {
            Some('`') => {
                self.pos += 1;
                let body_start = self.pos;
                while let Some(c) = self.peek() {
                    if c == '`' {
                        let s: String = self.chars[body_start..self.pos].iter().collect();
                        self.pos += 1;
                        return Ok(s);
                    }
                    self.pos += 1;
                }
                Err(LogqlError::Parse(format!(
                    "unterminated raw string starting at offset {start}"
                )))
            }
            Some('"') => {
                self.pos += 1;
                let mut out = String::new();
                loop {
                    let Some(c) = self.peek() else {
                        return Err(LogqlError::Parse(format!(
                            "unterminated string starting at offset {start}"
                        )));
                    };
                    match c {
                        '"' => {
                            self.pos += 1;
                            return Ok(out);
                        }
                        '\n' => {
                            return Err(LogqlError::Parse(format!(
                                "newline in string starting at offset {start}"
                            )));
                        }
                        '\\' => out.push(self.escape()?),
                        _ => {
                            out.push(c);
                            self.pos += 1;
                        }
                    }
                }
            }
            _ => Err(self.expected(what)),
        }
    }

    /// Decodes the escape sequence at the current `\`.
    fn escape(&mut self) -> Result<char> {
        let at = self.pos;
        self.pos += 1;
        let bad = |msg: &str| LogqlError::Parse(format!("{msg} at offset {at}"));
        let Some(c) = self.peek() else {
            return Err(bad("unterminated escape sequence"));
        };
        self.pos += 1;
        let simple = match c {
            'a' => Some('\u{07}'),
            'b' => Some('\u{08}'),
            'f' => Some('\u{0c}'),
            'n' => Some('\n'),
            'r' => Some('\r'),
            't' => Some('\t'),
            'v' => Some('\u{0b}'),
            '\\' => Some('\\'),
            '"' => Some('"'),
            _ => None,
        };
        if let Some(s) = simple {
            return Ok(s);
        }
        let (digits, radix) = match c {
            'x' => (2, 16),
            'u' => (4, 16),
            'U' => (8, 16),
            '0'..='7' => {
                self.pos -= 1;
                (3, 8)
            }
            _ => return Err(bad(&format!("unknown escape sequence `\\{c}`"))),
        };
        let mut value: u32 = 0;
        for _ in 0..digits {
            let d = self.peek().and_then(|d| d.to_digit(radix));
            let Some(d) = d else {
                return Err(bad(&format!("invalid escape sequence `\\{c}`")));
            };
            value = value * radix + d;
            self.pos += 1;
        }
        if matches!(c, 'x' | '0'..='7') && value >= 0x80 {
            // A raw byte that is not valid UTF-8 on its own.
            return Err(bad("escaped byte above 0x7f (not valid UTF-8 on its own)"));
        }
        char::from_u32(value).ok_or_else(|| bad("escape sequence is not a valid Unicode code point"))
    }
}

fn compile(pattern: &str, shown: &str, at: usize) -> Result<Regex> {
    Regex::new(pattern)
        .map_err(|e| LogqlError::Parse(format!("invalid regular expression {shown:?} at offset {at}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(secs: i64, service: &str, level: &str, message: &str) -> LogLine {
        LogLine {
            ts: Timestamp::from_secs(secs),
            service: service.into(),
            namespace: None,
            pod: None,
            level: level.into(),
            message: message.into(),
        }
    }

    fn with_pod(mut l: LogLine, pod: &str) -> LogLine {
        l.pod = Some(pod.into());
        l
    }

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    /// Runs over a wide window with a generous limit.
    fn run(lines: &[LogLine], q: &str) -> Vec<LogStream> {
        query(
            lines,
            q,
            Timestamp::from_secs(0),
            Timestamp::from_secs(1_000),
            1_000,
            Direction::Forward,
        )
        .unwrap_or_else(|e| panic!("query {q:?} failed: {e}"))
    }

    /// Every message returned, stream by stream, in entry order.
    fn messages(streams: &[LogStream]) -> Vec<String> {
        streams
            .iter()
            .flat_map(|s| s.entries.iter().map(|(_, m)| m.clone()))
            .collect()
    }

    /// The `service` label of each stream, sorted, for tests about selection.
    fn services(streams: &[LogStream]) -> Vec<String> {
        let mut v: Vec<String> = streams.iter().map(|s| s.labels["service"].clone()).collect();
        v.sort();
        v
    }

    fn err(q: &str) -> LogqlError {
        match parse(q) {
            Ok(parsed) => panic!("query {q:?} parsed, expected an error: {parsed:?}"),
            Err(e) => e,
        }
    }

    fn unsupported(q: &str) -> String {
        match err(q) {
            LogqlError::Unsupported(m) => m,
            other => panic!("query {q:?}: expected Unsupported, got {other:?}"),
        }
    }

    fn parse_error(q: &str) -> String {
        match err(q) {
            LogqlError::Parse(m) => m,
            other => panic!("query {q:?}: expected Parse, got {other:?}"),
        }
    }

    fn fleet() -> Vec<LogLine> {
        vec![
            with_pod(line(1, "api", "error", "a1"), "api-0"),
            with_pod(line(2, "web", "info", "w1"), "web-0"),
            with_pod(line(3, "db", "debug", "d1"), "db-0"),
            line(4, "apigw", "info", "g1"),
        ]
    }

    #[test]
    fn equal_matcher_selects_exact_label_value() {
        let out = run(&fleet(), r#"{service="api"}"#);
        assert_eq!(services(&out), ["api"]);
        assert_eq!(messages(&out), ["a1"]);
    }

    #[test]
    fn not_equal_matcher_excludes_label_value() {
        let out = run(&fleet(), r#"{service=~".+", level!="info"}"#);
        assert_eq!(services(&out), ["api", "db"]);
    }

    #[test]
    fn regex_matcher_is_fully_anchored() {
        // `api` alone must not match `apigw`; `api.*` matches both.
        assert_eq!(services(&run(&fleet(), r#"{service=~"api"}"#)), ["api"]);
        assert_eq!(services(&run(&fleet(), r#"{service=~"api.*"}"#)), ["api", "apigw"]);
        assert_eq!(services(&run(&fleet(), r#"{service=~"web|db"}"#)), ["db", "web"]);
        // Unanchored it would match `a` inside `api`.
        assert!(run(&fleet(), r#"{service=~"a"}"#).is_empty());
    }

    #[test]
    fn not_regex_matcher_excludes_full_matches_only() {
        let out = run(&fleet(), r#"{service=~".+", service!~"api"}"#);
        assert_eq!(services(&out), ["apigw", "db", "web"]);
        let out = run(&fleet(), r#"{service=~".+", pod!~"(api|web)-.*"}"#);
        // A line without a pod label has pod "" which does not match.
        assert_eq!(services(&out), ["apigw", "db"]);
    }

    #[test]
    fn missing_label_compares_as_empty_string() {
        let out = run(&fleet(), r#"{service=~".+", pod=""}"#);
        assert_eq!(services(&out), ["apigw"]);
    }

    fn texts() -> Vec<LogLine> {
        vec![
            line(1, "api", "error", "GET /users 500 timeout"),
            line(2, "api", "error", "GET /users 503 retry after timeout"),
            line(3, "api", "info", "GET /health 200"),
            line(4, "api", "info", "GET /Health 200"),
            line(5, "api", "warn", "POST /orders 404"),
        ]
    }

    #[test]
    fn contains_filter_keeps_lines_with_substring() {
        let out = run(&texts(), r#"{service="api"} |= "timeout""#);
        assert_eq!(
            messages(&out),
            ["GET /users 500 timeout", "GET /users 503 retry after timeout"]
        );
    }

    #[test]
    fn contains_filter_is_case_sensitive() {
        let out = run(&texts(), r#"{service="api"} |= "Health""#);
        assert_eq!(messages(&out), ["GET /Health 200"]);
    }

    #[test]
    fn not_contains_filter_drops_lines_with_substring() {
        let out = run(&texts(), r#"{service="api"} != "GET""#);
        assert_eq!(messages(&out), ["POST /orders 404"]);
    }

    #[test]
    fn regex_filter_matches_anywhere_in_line() {
        let out = run(&texts(), r#"{service="api"} |~ "5\\d\\d""#);
        assert_eq!(
            messages(&out),
            ["GET /users 500 timeout", "GET /users 503 retry after timeout"]
        );
        // Raw strings need no escaping; the regex is not anchored.
        let out = run(&texts(), r#"{service="api"} |~ `4\d\d`"#);
        assert_eq!(messages(&out), ["POST /orders 404"]);
    }

    #[test]
    fn not_regex_filter_drops_matching_lines() {
        let out = run(&texts(), r#"{service="api"} !~ `(?i)health`"#);
        assert_eq!(
            messages(&out),
            [
                "GET /users 500 timeout",
                "GET /users 503 retry after timeout",
                "POST /orders 404"
            ]
        );
    }

    #[test]
    fn chained_filters_must_all_pass() {
        let out = run(&texts(), r#"{service="api"} |= "timeout" != "retry""#);
        assert_eq!(messages(&out), ["GET /users 500 timeout"]);
        let out = run(&texts(), r#"{service="api"} |~ "GET" !~ `(?i)health` != "503""#);
        assert_eq!(messages(&out), ["GET /users 500 timeout"]);
        // Filters that cannot both hold give nothing, not an error.
        assert!(run(&texts(), r#"{service="api"} |= "timeout" != "timeout""#).is_empty());
    }

    #[test]
    fn invalid_filter_regex_is_a_parse_error_naming_the_pattern() {
        let m = parse_error(r#"{service="api"} |~ "(unclosed""#);
        assert!(m.contains("invalid regular expression"), "{m}");
        assert!(m.contains("(unclosed"), "{m}");
        // The same through query(), as the tool sees it.
        let e = query(
            &texts(),
            r#"{service="api"} !~ "[a-""#,
            Timestamp(0),
            Timestamp(i64::MAX),
            10,
            Direction::Forward,
        )
        .unwrap_err();
        assert!(
            matches!(&e, LogqlError::Parse(m) if m.contains("invalid regular expression")),
            "{e}"
        );
    }

    #[test]
    fn invalid_matcher_regex_is_a_parse_error() {
        let m = parse_error(r#"{service=~"api-(""}"#);
        assert!(m.contains("invalid regular expression"), "{m}");
    }

    fn timeline() -> Vec<LogLine> {
        (10..=14).map(|s| line(s, "api", "info", &format!("t{s}"))).collect()
    }

    #[test]
    fn start_is_inclusive_and_end_is_exclusive() {
        let out = query(
            &timeline(),
            r#"{service="api"}"#,
            Timestamp::from_secs(11),
            Timestamp::from_secs(13),
            100,
            Direction::Forward,
        )
        .unwrap();
        assert_eq!(messages(&out), ["t11", "t12"]);
        // One nanosecond past a line's timestamp includes it.
        let out = query(
            &timeline(),
            r#"{service="api"}"#,
            Timestamp::from_secs(11),
            Timestamp::from_secs(13) + 1,
            100,
            Direction::Forward,
        )
        .unwrap();
        assert_eq!(messages(&out), ["t11", "t12", "t13"]);
    }

    #[test]
    fn empty_range_returns_no_streams() {
        let t = Timestamp::from_secs(12);
        let out = query(&timeline(), r#"{service="api"}"#, t, t, 100, Direction::Forward).unwrap();
        assert!(out.is_empty());
    }

    #[test]
    fn forward_limit_keeps_oldest_in_ascending_order() {
        let out = query(
            &timeline(),
            r#"{service="api"}"#,
            Timestamp(0),
            Timestamp::from_secs(100),
            2,
            Direction::Forward,
        )
        .unwrap();
        assert_eq!(messages(&out), ["t10", "t11"]);
    }

    #[test]
    fn backward_limit_keeps_newest_newest_first() {
        let out = query(
            &timeline(),
            r#"{service="api"}"#,
            Timestamp(0),
            Timestamp::from_secs(100),
            2,
            Direction::Backward,
        )
        .unwrap();
        assert_eq!(messages(&out), ["t14", "t13"]);
        assert_eq!(out[0].entries[0].0, Timestamp::from_secs(14));
    }

    #[test]
    fn backward_without_limit_reverses_everything() {
        let mut lines = timeline();
        lines.reverse(); // input order must not matter
        let out = query(
            &lines,
            r#"{service="api"}"#,
            Timestamp(0),
            Timestamp::from_secs(100),
            100,
            Direction::Backward,
        )
        .unwrap();
        assert_eq!(messages(&out), ["t14", "t13", "t12", "t11", "t10"]);
    }

    #[test]
    fn limit_applies_across_streams_not_per_stream() {
        let lines = vec![
            line(1, "api", "info", "api-old"),
            line(2, "web", "info", "web-old"),
            line(3, "api", "info", "api-new"),
            line(4, "web", "info", "web-new"),
        ];
        let out = query(
            &lines,
            r#"{service=~"api|web"}"#,
            Timestamp(0),
            Timestamp::from_secs(100),
            3,
            Direction::Backward,
        )
        .unwrap();
        let total: usize = out.iter().map(|s| s.entries.len()).sum();
        assert_eq!(total, 3);
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].labels["service"], "api");
        assert_eq!(out[0].entries, [(Timestamp::from_secs(3), "api-new".to_string())]);
        assert_eq!(
            out[1].entries,
            [
                (Timestamp::from_secs(4), "web-new".to_string()),
                (Timestamp::from_secs(2), "web-old".to_string())
            ]
        );
    }

    #[test]
    fn lines_are_grouped_into_streams_by_full_label_set() {
        let lines = vec![
            with_pod(line(1, "api", "error", "e0"), "api-0"),
            with_pod(line(2, "api", "info", "i0"), "api-0"),
            with_pod(line(3, "api", "error", "e1"), "api-1"),
            with_pod(line(4, "api", "error", "e0b"), "api-0"),
            line(5, "api", "error", "nopod"),
        ];
        let out = run(&lines, r#"{service="api"}"#);
        let got: Vec<(Labels, Vec<&str>)> = out
            .iter()
            .map(|s| (s.labels.clone(), s.entries.iter().map(|(_, m)| m.as_str()).collect()))
            .collect();
        // Streams come sorted by their labels (as ordered name/value pairs, so
        // `pod` sorts before `service`); each holds only its own lines.
        assert_eq!(
            got,
            vec![
                (
                    labels(&[("level", "error"), ("pod", "api-0"), ("service", "api")]),
                    vec!["e0", "e0b"]
                ),
                (
                    labels(&[("level", "error"), ("pod", "api-1"), ("service", "api")]),
                    vec!["e1"]
                ),
                (labels(&[("level", "error"), ("service", "api")]), vec!["nopod"]),
                (
                    labels(&[("level", "info"), ("pod", "api-0"), ("service", "api")]),
                    vec!["i0"]
                ),
            ]
        );
    }

    #[test]
    fn stream_labels_include_namespace_when_present() {
        let mut l = line(1, "api", "info", "x");
        l.namespace = Some("prod".into());
        let out = run(&[l], r#"{namespace="prod"}"#);
        assert_eq!(out.len(), 1);
        assert_eq!(
            out[0].labels,
            labels(&[("level", "info"), ("namespace", "prod"), ("service", "api")])
        );
    }

    #[test]
    fn duplicate_entries_in_a_stream_are_dropped() {
        let lines = vec![
            line(1, "api", "info", "same"),
            line(1, "api", "info", "same"),
            line(1, "api", "info", "other"),
            line(1, "api", "error", "same"),
        ];
        let out = run(&lines, r#"{service="api"}"#);
        assert_eq!(messages(&out), ["same", "same", "other"]);
        assert_eq!(out[0].labels["level"], "error");
        assert_eq!(out[1].entries.len(), 2);
    }

    #[test]
    fn equal_timestamps_keep_input_order_forward_and_reverse_it_backward() {
        let lines = vec![line(1, "api", "info", "first"), line(1, "api", "info", "second")];
        let fwd = query(
            &lines,
            r#"{service="api"}"#,
            Timestamp(0),
            Timestamp::from_secs(9),
            10,
            Direction::Forward,
        )
        .unwrap();
        assert_eq!(messages(&fwd), ["first", "second"]);
        let bwd = query(
            &lines,
            r#"{service="api"}"#,
            Timestamp(0),
            Timestamp::from_secs(9),
            10,
            Direction::Backward,
        )
        .unwrap();
        assert_eq!(messages(&bwd), ["second", "first"]);
    }

    #[test]
    fn no_matching_stream_is_an_empty_result_not_an_error() {
        assert!(run(&fleet(), r#"{service="nope"}"#).is_empty());
    }

    #[test]
    fn parsed_query_exposes_matchers_and_filters_in_order() {
        let q = parse(
            r#"{service="api", level!="debug", pod=~"api-.*", namespace!~"kube-.*"} |= "a" != "b" |~ "c" !~ "d""#,
        )
        .unwrap();
        let ms: Vec<(&str, MatchType, &str)> = q
            .matchers
            .iter()
            .map(|m| (m.name.as_str(), m.op, m.value.as_str()))
            .collect();
        assert_eq!(
            ms,
            [
                ("service", MatchType::Equal, "api"),
                ("level", MatchType::NotEqual, "debug"),
                ("pod", MatchType::Regex, "api-.*"),
                ("namespace", MatchType::NotRegex, "kube-.*"),
            ]
        );
        let fs: Vec<(FilterType, &str)> = q.filters.iter().map(|f| (f.op, f.value.as_str())).collect();
        assert_eq!(
            fs,
            [
                (FilterType::Contains, "a"),
                (FilterType::NotContains, "b"),
                (FilterType::Regex, "c"),
                (FilterType::NotRegex, "d"),
            ]
        );
    }

    #[test]
    fn string_escapes_are_decoded() {
        let q = parse(r#"{service="a\"b"} |= "tab\there" |= "\u00e9\x41""#).unwrap();
        assert_eq!(q.matchers[0].value, "a\"b");
        assert_eq!(q.filters[0].value, "tab\there");
        assert_eq!(q.filters[1].value, "\u{e9}A");
        let m = parse_error(r#"{service="a\qb"}"#);
        assert!(m.contains("unknown escape sequence"), "{m}");
    }

    #[test]
    fn whitespace_and_parentheses_are_accepted() {
        let q = parse("  ( { service = \"api\" ,level=\"info\" } )  ").unwrap();
        assert_eq!(q.matchers.len(), 2);
        assert!(q.filters.is_empty());
    }

    #[test]
    fn parser_stages_are_unsupported_and_named() {
        let m = unsupported(r#"{service="api"} | json"#);
        assert!(m.contains("| json"), "{m}");
        let m = unsupported(r#"{service="api"} |= "x" | logfmt"#);
        assert!(m.contains("| logfmt"), "{m}");
        let m = unsupported(r#"{service="api"} | regexp `(?P<x>.*)`"#);
        assert!(m.contains("| regexp"), "{m}");
        let m = unsupported(r#"{service="api"} | pattern `<_> <x>`"#);
        assert!(m.contains("| pattern"), "{m}");
    }

    #[test]
    fn formatting_stages_are_unsupported_and_named() {
        let m = unsupported(r#"{service="api"} | line_format "{{.msg}}""#);
        assert!(m.contains("| line_format"), "{m}");
        let m = unsupported(r#"{service="api"} | label_format a=b"#);
        assert!(m.contains("| label_format"), "{m}");
    }

    #[test]
    fn label_filters_are_unsupported_and_quoted() {
        let m = unsupported(r#"{service="api"} | level="error""#);
        assert!(m.contains("label filter"), "{m}");
        assert!(m.contains(r#"level="error""#), "{m}");
    }

    #[test]
    fn metric_queries_are_unsupported_and_named() {
        let m = unsupported(r#"rate({a="b"}[5m])"#);
        assert!(m.contains("`rate`"), "{m}");
        let m = unsupported(r#"sum by (x) (count_over_time({a="b"}[5m]))"#);
        assert!(m.contains("`sum`"), "{m}");
        let m = unsupported(r#"count_over_time({a="b"}[1m])"#);
        assert!(m.contains("`count_over_time`"), "{m}");
        let m = unsupported(r#"{a="b"}[5m]"#);
        assert!(m.contains("range"), "{m}");
        let m = unsupported(r#"{a="b"} | unwrap latency"#);
        assert!(m.contains("unwrap"), "{m}");
        let m = unsupported("1 + 1");
        assert!(m.contains("number literal"), "{m}");
    }

    #[test]
    fn binary_operators_are_unsupported_and_named() {
        let m = unsupported(r#"{a="b"} or {c="d"}"#);
        assert!(m.contains("`or`"), "{m}");
        let m = unsupported(r#"{a="b"} and {c="d"}"#);
        assert!(m.contains("`and`"), "{m}");
    }

    #[test]
    fn other_unsupported_filters_are_named() {
        let m = unsupported(r#"{a="b"} |> "<_> error""#);
        assert!(m.contains("`|>`"), "{m}");
        let m = unsupported(r#"{a="b"} |= ip("10.0.0.0/8")"#);
        assert!(m.contains("ip("), "{m}");
        let m = unsupported(r#"{a="b"} |= "x" or "y""#);
        assert!(m.contains("`or`"), "{m}");
    }

    #[test]
    fn unsupported_error_reaches_query_callers() {
        let e = query(
            &fleet(),
            r#"{service="api"} | json"#,
            Timestamp(0),
            Timestamp(i64::MAX),
            10,
            Direction::Forward,
        )
        .unwrap_err();
        assert!(matches!(e, LogqlError::Unsupported(_)), "{e:?}");
        assert!(e.to_string().contains("unsupported"), "{e}");
        assert!(e.to_string().contains("| json"), "{e}");
    }

    #[test]
    fn unclosed_selector_is_a_parse_error() {
        let m = parse_error(r#"{a="b""#);
        assert!(m.contains("`,` or `}`"), "{m}");
        assert!(m.contains("end of query"), "{m}");
    }

    #[test]
    fn empty_selector_is_a_parse_error() {
        let m = parse_error("{}");
        assert!(m.contains("at least one label matcher"), "{m}");
        parse_error("{ }");
    }

    #[test]
    fn selector_without_braces_is_a_parse_error() {
        let m = parse_error(r#"a="b""#);
        assert!(m.contains("stream selector"), "{m}");
        assert!(m.contains("offset 0"), "{m}");
    }

    #[test]
    fn selector_matching_empty_values_only_is_a_parse_error() {
        for q in [r#"{a=""}"#, r#"{a=~".*"}"#, r#"{a!="b"}"#, r#"{a!~"b"}"#] {
            let m = parse_error(q);
            assert!(m.contains("empty-compatible"), "{q}: {m}");
        }
        // A non-empty-compatible matcher next to them makes it valid.
        parse(r#"{a=~".*", b="c"}"#).unwrap();
        parse(r#"{a!=""}"#).unwrap();
    }

    #[test]
    fn other_syntax_errors_are_parse_errors() {
        for q in [
            "",
            "{",
            r#"{a}"#,
            r#"{a=b}"#,
            r#"{a="b",}"#,
            r#"{1a="b"}"#,
            r#"{a=="b"}"#,
            r#"{a="b"} |= "#,
            r#"{a="b"} |= "unterminated"#,
            r#"{a="b"} |= `unterminated"#,
            r#"{a="b"} |"#,
            r#"{a="b"} "x""#,
            r#"{a="b"})"#,
            r#"({a="b"}"#,
            r#"{a="b"}}"#,
        ] {
            parse_error(q);
        }
    }

    #[test]
    fn parse_errors_report_the_offset_of_the_problem() {
        let m = parse_error(r#"{a="b"} |= 5"#);
        assert!(m.contains("offset 11"), "{m}");
        assert!(m.contains("after `|=`"), "{m}");
    }

    #[test]
    fn stray_words_after_the_query_are_parse_errors_not_operators() {
        // Words that merely start like `or`/`and`/`unless` are not operators.
        for q in [r#"{a="b"} orange"#, r#"{a="b"} android"#, r#"{a="b"} unlessx"#] {
            let m = parse_error(q);
            assert!(m.contains("line filter"), "{q}: {m}");
        }
    }
}
