//! One redactor for everything that leaves the machine: model requests,
//! OTLP/Langfuse/LangSmith exports, the Markdown report, `feedback --json`.
//!
//! The rules are data (`redact.toml`, compiled in, gitleaks-style: id, regex,
//! keyword pre-filter, optional validator), extended and tuned by
//! `[redact]` in config.toml. A secret becomes `[REDACTED:<id>:<n>]`: the same
//! secret the same placeholder within one [`Redactor`] (one investigation), so
//! the reasoning still lines up. Events are stored as they came; redaction
//! happens at the exits, before any truncation.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use base64::Engine;
use regex::Regex;

use crate::config::{RedactRule, RedactSettings};

/// The built-in rules, as shipped.
pub const BUILTIN_RULES: &str = include_str!("../../redact.toml");

/// A rule or an allow pattern that does not compile.
#[derive(Debug, thiserror::Error)]
pub enum RuleError {
    #[error("redaction rule {id}: {msg}")]
    Rule { id: String, msg: String },
    #[error("redaction rules: {0}")]
    File(String),
}

/// A compiled rule set.
pub struct Rules {
    rules: Vec<Rule>,
    allow: Vec<Regex>,
    /// A hash of the shipped rules and the settings laid over them.
    fingerprint: String,
}

struct Rule {
    id: String,
    re: Regex,
    keywords: Vec<String>,
    validator: Option<Validator>,
}

#[derive(Clone, Copy)]
enum Validator {
    Luhn,
    Ssn,
    Iban,
    Basic,
    Value,
    Token,
}

impl Validator {
    fn parse(s: &str) -> Option<Validator> {
        Some(match s {
            "luhn" => Validator::Luhn,
            "ssn" => Validator::Ssn,
            "iban" => Validator::Iban,
            "basic" => Validator::Basic,
            "value" => Validator::Value,
            "token" => Validator::Token,
            _ => return None,
        })
    }

    fn accepts(self, secret: &str) -> bool {
        match self {
            Validator::Luhn => luhn(secret),
            Validator::Ssn => ssn(secret),
            Validator::Iban => iban(secret),
            Validator::Basic => base64::engine::general_purpose::STANDARD
                .decode(secret)
                .ok()
                .and_then(|b| String::from_utf8(b).ok())
                .is_some_and(|s| s.contains(':')),
            Validator::Value => real_value(secret),
            Validator::Token => secret.bytes().any(|b| b.is_ascii_digit()),
        }
    }
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    rule: Vec<RedactRule>,
}

impl Rules {
    /// The shipped rules with the user's `[redact]` settings laid over them.
    pub fn from_settings(s: &RedactSettings) -> Result<Rules, RuleError> {
        let file: RuleFile = toml::from_str(BUILTIN_RULES).map_err(|e| RuleError::File(e.to_string()))?;
        let mut rules = Vec::new();
        for spec in file.rule.iter().chain(&s.extra) {
            if spec.id == "email" && !s.emails {
                continue;
            }
            rules.push(compile(spec)?);
        }
        let allow = s
            .allow
            .iter()
            .map(|a| {
                Regex::new(a).map_err(|e| RuleError::Rule {
                    id: format!("allow {a:?}"),
                    msg: e.to_string(),
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Rules {
            rules,
            allow,
            fingerprint: fingerprint(s),
        })
    }

    /// `sha256:` and 16 hex digits naming the effective rule set: the shipped
    /// redact.toml and the `[redact]` settings over it.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The ids of the rules, in the order they run.
    pub fn ids(&self) -> Vec<&str> {
        self.rules.iter().map(|r| r.id.as_str()).collect()
    }
}

fn fingerprint(s: &RedactSettings) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(BUILTIN_RULES.as_bytes());
    h.update(b"\0");
    // Plain data with string keys: serialising cannot fail.
    h.update(serde_json::to_string(s).unwrap_or_default().as_bytes());
    let d = h.finalize();
    format!(
        "sha256:{}",
        d.iter().take(8).map(|b| format!("{b:02x}")).collect::<String>()
    )
}

fn compile(spec: &RedactRule) -> Result<Rule, RuleError> {
    let err = |msg: String| RuleError::Rule {
        id: spec.id.clone(),
        msg,
    };
    let re = Regex::new(&spec.regex).map_err(|e| err(e.to_string()))?;
    let validator = match spec.validator.as_deref() {
        None => None,
        Some(v) => Some(Validator::parse(v).ok_or_else(|| {
            err(format!(
                "unknown validator {v:?} (luhn, ssn, iban, basic, value or token)"
            ))
        })?),
    };
    Ok(Rule {
        id: spec.id.clone(),
        re,
        keywords: spec.keywords.iter().map(|k| k.to_ascii_lowercase()).collect(),
        validator,
    })
}

fn installed() -> &'static RwLock<Option<Arc<Rules>>> {
    static R: OnceLock<RwLock<Option<Arc<Rules>>>> = OnceLock::new();
    R.get_or_init(|| RwLock::new(None))
}

/// The fingerprint of the shipped rules with no `[redact]` settings.
pub fn default_fingerprint() -> String {
    fingerprint(&RedactSettings::default())
}

/// Makes `rules` the ones every new [`Redactor`] uses (the binary calls this
/// once with the user's settings).
pub fn install(rules: Rules) {
    if let Ok(mut r) = installed().write() {
        *r = Some(Arc::new(rules));
    }
}

/// The installed rules, else the shipped ones.
pub fn current() -> Arc<Rules> {
    if let Some(r) = installed().read().ok().and_then(|r| r.clone()) {
        return r;
    }
    static BUILTIN: OnceLock<Arc<Rules>> = OnceLock::new();
    BUILTIN
        .get_or_init(|| {
            // The shipped file is tested to compile (tests below); an empty set
            // is never reached but keeps this path free of a panic.
            Arc::new(Rules::from_settings(&RedactSettings::default()).unwrap_or(Rules {
                rules: vec![],
                allow: vec![],
                fingerprint: String::new(),
            }))
        })
        .clone()
}

/// One investigation's redactions.
pub struct Redactor {
    rules: Arc<Rules>,
    seen: Mutex<Seen>,
}

#[derive(Default)]
struct Seen {
    placeholders: HashMap<(String, String), String>,
    per_rule: HashMap<String, usize>,
}

impl Default for Redactor {
    fn default() -> Self {
        Redactor::new()
    }
}

impl Redactor {
    /// With the installed rules.
    pub fn new() -> Redactor {
        Redactor::with_rules(current())
    }

    pub fn with_rules(rules: Arc<Rules>) -> Redactor {
        Redactor {
            rules,
            seen: Mutex::new(Seen::default()),
        }
    }

    fn placeholder(&self, id: &str, secret: &str) -> String {
        let Ok(mut seen) = self.seen.lock() else {
            return format!("[REDACTED:{id}]");
        };
        let key = (id.to_string(), secret.to_string());
        if let Some(p) = seen.placeholders.get(&key) {
            return p.clone();
        }
        let n = seen.per_rule.entry(id.to_string()).or_insert(0);
        *n += 1;
        let p = format!("[REDACTED:{id}:{n}]");
        seen.placeholders.insert(key, p.clone());
        p
    }

    /// `text` with every secret replaced.
    pub fn redact(&self, text: &str) -> String {
        let lower = text.to_ascii_lowercase();
        let mut out = text.to_string();
        for rule in &self.rules.rules {
            if !rule.keywords.is_empty() && !rule.keywords.iter().any(|k| lower.contains(k.as_str())) {
                continue;
            }
            let done = placeholders_in(&out);
            let replaced = rule
                .re
                .replace_all(&out, |c: &regex::Captures| self.replace(rule, c, &done));
            if let std::borrow::Cow::Owned(s) = replaced {
                out = s;
            }
        }
        out
    }

    fn replace(&self, rule: &Rule, c: &regex::Captures, done: &[(usize, usize)]) -> String {
        // Group 0 always takes part in a match.
        let Some(whole) = c.get(0) else {
            return String::new();
        };
        let secret = (1..c.len()).find_map(|g| c.get(g)).unwrap_or(whole);
        let overlaps = done.iter().any(|&(a, b)| whole.start() < b && a < whole.end());
        let valid = rule.validator.is_none_or(|v| v.accepts(secret.as_str()));
        let allowed = self.rules.allow.iter().any(|a| a.is_match(whole.as_str()));
        if overlaps || !valid || allowed {
            return whole.as_str().to_string();
        }
        let (a, b) = (secret.start() - whole.start(), secret.end() - whole.start());
        let w = whole.as_str();
        format!("{}{}{}", &w[..a], self.placeholder(&rule.id, secret.as_str()), &w[b..])
    }

    /// Every string (not the keys) in a JSON value redacted in place.
    pub fn redact_json(&self, v: &mut serde_json::Value) {
        match v {
            serde_json::Value::String(s) => *s = self.redact(s),
            serde_json::Value::Array(items) => items.iter_mut().for_each(|i| self.redact_json(i)),
            serde_json::Value::Object(map) => map.values_mut().for_each(|i| self.redact_json(i)),
            _ => {}
        }
    }

    /// How many distinct secrets were replaced.
    pub fn count(&self) -> usize {
        self.seen.lock().map(|s| s.placeholders.len()).unwrap_or(0)
    }
}

/// An `io::Write` that redacts what passes through it: the log file's writer.
/// A log event arrives in one write, so a secret is never split across two.
pub struct RedactingWriter<W: std::io::Write>(pub W);

impl<W: std::io::Write> std::io::Write for RedactingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        self.0.write_all(Redactor::new().redact(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// Byte ranges of placeholders already written, so no rule matches into them.
fn placeholders_in(s: &str) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(i) = s[from..].find("[REDACTED:") {
        let start = from + i;
        let end = s[start..].find(']').map(|j| start + j + 1).unwrap_or(s.len());
        out.push((start, end));
        from = end;
    }
    out
}

fn luhn(s: &str) -> bool {
    let digits: Vec<u32> = s.chars().filter_map(|c| c.to_digit(10)).collect();
    if !(13..=19).contains(&digits.len()) {
        return false;
    }
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                if d * 2 > 9 { d * 2 - 9 } else { d * 2 }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

fn ssn(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    match parts.as_slice() {
        [area, group, serial] => {
            *area != "000" && *area != "666" && !area.starts_with('9') && *group != "00" && *serial != "0000"
        }
        _ => false,
    }
}

fn iban(s: &str) -> bool {
    let compact: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    if !(15..=34).contains(&compact.len()) || !compact.is_ascii() {
        return false;
    }
    let (head, tail) = compact.split_at(4);
    let mut rem: u32 = 0;
    for c in tail.chars().chain(head.chars()) {
        let v = match c.to_digit(36) {
            Some(v) => v,
            None => return false,
        };
        rem = if v >= 10 {
            (rem * 100 + v) % 97
        } else {
            (rem * 10 + v) % 97
        };
    }
    rem == 1
}

/// A value worth hiding: not a number, a boolean, an empty marker, a
/// placeholder or a reference to where the secret really is.
fn real_value(v: &str) -> bool {
    let lower = v.to_ascii_lowercase();
    let markers = [
        "true", "false", "null", "none", "nil", "empty", "redacted", "masked", "hidden", "unset", "required",
        "invalid", "expired", "missing", "string",
    ];
    !(v.chars().all(|c| c.is_ascii_digit() || c == '.' || c == '-')
        || markers.contains(&lower.as_str())
        || v.chars().all(|c| c == '*' || c == 'x' || c == 'X')
        || v.starts_with(['$', '{', '<', '['])
        || v.starts_with("%(")
        || lower.contains("redacted"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shipped_rules_compile() {
        let r = Rules::from_settings(&RedactSettings::default()).unwrap();
        assert!(r.ids().len() >= 30, "{:?}", r.ids());
    }

    #[test]
    fn secrets_become_stable_placeholders() {
        let r = Redactor::new();
        let log = "connecting to postgres://app:hunter2secret@orders-db:5432/shop with Authorization: Bearer abcdef0123456789abcdef \
                   key sk-proj-AbCdEfGhIjKlMnOpQrStUv123 AKIAIOSFODNN7EXAMPLE password=s3cr3t-p4ss mail oncall@example.com";
        let out = r.redact(log);
        for s in [
            "hunter2secret",
            "abcdef0123456789abcdef",
            "sk-proj-AbCdEf",
            "AKIAIOSFODNN7EXAMPLE",
            "s3cr3t-p4ss",
            "oncall@example.com",
        ] {
            assert!(!out.contains(s), "{s} leaked: {out}");
        }
        assert!(
            out.contains("postgres://app:[REDACTED:url-userinfo:1]@orders-db:5432"),
            "{out}"
        );
        assert!(out.contains("Bearer [REDACTED:authorization-bearer:1]"), "{out}");
        // The same secret, the same placeholder; the output is stable under a second pass.
        let again = r.redact("retry with password=s3cr3t-p4ss");
        assert_eq!(again, "retry with password=[REDACTED:secret-assignment:1]");
        assert_eq!(r.redact(&out), out);
        assert_eq!(
            r.redact("nothing secret here: p99 412ms"),
            "nothing secret here: p99 412ms"
        );
    }

    #[test]
    fn the_log_writer_redacts_each_event() {
        use std::io::Write;
        let mut w = RedactingWriter(Vec::new());
        w.write_all(b"WARN request failed for postgres://app:hunter2secret@db:5432/x\n")
            .unwrap();
        let out = String::from_utf8(w.0).unwrap();
        assert!(!out.contains("hunter2secret") && out.ends_with('\n'), "{out}");
    }

    #[test]
    fn validators_keep_what_only_looks_like_a_secret() {
        let r = Redactor::new();
        assert!(
            r.redact("card 4111 1111 1111 1111 ok")
                .contains("[REDACTED:credit-card:1]")
        );
        assert_eq!(r.redact("card 4111 1111 1111 1112 ok"), "card 4111 1111 1111 1112 ok");
        assert!(r.redact("ssn 123-45-6789").contains("[REDACTED:us-ssn"));
        assert_eq!(r.redact("ssn 000-45-6789"), "ssn 000-45-6789");
        assert!(r.redact("to GB82 WEST 1234 5698 7654 32.").contains("[REDACTED:iban"));
        assert_eq!(r.redact("token=12345 password=null"), "token=12345 password=null");
        assert_eq!(r.redact("basic configuration loaded"), "basic configuration loaded");
    }

    #[test]
    fn settings_extend_allow_and_turn_emails_off() {
        let s = RedactSettings {
            extra: vec![RedactRule {
                id: "acme".into(),
                regex: r"acme_[a-z0-9]{8}".into(),
                keywords: vec!["acme_".into()],
                validator: None,
            }],
            allow: vec!["demo:demo@".into()],
            emails: false,
        };
        let r = Redactor::with_rules(Arc::new(Rules::from_settings(&s).unwrap()));
        assert_eq!(
            r.redact("acme_abcd1234 postgres://demo:demo@db a@b.io"),
            "[REDACTED:acme:1] postgres://demo:demo@db a@b.io"
        );
        let bad = RedactSettings {
            allow: vec!["(".into()],
            ..RedactSettings::default()
        };
        assert!(Rules::from_settings(&bad).is_err());
    }
}
