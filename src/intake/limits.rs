//! `[serve]` resolved: every default filled in, durations parsed, the token
//! read from its environment variable.

use std::path::PathBuf;
use std::time::Duration;

use super::auth::Token;
use crate::config::Serve;
use crate::model::parse_duration_ms;

/// How the server runs, as `[serve]` and its defaults say.
#[derive(Clone, Debug)]
pub struct Limits {
    pub workers: usize,
    pub max_queue: usize,
    pub drain: Duration,
    pub token: Option<Token>,
    /// `[serve.users]`: each user's name and token.
    pub users: Vec<(String, Token)>,
    pub max_body_bytes: usize,
    pub max_alerts_per_request: usize,
    pub max_connections: usize,
    pub header_timeout: Duration,
    pub body_timeout: Duration,
    /// The certificate chain and key files, for HTTPS.
    pub tls: Option<(PathBuf, PathBuf)>,
}

pub const DEFAULT_WORKERS: usize = 2;
pub const DEFAULT_MAX_QUEUE: usize = 10_000;
pub const DEFAULT_DRAIN: Duration = Duration::from_secs(20);
pub const DEFAULT_MAX_BODY: usize = 4 << 20;
pub const DEFAULT_MAX_ALERTS: usize = 5_000;
pub const DEFAULT_MAX_CONNECTIONS: usize = 512;
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// File descriptors kept back from connections: the store, its WAL, the
/// investigations' own stores and source clients, the log file.
const FD_RESERVE: usize = 64;

impl Limits {
    /// `[serve]` with the defaults filled in; `env` reads the token's variable.
    pub fn resolve(s: &Serve, env: impl Fn(&str) -> Option<String>) -> Result<Limits, String> {
        let dur = |field: &str, v: &Option<String>, default: Duration| match v {
            None => Ok(default),
            Some(text) => parse_duration_ms(text)
                .map(|ms| Duration::from_millis(ms.max(0) as u64))
                .map_err(|e| format!("[serve] {field}: {e}")),
        };
        let token = match &s.token_env {
            None => None,
            Some(name) => match env(name) {
                Some(t) if !t.trim().is_empty() => Some(Token::new(t.trim())),
                _ => {
                    return Err(format!("[serve] token_env: the environment variable {name} is not set"));
                }
            },
        };
        let mut users = Vec::new();
        for (name, u) in &s.users {
            if super::auth::author_name(name).is_none() {
                return Err(format!(
                    "[serve.users] {name:?}: expected a user name of letters, digits and . _ @ + - (at most 64)"
                ));
            }
            match env(&u.token_env) {
                Some(t) if !t.trim().is_empty() => users.push((name.clone(), Token::new(t.trim()))),
                _ => {
                    return Err(format!(
                        "[serve.users] {name}: the environment variable {} is not set",
                        u.token_env
                    ));
                }
            }
        }
        let tls = match (&s.tls_cert_file, &s.tls_key_file) {
            (Some(c), Some(k)) => Some((c.clone(), k.clone())),
            (None, None) => None,
            _ => return Err("[serve]: tls_cert_file and tls_key_file go together".into()),
        };
        let l = &s.limits;
        let wanted = l.max_connections.unwrap_or(DEFAULT_MAX_CONNECTIONS);
        let max_connections = match open_file_limit() {
            Some(n) if l.max_connections.is_none() => wanted.min(n.saturating_sub(FD_RESERVE).max(8)),
            _ => wanted,
        };
        Ok(Limits {
            workers: s.workers.unwrap_or(DEFAULT_WORKERS).max(1),
            max_queue: s.max_queue.unwrap_or(DEFAULT_MAX_QUEUE),
            drain: dur("drain", &s.drain, DEFAULT_DRAIN)?,
            token,
            users,
            max_body_bytes: l.max_body_bytes.unwrap_or(DEFAULT_MAX_BODY),
            max_alerts_per_request: l.max_alerts_per_request.unwrap_or(DEFAULT_MAX_ALERTS).max(1),
            max_connections: max_connections.max(1),
            header_timeout: dur("limits.header_timeout", &l.header_timeout, DEFAULT_TIMEOUT)?,
            body_timeout: dur("limits.body_timeout", &l.body_timeout, DEFAULT_TIMEOUT)?,
            tls,
        })
    }
}

/// No token, or not one of the server's.
#[derive(Debug, PartialEq)]
pub struct Unauthorized;

impl Limits {
    /// Whether requests must carry a bearer token.
    pub fn auth_required(&self) -> bool {
        self.token.is_some() || !self.users.is_empty()
    }

    /// Who an `Authorization` header proves the client is: `Ok(None)` for the
    /// shared token (or when no token is required), `Ok(Some(user))` for a
    /// `[serve.users]` token, `Err` when a token is required and not given.
    /// Every token is compared, so the time taken does not tell which matched.
    pub fn authenticate(&self, authorization: Option<&str>) -> Result<Option<&str>, Unauthorized> {
        if !self.auth_required() {
            return Ok(None);
        }
        let shared = self.token.as_ref().is_some_and(|t| t.allows(authorization));
        let mut user = None;
        for (name, t) in &self.users {
            if t.allows(authorization) && user.is_none() {
                user = Some(name.as_str());
            }
        }
        match (user, shared) {
            (Some(u), _) => Ok(Some(u)),
            (None, true) => Ok(None),
            (None, false) => Err(Unauthorized),
        }
    }
}

/// The soft limit on open files, where `/proc` tells it.
fn open_file_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_fill_in_and_bad_values_are_named() {
        let l = Limits::resolve(&Serve::default(), |_| None).unwrap();
        assert_eq!((l.workers, l.max_queue, l.drain), (2, 10_000, Duration::from_secs(20)));
        assert!(l.token.is_none());
        let mut s = Serve {
            drain: Some("soon".into()),
            ..Serve::default()
        };
        assert!(Limits::resolve(&s, |_| None).unwrap_err().contains("[serve] drain"));
        s.drain = Some("500ms".into());
        s.token_env = Some("T".into());
        assert!(Limits::resolve(&s, |_| None).unwrap_err().contains("T is not set"));
        let l = Limits::resolve(&s, |_| Some("abc".into())).unwrap();
        assert_eq!(l.drain, Duration::from_millis(500));
        assert!(l.token.unwrap().allows(Some("Bearer abc")));
    }

    #[test]
    fn a_user_token_names_its_user_and_the_shared_token_names_nobody() {
        let mut s = Serve {
            token_env: Some("T".into()),
            ..Serve::default()
        };
        s.users
            .insert("alice".into(), crate::config::ServeUser { token_env: "TA".into() });
        let env = |n: &str| Some(if n == "TA" { "alice-secret" } else { "shared" }.to_string());
        let l = Limits::resolve(&s, env).unwrap();
        assert_eq!(l.authenticate(Some("Bearer alice-secret")), Ok(Some("alice")));
        assert_eq!(l.authenticate(Some("Bearer shared")), Ok(None));
        assert_eq!(l.authenticate(Some("Bearer nope")), Err(Unauthorized));
        assert_eq!(l.authenticate(None), Err(Unauthorized));
        assert!(
            Limits::resolve(&s, |n| (n == "T").then(|| "x".into()))
                .unwrap_err()
                .contains("TA is not set")
        );
        s.users
            .insert("bad name".into(), crate::config::ServeUser { token_env: "TA".into() });
        assert!(Limits::resolve(&s, env).unwrap_err().contains("bad name"));
    }
}
