//! Secrets out of everything that leaves for a model: API keys, bearer
//! tokens, passwords in URLs, AWS keys, private key blocks, JWTs and email
//! addresses become placeholders, the same secret the same placeholder within
//! one investigation, so the reasoning still lines up.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use regex::Regex;

/// (kind, pattern, capture group holding the secret).
fn patterns() -> &'static [(&'static str, Regex, usize)] {
    static P: OnceLock<Vec<(&'static str, Regex, usize)>> = OnceLock::new();
    P.get_or_init(|| {
        let r = |s: &str| Regex::new(s).expect("a valid built-in pattern");
        vec![
            ("PRIVATE_KEY", r(r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?-----END [A-Z ]*PRIVATE KEY-----"), 0),
            ("JWT", r(r"\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\b"), 0),
            ("API_KEY", r(r"\b(?:sk|pk|rk)-(?:ant-|proj-)?[A-Za-z0-9_-]{16,}\b"), 0),
            ("AWS_KEY", r(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b"), 0),
            ("GITHUB_TOKEN", r(r"\bgh[pousr]_[A-Za-z0-9]{30,}\b"), 0),
            ("TOKEN", r(r"(?i)\bbearer\s+([A-Za-z0-9._~+/=-]{12,})"), 1),
            ("PASSWORD", r(r"(?i)\b[a-z][a-z0-9+.-]*://[^\s:/@]+:([^\s@/]+)@"), 1),
            (
                "SECRET",
                r(r#"(?i)\b(?:password|passwd|secret|api[_-]?key|access[_-]?token|auth[_-]?token)\b["']?\s*[:=]\s*["']?([^\s"',;]{6,})"#),
                1,
            ),
            ("EMAIL", r(r"\b[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}\b"), 0),
        ]
    })
}

/// One investigation's redactions.
#[derive(Default)]
pub struct Redactor {
    seen: Mutex<HashMap<String, String>>,
}

impl Redactor {
    pub fn new() -> Redactor {
        Redactor::default()
    }

    fn placeholder(&self, kind: &str, secret: &str) -> String {
        let Ok(mut seen) = self.seen.lock() else {
            return format!("[{kind}]");
        };
        let n = seen.len() + 1;
        seen.entry(secret.to_string())
            .or_insert_with(|| format!("[{kind}_{n}]"))
            .clone()
    }

    /// `text` with every secret replaced.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_string();
        for (kind, re, group) in patterns() {
            if !re.is_match(&out) {
                continue;
            }
            out = re
                .replace_all(&out, |c: &regex::Captures| {
                    let whole = c.get(0).map(|m| m.as_str()).unwrap_or("");
                    match c.get(*group) {
                        Some(secret) if *group > 0 => {
                            let m0 = c.get(0).map(|m| m.start()).unwrap_or(0);
                            let (a, b) = (secret.start() - m0, secret.end() - m0);
                            format!(
                                "{}{}{}",
                                &whole[..a],
                                self.placeholder(kind, secret.as_str()),
                                &whole[b..]
                            )
                        }
                        _ => self.placeholder(kind, whole),
                    }
                })
                .into_owned();
        }
        out
    }

    /// How many distinct secrets were replaced.
    pub fn count(&self) -> usize {
        self.seen.lock().map(|s| s.len()).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            out.contains("postgres://app:[PASSWORD_") && out.contains("@orders-db:5432"),
            "{out}"
        );
        assert!(out.contains("Bearer [TOKEN_"), "{out}");
        // The same secret, the same placeholder.
        let again = r.redact("retry with password=s3cr3t-p4ss");
        let p = out.split("password=").nth(1).unwrap().split(' ').next().unwrap();
        assert!(again.contains(p), "{again} vs {p}");
        assert_eq!(
            r.redact("nothing secret here: p99 412ms"),
            "nothing secret here: p99 412ms"
        );
    }

    #[test]
    fn keys_and_tokens_of_every_shape() {
        let r = Redactor::new();
        let pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----";
        let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U";
        let out = r.redact(&format!("{pem} token {jwt} ghp_abcdefghijklmnopqrstuvwxyz0123456789"));
        assert!(
            !out.contains("MIIEow") && !out.contains("eyJhbGci") && !out.contains("ghp_abc"),
            "{out}"
        );
        assert_eq!(r.count(), 3);
    }
}
