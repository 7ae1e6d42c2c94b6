//! Reports and exporters.

mod http;
pub mod langfuse;
pub mod langsmith;
pub mod otlp;
mod report;

pub use report::markdown;

pub(crate) use http::{Poster, http_url};

use crate::model::Feedback;
use crate::tools::redact::Redactor;

/// What an engineer wrote with a piece of feedback, redacted: the comment,
/// then the quoted lines it was made on.
pub(crate) fn feedback_note(f: &Feedback, red: &Redactor) -> String {
    let mut comment = f.comment.as_deref().map(|c| red.redact(c)).unwrap_or_default();
    // A reply names what it refines, so the thread survives the export.
    if let Some(p) = &f.parent {
        comment = format!("{comment}\n\n(feedback {}, in reply to feedback {p})", f.id)
            .trim()
            .to_string();
    }
    match &f.highlight {
        Some(h) => format!(
            "{comment}\n\nlines {}-{}:\n{}",
            h.start_line,
            h.end_line,
            red.redact(&h.quote)
        )
        .trim()
        .to_string(),
        None => comment,
    }
}
