//! OpenAI Chat Completions, streamed: text deltas, tool-call fragments joined
//! per index, and the usage chunk. Also what Ollama, vLLM and llama.cpp's
//! server speak through `base_url`. A request feature the server refuses is
//! dropped (see `compat`); refusing streaming with tools means asking without
//! streaming, and the whole answer is then passed on as one text delta.

use std::sync::Arc;

use serde_json::{Value, json};

use super::compat::{self, Compat, Feature};
use super::estimate;
use super::provider::{Endpoint, LlmError, Msg, OnText, Provider, ToolCall, ToolDef, Turn};
use super::stream;
use crate::model::BoxFuture;

/// A streamed answer that ended before a single event. llama-cpp-python does this
/// when it cannot stream a tool choice: 200, a ping, then nothing (the error is
/// only in its log). Taken as a refusal of streaming with tools.
const SILENT: &str = "the stream ended before the model said anything";

pub struct OpenAi {
    ep: Endpoint,
    http: reqwest::Client,
    compat: Arc<Compat>,
}

impl OpenAi {
    pub fn new(ep: Endpoint) -> Result<OpenAi, String> {
        let http = stream::client(&ep)?;
        let compat = Compat::for_endpoint(&format!("{} {}", ep.base_url, ep.model));
        Ok(OpenAi { ep, http, compat })
    }

    fn streaming(&self, tools: &[ToolDef]) -> bool {
        tools.is_empty() || self.compat.allows(Feature::StreamWithTools)
    }

    fn body(&self, system: &str, msgs: &[Msg], tools: &[ToolDef]) -> Value {
        let mut messages = vec![json!({"role": "system", "content": system})];
        for m in msgs {
            messages.push(match m {
                Msg::User(t) => json!({"role": "user", "content": t}),
                Msg::Assistant { text, calls } if calls.is_empty() => json!({"role": "assistant", "content": text}),
                Msg::Assistant { text, calls } => json!({
                    "role": "assistant", "content": if text.is_empty() { Value::Null } else { json!(text) },
                    "tool_calls": calls.iter().map(|c| json!({"id": c.id, "type": "function",
                        "function": {"name": c.name, "arguments": c.arguments}})).collect::<Vec<_>>()
                }),
                Msg::Tool { id, content, .. } => json!({"role": "tool", "tool_call_id": id, "content": content}),
            });
        }
        let streaming = self.streaming(tools);
        let mut body = json!({
            "model": self.ep.model,
            "messages": messages,
            "tools": tools.iter().map(|t| json!({"type": "function", "function": {
                "name": t.name, "description": t.description, "parameters": t.parameters}})).collect::<Vec<_>>(),
            "stream": streaming,
        });
        if let Some(n) = self.ep.max_output_tokens {
            body["max_tokens"] = json!(n);
        }
        if let Some(t) = self.ep.temperature {
            body["temperature"] = json!(t);
        }
        if streaming && self.compat.allows(Feature::StreamOptions) {
            body["stream_options"] = json!({"include_usage": true});
        }
        if !tools.is_empty() && self.compat.allows(Feature::ToolChoice) {
            body["tool_choice"] = json!("auto");
        }
        if !tools.is_empty() && self.compat.allows(Feature::ParallelToolCalls) {
            body["parallel_tool_calls"] = json!(true);
        }
        body
    }

    /// Sends the turn; a refused feature is turned off and the turn sent once more without it.
    async fn send(
        &self,
        url: &str,
        system: &str,
        msgs: &[Msg],
        tools: &[ToolDef],
        on_text: OnText<'_>,
    ) -> Result<Turn, LlmError> {
        let mut headers = Vec::new();
        if let Some(k) = &self.ep.api_key {
            headers.push(("authorization", format!("Bearer {k}")));
        }
        let mut degraded = Vec::new();
        // At most one retry per feature.
        for _ in 0..=4 {
            let body = self.body(system, msgs, tools);
            let answer = if body["stream"] == json!(true) {
                match stream::open(&self.http, &self.ep, url, &headers, &body).await {
                    Ok(mut sse) => read_stream(url, &mut sse, on_text).await,
                    Err(e) => Err(e),
                }
            } else {
                match stream::fetch_json(&self.http, &self.ep, url, &headers, &body).await {
                    Ok(v) => read_whole(url, &v, on_text),
                    Err(e) => Err(e),
                }
            };
            let refusal = match &answer {
                Err(LlmError::Http { status, message, .. }) => compat::refused(*status, message, &sent(&body))
                    .map(|f| (f, message.chars().take(160).collect::<String>())),
                Err(LlmError::Broken { message, .. })
                    if message == SILENT && sent(&body).contains(&Feature::StreamWithTools) =>
                {
                    Some((Feature::StreamWithTools, message.clone()))
                }
                _ => None,
            };
            if let Some((f, message)) = refusal {
                if self.compat.turn_off(f) {
                    let note = format!(
                        "{} refused {} ({message}); asking without it from now on",
                        self.ep.base_url,
                        f.name()
                    );
                    tracing::warn!("{note}");
                    degraded.push(note);
                }
                continue;
            }
            let (mut turn, usage) = answer?;
            if !usage {
                estimate_usage(&mut turn, &body);
            }
            turn.degraded = degraded;
            return Ok(turn);
        }
        Err(LlmError::Stream {
            endpoint: url.to_string(),
            message: "the server refused every form of the request".into(),
        })
    }
}

/// The request features `body` uses.
fn sent(body: &Value) -> Vec<Feature> {
    let mut v = Vec::new();
    if body.get("tool_choice").is_some() {
        v.push(Feature::ToolChoice);
    }
    if body.get("stream_options").is_some() {
        v.push(Feature::StreamOptions);
    }
    if body.get("parallel_tool_calls").is_some() {
        v.push(Feature::ParallelToolCalls);
    }
    if body["stream"] == json!(true) && body["tools"].as_array().is_some_and(|t| !t.is_empty()) {
        v.push(Feature::StreamWithTools);
    }
    v
}

/// The server said nothing of usage: estimate it from what was sent and what came back.
fn estimate_usage(turn: &mut Turn, body: &Value) {
    let sent = body["messages"].to_string().len() + body["tools"].to_string().len();
    let got = turn.text.len()
        + turn
            .calls
            .iter()
            .map(|c| c.name.len() + c.arguments.len())
            .sum::<usize>();
    turn.input_tokens = estimate::tokens(sent);
    turn.output_tokens = estimate::tokens(got);
    turn.estimated = true;
}

fn usage_of(v: &Value, turn: &mut Turn) -> bool {
    match v.get("usage").filter(|u| u.is_object()) {
        Some(u) => {
            turn.input_tokens = u["prompt_tokens"].as_u64().unwrap_or(0);
            turn.output_tokens = u["completion_tokens"].as_u64().unwrap_or(0);
            true
        }
        None => false,
    }
}

/// A non-streamed answer; its text reaches `on_text` whole.
fn read_whole(url: &str, v: &Value, on_text: OnText<'_>) -> Result<(Turn, bool), LlmError> {
    if let Some(e) = v.get("error") {
        return Err(LlmError::Stream {
            endpoint: url.to_string(),
            message: format!("the model reported an error: {e}"),
        });
    }
    let mut turn = Turn::default();
    let usage = usage_of(v, &mut turn);
    let m = &v["choices"][0]["message"];
    if let Some(t) = m["content"].as_str().filter(|t| !t.is_empty()) {
        turn.text = t.to_string();
        on_text(t);
    }
    for (i, tc) in m["tool_calls"].as_array().into_iter().flatten().enumerate() {
        turn.calls.push(ToolCall {
            id: tc["id"]
                .as_str()
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .unwrap_or(format!("call_{i}")),
            name: tc["function"]["name"].as_str().unwrap_or("").to_string(),
            arguments: match &tc["function"]["arguments"] {
                Value::String(a) => a.clone(),
                v @ Value::Object(_) => v.to_string(),
                _ => String::new(),
            },
        });
    }
    Ok((turn, usage))
}

/// A streamed answer: text deltas to `on_text`, tool calls joined per index. Also says whether usage came.
async fn read_stream(url: &str, sse: &mut stream::Sse, on_text: OnText<'_>) -> Result<(Turn, bool), LlmError> {
    let mut turn = Turn::default();
    let mut usage = false;
    // Tool calls by index: (id, name, arguments so far).
    let mut calls: Vec<(String, String, String)> = Vec::new();
    let mut done = false;
    let mut finished = false;
    let mut said = false;
    while let Some((_, data)) = sse.next().await? {
        said = true;
        if data.trim() == "[DONE]" {
            done = true;
            break;
        }
        let chunk: Value = serde_json::from_str(&data).map_err(|e| LlmError::Stream {
            endpoint: url.to_string(),
            message: format!(
                "a chunk that is not JSON ({e}): {}",
                data.chars().take(120).collect::<String>()
            ),
        })?;
        if let Some(e) = chunk.get("error") {
            return Err(LlmError::Stream {
                endpoint: url.to_string(),
                message: format!("the model reported an error: {e}"),
            });
        }
        usage |= usage_of(&chunk, &mut turn);
        for c in chunk["choices"].as_array().into_iter().flatten() {
            let d = &c["delta"];
            if let Some(t) = d["content"].as_str().filter(|t| !t.is_empty()) {
                turn.text.push_str(t);
                on_text(t);
            }
            for tc in d["tool_calls"].as_array().into_iter().flatten() {
                let i = tc["index"].as_u64().unwrap_or(calls.len() as u64) as usize;
                while calls.len() <= i {
                    calls.push(Default::default());
                }
                if let Some(id) = tc["id"].as_str() {
                    calls[i].0 = id.to_string();
                }
                if let Some(n) = tc["function"]["name"].as_str() {
                    calls[i].1.push_str(n);
                }
                match &tc["function"]["arguments"] {
                    Value::String(a) => calls[i].2.push_str(a),
                    // Ollama's native shape: the arguments as an object.
                    v @ Value::Object(_) => calls[i].2.push_str(&v.to_string()),
                    _ => {}
                }
            }
            if c["finish_reason"].is_string() {
                finished = true;
            }
        }
    }
    if !done && !finished {
        return Err(LlmError::Broken {
            endpoint: url.to_string(),
            message: if said {
                "the stream ended before the model finished its turn".into()
            } else {
                SILENT.into()
            },
        });
    }
    turn.calls = calls
        .into_iter()
        .enumerate()
        .map(|(i, (id, name, arguments))| ToolCall {
            id: if id.is_empty() { format!("call_{i}") } else { id },
            name,
            arguments,
        })
        .collect();
    Ok((turn, usage))
}

impl Provider for OpenAi {
    fn name(&self) -> String {
        format!("openai:{}", self.ep.model)
    }

    fn turn<'a>(
        &'a self,
        system: &'a str,
        msgs: &'a [Msg],
        tools: &'a [ToolDef],
        on_text: OnText<'a>,
    ) -> BoxFuture<'a, Result<Turn, LlmError>> {
        Box::pin(async move {
            let url = format!("{}/chat/completions", self.ep.base_url.trim_end_matches('/'));
            self.send(&url, system, msgs, tools, on_text).await
        })
    }
}
