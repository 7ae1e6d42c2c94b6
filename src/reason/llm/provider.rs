//! What every model provider is: one streamed turn of a conversation with
//! tools. The providers themselves are `openai` (also Ollama, vLLM,
//! llama.cpp) and `anthropic`; no agent framework.

use std::time::Duration;

use serde_json::Value;

use crate::model::BoxFuture;

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
    /// The server reported no usage: the tokens are an estimate (see `estimate`).
    pub estimated: bool,
    /// Request features the server refused during this turn and that are now off
    /// for this endpoint, said once so the trace shows why requests changed.
    pub degraded: Vec<String>,
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
    /// The connection or the stream broke before the turn ended: worth asking again.
    #[error("{endpoint}: {message}")]
    Broken { endpoint: String, message: String },
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
    /// The most tokens one answer may have; `None` leaves it to the server.
    pub max_output_tokens: Option<u32>,
    /// Sampling temperature; `None` leaves it to the server.
    pub temperature: Option<f64>,
}
