//! Model providers over HTTP with streaming: OpenAI Chat Completions (and the
//! servers compatible with it: Ollama, vLLM, llama.cpp) and Anthropic
//! Messages. One small trait; no agent framework.

use std::time::Duration;

use serde_json::{Value, json};

use crate::sources::BoxFuture;

#[derive(Clone, Debug, PartialEq)]
pub struct ToolDef {
    pub name: String,
    pub description: String,
    pub parameters: Value,
}

#[derive(Clone, Debug, PartialEq)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    /// The arguments as the model wrote them (JSON text, perhaps broken).
    pub arguments: String,
}

#[derive(Clone, Debug, PartialEq)]
pub enum Msg {
    User(String),
    Assistant {
        text: String,
        calls: Vec<ToolCall>,
    },
    Tool {
        id: String,
        content: String,
        is_error: bool,
    },
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Turn {
    pub text: String,
    pub calls: Vec<ToolCall>,
    pub input_tokens: u64,
    pub output_tokens: u64,
}

#[derive(Debug, thiserror::Error, Clone, PartialEq)]
pub enum LlmError {
    #[error("{endpoint}: HTTP {status}: {message}")]
    Http {
        endpoint: String,
        status: u16,
        message: String,
    },
    #[error("{endpoint}: {message}")]
    Stream { endpoint: String, message: String },
    #[error("{endpoint}: no answer within {ms} ms")]
    Timeout { endpoint: String, ms: u64 },
}

pub type OnText<'a> = &'a (dyn Fn(&str) + Send + Sync);

pub trait Provider: Send + Sync {
    /// `openai:<model>` or `anthropic:<model>`.
    fn name(&self) -> String;
    /// One model turn, streamed: text deltas go to `on_text` as they arrive.
    fn turn<'a>(
        &'a self,
        system: &'a str,
        msgs: &'a [Msg],
        tools: &'a [ToolDef],
        on_text: OnText<'a>,
    ) -> BoxFuture<'a, Result<Turn, LlmError>>;
}

#[derive(Clone, Debug)]
pub struct Endpoint {
    pub base_url: String,
    pub model: String,
    pub api_key: Option<String>,
    pub timeout: Duration,
    /// Attempts for 429, 5xx and connection errors.
    pub attempts: u32,
}

/// Sends `body`, retrying what is worth retrying; gives back the streaming response.
async fn post(
    http: &reqwest::Client,
    ep: &Endpoint,
    url: &str,
    headers: &[(&str, String)],
    body: &Value,
) -> Result<reqwest::Response, LlmError> {
    let mut last = None;
    for attempt in 0..ep.attempts.max(1) {
        let mut req = http
            .post(url)
            .header("content-type", "application/json")
            .body(body.to_string());
        for (k, v) in headers {
            req = req.header(*k, v);
        }
        let wait_default = Duration::from_millis(300 << attempt.min(5));
        match req.send().await {
            Ok(resp) if resp.status().is_success() => return Ok(resp),
            Ok(resp) => {
                let status = resp.status().as_u16();
                let retry_after = resp
                    .headers()
                    .get("retry-after")
                    .and_then(|v| v.to_str().ok())
                    .and_then(|v| v.trim().parse::<f64>().ok())
                    .map(|s| Duration::from_secs_f64(s.clamp(0.0, 60.0)));
                let message: String = resp.text().await.unwrap_or_default().chars().take(300).collect();
                let err = LlmError::Http {
                    endpoint: url.to_string(),
                    status,
                    message,
                };
                if status == 429 || status >= 500 {
                    last = Some(err);
                    if attempt + 1 < ep.attempts {
                        // Honour Retry-After; otherwise back off with jitter.
                        let jitter = Duration::from_millis(crate::model::Timestamp::now().0 as u64 % 97);
                        tokio::time::sleep(retry_after.unwrap_or(wait_default) + jitter).await;
                    }
                    continue;
                }
                return Err(err);
            }
            Err(e) if e.is_timeout() => {
                last = Some(LlmError::Timeout {
                    endpoint: url.to_string(),
                    ms: ep.timeout.as_millis() as u64,
                });
                tokio::time::sleep(wait_default).await;
            }
            Err(e) => {
                last = Some(LlmError::Stream {
                    endpoint: url.to_string(),
                    message: format!("unreachable: {e}"),
                });
                tokio::time::sleep(wait_default).await;
            }
        }
    }
    Err(last.unwrap_or(LlmError::Stream {
        endpoint: url.to_string(),
        message: "no attempt made".into(),
    }))
}

/// Server-sent events from a streaming response: (event name, data).
struct Sse {
    resp: reqwest::Response,
    buf: Vec<u8>,
    url: String,
}

impl Sse {
    async fn next(&mut self) -> Result<Option<(String, String)>, LlmError> {
        let mut event = String::new();
        let mut data = String::new();
        loop {
            while let Some(pos) = self.buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=pos).collect();
                let line = String::from_utf8_lossy(&line);
                let line = line.trim_end_matches(['\n', '\r']);
                if line.is_empty() {
                    if !data.is_empty() || !event.is_empty() {
                        return Ok(Some((std::mem::take(&mut event), std::mem::take(&mut data))));
                    }
                    continue;
                }
                if let Some(v) = line.strip_prefix("data:") {
                    if !data.is_empty() {
                        data.push('\n');
                    }
                    data.push_str(v.strip_prefix(' ').unwrap_or(v));
                } else if let Some(v) = line.strip_prefix("event:") {
                    event = v.trim().to_string();
                }
            }
            match self.resp.chunk().await {
                Ok(Some(bytes)) => self.buf.extend_from_slice(&bytes),
                Ok(None) => {
                    return Ok((!data.is_empty()).then_some((event, data)));
                }
                Err(e) => {
                    return Err(LlmError::Stream {
                        endpoint: self.url.clone(),
                        message: format!("the stream broke: {e}"),
                    });
                }
            }
        }
    }
}

pub struct OpenAi {
    ep: Endpoint,
    http: reqwest::Client,
}

impl OpenAi {
    pub fn new(ep: Endpoint) -> Result<OpenAi, String> {
        let http = reqwest::Client::builder()
            .read_timeout(ep.timeout)
            .build()
            .map_err(|e| e.to_string())?;
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
            let resp = post(&self.http, &self.ep, &url, &headers, &self.body(system, msgs, tools)).await?;
            let mut sse = Sse {
                resp,
                buf: Vec::new(),
                url: url.clone(),
            };
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

pub struct Anthropic {
    ep: Endpoint,
    http: reqwest::Client,
}

impl Anthropic {
    pub fn new(ep: Endpoint) -> Result<Anthropic, String> {
        let http = reqwest::Client::builder()
            .read_timeout(ep.timeout)
            .build()
            .map_err(|e| e.to_string())?;
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
        json!({
            "model": self.ep.model, "max_tokens": 4096, "system": system, "messages": messages, "stream": true,
            "tools": tools.iter().map(|t| json!({"name": t.name, "description": t.description,
                "input_schema": t.parameters})).collect::<Vec<_>>(),
        })
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
            let resp = post(&self.http, &self.ep, &url, &headers, &self.body(system, msgs, tools)).await?;
            let mut sse = Sse {
                resp,
                buf: Vec::new(),
                url: url.clone(),
            };
            let mut turn = Turn::default();
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
                    "message_start" => turn.input_tokens = v["message"]["usage"]["input_tokens"].as_u64().unwrap_or(0),
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
                        turn.output_tokens = v["usage"]["output_tokens"].as_u64().unwrap_or(turn.output_tokens);
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
                return Err(bad("the stream ended before message_stop".into()));
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
            Ok(turn)
        })
    }
}
