//! Syntax highlighting of evidence bodies with syntect, mapped onto the
//! theme's roles (so a 16-colour or mono theme stays one), cached per span.

use std::collections::HashMap;

use ratatui::text::{Line, Span};
use syntect::parsing::{ParseState, ScopeStack, SyntaxSet};

use super::theme::Theme;
use crate::model::SpanId;
use crate::tui::theme::Role;

/// Bodies longer than this many lines are shown plain after it.
const MAX_HIGHLIGHTED: usize = 4000;

pub struct Highlighter {
    syntaxes: SyntaxSet,
    cache: HashMap<SpanId, Vec<Line<'static>>>,
}

impl Default for Highlighter {
    fn default() -> Self {
        Self::new()
    }
}

fn role_for(stack: &ScopeStack) -> Role {
    let mut role = Role::EvidenceText;
    for s in stack.as_slice() {
        let name = s.build_string();
        if name.starts_with("meta.mapping.key") || name.starts_with("entity.name.tag") {
            return Role::EvidenceKey;
        }
        if name.starts_with("string") {
            role = Role::EvidenceString;
        } else if name.starts_with("constant.numeric") {
            role = Role::EvidenceNumber;
        } else if name.starts_with("constant.language") || name.starts_with("keyword") {
            role = Role::EvidenceKeyword;
        } else if name.starts_with("comment") {
            role = Role::EvidenceComment;
        }
    }
    role
}

impl Highlighter {
    pub fn new() -> Highlighter {
        Highlighter {
            syntaxes: SyntaxSet::load_defaults_newlines(),
            cache: HashMap::new(),
        }
    }

    /// Highlighted lines of an evidence body, computed once per span.
    pub fn lines(&mut self, span: SpanId, syntax: &str, body: &str, theme: &Theme) -> &[Line<'static>] {
        if !self.cache.contains_key(&span) {
            // Untrusted text: stripped of control sequences before anything else.
            let lines = self.highlight(syntax, &crate::tools::sanitize::clean(body), theme);
            self.cache.insert(span, lines);
        }
        &self.cache[&span]
    }

    /// Forgets everything (a new theme).
    pub fn clear(&mut self) {
        self.cache.clear();
    }

    pub fn highlight(&self, syntax: &str, body: &str, theme: &Theme) -> Vec<Line<'static>> {
        match syntax {
            "json" | "yaml" => self.structured(syntax, body, theme),
            _ => body.lines().map(|l| log_line(l, theme)).collect(),
        }
    }

    fn structured(&self, syntax: &str, body: &str, theme: &Theme) -> Vec<Line<'static>> {
        let Some(def) = self.syntaxes.find_syntax_by_extension(syntax) else {
            return body
                .lines()
                .map(|l| Line::styled(l.to_string(), theme.style(Role::EvidenceText)))
                .collect();
        };
        let mut state = ParseState::new(def);
        let mut stack = ScopeStack::new();
        let mut out = Vec::new();
        for (n, line) in body.split_inclusive('\n').enumerate() {
            let text = line.trim_end_matches(['\n', '\r']);
            if n >= MAX_HIGHLIGHTED {
                out.push(Line::styled(text.to_string(), theme.style(Role::EvidenceText)));
                continue;
            }
            let Ok(ops) = state.parse_line(line, &self.syntaxes) else {
                out.push(Line::styled(text.to_string(), theme.style(Role::EvidenceText)));
                continue;
            };
            let mut spans = Vec::new();
            let mut last = 0;
            for (i, op) in ops {
                let i = i.min(text.len());
                if i > last && text.is_char_boundary(i) && text.is_char_boundary(last) {
                    spans.push(Span::styled(text[last..i].to_string(), theme.style(role_for(&stack))));
                    last = i;
                }
                let _ = stack.apply(&op);
            }
            if last < text.len() {
                spans.push(Span::styled(text[last..].to_string(), theme.style(role_for(&stack))));
            }
            out.push(Line::from(spans));
        }
        out
    }
}

/// A log line: its level coloured, the rest plain.
fn log_line(l: &str, theme: &Theme) -> Line<'static> {
    let upper = l.to_ascii_uppercase();
    let role = if ["ERROR", "FATAL", "PANIC", "CRIT", "LEVEL=ERROR", "\"LEVEL\":\"ERROR\""]
        .iter()
        .any(|w| upper.contains(w))
    {
        Role::EvidenceError
    } else if upper.contains("WARN") {
        Role::EvidenceWarn
    } else {
        Role::EvidenceText
    };
    Line::styled(l.to_string(), theme.style(role))
}
