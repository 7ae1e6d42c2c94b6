//! Untrusted text (logs, tool output, model output, alert text) made safe for a
//! terminal: it is data, never control.

/// Escapes terminal control in untrusted text so that it is shown, never
/// obeyed: C0 controls other than newline and tab become their Unicode
/// control pictures (ESC is `␛`, so `ESC[2J` shows as `␛[2J` and does
/// nothing), a bare carriage return becomes `␍` (a CRLF line end is just a
/// line end), DEL becomes `␡`, C1 controls and the bidirectional overrides
/// that could reorder what is read are written as `\xNN` or `\u{NNNN}`.
pub fn clean(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\n' | '\t' => out.push(c),
            '\r' if chars.peek() == Some(&'\n') => {}
            c if (c as u32) < 0x20 => out.push(char::from_u32(0x2400 + c as u32).unwrap_or('�')),
            '\u{7f}' => out.push('␡'),
            c if ('\u{80}'..='\u{9f}').contains(&c) => out.push_str(&format!("\\x{:02x}", c as u32)),
            '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => out.push_str(&format!("\\u{{{:04x}}}", c as u32)),
            c => out.push(c),
        }
    }
    out
}

/// Serialized JSON made safe to print: serde_json escapes C0 controls but
/// writes DEL, C1 controls, bidi overrides and isolates and the line
/// separators raw; here they become `\u` escapes. Such characters can only
/// be inside JSON strings, where the escape means the same character.
pub fn json_safe(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    for c in json.chars() {
        match c {
            '\u{7f}'..='\u{9f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", c as u32))
            }
            c if (c as u32) < 0x20 && !matches!(c, '\n' | '\t' | '\r' | ' ') => {
                out.push_str(&format!("\\u{:04x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out
}

/// A value as pretty JSON, made safe to print with [`json_safe`].
pub fn json_pretty(v: &impl serde::Serialize) -> String {
    json_safe(&serde_json::to_string_pretty(v).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}")))
}

/// A value as one line of JSON, made safe to print with [`json_safe`].
pub fn json_line(v: &impl serde::Serialize) -> String {
    json_safe(&serde_json::to_string(v).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}")))
}

#[cfg(test)]
mod tests {
    use super::{clean, json_line, json_safe};

    #[test]
    fn json_carries_control_as_escapes() {
        let v = serde_json::json!({"s": "a\u{202e}b\u{9b}c\u{7f}d\u{1b}[2J"});
        let out = json_line(&v);
        assert_eq!(out, r#"{"s":"a\u202eb\u009bc\u007fd\u001b[2J"}"#);
        let back: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(back, v);
        assert_eq!(json_safe("plain ünï"), "plain ünï");
    }

    #[test]
    fn control_is_shown_not_obeyed() {
        assert_eq!(clean("a\u{1b}[31mred\u{1b}[0m b"), "a␛[31mred␛[0m b");
        assert_eq!(clean("clear \u{1b}[2J now"), "clear ␛[2J now");
        // OSC 52 would write the clipboard.
        assert_eq!(clean("\u{1b}]52;c;cm0gLXJmIC8=\u{7}"), "␛]52;c;cm0gLXJmIC8=␇");
        assert_eq!(clean("progress 10%\rprogress 99%"), "progress 10%␍progress 99%");
        assert_eq!(clean("c1\u{9b}2J del\u{7f}"), "c1\\x9b2J del␡");
        assert_eq!(clean("user\u{202e}gnp.exe"), "user\\u{202e}gnp.exe");
    }

    #[test]
    fn text_and_line_structure_survive() {
        assert_eq!(
            clean("line one\r\nline two\n\tindented"),
            "line one\nline two\n\tindented"
        );
        assert_eq!(clean("ünïcödé ✓ 日本"), "ünïcödé ✓ 日本");
        assert!(clean(&"\u{1b}".repeat(1000)).chars().all(|c| c == '␛'));
    }
}
