//! Who may post: a shared bearer token (`[serve] token_env`) for every route
//! but the health check, and PagerDuty's HMAC signature on its webhook.

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// The shared bearer token. Only its digest is kept, so comparing takes the
/// same time whatever the length or the first differing byte of a guess.
#[derive(Clone)]
pub struct Token([u8; 32]);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(..)")
    }
}

impl Token {
    pub fn new(secret: &str) -> Token {
        Token(Sha256::digest(secret.as_bytes()).into())
    }

    /// Whether an `Authorization` header value carries this token.
    pub fn allows(&self, authorization: Option<&str>) -> bool {
        let Some(given) = authorization.and_then(|h| {
            let (scheme, rest) = h.trim().split_once(' ')?;
            scheme.eq_ignore_ascii_case("bearer").then_some(rest.trim())
        }) else {
            return false;
        };
        let digest: [u8; 32] = Sha256::digest(given.as_bytes()).into();
        digest.iter().zip(self.0.iter()).fold(0u8, |acc, (a, b)| acc | (a ^ b)) == 0
    }
}

/// A request's author as given (`X-Inquest-User`, a `[serve.users]` name):
/// 1 to 64 letters, digits and `. _ @ + -`, so it is safe in a terminal, a
/// log line and JSON as it is.
pub fn author_name(s: &str) -> Option<&str> {
    let ok = !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"._@+-".contains(&b));
    ok.then_some(s)
}

/// Whether any `v1=` signature in the header is the HMAC-SHA256 of the body.
pub fn signed(secret: &[u8], header: &str, body: &[u8]) -> bool {
    header
        .split(',')
        .filter_map(|s| s.trim().strip_prefix("v1="))
        .any(|hex| {
            let Some(sig) = decode_hex(hex) else { return false };
            let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret) else {
                return false;
            };
            mac.update(body);
            // Constant-time comparison.
            mac.verify_slice(&sig).is_ok()
        })
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_checked_against_the_raw_body() {
        let body = br#"{"event":{"event_type":"incident.triggered"}}"#;
        let mut mac = Hmac::<Sha256>::new_from_slice(b"s3cret").unwrap();
        mac.update(body);
        let good: String = mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect();
        assert!(signed(b"s3cret", &format!("v1={good}"), body));
        assert!(
            signed(b"s3cret", &format!("v1=00ff, v1={good}"), body),
            "any of several signatures"
        );
        assert!(!signed(b"other", &format!("v1={good}"), body));
        assert!(!signed(b"s3cret", &format!("v1={good}"), b"tampered"));
        assert!(!signed(b"s3cret", "v1=zz", body));
        assert!(!signed(b"s3cret", "", body));
    }

    #[test]
    fn author_names_are_short_and_plain() {
        assert_eq!(author_name("alice"), Some("alice"));
        assert_eq!(
            author_name("bob.smith+sre@example.com"),
            Some("bob.smith+sre@example.com")
        );
        assert_eq!(author_name(""), None);
        assert_eq!(author_name("a b"), None);
        assert_eq!(author_name("eve\u{1b}[2J"), None);
        assert_eq!(author_name("élise"), None);
        assert_eq!(author_name(&"a".repeat(65)), None);
    }

    #[test]
    fn the_bearer_token_must_match_exactly() {
        let t = Token::new("s3cret");
        assert!(t.allows(Some("Bearer s3cret")));
        assert!(t.allows(Some("bearer  s3cret ")));
        assert!(!t.allows(Some("Bearer s3cre")));
        assert!(!t.allows(Some("Basic s3cret")));
        assert!(!t.allows(Some("s3cret")));
        assert!(!t.allows(None));
    }
}
