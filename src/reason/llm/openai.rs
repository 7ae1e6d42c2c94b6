//! OpenAI Chat Completions, streamed: text deltas, tool-call fragments joined
//! per index, and the usage chunk. Also what Ollama, vLLM and llama.cpp's
//! server speak through `base_url`.

use serde_json::{Value, json};

use super::provider::{Endpoint, LlmError, Msg, OnText, Provider, ToolCall, ToolDef, Turn};
use super::stream;
use crate::model::BoxFuture;

pub struct OpenAi {
    ep: Endpoint,
    http: reqwest::Client,
}

impl OpenAi {
    pub fn new(ep: Endpoint) -> Result<OpenAi, String> {
        let http = stream::client(&ep)?;
        Ok(OpenAi { ep, http })
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
        json!({
            "model": self.ep.model,
            "messages": messages,
            "tools": tools.iter().map(|t| json!({"type": "function", "function": {
                "name": t.name, "description": t.description, "parameters": t.parameters}})).collect::<Vec<_>>(),
            "stream": true,
            "stream_options": {"include_usage": true},
        })
    }
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
            let mut headers = Vec::new();
            if let Some(k) = &self.ep.api_key {
                headers.push(("authorization", format!("Bearer {k}")));
            }
            let mut sse = stream::open(&self.http, &self.ep, &url, &headers, &self.body(system, msgs, tools)).await?;
            let mut turn = Turn::default();
            // Tool calls by index: (id, name, arguments so far).
            let mut calls: Vec<(String, String, String)> = Vec::new();
            let mut done = false;
            let mut finished = false;
            while let Some((_, data)) = sse.next().await? {
                if data.trim() == "[DONE]" {
                    done = true;
                    break;
                }
                let chunk: Value = serde_json::from_str(&data).map_err(|e| LlmError::Stream {
                    endpoint: url.clone(),
                    message: format!(
                        "a chunk that is not JSON ({e}): {}",
                        data.chars().take(120).collect::<String>()
                    ),
                })?;
                if let Some(e) = chunk.get("error") {
                    return Err(LlmError::Stream {
                        endpoint: url.clone(),
                        message: format!("the model reported an error: {e}"),
                    });
                }
                if let Some(u) = chunk.get("usage").filter(|u| !u.is_null()) {
                    turn.input_tokens = u["prompt_tokens"].as_u64().unwrap_or(0);
                    turn.output_tokens = u["completion_tokens"].as_u64().unwrap_or(0);
                }
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
                return Err(LlmError::Stream {
                    endpoint: url,
                    message: "the stream ended before the model finished its turn".into(),
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
            Ok(turn)
        })
    }
}
