//! Anthropic Messages, streamed: `content_block_*` with text and
//! `input_json_delta`, `message_delta` usage, `ping` and `error` events.

use serde_json::{Value, json};

use super::estimate;
use super::provider::{Endpoint, LlmError, Msg, OnText, Provider, ToolCall, ToolDef, Turn};
use super::stream;
use crate::model::BoxFuture;

pub struct Anthropic {
    ep: Endpoint,
    http: reqwest::Client,
}

impl Anthropic {
    pub fn new(ep: Endpoint) -> Result<Anthropic, String> {
        let http = stream::client(&ep)?;
        Ok(Anthropic { ep, http })
    }

    fn body(&self, system: &str, msgs: &[Msg], tools: &[ToolDef]) -> Value {
        let mut messages: Vec<Value> = Vec::new();
        for m in msgs {
            match m {
                Msg::User(t) => messages.push(json!({"role": "user", "content": t})),
                Msg::Assistant { text, calls } => {
                    let mut blocks = Vec::new();
                    if !text.is_empty() {
                        blocks.push(json!({"type": "text", "text": text}));
                    }
                    for c in calls {
                        let input: Value = serde_json::from_str(&c.arguments).unwrap_or_else(|_| json!({}));
                        blocks.push(json!({"type": "tool_use", "id": c.id, "name": c.name, "input": input}));
                    }
                    messages.push(json!({"role": "assistant", "content": blocks}));
                }
                Msg::Tool { id, content, is_error } => {
                    let block =
                        json!({"type": "tool_result", "tool_use_id": id, "content": content, "is_error": is_error});
                    // Results of one turn go back together, in one user message.
                    match messages.last_mut() {
                        Some(last) if last["role"] == "user" && last["content"].is_array() => {
                            if let Some(a) = last["content"].as_array_mut() {
                                a.push(block);
                            }
                        }
                        _ => messages.push(json!({"role": "user", "content": [block]})),
                    }
                }
            }
        }
        let mut body = json!({
            "model": self.ep.model, "max_tokens": self.ep.max_output_tokens.unwrap_or(4096), "system": system, "messages": messages, "stream": true,
            "tools": tools.iter().map(|t| json!({"name": t.name, "description": t.description,
                "input_schema": t.parameters})).collect::<Vec<_>>(),
        });
        if let Some(t) = self.ep.temperature {
            body["temperature"] = json!(t);
        }
        body
    }
}

impl Provider for Anthropic {
    fn name(&self) -> String {
        format!("anthropic:{}", self.ep.model)
    }

    fn turn<'a>(
        &'a self,
        system: &'a str,
        msgs: &'a [Msg],
        tools: &'a [ToolDef],
        on_text: OnText<'a>,
    ) -> BoxFuture<'a, Result<Turn, LlmError>> {
        Box::pin(async move {
            let url = format!("{}/v1/messages", self.ep.base_url.trim_end_matches('/'));
            let mut headers = vec![("anthropic-version", "2023-06-01".to_string())];
            if let Some(k) = &self.ep.api_key {
                headers.push(("x-api-key", k.clone()));
            }
            let body = self.body(system, msgs, tools);
            let mut sse = stream::open(&self.http, &self.ep, &url, &headers, &body).await?;
            let mut turn = Turn::default();
            let mut usage = false;
            let mut blocks: Vec<Option<ToolCall>> = Vec::new();
            let mut stopped = false;
            let bad = |m: String| LlmError::Stream {
                endpoint: url.clone(),
                message: m,
            };
            while let Some((event, data)) = sse.next().await? {
                let v: Value =
                    serde_json::from_str(&data).map_err(|e| bad(format!("an event that is not JSON ({e})")))?;
                let kind = if event.is_empty() {
                    v["type"].as_str().unwrap_or("").to_string()
                } else {
                    event
                };
                match kind.as_str() {
                    "message_start" => {
                        if let Some(n) = v["message"]["usage"]["input_tokens"].as_u64() {
                            turn.input_tokens = n;
                            usage = true;
                        }
                    }
                    "content_block_start" => {
                        let i = v["index"].as_u64().unwrap_or(0) as usize;
                        while blocks.len() <= i {
                            blocks.push(None);
                        }
                        let b = &v["content_block"];
                        if b["type"] == "tool_use" {
                            blocks[i] = Some(ToolCall {
                                id: b["id"].as_str().unwrap_or("").to_string(),
                                name: b["name"].as_str().unwrap_or("").to_string(),
                                arguments: String::new(),
                            });
                        }
                    }
                    "content_block_delta" => {
                        let i = v["index"].as_u64().unwrap_or(0) as usize;
                        let d = &v["delta"];
                        match d["type"].as_str() {
                            Some("text_delta") => {
                                let t = d["text"].as_str().unwrap_or("");
                                turn.text.push_str(t);
                                on_text(t);
                            }
                            Some("input_json_delta") => {
                                if let Some(Some(c)) = blocks.get_mut(i) {
                                    c.arguments.push_str(d["partial_json"].as_str().unwrap_or(""));
                                }
                            }
                            _ => {}
                        }
                    }
                    "message_delta" => {
                        if let Some(n) = v["usage"]["output_tokens"].as_u64() {
                            turn.output_tokens = n;
                            usage = true;
                        }
                    }
                    "message_stop" => {
                        stopped = true;
                        break;
                    }
                    "error" => return Err(bad(format!("the model reported an error: {}", v["error"]))),
                    _ => {}
                }
            }
            if !stopped {
                return Err(LlmError::Broken {
                    endpoint: url.clone(),
                    message: "the stream ended before message_stop".into(),
                });
            }
            turn.calls = blocks
                .into_iter()
                .flatten()
                .map(|mut c| {
                    if c.arguments.is_empty() {
                        c.arguments = "{}".into();
                    }
                    c
                })
                .collect();
            if !usage {
                // A proxy that strips usage: estimate from what went and came back.
                let got: usize = turn.text.len()
                    + turn
                        .calls
                        .iter()
                        .map(|c| c.name.len() + c.arguments.len())
                        .sum::<usize>();
                turn.input_tokens = estimate::tokens(body.to_string().len());
                turn.output_tokens = estimate::tokens(got);
                turn.estimated = true;
            }
            Ok(turn)
        })
    }
}
