//! Request features an OpenAI-compatible server may refuse, and what inquest
//! has learned about each endpoint. A refusal turns the feature off for that
//! endpoint for the rest of the process, so the request is sent once more
//! without it and every later request goes without it from the start.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

/// A part of the request a server may not support.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Feature {
    /// `tool_choice: "auto"`.
    ToolChoice,
    /// `stream_options: {include_usage: true}`.
    StreamOptions,
    /// `parallel_tool_calls: true`.
    ParallelToolCalls,
    /// `stream: true` together with `tools` (the fallback asks without streaming).
    StreamWithTools,
}

impl Feature {
    pub fn name(self) -> &'static str {
        match self {
            Feature::ToolChoice => "tool_choice",
            Feature::StreamOptions => "stream_options",
            Feature::ParallelToolCalls => "parallel_tool_calls",
            Feature::StreamWithTools => "streaming with tools",
        }
    }
}

/// What one endpoint accepts, as learned so far (everything, until refused).
#[derive(Debug, Default)]
pub struct Compat {
    off: [AtomicBool; 4],
}

impl Compat {
    /// The shared record for an endpoint (its base URL and model).
    pub fn for_endpoint(key: &str) -> Arc<Compat> {
        static ALL: OnceLock<Mutex<HashMap<String, Arc<Compat>>>> = OnceLock::new();
        let all = ALL.get_or_init(Default::default);
        match all.lock() {
            Ok(mut m) => m.entry(key.to_string()).or_default().clone(),
            // A poisoned map only loses what was learned; start afresh for this endpoint.
            Err(_) => Arc::new(Compat::default()),
        }
    }

    pub fn allows(&self, f: Feature) -> bool {
        !self.off[f as usize].load(Ordering::SeqCst)
    }

    /// Turns `f` off; true the first time (so it is said once).
    pub fn turn_off(&self, f: Feature) -> bool {
        !self.off[f as usize].swap(true, Ordering::SeqCst)
    }
}

/// The feature a server's error names, if the refused request used it (`sent`).
/// Texts seen from real servers: llama.cpp's "Cannot use tools with stream",
/// llama-cpp-python's "Automatic streaming tool choice is not supported",
/// vLLM's "\"auto\" tool choice requires --enable-auto-tool-choice",
/// proxies' "Unrecognized request argument supplied: stream_options".
pub fn refused(status: u16, message: &str, sent: &[Feature]) -> Option<Feature> {
    if !matches!(status, 400 | 404 | 415 | 422 | 500 | 501) {
        return None;
    }
    names(message).into_iter().find(|f| sent.contains(f))
}

/// Every feature `message` names, the most likely culprit first.
pub fn names(message: &str) -> Vec<Feature> {
    let m = message.to_lowercase();
    let mut out = Vec::new();
    if m.contains("stream_options") || m.contains("include_usage") {
        out.push(Feature::StreamOptions);
    }
    if m.contains("parallel_tool_calls") || m.contains("parallel tool") {
        out.push(Feature::ParallelToolCalls);
    }
    // "streaming tool choice": streaming goes first, so the server's own tool
    // choice still works in the non-streamed answer.
    if m.contains("stream") && m.contains("tool") && !m.contains("stream_options") {
        out.push(Feature::StreamWithTools);
    }
    if m.contains("tool_choice") || m.contains("tool choice") {
        out.push(Feature::ToolChoice);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: &[Feature] = &[
        Feature::ToolChoice,
        Feature::StreamOptions,
        Feature::ParallelToolCalls,
        Feature::StreamWithTools,
    ];

    #[test]
    fn real_servers_refusals_name_the_feature() {
        let f = |s, m| refused(s, m, ALL);
        assert_eq!(
            f(
                500,
                r#"{"error":{"message":"Automatic streaming tool choice is not supported"}}"#
            ),
            Some(Feature::StreamWithTools)
        );
        assert_eq!(f(500, "Cannot use tools with stream"), Some(Feature::StreamWithTools));
        assert_eq!(
            f(
                400,
                "\"auto\" tool choice requires --enable-auto-tool-choice and --tool-call-parser to be set"
            ),
            Some(Feature::ToolChoice)
        );
        assert_eq!(
            f(400, "Unrecognized request argument supplied: stream_options"),
            Some(Feature::StreamOptions)
        );
        assert_eq!(
            f(400, "Unrecognized request argument supplied: parallel_tool_calls"),
            Some(Feature::ParallelToolCalls)
        );
        assert_eq!(f(429, "stream_options"), None);
        assert_eq!(f(500, "out of memory"), None);
    }

    #[test]
    fn only_a_feature_the_request_used_is_blamed_and_turning_off_is_said_once() {
        let m = "Automatic streaming tool choice is not supported";
        assert_eq!(refused(500, m, &[Feature::ToolChoice]), Some(Feature::ToolChoice));
        assert_eq!(refused(500, m, &[Feature::StreamOptions]), None);
        let c = Compat::default();
        assert!(c.turn_off(Feature::StreamWithTools));
        assert!(!c.turn_off(Feature::StreamWithTools), "said once");
        assert!(!c.allows(Feature::StreamWithTools));
    }
}
