//! Feedback an engineer leaves on a span: a rating, a grade, a comment on a highlight.

use serde::{Deserialize, Serialize};

use super::{SpanId, Timestamp, TraceId};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Rating {
    Up,
    Down,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Grade {
    Correct,
    Partly,
    Wrong,
}

impl Grade {
    /// The name a reader sees, wherever a grade is shown (the same as its serde name).
    pub fn name(self) -> &'static str {
        match self {
            Grade::Correct => "correct",
            Grade::Partly => "partly",
            Grade::Wrong => "wrong",
        }
    }
}

/// A range of lines in a span's text, and the text quoted from it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Highlight {
    pub start_line: u32,
    pub end_line: u32,
    pub quote: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Feedback {
    /// This record's id (16 hex), made by whoever gives the feedback, so a
    /// comment can name its rating before either is stored. Records stored
    /// before ids existed read back with one made from their row.
    #[serde(default)]
    pub id: String,
    /// The record this one refines (a comment on a rating or grade), or none.
    #[serde(default)]
    pub parent: Option<String>,
    pub trace_id: TraceId,
    pub span_id: SpanId,
    /// What the span is: `branch`, `step`, `tool_call`, `evidence`, `root_cause`.
    pub target: String,
    pub rating: Option<Rating>,
    pub grade: Option<Grade>,
    pub highlight: Option<Highlight>,
    pub comment: Option<String>,
    pub author: String,
    pub at: Timestamp,
    pub bundle_id: String,
    /// Every span a highlight covers, when it crosses nodes (the first is `span_id`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub spans: Vec<SpanId>,
}

impl Feedback {
    /// A fresh record id.
    pub fn new_id() -> String {
        SpanId::random().to_string()
    }
}
