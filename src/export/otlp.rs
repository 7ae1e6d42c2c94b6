//! An investigation as OpenTelemetry spans, in OTLP/HTTP JSON, for the team's
//! tracing backend (Tempo, Jaeger, Langfuse's OTLP endpoint, any collector).
//!
//! The trace id is the investigation's, and every span keeps the span id the
//! store gave it, so feedback joins on the same ids everywhere. Names and
//! attributes follow the GenAI semantic conventions: the investigation is
//! `invoke_workflow`, a branch `invoke_agent <strategy>`, a tool call
//! `execute_tool <tool>`. Thoughts, hypotheses, guidance and evidence are
//! zero-length spans under their branch or call (feedback can judge them);
//! feedback is an event on the span it judges. Every text is redacted first.

use serde_json::{Value, json};

use crate::model::{
    BranchState, BranchStatus, CallStatus, Feedback, InvestigationState, InvestigationStatus, SpanId, Step, enum_name,
};
use crate::tools::redact::Redactor;

const SCOPE: &str = "inquest";
/// Longest text attribute sent; the rest is cut with a note.
const TEXT_MAX: usize = 4096;

fn s(key: &str, v: impl Into<String>) -> Value {
    json!({"key": key, "value": {"stringValue": v.into()}})
}
fn i(key: &str, v: i64) -> Value {
    // OTLP JSON carries 64-bit integers as strings.
    json!({"key": key, "value": {"intValue": v.to_string()}})
}
fn d(key: &str, v: f64) -> Value {
    json!({"key": key, "value": {"doubleValue": v}})
}

struct Builder<'a> {
    trace: String,
    spans: Vec<Value>,
    red: &'a Redactor,
}

impl Builder<'_> {
    /// Guidance, to the whole investigation or to one branch: a zero-length span under `parent`.
    fn guidance(&mut self, g: &Step, parent: SpanId) {
        if let Step::Guidance { span, at, text, author } = g {
            let attrs = vec![
                s("inquest.guidance.text", self.text(text)),
                s("inquest.author", self.text(author)),
            ];
            self.span(*span, Some(parent), "guidance", at.0, at.0, attrs, None);
        }
    }

    fn text(&self, t: &str) -> String {
        let t = self.red.redact(t);
        if t.len() <= TEXT_MAX {
            return t;
        }
        let mut cut = TEXT_MAX;
        while !t.is_char_boundary(cut) {
            cut -= 1;
        }
        format!("{}… [{} more bytes cut]", &t[..cut], t.len() - cut)
    }

    #[allow(clippy::too_many_arguments)]
    fn span(
        &mut self,
        id: SpanId,
        parent: Option<SpanId>,
        name: &str,
        start_ns: i64,
        end_ns: i64,
        attributes: Vec<Value>,
        error: Option<&str>,
    ) {
        let mut v = json!({
            "traceId": self.trace,
            "spanId": id.to_string(),
            "name": name,
            "kind": 1,
            "startTimeUnixNano": start_ns.max(0).to_string(),
            "endTimeUnixNano": end_ns.max(start_ns).max(0).to_string(),
            "attributes": attributes,
            "status": match error {
                Some(m) => json!({"code": 2, "message": self.text(m)}),
                None => json!({"code": 0}),
            },
        });
        if let Some(p) = parent {
            v["parentSpanId"] = json!(p.to_string());
        }
        self.spans.push(v);
    }
}

impl Builder<'_> {
    /// The investigation: the root span, with the alert and the top root causes.
    fn root(&mut self, st: &InvestigationState, end: i64) {
        let mut root_attrs = vec![
            s("gen_ai.operation.name", "invoke_workflow"),
            s("inquest.alert.name", self.text(&st.alert.name)),
            s("inquest.alert.severity", self.text(&st.alert.severity)),
            s("inquest.alert.fingerprint", self.text(&st.alert.fingerprint)),
            s("inquest.bundle_id", &st.bundle_id),
            s("inquest.reasoner", &st.reasoner),
            s("inquest.source", self.text(&st.source)),
            s("inquest.status", st.status.as_str()),
            i("inquest.tool_calls", st.tool_calls as i64),
            i("gen_ai.usage.total_tokens", st.tokens as i64),
        ];
        if let Some(svc) = st.alert.service() {
            root_attrs.push(s("inquest.alert.service", self.text(svc)));
        }
        for (n, rc) in st.root_causes.iter().enumerate().take(3) {
            let p = format!("inquest.root_cause.{}", n + 1);
            root_attrs.push(s(&format!("{p}.service"), self.text(&rc.service)));
            root_attrs.push(s(&format!("{p}.kind"), rc.kind.as_str()));
            root_attrs.push(d(&format!("{p}.confidence"), rc.confidence));
            root_attrs.push(s(&format!("{p}.statement"), self.text(&rc.statement)));
        }
        if !st.sources.read.is_empty() {
            root_attrs.push(s("inquest.sources.read", st.sources.read.join(",")));
        }
        if !st.sources.unavailable.is_empty() {
            let names: Vec<&str> = st.sources.unavailable.iter().map(|u| u.source.as_str()).collect();
            root_attrs.push(s("inquest.sources.unavailable", names.join(",")));
        }
        let failed = (st.status == InvestigationStatus::Failed).then_some("the investigation failed");
        let name = format!("invoke_workflow investigate {}", self.text(&st.alert.name));
        self.span(st.root_span, None, &name, st.started_at.0, end, root_attrs, failed);
    }

    /// A branch under its parent branch or the root, then its steps under it; a branch
    /// still running ends with the trace.
    fn branch(&mut self, br: &BranchState, root: SpanId, end: i64) {
        let bend = br.ended_at.map(|t| t.0).unwrap_or(end);
        let mut attrs = vec![
            s("gen_ai.operation.name", "invoke_agent"),
            s("gen_ai.agent.name", &br.strategy),
            s("inquest.branch.status", br.status.as_str()),
            i("inquest.tool_calls", br.tool_calls as i64),
            i("gen_ai.usage.total_tokens", br.tokens as i64),
        ];
        if let Some(c) = br.best_confidence() {
            attrs.push(d("inquest.best_confidence", c));
        }
        let err = matches!(br.status, BranchStatus::Failed).then_some("the branch failed");
        let parent = br.parent.unwrap_or(root);
        self.span(
            br.span,
            Some(parent),
            &format!("invoke_agent {}", br.strategy),
            br.started_at.0,
            bend,
            attrs,
            err,
        );
        for step in &br.steps {
            match step {
                Step::Thought { span, at, text } => {
                    let attrs = vec![s("inquest.thought", self.text(text))];
                    self.span(*span, Some(br.span), "thought", at.0, at.0, attrs, None);
                }
                Step::ToolCall { .. } => self.tool_call(step, br.span),
                Step::Guidance { .. } => self.guidance(step, br.span),
                Step::Hypothesis { .. } => self.hypothesis(step, br.span),
                // The branch span's own status says how it ended.
                Step::Status { .. } => {}
            }
        }
    }

    /// A tool call lasts as long as it took; a call that did not answer is an error span.
    fn tool_call(&mut self, step: &Step, branch: SpanId) {
        let Step::ToolCall {
            span,
            at,
            tool,
            args,
            status,
            duration_ms,
            summary,
            error,
            ..
        } = step
        else {
            return;
        };
        let mut attrs = vec![
            s("gen_ai.operation.name", "execute_tool"),
            s("gen_ai.tool.name", tool),
            s("gen_ai.tool.call.id", span.to_string()),
            s("gen_ai.tool.type", "datastore"),
            s("gen_ai.tool.call.arguments", self.text(&args.to_string())),
        ];
        if let Some(sm) = summary {
            attrs.push(s("inquest.tool.summary", self.text(sm)));
        }
        if let Some(st) = status {
            attrs.push(s("inquest.tool.status", enum_name(st)));
        }
        let err = match status {
            Some(CallStatus::Ok) | None => None,
            Some(other) => {
                attrs.push(s("error.type", enum_name(other)));
                Some(error.clone().unwrap_or_else(|| enum_name(other)))
            }
        };
        let dur = duration_ms.unwrap_or(0) as i64 * 1_000_000;
        let name = format!("execute_tool {tool}");
        self.span(*span, Some(branch), &name, at.0, at.0 + dur, attrs, err.as_deref());
    }

    fn hypothesis(&mut self, step: &Step, branch: SpanId) {
        if let Step::Hypothesis {
            span,
            at,
            hypothesis: h,
        } = step
        {
            let attrs = vec![
                s("inquest.hypothesis.service", self.text(&h.service)),
                s("inquest.hypothesis.kind", h.kind.as_str()),
                d("inquest.hypothesis.confidence", h.confidence),
                s("inquest.hypothesis.statement", self.text(&h.statement)),
                s(
                    "inquest.hypothesis.evidence",
                    h.evidence.iter().map(|e| e.to_string()).collect::<Vec<_>>().join(","),
                ),
            ];
            self.span(*span, Some(branch), "propose_root_cause", at.0, at.0, attrs, None);
        }
    }

    /// Evidence under the call that found it, at that span's end (the body stays in the
    /// store; its summary travels).
    fn evidence(&mut self, st: &InvestigationState) {
        let mut evidence: Vec<_> = st.evidence.values().collect();
        evidence.sort_by_key(|e| e.span);
        for e in evidence {
            let parent = e.tool_call.or(e.branch).unwrap_or(st.root_span);
            let at = self
                .spans
                .iter()
                .find(|s| s["spanId"] == parent.to_string())
                .and_then(|s| s["endTimeUnixNano"].as_str().and_then(|t| t.parse::<i64>().ok()))
                .unwrap_or(st.started_at.0);
            let attrs = vec![
                s("inquest.evidence.kind", enum_name(&e.evidence.kind)),
                s("inquest.evidence.summary", self.text(&e.evidence.summary)),
                i("inquest.evidence.lines", e.evidence.body.lines().count() as i64),
            ];
            self.span(e.span, Some(parent), "evidence", at, at, attrs, None);
        }
    }

    /// Feedback: an event on the span it judges (the root span when that span is not sent).
    fn feedback(&mut self, f: &Feedback) {
        let target = f.span_id.to_string();
        let idx = self.spans.iter().position(|s| s["spanId"] == target).unwrap_or(0);
        let mut attrs = vec![
            s("inquest.feedback.target", &f.target),
            s("inquest.author", self.text(&f.author)),
        ];
        if self.spans[idx]["spanId"] != target.as_str() {
            attrs.push(s("inquest.feedback.span_id", target.clone()));
        }
        if let Some(r) = f.rating {
            attrs.push(s("inquest.feedback.rating", enum_name(&r)));
        }
        if let Some(g) = f.grade {
            attrs.push(s("inquest.feedback.grade", g.name()));
        }
        if let Some(c) = &f.comment {
            attrs.push(s("inquest.feedback.comment", self.text(c)));
        }
        if let Some(h) = &f.highlight {
            attrs.push(i("inquest.feedback.start_line", h.start_line as i64));
            attrs.push(i("inquest.feedback.end_line", h.end_line as i64));
            attrs.push(s("inquest.feedback.quote", self.text(&h.quote)));
        }
        let event = json!({"timeUnixNano": f.at.0.max(0).to_string(), "name": "inquest.feedback", "attributes": attrs});
        let span = &mut self.spans[idx];
        match span["events"].as_array_mut() {
            Some(list) => list.push(event),
            None => span["events"] = json!([event]),
        }
    }
}

/// Where the trace ends: when it finished or, still open (or interrupted), at its last step.
fn end_of(st: &InvestigationState) -> i64 {
    st.finished_at.map(|t| t.0).unwrap_or_else(|| {
        st.branches
            .iter()
            .flat_map(|b| b.steps.iter().map(|s| s.at().0).chain(b.ended_at.map(|t| t.0)))
            .max()
            .unwrap_or(st.started_at.0)
    })
}

/// The OTLP/HTTP JSON request body for one investigation and its feedback.
pub fn payload(st: &InvestigationState, feedback: &[Feedback]) -> Value {
    let red = Redactor::new();
    let mut b = Builder {
        trace: st.trace_id.to_string(),
        spans: Vec::new(),
        red: &red,
    };
    let end = end_of(st);
    b.root(st, end);
    for g in &st.guidance_steps {
        b.guidance(g, st.root_span);
    }
    for br in &st.branches {
        b.branch(br, st.root_span, end);
    }
    b.evidence(st);
    for f in feedback {
        b.feedback(f);
    }
    json!({
        "resourceSpans": [{
            "resource": {"attributes": [
                s("service.name", "inquest"),
                s("service.version", env!("CARGO_PKG_VERSION")),
            ]},
            "scopeSpans": [{
                "scope": {"name": SCOPE, "version": env!("CARGO_PKG_VERSION")},
                "spans": b.spans,
            }],
        }]
    })
}

/// The spans a payload holds.
pub fn span_count(payload: &Value) -> usize {
    spans(payload).len()
}

/// The spans of a payload, in the order they were built (the root first).
pub fn spans(payload: &Value) -> &[Value] {
    payload["resourceSpans"][0]["scopeSpans"][0]["spans"]
        .as_array()
        .map_or(&[], Vec::as_slice)
}

/// Where spans go: a full `/v1/traces` URL is used as given; a bare
/// collector address (no path) gets `/v1/traces`, as OTEL_EXPORTER_OTLP_ENDPOINT does.
pub fn traces_url(url: &str) -> Result<String, String> {
    let parsed = super::http_url("--otlp", url)?;
    Ok(if parsed.path() == "/" || parsed.path().is_empty() {
        format!("{}/v1/traces", url.trim_end_matches('/'))
    } else {
        url.to_string()
    })
}

/// Headers from `OTEL_EXPORTER_OTLP_HEADERS` (`key=value,key2=value2`, values
/// percent-encoded), as OpenTelemetry SDKs read them: where auth comes from.
pub fn env_headers(raw: Option<&str>) -> Result<Vec<(String, String)>, String> {
    let Some(raw) = raw.filter(|r| !r.trim().is_empty()) else {
        return Ok(Vec::new());
    };
    raw.split(',')
        .filter(|p| !p.trim().is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').ok_or_else(|| {
                "OTEL_EXPORTER_OTLP_HEADERS: expected key=value pairs separated by commas".to_string()
            })?;
            let v = percent_decode(v.trim());
            Ok((k.trim().to_string(), v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut n = 0;
    while n < b.len() {
        if b[n] == b'%'
            && n + 2 < b.len()
            && let Ok(x) = u8::from_str_radix(std::str::from_utf8(&b[n + 1..n + 3]).unwrap_or("zz"), 16)
        {
            out.push(x);
            n += 3;
            continue;
        }
        out.push(b[n]);
        n += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// POSTs the body; returns what the collector said of it (rejected spans, if any).
pub async fn send(
    url: &str,
    headers: &[(String, String)],
    body: &Value,
    timeout: std::time::Duration,
) -> Result<String, String> {
    let text = super::Poster::new(timeout)?
        .post_json(url, headers, body.to_string())
        .await?;
    let v: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
    let rejected = v["partialSuccess"]["rejectedSpans"]
        .as_str()
        .and_then(|r| r.parse::<i64>().ok())
        .or_else(|| v["partialSuccess"]["rejectedSpans"].as_i64())
        .unwrap_or(0);
    Ok(if rejected > 0 {
        format!(
            "{rejected} spans rejected: {}",
            crate::tools::sanitize::clean(v["partialSuccess"]["errorMessage"].as_str().unwrap_or(""))
        )
    } else {
        String::new()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn collector_urls_and_headers() {
        assert_eq!(traces_url("http://otel:4318").unwrap(), "http://otel:4318/v1/traces");
        assert_eq!(traces_url("http://otel:4318/").unwrap(), "http://otel:4318/v1/traces");
        assert_eq!(
            traces_url("https://cloud.langfuse.com/api/public/otel/v1/traces").unwrap(),
            "https://cloud.langfuse.com/api/public/otel/v1/traces"
        );
        assert!(traces_url("otel:4318").is_err());
        assert!(traces_url("ftp://x").is_err());
        assert_eq!(
            env_headers(Some("Authorization=Basic%20abc%3D,x-scope-orgid = team-a")).unwrap(),
            vec![
                ("Authorization".to_string(), "Basic abc=".to_string()),
                ("x-scope-orgid".to_string(), "team-a".to_string())
            ]
        );
        assert!(env_headers(Some("novalue")).is_err());
        assert!(env_headers(None).unwrap().is_empty());
    }
}
