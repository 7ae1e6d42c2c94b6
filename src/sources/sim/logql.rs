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
            if s.starts_with(op) {
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
