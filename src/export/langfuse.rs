//! Langfuse: the investigation through Langfuse's OTLP endpoint (so its trace
//! id is the investigation's and every observation id a span id), then each
//! piece of feedback as a score on the observation it judges.
//!
//! Keys come from the environment as Langfuse's own SDKs read them:
//! `LANGFUSE_PUBLIC_KEY`, `LANGFUSE_SECRET_KEY`, and `LANGFUSE_HOST`
//! (default `https://cloud.langfuse.com`).

use base64::Engine;
use serde_json::{Value, json};

use crate::model::{Feedback, Rating};
use crate::tools::redact::Redactor;

pub const DEFAULT_HOST: &str = "https://cloud.langfuse.com";

/// Where and as whom to send.
pub struct Langfuse {
    pub host: String,
    public_key: String,
    secret_key: String,
}

impl Langfuse {
    /// From the environment (`env` reads a variable); `host` overrides LANGFUSE_HOST.
    pub fn from_env(host: Option<&str>, env: impl Fn(&str) -> Option<String>) -> Result<Langfuse, String> {
        let key = |name: &str| {
            env(name).filter(|v| !v.trim().is_empty()).ok_or_else(|| {
                format!("--langfuse: set {name} (Langfuse → project settings → API keys) in the environment")
            })
        };
        let host = host
            .map(str::to_string)
            .or_else(|| env("LANGFUSE_HOST"))
            .unwrap_or_else(|| DEFAULT_HOST.into());
        super::http_url("Langfuse host", &host)?;
        Ok(Langfuse {
            host: host.trim_end_matches('/').to_string(),
            public_key: key("LANGFUSE_PUBLIC_KEY")?,
            secret_key: key("LANGFUSE_SECRET_KEY")?,
        })
    }

    pub fn otel_url(&self) -> String {
        format!("{}/api/public/otel/v1/traces", self.host)
    }

    pub fn scores_url(&self) -> String {
        format!("{}/api/public/scores", self.host)
    }

    /// Basic auth, public key as user and secret key as password; and the
    /// ingestion version newer servers want from direct exporters.
    pub fn headers(&self) -> Vec<(String, String)> {
        let token =
            base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", self.public_key, self.secret_key));
        vec![
            ("Authorization".into(), format!("Basic {token}")),
            ("x-langfuse-ingestion-version".into(), "4".into()),
        ]
    }
}

/// One score per piece of feedback: a grade is categorical (`correct`,
/// `partly`, `wrong`), a rating boolean (up 1, down 0), a comment alone a
/// categorical `comment`; the comment and quoted lines travel as the score's
/// comment, redacted. Ids are stable, so sending again updates, not duplicates.
pub fn scores(feedback: &[Feedback]) -> Vec<Value> {
    let red = Redactor::new();
    let mut out = Vec::new();
    for f in feedback {
        let comment = super::feedback_note(f, &red);
        let (name, value, kind) = match (f.grade, f.rating) {
            (Some(g), _) => ("root_cause_grade", json!(g.name()), "CATEGORICAL"),
            (None, Some(r)) => ("engineer_rating", json!(if r == Rating::Up { 1 } else { 0 }), "BOOLEAN"),
            (None, None) => ("engineer_comment", json!("comment"), "CATEGORICAL"),
        };
        let mut s = json!({
            "id": format!("inquest-{}-{}-{}-{}", f.trace_id, f.span_id, name, f.at.0),
            "traceId": f.trace_id.to_string(),
            "observationId": f.span_id.to_string(),
            "name": name,
            "value": value,
            "dataType": kind,
            "metadata": {
                "target": f.target,
                "author": red.redact(&f.author),
                "bundle_id": f.bundle_id,
                "feedback_id": f.id,
                "parent": f.parent,
            },
        });
        if !comment.is_empty() {
            s["comment"] = json!(comment);
        }
        out.push(s);
    }
    out
}

/// POSTs each score; returns how many were taken.
pub async fn send_scores(lf: &Langfuse, scores: &[Value], timeout: std::time::Duration) -> Result<usize, String> {
    let poster = super::Poster::new(timeout)?;
    let url = lf.scores_url();
    let headers = lf.headers();
    let mut sent = 0;
    for s in scores {
        poster
            .post_json(&url, &headers, s.to_string())
            .await
            .map_err(|e| format!("{e} ({sent} of {} scores sent)", scores.len()))?;
        sent += 1;
    }
    Ok(sent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_come_from_the_environment_and_are_named_when_missing() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |k: &str| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
        };
        let err = Langfuse::from_env(None, env(&[("LANGFUSE_PUBLIC_KEY", "pk-lf-1")]))
            .err()
            .unwrap();
        assert!(err.contains("LANGFUSE_SECRET_KEY"), "{err}");
        let lf = Langfuse::from_env(
            None,
            env(&[("LANGFUSE_PUBLIC_KEY", "pk"), ("LANGFUSE_SECRET_KEY", "sk")]),
        )
        .unwrap();
        assert_eq!(lf.otel_url(), "https://cloud.langfuse.com/api/public/otel/v1/traces");
        assert_eq!(lf.headers()[0].1, "Basic cGs6c2s=");
        let lf = Langfuse::from_env(
            Some("http://127.0.0.1:3000/"),
            env(&[
                ("LANGFUSE_PUBLIC_KEY", "pk"),
                ("LANGFUSE_SECRET_KEY", "sk"),
                ("LANGFUSE_HOST", "http://ignored"),
            ]),
        )
        .unwrap();
        assert_eq!(lf.scores_url(), "http://127.0.0.1:3000/api/public/scores");
    }

    #[test]
    fn a_reply_score_names_the_feedback_it_refines() {
        use crate::model::{SpanId, Timestamp, TraceId};
        let grade = Feedback {
            id: "00000000000000a1".into(),
            parent: None,
            spans: Vec::new(),
            trace_id: TraceId::random(),
            span_id: SpanId::random(),
            target: "root_cause".into(),
            rating: None,
            grade: Some(crate::model::Grade::Partly),
            highlight: None,
            comment: None,
            author: "a".into(),
            at: Timestamp::from_secs(1),
            bundle_id: "b".into(),
        };
        let reply = Feedback {
            id: "00000000000000a2".into(),
            parent: Some(grade.id.clone()),
            grade: None,
            comment: Some("the pool, not a deploy".into()),
            ..grade.clone()
        };
        let s = scores(&[grade, reply]);
        assert_eq!(s[0]["metadata"]["parent"], Value::Null);
        assert_eq!(s[1]["metadata"]["parent"], "00000000000000a1");
        let c = s[1]["comment"].as_str().unwrap();
        assert!(
            c.starts_with("the pool, not a deploy") && c.contains("in reply to feedback 00000000000000a1"),
            "{c}"
        );
    }
}
