//! Tool calls written as text. Many local models (and servers whose chat
//! template is not tool-aware) answer a tool call in the content instead of
//! `tool_calls`: a `<tool_call>{...}</tool_call>` block, a fenced JSON block, or
//! a bare JSON object `{"name": ..., "arguments": {...}}`. With the provider's
//! `text_tool_calls` option on, these are read as calls to declared tools.

use serde_json::Value;

use super::provider::ToolCall;

/// The tool calls written in `text`, for tools named in `known`.
pub fn parse(text: &str, known: &[&str]) -> Vec<ToolCall> {
    let mut out = Vec::new();
    for candidate in candidates(text) {
        let Ok(v) = serde_json::from_str::<Value>(candidate.trim()) else {
            continue;
        };
        let items = match v {
            Value::Array(a) => a,
            v => vec![v],
        };
        for item in items {
            if let Some(call) = call_of(&item, known, out.len()) {
                out.push(call);
            }
        }
    }
    out
}

fn call_of(v: &Value, known: &[&str], n: usize) -> Option<ToolCall> {
    // {"name", "arguments"|"parameters"} or OpenAI's {"function": {...}} shape.
    let v = v.get("function").filter(|f| f.is_object()).unwrap_or(v);
    let name = v.get("name")?.as_str()?;
    if !known.contains(&name) {
        return None;
    }
    let args = v
        .get("arguments")
        .or_else(|| v.get("parameters"))
        .cloned()
        .unwrap_or(Value::Null);
    let arguments = match args {
        Value::String(s) => s,
        Value::Null => "{}".to_string(),
        other => other.to_string(),
    };
    Some(ToolCall {
        id: format!("text_call_{n}"),
        name: name.to_string(),
        arguments,
    })
}

/// Spans of `text` that may hold a call: tagged blocks, fenced blocks, else balanced top-level objects.
fn candidates(text: &str) -> Vec<&str> {
    let tagged = between(text, "<tool_call>", "</tool_call>");
    if !tagged.is_empty() {
        return tagged;
    }
    let fenced: Vec<&str> = between(text, "```", "```")
        .into_iter()
        .map(|b| b.trim_start_matches("json").trim_start_matches("tool_call"))
        .collect();
    if fenced.iter().any(|b| b.trim_start().starts_with(['{', '['])) {
        return fenced;
    }
    objects(text)
}

fn between<'t>(text: &'t str, open: &str, close: &str) -> Vec<&'t str> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(i) = rest.find(open) {
        let after = &rest[i + open.len()..];
        match after.find(close) {
            Some(j) => {
                out.push(&after[..j]);
                rest = &after[j + close.len()..];
            }
            // An unclosed block at the end of the answer (the model stopped there).
            None => {
                out.push(after);
                break;
            }
        }
    }
    out
}

/// Balanced `{...}` spans at the top level of `text` (strings respected).
fn objects(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start, mut in_str, mut esc) = (0usize, 0usize, false, false);
    for (i, c) in text.char_indices() {
        if in_str {
            match (esc, c) {
                (true, _) => esc = false,
                (false, '\\') => esc = true,
                (false, '"') => in_str = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' if depth > 0 => in_str = true,
            '{' => {
                if depth == 0 {
                    start = i;
                }
                depth += 1;
            }
            '}' if depth > 0 => {
                depth -= 1;
                if depth == 0 {
                    out.push(&text[start..=i]);
                }
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const KNOWN: &[&str] = &["prometheus_query", "propose_root_cause"];

    #[test]
    fn a_tool_call_block_is_read() {
        let t = "I will check.\n<tool_call>\n{\"name\": \"prometheus_query\", \"arguments\": {\"query\": \"up\"}}\n</tool_call>";
        let c = parse(t, KNOWN);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].name, "prometheus_query");
        assert_eq!(c[0].arguments, r#"{"query":"up"}"#);
    }

    #[test]
    fn a_bare_or_fenced_json_object_is_read_and_unknown_tools_are_not() {
        let t = r#"Calling {"name": "propose_root_cause", "parameters": {"service": "db", "note": "a } brace"}} now"#;
        assert_eq!(parse(t, KNOWN)[0].name, "propose_root_cause");
        let f = "```json\n{\"function\": {\"name\": \"prometheus_query\", \"arguments\": \"{\\\"query\\\":\\\"up\\\"}\"}}\n```";
        assert_eq!(parse(f, KNOWN)[0].arguments, r#"{"query":"up"}"#);
        assert!(parse(r#"{"name": "rm_rf", "arguments": {}}"#, KNOWN).is_empty());
        assert!(parse("The database looks fine {not json}.", KNOWN).is_empty());
    }
}
