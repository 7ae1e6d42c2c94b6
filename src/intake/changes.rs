//! `POST /v1/changes`: what CI/CD pipelines tell the server they changed
//! (deploys, config changes, scaling, feature flags, rollbacks), validated,
//! sanitized, redacted and stored, so that investigations' `changes_list`
//! finds them; `GET /v1/changes?service=&since=` lists them.

use hyper::StatusCode;
use hyper::http::request::Parts;
use serde_json::{Value, json};

use super::routes::Malformed;
use super::server::{Reply, Server, reply};
use crate::model::Timestamp;
use crate::store::{RecordedChange, Store};
use crate::tools::sanitize::{clean, json_pretty};

/// The kinds a change may have.
pub const KINDS: &[&str] = &["deploy", "config", "scale", "feature_flag", "rollback", "other"];
/// Changes one request may carry.
pub const MAX_CHANGES: usize = 500;
/// Changes one listing answers at most.
const MAX_LISTED: usize = 1000;
const MAX_SUMMARY: usize = 1000;
const MAX_VERSION: usize = 128;

/// A service name as elsewhere: 1 to 128 letters, digits and `. _ -`, starting with a letter or digit.
pub fn service_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 128
        && s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

/// The changes of a request body: one object or an array of them; the first
/// problem found, naming the change and field, otherwise.
pub fn parse(body: &[u8], author: &str, now: Timestamp) -> Result<Vec<RecordedChange>, Malformed> {
    let v: Value = serde_json::from_slice(body).map_err(|e| {
        Malformed(format!(
            "expected a change or an array of changes (JSON): line {} column {}",
            e.line(),
            e.column()
        ))
    })?;
    let list = match v {
        Value::Array(a) => a,
        o @ Value::Object(_) => vec![o],
        _ => return Err(Malformed("expected a change object or an array of them".into())),
    };
    if list.is_empty() {
        return Err(Malformed("expected at least one change".into()));
    }
    if list.len() > MAX_CHANGES {
        return Err(Malformed(format!(
            "{} changes in one request: at most {MAX_CHANGES}",
            list.len()
        )));
    }
    list.iter()
        .enumerate()
        .map(|(i, c)| one(c, author, now).map_err(|e| Malformed(format!("changes[{i}].{e}"))))
        .collect()
}

fn one(c: &Value, author: &str, now: Timestamp) -> Result<RecordedChange, String> {
    let Some(o) = c.as_object() else {
        return Err("{...}: expected an object".into());
    };
    let known = ["service", "kind", "summary", "version", "at", "author"];
    if let Some(k) = o.keys().find(|k| !known.contains(&k.as_str())) {
        return Err(format!("{}: unknown field (known: {})", clean(k), known.join(", ")));
    }
    let text = |k: &str| -> Result<Option<&str>, String> {
        match o.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.as_str())),
            Some(_) => Err(format!("{k}: expected a string")),
        }
    };
    let service = text("service")?.ok_or("service: required")?;
    if !service_name(service) {
        return Err(format!(
            "service: {:?} is not a service name (1 to 128 letters, digits and . _ -)",
            clean(service)
        ));
    }
    let kind = text("kind")?.ok_or("kind: required")?;
    if !KINDS.contains(&kind) {
        return Err(format!("kind: {:?} is not one of {}", clean(kind), KINDS.join(", ")));
    }
    let summary = text("summary")?.unwrap_or("").trim();
    if summary.chars().count() > MAX_SUMMARY {
        return Err(format!("summary: longer than {MAX_SUMMARY} characters"));
    }
    let version = text("version")?.map(str::trim).filter(|v| !v.is_empty());
    if version.is_some_and(|v| v.chars().count() > MAX_VERSION) {
        return Err(format!("version: longer than {MAX_VERSION} characters"));
    }
    if summary.is_empty() && version.is_none() {
        return Err("summary: required (or a version)".into());
    }
    let at = match text("at")? {
        None => now,
        Some(s) => Timestamp::parse_rfc3339(s).map_err(|e| format!("at: expected an RFC 3339 time: {e}"))?,
    };
    let author = match text("author")? {
        None => author.to_string(),
        Some(a) if super::auth::author_name(a).is_some() => a.to_string(),
        Some(_) => return Err("author: expected 1 to 64 letters, digits and . _ @ + -".into()),
    };
    Ok(RecordedChange {
        at,
        service: service.to_string(),
        kind: kind.to_string(),
        summary: clean(summary),
        version: version.map(clean),
        author,
    })
}

/// `%XX` and `+` decoded, as a query string encodes them.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' if i + 2 < b.len() => {
                match u8::from_str_radix(std::str::from_utf8(&b[i + 1..i + 3]).unwrap_or("zz"), 16) {
                    Ok(x) => {
                        out.push(x);
                        i += 3;
                        continue;
                    }
                    Err(_) => out.push(b'%'),
                }
            }
            b'+' => out.push(b' '),
            x => out.push(x),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl Server {
    /// `POST /v1/changes`: stores the body's changes, answers 201 `{"stored": n}`.
    pub(super) async fn post_changes(&self, body: &[u8], author: String) -> Reply {
        let changes = match parse(body, &author, Timestamp::now()) {
            Ok(c) => c,
            Err(m) => return self.malformed(m),
        };
        match self.queue.blocking(move |s| s.add_changes(&changes)).await {
            Ok(n) => reply(StatusCode::CREATED, json!({"stored": n})),
            Err(e) => {
                tracing::error!(%e, "storing changes failed");
                reply(StatusCode::SERVICE_UNAVAILABLE, json!({"error": e.to_string()}))
            }
        }
    }

    /// `GET /v1/changes?service=&since=&until=`: the stored changes, oldest first.
    pub(super) async fn get_changes(&self, parts: &Parts) -> Reply {
        let (mut service, mut since, mut until) = (None, None, None);
        for (k, v) in parts
            .uri
            .query()
            .unwrap_or("")
            .split('&')
            .filter_map(|kv| kv.split_once('='))
        {
            let v = unescape(v);
            match k {
                "service" if service_name(&v) => service = Some(v),
                "service" => return self.malformed(Malformed(format!("service={}: not a service name", clean(&v)))),
                "since" | "until" => match Timestamp::parse_rfc3339(&v) {
                    Ok(t) if k == "since" => since = Some(t),
                    Ok(t) => until = Some(t),
                    Err(e) => return self.malformed(Malformed(format!("{k}={}: expected RFC 3339: {e}", clean(&v)))),
                },
                _ => {}
            }
        }
        match self
            .queue
            .blocking(move |s: &Store| s.changes(since, until, service.as_deref(), MAX_LISTED))
            .await
        {
            Ok(rows) => {
                let mut r = reply(StatusCode::OK, json!(null));
                *r.body_mut() =
                    http_body_util::Either::Left(http_body_util::Full::new((json_pretty(&rows) + "\n").into()));
                r
            }
            Err(e) => reply(StatusCode::SERVICE_UNAVAILABLE, json!({"error": e.to_string()})),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_or_an_array_is_read_with_defaults_and_clear_errors() {
        let now = Timestamp::from_secs(1_000);
        let one = parse(
            br#"{"service":"checkout","kind":"deploy","version":"v2.4.1"}"#,
            "ci",
            now,
        )
        .unwrap();
        assert_eq!(one[0].at, now, "at defaults to now");
        assert_eq!(one[0].author, "ci", "author defaults to the request's");
        let two = parse(
            br#"[{"service":"a","kind":"config","summary":"pool 20\u001b[2J","at":"2026-03-01T10:00:00Z","author":"bob"},
                 {"service":"b","kind":"rollback","summary":"back"}]"#,
            "ci",
            now,
        )
        .unwrap();
        assert_eq!(two.len(), 2);
        assert_eq!(two[0].author, "bob");
        assert!(!two[0].summary.contains('\u{1b}'), "sanitized");
        let err = |b: &[u8]| parse(b, "ci", now).unwrap_err().0;
        assert!(err(br#"{"service":"a","kind":"deploy!","summary":"x"}"#).contains("changes[0].kind"));
        assert!(
            err(br#"[{"service":"a","kind":"deploy","summary":"x"},{"service":"a b","kind":"deploy","summary":"x"}]"#)
                .starts_with("changes[1].service")
        );
        assert!(err(br#"{"service":"a","kind":"deploy"}"#).contains("summary: required"));
        assert!(err(br#"{"service":"a","kind":"deploy","summary":"x","at":"yesterday"}"#).contains("at: expected"));
        assert!(err(br#"{"service":"a","kind":"deploy","summary":"x","colour":1}"#).contains("colour: unknown"));
        assert!(err(b"[]").contains("at least one"));
        assert!(err(b"{nope").contains("line 1"));
    }

    #[test]
    fn query_values_are_unescaped() {
        assert_eq!(
            unescape("2026-03-01T10%3A00%3A00%2B01%3A00"),
            "2026-03-01T10:00:00+01:00"
        );
        assert_eq!(unescape("a%zz"), "a%zz");
    }
}
